# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Topic maps: which recorded topics feed which policy input, and what the recorded action is.

A topic map is a YAML file (examples with every key documented: ``config/topic_maps/``)::

    # Inputs: either one tgrpo_ros/msg/Observation topic ...
    observation: /env0/observation
    # ... or separate topics (any mix; missing ones are simply not used)
    cameras:                       # policy camera name -> topic (Image or CompressedImage)
      agentview: /camera/color/image_raw/compressed
    joint_states: /joint_states    # JointState -> state joint_pos_<i>, gripper_qpos_<i>
    gripper_joints: [panda_finger_joint1, panda_finger_joint2]
    eef_pose: /eef_pose            # PoseStamped / Pose / TransformStamped -> eef_pos_*, eef_quat_*
    # ... or from TF: {parent: base_link, child: tool0, tf_topics: [/tf, /tf_static]}
    instruction: pick up the ketchup and place it in the basket   # text, or {topic: /instruction}

    # The recorded action: an action topic in the environment's action space ...
    action: /env0/action           # tgrpo_ros/msg/Action, Float64MultiArray, Float32MultiArray
    # ... or the end-effector motion between control steps, converted to OSC_POSE deltas
    action_from_motion:
      rate_hz: 20                  # control rate: one sample per 1/rate_hz seconds of pose
      translation_scale: 0.05      # metres per control step that action 1.0 means
      rotation_scale: 0.5          # radians per control step that action 1.0 means
      gripper_closed_below: 0.04   # summed finger opening [m] below which the gripper is closed

    pairing:
      mode: auto                   # ids | time | auto (ids when observation and action carry ids)
      clock: receive               # receive (bag time) | header (header.stamp; messages
                                   # without a header, e.g. Float64MultiArray, use bag time)
      max_age: 0.2                 # s: inputs older than this before the action are stale
    episode_gap: 2.0               # s without actions (or poses) starts a new episode
    step_result: /env0/step_result # optional: tgrpo_ros/msg/StepResult, done ends an episode
    physical_scale: [0.05, 0.05, 0.05, 0.5, 0.5, 0.5]   # m, m, m, rad, rad, rad per action unit
    physical_units: [m, m, m, rad, rad, rad]
    robot_profile: franka          # optional: scales and control rate of config/robots/franka

Defaults of the scales are robosuite's OSC_POSE limits that LIBERO uses (an action of 1.0 asks
for 0.05 m of translation or 0.5 rad of rotation in one control step). With ``robot_profile``
(a name under config/robots/ or a YAML path) they come from the profile's ``action_scale`` and
``control_rate_hz`` instead, unless given explicitly here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import math
from pathlib import Path

import yaml

from tgrpo_ros.real.robot_profile import load_profile

OSC_TRANSLATION_SCALE = 0.05   # m per control step at action 1.0 (robosuite OSC_POSE)
OSC_ROTATION_SCALE = 0.5       # rad per control step at action 1.0
DEFAULT_PHYSICAL_SCALE = [OSC_TRANSLATION_SCALE] * 3 + [OSC_ROTATION_SCALE] * 3
DEFAULT_PHYSICAL_UNITS = ['m', 'm', 'm', 'rad', 'rad', 'rad']
PAIRING_MODES = ('auto', 'ids', 'time')
CLOCKS = ('receive', 'header')


class TopicMapError(ValueError):
    """A topic map is invalid; the message names the file and the key."""


@dataclass
class MotionAction:
    """Recorded action derived from end-effector motion (see module docstring)."""

    rate_hz: float = 20.0
    translation_scale: float = OSC_TRANSLATION_SCALE
    rotation_scale: float = OSC_ROTATION_SCALE
    gripper_closed_below: float | None = 0.04


@dataclass
class TopicMap:
    observation: str | None = None
    cameras: dict[str, str] = field(default_factory=dict)
    joint_states: str | None = None
    gripper_joints: list[str] = field(default_factory=list)
    eef_pose: str | None = None
    eef_tf: tuple[str, str] | None = None
    tf_topics: list[str] = field(default_factory=list)
    instruction_text: str | None = None
    instruction_topic: str | None = None
    action: str | None = None
    action_from_motion: MotionAction | None = None
    pairing_mode: str = 'auto'
    clock: str = 'receive'
    max_age: float = 0.2
    episode_gap: float = 2.0
    step_result: str | None = None
    physical_scale: list[float] = field(default_factory=lambda: list(DEFAULT_PHYSICAL_SCALE))
    physical_units: list[str] = field(default_factory=lambda: list(DEFAULT_PHYSICAL_UNITS))
    source: str = '<dict>'

    def input_topics(self) -> list[str]:
        """Topics the policy's inputs come from (in a stable order)."""
        out = [self.observation] + list(self.cameras.values()) + [
            self.joint_states, self.eef_pose, self.instruction_topic] + self.tf_topics
        return _unique(t for t in out if t)

    def optional_topics(self) -> list[str]:
        """Return the mapped topics a bag may lack (step results; /tf_static beside /tf)."""
        return ([self.step_result] if self.step_result else []) + self.tf_topics[1:]

    @property
    def has_eef(self) -> bool:
        return bool(self.eef_pose or self.eef_tf)

    def action_topics(self) -> list[str]:
        if self.action:
            return [self.action]
        return _unique(t for t in [self.eef_pose, self.joint_states] + self.tf_topics if t)

    def all_topics(self) -> list[str]:
        return _unique(self.input_topics() + self.action_topics()
                       + ([self.step_result] if self.step_result else []))

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop('source')
        return d


def _unique(items) -> list:
    out = []
    for x in items:
        if x not in out:
            out.append(x)
    return out


def _topic(value, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TopicMapError(f'{where} must be a topic name (string), got {value!r}')
    value = value.strip()
    return value if value.startswith('/') else '/' + value


def _mapping(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise TopicMapError(f'{where} must be a mapping, got {value!r}')
    return value


def _keys(value: dict, known, where: str) -> None:
    unknown = sorted(str(k) for k in value if k not in known)
    if unknown:
        raise TopicMapError(f'{where}: unknown key(s) {unknown}; known: {sorted(known)}')


def _number(value, where: str, positive: bool = True) -> float:
    """Return a finite number (> 0 when ``positive``, else >= 0); errors name ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise TopicMapError(f'{where} must be a finite number {"> 0" if positive else ">= 0"}, '
                            f'got {value!r}')
    return float(value)


def _text_list(value, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise TopicMapError(f'{where} must be a list of non-empty strings, got {value!r}')
    return list(value)


def _frame(value, where: str) -> str:
    if not isinstance(value, str) or not value.strip('/ '):
        raise TopicMapError(f'{where} must be a frame name (string), got {value!r}')
    return value.strip().lstrip('/')


_KNOWN = {'observation', 'cameras', 'joint_states', 'gripper_joints', 'eef_pose', 'instruction',
          'action', 'action_from_motion', 'pairing', 'episode_gap', 'step_result',
          'physical_scale', 'physical_units', 'robot_profile'}


def parse_topic_map(raw: dict, source: str = '<dict>') -> TopicMap:
    """Validate a topic map dict (as read from YAML); errors name ``source`` and the key."""
    if not isinstance(raw, dict):
        raise TopicMapError(f'{source}: a topic map must be a mapping, got {type(raw).__name__}')
    _keys(raw, _KNOWN, source)
    m = TopicMap(source=source)
    profile_defaults: dict = {}
    if raw.get('robot_profile') is not None:
        if not isinstance(raw['robot_profile'], str):
            raise TopicMapError(f'{source}: robot_profile must be a profile name or a YAML path, '
                                f'got {raw["robot_profile"]!r}')
        try:
            prof = load_profile(raw['robot_profile'])
        except (OSError, ValueError) as exc:
            raise TopicMapError(f'{source}: robot_profile: {exc}') from exc
        profile_defaults = {
            'physical_scale': list(prof.linear_scale_m) + list(prof.angular_scale_rad),
            'rate_hz': prof.control_rate_hz,
            'translation_scale': float(prof.linear_scale_m[0]),
            'rotation_scale': float(prof.angular_scale_rad[0])}
    if raw.get('observation') is not None:
        m.observation = _topic(raw['observation'], f'{source}: observation')
    cams = _mapping(raw.get('cameras') or {}, f'{source}: cameras')
    for k, v in cams.items():
        if not isinstance(k, str) or not k:
            raise TopicMapError(f'{source}: cameras: camera name {k!r} must be a non-empty '
                                'string')
        m.cameras[k] = _topic(v, f'{source}: cameras.{k}')
    if raw.get('joint_states') is not None:
        m.joint_states = _topic(raw['joint_states'], f'{source}: joint_states')
    m.gripper_joints = _text_list(raw.get('gripper_joints') or [], f'{source}: gripper_joints')
    eef = raw.get('eef_pose')
    if isinstance(eef, dict):
        _keys(eef, ('parent', 'child', 'tf_topics'), f'{source}: eef_pose')
        if 'parent' not in eef or 'child' not in eef:
            raise TopicMapError(f'{source}: eef_pose from TF needs `parent` and `child` frames '
                                '(and optionally `tf_topics`)')
        m.eef_tf = (_frame(eef['parent'], f'{source}: eef_pose.parent'),
                    _frame(eef['child'], f'{source}: eef_pose.child'))
        tf_topics = eef.get('tf_topics', ['/tf', '/tf_static'])
        if not isinstance(tf_topics, list) or not tf_topics:
            raise TopicMapError(f'{source}: eef_pose.tf_topics must be a list of topics, got '
                                f'{tf_topics!r}')
        m.tf_topics = [_topic(t, f'{source}: eef_pose.tf_topics[{k}]')
                       for k, t in enumerate(tf_topics)]
    elif eef is not None:
        m.eef_pose = _topic(eef, f'{source}: eef_pose')
    instr = raw.get('instruction')
    if isinstance(instr, dict):
        _keys(instr, ('topic', 'text'), f'{source}: instruction')
        if 'topic' in instr:
            m.instruction_topic = _topic(instr['topic'], f'{source}: instruction.topic')
        if 'text' in instr:
            if not isinstance(instr['text'], str):
                raise TopicMapError(f'{source}: instruction.text must be a string, got '
                                    f'{instr["text"]!r}')
            m.instruction_text = instr['text']
    elif isinstance(instr, str):
        m.instruction_text = instr
    elif instr is not None:
        raise TopicMapError(f'{source}: instruction must be the task text or {{topic: /name}}, '
                            f'got {instr!r}')
    if not m.observation and not m.cameras:
        raise TopicMapError(f'{source}: no image input: set `observation` (a tgrpo_ros '
                            'Observation topic) or `cameras`')
    if not m.observation and not (m.instruction_text or m.instruction_topic):
        raise TopicMapError(f'{source}: no instruction: set `instruction` to the task text or to '
                            '{topic: /name} (std_msgs/String)')
    if raw.get('action') is not None and raw.get('action_from_motion') is not None:
        raise TopicMapError(f'{source}: set either `action` or `action_from_motion`, not both')
    if raw.get('action') is not None:
        m.action = _topic(raw['action'], f'{source}: action')
    elif raw.get('action_from_motion') is not None:
        where = f'{source}: action_from_motion'
        mo = _mapping(raw['action_from_motion'] or {}, where)
        _keys(mo, MotionAction.__dataclass_fields__, where)
        values = {**{k: profile_defaults[k] for k in ('rate_hz', 'translation_scale',
                                                      'rotation_scale') if k in profile_defaults},
                  **mo}
        for k in ('rate_hz', 'translation_scale', 'rotation_scale'):
            if k in values:
                values[k] = _number(values[k], f'{where}.{k}')
        if values.get('gripper_closed_below') is not None:
            values['gripper_closed_below'] = _number(values['gripper_closed_below'],
                                                     f'{where}.gripper_closed_below')
        m.action_from_motion = MotionAction(**values)
        if not m.has_eef:
            raise TopicMapError(f'{source}: action_from_motion needs `eef_pose`')
        if m.action_from_motion.gripper_closed_below is not None and not m.joint_states:
            raise TopicMapError(f'{source}: action_from_motion.gripper_closed_below needs '
                                '`joint_states` (and `gripper_joints`)')
    else:
        raise TopicMapError(f'{source}: no recorded action: set `action` (a topic) or '
                            '`action_from_motion`')
    pairing = _mapping(raw.get('pairing') or {}, f'{source}: pairing')
    _keys(pairing, ('mode', 'clock', 'max_age'), f'{source}: pairing')
    m.pairing_mode = pairing.get('mode', 'auto')
    if m.pairing_mode not in PAIRING_MODES:
        raise TopicMapError(f'{source}: pairing.mode {m.pairing_mode!r} not in {PAIRING_MODES}')
    m.clock = pairing.get('clock', 'receive')
    if m.clock not in CLOCKS:
        raise TopicMapError(f'{source}: pairing.clock {m.clock!r} not in {CLOCKS}')
    m.max_age = _number(pairing.get('max_age', 0.2), f'{source}: pairing.max_age')
    if m.pairing_mode == 'ids' and not (m.observation and m.action):
        raise TopicMapError(f'{source}: pairing.mode ids needs `observation` and `action` '
                            'topics of tgrpo_ros types (they carry ids)')
    m.episode_gap = _number(raw.get('episode_gap', 2.0), f'{source}: episode_gap')
    if raw.get('step_result') is not None:
        m.step_result = _topic(raw['step_result'], f'{source}: step_result')
    scale = raw.get('physical_scale',
                    profile_defaults.get('physical_scale', DEFAULT_PHYSICAL_SCALE))
    units = raw.get('physical_units', DEFAULT_PHYSICAL_UNITS)
    for name, value in (('physical_scale', scale), ('physical_units', units)):
        if not isinstance(value, list) or len(value) != 6:
            raise TopicMapError(f'{source}: {name} needs a list of 6 entries (x, y, z, roll, '
                                f'pitch, yaw; the gripper has no physical unit), got {value!r}')
    m.physical_scale = [_number(x, f'{source}: physical_scale[{k}]') for k, x in enumerate(scale)]
    m.physical_units = _text_list(units, f'{source}: physical_units')
    return m


def resolve_topic_map(value: str) -> TopicMap:
    """Return the topic map ``value`` names: ``sim[:<namespace>]`` or a YAML file's path."""
    if value == 'sim' or value.startswith('sim:'):
        return sim_topic_map(value.split(':', 1)[1] if ':' in value else 'env0')
    return load_topic_map(value)


def load_topic_map(path: str | Path) -> TopicMap:
    path = Path(path)
    if not path.is_file():
        raise TopicMapError(f'topic map {path} does not exist')
    try:
        raw = yaml.safe_load(path.read_text(encoding='utf-8'))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TopicMapError(f'topic map {path} is not valid YAML: {exc}') from exc
    return parse_topic_map(raw, str(path))


def sim_topic_map(env: str = 'env0') -> TopicMap:
    """Return the map for bags of this package's own topics (``/<env>/observation`` etc.).

    ``env=''`` is the root namespace (``/observation``), where the sim_train graph's
    environments share their topics (the ids tell them apart).
    """
    ns = f'/{env.strip("/")}' if env.strip('/') else ''
    return parse_topic_map({'observation': f'{ns}/observation', 'action': f'{ns}/action',
                            'step_result': f'{ns}/step_result'}, f'<sim {env or "/"}>')
