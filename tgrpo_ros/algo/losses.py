# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The TGRPO policy objective and PPO's clipped value loss, as pure functions.

Policy loss, per action token k of sample b (one sample = one step of one trajectory, 7 tokens):

    rho[b, k]  = pi_theta(a) / pi_old(a) = exp(new_logprobs - old_logprobs)
    pg[b, k]   = -min(rho * A[b], clip(rho, 1 - eps, 1 + eps_high) * A[b])
    kl[b, k]   = r - log r - 1,  r = pi_ref(a) / pi_theta(a)   (k3 estimator, >= 0)
    loss_tok   = pg + beta * kl

Minimising it maximises the paper's min(rho A, clip(rho) A) - beta KL. ``loss_tok`` is then
aggregated over the minibatch (``registry.LOSS_AGGREGATIONS``, filled here):

- 'token-mean': the mean over all valid tokens; a step's weight grows with its valid tokens and
  a trajectory's with its steps.
- 'seq-mean': every trajectory weighs the same, as the paper writes the objective,
  1/N sum_i 1/M_i sum_t 1/7 sum_k. Each sample carries ``step_weights[b] = 1 / M_i`` (the
  buffer supplies it) and the loss is the weighted mean of the per-step token means; over a
  minibatch holding the whole group that is exactly the paper's average.

With the paper's groups (all trajectories of one length, all 7 tokens valid) the two agree.

Both losses return ``(loss, metrics)``: a scalar tensor to backpropagate and a dict of floats
to log.
"""

from __future__ import annotations

import torch

from tgrpo_ros.algo.config import TGRPOConfig
from tgrpo_ros.algo.registry import LOSS_AGGREGATIONS, register_aggregation

# exp() of a log-ratio beyond this overflows float32; the KL term is clamped there (the
# gradient is already meaningless that far from the reference).
MAX_LOG_RATIO = 20.0


# --- aggregation ----------------------------------------------------------------------------
# Each aggregation is a ratio, registered as its two parts: a data-parallel update sums the
# numerators and the denominators over its ranks, which gives the single-process loss exactly
# (a mean of per-rank means would not, with unequal valid tokens per rank).
@register_aggregation('token-mean')
def token_mean_parts(values: torch.Tensor, token_mask: torch.Tensor,
                     step_weights: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of ``values`` (B, K) over the True entries of ``token_mask`` (B, K), and their count."""
    mask = token_mask.to(values.dtype)
    return (values * mask).sum(), mask.sum()


@register_aggregation('seq-mean')
def seq_mean_parts(values: torch.Tensor, token_mask: torch.Tensor,
                   step_weights: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted sum over steps (B,) of per-step means over valid tokens (B, K), and the weights'.

    step_weights (B,): 1 / (valid steps of the sample's trajectory), so each trajectory weighs
    the same. Steps without a valid token are left out.
    """
    if step_weights is None:
        raise ValueError("loss_aggregation 'seq-mean' needs step_weights (B,) = 1 / (valid steps "
                         "of each sample's trajectory); the rollout buffer's minibatches have it")
    mask = token_mask.to(values.dtype)
    tokens = mask.sum(dim=1)
    per_step = (values * mask).sum(dim=1) / tokens.clamp(min=1.0)
    weights = torch.where(tokens > 0, step_weights.to(values.dtype), torch.zeros_like(tokens))
    return (weights * per_step).sum(), weights.sum()


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    # 0 when nothing counts (the numerator is then 0 too)
    return numerator / denominator.clamp(min=torch.finfo(numerator.dtype).tiny)


def token_mean(values: torch.Tensor, token_mask: torch.Tensor,
               step_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``values`` (B, K) over the True entries of ``token_mask`` (B, K); 0 if none."""
    return _ratio(*token_mean_parts(values, token_mask))


def seq_mean(values: torch.Tensor, token_mask: torch.Tensor,
             step_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted mean over steps of each step's mean over its valid tokens; 0 if none.

    step_weights (B,) as in ``seq_mean_parts``.
    """
    return _ratio(*seq_mean_parts(values, token_mask, step_weights))


def loss_denominator(token_mask: torch.Tensor, step_weights: torch.Tensor | None,
                     config: TGRPOConfig) -> torch.Tensor:
    """Return the policy loss's denominator for a minibatch under ``config.loss_aggregation``.

    token_mask: (B, K) bool; step_weights: (B,). A data-parallel update all-reduces (sums) it
    over its ranks and passes the sum to ``policy_loss(denominator=...)``.
    """
    zeros = torch.zeros(token_mask.shape, dtype=torch.float32, device=token_mask.device)
    return LOSS_AGGREGATIONS[config.loss_aggregation](zeros, token_mask, step_weights)[1]


# --- policy loss ----------------------------------------------------------------------------
def policy_loss(new_logprobs: torch.Tensor, old_logprobs: torch.Tensor,
                advantages: torch.Tensor, *, ref_logprobs: torch.Tensor | None = None,
                token_mask: torch.Tensor | None = None,
                step_weights: torch.Tensor | None = None,
                entropy: torch.Tensor | None = None,
                config: TGRPOConfig | None = None,
                denominator: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped-ratio surrogate plus beta * k3 KL to the reference, aggregated; (loss, metrics).

    new_logprobs: (B, K) log pi_theta of the taken tokens, with gradient (K = 7 action tokens).
    old_logprobs: (B, K) log-probs recorded when sampling (no gradient needed).
    advantages: (B,) one advantage per sample (step), shared by its K tokens.
    ref_logprobs: (B, K) reference-policy log-probs; required when config.beta > 0, and when
        given with beta = 0 only reported (metric 'kl_ref').
    token_mask: (B, K) bool, True for tokens that count; None = all.
    step_weights: (B,) 1 / (valid steps of the sample's trajectory), for 'seq-mean'.
    entropy: (B, K) per-token entropies of pi_theta, if the caller has the full distribution;
        only reported.
    config: clip_eps, clip_eps_high, beta, loss_aggregation; ``TGRPOConfig()`` when None.
    denominator: () the aggregation's denominator over a data-parallel update's whole minibatch
        (the sum over ranks of ``loss_denominator``); None = this minibatch's own. Given, the
        loss and ``pg_loss`` are this rank's share: summed over ranks they are the loss.

    Metrics: loss, pg_loss, kl_ref (if ref given), approx_kl (k3 of KL(old || new), how far this
    update moved), clip_frac (tokens whose gradient the clip stopped), ratio_mean, ratio_max,
    entropy (if given), entropy_estimate (mean -old_logprobs: an unbiased estimate of the
    sampling policy's per-token entropy, since the tokens were drawn from it).
    Log-probs are upcast to float32 (bf16 log-ratios lose the 1e-4 agreement of epoch one).
    """
    if config is None:
        config = TGRPOConfig()
    b, k = _check_logprobs(new_logprobs, 'new_logprobs')
    _check_same(old_logprobs, (b, k), 'old_logprobs')
    if advantages.shape != (b,):
        raise ValueError(f'advantages must have shape ({b},), one per sample; got '
                         f'{tuple(advantages.shape)}')
    if token_mask is None:
        token_mask = torch.ones(b, k, dtype=torch.bool, device=new_logprobs.device)
    elif token_mask.shape != (b, k) or token_mask.dtype != torch.bool:
        raise ValueError(f'token_mask must be a bool tensor of shape ({b}, {k}); got '
                         f'{token_mask.dtype} {tuple(token_mask.shape)}')
    if step_weights is not None and step_weights.shape != (b,):
        raise ValueError(f'step_weights must have shape ({b},); got {tuple(step_weights.shape)}')
    if config.beta > 0 and ref_logprobs is None:
        raise ValueError(f'beta = {config.beta} > 0 needs ref_logprobs (B, K) from the reference '
                         'policy (token_logprobs(..., reference=True))')
    parts = LOSS_AGGREGATIONS[config.loss_aggregation]

    def aggregate(values: torch.Tensor) -> torch.Tensor:
        numerator, own = parts(values, token_mask, step_weights)
        return _ratio(numerator, own if denominator is None else denominator.to(own))

    new = new_logprobs.float()
    old = old_logprobs.detach().float()
    adv = advantages.detach().float()[:, None]
    log_ratio = new - old
    ratio = torch.exp(log_ratio)
    low, high = config.clip_range
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, low, high) * adv
    pg = -torch.minimum(unclipped, clipped)
    per_token = pg

    kl = None
    if ref_logprobs is not None:
        _check_same(ref_logprobs, (b, k), 'ref_logprobs')
        ref_log_ratio = torch.clamp(ref_logprobs.detach().float() - new,
                                    -MAX_LOG_RATIO, MAX_LOG_RATIO)
        kl = torch.exp(ref_log_ratio) - ref_log_ratio - 1.0
        if config.beta > 0:
            per_token = pg + config.beta * kl
    loss = aggregate(per_token)

    with torch.no_grad():
        # The clip stops the gradient where the clipped term is the smaller one and differs.
        stopped = ((ratio > high) & (adv > 0)) | ((ratio < low) & (adv < 0))
        valid_ratio = ratio[token_mask]
        metrics = {
            'loss': loss.item(),
            'pg_loss': aggregate(pg).item(),
            'approx_kl': token_mean((ratio - 1.0) - log_ratio, token_mask).item(),
            'clip_frac': token_mean(stopped.float(), token_mask).item(),
            'ratio_mean': valid_ratio.mean().item() if valid_ratio.numel() else 1.0,
            'ratio_max': valid_ratio.max().item() if valid_ratio.numel() else 1.0,
            'entropy_estimate': token_mean(-old, token_mask).item(),
        }
        if kl is not None:
            metrics['kl_ref'] = token_mean(kl, token_mask).item()
        if entropy is not None:
            _check_same(entropy, (b, k), 'entropy')
            metrics['entropy'] = token_mean(entropy.float(), token_mask).item()
    return loss, metrics


# --- value loss (PPO baseline) --------------------------------------------------------------
def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, *,
               mask: torch.Tensor | None = None,
               config: TGRPOConfig | None = None,
               denominator: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO's clipped value loss 0.5 * max((V - G)^2, (V_clip - G)^2), mean over valid samples.

    values: (B,) current critic output, with gradient.
    old_values: (B,) critic output recorded at rollout time.
    returns: (B,) value targets (GAE advantages + old values).
    mask: (B,) bool, samples that count; None = all.
    config: value_clip (None = plain squared error); ``TGRPOConfig()`` when None.
    denominator: () valid samples over a data-parallel update's whole minibatch; None = these.
    V_clip = old_values + clamp(values - old_values, -value_clip, value_clip) keeps one update
    from moving the critic far from where the advantages were computed. The caller scales the
    loss by config.value_loss_coef. Metrics: value_loss, value_clip_frac (samples where the
    clipped error was the larger), explained_variance of the returns by the old values.
    """
    if config is None:
        config = TGRPOConfig()
    if values.dim() != 1:
        raise ValueError(f'values must have shape (B,); got {tuple(values.shape)}')
    (b,) = values.shape
    _check_same(old_values, (b,), 'old_values')
    _check_same(returns, (b,), 'returns')
    if mask is None:
        mask = torch.ones(b, dtype=torch.bool, device=values.device)
    elif mask.shape != (b,) or mask.dtype != torch.bool:
        raise ValueError(f'mask must be a bool tensor of shape ({b},); got {mask.dtype} '
                         f'{tuple(mask.shape)}')
    v = values.float()
    old = old_values.detach().float()
    target = returns.detach().float()
    error = (v - target) ** 2
    if config.value_clip is None:
        per_sample = error
        clipped_larger = torch.zeros_like(mask)
    else:
        v_clip = old + torch.clamp(v - old, -config.value_clip, config.value_clip)
        error_clip = (v_clip - target) ** 2
        per_sample = torch.maximum(error, error_clip)
        clipped_larger = error_clip > error
    weight = mask.float()
    # a data-parallel update's valid samples over every rank (then this is the rank's share)
    count = (weight.sum() if denominator is None else denominator.to(weight)).clamp(min=1.0)
    loss = 0.5 * (per_sample * weight).sum() / count
    with torch.no_grad():
        target_var = target[mask].var() if int(mask.sum()) > 1 else torch.tensor(0.0)
        residual_var = (target - old)[mask].var() if int(mask.sum()) > 1 else torch.tensor(0.0)
        explained = (1.0 - residual_var / target_var).item() if target_var > 0 else 0.0
        metrics = {
            'value_loss': loss.item(),
            'value_clip_frac': ((clipped_larger.float() * weight).sum() / count).item(),
            'explained_variance': explained,
        }
    return loss, metrics


def _check_logprobs(x: torch.Tensor, name: str) -> tuple[int, int]:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f'{name} must be a float tensor (B, K); got {shape}')
    return x.shape[0], x.shape[1]


def _check_same(x: torch.Tensor, shape: tuple[int, ...], name: str) -> None:
    if not isinstance(x, torch.Tensor) or tuple(x.shape) != shape:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f'{name} must have shape {shape}; got {got}')
