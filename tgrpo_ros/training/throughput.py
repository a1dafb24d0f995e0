# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Where a run's wall time goes: env steps per second and the share of each part of the loop.

The driver times each part of every iteration it runs (rollout, update, saving, evaluation);
what is left of the wall time between the first iteration's start and the last one's end is
"other" (scheduling, metrics, plots). Start-up (building the policy, the first services, the
evaluation of the start) is left out, as in the throughput issue's measure: env steps per
wall-second over full iterations, updates included. So is a launch's first iteration when more
followed: the environments are built at their first reset, which falls in it when no
evaluation of the start ran first (a resume). Resumed runs count only this launch.
"""

from __future__ import annotations

from contextlib import contextmanager
import time
from typing import Iterator

PARTS = ('rollout', 'update', 'saving', 'evaluation')


class PartTimes:
    """Accumulates seconds per part and env steps over the iterations of one launch."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self.seconds = dict.fromkeys(PARTS, 0.0)
        self.env_steps = 0
        self.iterations = 0
        self._start: float | None = None
        self._end: float | None = None
        self._first: tuple[dict, int, float] | None = None  # seconds, steps, end of iteration 1

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        if name not in self.seconds:
            raise ValueError(f'unknown part {name!r}; one of {PARTS}')
        t0 = self._clock()
        if self._start is None:
            self._start = t0
        try:
            yield
        finally:
            self.seconds[name] += self._clock() - t0

    def iteration_done(self, env_steps: int) -> None:
        self.env_steps += int(env_steps)
        self.iterations += 1
        self._end = self._clock()
        if self.iterations == 1:
            self._first = (dict(self.seconds), self.env_steps, self._end)

    def report(self) -> dict:
        """Return {'iterations', 'env_steps', 'wall_s', 'env_steps_per_s', 'share', ...}.

        Over this launch's iterations after its first (over the first alone when it is the
        only one; ``first_iteration_excluded`` says which). ``share``: {part: fraction of the
        wall time} for every part of ``PARTS`` and 'other', summing to 1 (empty when no
        iteration finished).
        """
        iterations, steps, start, seconds = self.iterations, self.env_steps, self._start, \
            self.seconds
        excluded = iterations >= 2 and self._first is not None
        if excluded:
            first_seconds, first_steps, start = self._first
            iterations, steps = iterations - 1, steps - first_steps
            seconds = {p: s - first_seconds[p] for p, s in seconds.items()}
        wall = (self._end - start) if iterations and start is not None else 0.0
        out = {'iterations': iterations, 'env_steps': steps, 'wall_s': round(wall, 3),
               'env_steps_per_s': round(steps / wall, 3) if wall > 0 else None,
               'first_iteration_excluded': excluded, 'share': {}}
        if wall > 0:
            timed = {p: min(s, wall) for p, s in seconds.items()}
            out['share'] = {p: round(s / wall, 4) for p, s in timed.items()}
            out['share']['other'] = round(max(0.0, 1.0 - sum(timed.values()) / wall), 4)
        return out


def throughput_line(report: dict, overlapped: bool = False) -> str:
    """One line for the terminal: '... env steps/s over N iterations ...; rollout 81%, ...'.

    overlapped: groups are collected during the updates (run.max_staleness > 0), so the
    'rollout' part is only the wait for a group beyond the update; the line says so.
    """
    if not report.get('iterations') or not report.get('env_steps_per_s'):
        return '[train] throughput: no full iteration in this launch'
    names = {'rollout': 'waiting for rollout'} if overlapped else {}
    shares = ', '.join(f'{names.get(p, p)} {100 * s:.0f}%' for p, s in report['share'].items())
    skipped = 'start-up excluded'
    if report.get('first_iteration_excluded'):
        skipped = 'start-up and the first iteration excluded'
    return (f'[train] throughput: {report["env_steps_per_s"]:.2f} env steps/s over '
            f'{report["iterations"]} iterations ({report["env_steps"]} steps in '
            f'{report["wall_s"]:.0f} s, {skipped}); {shares}')
