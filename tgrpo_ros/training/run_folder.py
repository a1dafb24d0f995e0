# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The run folder: everything a training run leaves behind, written so a crash loses nothing.

Layout::

    <run>/config.yaml          resolved settings (+ seeds, versions of torch/transformers/peft)
    <run>/metrics.csv          one row per committed iteration (appended, fsynced)
    <run>/evaluation.csv       one row per held-out evaluation (iteration 0 = the start policy)
    <run>/tensorboard/         the same metrics as TensorBoard scalars
    <run>/progress.png         held-out success (95% interval), steps to the first success,
                               dense return, per iteration
    <run>/adapters/iter_NNNN/  the LoRA adapter after iteration NNNN (safetensors + SHA-256)
    <run>/state/               iter_NNNN.safetensors + .json: optimiser, shuffle generator,
                               critic of the committed iteration; last_complete.json (the
                               resume point)
    <run>/config_resume_NNNN.yaml  settings a resume after iteration NNNN changed (allowed ones)
    <run>/progress.json        {done, total, ...} for ``tgrpo-ros launch``'s progress bar
    <run>/summary.json, .md    written at the end

An iteration is committed by one atomic step, in this order (each file written to a temporary
name, fsynced, renamed, and its folder fsynced):

1. ``adapters/iter_NNNN/`` (the driver saves it before ``complete_iteration``);
2. ``state/iter_NNNN.safetensors`` + ``.json``: optimiser, shuffle generator, critic (no pickle:
   ``tgrpo_ros.training.state_files``);
3. the metrics row (and the evaluation row, if one ran), appended and fsynced;
4. ``state/last_complete.json`` replaced: THE commit; it names the iteration, whose adapter and
   state files all exist by then;
5. the previous iteration's state files removed; TensorBoard and the plot refreshed.

A crash anywhere leaves the previous commit intact (a full disk too: ``DiskFullError`` names
the file and the iteration kept, and what was being written is removed);
``discard_uncommitted`` (called before a run continues in a folder) drops what came after it:
CSV rows past the committed iteration (rewritten atomically), adapters and state files of later
iterations, temporary files. So metrics.csv always holds rows 1..N, paired with iteration N's
adapter and state.

``config.yaml`` is written once, when the run starts; a resumed run compares its settings
(``write_config``): a change that alters what the run computes is refused, naming it;
the others (more iterations, threads, ...) are recorded in ``config_resume_NNNN.yaml``.

Test hook: ``TGRPO_ROS_TEST_KILL_AT=ITERATION:POINT`` (read once, at import) makes
``complete_iteration(ITERATION)`` kill its own process with SIGKILL at commit point POINT: 0 is
before the first file operation, k after the k-th (``commit_points`` counts them).
test/training/test_run_folder_crash.py kills at every point and resumes.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
from pathlib import Path
import platform
import re
import shutil
import signal
import time

import torch
import yaml

from tgrpo_ros.training.state_files import (DiskFullError, fsync_dir, load_state,
                                            naming_a_full_disk, save_state, state_paths,
                                            write_durably)

# Settings a resumed run may change: they do not alter what the run computes (more iterations
# extend it; the folder may have moved; threads and timeouts only change speed).
RESUMABLE_CHANGES = frozenset({
    'run.iterations', 'run.output_dir', 'run.step_timeout_s', 'run.startup_timeout_s',
    'policy.torch_threads', 'policy.max_batch', 'policy.batch_window_s'})
# How this process was started, not what the run is: never compared.
NOT_COMPARED = frozenset({'run.resume'})
KILL_HOOK_VARIABLE = 'TGRPO_ROS_TEST_KILL_AT'
LAST_COMPLETE = 'last_complete.json'
# adapters/iter_NNNN, state/iter_NNNN.safetensors|.json
_ITERATION_FILE = re.compile(r'iter_(\d+)(\.safetensors|\.json)?')


def _read_kill_hook() -> tuple[int, int] | None:
    """Return (iteration, point) of TGRPO_ROS_TEST_KILL_AT: a test hook (module docstring)."""
    text = os.environ.get(KILL_HOOK_VARIABLE, '')
    if not text:
        return None
    iteration, point = text.split(':')
    return int(iteration), int(point)


_KILL_AT = _read_kill_hook()


def atomic_write_text(path: Path, text: str) -> None:
    write_durably(path, text.encode())


class _CommitPoints:
    """Counts the file operations of one commit; the kill hook fires at its point."""

    def __init__(self, iteration: int):
        self.iteration, self.count = iteration, 0

    def __call__(self) -> None:
        if _KILL_AT == (self.iteration, self.count):
            os.kill(os.getpid(), signal.SIGKILL)
        self.count += 1


def default_run_dir(prefix: str = 'sim_train') -> Path:
    return Path('runs') / f'{prefix}_{time.strftime("%Y%m%d_%H%M%S", time.gmtime())}'


class RunFolder:
    """Writes one run's outputs; ``last_complete()`` tells where a resumed run continues."""

    def __init__(self, path: str | Path, total_iterations: int):
        self.path = Path(path)
        self.total = total_iterations
        for sub in ('adapters', 'state', 'tensorboard'):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        self._tb = None
        self._rows: list[dict] = self._read_rows()
        self._evals: list[dict] = self._read_rows('evaluation.csv')

    # --- start --------------------------------------------------------------------------------
    def write_config(self, settings: dict, extra: dict | None = None) -> None:
        """Write config.yaml when the run starts; a resumed run checks its settings against it.

        Resumed (an iteration is committed): a changed setting outside ``RESUMABLE_CHANGES`` is
        refused (ValueError naming it: the run would silently mix two experiments); allowed
        changes and other package versions are recorded in ``config_resume_NNNN.yaml``
        (NNNN = the iteration it continues after), so config.yaml stays what the run began with.
        """
        import peft
        import transformers
        doc = {'settings': settings,
               'versions': {'torch': str(torch.__version__),
                            'transformers': transformers.__version__,
                            'peft': peft.__version__, 'python': platform.python_version()},
               'machine': f'{platform.machine()}, {os.cpu_count()} CPUs'}
        doc.update(extra or {})
        f = self.path / 'config.yaml'
        last = self.last_complete()
        if last is None or not f.is_file():
            atomic_write_text(f, yaml.safe_dump(doc, sort_keys=False))
            return
        before = yaml.safe_load(f.read_text())
        old, new = (_flat(d, NOT_COMPARED) for d in (before.get('settings', {}), settings))
        changed = sorted(k for k in old.keys() & new.keys() if old[k] != new[k])
        refused = [k for k in changed if k not in RESUMABLE_CHANGES]
        if refused:
            raise ValueError(f'{self.path} was run with other settings: ' + '; '.join(
                f'{k} {old[k]!r} -> {new[k]!r}' for k in refused) + ' (resume with the '
                'settings in its config.yaml, or start a new run)')
        if changed or set(old) != set(new) or before.get('versions') != doc['versions']:
            atomic_write_text(self.path / f'config_resume_{last["iteration"]:04d}.yaml',
                              yaml.safe_dump(doc, sort_keys=False))

    # --- resume -------------------------------------------------------------------------------
    def last_complete(self) -> dict | None:
        """Return {iteration, adapter, state, version, sha256, env_steps} of the resume point.

        None when no iteration is committed.
        """
        f = self.path / 'state' / LAST_COMPLETE
        if not f.is_file():
            return None
        doc = json.loads(f.read_text())
        # The adapter is taken from this folder, not the path recorded when it was written:
        # a run folder copied or moved elsewhere (another disk, a longer experiment) resumes.
        doc['adapter'] = str(self.adapter_dir(int(doc['iteration'])))
        return doc

    def load_trainer_state(self) -> dict:
        """Return the trainer state committed with the last complete iteration (no pickle)."""
        last = self.last_complete()
        if last is None:
            raise FileNotFoundError(f'{self.path} holds no complete iteration')
        if 'state' not in last:
            # Older versions pickled it (trainer_state.pt); pickle is never loaded.
            raise ValueError(f'{self.path} was written by an older version whose trainer state '
                             'is a pickle, which this package never loads; start a new run')
        return load_state(self.path / 'state' / last['state'])

    def discard_uncommitted(self) -> None:
        """Drop what a crash left after the last commit, before the run continues here.

        Rows past the committed iteration leave metrics.csv / evaluation.csv (rewritten
        atomically), as do incomplete last lines; adapters and state files of later iterations
        and temporary files are removed. Call only when the run goes on in this folder.
        """
        last = self.last_complete()
        n = int(last['iteration']) if last is not None else 0
        for f in (self.path / 'state').iterdir():
            m = _ITERATION_FILE.fullmatch(f.name)
            if f.name.endswith('.tmp') or (m and int(m.group(1)) != n):
                f.unlink()
        for f in (self.path / 'adapters').iterdir():
            # later iterations' adapters and save_adapter's temporary folders (.iter_*)
            m = _ITERATION_FILE.fullmatch(f.name)
            if f.name.startswith('.iter_') or (m and int(m.group(1)) > n):
                if f.is_dir():
                    shutil.rmtree(f)
                else:
                    f.unlink()
        for f in self.path.glob('*.tmp*'):
            f.unlink()
        rows = [r for r in self._rows if _whole(r) and int(r['iteration']) <= n]
        if [int(r['iteration']) for r in rows] != list(range(1, n + 1)):
            raise ValueError(f'{self.path / "metrics.csv"} lacks rows of committed iterations '
                             f'1..{n}')
        evals = [e for e in self._evals if _whole(e) and int(e['iteration']) <= n]
        for name, kept, now in (('metrics.csv', rows, self._rows),
                                ('evaluation.csv', evals, self._evals)):
            if kept != now:
                _rewrite_csv(self.path / name, kept)
        self._rows, self._evals = rows, evals
        fsync_dir(self.path)

    # --- each iteration -----------------------------------------------------------------------
    def adapter_dir(self, iteration: int) -> Path:
        return self.path / 'adapters' / f'iter_{iteration:04d}'

    def complete_iteration(self, iteration: int, row: dict, trainer_state: dict,
                           adapter_version, evaluation: dict | None = None) -> None:
        """Commit iteration ``iteration`` (its adapter is already saved): the module's order.

        evaluation: the held-out evaluation of this iteration's policy, if one ran; written
        with the iteration so a resumed run neither repeats nor loses it.
        """
        point = _CommitPoints(iteration)  # the test hook's kill points, between file operations
        point()
        name = f'iter_{iteration:04d}'
        with naming_a_full_disk(self.path / 'state' / name, self.kept(iteration)):
            save_state(self.path / 'state' / name, trainer_state, point)
        with naming_a_full_disk(self.path / 'metrics.csv', self.kept(iteration)):
            self._append_row(row)
        point()
        if evaluation is not None:
            with naming_a_full_disk(self.path / 'evaluation.csv', self.kept(iteration)):
                _append_csv(self.path / 'evaluation.csv', evaluation, self._evals)
            point()
        with naming_a_full_disk(self.path / 'state' / LAST_COMPLETE, self.kept(iteration)):
            write_durably(self.path / 'state' / LAST_COMPLETE, json.dumps({
                'iteration': iteration, 'adapter': str(self.adapter_dir(iteration)),
                'state': name, 'version': adapter_version.version,
                'sha256': adapter_version.sha256,
                'env_steps': row.get('env_steps_total', 0)}).encode(), point)
        # Committed: the previous iteration's state is no longer a resume point.
        for f in state_paths(self.path / 'state' / f'iter_{iteration - 1:04d}'):
            f.unlink(missing_ok=True)
        point()
        self._tensorboard(row)
        if evaluation is not None:
            self._tensorboard_evaluation(evaluation)
        self.plot()

    def kept(self, iteration: int) -> str:
        """Say what a save failing before iteration ``iteration``'s commit leaves (errors)."""
        done = (f'iteration {iteration - 1}, the last committed one, is intact'
                if iteration > 1 else 'no iteration was committed yet')
        return (f'Iteration {iteration} is not saved; {done}: free some space, then resume the '
                f'run (tgrpo-ros launch sim_train --resume {self.path}, or tgrpo-ros train '
                '--resume).')

    def saving_adapter(self, iteration: int):
        """Context of the adapter save before the commit: a full disk is named clearly."""
        return naming_a_full_disk(self.adapter_dir(iteration), self.kept(iteration))

    @staticmethod
    def commit_points(evaluation: bool) -> int:
        """How many kill points ``complete_iteration`` passes (0 .. this - 1)."""
        # start, state (2 files x 2 operations), metrics row, [evaluation row],
        # last_complete.json (2 operations), old state removed
        return 1 + 4 + 1 + int(evaluation) + 2 + 1

    def progress(self, done: int, postfix: dict | None = None, desc: str = 'TGRPO') -> None:
        atomic_write_text(self.path / 'progress.json', json.dumps({
            'done': done, 'total': self.total, 'desc': desc, 'unit': 'iter',
            'postfix': postfix or {}}))

    def record_evaluation(self, evaluation: dict) -> None:
        """Record the start policy's evaluation (later ones come with ``complete_iteration``)."""
        _append_csv(self.path / 'evaluation.csv', evaluation, self._evals)
        self._tensorboard_evaluation(evaluation)
        self.plot()

    def has_evaluation(self, iteration: int) -> bool:
        return any(int(e['iteration']) == iteration for e in self._evals)

    def rows(self) -> list[dict]:
        """metrics.csv's rows so far (values as strings)."""
        return list(self._rows)

    def evaluations(self) -> list[dict]:
        """evaluation.csv's rows so far (values as strings)."""
        return list(self._evals)

    def _tensorboard_evaluation(self, evaluation: dict) -> None:
        tb = {f'eval_{k}': v for k, v in evaluation.items() if k != 'iteration'}
        self._tensorboard(dict(tb, iteration=evaluation['iteration']))

    def _read_rows(self, name: str = 'metrics.csv') -> list[dict]:
        f = self.path / name
        if not f.is_file():
            return []
        with open(f, newline='') as fh:
            return list(csv.DictReader(fh))

    def _append_row(self, row: dict) -> None:
        _append_csv(self.path / 'metrics.csv', row, self._rows)

    def _tensorboard(self, row: dict) -> None:
        try:
            if self._tb is None:
                from torch.utils.tensorboard import SummaryWriter
                self._tb = SummaryWriter(str(self.path / 'tensorboard'))
        except ImportError:
            return  # tensorboard not installed: the CSV has everything
        step = int(row['iteration'])
        for k, v in row.items():
            if isinstance(v, (int, float)) and k != 'iteration':
                self._tb.add_scalar(k, v, step)
        self._tb.flush()

    # --- outputs a person looks at ------------------------------------------------------------
    def plot(self) -> Path | None:
        """progress.png: what moves during training, top to bottom.

        1. held-out evaluation success [%] with its 95% Wilson interval (the training group's
           success is drawn faintly: with first-success groups it is 1/N by construction);
        2. control steps to the group's first success (a gap: no success);
        3. the group's dense return, mean and min..max.
        """
        if not self._rows and not self._evals:
            return None
        import matplotlib  # optional heavy dependency: plots only
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
        rows, evals = self._rows, self._evals
        it = [int(r['iteration']) for r in rows]
        fig, (a1, a2, a3) = plt.subplots(3, 1, figsize=(7, 8), sharex=True)
        if evals:
            e_it = [int(e['iteration']) for e in evals]
            rate = [100 * float(e['success_rate']) for e in evals]
            lo = [100 * float(e['success_ci_low']) for e in evals]
            hi = [100 * float(e['success_ci_high']) for e in evals]
            a1.errorbar(e_it, rate, yerr=[[r - x for r, x in zip(rate, lo)],
                                          [x - r for r, x in zip(rate, hi)]],
                        fmt='o-', capsize=4, color='tab:green',
                        label=f'held-out evaluation ({evals[-1]["episodes"]} episodes, 95% CI)')
        if rows:
            a1.plot(it, [100 * float(r['success_rate']) for r in rows], '.:', color='0.6',
                    label='training group (first-success groups: 1/N by construction)')
        a1.set_ylabel('success rate [%]')
        a1.set_ylim(-5, 105)
        a1.legend(loc='best', fontsize='small')
        a1.grid(alpha=0.3)
        steps = [float(r.get('first_success_step', 'nan')) for r in rows]
        a2.plot(it, steps, 's-', color='tab:purple')
        a2.set_ylabel('steps to first success')
        a2.grid(alpha=0.3)
        if rows:
            a3.plot(it, [float(r['mean_return']) for r in rows], 'o-', label='mean over the group')
            a3.fill_between(it, [float(r['min_return']) for r in rows],
                            [float(r['max_return']) for r in rows], alpha=0.25,
                            label='min..max')
            a3.legend(loc='best', fontsize='small')
        a3.set_ylabel('dense return (sum of R_t)')
        a3.set_xlabel('iteration (0 = the start policy)')
        a3.grid(alpha=0.3)
        a3.xaxis.set_major_locator(MaxNLocator(integer=True))
        fig.suptitle(f'TGRPO training: {self.path.name}')
        fig.tight_layout()
        out = self.path / 'progress.png'
        fig.savefig(out.with_suffix('.tmp.png'), dpi=90)
        plt.close(fig)
        os.replace(out.with_suffix('.tmp.png'), out)
        return out

    def finish(self, extra: dict | None = None) -> dict:
        rows, evals = self._rows, self._evals
        steps = [float(r.get('first_success_step', 'nan')) for r in rows]
        steps = [x for x in steps if not math.isnan(x)]
        summary = {
            'run': str(self.path), 'iterations_completed': len(rows),
            'iterations_planned': self.total,
            'env_steps': int(float(rows[-1]['env_steps_total'])) if rows else 0,
            'first_mean_return': float(rows[0]['mean_return']) if rows else None,
            'last_mean_return': float(rows[-1]['mean_return']) if rows else None,
            # 1/N by construction when groups end at their first success: named for what it
            # is, so nobody reads it as the policy's success rate (the evaluations are that).
            'training_group_success_rate': (sum(float(r['success_rate']) for r in rows)
                                            / len(rows) if rows else None),
            'groups_with_a_success': sum(1 for r in rows if float(r['success_rate']) > 0),
            'first_success_steps': [None if math.isnan(float(r.get('first_success_step',
                                                                     'nan')))
                                    else int(float(r['first_success_step'])) for r in rows],
            'mean_first_success_step': sum(steps) / len(steps) if steps else None,
            'evaluations': [_evaluation_summary(e) for e in evals],
            'start_eval_success': _evaluation_summary(evals[0]) if evals else None,
            'final_eval_success': _evaluation_summary(evals[-1]) if evals else None,
            'final_adapter': (self.last_complete() or {}).get('adapter'),
        }
        summary.update(extra or {})
        atomic_write_text(self.path / 'summary.json', json.dumps(summary, indent=2))
        lines = [f'# TGRPO run {self.path.name}', '']
        lines += [f'- {k.replace("_", " ")}: {v}' for k, v in summary.items()
                  if k not in ('evaluations', 'start_eval_success', 'final_eval_success')]
        if evals:
            lines += ['', '## Held-out evaluation (sampled)', '',
                      '| after iteration | policy version | success | rate [95% CI] | '
                      'mean dense return | initial states |',
                      '|---|---|---|---|---|---|']
            for e in evals:
                lines.append(f'| {e["iteration"]} | {e["policy_version"]} | '
                             f'{e["successes"]}/{e["episodes"]} | '
                             f'{float(e["success_rate"]):.2f} '
                             f'[{float(e["success_ci_low"]):.2f}, '
                             f'{float(e["success_ci_high"]):.2f}] | '
                             f'{float(e["mean_return"]):.3f} | {e["init_states"]} |')
        lines += ['', '![progress](progress.png)', '']
        atomic_write_text(self.path / 'summary.md', '\n'.join(lines))
        if self._tb is not None:
            self._tb.close()
        return summary


def _append_csv(f: Path, row: dict, rows: list[dict]) -> None:
    """Append ``row`` to CSV ``f`` (flushed to disk) and to ``rows``; columns never change.

    A run started by an older version keeps its columns: keys it did not record yet (e.g.
    ``first_success_step``) are left out of its rows; a key it has and ``row`` lacks is an error.
    """
    new = not f.is_file()
    if not new and rows:
        columns = list(rows[0])
        if set(columns) - set(row):
            raise ValueError(f'{f.name}: row keys changed within a run (missing '
                             f'{sorted(set(columns) - set(row))})')
        row = {k: row[k] for k in columns}
    text = io.StringIO(newline='')
    writer = csv.DictWriter(text, fieldnames=list(row))
    if new:
        writer.writeheader()
    writer.writerow(row)
    data = memoryview(text.getvalue().encode())
    fd = os.open(f, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        except OSError as exc:
            os.ftruncate(fd, size)  # no partial row; a full disk leaves the earlier rows whole
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(f, exc) from exc
            raise
    finally:
        os.close(fd)
    if new:
        fsync_dir(f.parent)
    rows.append({k: str(v) for k, v in row.items()})


def _rewrite_csv(f: Path, rows: list[dict]) -> None:
    """Replace CSV ``f`` by ``rows`` (string values, as read) atomically; no rows: remove it."""
    if not rows:
        f.unlink(missing_ok=True)
        return
    out = io.StringIO(newline='')
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_durably(f, out.getvalue().encode())


def _whole(row: dict) -> bool:
    """Return False for a line cut short by a crash (csv.DictReader fills in None)."""
    return None not in row and all(v is not None for v in row.values())


def _flat(settings: dict, leave_out: frozenset) -> dict:
    flat = {f'{s}.{k}': v for s, d in settings.items() for k, v in d.items()}
    return {k: v for k, v in flat.items() if k not in leave_out}


def _evaluation_summary(e: dict) -> dict:
    return {'iteration': int(e['iteration']), 'successes': int(e['successes']),
            'episodes': int(e['episodes']), 'success_rate': float(e['success_rate']),
            'ci95': [float(e['success_ci_low']), float(e['success_ci_high'])],
            'mean_return': float(e['mean_return'])}
