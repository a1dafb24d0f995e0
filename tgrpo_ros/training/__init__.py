# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Training, free of ROS: one driver, collectors behind one interface.

- ``settings``: ``SimTrainSettings``, everything a simulation training run needs.
- ``driver``: ``train`` (the one loop: resume, schedule, collect, update, save, serve,
  evaluate, metrics) and ``train_in_process``.
- ``collector``: ``GroupRequest``, ``Group``, ``GroupStats`` and the ``Collector`` interface.
- ``rollout``: the in-process collector (an ``EnvGroup`` of environments + the policy).
- ``step_assembler``: joins a step's three messages into the buffer (the ROS collector's core).
- ``trainer``: ``TGRPOTrainer``, advantages + update epochs (called by the driver only).
- ``metrics``: the per-iteration and per-evaluation rows.
- ``run_folder``: the run folder: config, metrics (CSV, TensorBoard), plot, adapters, resume.
- ``driver``: the in-process loop ``train_in_process`` (rollout -> update -> save, repeated).
- ``policy_setup``: the policy a run starts from; ``sft``: supervised fine-tuning.
"""
