# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The rule for abnormal trials (tgrpo_ros.training.trials), ROS-free, and through the driver.

A trial that ends abnormally is masked out of its group; the group is kept with >= 2 valid
trials (advantages among them alone, the masked one adds nothing to the loss), else skipped;
both are counted in metrics.csv and printed.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from safetensors.torch import load_file
import torch
from training_fakes import FakeEnv, FakeGroups

from tgrpo_ros.algo import compute_advantages, GroupRolloutBuffer, TGRPOConfig
from tgrpo_ros.contract import DoneReason
from tgrpo_ros.observation import StepOutcome
from tgrpo_ros.training.collector import Group, group_stats, GroupRequest
from tgrpo_ros.training.driver import train_in_process
from tgrpo_ros.training.settings import SimTrainSettings
from tgrpo_ros.training.step_assembler import (ActionRecord, ObservationRecord, ResultRecord,
                                               StepAssembler, StepIds)
from tgrpo_ros.training.trials import apply_trial_rule, valid_stats

TOKENS = torch.zeros(7, dtype=torch.int64)
LOGP = torch.full((7,), -1.0)


def _group(rewards: list[list[float]], valid: list[bool], reasons=None,
           completion='all_done') -> Group:
    """Return a complete group: trajectory i gets rewards[i], observations 'o{i}.{t}'."""
    n = len(rewards)
    buf = GroupRolloutBuffer(n, 10, completion)
    buf.reset(5)
    for i, rs in enumerate(rewards):
        for t, r in enumerate(rs):
            buf.add(i, t, f'o{i}.{t}', TOKENS + t, LOGP, r, done=t == len(rs) - 1)
    request = GroupRequest(group_id=5, task='0', init_states=tuple(range(n)), seed=1,
                           num_envs=n, max_steps=10, completion=completion, temperature=1.0)
    return Group(request=request, buffer=buf, stats=group_stats(buf, [0] * n, 1, 0.1),
                 final_observations=[None] * n, valid=valid, reasons=reasons or [])


def test_a_masked_trial_takes_no_part_in_the_advantages_or_the_samples():
    good = [[0.1, 0.5, 0.2], [0.3, 0.1, 0.9, 0.4]]
    # The abnormal trial's rewards are wild: if they took part, every advantage would move.
    group = _group([good[0], [100.0, -50.0], good[1]], [True, False, True],
                   ['', 'env_died', ''])
    out = apply_trial_rule(group)
    assert not out.skipped and out.masked == 1 and out.reasons == ['env_died']
    kept = out.group
    assert kept.request.num_envs == 2 and kept.request.init_states == (0, 2)
    assert kept.buffer.lengths.tolist() == [3, 4] and len(kept.buffer) == 7
    # advantages z-scored among the valid trials alone
    alone = _group(good, [True, True])
    cfg = TGRPOConfig()
    for estimator in ('tgrpo', 'traj', 'step'):
        c = TGRPOConfig(estimator=estimator)
        a = compute_advantages(kept.buffer.rewards, kept.buffer.mask, estimator, c,
                               success=kept.buffer.success)
        b = compute_advantages(alone.buffer.rewards, alone.buffer.mask, estimator, c,
                               success=alone.buffer.success)
        assert torch.equal(a, b)
    # every sample the update sees is a valid trial's, with its own tokens
    adv = compute_advantages(kept.buffer.rewards, kept.buffer.mask, 'tgrpo', cfg)
    seen = [o for mb in kept.buffer.minibatches(adv, 3) for o in mb.observations]
    assert sorted(seen) == sorted([f'o0.{t}' for t in range(3)] + [f'o2.{t}' for t in range(4)])
    obs, tokens, env_index, step_index = kept.buffer.steps()
    assert torch.equal(tokens[:, 0], step_index)
    # what is reported: the valid trials
    assert out.stats.returns == pytest.approx([0.8, 1.7]) and out.stats.env_steps == 7


def test_a_group_with_fewer_than_two_valid_trials_is_skipped():
    group = _group([[1.0, 2.0], [0.5], [0.2, 0.2, 0.2]], [False, True, False],
                   ['timeout', '', 'env_died'])
    out = apply_trial_rule(group)
    assert out.skipped and out.group is None
    assert out.masked == 2 and out.reasons == ['timeout', 'env_died']
    assert out.stats is group.stats  # reported as it happened; nothing learned from it
    assert apply_trial_rule(_group([[1.0], [2.0]], [False, False])).skipped
    normal = apply_trial_rule(_group([[1.0], [2.0]], [True, True]))
    assert normal.group is not None and normal.masked == 0 and normal.reasons == []
    # evaluations pool only the valid trials
    assert valid_stats(group).returns == [0.5] and valid_stats(group).env_steps == 1


def test_masking_the_first_success_leaves_a_complete_group_of_the_others():
    """A first-success group cut at a trial that is then masked: the others stay as cut."""
    buf = GroupRolloutBuffer(3, 10, 'first_success')
    buf.reset(1)
    for t in range(3):
        for i in range(3):
            if buf.is_active(i):
                buf.add(i, t, f'o{i}.{t}', TOKENS, LOGP, 0.1 * i, success=(i == 1 and t == 1))
    assert buf.is_complete and buf.lengths.tolist() == [2, 2, 2]
    request = GroupRequest(group_id=1, task='0', init_states=(0, 0, 0), seed=1, num_envs=3,
                           max_steps=10, completion='first_success', temperature=1.0)
    group = Group(request=request, buffer=buf, stats=group_stats(buf, [0] * 3, 1, 0.1),
                  final_observations=[None] * 3, valid=[True, False, True])
    kept = apply_trial_rule(group).group
    assert kept.buffer.is_complete and kept.buffer.lengths.tolist() == [2, 2]
    assert not kept.buffer.success.any()


def test_a_stopped_trajectory_lets_the_group_complete():
    buf = GroupRolloutBuffer(2, 10, 'all_done')
    buf.add(0, 0, 'a', TOKENS, LOGP, 1.0, done=True)
    buf.add(1, 0, 'b', TOKENS, LOGP, 1.0)
    assert not buf.is_complete
    buf.stop(1)  # its environment died: no more steps will come
    assert buf.is_complete and not buf.is_active(1) and buf.lengths.tolist() == [1, 1]


def test_an_abandoned_trajectory_is_invalid_and_lets_the_group_complete():
    """What the ROS collector does when an environment dies or a step never comes."""
    asm = StepAssembler(4, ['a', 'b'], GroupRolloutBuffer(2, 5, 'all_done'), 0, 1.0)

    def step(env, k, done=False):
        ids = StepIds(env, 1, k, 4)
        asm.add_observation(ObservationRecord(ids, f'{env}{k}'))
        asm.add_action(ActionRecord(ids, TOKENS.numpy(), LOGP.numpy(), 0, 1.0))
        asm.add_result(ResultRecord(ids, 1.0, done=done))
    step('a', 0)
    step('b', 0)
    step('a', 1, done=True)
    assert not asm.is_complete
    asm.abandon(1, 'timeout')  # b's step 1 never came
    assert asm.is_complete and asm.env_done(1)
    assert asm.valid == [True, False] and asm.reasons == ['', 'timeout']
    step('b', 1)  # arrives late: not joined
    assert asm.buffer.lengths.tolist() == [2, 1] and asm.counts['joined'] == 3


# --- through the driver, in process ----------------------------------------------------------
class FailingGroups(FakeGroups):
    """Environments whose ``fail`` (iteration -> env indices) report an error at step 1."""

    def __init__(self, fail: dict[int, set[int]]):
        super().__init__()
        self.fail = fail

    def __call__(self, task, num_envs):
        group = super().__call__(task, num_envs)
        fail = self.fail

        class Failing(FakeEnv):
            def __init__(self, index):
                super().__init__(6)
                self.index = index

            def step(self, action):
                obs, out = super().step(action)
                it = self.log[-1][1] - 100  # training seeds are run.seed (100) + iteration
                if self.steps == 2 and self.index in fail.get(it, ()):
                    self.done = True
                    out = StepOutcome(reward=50.0, stage=0, num_stages=1, success=False,
                                      done=True, done_reason=DoneReason.ERROR.value)
                return obs, out
        group.envs = [Failing(i) for i in range(num_envs)]
        return group


def _settings(out: Path, group_size: int) -> SimTrainSettings:
    return SimTrainSettings.from_flat({
        'policy.model': 'tiny:test', 'policy.lora_rank': 4, 'run.iterations': 3,
        'env.max_steps': 6, 'env.image_size': 32, 'run.output_dir': str(out), 'run.seed': 100,
        'env.init_states': (0, 1), 'eval.every': 0, 'eval.episodes': 0,
        'policy.torch_threads': 0, 'algo.group_size': group_size, 'algo.lr': 1e-3,
        'algo.minibatch_size': 64, 'algo.group_completion': 'all_done'})


def _rows(path: Path) -> list[dict]:
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def test_the_driver_masks_and_skips_and_counts_them(tmp_path):
    lines: list[str] = []
    # iteration 2: one of 3 trials fails (masked, group kept); iteration 3: two fail (skipped)
    train_in_process(_settings(tmp_path, 3), make_envs=FailingGroups({2: {1}, 3: {0, 2}}),
                     log=lines.append)
    rows = _rows(tmp_path / 'metrics.csv')
    assert [(r['masked_trials'], r['group_skipped'], r['masked_reasons']) for r in rows] == \
        [('0', '0', ''), ('1', '0', 'error'), ('2', '1', 'error;error')]
    # iteration 2 learned from its 2 valid trials only (the failed one's reward of 50 is gone)
    assert len(rows[1]['returns'].split(';')) == 2 and float(rows[1]['max_return']) < 50
    assert int(rows[1]['env_steps']) == sum(int(x) for x in rows[1]['lengths'].split(';'))
    assert math.isfinite(float(rows[1]['loss']))
    # iteration 3: nothing learned, the adapter saved unchanged as version 3
    assert math.isnan(float(rows[2]['loss']))
    w2, w3 = (load_file(str(tmp_path / 'adapters' / f'iter_000{i}' / 'adapter_model.safetensors'))
              for i in (2, 3))
    assert w2.keys() == w3.keys() and all(torch.equal(w2[k], w3[k]) for k in w2)
    assert int(rows[2]['policy_version']) == 3
    printed = [s for s in lines if 'masked' in s]
    assert len(printed) == 2 and 'group skipped' in printed[1]

