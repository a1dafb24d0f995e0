# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The policy interface on the tiny OpenVLA-architecture model (backend 3), on the CPU."""

import json
from pathlib import Path
import shutil
import subprocess
import sys

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file
import torch

from tgrpo_ros.observation import Observation
from tgrpo_ros.policy.lora import LoraSettings
from tgrpo_ros.policy.tiny import build_tiny_policy
from tgrpo_ros.versioning import PolicyVersion

INSTRUCTIONS = ['lift', 'pick up the alphabet soup and place it in the basket',
                'open the top drawer and put the bowl inside of the wooden cabinet please', 'go']


def observations(n=4, seed=0, cameras=('agentview',)):
    rng = np.random.default_rng(seed)
    return [Observation(images={c: rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
                                for c in cameras},
                        instruction=INSTRUCTIONS[i % len(INSTRUCTIONS)]) for i in range(n)]


def perturb_lora(policy, seed=1, scale=0.05):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in policy.backbone.named_parameters():
            if 'lora_' in name:
                p.add_(torch.randn(p.shape, generator=g) * scale)


@pytest.fixture(scope='module')
def policy():
    p = build_tiny_policy('test', seed=0)
    p.add_lora(LoraSettings(rank=4))
    perturb_lora(p)
    return p


def test_prompt_lengths_are_uneven(policy):
    lengths = {len(policy.prompt_ids(o.instruction)) for o in observations()}
    assert len(lengths) >= 3


@pytest.mark.parametrize('temperature', [1.0, 0.7])
def test_sampling_logprobs_equal_teacher_forced(policy, temperature):
    obs = observations(4)
    s = policy.sample(obs, temperature, torch.Generator().manual_seed(3))
    assert s.token_ids.shape == (4, 7) and s.token_ids.dtype == torch.int64
    assert s.logprobs.shape == (4, 7) and s.logprobs.dtype == torch.float32
    assert ((s.token_ids >= 768) & (s.token_ids < 1024)).all()
    assert s.actions.shape == (4, 7) and np.all(np.abs(s.actions) <= 1.0)
    assert set(np.unique(s.actions[:, -1])) <= {-1.0, 1.0}
    tf = policy.token_logprobs(obs, s.token_ids, temperature, grad=False)
    assert torch.allclose(tf, s.logprobs, atol=1e-5, rtol=0)
    assert (s.logprobs < 0).all()


def test_greedy_picks_the_argmax_and_reports_temperature_one_logprobs(policy):
    obs = observations(3)
    s = policy.sample(obs, 0.0)
    again = policy.sample(obs, 0.0)
    assert torch.equal(s.token_ids, again.token_ids)
    tf = policy.token_logprobs(obs, s.token_ids, 1.0, grad=False)
    assert torch.allclose(tf, s.logprobs, atol=1e-5, rtol=0)
    # Each greedy token is the most likely one: no other token beats it at its position.
    for k in range(7):
        ids = s.token_ids.clone()
        ids[:, k] = torch.where(ids[:, k] == 1023, 1022, ids[:, k] + 1)
        alt = policy.token_logprobs(obs, ids, 1.0, grad=False)
        assert (alt[:, k] <= tf[:, k] + 1e-6).all()


def test_a_row_does_not_depend_on_the_rest_of_the_batch(policy):
    obs = observations(4)
    alone = policy.sample(obs[1:2], 1.0, torch.Generator().manual_seed(5))
    # Same generator seed: row 0 of the batch gets the same uniforms as the row alone;
    # the other rows have shorter and longer prompts, so row 0 is padded differently.
    batch = policy.sample([obs[1], obs[0], obs[2], obs[3]], 1.0,
                          torch.Generator().manual_seed(5))
    assert torch.equal(alone.token_ids[0], batch.token_ids[0])
    assert torch.allclose(alone.logprobs[0], batch.logprobs[0], atol=1e-5, rtol=0)
    ids = batch.token_ids
    together = policy.token_logprobs([obs[1], obs[0], obs[2], obs[3]], ids, grad=False)
    for i, o in enumerate([obs[1], obs[0], obs[2], obs[3]]):
        single = policy.token_logprobs([o], ids[i:i + 1], grad=False)
        assert torch.allclose(single[0], together[i], atol=1e-5, rtol=0)


def test_gradients_reach_only_trainable_parameters(policy):
    obs = observations(2)
    ids = policy.sample(obs, 1.0, torch.Generator().manual_seed(0)).token_ids
    lp = policy.token_logprobs(obs, ids, grad=True)
    assert lp.requires_grad
    lp.sum().backward()
    trainable = policy.trainable_parameters()
    assert trainable and all('lora_' in n for n, p in policy.backbone.named_parameters()
                             if p.requires_grad)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable)
    for p in trainable:
        p.grad = None
    assert not policy.token_logprobs(obs, ids, grad=False).requires_grad


def test_reference_policy_is_the_base_model_without_adapter():
    base = build_tiny_policy('test', seed=0)
    obs = observations(3)
    ids = base.sample(obs, 1.0, torch.Generator().manual_seed(1)).token_ids
    before = base.token_logprobs(obs, ids, grad=False)
    base.add_lora(LoraSettings(rank=4))
    # A fresh adapter changes nothing (LoRA B = 0).
    assert torch.allclose(base.token_logprobs(obs, ids, grad=False), before, atol=1e-6)
    perturb_lora(base)
    with_adapter = base.token_logprobs(obs, ids, grad=False)
    without = base.token_logprobs(obs, ids, grad=False, use_adapter=False)
    assert torch.allclose(without, before, atol=1e-6)
    assert (with_adapter - before).abs().max() > 1e-3
    # Merging for deployment keeps the adapted outputs.
    base.merge_adapter()
    assert base.peft is None
    assert torch.allclose(base.token_logprobs(obs, ids, grad=False), with_adapter, atol=1e-5)


def test_adapter_round_trip_version_and_sha(tmp_path):
    pol = build_tiny_policy('test', seed=0)
    pol.add_lora(LoraSettings(rank=4))
    perturb_lora(pol, seed=2)
    obs = observations(3)
    ids = pol.sample(obs, 1.0, torch.Generator().manual_seed(2)).token_ids
    saved_lp = pol.token_logprobs(obs, ids, grad=False)
    v = pol.save_adapter(str(tmp_path / 'a1'), version=7)
    assert v.version == 7 and len(v.sha256) == 64
    assert pol.version == v                      # the saved weights are what it now serves
    assert sorted(p.name for p in (tmp_path / 'a1').iterdir()) == [
        'adapter_config.json', 'adapter_model.safetensors', 'tgrpo_adapter.json']
    assert [p.name for p in tmp_path.iterdir()] == ['a1']         # no temporary leftovers
    perturb_lora(pol, seed=3)
    changed = pol.token_logprobs(obs, ids, grad=False)
    assert (changed - saved_lp).abs().max() > 1e-3                 # a changed adapter differs
    assert pol.load_adapter(str(tmp_path / 'a1'), expected=v) == v
    assert pol.version == v
    assert torch.equal(pol.token_logprobs(obs, ids, grad=False), saved_lp)
    # Overwriting an adapter folder replaces it atomically; the bytes are deterministic.
    assert pol.save_adapter(str(tmp_path / 'a1'), version=7) == v
    assert [p.name for p in tmp_path.iterdir()] == ['a1']


def test_bad_adapters_keep_the_old_one(tmp_path):
    pol = build_tiny_policy('test', seed=0)
    pol.add_lora(LoraSettings(rank=4))
    perturb_lora(pol, seed=4)
    obs = observations(2)
    ids = pol.sample(obs, 1.0, torch.Generator().manual_seed(4)).token_ids
    v = pol.save_adapter(str(tmp_path / 'good'), version=1)
    pol.load_adapter(str(tmp_path / 'good'))
    current = pol.token_logprobs(obs, ids, grad=False)
    with pytest.raises(ValueError, match='SHA-256'):
        pol.load_adapter(str(tmp_path / 'good'), expected=PolicyVersion(2, '0' * 64))
    with pytest.raises(FileNotFoundError, match='adapter_model.safetensors'):
        pol.load_adapter(str(tmp_path / 'missing'))
    # A file changed after saving no longer matches its recorded hash.
    weights = tmp_path / 'good' / 'adapter_model.safetensors'
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match='SHA-256'):
        pol.load_adapter(str(tmp_path / 'good'))
    # An adapter of another rank does not fit: the recorded rank says so before the shapes do.
    other = build_tiny_policy('test', seed=0)
    other.add_lora(LoraSettings(rank=2))
    other.save_adapter(str(tmp_path / 'rank2'), version=3)
    with pytest.raises(ValueError, match='rank 2, alpha 2; this model has rank 4'):
        pol.load_adapter(str(tmp_path / 'rank2'))
    assert pol.version == v
    assert torch.equal(pol.token_logprobs(obs, ids, grad=False), current)


def test_value_head_and_logprobs_in_one_pass():
    pol = build_tiny_policy('test', seed=0)
    pol.add_lora(LoraSettings(rank=2))
    head = pol.add_value_head(width=16)
    obs = observations(3)
    ids = pol.sample(obs, 1.0, torch.Generator().manual_seed(0)).token_ids
    lp, v = pol.evaluate(obs, ids, grad=True, values=True)
    assert v.shape == (3,) and torch.allclose(v, torch.zeros(3))   # zero-initialised output
    (v.sum() + lp.sum()).backward()
    assert head.net[2].weight.grad is not None
    assert any(p is head.net[2].weight for p in pol.trainable_parameters())


def test_multiple_cameras_and_missing_camera():
    pol = build_tiny_policy('test', seed=0, cameras=('agentview', 'wrist'))
    obs = observations(2, cameras=('agentview', 'wrist'))
    s = pol.sample(obs, 1.0, torch.Generator().manual_seed(0))
    assert torch.allclose(pol.token_logprobs(obs, s.token_ids, grad=False), s.logprobs,
                          atol=1e-5)
    with pytest.raises(KeyError, match="lacks camera.*'wrist'"):
        pol.sample(observations(1), 1.0)


def test_bad_inputs_name_the_problem(policy):
    with pytest.raises(ValueError, match='empty batch'):
        policy.sample([], 1.0)
    with pytest.raises(ValueError, match='instruction is empty'):
        policy.sample([Observation(images=observations(1)[0].images, instruction='')])
    with pytest.raises(ValueError, match='token_ids must be'):
        policy.token_logprobs(observations(2), torch.zeros((2, 6), dtype=torch.long),
                              grad=False)
    with pytest.raises(ValueError, match='outside the action range'):
        policy.token_logprobs(observations(1), torch.full((1, 7), 5), grad=False)
    with pytest.raises(ValueError, match='temperature'):
        policy.sample(observations(1), float('nan'))
    with pytest.raises(ValueError, match='unknown tiny size'):
        build_tiny_policy('huge')
    with pytest.raises(KeyError, match='unknown statistics key'):
        build_tiny_policy('test', unnorm_key='libero_10')


@pytest.mark.parametrize('size,pixels', [('test', 32), ('cpu-2m', 64)])
def test_cpu_sizes_read_their_input_size_and_agree_with_teacher_forcing(size, pixels):
    p = build_tiny_policy(size, seed=0)
    assert p.spec.preprocessing.image_size == pixels
    obs = observations(2)
    out = p.sample(obs, 1.0, torch.Generator().manual_seed(0))
    again = p.token_logprobs(obs, out.token_ids, grad=False)
    assert torch.allclose(out.logprobs, again, atol=1e-5, rtol=0)


def test_demonstration_actions_map_to_tokens_and_back(policy):
    a = np.array([[0.1, -0.5, 0.9, 0.0, 0.2, -1.0, -1.0], [0, 0, 0, 0, 0, 0, 1.0]])
    ids = policy.actions_to_tokens(a)
    back = policy.normalizer.to_env(policy.action_tokenizer.decode(ids))
    assert np.abs(back - a).max() <= 1.0 / 255 + 1e-9


def test_device_and_dtype_names():
    from tgrpo_ros.policy.device import resolve_device, resolve_dtype
    assert resolve_device('cpu') == torch.device('cpu')
    assert resolve_dtype('auto', 'cpu') == torch.float32
    assert resolve_dtype('bf16') == torch.bfloat16 and resolve_dtype('fp16') == torch.float16
    with pytest.raises(ValueError, match='unknown dtype'):
        resolve_dtype('float8')
    with pytest.raises(ValueError, match='unknown device'):
        resolve_device('tpu:0')
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match='CUDA is not available'):
            resolve_device('cuda')
    pol = build_tiny_policy('test', device='auto' if not torch.cuda.is_available() else 'cpu',
                            dtype='bf16')
    assert pol.dtype == torch.bfloat16 and pol.device == torch.device('cpu')
    # Parameters in bf16, but RoPE frequencies and pixel statistics stay float32.
    buffers = dict(pol.backbone.named_buffers())
    assert buffers['language_model.model.rotary_emb.inv_freq'].dtype == torch.float32
    assert buffers['vision_backbone.mean0'].dtype == torch.float32
    assert {p.dtype for p in pol.backbone.parameters()} == {torch.bfloat16}
    s = pol.sample(observations(2), 1.0, torch.Generator().manual_seed(0))
    assert s.logprobs.dtype == torch.float32 and np.isfinite(s.actions).all()


def test_policy_package_imports_no_ros():
    code = ('import sys, tgrpo_ros.policy; '
            'bad = [m for m in sys.modules if m.split(".")[0] in '
            '("rclpy", "rosidl_runtime_py", "std_msgs", "sensor_msgs") '
            'or m.startswith("tgrpo_ros.msg") or m.startswith("tgrpo_ros.ros.nodes")]; '
            'assert not bad, bad')
    subprocess.run([sys.executable, '-c', code], check=True,
                   cwd=str(Path(__file__).resolve().parents[2]))


def test_adapter_records_rank_and_alpha_and_refuses_another_alpha(tmp_path):
    pol = build_tiny_policy('test', seed=0)
    pol.add_lora(LoraSettings(rank=4, alpha=8.0))
    perturb_lora(pol, seed=5)
    pol.save_adapter(str(tmp_path / 'a8'), version=1)
    with safe_open(str(tmp_path / 'a8' / 'adapter_model.safetensors'), framework='pt') as f:
        header = json.loads(f.metadata()['tgrpo_adapter'])
    assert header == {'version': 1, 'lora_rank': 4, 'lora_alpha': 8.0}
    meta = json.loads((tmp_path / 'a8' / 'tgrpo_adapter.json').read_text())
    assert (meta['lora_rank'], meta['lora_alpha']) == (4, 8.0)
    # Same tensor names and shapes (rank 4), another alpha: another policy, so refused.
    other = build_tiny_policy('test', seed=0)
    other.add_lora(LoraSettings(rank=4, alpha=16.0))
    perturb_lora(other, seed=6)
    obs = observations(2)
    ids = other.sample(obs, 1.0, torch.Generator().manual_seed(6)).token_ids
    before = other.token_logprobs(obs, ids, grad=False)
    version = other.version
    with pytest.raises(ValueError, match=r'alpha 8\b.*alpha 16\b'):
        other.load_adapter(str(tmp_path / 'a8'))
    assert other.version == version
    assert torch.equal(other.token_logprobs(obs, ids, grad=False), before)
    # The same alpha loads.
    same = build_tiny_policy('test', seed=0)
    same.add_lora(LoraSettings(rank=4, alpha=8.0))
    assert same.load_adapter(str(tmp_path / 'a8')).version == 1


def test_adapter_without_header_is_checked_against_its_peft_config(tmp_path):
    # Adapters saved before the header carried rank and alpha still name them in peft's
    # adapter_config.json; with neither, the scale cannot be checked and loading refuses.
    pol = build_tiny_policy('test', seed=0)
    pol.add_lora(LoraSettings(rank=4, alpha=8.0))
    pol.save_adapter(str(tmp_path / 'new'), version=1)
    old = tmp_path / 'old'
    old.mkdir()
    save_file(load_file(str(tmp_path / 'new' / 'adapter_model.safetensors')),
              str(old / 'adapter_model.safetensors'))
    other = build_tiny_policy('test', seed=0)
    other.add_lora(LoraSettings(rank=4, alpha=4.0))
    with pytest.raises(ValueError, match='records no LoRA rank and alpha'):
        other.load_adapter(str(old))
    shutil.copy(tmp_path / 'new' / 'adapter_config.json', old / 'adapter_config.json')
    with pytest.raises(ValueError, match=r'alpha 8\b.*alpha 4\b'):
        other.load_adapter(str(old))
    assert pol.load_adapter(str(old)).version == 0


def test_frozen_reference_is_a_copy_of_the_adapter_when_kept():
    pol = build_tiny_policy('test', seed=0)
    pol.add_lora(LoraSettings(rank=4))
    perturb_lora(pol, seed=7)
    obs = observations(2)
    ids = pol.sample(obs, 1.0, torch.Generator().manual_seed(7)).token_ids
    with pytest.raises(RuntimeError, match='freeze_reference'):
        pol.token_logprobs(obs, ids, grad=False, reference=True)
    kept = pol.token_logprobs(obs, ids, grad=False)
    pol.freeze_reference()
    assert pol.has_reference
    assert not any(p.requires_grad for n, p in pol.backbone.named_parameters()
                   if '.reference.' in n)
    with pytest.raises(ValueError, match='grad=False'):
        pol.token_logprobs(obs, ids, grad=True, reference=True)
    # Changing the trained adapter leaves the reference where it was kept.
    with torch.no_grad():
        for n, p in pol.backbone.named_parameters():
            if 'lora_' in n and '.default.' in n:
                p.add_(0.05)
    changed = pol.token_logprobs(obs, ids, grad=False)
    assert (changed - kept).abs().max() > 1e-3
    torch.testing.assert_close(pol.token_logprobs(obs, ids, grad=False, reference=True), kept,
                               rtol=0, atol=1e-6)
    # Merging folds the trained adapter only.
    pol.merge_adapter()
    torch.testing.assert_close(pol.token_logprobs(obs, ids, grad=False), changed,
                               rtol=0, atol=1e-5)
