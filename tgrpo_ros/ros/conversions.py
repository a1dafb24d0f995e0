# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Messages <-> the ROS-free types (Observation, StepOutcome, PolicyVersion), in one place.

Messages from other processes are checked where they enter (``msg_to_observation``,
``check_action``, ``check_reset_request``): a malformed one raises ``MessageError`` naming the
message and the field (``Observation.state[3]``), so a node logs it, drops that message and
goes on serving the next.
"""

from __future__ import annotations

import math

import numpy as np
from std_msgs.msg import Header

from tgrpo_ros.contract import ACTION_DIM, DoneReason
from tgrpo_ros.data.images import image_to_numpy
from tgrpo_ros.msg import Ids, Observation as ObservationMsg, PolicyVersion as PolicyVersionMsg
from tgrpo_ros.msg import StepResult
from tgrpo_ros.observation import Observation, StepOutcome
from tgrpo_ros.ros.images import numpy_to_image
from tgrpo_ros.sim.libero_env import SUITES
from tgrpo_ros.training.settings import entries
from tgrpo_ros.versioning import PolicyVersion

# Smallest image side accepted: the policy's preprocessing needs at least 2 x 2 pixels.
MIN_IMAGE_SIDE = 2


class MessageError(ValueError):
    """A message from another process is malformed; the text names the message and the field."""


def ids_msg(env_id: str, episode_id: int, step: int, group_id: int) -> Ids:
    return Ids(env_id=env_id, episode_id=int(episode_id), step=int(step), group_id=int(group_id))


def ids_key(ids: Ids) -> tuple[str, int, int]:
    """(env_id, episode_id, step): what an action must match to be applied."""
    return ids.env_id, int(ids.episode_id), int(ids.step)


def observation_to_msg(obs: Observation, ids: Ids, header: Header) -> ObservationMsg:
    msg = ObservationMsg(header=header, ids=ids, instruction=obs.instruction, task=obs.task)
    msg.camera_names = list(obs.images)
    msg.images = [numpy_to_image(np.ascontiguousarray(img), 'rgb8', header)
                  for img in obs.images.values()]
    msg.state_names = list(obs.state_names)
    msg.state = [float(x) for x in np.asarray(obs.state, dtype=np.float64)]
    return msg


def msg_to_observation(msg: ObservationMsg) -> Observation:
    """Convert to the policy's Observation (images as (H, W, 3) uint8 RGB).

    Raises ``MessageError`` naming the field for a malformed message: camera names and images
    that do not pair up, empty or repeated names, an image that cannot be read as RGB (unknown
    encoding, wrong size of data, depth image), a state whose length differs from its names, or
    a state value that is NaN or infinite.
    """
    names = list(msg.camera_names)
    if len(names) != len(msg.images):
        raise MessageError(f'Observation.camera_names has {len(names)} names but '
                           f'Observation.images has {len(msg.images)} images')
    if not names:
        raise MessageError('Observation.images is empty: an observation needs a camera image')
    _check_names('Observation.camera_names', names)
    images = {}
    for k, (name, img) in enumerate(zip(names, msg.images)):
        where = f'Observation.images[{k}] (camera {name!r})'
        if int(img.height) < MIN_IMAGE_SIDE or int(img.width) < MIN_IMAGE_SIDE:
            raise MessageError(f'{where}: image is {img.width} x {img.height} px; at least '
                               f'{MIN_IMAGE_SIDE} x {MIN_IMAGE_SIDE} needed')
        try:
            images[name] = image_to_numpy(img, 'rgb8')
        except ValueError as exc:
            raise MessageError(f'{where}: {exc}') from None
    state_names = list(msg.state_names)
    state = np.asarray(msg.state, dtype=np.float64)
    if state.shape != (len(state_names),):
        raise MessageError(f'Observation.state has {state.size} values but '
                           f'Observation.state_names has {len(state_names)} names')
    _check_names('Observation.state_names', state_names)
    bad = np.flatnonzero(~np.isfinite(state))
    if bad.size:
        k = int(bad[0])
        raise MessageError(f'Observation.state[{k}] ({state_names[k]!r}) = {state[k]} is not '
                           f'finite')
    return Observation(images=images, state=state, state_names=state_names,
                       instruction=msg.instruction, task=msg.task)


def _check_names(field: str, names: list[str]) -> None:
    seen = set()
    for k, name in enumerate(names):
        if not name:
            raise MessageError(f'{field}[{k}] is empty')
        if name in seen:
            raise MessageError(f'{field}[{k}] repeats {name!r}')
        seen.add(name)


def check_action(msg) -> None:
    """Refuse a malformed tgrpo_ros/Action (``MessageError`` naming the field).

    ``action`` must hold ``ACTION_DIM`` finite values (values outside [-1, 1] are the
    environment's to clip, as robosuite does); ``token_ids`` and ``token_logprobs`` are either
    both empty (an action not for learning) or ``ACTION_DIM`` each, the log-probabilities finite
    and <= 0; ``temperature`` finite and >= 0.
    """
    action = list(msg.action)
    if len(action) != ACTION_DIM:
        raise MessageError(f'Action.action has {len(action)} values, expected {ACTION_DIM}')
    for k, v in enumerate(action):
        if not math.isfinite(v):
            raise MessageError(f'Action.action[{k}] = {v} is not finite')
    tokens, logprobs = list(msg.token_ids), list(msg.token_logprobs)
    if len(tokens) not in (0, ACTION_DIM):
        raise MessageError(f'Action.token_ids has {len(tokens)} ids, expected {ACTION_DIM} '
                           '(or none)')
    if len(logprobs) != len(tokens):
        raise MessageError(f'Action.token_logprobs has {len(logprobs)} values for '
                           f'{len(tokens)} Action.token_ids')
    for k, v in enumerate(logprobs):
        # float32 on the wire: a log-probability of a certain token may round just above 0
        if not math.isfinite(v) or v > 1e-6:
            raise MessageError(f'Action.token_logprobs[{k}] = {v} is not a log-probability '
                               '(finite, <= 0)')
    if not math.isfinite(msg.temperature) or msg.temperature < 0:
        raise MessageError(f'Action.temperature = {msg.temperature} must be finite and >= 0')


def check_reset_request(req, default_suite: str) -> str:
    """Refuse a malformed ResetEnv request before it reaches the simulator; return its suite.

    The suite (or ``default_suite`` when empty) must be a LIBERO suite, the task a name or an
    index, ``max_steps`` within the range of ``env.max_steps`` and ``seed`` within what the
    simulator's generators take ([0, 2^32 - 1]). The task's existence and the initial-state
    index are the environment's to check (it knows the suite's tasks).
    """
    suite = req.suite or default_suite
    if suite not in SUITES:
        raise MessageError(f'ResetEnv.suite {suite!r} is not a LIBERO suite; known: '
                           f'{", ".join(SUITES)}')
    if not req.task.strip():
        raise MessageError('ResetEnv.task is empty: name a task of the suite or its index')
    limit = entries()['env.max_steps'].info.range
    if not limit.contains(int(req.max_steps)):
        raise MessageError(f'ResetEnv.max_steps = {req.max_steps} is out of range {limit}')
    if not 0 <= int(req.seed) <= 2 ** 32 - 1:
        raise MessageError(f'ResetEnv.seed = {req.seed} is out of range [0, 4294967295]')
    return suite


def version_msg(v: PolicyVersion) -> PolicyVersionMsg:
    return PolicyVersionMsg(version=int(v.version), sha256=v.sha256)


def msg_version(m: PolicyVersionMsg) -> PolicyVersion:
    return PolicyVersion(int(m.version), m.sha256)


def outcome_to_msg(out: StepOutcome, ids: Ids, header: Header,
                   version: PolicyVersionMsg) -> StepResult:
    return StepResult(header=header, ids=ids, reward=float(out.reward), stage=int(out.stage),
                      num_stages=int(out.num_stages), success=bool(out.success),
                      done=bool(out.done), done_reason=DoneReason(out.done_reason).value,
                      policy_version=version)


def msg_done_reason(msg: StepResult) -> DoneReason:
    """Return the message's done reason as the enum; a string outside the contract raises."""
    return DoneReason.parse(msg.done_reason)
