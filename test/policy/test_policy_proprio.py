# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Proprioception (policy/proprio.py): the state token reaches the action distribution.

It keeps sampling and teacher forcing equal, survives save/load, is frozen under LoRA, and state
it cannot read is an error naming the entry.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tgrpo_ros.observation import Observation
from tgrpo_ros.policy.checkpoint import load_policy, save_policy
from tgrpo_ros.policy.proprio import select_state, state_statistics
from tgrpo_ros.policy.tiny import build_tiny_policy

NAMES = ['eef_pos_x', 'eef_pos_z', 'gripper_qpos_0']


def _obs(z: float, names=NAMES, state=None) -> Observation:
    rng = np.random.default_rng(0)  # the same image for every call
    state = np.array([0.5, z, 0.04]) if state is None else state
    return Observation(images={'agentview': rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)},
                       state=state, state_names=list(names), instruction='pick up the can')


def _policy():
    policy = build_tiny_policy('test', seed=3)
    policy.add_proprio(['eef_pos_z', 'gripper_qpos_0'], mean=[0.1, 0.04], std=[0.05, 0.0])
    return policy


def test_state_token_changes_the_distribution_and_matches_teacher_forcing():
    policy = _policy()
    batch = [_obs(0.05), _obs(0.30), _obs(0.05)]
    s = policy.sample(batch, temperature=1.0, generator=torch.Generator().manual_seed(0))
    lp = policy.token_logprobs(batch, s.token_ids, grad=False).cpu()
    assert torch.allclose(lp, s.logprobs, atol=1e-5)
    low = policy.token_logprobs([_obs(0.05)], s.token_ids[:1], grad=False)
    high = policy.token_logprobs([_obs(0.30)], s.token_ids[:1], grad=False)
    assert (low - high).abs().max() > 1e-3  # the height reaches the action tokens
    same = policy.token_logprobs([_obs(0.05), _obs(0.05)], s.token_ids[[0, 0]], grad=False)
    assert torch.allclose(same[0], low[0], atol=1e-6)  # the state, not the row, decides
    # a constant entry (std 0 in the data) is floored, not divided by zero
    assert float(policy.proprio.std[1]) == pytest.approx(1e-3)


def test_save_load_round_trip_and_lora_freezes_the_encoder(tmp_path):
    policy = _policy()
    ids = policy.sample([_obs(0.2)], temperature=0.0).token_ids
    before = policy.token_logprobs([_obs(0.2)], ids, grad=False)
    save_policy(policy, tmp_path / 'p')
    loaded = load_policy(tmp_path / 'p')
    assert loaded.proprio.state_names == ['eef_pos_z', 'gripper_qpos_0']
    assert torch.equal(loaded.token_logprobs([_obs(0.2)], ids, grad=False), before)
    loaded.add_lora()
    assert not any(p.requires_grad for p in loaded.proprio.parameters())
    assert all(p not in set(loaded.proprio.parameters()) for p in loaded.trainable_parameters())
    # without an adapter (SFT) the encoder is trained with the rest of the base model
    fresh = _policy()
    assert fresh.proprio.proj.weight in set(fresh.trainable_parameters())
    with pytest.raises(RuntimeError, match='before the LoRA adapter'):
        loaded.proprio = None
        loaded.add_proprio(['eef_pos_z'])


def test_bad_state_is_an_error_naming_the_problem():
    policy = _policy()
    with pytest.raises(KeyError, match='gripper_qpos_0'):
        policy.sample([_obs(0.1, names=['eef_pos_x', 'eef_pos_z', 'other'])])
    with pytest.raises(ValueError, match='not finite'):
        policy.sample([_obs(0.1, state=np.array([0.5, np.nan, 0.04]))])
    with pytest.raises(ValueError, match='3 state names'):
        policy.sample([_obs(0.1, state=np.array([0.5, 0.1]))])
    with pytest.raises(ValueError, match='repeated'):
        build_tiny_policy('test').add_proprio(['eef_pos_z', 'eef_pos_z'])


def test_selection_and_statistics():
    rows = select_state(['gripper_qpos_0', 'eef_pos_x'], [np.array([1.0, 2.0, 3.0])] * 2,
                        [NAMES, NAMES])
    assert rows.tolist() == [[3.0, 1.0], [3.0, 1.0]]
    mean, std = state_statistics(np.array([[0.0, 1.0], [2.0, 1.0]]))
    assert mean == [1.0, 1.0] and std == [1.0, 0.0]
