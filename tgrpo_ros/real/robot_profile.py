# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Robot profiles: how the environment's action space drives one real arm (ROS-free).

A profile is a YAML file in ``config/robots/`` (``franka.yaml``, ``ur.yaml``, ``sim_test.yaml``);
every field is documented there with its unit and bounds. It says:

- the scale from action units (LIBERO's OSC_POSE deltas in [-1, 1], ``tgrpo_ros.contract``)
  to metres and radians per control step, and the control rate;
- the command interface (``twist``: geometry_msgs/TwistStamped for MoveIt Servo, in m/s and
  rad/s; ``pose``: geometry_msgs/PoseStamped targets for a Cartesian pose/impedance controller)
  and the gripper interface (``topic``: std_msgs/Float64MultiArray position command;
  ``action``: control_msgs/action/GripperCommand; ``none``);
- the frames, the camera topics mapped to the policy's camera names, the state topics;
- the safety limits (per-axis speed and acceleration, workspace box, timeouts) and the home pose.

``load_profile(name_or_path)`` reads and validates one; a bad value is a ``ValueError`` naming
the file, the field and the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
import os
from pathlib import Path

import yaml

from tgrpo_ros.paths import share_dir

COMMAND_INTERFACES = ('twist', 'pose')
GRIPPER_INTERFACES = ('topic', 'action', 'none')
EEF_SOURCES = ('topic', 'tf')


@dataclass(frozen=True)
class CameraSpec:
    """One camera: the policy's name for it and the ROS topic that carries it."""

    name: str
    topic: str
    compressed: bool = False
    # Mirror left-right before the policy sees it: LIBERO-trained policies saw LIBERO's images,
    # which are mirrored compared with a real camera at the same pose (tgrpo_ros.sim.libero_env).
    mirror: bool = False


@dataclass(frozen=True)
class GripperSpec:
    interface: str = 'none'
    command_topic: str = ''
    action_name: str = ''
    open_position: float = 0.08
    closed_position: float = 0.0
    max_effort: float = 20.0
    threshold: float = 0.0
    state_topic: str = ''
    state_joints: tuple[str, ...] = ()
    state_signs: tuple[float, ...] = ()


@dataclass(frozen=True)
class RobotProfile:
    """A validated robot profile (units in the field names; see config/robots/*.yaml)."""

    name: str
    source: str
    driver: str
    untested: tuple[str, ...]
    control_rate_hz: float
    base_frame: str
    eef_frame: str
    linear_scale_m: tuple[float, float, float]
    angular_scale_rad: tuple[float, float, float]
    max_linear_speed_mps: tuple[float, float, float]
    max_angular_speed_radps: tuple[float, float, float]
    max_linear_accel_mps2: tuple[float, float, float]
    max_angular_accel_radps2: tuple[float, float, float]
    workspace_min_m: tuple[float, float, float]
    workspace_max_m: tuple[float, float, float]
    action_hold_timeout_s: float
    observation_timeout_s: float
    state_timeout_s: float
    deadman_timeout_s: float
    command_interface: str
    command_topic: str
    command_frame: str
    gripper: GripperSpec
    cameras: tuple[CameraSpec, ...]
    joint_states_topic: str
    arm_joints: tuple[str, ...]
    eef_source: str
    eef_pose_topic: str
    sync_tolerance_s: float
    input_stale_s: float
    home_position_m: tuple[float, float, float]
    home_orientation_xyzw: tuple[float, float, float, float]
    home_tolerance_m: float
    home_tolerance_rad: float
    extra: dict = field(default_factory=dict)

    @property
    def control_period_s(self) -> float:
        return 1.0 / self.control_rate_hz

    def camera_names(self) -> list[str]:
        return [c.name for c in self.cameras]


def profiles_dir() -> Path:
    """Return the folder holding the built-in profiles.

    The source checkout's ``config/robots`` when this module runs from one (so an edited profile
    is never shadowed by a stale installed copy), else the installed share folder.
    """
    checkout = Path(__file__).resolve().parents[1] / 'config' / 'robots'
    return checkout if checkout.is_dir() else share_dir() / 'config' / 'robots'


def resolve_profile_path(name_or_path: str) -> Path:
    """Return the YAML file for a profile name (``franka``) or a path to a YAML file."""
    if name_or_path.endswith(('.yaml', '.yml')) or os.sep in name_or_path:
        path = Path(name_or_path).expanduser()
    else:
        path = profiles_dir() / f'{name_or_path}.yaml'
    if not path.is_file():
        known = sorted(p.stem for p in profiles_dir().glob('*.yaml'))
        raise FileNotFoundError(f'robot profile {name_or_path!r} not found at {path}; '
                                f'built-in profiles: {known}')
    return path


def load_profile(name_or_path: str) -> RobotProfile:
    path = resolve_profile_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding='utf-8'))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f'{path}: not a readable YAML robot profile: {exc}') from None
    return profile_from_dict(data, source=str(path))


class _Reader:
    """Reads fields from a nested dict and raises errors naming the file and the field."""

    def __init__(self, data: dict, source: str):
        if not isinstance(data, dict):
            raise ValueError(f'{source}: a robot profile must be a mapping, got {type(data)}')
        self.data, self.source = data, source
        self.read: set[str] = set()  # every dotted field asked for, to find unknown ones

    def _get(self, dotted: str, default=None, required=True):
        self.read.add(dotted)
        node = self.data
        for part in dotted.split('.'):
            if not isinstance(node, dict) or part not in node:
                if required:
                    raise ValueError(f'{self.source}: missing field {dotted!r}')
                return default
            node = node[part]
        return node

    def unknown(self) -> list[str]:
        """Fields of the file that nothing read (a typo would otherwise change nothing)."""
        out = []

        def walk(node: dict, prefix: str) -> None:
            for key, value in node.items():
                dotted = f'{prefix}{key}'
                if dotted in self.read:
                    continue
                if isinstance(value, dict) and any(r.startswith(dotted + '.')
                                                   for r in self.read):
                    walk(value, dotted + '.')
                else:
                    out.append(dotted)
        walk(self.data, '')
        return out

    def fail(self, dotted: str, value, why: str):
        raise ValueError(f'{self.source}: field {dotted!r} = {value!r} {why}')

    def text(self, dotted: str, default: str | None = None, allowed=None) -> str:
        value = self._get(dotted, default, required=default is None)
        if not isinstance(value, str):
            self.fail(dotted, value, 'must be a string')
        if allowed is not None and value not in allowed:
            self.fail(dotted, value, f'must be one of {list(allowed)}')
        return value

    def number(self, dotted: str, low: float, high: float, default: float | None = None,
               low_open: bool = True) -> float:
        value = self._get(dotted, default, required=default is None)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            self.fail(dotted, value, 'must be a finite number')
        if (value <= low if low_open else value < low) or value > high:
            bracket = '(' if low_open else '['
            self.fail(dotted, value, f'is out of bounds {bracket}{low}, {high}]')
        return float(value)

    def vector(self, dotted: str, length: int, low: float, high: float,
               low_open: bool = True) -> tuple[float, ...]:
        value = self._get(dotted)
        if not isinstance(value, (list, tuple)) or len(value) != length:
            self.fail(dotted, value, f'must be a list of {length} numbers')
        out = []
        for k, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                self.fail(f'{dotted}[{k}]', v, 'must be a finite number')
            if (v <= low if low_open else v < low) or v > high:
                self.fail(f'{dotted}[{k}]', v,
                          f'is out of bounds {"(" if low_open else "["}{low}, {high}]')
            out.append(float(v))
        return tuple(out)

    def strings(self, dotted: str, default=()) -> tuple[str, ...]:
        value = self._get(dotted, list(default), required=False)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(dotted, value, 'must be a list of strings')
        return tuple(value)

    def flag(self, dotted: str, default: bool) -> bool:
        value = self._get(dotted, default, required=False)
        if not isinstance(value, bool):
            self.fail(dotted, value, 'must be true or false')
        return value


def profile_from_dict(data: dict, source: str = '<dict>') -> RobotProfile:
    """Validate a parsed profile (see config/robots/*.yaml for every field's meaning)."""
    r = _Reader(data, source)
    ws_min = r.vector('workspace.min_m', 3, -10.0, 10.0, low_open=False)
    ws_max = r.vector('workspace.max_m', 3, -10.0, 10.0, low_open=False)
    for k in range(3):
        if ws_min[k] >= ws_max[k]:
            r.fail(f'workspace.min_m[{k}]', ws_min[k],
                   f'must be below workspace.max_m[{k}] = {ws_max[k]}')
    interface = r.text('command.interface', allowed=COMMAND_INTERFACES)
    g_interface = r.text('gripper.interface', allowed=GRIPPER_INTERFACES)
    joints = r.strings('gripper.state_joints')
    signs = r._get('gripper.state_signs', [1.0] * len(joints), required=False)
    if not isinstance(signs, list) or len(signs) != len(joints) \
            or not all(s in (1, -1, 1.0, -1.0) for s in signs):
        r.fail('gripper.state_signs', signs,
               f'must list +1 or -1 for each of the {len(joints)} gripper.state_joints')
    # Both read whatever the interface, so that a wrong value is refused, not ignored.
    command_topic = r.text('gripper.command_topic', '')
    action_name = r.text('gripper.action_name', '')
    if g_interface == 'action' and not action_name:
        r.fail('gripper.action_name', action_name, "is required when gripper.interface is "
               "'action'")
    gripper = GripperSpec(
        interface=g_interface,
        command_topic=command_topic if g_interface == 'topic' else '',
        action_name=action_name if g_interface == 'action' else '',
        open_position=r.number('gripper.open_position', -1.0, 10.0, 0.08, low_open=False),
        closed_position=r.number('gripper.closed_position', -1.0, 10.0, 0.0, low_open=False),
        max_effort=r.number('gripper.max_effort', 0.0, 1000.0, 20.0, low_open=False),
        threshold=r.number('gripper.threshold', -1.0, 1.0, 0.0, low_open=False),
        state_topic=r.text('gripper.state_topic', ''),
        state_joints=joints, state_signs=tuple(float(s) for s in signs))
    if g_interface == 'topic' and not gripper.command_topic:
        r.fail('gripper.command_topic', '', "is required when gripper.interface is 'topic'")
    cams = r._get('cameras')
    if not isinstance(cams, dict) or not cams:
        r.fail('cameras', cams, 'must map at least one policy camera name to a topic')
    cameras = []
    for name, spec in cams.items():
        if not isinstance(name, str) or not name:
            r.fail('cameras', name, 'has a camera name that is not a non-empty string')
        if isinstance(spec, str):
            spec = {'topic': spec}
        if not isinstance(spec, dict) or not isinstance(spec.get('topic'), str) \
                or not spec['topic'] or set(spec) - {'topic', 'compressed', 'mirror'} \
                or not isinstance(spec.get('compressed', False), bool):
            r.fail(f'cameras.{name}', spec, 'must be a topic or {topic: ..., compressed: '
                   'true/false, mirror: true/false}')
        if not isinstance(spec.get('mirror', False), bool):
            r.fail(f'cameras.{name}.mirror', spec['mirror'], 'must be true or false')
        cameras.append(CameraSpec(name=name, topic=spec['topic'],
                                  compressed=spec.get('compressed', False),
                                  mirror=spec.get('mirror', False)))
    quat = r.vector('home.orientation_xyzw', 4, -1.0, 1.0, low_open=False)
    norm = math.sqrt(sum(q * q for q in quat))
    if abs(norm - 1.0) > 1e-3:
        r.fail('home.orientation_xyzw', list(quat), f'must be a unit quaternion (norm {norm:.4f})')
    home_pos = r.vector('home.position_m', 3, -10.0, 10.0, low_open=False)
    for k in range(3):
        if not ws_min[k] <= home_pos[k] <= ws_max[k]:
            r.fail(f'home.position_m[{k}]', home_pos[k],
                   f'lies outside the workspace [{ws_min[k]}, {ws_max[k]}]')
    eef_source = r.text('state.eef_source', 'topic', allowed=EEF_SOURCES)
    if eef_source == 'topic' and not r.text('state.eef_pose_topic', ''):
        r.fail('state.eef_pose_topic', '', "is required when state.eef_source is 'topic'")
    profile = RobotProfile(
        name=r.text('name'), source=source, driver=r.text('driver'),
        untested=r.strings('untested'),
        control_rate_hz=r.number('control_rate_hz', 0.0, 1000.0),
        base_frame=r.text('frames.base'), eef_frame=r.text('frames.eef'),
        linear_scale_m=r.vector('action_scale.linear_m_per_step', 3, 0.0, 0.5),
        angular_scale_rad=r.vector('action_scale.angular_rad_per_step', 3, 0.0, 3.2),
        max_linear_speed_mps=r.vector('limits.max_linear_speed_mps', 3, 0.0, 2.0),
        max_angular_speed_radps=r.vector('limits.max_angular_speed_radps', 3, 0.0, 6.3),
        max_linear_accel_mps2=r.vector('limits.max_linear_accel_mps2', 3, 0.0, 20.0),
        max_angular_accel_radps2=r.vector('limits.max_angular_accel_radps2', 3, 0.0, 60.0),
        workspace_min_m=ws_min, workspace_max_m=ws_max,
        action_hold_timeout_s=r.number('timeouts.action_hold_s', 0.0, 5.0),
        observation_timeout_s=r.number('timeouts.observation_s', 0.0, 5.0),
        state_timeout_s=r.number('timeouts.state_s', 0.0, 5.0),
        deadman_timeout_s=r.number('timeouts.deadman_s', 0.0, 5.0),
        command_interface=interface, command_topic=r.text('command.topic'),
        command_frame=r.text('command.frame'), gripper=gripper, cameras=tuple(cameras),
        joint_states_topic=r.text('state.joint_states_topic', ''),
        arm_joints=r.strings('state.arm_joints'), eef_source=eef_source,
        eef_pose_topic=r.text('state.eef_pose_topic', ''),
        sync_tolerance_s=r.number('sync.tolerance_s', 0.0, 1.0),
        input_stale_s=r.number('sync.stale_s', 0.0, 5.0),
        home_position_m=home_pos, home_orientation_xyzw=quat,
        home_tolerance_m=r.number('home.tolerance_m', 0.0, 0.1),
        home_tolerance_rad=r.number('home.tolerance_rad', 0.0, 0.5),
        extra={k: v for k, v in data.items() if k in ('notes', 'sim')})
    r.read.update(('notes', 'sim'))  # free text for people; sim_robot's own section
    unknown = r.unknown()
    if unknown:
        raise ValueError(f'{source}: unknown field(s) {unknown} (a misspelt field would be '
                         'ignored; see config/robots/sim_test.yaml for every field)')
    return profile
