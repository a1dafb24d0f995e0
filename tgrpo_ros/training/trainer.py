# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""TGRPOTrainer: one update from one complete group, shared by every way of collecting it.

Every collector (in-process environments, the ROS graph) hands the training driver a
``GroupRolloutBuffer``; the driver (``tgrpo_ros.training.driver``, the only caller) passes it to
``TGRPOTrainer.update``, so nothing about the update exists twice.

The PPO baseline is the same trainer with ``estimator='gae'``: the policy gets a value head
(``add_value_head``, on the shared trunk), the driver records V(s) per step of the collected
group (``driver.critic_values``, under the weights that acted), advantages come from GAE, are
standardised over the group's steps (PPO's usual per-batch normalisation; the group-relative
estimators are already standardised), and the clipped value loss times ``value_loss_coef``
joins the clipped policy loss in one backward pass. With ``reward_scaling`` (default) the
critic sees rewards divided by the running std of the return (``algo.reward_scaling``), so its
loss stays O(1).

With ``recompute_old_logprobs`` the "old" log-probs of the ratio are the learner's own, from one
no-grad pass with the current weights before the first gradient step, not the sampler's: a
bfloat16 sampler and learner disagree by a few hundredths of a nat (README), which the ratio
would read as policy change and clip. ``sampler_abs_log_ratio_max`` reports that disagreement.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import time

import torch

from tgrpo_ros.algo import (compute_advantages, GroupRolloutBuffer, policy_loss, TGRPOConfig,
                            value_loss)
from tgrpo_ros.algo.losses import loss_denominator
from tgrpo_ros.algo.reward_scaling import ReturnScaler
from tgrpo_ros.policy.base import VLAPolicy
from tgrpo_ros.training.distributed import DataParallel

# Metrics that are a rank's share of a data-parallel minibatch's value (summed over ranks);
# the others are means over the rank's tokens (averaged, weighted by tokens).
_SHARES = ('loss', 'pg_loss', 'value_loss', 'value_clip_frac')


@dataclass
class UpdateResult:
    """Diagnostics of one update (means over minibatches unless named otherwise)."""

    loss: float
    pg_loss: float
    kl_ref: float
    approx_kl: float
    clip_frac: float
    ratio_mean: float
    ratio_max: float
    first_abs_log_ratio_max: float
    grad_norm: float
    samples: int
    minibatches: int
    update_time_s: float
    value_loss: float = math.nan
    explained_variance: float = math.nan
    # recompute_old_logprobs only: max |learner's old log-probs - sampler's| over the group
    sampler_abs_log_ratio_max: float = math.nan


class TGRPOTrainer:
    """Owns the optimiser over the policy's trainable (LoRA) parameters.

    data_parallel: this process's place in a data-parallel update (``training.distributed``);
        every rank constructs the trainer alike (same policy, config and seed) and calls
        ``update`` with the same group. None: the whole update in this process.
    """

    def __init__(self, policy: VLAPolicy, config: TGRPOConfig, seed: int = 0,
                 data_parallel: DataParallel | None = None):
        self.policy = policy
        self.config = config
        self.dp = data_parallel
        if self.uses_critic and getattr(policy, 'value_head', None) is None:
            policy.add_value_head()
        if config.beta > 0:
            # The KL reference is the policy RL starts from (a LoRA SFT start included), not
            # the base model under it; kept before any update (and before a resume's load).
            policy.freeze_reference()
        params = policy.trainable_parameters()
        if not params:
            raise ValueError('the policy has no trainable parameters (attach a LoRA adapter)')
        self.optimizer = torch.optim.AdamW(params, lr=config.lr)
        self.generator = torch.Generator().manual_seed(seed)
        self.return_scaler = (ReturnScaler(config.gamma)
                              if self.uses_critic and config.reward_scaling else None)

    @property
    def uses_critic(self) -> bool:
        """PPO baseline: GAE advantages from a value head."""
        return self.config.estimator == 'gae'

    def advantages(self, buffer: GroupRolloutBuffer,
                   last_values: list[float] | None = None) -> torch.Tensor:
        cfg = self.config
        if not self.uses_critic:
            return compute_advantages(buffer.rewards, buffer.mask, cfg.estimator, cfg,
                                      success=buffer.success)
        _require_values(buffer)
        last = None if last_values is None else torch.tensor(last_values, dtype=torch.float32)
        rewards = buffer.rewards
        if self.return_scaler is not None:  # the critic's values are in these units too
            rewards = self.return_scaler(rewards)
        return compute_advantages(rewards, buffer.mask, cfg.estimator, cfg,
                                  success=buffer.success, values=buffer.values,
                                  last_values=last)

    def update(self, buffer: GroupRolloutBuffer,
               last_values: list[float] | None = None) -> UpdateResult:
        """Advantages, then ``update_epochs`` passes of shuffled minibatches over the group.

        ``first_abs_log_ratio_max`` is max |log pi_theta - log pi_old| on the first minibatch,
        before any gradient step: the sampler and the learner must agree there (< 1e-4; with
        ``recompute_old_logprobs`` it compares the learner with itself, and
        ``sampler_abs_log_ratio_max`` holds the sampler's disagreement).
        last_values: PPO only, (N,) V of the state after each trajectory
            (``driver.critic_values``).
        """
        cfg = self.config
        t0 = time.monotonic()
        if self.return_scaler is not None:  # this group's returns join the scale it is read at
            _require_values(buffer)  # before it changes the statistics
            self.return_scaler.update(buffer.rewards, buffer.mask)
        adv = self.advantages(buffer, last_values)
        returns = None
        if self.uses_critic:
            mask = buffer.mask
            returns = torch.where(mask, adv + buffer.values, 0.0)  # GAE value targets
            valid = adv[mask]
            if valid.numel() > 1 and float(valid.std()) > 1e-8:
                adv = torch.where(mask, (adv - valid.mean()) / valid.std(), 0.0)
        recomputed = self.old_logprobs(buffer) if cfg.recompute_old_logprobs else None
        sampler_gap = math.nan
        sums: dict[str, float] = {}
        first_log_ratio = math.nan
        ratio_max = 0.0
        n_mb = 0
        params = [p for g in self.optimizer.param_groups for p in g['params']]
        dp = self.dp
        for epoch in range(cfg.update_epochs):
            for mb in buffer.minibatches(adv, cfg.minibatch_size, generator=self.generator,
                                         returns=returns):
                device = getattr(self.policy, 'device', 'cpu')
                denominators = None
                if dp is not None:  # this rank's rows; the loss divides by every rank's count
                    mb = mb.select(dp.rows(len(mb)))
                    denominators = dp.sum(torch.stack([
                        loss_denominator(torch.ones(mb.token_ids.shape, dtype=torch.bool),
                                         mb.step_weights, cfg),
                        torch.tensor(float(len(mb)))]))
                self.optimizer.zero_grad(set_to_none=True)
                metrics: dict[str, float] = {}
                log_ratio_max = 0.0
                if len(mb):
                    loss, metrics, log_ratio_max = self._minibatch_loss(
                        mb, recomputed, device, denominators)
                    if recomputed is not None and epoch == 0:
                        gap = float((recomputed[mb.env_index, mb.step_index]
                                     - mb.old_logprobs).abs().max())
                        sampler_gap = gap if math.isnan(sampler_gap) else max(sampler_gap, gap)
                    loss.backward()
                if dp is not None:
                    dp.sum_gradients(params)
                    metrics, log_ratio_max = self._gather_metrics(mb, metrics, log_ratio_max)
                if n_mb == 0:
                    first_log_ratio = log_ratio_max
                max_norm = cfg.max_grad_norm if cfg.max_grad_norm is not None else math.inf
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
                self.optimizer.step()
                metrics['grad_norm'] = grad_norm
                for k, v in metrics.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                ratio_max = max(ratio_max, float(metrics.get('ratio_max', 0.0)))
                n_mb += 1
        if dp is not None and not math.isnan(sampler_gap):
            sampler_gap = float(dp.max(torch.tensor(sampler_gap)))
        mean = {k: v / max(n_mb, 1) for k, v in sums.items()}
        return UpdateResult(
            loss=mean.get('loss', math.nan), pg_loss=mean.get('pg_loss', math.nan),
            kl_ref=mean.get('kl_ref', 0.0), approx_kl=mean.get('approx_kl', math.nan),
            clip_frac=mean.get('clip_frac', math.nan), ratio_mean=mean.get('ratio_mean', 1.0),
            ratio_max=ratio_max, first_abs_log_ratio_max=first_log_ratio,
            grad_norm=mean.get('grad_norm', math.nan), samples=len(buffer), minibatches=n_mb,
            update_time_s=time.monotonic() - t0, value_loss=mean.get('value_loss', math.nan),
            explained_variance=mean.get('explained_variance', math.nan),
            sampler_abs_log_ratio_max=sampler_gap)

    def _minibatch_loss(self, mb, recomputed: torch.Tensor | None, device,
                        denominators: torch.Tensor | None):
        """Return (loss, metrics, max |log ratio|) of one minibatch (a rank's share of it).

        denominators: (2,) a data-parallel minibatch's loss denominator and valid samples over
        every rank; None = this minibatch's own.
        """
        cfg = self.config
        ref = None
        if cfg.beta > 0:  # first: it switches adapters, which must not meet a live graph
            ref = self.policy.token_logprobs(mb.observations, mb.token_ids, cfg.temperature,
                                             grad=False, reference=True)
        if self.uses_critic:
            new, values = self.policy.evaluate(mb.observations, mb.token_ids, cfg.temperature,
                                               grad=True, values=True)
        else:
            new = self.policy.token_logprobs(mb.observations, mb.token_ids, cfg.temperature,
                                             grad=True)
        old = mb.old_logprobs if recomputed is None else recomputed[mb.env_index,
                                                                     mb.step_index]
        old = old.to(new.device)
        loss, metrics = policy_loss(
            new, old, mb.advantages.to(device), ref_logprobs=ref,
            step_weights=mb.step_weights.to(device), config=cfg,
            denominator=None if denominators is None else denominators[0])
        if self.uses_critic:
            v_loss, v_metrics = value_loss(
                values, mb.old_values.to(values.device), mb.returns.to(values.device),
                config=cfg, denominator=None if denominators is None else denominators[1])
            loss = loss + cfg.value_loss_coef * v_loss
            metrics.update(v_metrics)
            metrics['loss'] = float(loss.detach())
        return loss, metrics, float((new.detach().float() - old).abs().max())

    def _gather_metrics(self, mb, metrics: dict[str, float],
                        log_ratio_max: float) -> tuple[dict[str, float], float]:
        """Combine the ranks' metrics of one data-parallel minibatch into the whole one's."""
        keys = ['loss', 'pg_loss', 'approx_kl', 'clip_frac', 'ratio_mean', 'entropy_estimate']
        keys += ['kl_ref'] if self.config.beta > 0 else []
        keys += ['value_loss', 'value_clip_frac', 'explained_variance'] if self.uses_critic \
            else []
        tokens = float(mb.token_ids.numel())
        local = [metrics.get(k, 0.0) * (1.0 if k in _SHARES else tokens) for k in keys]
        total = self.dp.sum(torch.tensor(local + [tokens], dtype=torch.float64))
        out = {k: float(total[i]) if k in _SHARES else float(total[i] / max(total[-1], 1.0))
               for i, k in enumerate(keys)}
        peaks = self.dp.max(torch.tensor([metrics.get('ratio_max', 0.0), log_ratio_max]))
        out['ratio_max'] = float(peaks[0])
        return out, float(peaks[1])

    def old_logprobs(self, buffer: GroupRolloutBuffer) -> torch.Tensor:
        """(N, T, K) float32 log-probs of the group's tokens under the current weights (no grad).

        In minibatches of ``minibatch_size`` (what fits the update fits here too); 0 where
        masked. Indexed by a minibatch's ``env_index`` and ``step_index``.
        """
        cfg = self.config
        obs, tokens, env_index, step_index = buffer.steps()
        out = torch.zeros(*buffer.mask.shape, tokens.shape[1])
        mine = self.dp.rows(len(obs)) if self.dp is not None else slice(0, len(obs))
        for s in range(mine.start, mine.stop, cfg.minibatch_size):
            rows = slice(s, min(s + cfg.minibatch_size, mine.stop))
            logp = self.policy.token_logprobs(obs[rows], tokens[rows], cfg.temperature,
                                              grad=False)
            out[env_index[rows], step_index[rows]] = logp.detach().float().cpu()
        # each rank filled its rows, zeros elsewhere
        return out if self.dp is None else self.dp.sum(out)

    # --- resume -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = {'optimizer': self.optimizer.state_dict(),
                 'generator': self.generator.get_state()}
        if self.uses_critic:  # the adapter files hold LoRA only; the critic resumes from here
            state['value_head'] = self.policy.value_head.state_dict()
        if self.return_scaler is not None:
            state['return_scaler'] = self.return_scaler.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        if self.uses_critic:
            scaled = 'return_scaler' in state
            if scaled != (self.return_scaler is not None):
                # The critic learned targets in the run's units; switching would mislead it.
                raise ValueError(f'this run was trained with algo.reward_scaling={scaled}; '
                                 'resume it with the same setting')
            self.policy.value_head.load_state_dict(state['value_head'])
            if scaled:
                self.return_scaler.load_state_dict(state['return_scaler'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.generator.set_state(state['generator'])


def _require_values(buffer: GroupRolloutBuffer) -> None:
    if buffer.values is None:
        raise ValueError("estimator 'gae' needs the critic's values in the buffer: fill them "
                         'with tgrpo_ros.training.driver.critic_values before the update')
