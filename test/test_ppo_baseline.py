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
    with pytest.raises(ValueError, match='critic=True'):
        trainer.update(_group(policy, rewards, critic=False))


def test_group_relative_estimators_stay_critic_free():
    policy = build_policy('tiny:test', lora_rank=4, seed=3)
    trainer = TGRPOTrainer(policy, TGRPOConfig(group_size=3, minibatch_size=64), seed=0)
    assert policy.value_head is None and not trainer.uses_critic
    result = trainer.update(_group(policy, np.arange(12.0).reshape(3, 4), critic=False))
    assert math.isnan(result.value_loss) and result.first_abs_log_ratio_max < 1e-4
    assert 'value_head' not in trainer.state_dict()


@pytest.mark.libero
def test_ppo_in_process_run_resumes_its_critic(tmp_path):
    from tgrpo_ros.training.loop import train_in_process
    from tgrpo_ros.training.run_folder import RunFolder
    from tgrpo_ros.training.settings import SimTrainSettings

    def settings(iterations, resume=False):
        return SimTrainSettings(iterations=iterations, max_steps=3, output_dir=str(tmp_path),
                                image_size=32, resume=resume,
                                algo=TGRPOConfig(estimator='gae', group_size=2, lr=1e-3,
                                                 minibatch_size=64, group_completion='all_done'))
    train_in_process(settings(1), log=lambda s: None)
    head1 = RunFolder(tmp_path, 2).load_trainer_state()['value_head']
    train_in_process(settings(2, resume=True), log=lambda s: None)
    head2 = RunFolder(tmp_path, 2).load_trainer_state()['value_head']
    with open(tmp_path / 'metrics.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [r['iteration'] for r in rows] == ['1', '2']
    assert all(math.isfinite(float(r['value_loss'])) for r in rows)
    # iteration 2 trained the critic it resumed (a fresh head has a zero output layer)
    assert not torch.equal(head1['net.2.weight'], head2['net.2.weight'])
    assert torch.count_nonzero(head1['net.2.weight']) > 0
