# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The in-process TGRPO loop on real LIBERO: a crash loses only the iteration in flight.

``resume`` continues from the last complete iteration with its adapter and optimiser state.
"""

from __future__ import annotations

import csv

import pytest
from safetensors.torch import load_file
import torch

from tgrpo_ros.sim.env_group import EnvGroup, WorkerError
from tgrpo_ros.training.driver import train_in_process
from tgrpo_ros.training.run_folder import RunFolder
from tgrpo_ros.training.settings import SimTrainSettings

pytestmark = [pytest.mark.libero, pytest.mark.slow]


class CrashingGroup(EnvGroup):
    """LIBERO workers; worker 0 dies like a segfaulting simulator at lockstep call ``crash_at``.

    ``EnvGroup`` must report it as ``WorkerError`` (never hang), and the run keeps what was done.
    """

    def __init__(self, *args, crash_at: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.crash_at, self.count = crash_at, 0

    def step(self, actions, active=None):
        self.count += 1
        if self.count == self.crash_at:
            self._crash(0)
        return super().step(actions, active)


def _settings(out, iterations, resume=False):
    return SimTrainSettings.from_flat({
        'run.iterations': iterations, 'env.max_steps': 4, 'run.output_dir': str(out),
        'env.image_size': 32, 'run.resume': resume, 'algo.group_size': 2, 'algo.lr': 1e-3,
        'algo.minibatch_size': 64, 'eval.every': 0})


def test_crash_then_resume_continues_from_the_last_complete_iteration(tmp_path):
    out = tmp_path / 'run'
    # Crash during iteration 2's rollout (4 lockstep steps per iteration; no evaluation).
    settings = _settings(out, 3)

    def factory(task, n):
        env = settings.env
        return CrashingGroup(n, suite=env.suite, task=int(task), cameras=env.cameras,
                             image_size=env.image_size, max_steps=env.max_steps, crash_at=6)
    with pytest.raises(WorkerError, match='worker 0'):
        train_in_process(settings, make_envs=factory, log=lambda s: None)
    run = RunFolder(out, 3)
    last = run.last_complete()
    assert last['iteration'] == 1 and last['env_steps'] == 8
    with open(out / 'metrics.csv', newline='') as f:
        assert [r['iteration'] for r in csv.DictReader(f)] == ['1']

    # Without --resume an existing run is refused rather than overwritten.
    with pytest.raises(FileExistsError, match='resume'):
        train_in_process(_settings(out, 3), log=lambda s: None)

    state_before = run.load_trainer_state()
    summary = train_in_process(_settings(out, 3, resume=True), log=lambda s: None)
    assert summary['iterations_completed'] == 3 and summary['env_steps'] == 24
    with open(out / 'metrics.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [r['iteration'] for r in rows] == ['1', '2', '3']
    assert [int(r['env_steps_total']) for r in rows] == [8, 16, 24]
    # Iteration 2 started from iteration 1's adapter: its first minibatch agreed with the
    # sampler (a fresh adapter would too, so also check the optimiser resumed: Adam's step
    # count continued from iteration 1's).
    assert float(rows[1]['first_abs_log_ratio_max']) < 1e-4
    step_before = next(iter(state_before['optimizer']['state'].values()))['step']
    step_after = next(iter(run.load_trainer_state()['optimizer']['state'].values()))['step']
    assert float(step_after) == float(step_before) + 2  # two more single-minibatch updates
    w1 = load_file(str(run.adapter_dir(1) / 'adapter_model.safetensors'))
    w3 = load_file(str(run.adapter_dir(3) / 'adapter_model.safetensors'))
    assert any(not torch.equal(w1[k], w3[k]) for k in w1)
    assert (out / 'progress.png').is_file() and (out / 'summary.md').is_file()


def test_a_moved_run_folder_resumes_from_its_own_adapters(tmp_path):
    # The resume point names the adapter by the folder that reads it, not by the path it was
    # written under, so a run copied elsewhere (a longer experiment, another disk) continues.
    from types import SimpleNamespace
    old = RunFolder(tmp_path / 'old', 3)
    old.adapter_dir(1).mkdir(parents=True)
    (old.adapter_dir(1) / 'adapter_model.safetensors').write_bytes(b'weights')
    old.complete_iteration(1, {'iteration': 1, 'env_steps_total': 8, 'mean_return': 1.0,
                               'min_return': 1.0, 'max_return': 1.0, 'success_rate': 0.0},
                           {'step': torch.tensor(1)}, SimpleNamespace(version=1, sha256='ab'))
    (tmp_path / 'old').rename(tmp_path / 'new')
    last = RunFolder(tmp_path / 'new', 3).last_complete()
    assert last['iteration'] == 1 and last['env_steps'] == 8 and last['version'] == 1
    assert last['adapter'] == str(tmp_path / 'new' / 'adapters' / 'iter_0001')
    assert (tmp_path / 'new' / 'adapters' / 'iter_0001' / 'adapter_model.safetensors').is_file()
