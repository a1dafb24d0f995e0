# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The operator's keys, screen and scripted stand-in (ROS-free)."""

import numpy as np
import pytest

from tgrpo_ros.contract import DoneReason
from tgrpo_ros.real.operator import key_action, Label, OperatorView, render, ScriptedOperator


def test_keys_map_to_actions_and_stray_keys_do_nothing():
    assert key_action('r') == ('reset_done', 0)
    assert key_action('S') == ('success', 0)
    assert key_action('f') == ('failure', 0)
    assert key_action('a') == ('abort', 0)
    assert key_action('3') == ('stage', 3)
    assert key_action('0') == ('', 0) and key_action('x') == ('', 0)
    assert Label.parse(' Abort ') is Label.ABORT
    with pytest.raises(ValueError, match='label must be one of success, failure, abort, stage'):
        Label.parse('oops')


def test_screen_shows_trial_group_version_safety_and_what_to_do():
    v = OperatorView(group_id=7, trial=2, trials_per_group=4, episode_id=31,
                     task='pick_up_the_ketchup', policy_version='v6', safety='ARMED: ok',
                     stage=3, num_stages=5)
    text = '\n'.join(render(v))
    for part in ('group 7', 'trial 2/4', 'episode 31', 'policy v6', 'ARMED: ok',
                 'stage 3/5', '[a] abort'):
        assert part in text
    v.waiting_reset, v.init_state = True, 12
    assert 'RESET the scene to initial state 12' in '\n'.join(render(v))
    assert all(len(line) <= 60 for line in render(v, width=60))


def test_scripted_operator_places_with_bounded_error_and_aborts_what_it_was_told():
    op = ScriptedOperator(placement_error_m=0.01, seed=1, abort_trials=((3, 2),),
                          abort_after_steps=4)
    offsets = np.array([op.placement_offset() for _ in range(500)])
    assert np.all(offsets[:, 2] == 0) and np.all(np.abs(offsets) <= 0.03 + 1e-12)
    assert 0.007 < offsets[:, :2].std() < 0.013
    assert op.label_for(3, 2, 3) is None and op.label_for(3, 2, 4) is Label.ABORT
    assert op.label_for(3, 1, 10) is None and op.label_for(2, 2, 10) is None
    assert np.all(ScriptedOperator(placement_error_m=0.0).placement_offset() == 0)
    with pytest.raises(ValueError, match='placement_error_m must be >= 0 m'):
        ScriptedOperator(placement_error_m=-1)


def test_abnormal_done_reasons_are_the_masked_ones():
    assert {r for r in DoneReason if r.abnormal} == {
        DoneReason.ERROR, DoneReason.OPERATOR_ABORT, DoneReason.EMERGENCY_STOP}
    assert not DoneReason.FAILED.abnormal and not DoneReason.MAX_STEPS.abnormal
