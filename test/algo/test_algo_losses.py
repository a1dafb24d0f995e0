# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The clipped policy objective, its k3 KL, its aggregation modes, and the clipped value loss."""

import math

import pytest
import torch

from tgrpo_ros.algo import policy_loss, TGRPOConfig, value_loss

NO_KL = TGRPOConfig(beta=0.0)


def logprobs(b, k=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    return -torch.rand(b, k, generator=g, dtype=torch.float32) * 5 - 0.01


def at_ratio(old, ratio):
    """Return new log-probs (with gradient) whose ratio to ``old`` is ``ratio`` everywhere."""
    return (old + math.log(ratio)).clone().requires_grad_(True)


def test_loss_is_minus_mean_advantage_at_ratio_one_without_kl():
    old = logprobs(5)
    new = old.clone().requires_grad_(True)
    adv = torch.tensor([1.5, -0.5, 0.25, 2.0, -3.0])
    loss, metrics = policy_loss(new, old, adv, config=NO_KL)
    assert loss.item() == pytest.approx(-adv.mean().item(), abs=1e-6)
    assert metrics['ratio_mean'] == pytest.approx(1.0)
    assert metrics['ratio_max'] == pytest.approx(1.0)
    assert metrics['clip_frac'] == 0.0
    assert metrics['approx_kl'] == pytest.approx(0.0, abs=1e-7)
    loss.backward()
    # d loss / d new[b, k] = -A[b] * ratio / (B * K) with ratio 1.
    torch.testing.assert_close(new.grad, (-adv / 35)[:, None].expand(5, 7))


@pytest.mark.parametrize('advantage, ratio, eps_high, gradient_flows', [
    (1.0, 1.3, None, False),    # A > 0 pushes the ratio up: stopped beyond 1 + eps
    (1.0, 1.1, None, True),     # inside the range
    (1.0, 0.7, None, True),     # A > 0 below 1 - eps: the unclipped term is the smaller, keeps
    (-1.0, 0.7, None, False),   # A < 0 pushes the ratio down: stopped below 1 - eps
    (-1.0, 0.9, None, True),
    (-1.0, 1.3, None, True),    # A < 0 above 1 + eps: still pulled back
    (1.0, 1.25, 0.28, True),    # asymmetric upper clip 1.28
    (1.0, 1.3, 0.28, False),
    (-1.0, 0.79, 0.28, False),  # the lower bound stays 1 - clip_eps
])
def test_clipping_stops_the_gradient_in_the_advantage_direction(advantage, ratio, eps_high,
                                                                 gradient_flows):
    old = logprobs(4)
    new = at_ratio(old, ratio)
    adv = torch.full((4,), advantage)
    cfg = TGRPOConfig(beta=0.0, clip_eps=0.2, clip_eps_high=eps_high)
    loss, metrics = policy_loss(new, old, adv, config=cfg)
    loss.backward()
    if gradient_flows:
        torch.testing.assert_close(new.grad, torch.full((4, 7), -advantage * ratio / 28))
        assert metrics['clip_frac'] == 0.0
    else:
        assert torch.count_nonzero(new.grad) == 0
        assert metrics['clip_frac'] == 1.0
    assert metrics['ratio_mean'] == pytest.approx(ratio, rel=1e-5)


def test_clipped_loss_value():
    # ratio 1.5, A = 2, eps 0.2: min(3.0, 1.2 * 2) = 2.4 -> loss -2.4
    old = logprobs(3)
    loss, _ = policy_loss(at_ratio(old, 1.5), old, torch.full((3,), 2.0), config=NO_KL)
    assert loss.item() == pytest.approx(-2.4, rel=1e-5)


def test_k3_kl_value_and_gradient():
    # pi_theta = 0.5, pi_ref = 0.25: r = 0.5, k3 = r - log r - 1 = log 2 - 0.5
    new = torch.full((2, 7), math.log(0.5), requires_grad=True)
    old = new.detach().clone()
    ref = torch.full((2, 7), math.log(0.25))
    cfg = TGRPOConfig(beta=0.1)
    loss, metrics = policy_loss(new, old, torch.zeros(2), ref_logprobs=ref, config=cfg)
    k3 = math.log(2) - 0.5
    assert metrics['kl_ref'] == pytest.approx(k3, rel=1e-5)
    assert loss.item() == pytest.approx(0.1 * k3, rel=1e-5)
    loss.backward()
    # d k3 / d log pi_theta = 1 - r = 0.5, times beta, over 14 tokens.
    torch.testing.assert_close(new.grad, torch.full((2, 7), 0.1 * 0.5 / 14))


def test_kl_is_zero_with_zero_gradient_at_the_reference():
    old = logprobs(3)
    new = old.clone().requires_grad_(True)
    loss, metrics = policy_loss(new, old, torch.zeros(3), ref_logprobs=old.clone(),
                                config=TGRPOConfig(beta=1.0))
    loss.backward()
    assert metrics['kl_ref'] == pytest.approx(0.0, abs=1e-7)
    assert torch.count_nonzero(new.grad) == 0


def test_kl_reported_but_not_optimised_when_beta_is_zero():
    new = torch.full((1, 7), math.log(0.5), requires_grad=True)
    ref = torch.full((1, 7), math.log(0.25))
    loss, metrics = policy_loss(new, new.detach(), torch.zeros(1), ref_logprobs=ref,
                                config=NO_KL)
    assert metrics['kl_ref'] > 0.1
    assert loss.item() == 0.0


def test_beta_without_reference_is_an_error():
    old = logprobs(2)
    with pytest.raises(ValueError, match='needs ref_logprobs'):
        policy_loss(old.clone(), old, torch.zeros(2), config=TGRPOConfig(beta=0.04))


def test_masked_tokens_take_no_part():
    old = logprobs(2)
    new = at_ratio(old, 1.1)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 3:] = False
    junk = new.detach().clone()
    junk[1, 3:] = 50.0  # absurd values where masked
    junk.requires_grad_(True)
    adv = torch.tensor([1.0, -2.0])
    loss, _ = policy_loss(junk, old, adv, token_mask=mask, config=NO_KL)
    loss.backward()
    assert torch.count_nonzero(junk.grad[1, 3:]) == 0
    # 7 tokens at -1.1 * 1 and 3 tokens at -1.1 * -2, over 10 valid tokens.
    assert loss.item() == pytest.approx((-7 * 1.1 + 3 * 2.2) / 10, rel=1e-5)


def test_seq_mean_weighs_each_trajectory_equally():
    # Sample 0 is the only step of a 1-step trajectory; samples 1-3 are a 3-step trajectory.
    old = logprobs(4)
    adv = torch.tensor([3.0, 1.0, 1.0, 1.0])
    weights = torch.tensor([1.0, 1 / 3, 1 / 3, 1 / 3])
    token, _ = policy_loss(old.clone(), old, adv, config=NO_KL)
    seq, _ = policy_loss(old.clone(), old, adv, step_weights=weights,
                         config=TGRPOConfig(beta=0.0, loss_aggregation='seq-mean'))
    assert token.item() == pytest.approx(-(3 + 1 + 1 + 1) / 4)
    assert seq.item() == pytest.approx(-(3 + 1) / 2)


def test_seq_mean_without_weights_is_an_error():
    old = logprobs(2)
    with pytest.raises(ValueError, match='step_weights'):
        policy_loss(old, old, torch.zeros(2),
                    config=TGRPOConfig(beta=0.0, loss_aggregation='seq-mean'))


def test_metrics():
    old = logprobs(3)
    new = old.clone()
    new[0] += math.log(2.0)
    adv = torch.tensor([1.0, 1.0, 1.0])
    entropy = torch.full((3, 7), 1.25)
    _, m = policy_loss(new, old, adv, entropy=entropy, config=NO_KL)
    assert m['ratio_max'] == pytest.approx(2.0, rel=1e-5)
    assert m['ratio_mean'] == pytest.approx((2 + 1 + 1) / 3, rel=1e-5)
    assert m['clip_frac'] == pytest.approx(1 / 3)
    # k3 of KL(old || new) per token: (r - 1) - log r with r = 2 on a third of the tokens.
    assert m['approx_kl'] == pytest.approx((1 - math.log(2)) / 3, rel=1e-5)
    assert m['entropy_estimate'] == pytest.approx(-old.mean().item(), rel=1e-5)
    assert m['entropy'] == pytest.approx(1.25)
    assert all(isinstance(v, float) for v in m.values())


def test_bfloat16_logprobs_are_upcast():
    old = logprobs(2)
    new = old.to(torch.bfloat16).requires_grad_(True)
    loss, _ = policy_loss(new, old.to(torch.bfloat16), torch.ones(2), config=NO_KL)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(-1.0)


@pytest.mark.parametrize('kwargs, match', [
    ({'advantages': torch.zeros(2, 7)}, r'advantages must have shape \(3,\)'),
    ({'old_logprobs': torch.zeros(3, 6)}, r'old_logprobs must have shape \(3, 7\)'),
    ({'token_mask': torch.ones(3, 7)}, 'token_mask must be a bool tensor'),
    ({'ref_logprobs': torch.zeros(2, 7)}, r'ref_logprobs must have shape \(3, 7\)'),
    ({'step_weights': torch.ones(2)}, r'step_weights must have shape \(3,\)'),
])
def test_bad_input_is_named(kwargs, match):
    args = {'new_logprobs': torch.zeros(3, 7), 'old_logprobs': torch.zeros(3, 7),
            'advantages': torch.zeros(3), 'config': NO_KL}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        policy_loss(args.pop('new_logprobs'), args.pop('old_logprobs'), args.pop('advantages'),
                    **args)


# --- value loss ------------------------------------------------------------------------------
# sample 0: V 1.0, old 0.5, G 2.0: (1 - 2)^2 = 1; V_clip = 0.5 + 0.2 = 0.7, (0.7 - 2)^2 = 1.69
#           -> max 1.69, from the clipped branch, which does not depend on V: gradient 0.
# sample 1: V 2.0, old 2.0, G 1.0: both 1 -> 1, gradient 0.5 * 2 * (2 - 1) / 2 = 0.5.
# loss = 0.5 * (1.69 + 1) / 2 = 0.6725
def test_clipped_value_loss_hand_worked():
    values = torch.tensor([1.0, 2.0], requires_grad=True)
    loss, m = value_loss(values, torch.tensor([0.5, 2.0]), torch.tensor([2.0, 1.0]),
                         config=TGRPOConfig(value_clip=0.2))
    assert loss.item() == pytest.approx(0.6725, rel=1e-6)
    assert m['value_clip_frac'] == pytest.approx(0.5)
    loss.backward()
    torch.testing.assert_close(values.grad, torch.tensor([0.0, 0.5]))


def test_unclipped_value_loss_and_mask():
    values = torch.tensor([1.0, 2.0, 40.0], requires_grad=True)
    loss, _ = value_loss(values, torch.tensor([0.5, 2.0, 0.0]), torch.tensor([2.0, 1.0, 0.0]),
                         mask=torch.tensor([True, True, False]),
                         config=TGRPOConfig(value_clip=None))
    assert loss.item() == pytest.approx(0.5 * (1 + 1) / 2)
    loss.backward()
    assert values.grad[2] == 0


def test_explained_variance():
    returns = torch.tensor([1.0, 2.0, 3.0, 4.0])
    _, perfect = value_loss(returns.clone(), returns.clone(), returns)
    _, useless = value_loss(returns.clone(), torch.full((4,), 2.5), returns)
    assert perfect['explained_variance'] == pytest.approx(1.0)
    assert useless['explained_variance'] == pytest.approx(0.0, abs=1e-6)
