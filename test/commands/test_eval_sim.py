# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""eval-sim on real LIBERO-Object environments: expert, random and a saved tiny policy."""

import json
import subprocess
import sys

from helpers import child_env, REPO_ROOT
import imageio.v2 as imageio
import pytest

from tgrpo_ros.commands import eval_sim

pytestmark = pytest.mark.libero

KETCHUP = 'pick_up_the_ketchup_and_place_it_in_the_basket'


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as e:
        eval_sim.main(['--help'])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert 'examples:' in text and '--policy expert' in text and '--num-envs' in text


def test_expert_in_two_workers_writes_table_json_and_strip(tmp_path, capsys):
    rc = eval_sim.main(['--policy', 'expert', '--tasks', KETCHUP, '--episodes', '2',
                        '--num-envs', '2', '--out', str(tmp_path)])
    assert rc == 0
    res = json.loads((tmp_path / 'results.json').read_text())
    task = res['tasks'][KETCHUP]
    assert task['episodes'] == 2 and task['successes'] == 2 and res['success_rate'] == 1.0
    assert [e['init_state'] for e in task['episodes_detail']] == [0, 1]
    assert all(e['max_stage'] == 5 and e['done_reason'] == 'success'
               for e in task['episodes_detail'])
    assert task['replay_matches'] is True  # the strip shows the episode that was scored
    strip = imageio.imread(tmp_path / task['strip'])
    assert strip.shape == (128, 8 * 128, 3)
    out = capsys.readouterr().out
    assert KETCHUP in out and '2/2' in out and '100.0%' in out


def test_random_policy_fails_within_max_steps_through_the_command(tmp_path):
    # the user's path: the `tgrpo-ros` script itself, with worker processes (spawn re-imports
    # the script as their main module; an unguarded script ran the command again in each)
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / 'scripts' / 'tgrpo-ros'), 'eval-sim', '--policy',
         'random', '--tasks', '0', '--episodes', '2', '--num-envs', '2', '--max-steps', '15',
         '--no-strip', '--out', str(tmp_path)],
        env=child_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / 'results.json').read_text())
    (task,) = res['tasks'].values()
    assert task['episodes'] == 2 and task['successes'] == 0 and task['mean_steps'] == 15
    assert {e['done_reason'] for e in task['episodes_detail']} == {'max_steps'}


def test_saved_policy_folder_runs(tmp_path):
    from tgrpo_ros.policy import build_tiny_policy, save_policy
    folder = save_policy(build_tiny_policy('test', seed=0), tmp_path / 'policy')
    eval_sim.main(['--policy', str(folder), '--tasks', '1', '--episodes', '1',
                   '--max-steps', '3', '--image-size', '64', '--temperature', '1.0',
                   '--no-strip', '--out', str(tmp_path / 'out')])
    res = json.loads((tmp_path / 'out' / 'results.json').read_text())
    (task,) = res['tasks'].values()
    assert task['episodes_detail'][0]['steps'] == 3


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(SystemExit, match="no such folder 'nowhere/policy'"):
        eval_sim.main(['--policy', 'nowhere/policy', '--out', str(tmp_path)])
    with pytest.raises(SystemExit, match=r'initial states 45..54 out of range'):
        eval_sim.main(['--first-init-state', '45', '--episodes', '10', '--out', str(tmp_path)])
    with pytest.raises(ValueError, match="unknown task 'pick_up_the_spam'"):
        eval_sim.main(['--tasks', 'pick_up_the_spam', '--out', str(tmp_path)])


def test_sim_episode_saves_frames_and_rewards(tmp_path):
    from tgrpo_ros.commands import sim_episode as episode_cli
    out = tmp_path / 'ep'
    episode_cli.main(['--policy', 'random', '--task', '2', '--max-steps', '6',
                      '--cameras', 'agentview', 'wrist', '--image-size', '32', '--out', str(out)])
    ep = json.loads((out / 'episode.json').read_text())
    assert ep['steps'] == 6 and ep['done_reason'] == 'max_steps' and ep['num_stages'] == 5
    assert len(ep['per_step']) == 6 and all(len(s['action']) == 7 for s in ep['per_step'])
    frames = sorted(out.glob('frame_*.png'))
    assert len(frames) == 7  # the reset observation and one per step
    assert imageio.imread(frames[0]).shape == (32, 64, 3)  # two cameras side by side
    assert (out / 'episode.gif').exists()


def test_several_suites_end_with_the_papers_suite_table(tmp_path, capsys):
    rc = eval_sim.main(['--policy', 'random', '--suite', 'libero_object', 'libero_spatial',
                        '--tasks', '0', '--episodes', '1', '--max-steps', '3', '--no-strip',
                        '--out', str(tmp_path)])
    assert rc == 0
    res = json.loads((tmp_path / 'results.json').read_text())
    assert list(res['suites']) == ['libero_spatial', 'libero_object']  # the paper's order
    for suite, r in res['suites'].items():
        (task,) = r['tasks'].values()
        assert r['suite'] == suite and task['episodes'] == 1 and task['mean_steps'] == 3
    table = res['suite_table']
    assert table['Spatial'] == table['Object'] == 0.0 and table['average'] == 0.0
    assert table['Goal'] is None and table['Long'] is None
    assert table['averaged_over'] == ['libero_spatial', 'libero_object']
    lines = capsys.readouterr().out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith('policy'))
    assert lines[head].split() == ['policy', 'Spatial', 'Object', 'Goal', 'Long', 'Average']
    assert lines[head + 1].split() == ['random', '0.0', '0.0', '-', '-', '0.0']
    assert 'not run: Goal, Long' in lines[head + 2]
