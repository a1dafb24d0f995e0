# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""StepAssembler without ROS or LIBERO: out-of-order, duplicate, missing and foreign messages.

Each step arrives as three records (observation, action, result); the assembler must add every
complete step to the buffer in step order, exactly once, and say what is missing otherwise.
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
import torch

from tgrpo_ros.algo import GroupRolloutBuffer
from tgrpo_ros.contract import DoneReason
from tgrpo_ros.training.step_assembler import (ActionRecord, Missing, ObservationRecord,
                                               ResultRecord, StepAssembler, StepIds)

ENVS = ['env0', 'env1']
GROUP = 3
TEMPERATURE = 0.7  # not exact in float32, as the Action message carries it


def _assembler(completion='all_done', max_steps=4, version=2) -> StepAssembler:
    return StepAssembler(GROUP, ENVS, GroupRolloutBuffer(2, max_steps, completion), version,
                         TEMPERATURE)


def _parts(env: str, step: int, *, group=GROUP, episode=1, reward=None, success=False,
           done=False, version=2, reason='', temperature=TEMPERATURE):
    """Return the three records of one step; the observation is the string '<env>:<step>'."""
    ids = StepIds(env, episode, step, group)
    reward = float(step) + (10.0 if env == 'env1' else 0.0) if reward is None else reward
    return (ObservationRecord(ids, f'{env}:{step}'),
            ActionRecord(ids, np.full(7, 32000 + step, np.int64), np.full(7, -0.5, np.float32),
                         version, temperature),
            ResultRecord(ids, reward, stage=step, num_stages=4, success=success, done=done,
                         done_reason=reason or (DoneReason.SUCCESS.value if success else
                                                DoneReason.MAX_STEPS.value if done else '')))


def _feed(asm: StepAssembler, record) -> bool:
    if isinstance(record, ObservationRecord):
        return asm.add_observation(record)
    if isinstance(record, ActionRecord):
        return asm.add_action(record)
    return asm.add_result(record)


def _episode(env: str, steps: int = 4) -> list:
    return [r for k in range(steps) for r in _parts(env, k, done=k == steps - 1)]


def test_in_order_steps_fill_the_buffer():
    asm = _assembler()
    for r in _episode('env0') + _episode('env1'):
        assert _feed(asm, r)
    assert asm.is_complete and asm.counts['joined'] == 8
    buf = asm.buffer
    assert buf.lengths.tolist() == [4, 4]
    torch.testing.assert_close(buf.rewards, torch.tensor([[0.0, 1, 2, 3], [10, 11, 12, 13]]))
    obs, tokens, env_index, step_index = buf.steps()
    assert obs == [f'env{e}:{k}' for e in (0, 1) for k in range(4)]
    assert tokens[:, 0].tolist() == [32000, 32001, 32002, 32003] * 2
    assert asm.max_stage == [3, 3] and asm.num_stages == 4 and asm.valid == [True, True]


@pytest.mark.parametrize('seed', range(5))
def test_out_of_order_arrival_gives_the_same_group(seed):
    records = _episode('env0') + _episode('env1')
    random.Random(seed).shuffle(records)
    asm = _assembler()
    for r in records:
        assert _feed(asm, r)
    assert asm.is_complete and asm.pending() == 0
    torch.testing.assert_close(asm.buffer.rewards,
                               torch.tensor([[0.0, 1, 2, 3], [10, 11, 12, 13]]))
    assert asm.buffer.steps()[0] == [f'env{e}:{k}' for e in (0, 1) for k in range(4)]


def test_a_step_waits_for_its_predecessors():
    asm = _assembler()
    for r in _parts('env0', 1):  # step 1 complete, step 0 not yet
        _feed(asm, r)
    assert asm.buffer.lengths.tolist() == [0, 0] and asm.pending() == 3
    for r in _parts('env0', 0):
        _feed(asm, r)
    assert asm.buffer.lengths.tolist() == [2, 0] and asm.pending() == 0


def test_duplicates_are_dropped_and_counted():
    asm = _assembler()
    obs, act, res = _parts('env0', 0)
    assert _feed(asm, obs) and _feed(asm, act)
    assert not _feed(asm, act)                    # a part held twice
    assert _feed(asm, res)                        # step 0 joins
    for r in (obs, act, res):                     # all three again, after the step joined
        assert not _feed(asm, r)
    assert asm.counts['duplicate'] == 4 and asm.counts['joined'] == 1
    assert asm.buffer.lengths.tolist() == [1, 0]


def test_missing_parts_are_named_per_environment_and_step():
    asm = _assembler()
    obs, act, res = _parts('env0', 0)
    _feed(asm, obs)
    _feed(asm, res)
    o1, a1, r1 = _parts('env1', 0)
    _feed(asm, a1)
    assert asm.missing() == [Missing('env0', 0, ('action',)),
                             Missing('env1', 0, ('observation', 'result'))]
    assert str(asm.missing()[1]) == 'env1 step 0: no observation/result'
    _feed(asm, act)
    assert asm.missing()[0] == Missing('env0', 1, ('observation', 'action', 'result'))


def test_messages_of_another_group_environment_or_episode_are_ignored():
    asm = _assembler()
    for r in _parts('env0', 0, group=GROUP - 1):          # the previous group, late
        assert not _feed(asm, r)
    for r in _parts('env7', 0):                            # not in this group
        assert not _feed(asm, r)
    asm.set_episode('env1', 5)                             # from the reset reply
    for r in _parts('env1', 0, episode=4):                 # env1's previous episode
        assert not _feed(asm, r)
    assert asm.counts['other_group'] == 3 and asm.counts['other_env'] == 3
    assert asm.counts['other_episode'] == 3
    assert asm.buffer.lengths.tolist() == [0, 0] and asm.pending() == 0
    # before the reset reply the first record pins the episode (it may arrive first)
    for r in _parts('env0', 0, episode=9):
        assert _feed(asm, r)
    assert asm.episode == [9, 5] and asm.buffer.lengths.tolist() == [1, 0]
    assert asm.wants(StepIds('env0', 9, 1, GROUP)) and not asm.wants(StepIds('env0', 9, 1, 1))


def test_first_success_cuts_the_group_and_names_whom_to_end():
    asm = _assembler(completion='first_success', max_steps=10)
    for k in range(3):  # env1 runs ahead: steps 0..2, none a success
        for r in _parts('env1', k):
            _feed(asm, r)
    for k in range(2):  # env0 succeeds at step 1
        for r in _parts('env0', k, success=k == 1, done=k == 1):
            _feed(asm, r)
    for r in _parts('env1', 3):  # a step env1 applied before it heard: past the cut
        _feed(asm, r)
    assert asm.is_complete
    assert asm.buffer.lengths.tolist() == [2, 2]  # cut after the first success's step
    assert asm.to_end() == [1]                   # env0 is done by itself, env1 still runs
    asm.mark_end_requested(1)
    assert asm.to_end() == []
    # the final observation of env1's cut trajectory is the one it acted on at step 2
    assert asm.final_observation(1) == 'env1:2' and asm.final_observation(0) is None
    assert not asm.env_done(1)
    _feed(asm, ResultRecord(StepIds('env1', 1, 4, GROUP), 0.0,
                            done=True, done_reason=DoneReason.ENDED.value))
    assert asm.env_done(1) and asm.ended_at[1] == 4
    # a duplicate ENDED changes nothing; the step past the cut was joined, not added
    assert not _feed(asm, ResultRecord(StepIds('env1', 1, 4, GROUP), 0.0, done=True,
                                       done_reason=DoneReason.ENDED.value))
    assert asm.buffer.lengths.tolist() == [2, 2] and asm.counts['past_cut'] == 1


def test_ended_is_no_step_and_done_waits_for_the_steps_before_it():
    asm = _assembler(max_steps=10)
    _feed(asm, ResultRecord(StepIds('env0', 1, 2, GROUP), 0.0, done=True,
                            done_reason=DoneReason.ENDED.value))
    assert asm.ended_at[0] == 2 and not asm.env_done(0)   # steps 0 and 1 are still coming
    for r in itertools.chain(_parts('env0', 1), _parts('env0', 0)):
        _feed(asm, r)
    assert asm.env_done(0) and asm.buffer.lengths.tolist() == [2, 0]
    assert asm.counts['joined'] == 2


def test_stale_versions_and_errors_are_recorded():
    asm = _assembler(version=2)
    for k in range(4):
        for r in _parts('env0', k, version=1 if k < 2 else 2, done=k == 3):
            _feed(asm, r)
    for r in _parts('env1', 0, done=True, reason=DoneReason.ERROR.value):
        _feed(asm, r)
    assert asm.stale_actions == 2 and dict(asm.stale_versions) == {1: 2}
    assert asm.valid == [True, False] and asm.is_complete


def test_an_assembler_names_each_environment_once():
    with pytest.raises(ValueError, match='once each'):
        StepAssembler(1, ['env0', 'env0'], GroupRolloutBuffer(2, 3, 'all_done'), 0, 1.0)


def test_actions_carry_the_float32_of_the_group_temperature():
    # The Action message rounds the temperature to float32; that is still the group's.
    asm = _assembler()
    for r in _parts('env0', 0, temperature=float(np.float32(TEMPERATURE))):
        assert _feed(asm, r)
    asm.check()
    assert asm.failure is None and asm.buffer.lengths.tolist() == [1, 0]


def test_an_action_at_another_temperature_fails_the_group():
    asm = _assembler()
    for r in _parts('env0', 0):
        _feed(asm, r)
    obs, act, res = _parts('env0', 1, temperature=1.0)
    assert _feed(asm, obs) and not _feed(asm, act) and _feed(asm, res)
    # The step is not joined: its log-probs are of another distribution.
    assert asm.buffer.lengths.tolist() == [1, 0] and asm.counts['joined'] == 1
    assert asm.counts['temperature_mismatch'] == 1
    assert asm.missing()[0] == Missing('env0', 1, ('action',))
    with pytest.raises(ValueError, match=r'env0 step 1 was sampled at temperature 1, the '
                                         r'group at 0\.7'):
        asm.check()
    # Another group's action is no concern of this one's, whatever its temperature.
    _, foreign, _ = _parts('env1', 0, group=GROUP + 1, temperature=2.0)
    assert not _feed(asm, foreign) and asm.counts['temperature_mismatch'] == 1
