# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""benchmarks/run_experiment.py: held-out states stay disjoint; partial results still report.

The table and plot are built from whatever runs exist, so an interrupted experiment still
reports honestly what it measured.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from helpers import benchmark_script
import pytest



def _module():
    return benchmark_script('run_experiment')


def _write_run(folder: Path, successes: list[float]) -> None:
    folder.mkdir(parents=True)
    with open(folder / 'metrics.csv', 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=['iteration', 'env_steps_total', 'success_rate',
                                          'mean_return', 'rollout_time_s', 'update_time_s'])
        w.writeheader()
        for i, s in enumerate(successes, 1):
            w.writerow({'iteration': i, 'env_steps_total': 100 * i, 'success_rate': s,
                        'mean_return': 10 * s, 'rollout_time_s': 5, 'update_time_s': 1})


def _write_eval(folder: Path, rate: float, ret: float, episodes: int = 20) -> None:
    folder.mkdir(parents=True)
    (folder / 'results.json').write_text(json.dumps({
        'success_rate': rate, 'mean_return': ret, 'episodes': episodes,
        'successes': round(rate * episodes), 'seconds': 30.0}))


def test_training_and_evaluation_states_must_not_overlap(tmp_path):
    from tgrpo_ros.training.settings import SimTrainSettings
    mod = _module()
    with pytest.raises(SystemExit, match='overlap'):
        mod.main(['--train-states', '0-24', '--eval-states', '20-30', '--out', str(tmp_path)])
    args = mod.parse_args([])
    assert not set(args.train_states) & set(args.eval_states)
    assert len(args.eval_states) >= 20 and len(args.seeds) >= 3
    assert set(args.methods) == {'tgrpo', 'traj', 'step', 'grpo_outcome', 'ppo'}
    # grpo_outcome needs whole episodes; PPO is the 'gae' estimator of the same trainer
    ppo = mod.run_settings(args, 'ppo', 1, tmp_path)
    assert ppo['algo.estimator'] == 'gae' and ppo['run.seed'] == 1
    # PPO scales its rewards (the default); ppo_unscaled, kept for the older runs, does not
    assert SimTrainSettings.from_flat(ppo).algo.reward_scaling
    assert not SimTrainSettings.from_flat(
        mod.run_settings(args, 'ppo_unscaled', 0, tmp_path)).algo.reward_scaling
    assert mod.run_settings(args, 'grpo_outcome', 0, tmp_path)['algo.group_completion'] \
        == 'all_done'
    for method in mod.METHODS:  # every method's settings are valid
        SimTrainSettings.from_flat(mod.run_settings(args, method, 0, tmp_path))
    assert SimTrainSettings.from_flat(mod.run_settings(args, 'tgrpo', 0, tmp_path)) \
        .env.init_states_file == ''


def test_generated_training_states_are_not_benchmark_indices(tmp_path):
    from tgrpo_ros.training.settings import SimTrainSettings
    mod = _module()
    states = tmp_path / 'gen.npz'
    args = mod.parse_args(['--train-init-file', str(states), '--train-states', '0-29'])
    settings = SimTrainSettings.from_flat(mod.run_settings(args, 'tgrpo', 0, tmp_path / 'r'))
    assert settings.env.init_states_file == str(states)
    assert settings.env.init_states == tuple(range(30))  # indices into the file, not the benchmark


def test_summary_table_and_plot_from_partial_results(tmp_path):
    mod = _module()
    args = mod.parse_args(['--methods', 'tgrpo', 'traj', '--seeds', '0', '1',
                           '--out', str(tmp_path)])
    _write_eval(tmp_path / 'eval' / 'sft', 0.3, 100.0)
    _write_run(tmp_path / 'runs' / 'tgrpo_s0', [0.25, 0.5])
    _write_eval(tmp_path / 'eval' / 'tgrpo_s0', 0.4, 120.0)
    _write_run(tmp_path / 'runs' / 'tgrpo_s1', [0.0, 0.5])
    _write_eval(tmp_path / 'eval' / 'tgrpo_s1', 0.6, 140.0)
    _write_run(tmp_path / 'runs' / 'traj_s0', [0.25])  # still running: no evaluation yet
    doc = mod.summarise(args, tmp_path, 12.0)
    t = doc['table']
    assert t['sft']['success'] == [0.3]
    assert t['tgrpo']['success'] == [0.4, 0.6] and t['tgrpo']['runs'] == 2
    assert t['tgrpo']['env_steps'] == [200, 200] and t['tgrpo']['wall_s'] == [12.0, 12.0]
    assert t['traj']['runs'] == 0 and t['traj']['iterations_done'] == [1, 0]
    md = (tmp_path / 'results.md').read_text()
    # 8 + 12 successes of 40 episodes: Wilson 95% interval 35.1-65.0%
    assert '| tgrpo | 2 | 50.0 +- 14.1 | 20/40 [35-65] | 130.0 +- 14.1 | 200 | 12 | 30 |' in md
    assert '| sft | 1 | 30.0 +- 0.0 | 6/20 [15-52] |' in md
    assert mod.wilson(0, 60) == (0.0, pytest.approx(0.0602, abs=1e-4))
    assert (tmp_path / 'curves.png').stat().st_size > 1000


def test_runs_render_the_cameras_the_start_policy_was_trained_on(tmp_path):
    """A two-camera SFT policy gets both cameras in training, export and evaluation."""
    mod = _module()
    from tgrpo_ros.policy.checkpoint import save_policy, saved_cameras
    from tgrpo_ros.policy.tiny import build_tiny_policy
    from tgrpo_ros.training.settings import SimTrainSettings
    cams = ['agentview', 'robot0_eye_in_hand']
    save_policy(build_tiny_policy('test', cameras=tuple(cams)), tmp_path / 'two_cams')
    assert saved_cameras(tmp_path / 'two_cams') == cams
    assert mod.model_cameras(str(tmp_path / 'two_cams')) == cams
    assert mod.model_cameras('tiny:test') == ['agentview']
    assert mod.model_cameras('sft:object_task0') == ['agentview']
    args = mod.parse_args(['--model', str(tmp_path / 'two_cams')])
    settings = SimTrainSettings.from_flat(mod.run_settings(args, 'tgrpo', 0, tmp_path / 'run'))
    assert list(settings.env.cameras) == cams


def test_an_evaluation_at_another_temperature_is_not_reused(tmp_path):
    """A cached greedy result must not stand in for a sampled one (or the reverse)."""
    mod = _module()
    _write_eval(tmp_path / 'eval' / 'sft', 0.3, 100.0)  # no 'temperature': measured greedy
    greedy = mod.parse_args(['--out', str(tmp_path)])
    assert mod.evaluate(greedy, 'unused', tmp_path / 'eval' / 'sft', print)['success_rate'] == 0.3
    sampled = mod.parse_args(['--out', str(tmp_path), '--eval-temperature', '1'])
    with pytest.raises(SystemExit, match='evaluated at temperature 0.0.*asks for 1.0'):
        mod.evaluate(sampled, 'unused', tmp_path / 'eval' / 'sft', print)
    mod.summarise(sampled, tmp_path, 1.0)
    assert '20 sampled (temperature 1) episodes per run' in (tmp_path / 'results.md').read_text()


def test_several_tasks_train_in_turn_and_one_task_keeps_its_command(tmp_path):
    from tgrpo_ros.training.driver import schedule
    from tgrpo_ros.training.settings import SimTrainSettings
    mod = _module()
    args = mod.parse_args(['--suite', 'libero_spatial', '--tasks', '2', '3', '8',
                           '--iterations', '12'])
    settings = SimTrainSettings.from_flat(mod.run_settings(args, 'tgrpo', 0, tmp_path))
    assert len(settings.env.tasks) == 3
    # groups cycle over the tasks: each task gets 4 of 12 iterations, on states 0-3
    sched = [schedule(settings, it) for it in range(1, 13)]
    assert [s[0] for s in sched[:3]] == list(settings.env.tasks)
    assert sorted(s[1] for s in sched if s[0] == settings.env.tasks[1]) == [0, 1, 2, 3]
    assert mod.parse_args(['--task', '4']).tasks == ['4']
    assert mod.parse_args([]).tasks == ['0']
    for bad in (['--task', '1', '--tasks', '2'], ['--tasks', '1', '1']):
        with pytest.raises(SystemExit):
            mod.parse_args(bad)


def _write_task_eval(folder: Path, task: str, successes: int, ret: float) -> None:
    folder.mkdir(parents=True)
    (folder / 'results.json').write_text(json.dumps({
        'task': task, 'success_rate': successes / 20, 'mean_return': ret, 'episodes': 20,
        'successes': successes, 'mean_steps': 100.0, 'seconds': 10.0, 'temperature': 1.0}))


def test_several_tasks_are_evaluated_each_and_reported_per_task_and_pooled(tmp_path):
    mod = _module()
    args = mod.parse_args(['--tasks', '2', '3', '--methods', 'tgrpo', '--seeds', '0', '1',
                           '--eval-temperature', '1', '--out', str(tmp_path)])
    for name, counts in (('sft', (4, 10)), ('tgrpo_s0', (8, 12)), ('tgrpo_s1', (6, 20))):
        # cached per-task evaluations stand for finished ones: nothing is simulated here
        for task, k in zip(('2', '3'), counts):
            _write_task_eval(tmp_path / 'eval' / name / f'task{task}', task, k, 10.0 * k)
        doc = mod.evaluate_tasks(args, 'unused', tmp_path / 'eval' / name, print)
        assert doc['episodes'] == 40 and doc['successes'] == sum(counts)
        assert [p['task'] for p in doc['per_task']] == ['2', '3']
    _write_run(tmp_path / 'runs' / 'tgrpo_s0', [0.25, 0.5])
    _write_run(tmp_path / 'runs' / 'tgrpo_s1', [0.0, 0.5])
    doc = mod.summarise(args, tmp_path, 1.0)
    t = doc['table']['tgrpo']
    assert t['successes'] == 46 and t['episodes'] == 80
    assert t['per_seed'] == [[0, 20, 40], [1, 26, 40]]
    assert t['per_task']['3']['successes'] == [12, 20]
    md = (tmp_path / 'results.md').read_text()
    assert 'tasks 2, 3' in md and '20 sampled (temperature 1) episodes per task per run' in md
    # pooled over tasks and seeds: 46/80, Wilson 46.6-67.7%
    assert '| tgrpo | 2 | 57.5 +- 10.6 | 46/80 [47-68] |' in md
    # per task, pooled over seeds: task 3 is 32/40 [65-90], task 2 is 14/40 [22-50]
    assert '| tgrpo | 3 | 12/20, 20/20 | 32/40 [65-90] | 160.0 +- 56.6 |' in md
    assert '| tgrpo | 2 | 8/20, 6/20 | 14/40 [22-50] |' in md
    assert '| sft | 2 | 4/20 | 4/20 [8-42] |' in md


def test_train_wall_time_is_the_runs_clock_when_updates_overlap(tmp_path):
    """Overlapped, rollout and update run at once: their sum is not the wall time."""
    mod = _module()
    run = tmp_path / 'run'
    _write_run(run, [0.0, 0.5, 1.0])  # each row: rollout 5 s + update 1 s
    rows = mod.read_rows(run)
    assert mod.run_wall_s(run, rows) == 18.0  # no summary: the synchronous sum
    summary = {'throughput': {'iterations': 2, 'wall_s': 10.0, 'first_iteration_excluded': True}}
    (run / 'summary.json').write_text(json.dumps(summary))
    assert mod.run_wall_s(run, rows) == 16.0  # iteration 1 (6 s) + the clock over 2..3
    summary['throughput']['iterations'] = 1  # a resumed run's summary covers its last launch
    (run / 'summary.json').write_text(json.dumps(summary))
    assert mod.run_wall_s(run, rows) == 18.0
