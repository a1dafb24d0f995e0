# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The run folder: everything a training run leaves behind, written so a crash loses nothing.

Layout::

    <run>/config.yaml          resolved settings (+ seeds, versions of torch/transformers/peft)
    <run>/metrics.csv          one row per completed iteration (appended, flushed)
    <run>/tensorboard/         the same metrics as TensorBoard scalars
    <run>/progress.png         dense return and success rate per iteration
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
                           adapter_version) -> None:
        """Record iteration ``iteration`` (its adapter is already saved) as complete."""
        torch.save(trainer_state, self.path / 'state' / 'trainer_state.pt.tmp')
        os.replace(self.path / 'state' / 'trainer_state.pt.tmp',
                   self.path / 'state' / 'trainer_state.pt')
        self._append_row(row)
        self._tensorboard(row)
        atomic_write_text(self.path / 'state' / 'last_complete.json', json.dumps({
            'iteration': iteration, 'adapter': str(self.adapter_dir(iteration)),
            'version': adapter_version.version, 'sha256': adapter_version.sha256,
            'env_steps': row.get('env_steps_total', 0)}))
        self.plot()

    def progress(self, done: int, postfix: dict | None = None, desc: str = 'TGRPO') -> None:
        atomic_write_text(self.path / 'progress.json', json.dumps({
            'done': done, 'total': self.total, 'desc': desc, 'unit': 'iter',
            'postfix': postfix or {}}))

    def _read_rows(self) -> list[dict]:
        f = self.path / 'metrics.csv'
        if not f.is_file():
            return []
        with open(f, newline='') as fh:
            return list(csv.DictReader(fh))

    def _append_row(self, row: dict) -> None:
        f = self.path / 'metrics.csv'
        new = not f.is_file()
        if not new and self._rows and list(self._rows[0]) != list(row):
            raise ValueError('metrics row keys changed within a run')
        with open(f, 'a', newline='') as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
            fh.flush()
            os.fsync(fh.fileno())
        self._rows.append({k: str(v) for k, v in row.items()})

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
        if not self._rows:
            return None
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        it = [int(r['iteration']) for r in self._rows]
        ret = [float(r['mean_return']) for r in self._rows]
        lo = [float(r['min_return']) for r in self._rows]
        hi = [float(r['max_return']) for r in self._rows]
        succ = [100 * float(r['success_rate']) for r in self._rows]
        fig, (a1, a2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
        a1.plot(it, ret, 'o-', label='mean over the group')
        a1.fill_between(it, lo, hi, alpha=0.25, label='min..max')
        a1.set_ylabel('dense return (sum of R_t)')
        a1.legend(loc='best')
        a1.grid(alpha=0.3)
        a2.plot(it, succ, 's-', color='tab:green')
        a2.set_ylabel('group success rate [%]')
        a2.set_xlabel('iteration')
        a2.set_ylim(-5, 105)
        a2.grid(alpha=0.3)
        from matplotlib.ticker import MaxNLocator
        a2.xaxis.set_major_locator(MaxNLocator(integer=True))
        fig.suptitle(f'TGRPO training: {self.path.name}')
        fig.tight_layout()
        out = self.path / 'progress.png'
        fig.savefig(out.with_suffix('.tmp.png'), dpi=90)
        plt.close(fig)
        os.replace(out.with_suffix('.tmp.png'), out)
        return out

    def finish(self, extra: dict | None = None) -> dict:
        rows = self._rows
        summary = {
            'run': str(self.path), 'iterations_completed': len(rows),
            'iterations_planned': self.total,
            'env_steps': int(float(rows[-1]['env_steps_total'])) if rows else 0,
            'first_mean_return': float(rows[0]['mean_return']) if rows else None,
            'last_mean_return': float(rows[-1]['mean_return']) if rows else None,
            'mean_success_rate': (sum(float(r['success_rate']) for r in rows) / len(rows)
                                  if rows else None),
            'final_adapter': (self.last_complete() or {}).get('adapter'),
        }
        summary.update(extra or {})
        atomic_write_text(self.path / 'summary.json', json.dumps(summary, indent=2))
        lines = [f'# TGRPO run {self.path.name}', '']
        lines += [f'- {k.replace("_", " ")}: {v}' for k, v in summary.items()]
        lines += ['', '![progress](progress.png)', '']
        atomic_write_text(self.path / 'summary.md', '\n'.join(lines))
        if self._tb is not None:
            self._tb.close()
        return summary
