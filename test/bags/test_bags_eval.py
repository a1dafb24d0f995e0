# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Offline evaluation on bags written with rosbags: metrics, pairing, side by side, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tgrpo_ros.bags import build as B
from tgrpo_ros.bags.evaluate import evaluate_bags
from tgrpo_ros.bags.pairing import iter_samples, SkipLog
from tgrpo_ros.bags.reader import BagReader
from tgrpo_ros.bags.synthetic import write_policy_bag, write_robot_bag
from tgrpo_ros.bags.topic_map import parse_topic_map, sim_topic_map, TopicMapError
from tgrpo_ros.bags.writer import BagWriter
from tgrpo_ros.policy.tiny import build_tiny_policy

ROBOT_MAP = {
    'cameras': {'agentview': '/camera/image_raw'}, 'joint_states': '/joint_states',
    'gripper_joints': ['panda_finger_joint1', 'panda_finger_joint2'],
    'eef_pose': '/franka/eef_pose', 'instruction': {'topic': '/task_instruction'},
    'action': '/tgrpo/action', 'pairing': {'mode': 'time'}}


@pytest.fixture(autouse=True, scope='module')
def one_torch_thread():
    """Tiny models on a shared 2-core machine: one thread avoids spinning (restored after)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def policy():
    return build_tiny_policy('test', seed=0)


@pytest.fixture(scope='module')
def other_policy():
    return build_tiny_policy('test', seed=1)


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_greedy_recording_scores_perfectly_and_side_by_side(tmp_path, policy, other_policy,
                                                             storage):
    write_policy_bag(tmp_path / 'bag', policy, storage=storage, episodes=2, steps=4)
    with BagReader(tmp_path / 'bag') as r:
        recorded_lp = np.stack([np.asarray(m.token_logprobs, np.float64)
                                for _, _, m in r.messages(['/env0/action'])])
    report = evaluate_bags([tmp_path / 'bag'], {'same': policy, 'other': other_policy},
                           sim_topic_map(), tmp_path / 'out', batch_size=3, progress=False)
    same, other = report['overall']['same'], report['overall']['other']
    assert report['complete'] and report['bags'][0]['mode'] == 'ids'
    assert same['samples'] == 8 and report['skipped']['total'] == 0
    assert same['token_accuracy'] == 1.0 and same['mae_mean'] == 0.0 and same['rmse_mean'] == 0
    assert same['gripper_agreement'] == 1.0
    assert same['token_source'] == {'recorded': 8}
    # NLL of the recorded tokens = minus the sampler's own log-probs (greedy ones are at T=1).
    assert same['nll'] == pytest.approx(-recorded_lp.sum(1).mean(), abs=1e-4)
    # A different policy disagrees on the same recordings.
    assert other['samples'] == 8 and other['token_accuracy'] < 0.9 and other['mae_mean'] > 0.01
    assert other['mae_physical']['x'] == pytest.approx(other['mae']['x'] * 0.05)
    assert [e['episode'] for e in report['per_episode']] == ['env0/1', 'env0/2']
    assert all(e['policies']['same']['samples'] == 4 for e in report['per_episode'])
    on_disk = json.loads((tmp_path / 'out' / 'report.json').read_text())
    assert on_disk['overall']['same']['token_accuracy'] == 1.0
    plots = sorted(p.name for p in (tmp_path / 'out' / 'plots').iterdir())
    assert plots == ['episode_000.png', 'episode_001.png', 'mae_per_dim.png']
    html = (tmp_path / 'out' / 'summary.html').read_text()
    assert html.count('data:image/png;base64,') == 3 and 'other' in html
    assert '![' in (tmp_path / 'out' / 'summary.md').read_text()


def test_raw_encodings_and_lossless_compression_give_identical_results(tmp_path, policy):
    results = {}
    for enc, comp in (('rgb8', None), ('bgr8', None), ('rgba8', None), ('rgb8', 'png'),
                      ('rgb8', 'jpeg')):
        name = f'{enc}_{comp}'
        rec = write_robot_bag(tmp_path / name, compressed=comp, encoding=enc, steps=6,
                              storage='sqlite3' if comp == 'png' else 'mcap')
        report = evaluate_bags([tmp_path / name], {'p': policy}, parse_topic_map(ROBOT_MAP),
                               tmp_path / f'out_{name}', progress=False)
        r = report['overall']['p']
        assert report['complete'] and r['samples'] == 6 and report['skipped']['total'] == 0
        assert r['token_source'] == {'reencoded': 6}
        results[name] = r
        assert np.isfinite(r['nll'])
        del rec
    base = results['rgb8_None']
    for name in ('bgr8_None', 'rgba8_None', 'rgb8_png'):
        assert results[name]['mae'] == base['mae'], name
        assert results[name]['nll'] == pytest.approx(base['nll'], abs=1e-5), name
    assert results['rgb8_jpeg']['samples'] == 6   # lossy: only checked to run


def test_motion_derived_actions_equal_the_commanded_ones(tmp_path):
    rec = write_robot_bag(tmp_path / 'b', action_topic=None, steps=7, episodes=2,
                          pose_rate_factor=3)
    raw = dict(ROBOT_MAP)
    del raw['action']
    raw['action_from_motion'] = {'rate_hz': 20, 'gripper_closed_below': 0.04}
    skips = SkipLog()
    with BagReader(tmp_path / 'b') as r:
        samples = list(iter_samples(r, parse_topic_map(raw), skips))
    assert len(samples) == 14
    got = np.stack([s.action for s in samples])
    np.testing.assert_allclose(got, rec['actions'], atol=1e-9)
    assert [s.episode for s in samples] == ['episode_0001'] * 7 + ['episode_0002'] * 7
    assert skips.by_reason == {
        'last step of an episode (no following pose to derive the action)': 2}
    assert set(samples[0].observation.state_names[:3]) == {'eef_pos_x', 'eef_pos_y', 'eef_pos_z'}
    assert 'gripper_qpos_1' in samples[0].observation.state_names
    np.testing.assert_array_equal(samples[3].observation.images['agentview'], rec['images'][3])


def test_stale_or_missing_inputs_are_skipped_with_a_reason(tmp_path, policy):
    write_robot_bag(tmp_path / 'b', steps=5)
    raw = dict(ROBOT_MAP, pairing={'mode': 'time', 'max_age': 1e-6})   # images are 5 us old
    report = evaluate_bags([tmp_path / 'b'], {'p': policy}, parse_topic_map(raw),
                           tmp_path / 'out', progress=False)
    assert report['overall']['p']['samples'] == 0
    reason = 'no image on /camera/image_raw within 1e-06 s before the action'
    assert report['skipped']['by_reason'] == {reason: 5}
    (episode,) = report['per_episode']
    assert episode['skipped_by_reason'] == {reason: 5} and episode['policies']['p'] == {
        'samples': 0}
    # Pairing by ids: an action whose observation was not recorded is skipped, and said so.
    with BagWriter(tmp_path / 'ids', 'mcap') as w:
        w.write_message('/env0/action', 5, B.action_msg(np.zeros(7), 'env0', 1, 0, 5))
    report = evaluate_bags([tmp_path / 'ids'], {'p': policy}, sim_topic_map(),
                           tmp_path / 'out2', progress=False)
    assert report['errors'][0]['type'] == 'MissingTopicsError'
    assert '/env0/observation' in report['errors'][0]['error']


def test_broken_bags_are_named_and_results_kept(tmp_path, policy):
    write_robot_bag(tmp_path / 'good', steps=6)
    write_robot_bag(tmp_path / 'truncated', steps=30, image_size=64)
    mcap = tmp_path / 'truncated' / 'truncated.mcap'
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size * 2 // 3])
    write_robot_bag(tmp_path / 'no_camera', steps=3, camera='/other/camera')
    write_robot_bag(tmp_path / 'bayer', steps=9, bad_encoding_from=5)
    report = evaluate_bags([tmp_path / n for n in ('good', 'truncated', 'no_camera', 'bayer')],
                           {'p': policy}, parse_topic_map(ROBOT_MAP), tmp_path / 'out',
                           batch_size=4, progress=False)
    assert not report['complete']
    errors = {e['bag'].rsplit('/', 1)[1]: e for e in report['errors']}
    assert set(errors) == {'truncated', 'no_camera', 'bayer'}
    assert 'truncated' in errors['truncated']['error']
    assert "lacks topic(s) ['/camera/image_raw']" in errors['no_camera']['error']
    assert "unsupported image encoding 'bayer_rggb8'" in errors['bayer']['error']
    assert '/camera/image_raw' in errors['bayer']['error']
    # Results computed before each failure are kept and written.
    assert errors['bayer']['samples_before_error'] == 5
    assert report['overall']['p']['samples'] == 6 + 5
    on_disk = json.loads((tmp_path / 'out' / 'report.json').read_text())
    assert on_disk['overall']['p']['samples'] == 11 and len(on_disk['errors']) == 3
    assert 'bayer_rggb8' in (tmp_path / 'out' / 'summary.md').read_text()


def test_topic_map_errors_name_the_key(tmp_path):
    with pytest.raises(TopicMapError, match='no recorded action'):
        parse_topic_map({'observation': '/o'})
    with pytest.raises(TopicMapError, match='unknown key'):
        parse_topic_map(dict(ROBOT_MAP, camera='/x'))
    with pytest.raises(TopicMapError, match='no instruction'):
        parse_topic_map({k: v for k, v in ROBOT_MAP.items() if k != 'instruction'})
    with pytest.raises(TopicMapError, match='either `action` or `action_from_motion`'):
        parse_topic_map(dict(ROBOT_MAP, action_from_motion={}))
    with pytest.raises(TopicMapError, match='pairing.clock'):
        parse_topic_map(dict(ROBOT_MAP, pairing={'clock': 'wall'}))
    with pytest.raises(TopicMapError, match="robot_profile: robot profile 'kuka' not found"):
        parse_topic_map(dict(ROBOT_MAP, robot_profile='kuka'))


def test_robot_profile_sets_physical_units_and_motion_scales(tmp_path):
    from pathlib import Path
    import yaml
    franka = Path(__file__).resolve().parents[2] / 'config' / 'robots' / 'franka.yaml'
    prof = yaml.safe_load(franka.read_text())
    prof['action_scale'] = {'linear_m_per_step': [0.02, 0.02, 0.03],
                            'angular_rad_per_step': [0.2, 0.2, 0.4]}
    prof['control_rate_hz'] = 10.0
    (tmp_path / 'slow.yaml').write_text(yaml.safe_dump(prof))
    m = parse_topic_map(dict(ROBOT_MAP, robot_profile=str(tmp_path / 'slow.yaml')))
    assert m.physical_scale == [0.02, 0.02, 0.03, 0.2, 0.2, 0.4]
    raw = {k: v for k, v in ROBOT_MAP.items() if k != 'action'}
    raw.update(robot_profile=str(tmp_path / 'slow.yaml'),
               action_from_motion={'rotation_scale': 0.3})
    mo = parse_topic_map(raw).action_from_motion
    assert (mo.rate_hz, mo.translation_scale, mo.rotation_scale) == (10.0, 0.02, 0.3)


def test_truncated_recording_is_evaluated_up_to_the_cut(tmp_path, policy):
    write_policy_bag(tmp_path / 'cut', policy, episodes=1, steps=12, image_size=256)
    mcap = tmp_path / 'cut' / 'cut.mcap'
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size * 2 // 3])
    (tmp_path / 'cut' / 'metadata.yaml').unlink()      # as a killed recorder leaves it
    report = evaluate_bags([tmp_path / 'cut'], {'p': policy}, sim_topic_map(), tmp_path / 'out',
                           progress=False)
    (error,) = report['errors']
    assert error['type'] == 'TruncatedBagError' and 'truncated' in error['error']
    r = report['overall']['p']
    assert 3 <= r['samples'] < 12 and error['samples_before_error'] == r['samples']
    assert r['token_accuracy'] == 1.0 and r['mae_mean'] == 0.0
    assert json.loads((tmp_path / 'out' / 'report.json').read_text())['complete'] is False


def test_every_example_topic_map_is_valid():
    from pathlib import Path
    from tgrpo_ros.bags.topic_map import load_topic_map
    folder = Path(__file__).resolve().parents[2] / 'config' / 'topic_maps'
    maps = {p.stem: load_topic_map(p) for p in sorted(folder.glob('*.yaml'))}
    assert {'sim_env0', 'sim_train_shared', 'real_franka_action', 'real_franka_motion',
            'real_ur_tf'} <= set(maps)
    assert maps['real_ur_tf'].eef_tf == ('base', 'tool0')
    assert maps['real_franka_motion'].action_from_motion.gripper_closed_below == 0.04
    assert maps['real_franka_action'].cameras == {
        'agentview': '/camera/color/image_raw/compressed'}


def test_end_effector_pose_from_a_tf_chain(tmp_path, policy):
    """base_link -> flange on /tf and flange -> tool0 on /tf_static give the tool pose."""
    rec = write_robot_bag(tmp_path / 'b', action_topic=None, steps=6, eef_via_tf=True)
    raw = {k: v for k, v in ROBOT_MAP.items() if k != 'action'}
    raw['eef_pose'] = {'parent': 'base_link', 'child': 'tool0'}
    raw['action_from_motion'] = {'gripper_closed_below': 0.04}
    skips = SkipLog()
    with BagReader(tmp_path / 'b') as r:
        samples = list(iter_samples(r, parse_topic_map(raw), skips))
    np.testing.assert_allclose(np.stack([s.action for s in samples]), rec['actions'], atol=1e-9)
    state = dict(zip(samples[0].observation.state_names, samples[0].observation.state))
    assert state['eef_pos_x'] == pytest.approx(0.4) and state['eef_pos_z'] == pytest.approx(0.3)
    # The same chain with an action topic; a missing frame is named as the skip reason.
    write_robot_bag(tmp_path / 'a', steps=4, eef_via_tf=True)
    report = evaluate_bags([tmp_path / 'a'], {'p': policy}, parse_topic_map(dict(
        ROBOT_MAP, eef_pose={'parent': 'base_link', 'child': 'tool0'})), tmp_path / 'o1',
        progress=False)
    assert report['overall']['p']['samples'] == 4
    report = evaluate_bags([tmp_path / 'a'], {'p': policy}, parse_topic_map(dict(
        ROBOT_MAP, eef_pose={'parent': 'world', 'child': 'tool0'})), tmp_path / 'o2',
        progress=False)
    assert report['skipped']['by_reason'] == {
        "no transform world -> tool0 on TF (frame 'base_link' has no parent)": 4}
