# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Which policy collects which group, and whether collection waits for the update.

The driver asks ``GroupPipeline`` for the group of each iteration and tells it each adapter it
saves; the pipeline serves adapters to the collector and collects, in batches of G groups
(``run.concurrent_groups``: ``Collector.collect_many`` runs the G groups of iterations
g..g+G-1 together, acted by one version) and in one of two modes (``run.max_staleness``, k):

- k = 0, synchronous (the default; the paper's protocol): group g is collected in the driver's
  thread, by the policy of iteration g-1, after that iteration's update. On-policy.
- k >= 1, overlapped: a thread collects the next batch while the learner updates on earlier
  groups, so the environments do not stop for the update.

The batch starting at iteration g is acted by the policy of iteration
``a(g) = max(g-1-k, e(g), start-1)``, where e(g) is the last iteration before g after which an
evaluation runs: an evaluation measures exactly its iteration's policy and has the collector to
itself, so the pipeline drains there. a(g) is fixed by the settings, not by timing, so a run is
reproducible in-process whatever k and G. A version is served between batches, never within
one, so every action of a group comes from one version, and the staleness of the batch's j-th
group (0-based; the updates the learner made after that version) is ``g-1-a(g)+j <= k+G-1``;
the clipped ratio is taken against the sampler's own log-probs, which is what makes a stale
group usable (as in asynchronous PPO).

Order of work: for each batch: [serve a(g); collect g..g+G-1] then, for each of its groups j,
[hand group j over; the evaluation after j, when due].
"""

from __future__ import annotations

from dataclasses import dataclass
import queue
import threading
from typing import Callable, Iterator

from tgrpo_ros.training.collector import Collector, Group
from tgrpo_ros.versioning import PolicyVersion

# collect(iterations): those iterations' training groups, collected at once; evaluate(j,
# version): the evaluation row after iteration j; evaluation_due(j): whether one runs after j.
CollectFn = Callable[[list[int]], list[Group]]
EvaluateFn = Callable[[int, PolicyVersion], dict]
DueFn = Callable[[int], bool]

MAX_STALENESS = 4  # beyond this the ratio clip would be doing all the work


@dataclass
class Collected:
    """Iteration ``iteration``'s group, acted by the policy saved after ``acting_iteration``."""

    iteration: int
    group: Group
    acting_iteration: int
    acting_version: PolicyVersion

    @property
    def staleness(self) -> int:
        """Updates the learner made after the acting version (0 = on-policy)."""
        return self.iteration - 1 - self.acting_iteration


class GroupPipeline:
    """Collects the groups of iterations start..last for the driver (see the module docstring).

    collector: serves adapters and collects; the pipeline is its only user while it runs.
    start, last: the iterations to collect; ``version``/``adapter`` acts for start-1 (the start
        or the resumed iteration's adapter, already served by the caller).
    max_staleness: k (0 = synchronous, no thread); groups: G per batch.
    collect(iterations): the groups of those iterations, in order (``Collector.collect_many``).
    """

    def __init__(self, collector: Collector, collect: CollectFn, evaluate: EvaluateFn,
                 evaluation_due: DueFn, start: int, last: int, version: PolicyVersion,
                 adapter: str, max_staleness: int = 0, groups: int = 1):
        if not 0 <= max_staleness <= MAX_STALENESS:
            raise ValueError(f'max_staleness must be in [0, {MAX_STALENESS}], got '
                             f'{max_staleness}')
        if groups < 1:
            raise ValueError(f'groups must be >= 1, got {groups}')
        self.collector = collector
        self._collect, self._evaluate, self._due = collect, evaluate, evaluation_due
        self.start, self.last, self.k, self.groups = start, last, int(max_staleness), int(groups)
        self._saved: dict[int, tuple[PolicyVersion, str]] = {start - 1: (version, adapter)}
        self._served = start - 1
        self._cond = threading.Condition()
        self._closed = False
        self._work = self._produce()
        self._thread: threading.Thread | None = None
        self._out: queue.Queue = queue.Queue()
        if self.k > 0:
            self._thread = threading.Thread(target=self._run, name='group-pipeline', daemon=True)
            self._thread.start()

    @property
    def bound(self) -> int:
        """The largest staleness a group can have: k + G - 1."""
        return self.k + self.groups - 1

    def acting_iteration(self, g: int) -> int:
        """a(g): the iteration whose saved policy acts in the batch starting at g."""
        a = max(g - 1 - self.k, self.start - 1)
        for j in range(g - 1, a, -1):  # an evaluation after j drains the pipeline at j
            if self._due(j):
                return j
        return a

    # --- the driver's side --------------------------------------------------------------------
    def group(self, g: int) -> Collected:
        """Return iteration g's group (collected meanwhile, or now when synchronous)."""
        kind, key, value = self._next()
        if (kind, key) != ('group', g):
            raise RuntimeError(f'the pipeline produced {kind} {key} where group {g} was due')
        return value

    def evaluation(self, j: int) -> dict:
        """Return the evaluation row after iteration j (its adapter saved already)."""
        kind, key, value = self._next()
        if (kind, key) != ('eval', j):
            raise RuntimeError(f'the pipeline produced {kind} {key} where the evaluation after '
                               f'iteration {j} was due')
        return value

    def saved(self, j: int, version: PolicyVersion, adapter: str) -> None:
        """Record iteration j's saved adapter: a group or evaluation may now act with it."""
        with self._cond:
            self._saved[j] = (version, adapter)
            self._cond.notify_all()

    def finish(self) -> None:
        """Serve the last saved adapter: the run ends acting with its final policy.

        (Versions are served when a batch starts, so after the last one nothing else would:
        a policy node deployed after training would still act with the previous version.)
        """
        if self._thread is not None:
            self._thread.join()
        self._serve(max(self._saved))

    def close(self) -> None:
        """Stop collecting ahead (a group being collected finishes or fails with the collector)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    # --- the producer ---------------------------------------------------------------------------
    def _next(self):
        if self._thread is None:
            return next(self._work)
        item = self._out.get()
        if item[0] == 'error':
            raise item[2]
        return item

    def _run(self) -> None:
        try:
            for item in self._work:
                self._out.put(item)
        except BaseException as exc:  # handed to the driver's thread, which raises it
            self._out.put(('error', None, exc))

    def _produce(self) -> Iterator[tuple[str, int, object]]:
        for g in range(self.start, self.last + 1, self.groups):
            batch = list(range(g, min(g + self.groups, self.last + 1)))
            a = self.acting_iteration(g)
            version = self._serve(a)
            groups = self._collect(batch)
            for j, group in zip(batch, groups):
                yield 'group', j, Collected(j, group, a, version)
                if self._due(j):
                    yield 'eval', j, self._evaluate(j, self._serve(j))

    def _serve(self, j: int) -> PolicyVersion:
        """Make iteration j's adapter act (waiting until it is saved); return its version."""
        with self._cond:
            while j not in self._saved:
                if self._closed:
                    raise RuntimeError('the pipeline was closed')
                if self._thread is None:  # synchronous: the driver saves before it asks
                    raise RuntimeError(f'iteration {j} was not saved before it was to act')
                self._cond.wait(0.5)
            version, adapter = self._saved[j]
        if self._served != j:
            self.collector.serve(version, adapter)
            self._served = j
        return version
