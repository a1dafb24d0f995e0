# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""TGRPOConfig: paper defaults, a help line per field, and rejection of invalid settings."""

import dataclasses
import math

import pytest

from tgrpo_ros.algo import TGRPOConfig


def test_paper_values_are_the_defaults():
    cfg = TGRPOConfig()
    assert (cfg.alpha_step, cfg.alpha_traj) == (0.3, 0.7)
    assert cfg.lr == 1e-5
    assert cfg.group_size == 4
    assert cfg.estimator == 'tgrpo'
    assert cfg.group_completion == 'first_success'
    assert cfg.clip_range == (pytest.approx(0.8), pytest.approx(1.2))


def test_every_field_has_a_one_line_help():
    for f in dataclasses.fields(TGRPOConfig):
        text = f.metadata.get('help', '')
        assert text and '\n' not in text, f.name


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TGRPOConfig().beta = 0.0
    assert dataclasses.replace(TGRPOConfig(), beta=0.0).beta == 0.0


def test_asymmetric_clip_range():
    assert TGRPOConfig(clip_eps_high=0.28).clip_range == (pytest.approx(0.8),
                                                          pytest.approx(1.28))


@pytest.mark.parametrize('kwargs, error, match', [
    ({'estimator': 'ppo'}, ValueError, "estimator must be one of .*'tgrpo'"),
    ({'loss_aggregation': 'sum'}, ValueError, 'loss_aggregation must be one of'),
    ({'group_completion': 'never'}, ValueError, 'group_completion must be one of'),
    ({'alpha_step': -0.1}, ValueError, 'alpha_step must be >= 0'),
    ({'alpha_step': 0.0, 'alpha_traj': 0.0}, ValueError, 'both 0'),
    ({'alpha_traj': '0.7'}, TypeError, 'alpha_traj must be a number'),
    ({'group_size': 1}, ValueError, 'group_size must be >= 2'),
    ({'group_size': 4.0}, TypeError, 'group_size must be an int'),
    ({'estimator': 'grpo_outcome'}, ValueError, "use group_completion='all_done'"),
    ({'clip_eps': 0.0}, ValueError, r'clip_eps must be in \(0, 1\)'),
    ({'clip_eps': math.nan}, ValueError, 'clip_eps'),
    ({'clip_eps_high': 0.1}, ValueError, 'clip_eps_high must be finite and >= clip_eps'),
    ({'beta': -1e-3}, ValueError, 'beta must be finite and >= 0'),
    ({'beta': math.inf}, ValueError, 'beta'),
    ({'temperature': 0.0}, ValueError, 'temperature must be finite and > 0'),
    ({'lr': 0.0}, ValueError, 'lr must be'),
    ({'update_epochs': 0}, ValueError, 'update_epochs must be >= 1'),
    ({'minibatch_size': 0}, ValueError, 'minibatch_size must be >= 1'),
    ({'max_grad_norm': -1.0}, ValueError, 'max_grad_norm'),
    ({'gamma': 1.01}, ValueError, r'gamma must be in \[0, 1\]'),
    ({'gae_lambda': -0.5}, ValueError, 'gae_lambda'),
    ({'value_clip': 0.0}, ValueError, 'value_clip'),
    ({'value_loss_coef': -1.0}, ValueError, 'value_loss_coef'),
    ({'success_reward_threshold': math.nan}, ValueError, 'success_reward_threshold'),
])
def test_invalid_settings_are_rejected_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        TGRPOConfig(**kwargs)


def test_valid_variants():
    TGRPOConfig(estimator='grpo_outcome', group_completion='all_done')
    TGRPOConfig(estimator='step', alpha_step=0.0, alpha_traj=0.0)  # alphas unused by 'step'
    TGRPOConfig(estimator='gae', beta=0.0, max_grad_norm=None, value_clip=None)
    TGRPOConfig(loss_aggregation='seq-mean', clip_eps_high=0.28)
