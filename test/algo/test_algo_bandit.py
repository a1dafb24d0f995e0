# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""End to end on a toy problem: buffer, TGRPO advantages and the loss teach a tiny policy.

A multi-step bandit shaped like the VLA's action space: at each of T steps the policy picks 7
"action tokens", each from a few arms; the best arm of each token depends on the step. The
dense step reward is the fraction of the 7 tokens on their best arm, plus noise. The policy is
a table of logits (T, 7, arms), so ``token_logprobs`` is a lookup. It is trained exactly as the
learner will: one group of 4 per iteration through ``GroupRolloutBuffer``,
``compute_advantages(..., 'tgrpo')``, shuffled minibatches and ``policy_loss`` with the k3 KL to
the initial (uniform) policy.
"""

import torch

from tgrpo_ros.algo import compute_advantages, GroupRolloutBuffer, policy_loss, TGRPOConfig

STEPS, TOKENS, ARMS = 4, 7, 4
ITERATIONS = 80


class TablePolicy(torch.nn.Module):
    """pi(token k = a | step t) = softmax(logits[t, k])[a]; the observation is the step."""

    def __init__(self):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(STEPS, TOKENS, ARMS))

    def token_logprobs(self, observations, token_ids, logits=None):
        """Return log-probs (B, 7) of token_ids (B, 7) at the observed steps (B,)."""
        logits = self.logits if logits is None else logits
        steps = torch.as_tensor(observations)
        log_p = torch.log_softmax(logits[steps], dim=-1)           # (B, 7, ARMS)
        return log_p.gather(-1, token_ids[..., None])[..., 0]

    @torch.no_grad()
    def sample(self, step, n, generator):
        """Return tokens (n, 7) and their log-probs (n, 7) at ``step``."""
        probs = torch.softmax(self.logits[step], dim=-1)           # (7, ARMS)
        tokens = torch.multinomial(probs, n, replacement=True, generator=generator).T
        return tokens, self.token_logprobs([step] * n, tokens)


def train(seed):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    best = torch.randint(ARMS, (STEPS, TOKENS), generator=g)
    cfg = TGRPOConfig(lr=0.1, update_epochs=2, minibatch_size=8)
    policy = TablePolicy()
    reference = policy.logits.detach().clone()
    optimiser = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    buffer = GroupRolloutBuffer(cfg.group_size, STEPS, cfg.group_completion)

    for iteration in range(ITERATIONS):
        buffer.reset(group_id=iteration)
        for step in range(STEPS):
            tokens, logprobs = policy.sample(step, cfg.group_size, g)
            on_best = (tokens == best[step]).float().mean(dim=1)
            rewards = on_best + 0.05 * torch.randn(cfg.group_size, generator=g)
            for env in range(cfg.group_size):
                buffer.add(env, step, step, tokens[env], logprobs[env], float(rewards[env]))
        assert buffer.is_complete

        advantages = compute_advantages(buffer.rewards, buffer.mask, cfg.estimator, cfg)
        for _ in range(cfg.update_epochs):
            for mb in buffer.minibatches(advantages, cfg.minibatch_size, generator=g):
                new = policy.token_logprobs(mb.observations, mb.token_ids)
                ref = policy.token_logprobs(mb.observations, mb.token_ids, reference)
                loss, _ = policy_loss(new, mb.old_logprobs, mb.advantages, ref_logprobs=ref,
                                      step_weights=mb.step_weights, config=cfg)
                optimiser.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
                optimiser.step()
    probs = torch.softmax(policy.logits.detach(), dim=-1)
    return best, probs


def test_tgrpo_finds_the_best_arm_for_5_of_5_seeds():
    torch.set_num_threads(1)
    for seed in range(5):
        best, probs = train(seed)
        greedy = probs.argmax(dim=-1)
        assert torch.equal(greedy, best), f'seed {seed}: greedy {greedy} != best {best}'
        p_best = probs.gather(-1, best[..., None])[..., 0]
        assert p_best.mean() > 0.9, f'seed {seed}: mean p(best) {p_best.mean():.3f}'
