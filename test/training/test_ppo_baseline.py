# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The PPO baseline in TGRPOTrainer: value head + GAE + clipped value loss, resumable.

A synthetic group (tiny policy, random images, known rewards) checks the update itself; one
short in-process run on LIBERO checks that the loop records values and resumes the critic.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from tgrpo_ros.algo import compute_gae, GroupRolloutBuffer, TGRPOConfig
from tgrpo_ros.observation import Observation
from tgrpo_ros.training.policy_setup import build_policy
from tgrpo_ros.training.trainer import TGRPOTrainer

INSTRUCTION = 'pick up the alphabet soup and place it in the basket'


def _group(policy, rewards: np.ndarray, critic: bool, seed: int = 0) -> GroupRolloutBuffer:
    n, t = rewards.shape
    rng = np.random.default_rng(seed)
    buf = GroupRolloutBuffer(n, t, 'all_done')
    buf.reset(1)
    gen = torch.Generator().manual_seed(seed)
    for step in range(t):
        obs = [Observation(images={'agentview': rng.integers(0, 255, (32, 32, 3), np.uint8)},
                           instruction=INSTRUCTION) for _ in range(n)]
        s = policy.sample(obs, 1.0, gen)
        v = (policy.evaluate(obs, s.token_ids, 1.0, grad=False, values=True)[1].tolist()
             if critic else [None] * n)
        for i in range(n):
            buf.add(i, step, obs[i], s.token_ids[i], s.logprobs[i], float(rewards[i, step]),
                    success=False, done=step == t - 1, value=v[i])
    return buf


def test_ppo_update_uses_gae_and_fits_the_value_targets():
    policy = build_policy('tiny:test', lora_rank=4, seed=3)
    cfg = TGRPOConfig(estimator='gae', group_size=3, lr=3e-3, minibatch_size=64,
                      update_epochs=1, gamma=0.9, gae_lambda=0.95, beta=0.0,
                      value_clip=None)  # clipping would hold V within 0.2 of the rollout's
    trainer = TGRPOTrainer(policy, cfg, seed=0)
    assert policy.value_head is not None  # added by the trainer for 'gae'
    rewards = np.array([[0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 5.0]])
    buf = _group(policy, rewards, critic=True)
    # the advantages handed to the loss are GAE's (the fresh critic outputs 0), standardised
    adv = trainer.advantages(buf, [0.0, 0.0, 0.0])
    want, _ = compute_gae(buf.rewards, buf.values, buf.mask, 0.9, 0.95)
    torch.testing.assert_close(adv, want, rtol=1e-5, atol=1e-5)
    losses = []
    for _ in range(12):  # the same group again and again: the critic must learn its returns
        result = trainer.update(buf, [0.0, 0.0, 0.0])
        losses.append(result.value_loss)
    assert result.first_abs_log_ratio_max == result.first_abs_log_ratio_max  # not NaN
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < 0.5 * losses[0]
    # a group collected without values cannot be used by PPO (clear error, not a silent 0)
    seen = trainer.return_scaler.count
    with pytest.raises(ValueError, match='critic_values'):
        trainer.update(_group(policy, rewards, critic=False))
    assert trainer.return_scaler.count == seen  # the rejected group left no trace


def test_group_relative_estimators_stay_critic_free():
    policy = build_policy('tiny:test', lora_rank=4, seed=3)
    trainer = TGRPOTrainer(policy, TGRPOConfig(group_size=3, minibatch_size=64), seed=0)
    assert policy.value_head is None and not trainer.uses_critic
    result = trainer.update(_group(policy, np.arange(12.0).reshape(3, 4), critic=False))
    assert math.isnan(result.value_loss) and result.first_abs_log_ratio_max < 1e-4
    assert 'value_head' not in trainer.state_dict()


@pytest.mark.libero
def test_ppo_in_process_run_resumes_its_critic(tmp_path):
    from tgrpo_ros.training.driver import train_in_process
    from tgrpo_ros.training.run_folder import RunFolder
    from tgrpo_ros.training.settings import SimTrainSettings

    def settings(iterations, resume=False):
        return SimTrainSettings.from_flat({
            'run.iterations': iterations, 'env.max_steps': 3, 'run.output_dir': str(tmp_path),
            'env.image_size': 32, 'run.resume': resume, 'algo.estimator': 'gae',
            'algo.group_size': 2, 'algo.lr': 1e-3, 'algo.minibatch_size': 64,
            'algo.group_completion': 'all_done'})
    train_in_process(settings(1), log=lambda s: None)
    state1 = RunFolder(tmp_path, 2).load_trainer_state()
    train_in_process(settings(2, resume=True), log=lambda s: None)
    state2 = RunFolder(tmp_path, 2).load_trainer_state()
    head1, head2 = state1['value_head'], state2['value_head']
    # the return statistics resumed too: iteration 2's 2 x 3 steps joined iteration 1's
    assert state1['return_scaler']['count'] == 6 and state2['return_scaler']['count'] == 12
    with open(tmp_path / 'metrics.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [r['iteration'] for r in rows] == ['1', '2']
    assert all(math.isfinite(float(r['value_loss'])) for r in rows)
    # iteration 2 trained the critic it resumed (a fresh head has a zero output layer)
    assert not torch.equal(head1['net.2.weight'], head2['net.2.weight'])
    assert torch.count_nonzero(head1['net.2.weight']) > 0


def _trainable(policy) -> list[torch.Tensor]:
    return [p.detach().clone() for p in policy.trainable_parameters()]


@pytest.mark.parametrize('scaling', [True, False])
def test_reward_scaling_makes_the_ppo_update_independent_of_the_reward_unit(scaling):
    # The same group in two reward units (x1 and x1000). Scaled, the critic's targets are the
    # same numbers, so both updates move the weights identically; unscaled, the x1000 value
    # loss swamps the clipped gradient and the updates differ (what happened on LIBERO).
    rewards = np.array([[0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.5, 5.0]])
    after, value_losses = [], []
    for unit in (1.0, 1000.0):
        policy = build_policy('tiny:test', lora_rank=4, seed=3)
        cfg = TGRPOConfig(estimator='gae', group_size=3, lr=3e-3, minibatch_size=64,
                          beta=0.0, reward_scaling=scaling)
        trainer = TGRPOTrainer(policy, cfg, seed=0)
        buf = _group(policy, rewards * unit, critic=True)
        value_losses.append(trainer.update(buf, [0.0, 0.0, 0.0]).value_loss)
        after.append(_trainable(policy))
    # Adam's first step moves each weight by about lr (3e-3); float noise stays ~1e-6.
    moved_apart = max(float((a - b).abs().max()) for a, b in zip(*after))
    assert (moved_apart < 1e-5) if scaling else (moved_apart > 1e-4)
    if scaling:
        assert value_losses[0] == pytest.approx(value_losses[1], rel=1e-4)
        assert value_losses[1] < 10.0
    else:
        assert value_losses[1] > 1e5 * value_losses[0]


def test_return_scaler_merges_groups_like_one_pass_over_all_returns():
    from tgrpo_ros.algo.reward_scaling import ReturnScaler
    scaler = ReturnScaler(gamma=0.5)
    assert scaler.scale == 1.0  # nothing seen: rewards pass unchanged
    r1 = torch.tensor([[1.0, 2.0, 4.0], [3.0, 0.0, 0.0]])
    m1 = torch.tensor([[True, True, True], [True, False, False]])
    r2 = torch.tensor([[8.0, -1.0]])
    m2 = torch.tensor([[True, True]])
    # discounted returns G_t = 0.5 G_{t-1} + r_t along each trajectory's valid steps
    assert sorted(scaler.discounted_returns(r1, m1).tolist()) == [1.0, 2.5, 3.0, 5.25]
    scaler.update(r1, m1)
    scaler.update(r2, m2)
    every = np.array([1.0, 2.5, 5.25, 3.0, 8.0, 3.0])
    assert scaler.count == 6
    assert scaler.mean == pytest.approx(every.mean())
    assert scaler.scale == pytest.approx(np.sqrt(every.var() + 1e-8))
    torch.testing.assert_close(scaler(r2), r2 / scaler.scale)
    restored = ReturnScaler(gamma=0.5)
    restored.load_state_dict(scaler.state_dict())
    assert restored.scale == scaler.scale and restored.count == 6
    with pytest.raises(ValueError, match='NaN'):
        scaler.update(torch.tensor([[float('nan')]]), torch.tensor([[True]]))
    assert scaler.count == 6  # the bad group left the statistics as they were


def test_a_run_resumes_only_with_the_reward_scaling_it_was_trained_with():
    policy = build_policy('tiny:test', lora_rank=4, seed=3)
    unscaled = TGRPOTrainer(policy, TGRPOConfig(estimator='gae', reward_scaling=False), seed=0)
    assert 'return_scaler' not in unscaled.state_dict()
    scaled = TGRPOTrainer(policy, TGRPOConfig(estimator='gae'), seed=0)
    with pytest.raises(ValueError, match='reward_scaling=False'):
        scaled.load_state_dict(unscaled.state_dict())
    with pytest.raises(ValueError, match='reward_scaling=True'):
        unscaled.load_state_dict(scaled.state_dict())
