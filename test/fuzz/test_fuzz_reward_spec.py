# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Malformed reward specs are refused with a RewardSpecError naming the file and the field.

Validation only: the format is ``config/rewards/FORMAT.md``; a shipped spec is mutated one
field at a time (wrong types, NaN/inf, zero or negative sizes, unknown fields and types,
missing fields), and garbage files are loaded.
"""

from __future__ import annotations

import copy
from pathlib import Path

from hypothesis import given, strategies as st
import pytest
import yaml

from refusal import EACH, FEW, FIELD_NAME, FUZZ, GARBAGE, NON_FINITE, NOT_POSITIVE, NOT_TEXT
from refusal import refused, SCALARS_NOT_NUMBER
from tgrpo_ros.sim.reward_spec import (load_spec, parse_spec, PREDICATES, PROGRESSES,
                                       RewardSpecError)

SOURCE = 'spec.yaml'
# a hand-written version-1 spec (the generated version-2 ones nest terms in all/any/not)
SHIPPED = sorted((Path(__file__).resolve().parents[2] / 'config' / 'rewards'
                  / 'libero_object').glob('*.yaml'))
BASE = yaml.safe_load(SHIPPED[0].read_text())
ENTITY = ('a', 'b', 'object', 'over', 'region')


def _terms():
    """(stage index, 'predicate'/'progress', type, field) for every field of every term."""
    out = []
    for i, stage in enumerate(BASE['stages']):
        for part in ('predicate', 'progress'):
            if stage.get(part):
                (kind, args), = stage[part].items()
                out += [(i, part, kind, k) for k in args]
    return out


TERMS = _terms()


def _bad_field_value(field: str) -> st.SearchStrategy:
    if field in ENTITY:
        return st.one_of(st.integers(), st.floats(), st.booleans(), st.just(''), st.none(),
                         st.lists(st.text(max_size=3), min_size=1, max_size=2))
    if field == 'axes':
        return st.one_of(st.text(max_size=4).filter(lambda v: v not in ('xyz', 'xy')),
                         st.integers())
    if field == 'grasped':
        return st.one_of(st.integers(), st.text(max_size=3))
    if field == 'gap':   # may be negative, never NaN/inf or text
        return st.one_of(SCALARS_NOT_NUMBER, NON_FINITE)
    return st.one_of(SCALARS_NOT_NUMBER, NON_FINITE, NOT_POSITIVE)


def test_the_base_spec_is_valid():
    assert parse_spec(copy.deepcopy(BASE), SOURCE).num_stages == len(BASE['stages'])


@pytest.mark.parametrize('i, part, kind, field', TERMS,
                         ids=[f'stages[{t[0]}].{t[1]}.{t[2]}.{t[3]}' for t in TERMS])
@EACH
@given(data=st.data())
def test_a_wrong_term_field_is_refused_naming_it(i, part, kind, field, data):
    raw = copy.deepcopy(BASE)
    raw['stages'][i][part][kind][field] = data.draw(_bad_field_value(field), label='value')
    exc = refused(lambda: parse_spec(raw, SOURCE), SOURCE, f'stages[{i}].{part}')
    assert isinstance(exc, RewardSpecError) and field in str(exc)


@FUZZ
@given(data=st.data())
def test_a_term_of_the_wrong_shape_is_refused_naming_it(data):
    i, part, kind, field = data.draw(st.sampled_from(TERMS), label='term')
    raw = copy.deepcopy(BASE)
    table = PREDICATES if part == 'predicate' else PROGRESSES
    how = data.draw(st.sampled_from(['unknown type', 'missing field', 'unknown field',
                                     'not a mapping', 'args not a mapping', 'two types']))
    term = raw['stages'][i][part]
    if how == 'unknown type':
        new = data.draw(FIELD_NAME.filter(lambda t: t not in table))
        raw['stages'][i][part] = {new: term[kind]}
    elif how == 'missing field':
        required = table[kind][0]
        del term[kind][data.draw(st.sampled_from(required))]
    elif how == 'unknown field':
        extra = data.draw(FIELD_NAME.filter(lambda f: f not in table[kind][0]
                                            and f not in table[kind][1]))
        term[kind][extra] = 1.0
    elif how == 'not a mapping':
        raw['stages'][i][part] = data.draw(st.one_of(st.text(min_size=1), st.integers(),
                                                     st.lists(st.integers(), min_size=1)))
    elif how == 'args not a mapping':
        term[kind] = data.draw(st.one_of(st.text(min_size=1), st.integers(min_value=1),
                                         st.lists(st.integers(), min_size=1)))
    else:
        other = next(t for t in table if t != kind)
        term[other] = {}
    refused(lambda: parse_spec(raw, SOURCE), SOURCE, f'stages[{i}].{part}')


TOP = [
    ('success_bonus', st.one_of(SCALARS_NOT_NUMBER, NON_FINITE, st.floats(max_value=-1e-9))),
    ('task', st.one_of(NOT_TEXT, st.just(''))),
    ('stages', st.one_of(st.just([]), st.integers(), st.text(), st.dictionaries(
        st.text(max_size=2), st.integers(), max_size=2))),
    ('roles', st.one_of(st.integers(min_value=1), st.text(min_size=1),
                        st.dictionaries(st.text(min_size=1, max_size=3), st.integers(),
                                        min_size=1, max_size=2),
                        st.just({'gripper': 'x'}))),
    ('version', st.one_of(st.integers().filter(lambda v: v not in (1, 2)), st.text(max_size=3))),
    ('description', st.one_of(st.integers(), st.lists(st.text(), min_size=1))),
]


@pytest.mark.parametrize('field, values', TOP, ids=[t[0] for t in TOP])
@EACH
@given(data=st.data())
def test_a_wrong_top_level_field_is_refused_naming_it(field, values, data):
    raw = copy.deepcopy(BASE)
    raw[field] = data.draw(values, label='value')
    refused(lambda: parse_spec(raw, SOURCE), SOURCE, field)


@FUZZ
@given(data=st.data())
def test_a_malformed_stage_is_refused_naming_it(data):
    raw = copy.deepcopy(BASE)
    i = data.draw(st.integers(0, len(raw['stages']) - 1))
    how = data.draw(st.sampled_from(['name', 'no predicate', 'unknown', 'not a mapping']))
    if how == 'name':
        raw['stages'][i]['name'] = data.draw(st.one_of(NOT_TEXT, st.just(''), st.none()))
    elif how == 'no predicate':
        del raw['stages'][i]['predicate']
    elif how == 'unknown':
        key = data.draw(FIELD_NAME.filter(lambda k: k not in ('name', 'predicate',
                                                              'progress')))
        raw['stages'][i][key] = 1
    else:
        raw['stages'][i] = data.draw(st.one_of(st.text(), st.integers(),
                                               st.lists(st.integers(), max_size=2)))
    refused(lambda: parse_spec(raw, SOURCE), SOURCE, f'stages[{i}]')


@FUZZ
@given(key=FIELD_NAME)
def test_an_unknown_top_level_field_is_refused_naming_it(key):
    if key in ('version', 'task', 'description', 'roles', 'success_bonus', 'stages'):
        return
    raw = dict(copy.deepcopy(BASE), **{key: 1})
    refused(lambda: parse_spec(raw, SOURCE), SOURCE, key)


@FEW
@given(content=GARBAGE)
def test_a_garbage_file_is_refused_naming_it(tmp_path, content):
    path = tmp_path / 'spec.yaml'
    path.write_bytes(content)
    refused(lambda: load_spec(path), str(path))

