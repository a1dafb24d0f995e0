# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The real_train graph: online TGRPO on one robot arm, the group's trials one after another.

::

    arm driver / sim_robot ── camera, joint_states, poses ──> camera_state_bridge
        camera_state_bridge ── bridge_observation ──> robot_env ── observation (ids) ──> policy
        policy ── action ──> arm_adapter ── twist, gripper ──> arm driver / sim_robot
                        └──> robot_env ── step_result (reward from poses / labels) ──> learner
        learner ── reset ──> robot_env ── reset ──> operator (a person, or the script)
        operator ── operator/labels ──> robot_env, bag_recorder
        learner ── adapter_announcement ──> policy

The learner is the sim_train learner with ``env.robot`` set (``ros/robot_collector.py``), so
every setting of sim_train applies (``preset:=``, ``params_file:=``, the setting arguments);
the arguments below are the robot's. With ``sim:=true`` the arm is ``sim_robot`` (the LIBERO
scene behind real driver interfaces) and the operator is scripted; otherwise the operator node
opens its terminal interface and the arm is whatever the profile's topics reach. Every trial
is recorded (``record``, default <run folder>/bags) with the operator's labels.
"""

from __future__ import annotations

from pathlib import Path

from tgrpo_ros.real.robot_profile import load_profile
from tgrpo_ros.ros.graph import Graph, LaunchArg, NodeSpec, register
from tgrpo_ros.ros.graphs.recording import recorder_node_spec
from tgrpo_ros.ros.graphs.sim_train import (ARGS as TRAIN_ARGS, given_settings, parameter_files,
                                            resolve_settings, _effective, _prepare)
from tgrpo_ros.training.settings import entries, ros_value

ROBOT_ENV = 'robot'
ARGS = [a for a in TRAIN_ARGS if a.name not in ('placement', 'record', 'record_versions')] + [
    LaunchArg('robot_profile', 'sim_franka', 'Robot profile (config/robots/<name>.yaml or a path)'
              ': topics, frames, action scale, limits.'),
    LaunchArg('sim', 'true', 'true: start sim_robot and a scripted operator; false: a real arm '
              'and a person at the operator terminal.'),
    LaunchArg('reward_sources', 'pose,operator', 'Where rewards come from: pose (dense stages '
              "from the pose topics), operator (labels), topic (another node's reward)."),
    LaunchArg('reward_spec', '', "Reward spec file of the task ('' = the package's spec of "
              'env.suite/first task).'),
    LaunchArg('task_geometry', '', "Task geometry YAML for the pose reward (objects' boxes, "
              "goal regions), in the pose topics' frame."),
    LaunchArg('goal', '', "The task's goal for the pose reward's success, e.g. "
              "'In alphabet_soup_1 basket_1_contain_region' (';' between predicates)."),
    LaunchArg('abort_trials', '', "Scripted operator: trials it aborts, 'group:trial,...'."),
    LaunchArg('placement_error_m', '0.01', 'Scripted operator: object placement error per axis '
              '[m] when it restores a scene.'),
    LaunchArg('record', '', "Bag folder for every trial ('' = <run folder>/bags)."),
    LaunchArg('arm_on_start', 'false', 'Arm the adapter at start (the scripted operator arms '
              'it and holds the dead-man).'),
]


def build(v: dict[str, str]) -> list[NodeSpec]:
    settings = resolve_settings(v)
    profile = load_profile(v['robot_profile'])
    sim = v['sim'].lower() in ('true', '1', 'yes')
    table = entries()
    overrides = {path: ros_value(table[path], value)
                 for path, value in given_settings(v).items()}
    overrides.update({'run.output_dir': v['output_dir'], 'env.robot': ROBOT_ENV,
                      'env.cameras': profile.camera_names(), 'use_sim_time': sim})
    params = parameter_files(v)
    common = {'robot_profile': v['robot_profile'], 'use_sim_time': sim}
    robot_env = dict(common, env_id=ROBOT_ENV,
                     reward_sources=[s.strip() for s in v['reward_sources'].split(',') if s],
                     reward_spec=v['reward_spec'], task_geometry=v['task_geometry'],
                     goal=[g.strip() for g in v['goal'].split(';') if g.strip()] or [''],
                     max_steps=settings.env.max_steps or 280)
    nodes = []
    if sim:
        # The clock's source runs on wall time (its timers would wait on itself otherwise).
        nodes.append(NodeSpec('sim_robot_node', 'sim_robot', parameters={
            'robot_profile': v['robot_profile'],
            'placement_error_m': float(v['placement_error_m'])}))
    nodes += [
        NodeSpec('camera_state_bridge', 'camera_state_bridge', parameters=dict(common),
                 remappings=[('observation', 'bridge_observation')]),
        NodeSpec('robot_env_node', 'robot_env', parameters=robot_env),
        NodeSpec('operator_node', 'operator', parameters={
            'scripted': sim, 'abort_trials': v['abort_trials'], 'use_sim_time': sim,
            'trials_per_group': settings.algo.group_size,
            'placement_error_m': float(v['placement_error_m'])}),
        NodeSpec('arm_adapter', 'arm_adapter', parameters=dict(
            common, env_id=ROBOT_ENV,
            arm_on_start=v['arm_on_start'].lower() in ('true', '1', 'yes'))),
        NodeSpec('policy_node', 'policy', params_files=params, parameters=dict(overrides)),
        NodeSpec('learner_node', 'learner', params_files=params, parameters=dict(overrides)),
        recorder_node_spec(v['record'] or str(Path(v['output_dir']) / 'bags'),
                           topics=('/operator/labels',)),
    ]
    return nodes


GRAPH = register(Graph(
    name='real_train',
    description='Online TGRPO on a robot arm: trials one after another, an operator resets.',
    args=ARGS, build=build, prepare=_prepare, effective=_effective,
    run_dir=lambda v: v['output_dir'],
    progress_file=lambda v: str(Path(v['output_dir']) / 'progress.json')))
