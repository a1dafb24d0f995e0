# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The training loop, shared by the in-process trainer and the ROS 2 learner node.

- ``settings``: ``SimTrainSettings``, everything a simulation training run needs.
- ``rollout``: collect one group in-process (LIBERO adapter + policy, no ROS).
- ``trainer``: ``TGRPOTrainer``, advantages + update epochs + adapter save (used by both paths).
- ``run_folder``: the run folder: config, metrics (CSV, TensorBoard), plot, adapters, resume.
- ``driver``: the in-process loop ``train_in_process`` (rollout -> update -> save, repeated).
- ``policy_setup``: the policy a run starts from; ``sft``: supervised fine-tuning.
"""
