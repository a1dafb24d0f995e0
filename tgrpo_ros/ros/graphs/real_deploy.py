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

from pathlib import Path

import yaml

from tgrpo_ros.real.robot_profile import load_profile, profiles_dir
from tgrpo_ros.ros.graph import (config_file, Graph, launch_text, LaunchArg, NodeSpec,
                                 register)
from tgrpo_ros.training.settings import (check, entries, parse_text, read_parameter_file,
                                         RealDeploySettings, ros_value)

TABLE = entries(RealDeploySettings)
# The nodes that read each deploy setting (their own, flat parameters of the same name).
DEPLOY_NODES = {'robot_profile': ('/camera_state_bridge', '/arm_adapter'),
                'camera_topics': ('/camera_state_bridge',),
                'instruction': ('/camera_state_bridge',),
                'arm_on_start': ('/arm_adapter',)}


def _setting_arg(path: str) -> LaunchArg:
    e = TABLE[path]
    return LaunchArg(e.info.launch_arg, '', f'{e.describe()} Sets {path}; not given: the '
                     f'parameter file decides (declared default '
                     f"'{launch_text(ros_value(e, e.default))}').", setting=path)


ARGS = [_setting_arg(p) for p in ('deploy.robot_profile', 'deploy.camera_topics',
                                   'deploy.instruction', 'policy.model', 'policy.adapter',
                                   'policy.device', 'policy.temperature',
                                   'policy.lora_rank', 'policy.lora_alpha',
                                   'deploy.arm_on_start')] + [
    LaunchArg('use_sim_time', 'false', 'All three nodes on /clock (a simulated arm or a bag).'),
    LaunchArg('params_file', 'real_deploy.yaml', 'Parameter file under config/ (or absolute).'),
]


def given_settings(v: dict[str, str]) -> dict[str, object]:
    """Return the settings that launch arguments given (non-empty) set, by full name."""
    out = {}
    for a in ARGS:
        if a.setting and v.get(a.name, '') != '':
            try:
                value = parse_text(TABLE[a.setting], v[a.name])
                if value is not None:
                    check(TABLE[a.setting], value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f'launch argument {a.name}: {exc}') from None
            out[a.setting] = value
    return out


def _effective(v: dict[str, str]) -> dict[str, str]:
    """Values the arguments take when not given: the declaration, then the parameter file."""
    path = config_file(v.get('params_file') or 'real_deploy.yaml')
    values = {p: ros_value(e, e.default) for p, e in TABLE.items()}
    values.update(read_parameter_file(path, node='policy'))
    data = yaml.safe_load(Path(path).read_text()) or {}
    for name, nodes in DEPLOY_NODES.items():
        for node in nodes:
            params = (data.get(node) or {}).get('ros__parameters') or {}
            if name in params:
                values[f'deploy.{name}'] = params[name]
    values.update({k: ros_value(TABLE[k], x) for k, x in given_settings(v).items()})
    return {a.name: launch_text(values[a.setting]) for a in ARGS if a.setting}


def _validate(v: dict[str, str]) -> dict[str, str]:
    """Check the arguments (run by resolve_args, so both launchers report errors up front)."""
    given = given_settings(v)
    if not given.get('deploy.robot_profile'):
        known = sorted(p.stem for p in profiles_dir().glob('*.yaml'))
        raise ValueError(f'launch argument robot_profile is required; built-in profiles: '
                         f'{known} (or a path to a YAML file)')
    profile = load_profile(given['deploy.robot_profile'])  # a bad profile fails here
    cameras = given.get('deploy.camera_topics', ())
    if cameras and len(cameras) != len(profile.cameras):
        raise ValueError(f'camera_topics has {len(cameras)} topic(s) {list(cameras)} but profile '
                         f'{profile.name} has {len(profile.cameras)} camera(s) '
                         f'{profile.camera_names()}')
    parse_text(TABLE['deploy.arm_on_start'], v['use_sim_time'])  # true/false, or refused
    return v


def build(v: dict[str, str]) -> list[NodeSpec]:
    _validate(v)
    given = given_settings(v)
    profile = load_profile(given['deploy.robot_profile'])
    sim_time = v['use_sim_time'].lower() in ('true', '1', 'yes')
    params = [config_file(v['params_file'])]
    # Only what was given overrides the parameter file; the cameras follow the profile.
    bridge, adapter = {'use_sim_time': sim_time}, {'use_sim_time': sim_time}
    for name, nodes in DEPLOY_NODES.items():
        if f'deploy.{name}' in given:
            value = ros_value(TABLE[f'deploy.{name}'], given[f'deploy.{name}'])
            if '/camera_state_bridge' in nodes:
                bridge[name] = value
            if '/arm_adapter' in nodes:
                adapter[name] = value
    policy = {k: ros_value(TABLE[k], x) for k, x in given.items() if k.startswith('policy.')}
    policy.update({'env.cameras': profile.camera_names(), 'use_sim_time': sim_time})
    return [NodeSpec('camera_state_bridge', 'camera_state_bridge', params_files=params,
                     parameters=bridge),
            NodeSpec('policy_node', 'policy', params_files=params, parameters=policy),
            NodeSpec('arm_adapter', 'arm_adapter', params_files=params, parameters=adapter)]


GRAPH = register(Graph(
    name='real_deploy',
    description='Deploy a policy on a real arm: camera/state bridge, policy, safe arm adapter.',
    args=ARGS, build=build, prepare=_validate, effective=_effective))
