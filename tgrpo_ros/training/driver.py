# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The training driver: the one loop every TGRPO (and PPO) run goes through.

``train(settings, collector, policy)`` reads top to bottom: resume -> (evaluate the start) ->
for each iteration: take the group (collected now, or while the last update ran:
``tgrpo_ros.training.pipeline``) -> (PPO: critic values) -> update -> save the adapter ->
evaluate when due -> metrics row -> commit the iteration. Where the
episodes run is the collector's business (``tgrpo_ros.training.collector``): in this process
(``train_in_process``, ``tgrpo-ros train``) or over the ROS graph (the learner node).

This module is the only caller of ``TGRPOTrainer.update`` and ``RunFolder.complete_iteration``
(test/training/test_driver.py checks it), so the two ways of training cannot drift apart.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
import time
from typing import Any, Callable

import torch

from tgrpo_ros.policy.base import VLAPolicy
from tgrpo_ros.sim.env_group import EnvGroup
from tgrpo_ros.sim.libero_env import check_reward_spec, reward_spec_for
from tgrpo_ros.training.collector import Collector, EVAL_GROUP_ID_BASE, Group, GroupRequest
from tgrpo_ros.training.metrics import evaluation_row, metrics_row
from tgrpo_ros.training.pipeline import GroupPipeline
from tgrpo_ros.training.policy_setup import policy_for
from tgrpo_ros.training.rollout import EnvGroupFactory, InProcessCollector
from tgrpo_ros.training.run_folder import default_run_dir, RunFolder
from tgrpo_ros.training.settings import resolve, SimTrainSettings
from tgrpo_ros.training.throughput import PartTimes, throughput_line
from tgrpo_ros.training.trainer import TGRPOTrainer, UpdateResult
from tgrpo_ros.training.update_processes import DistributedTrainer, trainer_for
from tgrpo_ros.training.trials import apply_trial_rule, TrialOutcome, valid_stats
from tgrpo_ros.versioning import PolicyVersion

Log = Callable[[str], None]
# on_iteration(row, version): after each committed iteration (the learner node publishes it).
OnIteration = Callable[[dict, PolicyVersion], None]


# --- what to collect --------------------------------------------------------------------------
def schedule(settings: SimTrainSettings, iteration: int) -> tuple[str, int]:
    """(task, initial-state index) of iteration ``iteration`` (1-based): tasks cycle fastest."""
    k = iteration - 1
    tasks, states = settings.env.tasks, settings.env.init_states
    task = tasks[k % len(tasks)]
    init_state = states[(k // len(tasks)) % len(states)]
    return task, init_state


def train_request(settings: SimTrainSettings, iteration: int) -> GroupRequest:
    """Return the group of iteration ``iteration``: N episodes from one scheduled initial state."""
    task, init_state = schedule(settings, iteration)
    n = settings.group_size
    return GroupRequest(group_id=iteration, task=task, init_states=(init_state,) * n,
                        seed=settings.run.seed + iteration, num_envs=n,
                        max_steps=settings.env.max_steps,
                        completion=settings.algo.group_completion,
                        temperature=settings.algo.temperature, purpose='train')


def evaluation_due(settings: SimTrainSettings, iteration: int) -> bool:
    """Evaluate after ``iteration`` (0 = the start policy)? Every eval.every, and at the end."""
    if settings.eval.every <= 0 or settings.eval.episodes <= 0:
        return False
    return iteration % settings.eval.every == 0 or iteration == settings.run.iterations


def eval_requests(settings: SimTrainSettings, iteration: int) -> list[GroupRequest]:
    """Return the evaluation after ``iteration``: eval.episodes episodes in all_done groups.

    Episode j starts from ``eval.init_states[j % len]`` and group g runs task
    ``tasks[g % len]``; every evaluation uses the same states and seeds, so they differ only
    by the policy (and, over ROS, by the sampling noise).
    """
    n = settings.group_size
    groups = math.ceil(settings.eval.episodes / n)
    states = settings.eval.init_states
    return [GroupRequest(group_id=EVAL_GROUP_ID_BASE + iteration * 1000 + g,
                         task=settings.env.tasks[g % len(settings.env.tasks)],
                         init_states=tuple(states[(g * n + j) % len(states)] for j in range(n)),
                         seed=settings.run.seed + g, num_envs=n, max_steps=settings.env.max_steps,
                         completion='all_done', temperature=settings.algo.temperature,
                         purpose='eval')
            for g in range(groups)]


# --- PPO: the critic's values of what was collected --------------------------------------------
def critic_values(policy: VLAPolicy, group: Group, temperature: float,
                  batch_size: int) -> list[float]:
    """Fill ``group.buffer``'s values V(s) (N, T); return V of each trajectory's final state.

    Computed here, after collection, with the value head under the weights that acted (no
    update happened in between), so PPO works with every collector, including ones whose
    actors have no critic. The final value is 0 after a success (the task ended); otherwise
    V(final observation), or V(last observation acted on) where the collector never saw the
    final one (``Group.final_observations``).
    """
    buffer = group.buffer
    obs, tokens, env_index, step_index = buffer.steps()
    values = torch.zeros(buffer.mask.shape)
    for s in range(0, len(obs), batch_size):
        v = policy.evaluate(obs[s:s + batch_size], tokens[s:s + batch_size], temperature,
                            grad=False, values=True)[1]
        values[env_index[s:s + batch_size], step_index[s:s + batch_size]] = v.float().cpu()
    buffer.set_values(values)
    lengths, success = buffer.lengths.tolist(), buffer.success.tolist()
    last_obs, last_tokens = [], []
    for i, length in enumerate(lengths):
        # The value head reads only the prefix (observation + prompt); the trajectory's last
        # tokens complete the call.
        rows = ((env_index == i) & (step_index == length - 1)).nonzero().flatten()
        k = int(rows[0])
        final = group.final_observations[i]
        last_obs.append(final if final is not None else obs[k])
        last_tokens.append(tokens[k])
    v = policy.evaluate(last_obs, torch.stack(last_tokens), temperature, grad=False,
                        values=True)[1].float().cpu()
    return torch.where(torch.tensor(success), 0.0, v).tolist()


# --- evaluation -------------------------------------------------------------------------------
def evaluate(settings: SimTrainSettings, collector: Collector, iteration: int,
             version: PolicyVersion) -> dict:
    """Run the evaluation after ``iteration`` through the collector; return its row."""
    t0 = time.monotonic()
    groups = collector.collect_many(eval_requests(settings, iteration))
    states = [s for g in groups for s in g.request.init_states]
    # Abnormal trials (tgrpo_ros.training.trials) are left out of the pooled statistics.
    return evaluation_row(iteration, version, [valid_stats(g) for g in groups], states,
                          time.monotonic() - t0)


# --- the loop ---------------------------------------------------------------------------------
def train(settings: SimTrainSettings, collector: Collector, policy: VLAPolicy,
          log: Log = print, *, extra_config: dict | None = None,
          on_iteration: OnIteration | None = None) -> dict:
    """Run (or resume) the training run of ``settings``; return its summary.

    collector: runs the groups (and makes new weights act: ``Collector.serve``).
    policy: the learner's policy, with its LoRA adapter; updated in place.
    """
    # run.update_processes > 1: the update is shared with worker processes (data-parallel)
    with trainer_for(settings, policy, log) as trainer:
        return _train(settings, collector, policy, trainer, log, extra_config, on_iteration)


def _train(settings: SimTrainSettings, collector: Collector, policy: VLAPolicy,
           trainer: TGRPOTrainer | DistributedTrainer, log: Log, extra_config: dict | None,
           on_iteration: OnIteration | None) -> dict:
    run = RunFolder(settings.run.output_dir or default_run_dir(), settings.run.iterations)

    # Resume: the adapter, optimiser and critic of the last complete (committed) iteration.
    start, env_steps_total, version, adapter = 1, 0, policy.version, ''
    last = run.last_complete()
    if last is not None and not settings.run.resume:
        raise FileExistsError(f'{run.path} already holds iterations up to {last["iteration"]}; '
                              'resume it (--resume) or choose a new output_dir')
    run.discard_uncommitted()  # what a crash left after the last commit
    run.write_config(settings.to_dict(), extra_config)  # a resume: checked against the start's
    if last is not None:
        adapter = last['adapter']
        version = policy.load_adapter(adapter)
        trainer.load_state_dict(run.load_trainer_state())
        start, env_steps_total = last['iteration'] + 1, int(last['env_steps'])
        log(f'[train] resuming {run.path} after iteration {last["iteration"]}')
    run.progress(start - 1, _postfix(run))
    log(f'[train] run folder {run.path}; iterations {start}..{settings.run.iterations}')
    collector.serve(version, adapter)

    if start == 1 and evaluation_due(settings, 0) and not run.has_evaluation(0):
        evaluation = evaluate(settings, collector, 0, version)
        run.record_evaluation(evaluation)
        log(_eval_line(evaluation))
        run.progress(0, _postfix(run))

    times = PartTimes()  # where this launch's wall time goes, printed at the end
    # Collection, synchronous or overlapped with the updates (run.max_staleness): the pipeline
    # serves each group's acting policy and runs the evaluations (tgrpo_ros.training.pipeline).
    pipeline = GroupPipeline(
        collector, lambda its: collector.collect_many([train_request(settings, g) for g in its]),
        lambda j, v: evaluate(settings, collector, j, v), lambda j: evaluation_due(settings, j),
        start, settings.run.iterations, version, adapter, settings.run.max_staleness,
        settings.run.concurrent_groups)
    try:
        for it in range(start, settings.run.iterations + 1):
            # Overlapped, 'rollout' is only the wait for a group collected meanwhile.
            with times.part('rollout'):
                collected = pipeline.group(it)
            request = collected.group.request
            if collected.staleness > pipeline.bound:  # the pipeline's promise
                raise RuntimeError(f'group {it} is {collected.staleness} versions stale, over '
                                   f'run.max_staleness + run.concurrent_groups - 1 = '
                                   f'{pipeline.bound}')
            # Abnormal trials are masked; a group left with < 2 valid trials is skipped (no
            # update, the adapter is saved unchanged so every iteration still commits one).
            outcome = apply_trial_rule(collected.group)
            group = outcome.group
            with times.part('update'):
                if group is None:
                    update = skipped_update()
                else:
                    last_values = None
                    if trainer.uses_critic:
                        # With overlap these values are the learner's, not the actor's: GAE
                        # baselines, which the clipped ratio does not need to match.
                        last_values = critic_values(policy, group, settings.algo.temperature,
                                                    settings.algo.minibatch_size)
                    update = trainer.update(group.buffer, last_values)
            adapter = str(run.adapter_dir(it))
            with times.part('saving'), run.saving_adapter(it):  # a full disk: a clear error
                version = policy.save_adapter(adapter, it)
            pipeline.saved(it, version, adapter)
            with times.part('evaluation'):
                evaluation = pipeline.evaluation(it) if evaluation_due(settings, it) else None
            env_steps_total += outcome.stats.env_steps
            row = metrics_row(it, request.task, request.init_states[0], outcome.stats, update,
                              version, env_steps_total, settings.algo.lr,
                              masked_trials=outcome.masked, group_skipped=outcome.skipped,
                              masked_reasons=outcome.reasons,
                              acting_version=collected.acting_version.version,
                              staleness=collected.staleness)
            with times.part('saving'):
                run.complete_iteration(it, row, trainer.state_dict(), version,
                                       evaluation=evaluation)
            run.progress(it, _postfix(run))
            if on_iteration is not None:
                on_iteration(row, version)
            log(_iteration_line(settings, row, outcome, update))
            if evaluation is not None:
                log(_eval_line(evaluation))
            times.iteration_done(outcome.stats.env_steps)
        pipeline.finish()
    finally:
        pipeline.close()
    throughput = times.report()
    log(throughput_line(throughput, overlapped=settings.run.max_staleness > 0))
    return run.finish({'throughput': throughput})


def _postfix(run: RunFolder) -> dict:
    """Return the progress bar's numbers: what moves (first-success steps, eval success)."""
    out: dict[str, Any] = {}
    rows = run.rows()
    if rows:
        out['return'] = round(float(rows[-1]['mean_return']), 3)
        steps = float(rows[-1].get('first_success_step', 'nan'))
        out['first_success_step'] = '-' if math.isnan(steps) else int(steps)
    evals = run.evaluations()
    if evals:
        e = evals[-1]
        out['eval_success'] = f'{e["successes"]}/{e["episodes"]} (it {e["iteration"]})'
    return out


def _iteration_line(settings: SimTrainSettings, row: dict, outcome: TrialOutcome,
                    update) -> str:
    steps = row['first_success_step']
    first = 'none' if math.isnan(steps) else f'{int(steps)} steps'
    faults = ''
    if outcome.masked:
        faults = (f' masked {outcome.masked} abnormal trial(s) ({", ".join(outcome.reasons)})'
                  + ('; group skipped: fewer than 2 valid trials' if outcome.skipped else ''))
    return (f'[train] iter {row["iteration"]}/{settings.run.iterations} task {row["task"]} state '
            f'{row["init_state"]}: return {row["mean_return"]:.3f} first success {first} '
            f'loss {row["loss"]:.4f} |logratio|0 {row["first_abs_log_ratio_max"]:.1e} '
            f'({outcome.stats.rollout_time_s:.1f}s + {update.update_time_s:.1f}s){faults}')


def skipped_update() -> UpdateResult:
    """Return the update of a skipped group: none (NaN diagnostics, no sample, no step)."""
    nan = math.nan
    return UpdateResult(loss=nan, pg_loss=nan, kl_ref=nan, approx_kl=nan, clip_frac=nan,
                        ratio_mean=nan, ratio_max=nan, first_abs_log_ratio_max=nan,
                        grad_norm=nan, samples=0, minibatches=0, update_time_s=0.0)


def _eval_line(e: dict) -> str:
    return (f'[train] evaluation after iter {e["iteration"]} (version {e["policy_version"]}): '
            f'success {e["successes"]}/{e["episodes"]} = {e["success_rate"]:.2f} '
            f'[95% CI {e["success_ci_low"]:.2f}, {e["success_ci_high"]:.2f}] return '
            f'{e["mean_return"]:.3f} on states {e["init_states"]} ({e["time_s"]:.1f}s)')


# --- in this process --------------------------------------------------------------------------
def make_env_group(settings: SimTrainSettings, task: str, num_envs: int) -> EnvGroup:
    """N LIBERO environments of ``task`` in worker processes (~2.2 GB each)."""
    # A task without a reward spec stops here, before any simulator process starts.
    check_reward_spec(settings.env.suite, task, settings.env.reward)
    return EnvGroup(num_envs, suite=settings.env.suite, task=int(task) if task.isdigit() else task,
                    cameras=settings.env.cameras, image_size=settings.env.image_size,
                    max_steps=settings.env.max_steps or None,
                    init_states_file=settings.env.init_states_file or None,
                    reward_spec=reward_spec_for(settings.env.reward))


def train_in_process(settings: SimTrainSettings, make_envs: EnvGroupFactory | None = None,
                     log: Log = print) -> dict:
    """``train`` with the in-process collector; ``make_envs(task, num_envs)`` builds groups."""
    if settings.policy.torch_threads > 0:
        torch.set_num_threads(settings.policy.torch_threads)
    policy = policy_for(settings)
    factory = make_envs or (lambda task, n: make_env_group(settings, task, n))
    # Overlapped updates act with a copy while the trainer updates the original.
    acting = copy.deepcopy(policy) if settings.run.max_staleness > 0 else None
    collector = InProcessCollector(policy, factory, acting)
    try:
        return train(settings, collector, policy, log)
    finally:
        collector.close()


def load_settings(config: str | Path | None, overrides: dict,
                  preset: str = '') -> SimTrainSettings:
    """Defaults < preset < parameter file ``config`` < overrides (tgrpo_ros.training.settings)."""
    return resolve(preset, config or '', overrides)
