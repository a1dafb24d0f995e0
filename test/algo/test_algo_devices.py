# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The algorithm on every device this machine has: same numbers as on the CPU, no device mixing.

The learner keeps log-probs (often bfloat16) and advantages on the GPU; a CPU-only constant
inside a function would only fail there. Parametrised over the devices present (the CPU
always, CUDA where there is one), so it runs everywhere and checks the GPU where there is one.
"""

import pytest
import torch

from tgrpo_ros.algo import (compute_advantages, compute_gae, GroupRolloutBuffer, policy_loss,
                            TGRPOConfig, value_loss)

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


def group():
    g = torch.Generator().manual_seed(0)
    rewards = torch.randint(0, 5, (4, 6), generator=g).float() / 2
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[1, 4:] = False
    mask[3, 2:] = False
    return rewards, mask


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('estimator', ['tgrpo', 'traj', 'step', 'grpo_outcome', 'gae'])
def test_advantages_match_the_cpu(device, estimator):
    rewards, mask = group()
    extras = {'success': torch.tensor([True, False, False, True]),
              'values': torch.linspace(0, 1, 24).reshape(4, 6), 'last_values': torch.ones(4)}
    cfg = TGRPOConfig(estimator=estimator, group_completion='all_done')
    expected = compute_advantages(rewards, mask, estimator, cfg, **extras)
    on_device = {k: v.to(device) for k, v in extras.items()}
    actual = compute_advantages(rewards.to(device), mask.to(device), estimator, cfg,
                                **on_device)
    assert actual.device.type == device
    torch.testing.assert_close(actual.cpu(), expected)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('aggregation', ['token-mean', 'seq-mean'])
def test_policy_loss_in_bfloat16_matches_float32_on_the_cpu(device, aggregation):
    g = torch.Generator().manual_seed(1)
    old = -torch.rand(6, 7, generator=g) * 3
    new = old + 0.3 * torch.randn(6, 7, generator=g)
    ref = old + 0.1 * torch.randn(6, 7, generator=g)
    adv = torch.randn(6, generator=g)
    weights = torch.tensor([1.0, 1.0, 0.5, 0.5, 0.25, 0.25])
    mask = torch.ones(6, 7, dtype=torch.bool)
    mask[5, 3:] = False
    cfg = TGRPOConfig(beta=0.04, loss_aggregation=aggregation, clip_eps_high=0.28)

    def run(dev, dtype):
        lp = new.to(dev, dtype).requires_grad_(True)
        loss, metrics = policy_loss(lp, old.to(dev, dtype), adv.to(dev),
                                    ref_logprobs=ref.to(dev, dtype), token_mask=mask.to(dev),
                                    step_weights=weights.to(dev), config=cfg)
        loss.backward()
        return loss, lp.grad, metrics

    loss, grad, metrics = run(device, torch.bfloat16)
    assert loss.device.type == device and grad.dtype == torch.bfloat16
    # The reference: the same bf16-rounded inputs, computed in float32 on the CPU.
    rounded = {k: v.to(torch.bfloat16).float() for k, v in (('n', new), ('o', old), ('r', ref))}
    lp = rounded['n'].clone().requires_grad_(True)
    ref_loss, ref_metrics = policy_loss(lp, rounded['o'], adv, ref_logprobs=rounded['r'],
                                        token_mask=mask, step_weights=weights, config=cfg)
    ref_loss.backward()
    torch.testing.assert_close(loss.cpu(), ref_loss, rtol=1e-5, atol=1e-6)
    # One bf16 rounding step apart at most (exp() on a GPU may differ in the last float bit).
    torch.testing.assert_close(grad.float().cpu(), lp.grad.to(torch.bfloat16).float(),
                               rtol=8e-3, atol=1e-6)
    for key, value in ref_metrics.items():
        assert metrics[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


@pytest.mark.parametrize('device', DEVICES)
def test_value_loss_and_gae_on_device(device):
    rewards, mask = group()
    values = torch.linspace(0, 1, 24).reshape(4, 6)
    adv, ret = compute_gae(rewards, values, mask, 0.99, 0.95)
    adv_d, ret_d = compute_gae(rewards.to(device), values.to(device), mask.to(device), 0.99,
                               0.95, last_values=torch.zeros(4, device=device))
    torch.testing.assert_close(adv_d.cpu(), adv)
    torch.testing.assert_close(ret_d.cpu(), ret)
    v = (values[mask] + 0.3).to(device).requires_grad_(True)
    loss, metrics = value_loss(v, values[mask].to(device), ret[mask].to(device))
    loss.backward()
    assert loss.device.type == device and torch.isfinite(v.grad).all()
    cpu_loss, cpu_metrics = value_loss(values[mask] + 0.3, values[mask], ret[mask])
    torch.testing.assert_close(loss.cpu(), cpu_loss)
    assert metrics == pytest.approx(cpu_metrics)


@pytest.mark.parametrize('device', DEVICES)
def test_buffer_takes_device_tensors_and_yields_cpu_minibatches(device):
    buf = GroupRolloutBuffer(2, max_steps=3)
    for step in range(3):
        for env in range(2):
            buf.add(env, step, (env, step), torch.full((7,), 31744 + step, device=device),
                    torch.full((7,), -0.5, device=device), torch.tensor(1.0 * env, device=device))
    adv = compute_advantages(buf.rewards.to(device), buf.mask.to(device))
    batches = list(buf.minibatches(adv, 4, generator=torch.Generator().manual_seed(0)))
    assert sum(len(mb) for mb in batches) == 6
    for mb in batches:
        for t in (mb.token_ids, mb.old_logprobs, mb.advantages, mb.step_weights):
            assert t.device.type == 'cpu'
        assert mb.token_ids[:, 0].tolist() == [31744 + int(s) for s in mb.step_index]
