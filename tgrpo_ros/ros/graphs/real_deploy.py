# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The real_deploy graph: a trained policy drives a real arm through its usual ROS 2 driver.

::

    camera driver ── image ──┐
    arm driver ── joint_states, eef pose, gripper ──> camera_state_bridge ── observation ──┐
                                                                                          v
    arm driver <── TwistStamped / PoseStamped, gripper ── arm_adapter <── action ── policy
                                                           ^  ~/deadman, ~/emergency_stop,
                                                           |  ~/arm, ~/disarm, ~/reset, ~/home
                                                        operator

The robot profile (config/robots/<name>.yaml) sets topics, frames, scale, limits and timeouts
for both the bridge and the adapter. The adapter starts DISARMED unless arm_on_start:=true.
"""

from __future__ import annotations

from tgrpo_ros.real.robot_profile import load_profile, profiles_dir
from tgrpo_ros.ros.graph import config_file, Graph, LaunchArg, NodeSpec, register

ARGS = [
    LaunchArg('robot_profile', '', 'Robot profile (required): franka, ur, sim_test, or a path '
              'to a profile YAML (see config/robots/).'),
    LaunchArg('camera_topics', '', "Comma-separated camera topics in the profile's camera "
              "order, overriding its topics ('' = the profile's)."),
    LaunchArg('instruction', '', 'Task instruction; empty: none until set on '
              '/camera_state_bridge/instruction (no observation is published without one).'),
    LaunchArg('model', 'tiny:test', "Policy: 'tiny:<size>' or a model folder."),
    LaunchArg('adapter', '', "LoRA adapter folder to deploy ('' = the base model)."),
    LaunchArg('device', 'cpu', "Torch device for the policy ('cpu', 'cuda')."),
    LaunchArg('temperature', '0.0', 'Sampling temperature (0 = greedy, the usual for '
              'deployment).'),
    LaunchArg('arm_on_start', 'false', 'Arm the adapter at start-up (motion still needs the '
              'dead-man). Default false: call /arm_adapter/arm.'),
    LaunchArg('use_sim_time', 'false', 'All three nodes on /clock (a simulated arm or a bag).'),
    LaunchArg('params_file', 'real_deploy.yaml', 'Parameter file under config/ (or absolute).'),
]


def _bool(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered not in ('true', 'false', '1', '0', 'yes', 'no'):
        raise ValueError(f'launch argument {name} must be true or false, got {text!r}')
    return lowered in ('true', '1', 'yes')


def _validate(v: dict[str, str]) -> dict[str, str]:
    """Check the arguments (run by resolve_args, so both launchers report errors up front)."""
    if not v['robot_profile']:
        known = sorted(p.stem for p in profiles_dir().glob('*.yaml'))
        raise ValueError(f'launch argument robot_profile is required; built-in profiles: '
                         f'{known} (or a path to a YAML file)')
    profile = load_profile(v['robot_profile'])  # a bad profile fails here, before any node
    cameras = _cameras(v)
    if cameras and len(cameras) != len(profile.cameras):
        raise ValueError(f'camera_topics has {len(cameras)} topic(s) {cameras} but profile '
                         f'{profile.name} has {len(profile.cameras)} camera(s) '
                         f'{profile.camera_names()}')
    try:
        temperature = float(v['temperature'])
    except ValueError:
        raise ValueError(f'launch argument temperature must be a number, got '
                         f'{v["temperature"]!r}') from None
    if not 0.0 <= temperature <= 5.0:
        raise ValueError(f'launch argument temperature = {temperature} is out of [0, 5]')
    _bool('use_sim_time', v['use_sim_time'])
    _bool('arm_on_start', v['arm_on_start'])
    return v


def _cameras(v: dict[str, str]) -> list[str]:
    return [t.strip() for t in v['camera_topics'].split(',') if t.strip()]


def build(v: dict[str, str]) -> list[NodeSpec]:
    _validate(v)
    profile = load_profile(v['robot_profile'])
    cameras = _cameras(v)
    temperature = float(v['temperature'])
    sim_time = _bool('use_sim_time', v['use_sim_time'])
    params = [config_file(v['params_file'])]
    bridge = {'robot_profile': v['robot_profile'], 'instruction': v['instruction'],
              'use_sim_time': sim_time}
    if cameras:
        bridge['camera_topics'] = cameras
    policy = {'model': v['model'], 'adapter': v['adapter'], 'device': v['device'],
              'temperature': temperature, 'cameras': profile.camera_names(),
              'use_sim_time': sim_time}
    adapter = {'robot_profile': v['robot_profile'],
               'arm_on_start': _bool('arm_on_start', v['arm_on_start']),
               'use_sim_time': sim_time}
    return [NodeSpec('camera_state_bridge', 'camera_state_bridge', params_files=params,
                     parameters=bridge),
            NodeSpec('policy_node', 'policy', params_files=params, parameters=policy),
            NodeSpec('arm_adapter', 'arm_adapter', params_files=params, parameters=adapter)]


GRAPH = register(Graph(
    name='real_deploy',
    description='Deploy a policy on a real arm: camera/state bridge, policy, safe arm adapter.',
    args=ARGS, build=build, prepare=_validate))
