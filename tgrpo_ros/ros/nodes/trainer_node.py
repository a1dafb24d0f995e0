# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""trainer_node: the learner and the policy node in one process, sharing one base model.

For a single GPU that cannot hold two copies of the model. Topics, services and parameters are
those of learner_node (node ``learner``) and policy_node (node ``policy``); the learner's
parameters also configure the shared policy.
"""

from __future__ import annotations

import sys

from tgrpo_ros.ros.nodes.learner_node import LearnerNode, run_learner
from tgrpo_ros.ros.nodes.policy_node import PolicyNode


def _nodes():
    learner = LearnerNode(shared=True)
    policy = PolicyNode(policy=learner.policy)
    return [learner, policy]


def main(args=None) -> int:
    return run_learner(_nodes, args)


if __name__ == '__main__':
    sys.exit(main())
