# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Malformed parameter files are refused with an error naming the file or the setting.

Every declared setting (``tgrpo_ros.training.settings.entries``) gets values of the wrong kind
for its declaration (type, range, choices), written into a ROS 2 parameter file and read the
way ``tgrpo-ros train --params-file`` and the nodes read it (``resolve``).
"""

from __future__ import annotations

import math

from hypothesis import given, strategies as st
import pytest
import yaml

from refusal import EACH, FEW, FIELD_NAME, FUZZ, GARBAGE, refused
from tgrpo_ros.training.settings import entries, read_parameter_file, resolve, SECTIONS

ENTRIES = entries()
NOT_SCALAR = st.one_of(st.lists(st.integers(), min_size=1, max_size=2),
                       st.dictionaries(st.sampled_from('abc'), st.integers(), min_size=1,
                                       max_size=2))


def _out_of(entry) -> st.SearchStrategy | None:
    r = entry.info.range
    if r is None:
        return None
    values = []
    if r.lo is not None:
        values += [r.lo - 1, r.lo - 1e6] + ([r.lo] if r.lo_open else [])
    if r.hi is not None:
        values += [r.hi + 1, r.hi * 2 + 1e6] + ([r.hi] if r.hi_open else [])
    if entry.kind is int or entry.item is int:
        values = [int(v) for v in values if float(v).is_integer()]
    return st.sampled_from(values) if values else None


def _bad_scalar(entry, kind) -> st.SearchStrategy:
    """Values wrong for one value of this setting's kind."""
    options = [NOT_SCALAR]
    if kind is bool:
        options += [st.integers(), st.text(max_size=5), st.floats(allow_nan=False)]
    elif kind is int:
        options += [st.text(max_size=5), st.booleans(),
                    st.floats(allow_nan=False, allow_infinity=False).filter(
                        lambda v: not float(v).is_integer())]
    elif kind is float:
        options += [st.text(max_size=5), st.booleans(), st.just(math.nan)]
    elif kind is str:
        options += [st.integers(), st.floats(allow_nan=False), st.booleans()]
        allowed = entry.info.allowed()
        if allowed:
            options.append(st.text(max_size=10).filter(lambda v: v not in allowed))
    out = _out_of(entry)
    if out is not None:
        options.append(out)
    none_as = entry.info.none_as if entry.optional else None
    return st.one_of(*options).filter(lambda v: none_as is None or v != none_as
                                      or isinstance(v, bool))


def _bad(entry) -> st.SearchStrategy:
    if entry.kind is not tuple:
        return _bad_scalar(entry, entry.kind)
    item = _bad_scalar(entry, entry.item)
    if entry.item is str:  # names may be text or indices; a list or mapping is neither
        item = st.one_of(NOT_SCALAR, st.floats(allow_nan=False), st.booleans())
    return st.one_of(st.dictionaries(st.sampled_from('ab'), st.integers(), min_size=1,
                                     max_size=2),
                     st.lists(item, min_size=1, max_size=3))


def _write(tmp_path, params: dict, name: str = 'params.yaml'):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(params))
    return path


def _file(path_name: str, value) -> dict:
    section, name = path_name.split('.', 1)
    return {'/**': {'ros__parameters': {section: {name: value}}}}


@pytest.mark.parametrize('path_name', sorted(ENTRIES))
@EACH
@given(data=st.data())
def test_a_wrong_value_for_any_setting_is_refused_naming_it(tmp_path, path_name, data):
    value = data.draw(_bad(ENTRIES[path_name]), label='value')
    file = _write(tmp_path, _file(path_name, value))
    exc = refused(lambda: resolve(params_file=file, base_file=False), path_name)
    assert isinstance(exc, (ValueError, TypeError))


@FUZZ
@given(section=st.sampled_from(sorted(SECTIONS)), key=FIELD_NAME)
def test_an_unknown_setting_in_a_section_is_refused_naming_it(tmp_path, section, key):
    if f'{section}.{key}' in ENTRIES:
        return
    file = _write(tmp_path, _file(f'{section}.{key}', 1))
    refused(lambda: resolve(params_file=file, base_file=False), str(file), key)


@FEW
@given(content=GARBAGE)
def test_a_garbage_file_is_refused_or_gives_nothing(tmp_path, content):
    file = tmp_path / 'garbage.yaml'
    file.write_bytes(content)
    try:
        flat = read_parameter_file(file)
    except (ValueError, TypeError) as exc:
        assert str(file) in str(exc)
    else:  # parsed as YAML that holds no section of these nodes: nothing is set
        assert flat == {}


@pytest.mark.parametrize('content, names', [
    ([1, 2, 3], ['not a ROS 2 parameter file']),
    ('just text', ['not a ROS 2 parameter file']),
    ({'/**': [1, 2]}, ['/**', 'ros__parameters']),
    ({'/**': {'ros__parameters': [1]}}, ['/**', 'ros__parameters']),
    ({'/**': {'ros__parameters': 'policy.temperature: 1'}}, ['/**', 'ros__parameters']),
    ({'learner': 'x'}, ['learner', 'ros__parameters']),
    ({5: {'ros__parameters': {}}, '/**': {'ros__parameters': {'algo': {'lr': 'fast'}}}},
     ['algo.lr']),
])
def test_a_file_of_the_wrong_shape_is_refused_naming_it(tmp_path, content, names):
    file = _write(tmp_path, content)
    refused(lambda: resolve(params_file=file, base_file=False), *names)


def test_a_missing_file_is_refused_naming_it(tmp_path):
    refused(lambda: resolve(params_file=tmp_path / 'none.yaml', base_file=False), 'none.yaml')
