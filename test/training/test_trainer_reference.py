# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The KL reference of TGRPOTrainer is the policy RL starts from, adapter included.

A start policy that already carries a trained adapter (a LoRA SFT) must be its own reference:
before any update the KL to the reference is 0, and updates leave the reference where it was.
"""

from __future__ import annotations

import numpy as np
from safetensors.torch import load_file
import torch

from tgrpo_ros.algo import GroupRolloutBuffer, TGRPOConfig
from tgrpo_ros.observation import Observation
from tgrpo_ros.training.policy_setup import build_policy
from tgrpo_ros.training.trainer import TGRPOTrainer

INSTRUCTION = 'pick up the alphabet soup and place it in the basket'


def _sft_like_policy():
    """Return a tiny policy whose start adapter is not zero, as after a LoRA SFT."""
    policy = build_policy('tiny:test', lora_rank=4, seed=3)
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for name, p in policy.backbone.named_parameters():
            if 'lora_' in name:
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return policy


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


def test_the_reference_is_the_start_policy_with_its_adapter(tmp_path):
    policy = _sft_like_policy()
    trainable = {id(p) for p in policy.trainable_parameters()}
    cfg = TGRPOConfig(group_size=3, minibatch_size=64, update_epochs=1, beta=0.04, lr=1e-2)
    trainer = TGRPOTrainer(policy, cfg, seed=0)
    # Keeping the reference trains nothing more and nothing less.
    assert {id(p) for p in policy.trainable_parameters()} == trainable
    buf = _group(policy)
    obs, tokens, _, _ = buf.steps()
    start = policy.token_logprobs(obs, tokens, 1.0, grad=False)
    ref = policy.token_logprobs(obs, tokens, 1.0, grad=False, reference=True)
    torch.testing.assert_close(ref, start, rtol=0, atol=1e-6)
    # The base model under the adapter is another policy: the old reference was that one.
    base = policy.token_logprobs(obs, tokens, 1.0, grad=False, use_adapter=False)
    assert (base - start).abs().max() > 1e-3
    result = trainer.update(buf)
    assert result.minibatches == 1 and abs(result.kl_ref) < 1e-6  # KL read before the step
    after = policy.token_logprobs(obs, tokens, 1.0, grad=False)
    assert (after - start).abs().max() > 1e-4                      # the update moved the policy
    torch.testing.assert_close(policy.token_logprobs(obs, tokens, 1.0, grad=False,
                                                     reference=True), start, rtol=0, atol=1e-6)
    # The saved adapter is the trained one only.
    policy.save_adapter(str(tmp_path / 'a1'), version=1)
    names = load_file(str(tmp_path / 'a1' / 'adapter_model.safetensors'))
    assert names and not any('reference' in k for k in names)
