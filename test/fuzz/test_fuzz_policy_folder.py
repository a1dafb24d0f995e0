# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Malformed policy folders are refused with an error naming the file (and the field).

A tiny policy with every optional part (state encoder, LoRA adapter, value head) is saved once;
each case copies the folder and breaks one thing: a file removed, cut off or replaced by
garbage, a field of ``tgrpo_policy.json`` missing or of the wrong type, a weights tensor of the
wrong dtype or holding NaN. Loading must refuse it before serving anything.
"""

from __future__ import annotations

import json
from pathlib import Path
import shutil
import tempfile

from hypothesis import given, strategies as st
import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file
import torch

from refusal import FEW, GARBAGE, refused
from tgrpo_ros.policy.checkpoint import (load_policy, POLICY_FILE, PROPRIO_FILE, save_policy,
                                         VALUE_HEAD_FILE)
from tgrpo_ros.policy.lora import ADAPTER_VERSION_FILE, LoraSettings
from tgrpo_ros.policy.normalization import STATISTICS_FILE
from tgrpo_ros.policy.prismatic import CONFIG_FILE, WEIGHTS_FILE
from tgrpo_ros.policy.tiny import build_tiny_policy
from tgrpo_ros.versioning import ADAPTER_WEIGHTS_FILE, sha256_file

ADAPTER = f'adapter/{ADAPTER_WEIGHTS_FILE}'
FILES = [POLICY_FILE, CONFIG_FILE, WEIGHTS_FILE, STATISTICS_FILE, PROPRIO_FILE,
         VALUE_HEAD_FILE, ADAPTER, f'adapter/{ADAPTER_VERSION_FILE}', 'tokenizer.json']


@pytest.fixture(scope='module')
def saved(tmp_path_factory) -> Path:
    policy = build_tiny_policy('test', seed=0)
    policy.add_proprio(['eef_pos_x', 'eef_pos_z'])
    policy.add_lora(LoraSettings(rank=2, alpha=4.0))
    policy.add_value_head(8)
    folder = save_policy(policy, tmp_path_factory.mktemp('policy') / 'tiny')
    load_policy(folder)  # the unbroken folder loads
    return folder


@pytest.fixture
def broken(saved):
    """Return a function giving a fresh copy of the saved folder, cleaned up afterwards."""
    made = []

    def copy() -> Path:
        made.append(Path(tempfile.mkdtemp(prefix='broken-')))
        return Path(shutil.copytree(saved, made[-1] / 'policy'))
    yield copy
    for m in made:
        shutil.rmtree(m, ignore_errors=True)


def _meta(folder: Path) -> dict:
    return json.loads((folder / POLICY_FILE).read_text())


def _write_meta(folder: Path, meta: dict) -> None:
    (folder / POLICY_FILE).write_text(json.dumps(meta))


# The adapter's version record is optional (the digest in tgrpo_policy.json still checks).
@pytest.mark.parametrize('name', [f for f in FILES if not f.endswith(ADAPTER_VERSION_FILE)])
def test_a_missing_file_is_refused_naming_it(broken, name):
    folder = broken()
    (folder / name).unlink()
    refused(lambda: load_policy(folder), Path(name).name)


def test_a_folder_with_neither_policy_file_nor_config_is_refused(broken):
    folder = broken()
    (folder / POLICY_FILE).unlink()
    (folder / CONFIG_FILE).unlink()
    refused(lambda: load_policy(folder), POLICY_FILE, CONFIG_FILE)


@FEW
@given(name=st.sampled_from(FILES), content=GARBAGE)
def test_a_garbage_file_is_refused_naming_it(broken, name, content):
    folder = broken()
    (folder / name).write_bytes(content)
    refused(lambda: load_policy(folder), Path(name).name)


@FEW
@given(name=st.sampled_from(FILES), fraction=st.floats(0.0, 0.95))
def test_a_cut_off_file_is_refused_naming_it(broken, name, fraction):
    folder = broken()
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[:int(len(data) * fraction)])
    refused(lambda: load_policy(folder), Path(name).name)


META_CASES = [
    ('spec', None, 'spec'), ('spec', [1, 2], 'spec'),
    ('spec.cameras', 'agentview', 'spec.cameras'), ('spec.cameras', [], 'spec.cameras'),
    ('spec.cameras', [3], 'spec.cameras'),
    ('spec.backend', 'onnx', 'spec.backend'),
    ('spec.action_vocab_size', 'many', 'spec.action_vocab_size'),
    ('spec.preprocessing', {'size': 3}, 'spec'),
    ('spec.preprocessing.image_size', -4, 'spec.preprocessing.image_size'),
    ('spec.preprocessing.crop_area', float('nan'), 'spec.preprocessing.crop_area'),
    ('spec.colour', 'blue', 'spec'),
    ('format_version', 7, 'version 7'),
    ('lora', 'rank 2', 'lora'), ('lora.rank', 0, 'lora.rank'), ('lora.rank', 'two', 'lora.rank'),
    ('lora.alpha', -1.0, 'lora.alpha'), ('lora.size', 2, 'lora'),
    ('version', None, 'version.version'), ('version.sha256', 17, 'version.sha256'),
    ('version.version', 'one', 'version.version'),
    ('proprio.state_names', 'eef_pos_x', 'proprio.state_names'),
    ('proprio', {'names': []}, 'proprio.state_names'),
    ('value_head.width', 'wide', 'value_head.width'), ('value_head.width', 0, 'value_head.width'),
]


@pytest.mark.parametrize('dotted, value, name', META_CASES,
                         ids=[f'{c[0]}={c[1]!r}' for c in META_CASES])
def test_a_wrong_field_of_the_policy_file_is_refused_naming_it(broken, dotted, value, name):
    folder = broken()
    meta = _meta(folder)
    node = meta
    *parents, last = dotted.split('.')
    for part in parents:
        node = node[part]
    node[last] = value
    _write_meta(folder, meta)
    refused(lambda: load_policy(folder), POLICY_FILE, name)


def _rewrite(path: Path, change) -> str:
    """Apply ``change`` to the first floating tensor of a safetensors file; return its name."""
    with safe_open(str(path), framework='pt') as f:
        header = f.metadata()
    tensors = load_file(str(path))
    name = sorted(k for k, v in tensors.items() if v.is_floating_point())[0]
    tensors[name] = change(tensors[name])
    save_file(tensors, str(path), metadata=header)
    return name


def _to_int(t: torch.Tensor) -> torch.Tensor:
    return t.round().to(torch.int64)


def _nan(t: torch.Tensor) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[0] = float('nan')
    return t


# Base weights are not scanned for NaN (a multi-GB read for a real model); the rest is.
WEIGHT_CASES = [(WEIGHTS_FILE, _to_int)] + [(name, change) for name in (
    PROPRIO_FILE, VALUE_HEAD_FILE, ADAPTER) for change in (_to_int, _nan)]


@pytest.mark.parametrize('name, change', WEIGHT_CASES,
                         ids=[f'{n}-{c.__name__.strip("_")}' for n, c in WEIGHT_CASES])
def test_a_weights_tensor_of_the_wrong_dtype_or_nan_is_refused(broken, name, change):
    folder = broken()
    tensor = _rewrite(folder / name, change)
    if name == ADAPTER:  # a re-saved adapter: record its new digest, as a real one would
        sha = sha256_file(folder / name)
        meta = _meta(folder)
        meta['version']['sha256'] = sha
        _write_meta(folder, meta)
        record = json.loads((folder / 'adapter' / ADAPTER_VERSION_FILE).read_text())
        record['sha256'] = sha
        (folder / 'adapter' / ADAPTER_VERSION_FILE).write_text(json.dumps(record))
    refused(lambda: load_policy(folder), tensor)
