# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The whole TGRPO loop in one process: rollout -> advantages/update -> save, repeated.

The ROS 2 graph runs the same steps with the rollout spread over topics (see
``tgrpo_ros.ros.nodes.learner_node``); both use ``TGRPOTrainer`` and ``RunFolder``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from tgrpo_ros.algo import GroupRolloutBuffer
from tgrpo_ros.training.metrics import metrics_row
from tgrpo_ros.training.policy_setup import build_policy
from tgrpo_ros.training.rollout import collect_group
from tgrpo_ros.training.run_folder import default_run_dir, RunFolder
from tgrpo_ros.training.settings import resolve, SimTrainSettings
from tgrpo_ros.training.trainer import TGRPOTrainer


def schedule(settings: SimTrainSettings, iteration: int) -> tuple[str, int]:
    """(task, initial-state index) of iteration ``iteration`` (1-based): tasks cycle fastest."""
    k = iteration - 1
    task = settings.tasks[k % len(settings.tasks)]
    init_state = settings.init_states[(k // len(settings.tasks)) % len(settings.init_states)]
    return task, init_state


def make_envs(settings: SimTrainSettings, task: str) -> list:
    from tgrpo_ros.sim.libero_env import LiberoEnv
    return [LiberoEnv(settings.suite, int(task) if task.isdigit() else task,
                      cameras=settings.cameras, image_size=settings.image_size,
                      max_steps=settings.max_steps or None,
                      init_states_file=settings.init_states_file or None)
            for _ in range(settings.group_size)]


def train_in_process(settings: SimTrainSettings, env_factory: Callable | None = None,
                     log: Callable[[str], None] = print) -> dict:
    """Run (or resume) a training run; return its summary."""
    if settings.torch_threads > 0:
        torch.set_num_threads(settings.torch_threads)
    run = RunFolder(settings.output_dir or default_run_dir(), settings.iterations)
    policy = build_policy(settings.model, device=settings.device, cameras=settings.cameras,
                          lora_rank=settings.lora_rank, lora_alpha=settings.lora_alpha,
                          seed=settings.seed)
    trainer = TGRPOTrainer(policy, settings.algo, seed=settings.seed)
    start, env_steps_total = 1, 0
    last = run.last_complete()
    if last is not None:
        if not settings.resume:
            raise FileExistsError(f'{run.path} already holds iterations up to '
                                  f'{last["iteration"]}; resume it (--resume) or choose a new '
                                  'output_dir')
        policy.load_adapter(last['adapter'])
        trainer.load_state_dict(run.load_trainer_state())
        start, env_steps_total = last['iteration'] + 1, int(last['env_steps'])
        log(f'[train] resuming {run.path} after iteration {last["iteration"]}')
    run.write_config(settings.to_dict())
    run.progress(start - 1)
    sampler = torch.Generator().manual_seed(settings.seed * 1000 + start)
    buffer = GroupRolloutBuffer(settings.group_size, settings.max_steps or 10_000,
                                settings.algo.group_completion)
    factory = env_factory or (lambda task: make_envs(settings, task))
    envs, env_task = None, None
    try:
        for it in range(start, settings.iterations + 1):
            task, init_state = schedule(settings, it)
            if env_task != task:
                for e in envs or []:
                    e.close()
                envs, env_task = factory(task), task
                buffer = GroupRolloutBuffer(settings.group_size, envs[0].max_steps,
                                            settings.algo.group_completion)
            stats = collect_group(envs, policy, buffer, init_state_index=init_state,
                                  seed=settings.seed + it, temperature=settings.algo.temperature,
                                  generator=sampler, group_id=it,
                                  critic=trainer.uses_critic)
            update = trainer.update(buffer, stats.last_values)
            version = policy.save_adapter(str(run.adapter_dir(it)), it)
            env_steps_total += stats.env_steps
            row = metrics_row(it, task, init_state, stats, update, version, env_steps_total,
                              settings.algo.lr)
            run.complete_iteration(it, row, trainer.state_dict(), version)
            run.progress(it, {'return': round(row['mean_return'], 3),
                              'success': row['success_rate']})
            log(f'[train] iter {it}/{settings.iterations} task {task} state {init_state}: '
                f'return {row["mean_return"]:.3f} success {row["success_rate"]:.2f} '
                f'loss {row["loss"]:.4f} |logratio|0 {row["first_abs_log_ratio_max"]:.1e} '
                f'({stats.rollout_time_s:.1f}s + {update.update_time_s:.1f}s)')
    finally:
        for e in envs or []:
            e.close()
    return run.finish()


def load_settings(config: str | Path | None, overrides: dict,
                  preset: str = '') -> SimTrainSettings:
    """Defaults < preset < parameter file ``config`` < overrides (tgrpo_ros.training.settings)."""
    return resolve(preset, config or '', overrides)
