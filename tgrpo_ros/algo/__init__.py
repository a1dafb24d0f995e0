# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The TGRPO algorithm as a library: advantages, losses, GAE, config and the rollout buffer.

Imports nothing but torch and the standard library, so it can be read, tested and reused
without ROS. One concept per module:

- ``config``: ``TGRPOConfig``, every setting with its paper value.
- ``registry``: the estimator and loss-aggregation names a config may choose.
- ``advantages``: the group-relative estimators by name and ``compute_advantages``.
- ``losses``: the clipped policy objective with the k3 KL, and PPO's clipped value loss.
- ``gae``: GAE over masked trajectories (PPO baseline).
- ``reward_scaling``: rewards over the running std of the return (PPO baseline's critic).
- ``buffer``: ``GroupRolloutBuffer``, one group from collection to minibatches.
"""

from tgrpo_ros.algo.advantages import (
    compute_advantages,
    standardize,
    step_advantages,
    trajectory_advantages,
    trajectory_returns,
)
from tgrpo_ros.algo.buffer import GroupRolloutBuffer, Minibatch
from tgrpo_ros.algo.config import GROUP_COMPLETION_RULES, TGRPOConfig
from tgrpo_ros.algo.gae import compute_gae
from tgrpo_ros.algo.losses import policy_loss, value_loss
from tgrpo_ros.algo.registry import ADVANTAGE_ESTIMATORS, LOSS_AGGREGATIONS, register_estimator

__all__ = [
    'ADVANTAGE_ESTIMATORS',
    'GROUP_COMPLETION_RULES',
    'GroupRolloutBuffer',
    'LOSS_AGGREGATIONS',
    'Minibatch',
    'TGRPOConfig',
    'compute_advantages',
    'compute_gae',
    'policy_loss',
    'register_estimator',
    'standardize',
    'step_advantages',
    'trajectory_advantages',
    'trajectory_returns',
    'value_loss',
]
