# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The OpenVLA-7B LIBERO presets, the settings they introduced, and whole suites by name.

The presets must resolve to the paper's and OpenVLA's published values; the old log-probs the
learner recomputes must be the current policy's; the image settings must reach the policy and
act on the pixels; ``tasks: all`` must train every task of the suite.
"""

from __future__ import annotations

import csv
from dataclasses import replace
import io

import numpy as np
from PIL import Image
import pytest
import torch
import yaml

from tgrpo_ros.algo import GroupRolloutBuffer, TGRPOConfig
from tgrpo_ros.observation import Observation
from tgrpo_ros.policy.preprocessing import ImagePreprocessing, preprocess_image
from tgrpo_ros.sim.libero_config import expand_tasks, TASK_COUNTS
from tgrpo_ros.sim.libero_env import MAX_STEPS
from tgrpo_ros.training.driver import eval_requests, schedule, train_request
from tgrpo_ros.training.policy_setup import build_policy, policy_for
from tgrpo_ros.training.settings import preset_file, preset_names, resolve, SimTrainSettings
from tgrpo_ros.training.trainer import TGRPOTrainer

INSTRUCTION = 'pick up the alphabet soup and place it in the basket'
# The published values, written out here rather than read from the code under test:
# OpenVLA's run_libero_eval.py maximum steps per suite, and the checkpoint names on the hub.
PRESETS = {
    'openvla7b_libero_spatial': ('libero_spatial', 220, 'openvla-7b-finetuned-libero-spatial'),
    'openvla7b_libero_object': ('libero_object', 280, 'openvla-7b-finetuned-libero-object'),
    'openvla7b_libero_goal': ('libero_goal', 300, 'openvla-7b-finetuned-libero-goal'),
    'openvla7b_libero_10': ('libero_10', 520, 'openvla-7b-finetuned-libero-10'),
}


# --- the presets ------------------------------------------------------------------------------
@pytest.mark.parametrize('name', sorted(PRESETS))
def test_each_preset_resolves_to_the_published_values(name):
    suite, max_steps, checkpoint = PRESETS[name]
    assert name in preset_names()
    s = resolve(name)
    # OpenVLA's LIBERO evaluation: 256 px renders, the suite's maximum steps, one camera
    assert s.env.suite == suite and s.env.max_steps == max_steps == MAX_STEPS[suite]
    assert s.env.image_size == 256 and s.env.cameras == ('agentview',)
    assert s.env.tasks == tuple(str(i) for i in range(10))  # tasks: all, expanded
    # its image pipeline: JPEG round trip, Lanczos to 224, the 90%-area centre crop
    p = s.policy
    assert (p.jpeg_round_trip, p.resize_filter, p.center_crop_area) == ('enabled', 'lanczos', 0.9)
    assert p.model == f'models/{checkpoint}' and p.device == 'cuda' and p.dtype == 'bfloat16'
    # the paper's TGRPO setting on OpenVLA's LoRA: r 32 (alpha min(r, 16)), lr 1e-5, group 4
    assert (p.lora_rank, p.lora_alpha) == (32, 16.0)
    assert s.algo.lr == 1e-5 and s.algo.group_size == 4
    assert s.algo.group_completion == 'first_success' and s.algo.recompute_old_logprobs
    assert s.run.placement == 'shared'
    # what the settings do not set stays the declared default (nothing else sneaks in)
    assert s.algo.estimator == 'tgrpo' and (s.algo.alpha_step, s.algo.alpha_traj) == (0.3, 0.7)


def test_the_four_presets_differ_only_in_suite_steps_and_checkpoint():
    suite_specific = {'env.suite', 'env.max_steps', 'policy.model'}
    flats = {name: resolve(name).to_flat() for name in PRESETS}
    first = flats.pop(sorted(PRESETS)[0])
    for name, flat in flats.items():
        differ = {k for k in flat if flat[k] != first[k]} - {'env.tasks'}
        assert differ == suite_specific, name
    # and the files say it the same way (their parameters, comments included)
    texts = {n: preset_file(n).read_text().split('/**:', 1)[1] for n in PRESETS}
    for name, text in texts.items():
        suite, steps, checkpoint = PRESETS[name]
        generic = (text.replace(name, 'NAME').replace(suite, 'SUITE')
                   .replace(f'max_steps: {steps}', 'max_steps: N').replace(checkpoint, 'CKPT'))
        texts[name] = generic
    assert len(set(texts.values())) == 1


def test_a_preset_is_overridden_by_a_file_and_arguments(tmp_path):
    params = tmp_path / 'p.yaml'
    params.write_text(yaml.safe_dump({'/**': {'ros__parameters': {'algo': {'lr': 3e-5}}}}))
    s = resolve('openvla7b_libero_goal', params, {'policy.resize_filter': 'bicubic'})
    assert s.algo.lr == 3e-5 and s.policy.resize_filter == 'bicubic'
    assert s.algo.recompute_old_logprobs and s.env.max_steps == 300


def test_the_graph_runs_a_preset_in_one_process(tmp_path):
    from tgrpo_ros.ros.graph import get_graph
    graph = get_graph('sim_train')
    specs = graph.build(graph.resolve_args({'preset': 'openvla7b_libero_spatial',
                                            'output_dir': str(tmp_path)}))
    assert {s.executable for s in specs} == {'sim_env_node', 'trainer_node'}
    assert len([s for s in specs if s.executable == 'sim_env_node']) == 4
    # an argument still overrides the preset's placement
    specs = graph.build(graph.resolve_args({'preset': 'openvla7b_libero_spatial',
                                            'placement': 'separate',
                                            'output_dir': str(tmp_path)}))
    assert {s.executable for s in specs} == {'sim_env_node', 'policy_node', 'learner_node'}


def test_new_settings_default_to_what_ran_before():
    s = SimTrainSettings()
    assert not s.algo.recompute_old_logprobs and s.run.placement == 'separate'
    assert (s.policy.dtype, s.policy.resize_filter, s.policy.jpeg_round_trip,
            s.policy.center_crop_area) == ('auto', 'model', 'model', 0.0)
    with pytest.raises(ValueError, match='policy.resize_filter'):
        SimTrainSettings.from_flat({'policy.resize_filter': 'nearest'})
    with pytest.raises(ValueError, match=r'policy.center_crop_area = 1.5 is out of range'):
        SimTrainSettings.from_flat({'policy.center_crop_area': 1.5})
    with pytest.raises(TypeError, match='policy.jpeg_round_trip must be a string'):
        SimTrainSettings.from_flat({'policy.jpeg_round_trip': True})  # YAML's unquoted 'on'


# --- recomputed old log-probs -----------------------------------------------------------------
def _group(policy, n: int = 3, t: int = 3) -> GroupRolloutBuffer:
    """Sample a group (N = n, T = t) with ``policy``; rewards differ per trajectory."""
    rng = np.random.default_rng(0)
    buf = GroupRolloutBuffer(n, t, 'all_done')
    buf.reset(1)
    gen = torch.Generator().manual_seed(0)
    for step in range(t):
        obs = [Observation(images={'agentview': rng.integers(0, 255, (32, 32, 3), np.uint8)},
                           instruction=INSTRUCTION) for _ in range(n)]
        s = policy.sample(obs, 1.0, gen)
        for i in range(n):
            buf.add(i, step, obs[i], s.token_ids[i], s.logprobs[i], float(i * (step + 1)),
                    done=step == t - 1)
    return buf


def _perturb(policy, scale: float = 0.05) -> None:
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for name, p in policy.backbone.named_parameters():
            if 'lora_' in name:
                p.add_(torch.randn(p.shape, generator=g) * scale)


def _config(**kw) -> TGRPOConfig:
    return TGRPOConfig(**{'group_size': 3, 'minibatch_size': 4, 'beta': 0.0, 'lr': 1e-2, **kw})


def test_recomputed_old_logprobs_equal_the_samplers_in_float32():
    policy = build_policy('tiny:test', lora_rank=4, seed=3)
    buf = _group(policy)
    trainer = TGRPOTrainer(policy, _config(recompute_old_logprobs=True), seed=0)
    old = trainer.old_logprobs(buf)
    mask = buf.mask
    assert old.shape == (*mask.shape, 7) and old.dtype == torch.float32
    adv = torch.zeros(mask.shape)
    sampler = torch.zeros_like(old)
    for mb in buf.minibatches(adv, 64):
        sampler[mb.env_index, mb.step_index] = mb.old_logprobs
    torch.testing.assert_close(old, sampler, rtol=0, atol=1e-5)
    result = trainer.update(buf)
    assert result.sampler_abs_log_ratio_max < 1e-5 and result.first_abs_log_ratio_max < 1e-5


def test_recompute_makes_old_logprobs_the_current_policys():
    # The sampler acted with other weights (as a bf16 sampler differs from its learner): the
    # recomputed old log-probs are the learner's, the ratio starts at 1, and the update
    # reports how far the sampler was.
    policy = build_policy('tiny:test', lora_rank=4, seed=3)
    buf = _group(policy)
    _perturb(policy)
    obs, tokens, env_index, step_index = buf.steps()
    current = policy.token_logprobs(obs, tokens, 1.0, grad=False).float()
    trainer = TGRPOTrainer(policy, _config(recompute_old_logprobs=True), seed=0)
    old = trainer.old_logprobs(buf)
    torch.testing.assert_close(old[env_index, step_index], current, rtol=0, atol=1e-6)
    result = trainer.update(buf)
    assert result.first_abs_log_ratio_max < 1e-5  # the learner against itself
    assert result.sampler_abs_log_ratio_max > 1e-3
    # Without the setting the same group starts from the sampler's log-probs: ratio != 1.
    policy2 = build_policy('tiny:test', lora_rank=4, seed=3)
    buf2 = _group(policy2)
    _perturb(policy2)
    plain = TGRPOTrainer(policy2, _config(), seed=0).update(buf2)
    assert plain.first_abs_log_ratio_max > 1e-3 and np.isnan(plain.sampler_abs_log_ratio_max)
    assert plain.first_abs_log_ratio_max == pytest.approx(result.sampler_abs_log_ratio_max,
                                                          rel=0.5)


# --- image settings ---------------------------------------------------------------------------
def _render(size: int = 256) -> np.ndarray:
    # a smooth scene with edges: JPEG, filters and crops all change it measurably
    y, x = np.mgrid[0:size, 0:size]
    img = np.stack([(x * 255 // size), (y * 255 // size), ((x // 16 + y // 16) % 2) * 255],
                   axis=-1)
    return img.astype(np.uint8)


def test_openvla_protocol_turns_a_256_render_into_a_224_input():
    render = _render(256)
    cfg = ImagePreprocessing(image_size=224).with_overrides('lanczos', 'enabled', 0.9)
    assert (cfg.jpeg, cfg.center_crop, cfg.crop_area, cfg.resize_filter) == \
        (True, True, 0.9, 'lanczos')
    out = preprocess_image(render, cfg)
    assert out.shape == (224, 224, 3) and out.dtype == np.float32
    # the crop keeps sqrt(0.9) of each side: the top-left corner pixel is from inside the image
    plain = preprocess_image(render, ImagePreprocessing(image_size=224, jpeg=False,
                                                        center_crop=False))
    side = np.sqrt(0.9) * 256
    expect_corner = (256 - side) / 2 / 256  # red channel grows with x
    assert abs(out[0, 0, 0] - expect_corner) < 0.02 and plain[0, 0, 0] < 0.01
    # area 1 = no crop, 'model' keeps the model's choice
    uncropped = ImagePreprocessing(image_size=224).with_overrides(crop_area=1.0)
    assert not uncropped.center_crop and uncropped.jpeg
    assert ImagePreprocessing(jpeg=False).with_overrides() == ImagePreprocessing(jpeg=False)


def test_jpeg_round_trip_setting_changes_the_pixels_as_a_jpeg_would():
    render = _render(64)
    base = ImagePreprocessing(image_size=64, center_crop=False)
    with_jpeg = preprocess_image(render, base.with_overrides(jpeg='enabled'))
    without = preprocess_image(render, base.with_overrides(jpeg='disabled'))
    np.testing.assert_array_equal(without, render.astype(np.float32) / 255)  # same size: as is
    buf = io.BytesIO()
    Image.fromarray(render).save(buf, format='JPEG', quality=95)
    decoded = np.asarray(Image.open(buf).convert('RGB'), np.float32) / 255
    np.testing.assert_array_equal(with_jpeg, decoded)


@pytest.mark.parametrize('name, pil', [('lanczos', Image.Resampling.LANCZOS),
                                       ('bicubic', Image.Resampling.BICUBIC),
                                       ('bilinear', Image.Resampling.BILINEAR)])
def test_the_resize_filter_setting_is_honoured(name, pil):
    render = _render(256)
    cfg = ImagePreprocessing(image_size=224, jpeg=False, center_crop=False)
    out = preprocess_image(render, cfg.with_overrides(resize_filter=name))
    expect = np.asarray(Image.fromarray(render).resize((224, 224), pil), np.float32) / 255
    np.testing.assert_array_equal(out, expect)
    others = [f for f in ('lanczos', 'bicubic', 'bilinear') if f != name]
    for other in others:
        assert not np.array_equal(out, preprocess_image(
            render, cfg.with_overrides(resize_filter=other)))


def test_image_settings_reach_the_policy_and_its_saved_spec(tmp_path):
    s = SimTrainSettings.from_flat({'policy.model': 'tiny:test', 'policy.lora_rank': 4,
                                    'policy.resize_filter': 'bicubic',
                                    'policy.jpeg_round_trip': 'enabled',
                                    'policy.center_crop_area': 0.81})
    policy = policy_for(s)
    pre = policy.spec.preprocessing
    assert (pre.resize_filter, pre.jpeg, pre.center_crop, pre.crop_area) == \
        ('bicubic', True, True, 0.81)
    from tgrpo_ros.policy import load_policy, save_policy
    folder = save_policy(policy, tmp_path / 'p')
    assert load_policy(folder).spec.preprocessing == pre  # evaluated as it was trained
    # 'model' keeps the tiny model's own: no JPEG, no crop, Lanczos
    plain = policy_for(replace(s, policy=replace(s.policy, resize_filter='model',
                                                 jpeg_round_trip='model',
                                                 center_crop_area=0.0)))
    p = plain.spec.preprocessing
    assert (p.resize_filter, p.jpeg, p.center_crop) == ('lanczos', False, False)


def test_dtype_setting_chooses_the_weights_type():
    s = SimTrainSettings.from_flat({'policy.model': 'tiny:test', 'policy.lora_rank': 4,
                                    'policy.dtype': 'bfloat16'})
    policy = policy_for(s)
    assert policy.dtype == torch.bfloat16
    assert policy_for(s.updated({'policy.dtype': 'auto'})).dtype == torch.float32  # on a CPU


# --- whole suites by name ---------------------------------------------------------------------
def test_tasks_all_or_the_suite_name_is_every_task_of_the_suite():
    assert expand_tasks('libero_goal', ['all']) == tuple(str(i) for i in range(10))
    assert expand_tasks('libero_90', ['libero_90']) == tuple(str(i) for i in range(90))
    assert expand_tasks('libero_object', ['3', 'all'])[:2] == ('3', '0')
    assert expand_tasks('libero_object', ['0', 'pick_up_x']) == ('0', 'pick_up_x')
    with pytest.raises(ValueError, match='set env.suite=libero_goal'):
        SimTrainSettings.from_flat({'env.suite': 'libero_object', 'env.tasks': ['libero_goal']})
    s = SimTrainSettings.from_flat({'env.suite': 'libero_spatial', 'env.tasks': 'all'})
    assert s.env.tasks == tuple(str(i) for i in range(TASK_COUNTS['libero_spatial']))
    assert s.to_dict()['env']['tasks'] == [str(i) for i in range(10)]  # config.yaml says which
    # groups cycle through the suite's tasks first, then the initial states
    seen = [schedule(s, it) for it in range(1, 22)]
    assert [t for t, _ in seen[:10]] == [str(i) for i in range(10)]
    assert {st for _, st in seen[:10]} == {s.env.init_states[0]}
    assert seen[10] == ('0', s.env.init_states[1])
    assert train_request(s, 13).task == '2'
    # evaluation groups cycle through them too
    s8 = s.updated({'eval.episodes': 12, 'algo.group_size': 4})
    assert [r.task for r in eval_requests(s8, 0)] == ['0', '1', '2']


@pytest.mark.libero
def test_task_counts_are_libero_s():
    from tgrpo_ros.sim.libero_env import list_tasks
    for suite, count in TASK_COUNTS.items():
        assert len(list_tasks(suite)) == count, suite


@pytest.mark.libero
@pytest.mark.slow
def test_in_process_loop_trains_tasks_all_across_the_suite(tmp_path):
    from tgrpo_ros.commands import train as train_command
    out = tmp_path / 'all'
    assert train_command.main(['--preset', 'smoke', '--set', 'env.tasks=all',
                               'run.iterations=2', 'eval.every=0',
                               f'run.output_dir={out}']) == 0
    with open(out / 'metrics.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [r['task'] for r in rows] == ['0', '1']
    saved = yaml.safe_load((out / 'config.yaml').read_text())['settings']
    assert saved['env']['tasks'] == [str(i) for i in range(10)]


def test_suite_table_is_laid_out_like_the_papers():
    from tgrpo_ros.sim.eval_sim import format_suite_table, suite_table
    row = suite_table({'libero_goal': 0.5, 'libero_spatial': 0.9, 'libero_object': 1.0,
                       'libero_10': 0.2})
    assert list(row)[:5] == ['Spatial', 'Object', 'Goal', 'Long', 'average']
    assert row['average'] == pytest.approx((0.9 + 1.0 + 0.5 + 0.2) / 4)  # mean of the suites
    text = format_suite_table('runs/p', row).splitlines()
    assert text[0].split() == ['policy', 'Spatial', 'Object', 'Goal', 'Long', 'Average']
    assert text[1].split() == ['runs/p', '90.0', '100.0', '50.0', '20.0', '65.0']
    assert 'not run' not in text[2]
    extra = suite_table({'libero_90': 0.25, 'libero_object': 0.75})
    assert extra['libero_90'] == 0.25 and extra['Spatial'] is None
    assert extra['average'] == 0.5 and extra['averaged_over'] == ['libero_object', 'libero_90']


def test_the_learner_node_takes_tasks_all(ros_domain, tmp_path):
    import rclpy
    from tgrpo_ros.ros.nodes.learner_node import LearnerNode
    rclpy.init(args=['--ros-args', '-p', 'env.suite:=libero_goal', '-p', 'env.tasks:=[all]',
                     '-p', 'policy.model:=tiny:test', '-p', 'policy.lora_rank:=4',
                     '-p', f'run.output_dir:={tmp_path / "run"}'])
    learner = LearnerNode(node_name='learner_all_tasks')
    try:
        assert learner.get_parameter('env.tasks').value == ['all']  # as given
        s = learner.settings
        assert s.env.tasks == tuple(str(i) for i in range(10))
        assert [train_request(s, k).task for k in range(1, 12)] == \
            [str(i) for i in range(10)] + ['0']
    finally:
        learner.destroy_node()
        rclpy.try_shutdown()


@pytest.mark.parametrize('name', sorted(PRESETS))
def test_ros_reads_a_preset_file_as_resolve_does(ros_domain, name):
    # The graph hands the preset file to every node as a ROS parameter file; ROS's YAML parser
    # must read it as resolve() does (1.0e-05, [all], 'enabled' are all typed by the parser).
    import rclpy
    from rclpy.node import Node
    from tgrpo_ros.paths import share_dir
    from tgrpo_ros.ros.parameters import declare_settings
    from tgrpo_ros.training.settings import SECTIONS
    rclpy.init(args=['--ros-args', '--params-file',
                     str(share_dir() / 'config' / 'sim_train.yaml'),
                     '--params-file', str(preset_file(name))])
    node = Node('learner')
    try:
        got = SimTrainSettings.from_flat(declare_settings(node, SECTIONS))
        assert got.to_flat() == resolve(name).to_flat()
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
