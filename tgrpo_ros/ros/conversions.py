# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Messages <-> the ROS-free types (Observation, StepOutcome, PolicyVersion), in one place."""

from __future__ import annotations

import numpy as np
from std_msgs.msg import Header

from tgrpo_ros.contract import DoneReason
from tgrpo_ros.data.images import image_to_numpy
from tgrpo_ros.msg import Ids, Observation as ObservationMsg, PolicyVersion as PolicyVersionMsg
from tgrpo_ros.msg import StepResult
from tgrpo_ros.observation import Observation, StepOutcome
from tgrpo_ros.ros.images import numpy_to_image
from tgrpo_ros.versioning import PolicyVersion


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
    """Convert to the policy's Observation (images as (H, W, 3) uint8 RGB)."""
    if len(msg.camera_names) != len(msg.images):
        raise ValueError(f'observation has {len(msg.camera_names)} camera names but '
                         f'{len(msg.images)} images')
    images = {name: image_to_numpy(img, 'rgb8') for name, img in zip(msg.camera_names,
                                                                        msg.images)}
    return Observation(images=images, state=np.asarray(msg.state, dtype=np.float64),
                       state_names=list(msg.state_names), instruction=msg.instruction,
                       task=msg.task)


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
