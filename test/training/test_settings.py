# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The settings declaration: complete metadata, one order of precedence, errors that name."""

from __future__ import annotations

import csv
import json
import math

import pytest
import yaml

from tgrpo_ros.commands import train as train_command
from tgrpo_ros.declaration import DIMENSIONLESS
from tgrpo_ros.training import policy_setup
from tgrpo_ros.training.settings import (check_policy_agrees, entries, parse_text, preset_file,
                                         preset_names, RealDeploySettings, resolve,
                                         served_settings, SimTrainSettings)


@pytest.mark.parametrize('cls', [SimTrainSettings, RealDeploySettings])
def test_every_setting_has_type_default_unit_help_and_a_range_if_numeric(cls):
    table = entries(cls)
    assert table
    for path, e in table.items():
        assert e.kind in (str, int, float, bool, tuple), path
        assert e.info.help.strip() and '\n' not in e.info.help, f'{path}: one-line help'
        if e.kind in (int, float) or e.item in (int, float):
            assert e.info.unit, f'{path}: a number needs a unit (or {DIMENSIONLESS!r})'
            assert e.info.range is not None, f'{path}: a number needs a range'
            items = e.default if e.kind is tuple else (e.default,)
            if e.default is not None:
                assert all(e.info.range.contains(v) for v in items), f'{path}: default range'
        allowed = e.info.allowed()
        if allowed and e.default is not None:
            items = e.default if e.kind is tuple else (e.default,)
            assert set(items) <= set(allowed), f'{path}: default not among its choices'


def test_shared_values_have_one_home():
    table = entries()
    names = [p.split('.', 1)[1] for p in table]
    for shared in ('seed', 'cameras', 'temperature', 'lora_rank', 'lora_alpha', 'model'):
        assert names.count(shared) == 1, f'{shared} is declared {names.count(shared)} times'
    # the learner recomputes log-probs at the sampling temperature: algo copies policy's
    s = SimTrainSettings.from_flat({'policy.temperature': 0.7})
    assert s.algo.temperature == 0.7
    assert 'algo.temperature' not in table
    # the old name still reaches the one home
    assert SimTrainSettings.from_flat({'algo.temperature': 0.5}).policy.temperature == 0.5


def _file(tmp_path, name, sections):
    path = tmp_path / name
    path.write_text(yaml.safe_dump({'/**': {'ros__parameters': sections}}))
    return path


def test_precedence_defaults_preset_file_arguments(tmp_path):
    default = resolve()
    assert default == SimTrainSettings()  # config/sim_train.yaml holds the defaults
    preset = _file(tmp_path, 'p.yaml', {'run': {'iterations': 3, 'seed': 1},
                                        'algo': {'lr': 0.01}, 'env': {'max_steps': 20}})
    params = _file(tmp_path, 'f.yaml', {'run': {'iterations': 4}, 'algo': {'lr': 0.02}})
    s = resolve(str(preset))
    assert (s.run.iterations, s.run.seed, s.algo.lr) == (3, 1, 0.01)
    s = resolve(str(preset), params)
    assert (s.run.iterations, s.run.seed, s.algo.lr, s.env.max_steps) == (4, 1, 0.02, 20)
    s = resolve(str(preset), params, {'lr': 0.03})
    assert (s.run.iterations, s.algo.lr) == (4, 0.03)
    # nothing given: the file's value stands
    assert resolve(str(preset), params, {}).algo.lr == 0.02


def test_a_node_section_overrides_the_shared_one_for_that_node_only(tmp_path):
    path = tmp_path / 'f.yaml'
    path.write_text(yaml.safe_dump({
        '/**': {'ros__parameters': {'run': {'iterations': 4}}},
        '/learner': {'ros__parameters': {'run': {'iterations': 5}}}}))
    assert resolve(params_file=path).run.iterations == 5
    assert resolve(params_file=path, node='policy').run.iterations == 4


@pytest.mark.parametrize('flat,message', [
    ({'algo.lr': -1.0}, r'algo.lr = -1.0 is out of range \(0, inf\)'),
    ({'algo.group_size': 1}, r'algo.group_size = 1 is out of range \[2, 1024\]'),
    ({'env.suite': 'libero_100'}, r"env.suite = 'libero_100' is not one of"),
    ({'run.iterations': 'many'}, r'run.iterations must be an integer'),
    ({'policy.temperature': 0.0}, r'policy.temperature must be > 0 for training'),
    ({'env.image_size': 4}, r'env.image_size = 4 is out of range \[8, 1024\]'),
    ({'algo.estimator': 'grpo_outcome'}, r"algo: estimator 'grpo_outcome' with group_completion"),
    ({'run.iteratons': 3}, r"unknown setting 'run.iteratons'; did you mean run.iterations"),
])
def test_validation_errors_name_the_setting(flat, message):
    with pytest.raises((ValueError, TypeError), match=message):
        SimTrainSettings.from_flat(flat)


def test_unknown_key_in_a_parameter_file_is_refused_with_close_matches(tmp_path):
    path = _file(tmp_path, 'f.yaml', {'algo': {'learning_rate': 0.1}})
    with pytest.raises(ValueError, match=r"unknown setting 'algo.learning_rate'"):
        resolve(params_file=path)


def test_text_values_parse_as_the_declared_type():
    table = entries()
    assert parse_text(table['env.init_states'], '0,3, 5') == (0, 3, 5)
    assert parse_text(table['env.init_states'], '[1, 2]') == (1, 2)
    assert parse_text(table['env.tasks'], '0,ketchup') == ('0', 'ketchup')
    assert parse_text(table['run.resume'], 'true') is True
    assert parse_text(table['algo.lr'], '1e-4') == 1e-4
    assert parse_text(table['algo.max_grad_norm'], '0') is None  # 0 = off
    with pytest.raises(ValueError, match='run.resume must be true or false'):
        parse_text(table['run.resume'], 'maybe')


def test_cli_short_and_full_names_and_close_matches(capsys):
    assert train_command.parse_overrides(['lr=0.5', 'env.tasks=0,1']) == {
        'algo.lr': 0.5, 'env.tasks': ('0', '1')}
    with pytest.raises(ValueError, match='did you mean.*iterations'):
        train_command.parse_overrides(['iteratons=3'])
    assert train_command.main(['--preset', 'smoke', '--set', 'seed=3', '--print-settings']) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed['run']['seed'] == 3 and printed['policy']['model'] == 'tiny:test'


def test_smoke_preset_is_small():
    assert 'smoke' in preset_names()
    s = resolve('smoke')
    assert s.policy.model.startswith('tiny:') and s.algo.group_size == 2
    assert s.env.max_steps <= 10 and s.run.iterations <= 2
    assert preset_file('smoke').name == 'smoke.yaml'
    with pytest.raises(ValueError, match='unknown preset'):
        resolve('nonexistent')


def test_policy_and_learner_that_disagree_refuse_to_run():
    learner = SimTrainSettings()
    check_policy_agrees(learner, json.loads(json.dumps(served_settings(learner.policy))))
    for path, other in (('policy.temperature', 0.5), ('policy.lora_rank', 16),
                        ('policy.lora_alpha', 32.0)):
        served = dict(served_settings(learner.policy), **{path: other})
        with pytest.raises(ValueError, match=rf'{path}: policy node {other!r}, learner'):
            check_policy_agrees(learner, served)
    with pytest.raises(ValueError, match='did not say its policy.temperature'):
        check_policy_agrees(learner, {})


def test_trust_remote_code_is_off_unless_set_and_reaches_the_loader(tmp_path, monkeypatch):
    """policy.trust_remote_code is handed to load_policy as given, False by default."""
    seen = []

    def fake_load(path, **kwargs):
        seen.append(kwargs['trust_remote_code'])
        raise LookupError('stop here: only the arguments matter')

    monkeypatch.setattr(policy_setup, 'load_policy', fake_load)
    model = tmp_path / 'model'
    model.mkdir()
    assert SimTrainSettings().policy.trust_remote_code is False
    for given in (None, True, False):
        policy = {'model': str(model)} | ({} if given is None else {'trust_remote_code': given})
        settings = resolve('', _file(tmp_path, 'p.yaml', {'policy': policy}))
        with pytest.raises(LookupError):
            policy_setup.policy_for(settings)
    assert seen == [False, True, False]


@pytest.mark.libero
@pytest.mark.slow
def test_smoke_preset_trains_in_process(tmp_path):
    out = tmp_path / 'smoke'
    assert train_command.main(['--preset', 'smoke', '--set', f'run.output_dir={out}']) == 0
    with open(out / 'metrics.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [int(r['iteration']) for r in rows] == [1, 2]
    assert all(math.isfinite(float(r['loss'])) for r in rows)
    saved = yaml.safe_load((out / 'config.yaml').read_text())['settings']
    assert saved['policy']['model'] == 'tiny:test' and saved['algo']['group_size'] == 2
