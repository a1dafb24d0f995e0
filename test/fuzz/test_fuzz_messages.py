# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Malformed observations, actions and reset requests are refused where they enter.

``tgrpo_ros.ros.conversions`` checks every message from another process before a node uses
it; a malformed one raises ``MessageError`` naming the message and the field. Here the
messages are built field by field by hypothesis, and an independent statement of what is valid
decides whether each must be accepted or refused.
"""

from __future__ import annotations

import math

from hypothesis import given, strategies as st
import numpy as np
import pytest
from sensor_msgs.msg import Image

from refusal import FUZZ, refused
from tgrpo_ros.msg import Action, Ids, Observation
from tgrpo_ros.ros.conversions import (check_action, check_reset_request, MessageError,
                                       msg_to_observation)
from tgrpo_ros.sim.libero_env import SUITES
from tgrpo_ros.srv import ResetEnv

pytestmark = pytest.mark.ros

# encoding -> bytes per pixel, for the encodings that convert to rgb8
COLOUR = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1, '8UC1': 1, '8UC3': 3,
          '8UC4': 4}
NOT_COLOUR = ['mono16', '16UC1', '32FC1', 'yuv422', 'RGB8', '', 'jpeg', '8UC2', 'bayer_rggb8']


def _image(height: int = 4, width: int = 5) -> Image:
    return Image(height=height, width=width, encoding='rgb8', step=width * 3,
                 data=bytes(height * width * 3))


def _good(cameras=('agentview',), state=(0.1, 0.2, 0.3)) -> Observation:
    msg = Observation(ids=Ids(env_id='env0', episode_id=1, step=0), instruction='pick it up',
                      task='libero_object/x')
    msg.camera_names = list(cameras)
    msg.images = [_image() for _ in cameras]
    msg.state_names = [f's{k}' for k in range(len(state))]
    msg.state = [float(v) for v in state]
    return msg


def test_a_good_observation_converts():
    obs = msg_to_observation(_good(('agentview', 'wrist')))
    assert set(obs.images) == {'agentview', 'wrist'}
    assert obs.images['wrist'].shape == (4, 5, 3) and obs.images['wrist'].dtype == np.uint8
    assert obs.state_names == ['s0', 's1', 's2']


@FUZZ
@given(height=st.integers(0, 12), width=st.integers(0, 12),
       encoding=st.sampled_from(sorted(COLOUR) + NOT_COLOUR),
       pad=st.integers(-4, 4), extra=st.integers(-8, 8))
def test_an_image_is_converted_or_refused_naming_it(height, width, encoding, pad, extra):
    bpp = COLOUR.get(encoding, 2)
    step = max(width * bpp + pad, 0)
    size = max(step * height + extra, 0)
    msg = _good(('agentview', 'wrist'))
    msg.images[1] = Image(height=height, width=width, encoding=encoding, step=step,
                          data=bytes(size % 256 for _ in range(size)))
    valid = (encoding in COLOUR and height >= 2 and width >= 2 and pad >= 0 and extra == 0)
    if valid:
        img = msg_to_observation(msg).images['wrist']
        assert img.shape == (height, width, 3) and img.dtype == np.uint8
    else:
        exc = refused(lambda: msg_to_observation(msg), "Observation.images[1] (camera 'wrist')")
        assert isinstance(exc, MessageError)


@FUZZ
@given(names=st.lists(st.sampled_from(['agentview', 'wrist', '']), max_size=3),
       images=st.integers(0, 3))
def test_camera_names_and_images_must_pair_up(names, images):
    msg = _good()
    msg.camera_names = names
    msg.images = [_image() for _ in range(images)]
    valid = len(names) == images and images > 0 and '' not in names \
        and len(set(names)) == len(names)
    if valid:
        assert list(msg_to_observation(msg).images) == names
    elif len(names) != images:
        refused(lambda: msg_to_observation(msg), 'Observation.camera_names',
                'Observation.images')
    elif images == 0:
        refused(lambda: msg_to_observation(msg), 'Observation.images is empty')
    else:
        exc = refused(lambda: msg_to_observation(msg), 'Observation.camera_names[')
        assert isinstance(exc, MessageError)


@FUZZ
@given(state=st.lists(st.floats(), max_size=6), names=st.integers(0, 6),
       repeat=st.booleans())
def test_a_state_is_converted_or_refused_naming_it(state, names, repeat):
    msg = _good()
    msg.state = state
    msg.state_names = [f's{k}' for k in range(names)]
    if repeat and names >= 2:
        msg.state_names[-1] = 's0'
    finite = all(math.isfinite(v) for v in state)
    if len(state) != names:
        refused(lambda: msg_to_observation(msg), 'Observation.state', 'Observation.state_names')
    elif repeat and names >= 2:
        refused(lambda: msg_to_observation(msg), 'Observation.state_names[')
    elif not finite:
        k = next(i for i, v in enumerate(state) if not math.isfinite(v))
        refused(lambda: msg_to_observation(msg), f'Observation.state[{k}]')
    else:
        np.testing.assert_array_equal(msg_to_observation(msg).state, state)


ACTION_VALUES = st.one_of(st.floats(-1, 1), st.floats())


@FUZZ
@given(action=st.lists(ACTION_VALUES, max_size=9),
       tokens=st.sampled_from([0, 7, 3, 8]), logprobs=st.lists(
           st.one_of(st.floats(-30, 0), st.floats(width=32)), max_size=8),
       temperature=st.one_of(st.floats(0, 5), st.floats(width=32)))
def test_an_action_is_accepted_or_refused_naming_the_field(action, tokens, logprobs,
                                                           temperature):
    msg = Action(action=action, token_ids=list(range(tokens)), token_logprobs=logprobs,
                 temperature=temperature)
    temperature = msg.temperature  # float32 on the wire
    problems = []
    if len(action) != 7 or not all(math.isfinite(v) for v in action):
        problems.append('Action.action')
    if tokens not in (0, 7):
        problems.append('Action.token_ids')
    elif len(logprobs) != tokens:
        problems.append('Action.token_logprobs')
    elif not all(math.isfinite(v) and v <= 1e-6 for v in msg.token_logprobs):
        problems.append('Action.token_logprobs[')
    if not (math.isfinite(temperature) and temperature >= 0):
        problems.append('Action.temperature')
    if problems:
        exc = refused(lambda: check_action(msg), problems[0])
        assert isinstance(exc, MessageError)
    else:
        check_action(msg)


@FUZZ
@given(suite=st.one_of(st.sampled_from(('',) + SUITES), st.text(max_size=8)),
       task=st.one_of(st.sampled_from(['0', '3', 'pick_up_the_ketchup']), st.just(''),
                      st.just('   ')),
       max_steps=st.integers(0, 2 ** 32 - 1), seed=st.integers(-2 ** 63, 2 ** 63 - 1))
def test_a_reset_request_is_accepted_or_refused_naming_the_field(suite, task, max_steps,
                                                                 seed):
    req = ResetEnv.Request(suite=suite, task=task, max_steps=max_steps, seed=seed)
    if (suite or 'libero_object') not in SUITES:
        refused(lambda: check_reset_request(req, 'libero_object'), 'ResetEnv.suite')
    elif not task.strip():
        refused(lambda: check_reset_request(req, 'libero_object'), 'ResetEnv.task')
    elif max_steps > 10_000:
        refused(lambda: check_reset_request(req, 'libero_object'), 'ResetEnv.max_steps')
    elif not 0 <= seed < 2 ** 32:
        refused(lambda: check_reset_request(req, 'libero_object'), 'ResetEnv.seed')
    else:
        assert check_reset_request(req, 'libero_object') == (suite or 'libero_object')
