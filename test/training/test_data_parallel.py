# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A data-parallel update over 2 CPU processes (gloo) gives the single-process LoRA weights.

The group has trajectories of unequal lengths and minibatches that do not divide evenly, so
the ranks hold unequal numbers of valid tokens (and, with 'seq-mean', unequal trajectory
weights) in most minibatches, and the last minibatch of 1 row leaves one rank empty. Each run
is two updates of two epochs, so the optimiser state after the first must agree too. Every
process (the single one included) is spawned alike, one thread each.

Measured as the issue asks, max |w_dp - w| / max |w| over the whole adapter, at the paper's
learning rate (1e-5), and the first minibatch's summed gradient the same way. Element by
element the weights cannot agree to 1e-5: AdamW divides each entry's step by its own gradient
scale, so an entry whose gradient is near zero turns summation-order rounding (~1e-7 of the
gradient) into a visible share of its step (so does DistributedDataParallel against one GPU).
The test also requires the difference to be under 1% of how far the updates moved the weights.
"""

from __future__ import annotations

import csv
import multiprocessing

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tgrpo_ros.algo import GroupRolloutBuffer, TGRPOConfig
from tgrpo_ros.observation import Observation
from tgrpo_ros.training.settings import SimTrainSettings

LENGTHS = (7, 3, 5)  # valid steps per trajectory: 15 samples, minibatches of 7, 7, 1
CONFIGS = {
    # the paper's loss: fused advantages, seq-mean, KL to the reference, recomputed old log-probs
    'tgrpo_seq_mean_kl': {'estimator': 'tgrpo', 'loss_aggregation': 'seq-mean', 'beta': 0.04,
                          'recompute_old_logprobs': True},
    'traj_token_mean': {'estimator': 'traj', 'loss_aggregation': 'token-mean', 'beta': 0.0},
    'gae_value_head': {'estimator': 'gae', 'loss_aggregation': 'token-mean', 'beta': 0.0},
}


def _group(policy, estimator: str, seed: int) -> GroupRolloutBuffer:
    rng = np.random.default_rng(seed)
    n, t = len(LENGTHS), max(LENGTHS)
    buf = GroupRolloutBuffer(n, t, 'all_done')
    buf.reset(1)
    gen = torch.Generator().manual_seed(seed)
    for step in range(t):
        active = [i for i in range(n) if step < LENGTHS[i]]
        obs = [Observation(images={'agentview': rng.integers(0, 255, (32, 32, 3), np.uint8)},
                           instruction='put the bowl on the plate') for _ in active]
        s = policy.sample(obs, 1.0, gen)
        for j, i in enumerate(active):
            buf.add(i, step, obs[j], s.token_ids[j], s.logprobs[j],
                    float(rng.normal() + i), done=step == LENGTHS[i] - 1,
                    value=float(rng.normal()) if estimator == 'gae' else None)
    return buf


def _run(rank: int, world: int, init_file: str, name: str, out: str) -> None:
    torch.set_num_threads(1)
    from tgrpo_ros.training.distributed import DataParallel
    from tgrpo_ros.training.policy_setup import build_policy
    from tgrpo_ros.training.trainer import TGRPOTrainer
    dp = None
    if world > 1:
        dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                                world_size=world)
        dp = DataParallel()
    try:
        torch.manual_seed(0)  # the value head's initial weights
        policy = build_policy('tiny:test', lora_rank=4, seed=3)
        cfg = TGRPOConfig(group_size=len(LENGTHS), minibatch_size=7, update_epochs=2,
                          lr=1e-5, **CONFIGS[name])
        trainer = TGRPOTrainer(policy, cfg, seed=5, data_parallel=dp)
        initial = [p.detach().clone() for p in policy.trainable_parameters()]
        step, grads = trainer.optimizer.step, []

        def record_then_step(*args, **kwargs):  # the gradients the optimiser is given
            if not grads:
                grads.extend(torch.zeros_like(p) if p.grad is None else p.grad.clone()
                             for p in policy.trainable_parameters())
            return step(*args, **kwargs)
        trainer.optimizer.step = record_then_step
        results = []
        for k in range(2):
            buf = _group(policy, cfg.estimator, seed=10 + k)
            results.append(trainer.update(buf, [0.0] * len(LENGTHS)
                                          if cfg.estimator == 'gae' else None))
        weights = {f'p{i}': p.detach().clone()
                   for i, p in enumerate(policy.trainable_parameters())}
        moved = max(float((p - q).abs().max()) for p, q in zip(weights.values(), initial))
        torch.save({'weights': weights, 'moved': moved, 'first_grads': grads,
                    'loss': [r.loss for r in results],
                    'minibatches': [r.minibatches for r in results]}, f'{out}.rank{rank}.pt')
    finally:
        if dp is not None:
            dist.destroy_process_group()


def _spawn(world: int, tmp_path, name: str) -> list[dict]:
    out = str(tmp_path / f'{name}_w{world}')
    mp.start_processes(_run, args=(world, str(tmp_path / f'init_{name}_{world}'), name, out),
                       nprocs=world, join=True, start_method='spawn')
    return [torch.load(f'{out}.rank{r}.pt') for r in range(world)]


def _relative(got: list[torch.Tensor], want: list[torch.Tensor]) -> tuple[float, float]:
    a = torch.cat([t.reshape(-1) for t in got])
    b = torch.cat([t.reshape(-1) for t in want])
    diff = float((a - b).abs().max())
    return diff, diff / float(b.abs().max())


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_two_gloo_ranks_give_the_single_process_weights(tmp_path, name):
    single, = _spawn(1, tmp_path, name)
    ranks = _spawn(2, tmp_path, name)
    # The ranks agree with each other exactly: same all-reduced gradients, same steps.
    for key, w in ranks[0]['weights'].items():
        assert torch.equal(w, ranks[1]['weights'][key]), key
    _, grad_rel = _relative(ranks[0]['first_grads'], single['first_grads'])
    assert grad_rel <= 1e-5, f'{name}: the first summed gradient differs by {grad_rel:.2e}'
    diff, rel = _relative(list(ranks[0]['weights'].values()), list(single['weights'].values()))
    assert rel <= 1e-5, f'{name}: the adapters differ by {rel:.2e} of the largest weight'
    assert diff <= 0.01 * single['moved'], \
        f'{name}: the adapters differ by {diff:.2e}, the updates moved them {single["moved"]:.2e}'
    assert ranks[0]['minibatches'] == single['minibatches'] == [6, 6]
    np.testing.assert_allclose(ranks[0]['loss'], single['loss'], rtol=1e-4, atol=1e-6)


def _driver_settings(out, processes: int, resume: bool = False, iterations: int = 3):
    return SimTrainSettings.from_flat({
        'policy.model': 'tiny:test', 'policy.lora_rank': 4, 'policy.torch_threads': 1,
        'run.iterations': iterations, 'run.output_dir': str(out), 'run.resume': resume,
        'run.update_processes': processes, 'env.max_steps': 6, 'env.image_size': 32,
        'env.init_states': (0, 1), 'eval.every': 0, 'algo.group_size': 3, 'algo.lr': 1e-5,
        'algo.minibatch_size': 5, 'algo.loss_aggregation': 'seq-mean'})


def _adapter(run, iteration: int) -> list[torch.Tensor]:
    from safetensors.torch import load_file
    tensors = load_file(str(run / 'adapters' / f'iter_{iteration:04d}' /
                            'adapter_model.safetensors'))
    return [tensors[k] for k in sorted(tensors)]


def test_a_training_run_with_two_update_processes_learns_what_one_does(tmp_path):
    """Run the driver with run.update_processes 2 against one process.

    A worker process beside the learner; the run is resumed once, so the worker must take the
    loaded adapter and optimiser state.
    """
    from training_fakes import FakeGroups

    from tgrpo_ros.training.driver import train_in_process
    lines: list[str] = []
    train_in_process(_driver_settings(tmp_path / 'one', 1), make_envs=FakeGroups(),
                     log=lines.append)
    assert not any('shared by' in line for line in lines)
    two = tmp_path / 'two'
    for settings in (_driver_settings(two, 2, iterations=2),
                     _driver_settings(two, 2, resume=True)):
        lines = []
        train_in_process(settings, make_envs=FakeGroups(), log=lines.append)
        # printed after the first collective of both ranks: the worker joined
        assert sum('the update is shared by 2 processes' in line for line in lines) == 1, lines
        assert not multiprocessing.active_children()  # the worker stopped with the run

    def rows(run):
        with open(run / 'metrics.csv', newline='') as f:
            return list(csv.DictReader(f))
    one_rows, two_rows = rows(tmp_path / 'one'), rows(two)
    assert [r['iteration'] for r in two_rows] == ['1', '2', '3']
    # Same groups were collected (the weights acting agreed), same returns.
    assert [r['returns'] for r in two_rows] == [r['returns'] for r in one_rows]
    np.testing.assert_allclose([float(r['loss']) for r in two_rows],
                               [float(r['loss']) for r in one_rows], rtol=1e-4, atol=1e-6)
    for it in (1, 2, 3):
        diff, rel = _relative(_adapter(two, it), _adapter(tmp_path / 'one', it))
        assert rel <= 1e-5, f'iteration {it}: adapters differ by {rel:.2e}'
