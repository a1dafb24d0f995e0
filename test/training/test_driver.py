# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The training driver with the in-process collector on fast stand-in environments.

The tiny policy and ``FakeEnv`` (training_fakes.py) make a run take seconds, so these tests
check the driver's own logic: one module updates and commits, evaluation on held-out states
when due, metrics that move, a resumed run equal to an uninterrupted one, PPO.
"""

from __future__ import annotations

import ast
import csv
import json
import math
from pathlib import Path

from helpers import REPO_ROOT
import pytest
from training_fakes import FakeEnv, FakeGroups

from tgrpo_ros.sim.env_group import LocalEnvGroup
from tgrpo_ros.training.collector import EVAL_GROUP_ID_BASE, GroupRequest
from tgrpo_ros.training.driver import eval_requests, evaluation_due, train_in_process
from tgrpo_ros.training.metrics import wilson_interval
from tgrpo_ros.training.settings import SimTrainSettings

QUIET = {'log': lambda s: None}


def _settings(out: Path, iterations: int = 3, resume: bool = False, **kw) -> SimTrainSettings:
    algo = {'group_size': 2, 'lr': 1e-3, 'minibatch_size': 64}
    algo.update(kw.pop('algo', {}))
    base = {'policy.model': 'tiny:test', 'policy.lora_rank': 4, 'run.iterations': iterations,
            'env.max_steps': 6, 'env.image_size': 32, 'run.output_dir': str(out),
            'run.resume': resume, 'env.init_states': (0, 1), 'eval.init_states': (7, 8),
            'eval.every': 2, 'eval.episodes': 2, 'policy.torch_threads': 0}
    base.update(kw)
    base.update({f'algo.{k}': v for k, v in algo.items()})
    return SimTrainSettings.from_flat(base)


def _rows(path: Path) -> list[dict]:
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def test_only_the_driver_updates_and_commits_iterations():
    """Every training run goes through training/driver.py: nothing else may update or commit.

    The data-parallel workers (training/update_processes.py) build trainers and update only
    when the driver's trainer sends them a group.
    """
    offenders = []
    for path in sorted((REPO_ROOT / 'tgrpo_ros').rglob('*.py')):
        rel = path.relative_to(REPO_ROOT).as_posix()
        if rel in ('tgrpo_ros/training/driver.py', 'tgrpo_ros/training/update_processes.py'):
            continue
        source = path.read_text(encoding='utf-8')
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Call):
                continue
            if isinstance(node.func, ast.Name) and node.func.id == 'TGRPOTrainer' \
                    and rel != 'tgrpo_ros/training/trainer.py':
                offenders.append(f'{rel}:{node.lineno} builds a TGRPOTrainer')
            if not isinstance(node.func, ast.Attribute):
                continue
            owner = ast.get_source_segment(source, node.func.value) or ''
            if node.func.attr == 'complete_iteration':
                offenders.append(f'{rel}:{node.lineno} calls complete_iteration')
            if node.func.attr == 'update' and 'trainer' in owner.lower():
                offenders.append(f'{rel}:{node.lineno} calls {owner}.update')
    assert not offenders, offenders


def test_a_run_evaluates_on_held_out_states_and_records_what_moves(tmp_path):
    groups = FakeGroups()
    lines = []
    summary = train_in_process(_settings(tmp_path), make_envs=groups, log=lines.append)
    rows = _rows(tmp_path / 'metrics.csv')
    # where the wall time went, over this launch's iterations after the first (which may
    # build the environments): 2 and 3, with evaluations after each
    tp = summary['throughput']
    assert tp['first_iteration_excluded']
    assert tp['iterations'] == 2
    assert tp['env_steps'] == sum(int(r['env_steps']) for r in rows[1:])
    assert tp['env_steps_per_s'] > 0 and sum(tp['share'].values()) == pytest.approx(1, abs=1e-3)
    assert tp['share']['rollout'] > 0 and tp['share']['evaluation'] > 0
    assert lines[-1].startswith('[train] throughput: ') and 'evaluation' in lines[-1]
    assert [r['iteration'] for r in rows] == ['1', '2', '3']
    # steps to the first success: the length of the shortest successful trajectory, or NaN
    for r in rows:
        lengths = [int(x) for x in r['lengths'].split(';')]
        steps = float(r['first_success_step'])
        if float(r['success_rate']) > 0:
            assert steps == min(lengths) and 3 <= steps <= 6
        else:
            assert math.isnan(steps)
    assert any(float(r['success_rate']) > 0 for r in rows)
    assert {r['stale_actions'] for r in rows} == {'0'}
    # evaluations: the start policy, every eval.every (2) iterations, and the end
    evals = _rows(tmp_path / 'evaluation.csv')
    assert [int(e['iteration']) for e in evals] == [0, 2, 3]
    assert [int(e['policy_version']) for e in evals] == [0, 2, 3]
    for e in evals:
        k, n = int(e['successes']), int(e['episodes'])
        assert n == 2 and e['init_states'] == '7;8'
        assert float(e['success_rate']) == k / n
        lo, hi = wilson_interval(k, n)
        assert float(e['success_ci_low']) == pytest.approx(lo)
        assert float(e['success_ci_high']) == pytest.approx(hi)
    # one environment group, reused: training resets only training states (both envs the
    # same state), evaluation resets only held-out ones (one per env)
    assert len(groups.groups) == 1 and all(e.closed for e in groups.groups[0].envs)
    env0, env1 = groups.resets
    states0 = [s for s, _ in env0]
    assert states0 == [7, 0, 1, 7, 0, 7] and [s for s, _ in env1] == [8, 0, 1, 8, 0, 8]
    # what a user sees: summary, progress bar, plot
    assert summary['start_eval_success']['episodes'] == 2
    assert summary['final_eval_success']['iteration'] == 3
    assert len(summary['first_success_steps']) == 3
    assert 'Held-out evaluation' in (tmp_path / 'summary.md').read_text()
    postfix = json.loads((tmp_path / 'progress.json').read_text())['postfix']
    assert postfix['eval_success'].endswith('(it 3)') and 'first_success_step' in postfix
    assert (tmp_path / 'progress.png').is_file()


def test_evaluation_schedule_and_requests():
    s = _settings(Path('/nonexistent'), iterations=7, **{
        'eval.every': 3, 'eval.episodes': 5, 'eval.init_states': (10, 11, 12)})
    assert [i for i in range(8) if evaluation_due(s, i)] == [0, 3, 6, 7]
    reqs = eval_requests(s, 3)
    assert len(reqs) == 3  # 5 episodes in groups of 2: rounded up to whole groups
    assert [r.init_states for r in reqs] == [(10, 11), (12, 10), (11, 12)]
    assert all(r.purpose == 'eval' and r.completion == 'all_done' for r in reqs)
    assert len({r.group_id for r in reqs}) == 3
    assert all(r.group_id > EVAL_GROUP_ID_BASE for r in reqs)
    assert not any(evaluation_due(_settings(Path('/x'), **{'eval.every': 0}), i) for i in range(4))
    with pytest.raises(ValueError, match='overlap at \\[1\\]'):
        _settings(Path('/x'), **{'env.init_states': (0, 1), 'eval.init_states': (1, 2)})
    with pytest.raises(ValueError, match='3 initial states for 2'):
        GroupRequest(group_id=1, task='0', init_states=(0, 0, 0), seed=0, num_envs=2,
                     max_steps=5, completion='all_done', temperature=1.0)


class CrashingGroups(FakeGroups):
    """Environments that raise at their ``crash_at``-th step (a simulator dying mid-group)."""

    def __init__(self, crash_at: int):
        super().__init__()
        self.crash_at, self.count = crash_at, 0

    def __call__(self, task, num_envs):
        group = super().__call__(task, num_envs)
        outer = self

        class Crashing(FakeEnv):
            def step(self, action):
                outer.count += 1
                if outer.count == outer.crash_at:
                    raise RuntimeError('simulated crash')
                return super().step(action)
        group.envs = [Crashing(self.max_steps) for _ in range(num_envs)]
        return group


@pytest.mark.parametrize('estimator', ['tgrpo', 'gae'])
def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path, estimator):
    algo = {'estimator': estimator}
    if estimator == 'gae':
        algo['group_completion'] = 'all_done'
    train_in_process(_settings(tmp_path / 'whole', algo=algo), make_envs=FakeGroups(), **QUIET)
    # crash in iteration 2 (the start evaluation and iteration 1 take at most 24 steps)
    out = tmp_path / 'resumed'
    crashing = CrashingGroups(crash_at=26)
    with pytest.raises(RuntimeError, match='simulated crash'):
        train_in_process(_settings(out, algo=algo), make_envs=crashing, **QUIET)
    assert all(e.closed for e in crashing.groups[0].envs)  # the collector closed its envs
    assert [r['iteration'] for r in _rows(out / 'metrics.csv')] == ['1']
    with pytest.raises(FileExistsError, match='resume'):
        train_in_process(_settings(out, algo=algo), make_envs=FakeGroups(), **QUIET)
    train_in_process(_settings(out, resume=True, algo=algo), make_envs=FakeGroups(), **QUIET)
    whole, resumed = _rows(tmp_path / 'whole' / 'metrics.csv'), _rows(out / 'metrics.csv')
    timing = {'rollout_time_s', 'update_time_s'}
    assert [{k: v for k, v in r.items() if k not in timing} for r in whole] == \
        [{k: v for k, v in r.items() if k not in timing} for r in resumed]
    drop = {'time_s'}
    assert [{k: v for k, v in r.items() if k not in drop}
            for r in _rows(tmp_path / 'whole' / 'evaluation.csv')] == \
        [{k: v for k, v in r.items() if k not in drop} for r in _rows(out / 'evaluation.csv')]
    if estimator == 'gae':
        assert all(math.isfinite(float(r['value_loss'])) for r in resumed)
    else:
        assert all(math.isnan(float(r['value_loss'])) for r in resumed)


def test_local_env_group_steps_only_the_active_envs():
    group = LocalEnvGroup([FakeEnv(3), FakeEnv(3)])
    obs = group.reset_all([4, 5], seed=1)
    assert len(obs) == 2 and [e.init_state for e in group.envs] == [4, 5]
    import numpy as np
    obs, outs = group.step(np.zeros((2, 7)), [True, False])
    assert outs[1] is None and outs[0] is not None and group.envs[1].steps == 0
    with pytest.raises(ValueError, match='3 initial states for 2'):
        group.reset_all([1, 2, 3])
