# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""tgrpo-ros sft: learns a demonstrated image->action map, saves a loadable policy, resumes.

The synthetic dataset makes the right action depend on the image (a red image asks for +x and
a closed gripper, a blue one for -x and an open gripper), so a policy that ignored the images
or the tokens could not pass.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from transformers import (CLIPVisionConfig, LlamaConfig, LlavaConfig,
                          LlavaForConditionalGeneration)

from tgrpo_ros.data.episodes import FORMAT, FORMAT_VERSION, INDEX_FILE, load_dataset
from tgrpo_ros.observation import Observation
from tgrpo_ros.policy.checkpoint import folder_kind, load_policy
from tgrpo_ros.policy.normalization import compute_dataset_statistics, STATISTICS_FILE
from tgrpo_ros.policy.tiny import build_tiny_tokenizer
from tgrpo_ros.commands import sft as sft_command
from tgrpo_ros.training import sft
from tgrpo_ros.training.state_files import state_paths

INSTRUCTION = 'pick up the alphabet soup and place it in the basket'
RED = np.array([0.6, 0.1, -0.3, 0.0, 0.0, 0.2, 1.0])
BLUE = np.array([-0.6, -0.1, 0.3, 0.0, 0.0, -0.2, -1.0])


def _image(color: str, rng) -> np.ndarray:
    img = rng.integers(0, 40, (48, 48, 3)).astype(np.uint8)
    img[..., 0 if color == 'red' else 2] += 180
    return img


def _save_episode(folder, e, images, actions, state=None, names=()):
    """Write episode ``e`` in the dataset layout; return its index entry."""
    length = len(actions)
    name = f'episodes/episode_{e:06d}.npz'
    np.savez_compressed(folder / name, images_agentview=np.stack(images),
                        state=np.zeros((length, 0)) if state is None else state,
                        state_names=np.asarray(list(names), dtype=str), actions=actions,
                        timestamps_ns=np.arange(length, dtype=np.int64) * 50_000_000,
                        instruction=np.asarray(INSTRUCTION))
    return {'file': name, 'length': length, 'instruction': INSTRUCTION,
            'cameras': ['agentview'], 'bag': '', 'episode': str(e)}


def _write_index(folder, entries):
    (folder / INDEX_FILE).write_text(json.dumps(
        {'format': FORMAT, 'format_version': FORMAT_VERSION, 'statistics_key': 'x',
         'episodes': entries}))
    return folder


def write_dataset(folder, episodes=8, length=10, seed=0):
    rng = np.random.default_rng(seed)
    (folder / 'episodes').mkdir(parents=True)
    entries = []
    for e in range(episodes):
        colors = ['red' if (e + t) % 2 else 'blue' for t in range(length)]
        entries.append(_save_episode(folder, e, [_image(c, rng) for c in colors],
                                     np.stack([RED if c == 'red' else BLUE for c in colors])))
    return _write_index(folder, entries)


def _args(data, out, *extra):
    return sft_command.build_parser().parse_args(
        ['--dataset', str(data), '--out', str(out), '--model', 'tiny:test', '--batch-size', '16',
         '--lr', '1e-3', '--warmup-steps', '5', '--val-fraction', '0.25', '--quiet', *extra])


def test_sft_learns_the_demonstrated_actions_and_saves_a_loadable_policy(tmp_path):
    data = write_dataset(tmp_path / 'data')
    out = tmp_path / 'run'
    summary = sft.run_sft(_args(data, out, '--epochs', '10', '--val-every', '5',
                                '--checkpoint-every', '5'), log=lambda s: None)
    rows = list(sft.read_metrics(out / 'metrics.csv'))
    assert len(rows) == 10
    # validation episodes were never trained on; their NLL must fall far below uniform (ln 256)
    assert float(rows[-1]['val_nll']) < 0.2 * np.log(256)
    assert float(rows[-1]['val_token_accuracy']) > 0.9
    assert summary['val_samples'] == 2 * 10 and summary['train_samples'] == 6 * 10

    from tgrpo_ros.training.policy_setup import build_policy
    policy = build_policy(str(out / 'policy'), lora_rank=4)  # what a training run does
    # statistics come from the demonstrations: q01/q99 of x lie near -0.6 / 0.6
    stats = policy.statistics['demos']['action']
    assert stats['q01'][0] == pytest.approx(-0.6, abs=0.06)
    assert stats['q99'][0] == pytest.approx(0.6, abs=0.06)
    rng = np.random.default_rng(99)
    obs = [Observation(images={'agentview': _image(c, rng)}, instruction=INSTRUCTION)
           for c in ('red', 'blue', 'red', 'blue')]
    actions = policy.sample(obs, temperature=0.0).actions
    for a, want in zip(actions, [RED, BLUE, RED, BLUE]):
        assert np.sign(a[0]) == np.sign(want[0]) and abs(a[0] - want[0]) < 0.2
        assert a[6] == want[6]  # binarised gripper in the environment's convention


def test_sft_resumes_from_its_last_checkpoint(tmp_path):
    data = write_dataset(tmp_path / 'data', episodes=4, length=6)
    out = tmp_path / 'run'
    sft.run_sft(_args(data, out, '--epochs', '1'), log=lambda s: None)
    with pytest.raises(SystemExit):  # an existing run is never overwritten silently
        sft.run_sft(_args(data, out, '--epochs', '2'), log=lambda s: None)
    logs = []
    sft.run_sft(_args(data, out, '--epochs', '2', '--resume'), log=logs.append)
    assert any('resuming' in s for s in logs)
    rows = sft.read_metrics(out / 'metrics.csv')
    assert [int(r['epoch']) for r in rows] == [1, 2]
    point = json.loads((out / sft.RESUME_FILE).read_text())
    assert point['epoch'] == 2
    assert all(f.is_file() for f in state_paths(out / point['checkpoint'] / sft.STATE_FILE))
    # only the newest checkpoint is kept; the step counter continued (18 samples: 2 batches
    # of 16 per epoch)
    assert [p.name for p in (out / 'checkpoints').iterdir()] == ['epoch_0002']
    assert point['step'] == 2 * 2


class _Payload:
    """Unpickling this creates ``marker``: proof that a pickle was executed."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), 'w'))


def test_sft_resume_equals_an_uninterrupted_run_and_refuses_a_pickled_state(tmp_path):
    """The optimiser and the shuffle RNG resume from safetensors + JSON, never from a pickle."""
    data = write_dataset(tmp_path / 'data', episodes=4, length=6)
    quiet = {'log': lambda s: None}
    sft.run_sft(_args(data, tmp_path / 'whole', '--epochs', '2', '--shift-augment', '2'),
                **quiet)
    out = tmp_path / 'resumed'
    sft.run_sft(_args(data, out, '--epochs', '1', '--shift-augment', '2'), **quiet)
    point = json.loads((out / sft.RESUME_FILE).read_text())
    tensors, doc = state_paths(out / point['checkpoint'] / sft.STATE_FILE)
    assert json.loads(doc.read_text())['state']['rng']['bit_generator'] == 'PCG64'
    # a pickle placed as the state file is refused, and never run
    marker = tmp_path / 'executed'
    original = tensors.read_bytes()
    tensors.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match='trainer_state'):
        sft.run_sft(_args(data, out, '--epochs', '2', '--shift-augment', '2', '--resume'),
                    **quiet)
    assert not marker.exists()
    tensors.write_bytes(original)
    sft.run_sft(_args(data, out, '--epochs', '2', '--shift-augment', '2', '--resume'), **quiet)
    drop = {'epoch_time_s'}
    assert [{k: v for k, v in r.items() if k not in drop}
            for r in sft.read_metrics(out / 'metrics.csv')] == \
        [{k: v for k, v in r.items() if k not in drop}
         for r in sft.read_metrics(tmp_path / 'whole' / 'metrics.csv')]
    whole = load_policy(tmp_path / 'whole' / 'policy').backbone.state_dict()
    resumed = load_policy(out / 'policy').backbone.state_dict()
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def stock_tiny_llava(folder):
    """Write the smallest HF LLaVA folder backend 2 loads, with no dataset_statistics.json.

    As a hub download would be: model, tokenizer and config only.
    """
    tok = build_tiny_tokenizer()
    tok.add_special_tokens({'additional_special_tokens': ['<image>']})
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                              num_attention_heads=2, image_size=32, patch_size=8,
                              projection_dim=32)
    text = LlamaConfig(vocab_size=1088, hidden_size=64, intermediate_size=128,
                       num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=4,
                       pad_token_id=1024, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    LlavaForConditionalGeneration(LlavaConfig(
        vision_config=vision, text_config=text,
        image_token_id=tok.convert_tokens_to_ids('<image>'), vision_feature_layer=-2,
        vision_feature_select_strategy='default')).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def test_sft_starts_from_a_stock_hf_vlm_folder_without_statistics(tmp_path):
    model = stock_tiny_llava(tmp_path / 'llava')
    assert folder_kind(model) == 'hf_vlm' and not (model / STATISTICS_FILE).exists()
    with pytest.raises(FileNotFoundError, match=STATISTICS_FILE):
        load_policy(model)  # on its own the folder cannot un-normalise actions
    data = write_dataset(tmp_path / 'data', episodes=2, length=4)
    episodes = [np.load(data / e['file'])['actions'] for e in load_dataset(data)['episodes']]
    # the dataset's own statistics file, as demonstrations / bags_to_dataset write it
    dataset_stats = {'x': compute_dataset_statistics(np.concatenate(episodes))}
    (data / STATISTICS_FILE).write_text(json.dumps(dataset_stats))
    out = tmp_path / 'run'
    summary = sft.run_sft(sft_command.build_parser().parse_args(
        ['--dataset', str(data), '--out', str(out), '--model', str(model), '--epochs', '1',
         '--batch-size', '4', '--warmup-steps', '1', '--lora-rank', '2', '--val-fraction', '0',
         '--quiet']), log=lambda s: None)
    assert summary['steps'] == 2
    saved = json.loads((out / 'policy' / STATISTICS_FILE).read_text())
    assert saved == {'demos': dataset_stats['x']}  # only the demonstrations' statistics
    policy = load_policy(out / 'policy')
    assert policy.spec.backend == 'hf_vlm' and policy.unnorm_key == 'demos'
    assert policy.statistics == saved
    # actions come back in the demonstrations' range, through those statistics
    rng = np.random.default_rng(1)
    obs = [Observation(images={'agentview': _image(c, rng)}, instruction=INSTRUCTION)
           for c in ('red', 'blue')]
    actions = policy.sample(obs, temperature=1.0).actions
    q01, q99 = (np.array(dataset_stats['x']['action'][k]) for k in ('q01', 'q99'))
    assert np.all(actions[:, :6] >= q01[:6] - 1e-9) and np.all(actions[:, :6] <= q99[:6] + 1e-9)


def test_model_names_resolve_from_the_package(tmp_path, monkeypatch):
    from tgrpo_ros.policy.model_location import package_roots, resolve_model
    assert resolve_model('tiny:test') == 'tiny:test'
    monkeypatch.chdir(tmp_path)  # away from the repository
    root = package_roots()[0]
    (root / 'models').mkdir(exist_ok=True)
    probe = root / 'models' / 'sft_probe_for_test_sft'
    probe.mkdir()
    try:
        assert resolve_model('sft:probe_for_test_sft') == str(probe)
        assert resolve_model('models/sft_probe_for_test_sft') == str(probe)
    finally:
        probe.rmdir()
    with pytest.raises(FileNotFoundError, match='looked in'):
        resolve_model('sft:no_such_model')


def test_demonstrations_write_a_dataset_that_sft_reads(tmp_path):
    from tgrpo_ros.sim.demonstrations import make_demonstrations, parse_range
    assert parse_range('0-2,5') == [0, 1, 2, 5]
    out = tmp_path / 'demos'
    # 6 steps cannot finish the task: keep the failed episode to check the format
    make_demonstrations(out, 'libero_object', ['0'], [3], repeats=1, noise=0.1,
                        image_size=32, max_steps=6, keep_failures=True, log=lambda s: None)
    index = load_dataset(out)
    assert index['attempts'] == [{'task': '0', 'init_state': 3, 'repeat': 0, 'success': False,
                                  'steps': 6}]
    episode = sft.load_episodes([out])[0][1]
    assert episode.images['agentview'].shape == (6, 32, 32, 3)
    assert episode.actions.shape == (6, 7) and np.abs(episode.actions).max() <= 1.0
    assert 'alphabet soup' in episode.instruction
    # rerunning the same command skips what is done; other settings are refused
    make_demonstrations(out, 'libero_object', ['0'], [3], repeats=1, noise=0.1,
                        image_size=32, max_steps=6, keep_failures=True, log=lambda s: None)
    assert len(load_dataset(out)['episodes']) == 1
    with pytest.raises(FileExistsError):
        make_demonstrations(out, 'libero_object', ['0'], [3], noise=0.2, image_size=32,
                            max_steps=6, keep_failures=True, log=lambda s: None)
    # DART labels: the same episode (same noise stream), recorded with the expert's clean
    # commands; executed = clip(clean + the seeded noise), the gripper is never perturbed
    make_demonstrations(tmp_path / 'dart', 'libero_object', ['0'], [3], repeats=1, noise=0.1,
                        image_size=32, max_steps=6, keep_failures=True, log=lambda s: None,
                        labels='clean')
    dart = sft.load_episodes([tmp_path / 'dart'])[0][1]
    np.testing.assert_array_equal(dart.images['agentview'], episode.images['agentview'])
    noise = np.random.default_rng(7 * 100_003 + 3 * 101).normal(0.0, 0.1, (6, 6))
    np.testing.assert_allclose(episode.actions[:, :6], np.clip(dart.actions[:, :6] + noise, -1, 1),
                               atol=1e-12)
    np.testing.assert_array_equal(episode.actions[:, 6], dart.actions[:, 6])
    assert not np.allclose(episode.actions, dart.actions)
    # ... and the noisy dataset relabelled afterwards recovers them (exactly where unclipped)
    from tgrpo_ros.sim.demonstrations import relabel_clean
    index = relabel_clean(out, tmp_path / 'relabelled')
    again = sft.load_episodes([tmp_path / 'relabelled'])[0][1]
    clipped = np.abs(episode.actions[:, :6]) >= 1.0
    assert index['relabelled']['ambiguous_entries'] == clipped.sum()
    np.testing.assert_allclose(again.actions[:, :6][~clipped], dart.actions[:, :6][~clipped],
                               atol=1e-12)
    assert np.all(np.abs(again.actions[:, :6] - dart.actions[:, :6]) <= np.abs(noise) + 1e-12)
    np.testing.assert_array_equal(again.actions[:, 6], dart.actions[:, 6])
    with pytest.raises(ValueError, match='executed .noisy. labels'):
        relabel_clean(tmp_path / 'dart', tmp_path / 'twice')
    with pytest.raises(ValueError, match='labels must be one of'):
        make_demonstrations(tmp_path / 'bad', 'libero_object', ['0'], [3], labels='noisy')
    assert not (tmp_path / 'bad').exists()
    # frames stored at the policy's input size give the policy exactly the same input
    from tgrpo_ros.policy.preprocessing import ImagePreprocessing, preprocess_image
    from tgrpo_ros.sim.demonstrations import resize_dataset
    resize_dataset(out, tmp_path / 'small', 8)
    small = sft.load_episodes([tmp_path / 'small'])[0][1]
    assert small.images['agentview'].shape == (6, 8, 8, 3)
    np.testing.assert_array_equal(small.actions, episode.actions)
    cfg = ImagePreprocessing(image_size=8, jpeg=False, center_crop=False)
    for big, tiny in zip(episode.images['agentview'], small.images['agentview']):
        np.testing.assert_array_equal(preprocess_image(big, cfg), preprocess_image(tiny, cfg))


def write_state_dataset(folder, episodes=8, length=10, seed=0):
    """Every image alike; only the robot state (the hand's height) tells which action is right."""
    rng = np.random.default_rng(seed)
    (folder / 'episodes').mkdir(parents=True)
    entries = []
    for e in range(episodes):
        high = np.array([(e + t) % 2 == 1 for t in range(length)])
        state = np.stack([rng.normal(0.5, 0.05, length), np.where(high, 0.30, 0.05),
                          np.full(length, 0.04)], 1)
        entries.append(_save_episode(folder, e, [_image('red', rng) for _ in high],
                                     np.stack([RED if h else BLUE for h in high]), state,
                                     ['eef_pos_x', 'eef_pos_z', 'gripper_qpos_0']))
    return _write_index(folder, entries)


def test_sft_with_state_learns_what_only_the_robot_state_reveals(tmp_path):
    """--state adds the proprioception token; images alone cannot separate these actions."""
    data = write_state_dataset(tmp_path / 'data')
    out = tmp_path / 'run'
    # one token among ~20 needs a larger step than the image test's (1e-3: 0.57 after 10 epochs)
    sft.run_sft(_args(data, out, '--epochs', '10', '--val-every', '5', '--checkpoint-every', '5',
                      '--state', 'eef_pos_z', '--lr', '3e-3'), log=lambda s: None)
    rows = list(sft.read_metrics(out / 'metrics.csv'))
    assert float(rows[-1]['val_token_accuracy']) > 0.9
    config = json.loads((out / 'sft_config.json').read_text())
    assert config['state']['names'] == ['eef_pos_z']
    assert config['state']['mean'][0] == pytest.approx(0.175, abs=0.03)

    from tgrpo_ros.training.policy_setup import build_policy
    policy = build_policy(str(out / 'policy'), lora_rank=4)
    assert policy.proprio.state_names == ['eef_pos_z']
    rng = np.random.default_rng(5)
    names = ['eef_pos_x', 'eef_pos_z', 'gripper_qpos_0']
    obs = [Observation(images={'agentview': _image('red', rng)}, instruction=INSTRUCTION,
                       state=np.array([0.5, z, 0.04]), state_names=names)
           for z in (0.30, 0.05, 0.30, 0.05)]
    actions = policy.sample(obs, temperature=0.0).actions
    for a, want in zip(actions, [RED, BLUE, RED, BLUE]):
        assert np.sign(a[0]) == np.sign(want[0]) and a[6] == want[6]
    # the same images without that state entry: a clear error naming it, not a guess
    with pytest.raises(KeyError, match='eef_pos_z'):
        policy.sample([Observation(images=obs[0].images, instruction=INSTRUCTION,
                                   state=np.array([0.5]), state_names=['eef_pos_x'])])
