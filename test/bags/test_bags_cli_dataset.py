# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""eval-bag / bags-to-dataset command lines and the SFT dataset made from bags."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from tgrpo_ros.commands import bags_to_dataset as dataset_cli, eval_bag as eval_cli
from tgrpo_ros.bags.to_dataset import bags_to_dataset
from tgrpo_ros.data.episodes import iter_episodes, load_dataset
from tgrpo_ros.bags.synthetic import INSTRUCTION, write_policy_bag, write_robot_bag
from tgrpo_ros.bags.topic_map import parse_topic_map
from tgrpo_ros.policy.checkpoint import load_policy, save_policy
from tgrpo_ros.policy.normalization import compute_dataset_statistics
from tgrpo_ros.policy.tiny import build_tiny_policy

ROBOT_MAP = {
    'cameras': {'agentview': '/camera/image_raw/compressed'}, 'joint_states': '/joint_states',
    'gripper_joints': ['panda_finger_joint1', 'panda_finger_joint2'],
    'eef_pose': '/franka/eef_pose', 'instruction': INSTRUCTION, 'action': '/tgrpo/action'}


@pytest.fixture(autouse=True, scope='module')
def one_torch_thread():
    """Tiny models on a shared 2-core machine: one thread avoids spinning (restored after)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_eval_bag_cli_with_a_saved_policy_and_tiny_side_by_side(tmp_path, capsys):
    folder = save_policy(build_tiny_policy('test', seed=3), tmp_path / 'policy')
    loaded = load_policy(folder)
    write_policy_bag(tmp_path / 'bag', loaded, storage='sqlite3', episodes=1, steps=5)
    rc = eval_cli.main([str(tmp_path / 'bag'), '--policy', f'saved={folder}', '--policy',
                        'tiny:test', '--topics', 'sim:env0', '--out', str(tmp_path / 'out'),
                        '--no-progress', '--batch-size', '2'])
    assert rc == 0
    out = capsys.readouterr().out
    assert 'saved: 5 samples, MAE 0.0000, token accuracy 1.000' in out
    report = json.loads((tmp_path / 'out' / 'report.json').read_text())
    assert set(report['policies']) == {'saved', 'tiny:test'}
    assert report['policies']['saved']['spec'] == str(folder)
    assert report['overall']['tiny:test']['token_accuracy'] < 1.0


def test_eval_bag_cli_exit_codes(tmp_path, capsys):
    write_robot_bag(tmp_path / 'bag', steps=3, compressed='jpeg', camera='/camera/image_raw/'
                    'compressed')
    (tmp_path / 'map.yaml').write_text(yaml.safe_dump(ROBOT_MAP))
    (tmp_path / 'bad.yaml').write_text(yaml.safe_dump({'cameras': {'a': '/c'}}))
    args = ['--policy', 'tiny:test', '--out', str(tmp_path / 'out'), '--no-progress']
    assert eval_cli.main([str(tmp_path / 'bag'), '--topics', str(tmp_path / 'map.yaml')]
                         + args) == 0
    assert eval_cli.main([str(tmp_path / 'bag'), str(tmp_path / 'missing'), '--topics',
                          str(tmp_path / 'map.yaml')] + args) == 1
    err = capsys.readouterr().err
    assert 'ERROR in' in err and 'does not exist' in err
    assert eval_cli.main([str(tmp_path / 'bag'), '--topics', str(tmp_path / 'bad.yaml')]
                         + args) == 2
    assert 'bad.yaml: no instruction' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        eval_cli.main(['--help'])
    assert 'examples:' in capsys.readouterr().out


def test_bags_become_an_sft_dataset_with_statistics(tmp_path):
    recs = [write_robot_bag(tmp_path / f'demo{i}', steps=5, episodes=2, seed=i,
                            compressed='png', camera='/camera/image_raw/compressed')
            for i in range(2)]
    write_robot_bag(tmp_path / 'broken', steps=20, image_size=64)
    f = tmp_path / 'broken' / 'broken.mcap'
    f.write_bytes(f.read_bytes()[:2000])
    index = bags_to_dataset([tmp_path / 'demo0', tmp_path / 'broken', tmp_path / 'demo1'],
                            parse_topic_map(ROBOT_MAP), tmp_path / 'ds', statistics_key='teleop',
                            progress=False)
    assert len(index['episodes']) == 4 and index['num_transitions'] == 20
    assert index['errors'][0]['bag'].endswith('broken') and 'truncated' in \
        index['errors'][0]['error']
    assert load_dataset(tmp_path / 'ds')['episodes'][0]['length'] == 5
    episodes = list(iter_episodes(tmp_path / 'ds'))
    actions = np.concatenate([e.actions for e in episodes])
    np.testing.assert_array_equal(actions, np.concatenate([r['actions'] for r in recs]))
    np.testing.assert_array_equal(episodes[0].images['agentview'][2], recs[0]['images'][2])
    assert episodes[0].instruction == INSTRUCTION and episodes[0].state.shape[0] == 5
    stats = json.loads((tmp_path / 'ds' / 'dataset_statistics.json').read_text())
    assert stats == {'teleop': json.loads(json.dumps(compute_dataset_statistics(actions)))}
    assert stats['teleop']['action']['mask'] == [True] * 6 + [False]
    # Observations from the dataset feed a policy directly.
    sample = build_tiny_policy('test').sample(episodes[1].observations()[:2], temperature=0)
    assert sample.actions.shape == (2, 7)


def test_bags_to_dataset_cli(tmp_path, capsys):
    write_policy_bag(tmp_path / 'sim', build_tiny_policy('test'), episodes=2, steps=3)
    rc = dataset_cli.main([str(tmp_path / 'sim'), '--topics', 'sim', '--out',
                           str(tmp_path / 'ds'), '--no-progress', '--min-length', '3'])
    assert rc == 0 and '2 episodes, 6 transitions' in capsys.readouterr().out
    assert dataset_cli.main([str(tmp_path / 'sim'), '--topics', 'sim', '--out',
                             str(tmp_path / 'ds'), '--no-progress']) == 2   # not empty


def test_eval_bag_cli_adapter_on_a_base_against_the_base(tmp_path, capsys):
    """SFT against TGRPO: an adapter folder on the base model, side by side with the base."""
    import torch
    from tgrpo_ros.training.policy_setup import build_policy
    tuned = build_policy('tiny:test', seed=7)           # as the policy node builds it
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in tuned.trainable_parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.5)
    version = tuned.save_adapter(str(tmp_path / 'adapter_v5'), 5)
    write_policy_bag(tmp_path / 'bag', tuned, episodes=1, steps=6, version=5)
    rc = eval_cli.main([str(tmp_path / 'bag'), '--policy', f'tgrpo={tmp_path / "adapter_v5"}',
                        '--base', 'tiny:test', '--policy', 'base=tiny:test', '--topics', 'sim',
                        '--out', str(tmp_path / 'out'), '--no-progress'])
    assert rc == 0
    report = json.loads((tmp_path / 'out' / 'report.json').read_text())
    assert report['policies']['tgrpo']['sha256'] == version.sha256
    assert report['overall']['tgrpo']['token_accuracy'] == 1.0
    assert report['overall']['tgrpo']['mae_mean'] == 0.0
    assert report['overall']['base']['token_accuracy'] < 1.0
    capsys.readouterr()
    assert eval_cli.main([str(tmp_path / 'bag'), '--policy', str(tmp_path / 'adapter_v5'),
                          '--topics', 'sim', '--out', str(tmp_path / 'o2')]) == 2
    assert 'adapter folder: pass --base MODEL' in capsys.readouterr().err
