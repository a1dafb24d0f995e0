# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The contract's enums: one set of reasons, strings in messages, enums in the code."""

from __future__ import annotations

import json

import pytest

from tgrpo_ros.contract import ACTION_DIM, DoneReason, EndReason
from tgrpo_ros.observation import StepOutcome
from tgrpo_ros.policy import ACTION_DIM as POLICY_ACTION_DIM


def test_reasons_are_their_strings():
    assert DoneReason.ENDED == 'ended' and f'{DoneReason.MAX_STEPS}' == 'max_steps'
    assert json.dumps({'why': DoneReason.SUCCESS}) == '{"why": "success"}'
    assert EndReason.GROUP_DONE == 'group_done'
    assert StepOutcome(0.0, 0, 0, False, False).done_reason is DoneReason.RUNNING


@pytest.mark.parametrize('enum', [DoneReason, EndReason])
def test_parse_round_trips_and_names_the_known_values(enum):
    for member in enum:
        assert enum.parse(member.value) is member
    with pytest.raises(ValueError, match=f"unknown {enum.__name__} 'finished'; known: "):
        enum.parse('finished')


def test_action_dim_is_defined_once():
    assert POLICY_ACTION_DIM is ACTION_DIM == 7
