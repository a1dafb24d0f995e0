# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The run folder: everything a training run leaves behind, written so a crash loses nothing.

Layout::

    <run>/config.yaml          resolved settings (+ seeds, versions of torch/transformers/peft)
    <run>/metrics.csv          one row per completed iteration (appended, flushed)
    <run>/evaluation.csv       one row per held-out evaluation (iteration 0 = the start policy)
    <run>/tensorboard/         the same metrics as TensorBoard scalars
    <run>/progress.png         held-out success (95% interval), steps to the first success,
                               dense return, per iteration
    <run>/adapters/iter_NNNN/  the LoRA adapter after iteration NNNN (safetensors + SHA-256)
    <run>/state/               optimiser state and last_complete.json (the resume point)
    <run>/progress.json        {done, total, ...} for ``tgrpo-ros launch``'s progress bar
    <run>/summary.json, .md    written at the end

An iteration counts as complete only once its adapter, optimiser state and metrics row are on
disk; ``last_complete.json`` is replaced atomically last, so ``--resume`` never sees half an
iteration.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
import platform
import time

import torch
import yaml


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + '.tmp')
    tmp.write_text(text)
    os.replace(tmp, path)


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
        import peft
        import transformers
        doc = {'settings': settings,
               'versions': {'torch': str(torch.__version__),
                            'transformers': transformers.__version__,
                            'peft': peft.__version__, 'python': platform.python_version()},
               'machine': f'{platform.machine()}, {os.cpu_count()} CPUs'}
        doc.update(extra or {})
        atomic_write_text(self.path / 'config.yaml', yaml.safe_dump(doc, sort_keys=False))

    # --- resume -------------------------------------------------------------------------------
    def last_complete(self) -> dict | None:
        """Return {iteration, adapter, version, sha256, env_steps} of the resume point, or None."""
        f = self.path / 'state' / 'last_complete.json'
        if not f.is_file():
            return None
        doc = json.loads(f.read_text())
        # The adapter is taken from this folder, not the path recorded when it was written:
        # a run folder copied or moved elsewhere (another disk, a longer experiment) resumes.
        doc['adapter'] = str(self.adapter_dir(int(doc['iteration'])))
        return doc

    def load_trainer_state(self) -> dict:
        return torch.load(self.path / 'state' / 'trainer_state.pt', weights_only=True)

    # --- each iteration -----------------------------------------------------------------------
    def adapter_dir(self, iteration: int) -> Path:
        return self.path / 'adapters' / f'iter_{iteration:04d}'

    def complete_iteration(self, iteration: int, row: dict, trainer_state: dict,
                           adapter_version, evaluation: dict | None = None) -> None:
        """Record iteration ``iteration`` (its adapter is already saved) as complete.

        evaluation: the held-out evaluation of this iteration's policy, if one ran; written
        with the iteration so a resumed run neither repeats nor loses it.
        """
        torch.save(trainer_state, self.path / 'state' / 'trainer_state.pt.tmp')
        os.replace(self.path / 'state' / 'trainer_state.pt.tmp',
                   self.path / 'state' / 'trainer_state.pt')
        self._append_row(row)
        self._tensorboard(row)
        if evaluation is not None:
            self._append_evaluation(evaluation)
        atomic_write_text(self.path / 'state' / 'last_complete.json', json.dumps({
            'iteration': iteration, 'adapter': str(self.adapter_dir(iteration)),
            'version': adapter_version.version, 'sha256': adapter_version.sha256,
            'env_steps': row.get('env_steps_total', 0)}))
        self.plot()

    def progress(self, done: int, postfix: dict | None = None, desc: str = 'TGRPO') -> None:
        atomic_write_text(self.path / 'progress.json', json.dumps({
            'done': done, 'total': self.total, 'desc': desc, 'unit': 'iter',
            'postfix': postfix or {}}))

    def record_evaluation(self, evaluation: dict) -> None:
        """Record the start policy's evaluation (later ones come with ``complete_iteration``)."""
        self._append_evaluation(evaluation)
        self.plot()

    def has_evaluation(self, iteration: int) -> bool:
        return any(int(e['iteration']) == iteration for e in self._evals)

    def rows(self) -> list[dict]:
        """metrics.csv's rows so far (values as strings)."""
        return list(self._rows)

    def evaluations(self) -> list[dict]:
        """evaluation.csv's rows so far (values as strings)."""
        return list(self._evals)

    def _append_evaluation(self, evaluation: dict) -> None:
        _append_csv(self.path / 'evaluation.csv', evaluation, self._evals)
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
    with open(f, 'a', newline='') as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
        fh.flush()
        os.fsync(fh.fileno())
    rows.append({k: str(v) for k, v in row.items()})


def _evaluation_summary(e: dict) -> dict:
    return {'iteration': int(e['iteration']), 'successes': int(e['successes']),
            'episodes': int(e['episodes']), 'success_rate': float(e['success_rate']),
            'ci95': [float(e['success_ci_low']), float(e['success_ci_high'])],
            'mean_return': float(e['mean_return'])}
