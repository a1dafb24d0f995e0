# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The real_deploy graph description, its launch file, and the graph started by the launcher."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
import yaml

from helpers import child_env, REPO_ROOT, start_node, stop_process
from real_standins import clean_exit, Spinner, StandIns, start_rclpy, stop_rclpy, wait_for, WATCHED
from tgrpo_ros.ros.graph import get_graph

PARAMS = str(REPO_ROOT / 'config' / 'real_deploy.yaml')


def _nodes(**given):
    return {n.name: n for n in get_graph('real_deploy').nodes(dict(params_file=PARAMS, **given))}


def test_graph_builds_bridge_policy_adapter_from_the_profile():
    nodes = _nodes(robot_profile='sim_test', instruction='lift the red cube')
    assert list(nodes) == ['camera_state_bridge', 'policy', 'arm_adapter']
    assert [n.executable for n in nodes.values()] == ['camera_state_bridge', 'policy_node',
                                                      'arm_adapter']
    for n in nodes.values():
        assert (REPO_ROOT / 'scripts' / 'nodes' / n.executable).is_file()
        assert (REPO_ROOT / 'tgrpo_ros' / 'ros' / 'nodes' / f'{n.executable}.py').is_file()
        assert n.params_files == [PARAMS]
    # never armed by default: no argument given, so the parameter file's false stands
    assert 'arm_on_start' not in nodes['arm_adapter'].parameters
    assert yaml.safe_load(open(PARAMS))['/arm_adapter']['ros__parameters']['arm_on_start'] is False
    assert nodes['policy'].parameters['env.cameras'] == ['agentview']  # from the profile
    # greedy by default: the parameter file says so and no argument overrides it
    assert 'policy.temperature' not in nodes['policy'].parameters
    assert yaml.safe_load(open(PARAMS))['/policy']['ros__parameters']['policy'][
        'temperature'] == 0.0
    assert 'camera_topics' not in nodes['camera_state_bridge'].parameters
    nodes = _nodes(robot_profile='franka', camera_topics='/cam/rgb', arm_on_start='true',
                   model='/models/x', device='cuda', adapter='/runs/a/v3')
    assert nodes['camera_state_bridge'].parameters['camera_topics'] == ['/cam/rgb']
    assert nodes['arm_adapter'].parameters['arm_on_start'] is True
    assert {k: nodes['policy'].parameters[f'policy.{k}'] for k in ('model', 'device',
                                                                    'adapter')} == \
        {'model': '/models/x', 'device': 'cuda', 'adapter': '/runs/a/v3'}


@pytest.mark.parametrize('given,message', [
    ({}, r'robot_profile is required; built-in profiles: \[.*franka.*\]'),
    ({'robot_profile': 'kuka'}, r"robot profile 'kuka' not found"),
    ({'robot_profile': 'ur', 'camera_topics': '/a,/b'},
     r"camera_topics has 2 topic\(s\) \['/a', '/b'\] but profile ur has 1 camera"),
    ({'robot_profile': 'ur', 'arm_on_start': 'maybe'}, r'arm_on_start must be true or false'),
    ({'robot_profile': 'ur', 'temperature': 'hot'}, r'temperature must be a number, got str'),
    ({'robot_profile': 'ur', 'temperature': '7'}, r'temperature = 7.0 is out of range \[0, 5\]'),
    ({'robot_profile': 'ur', 'speed': '2'}, r"unknown launch argument\(s\) \['speed'\]"),
])
def test_graph_rejects_bad_arguments_by_name(given, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        _nodes(**given)


def test_config_file_documents_every_node_parameter():
    data = yaml.safe_load(open(PARAMS))
    assert set(data) == {'/camera_state_bridge', '/policy', '/arm_adapter'}
    assert data['/arm_adapter']['ros__parameters']['arm_on_start'] is False


def test_launch_file_builds_its_nodes_from_the_graph():
    """launch_ros is not installable here: check the file generates the real_deploy graph."""
    tree = ast.parse((REPO_ROOT / 'launch' / 'real_deploy.launch.py').read_text())
    calls = [(n.func.id, [a.value for a in n.args if isinstance(a, ast.Constant)])
             for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert ('generate', ['real_deploy']) in calls
    assert 'generate_launch_description' in {n.name for n in ast.walk(tree)
                                             if isinstance(n, ast.FunctionDef)}


@pytest.mark.ros
def test_launcher_starts_the_graph_disarmed(ros_domain, tmp_path):
    start_rclpy()
    stand = StandIns()
    spinner = Spinner(stand)
    launcher = subprocess.Popen(
        [sys.executable, '-m', 'tgrpo_ros.commands.launch', 'real_deploy',
         'robot_profile:=sim_test', f'params_file:={PARAMS}', 'instruction:=lift the red cube'],
        env=child_env(), cwd=str(tmp_path), stdout=open(tmp_path / 'launch.log', 'w'),
        stderr=subprocess.STDOUT)
    WATCHED[:] = [launcher]
    try:
        wait_for(lambda: len(stand.snapshot('actions')) >= 3, 90.0,
                 'actions through the launched graph')
        stand.deadman_on = True
        status = stand.wait_status('arm_adapter: safety', 'DISARMED', 0.0)
        assert status[-1].values[0].value == 'DISARMED'
        assert stand.snapshot('commands') == []  # arm_on_start is false: nothing is commanded
    finally:
        WATCHED.clear()
        code = stop_process(launcher, timeout=20.0)
        spinner.stop()
        stop_rclpy()
    logs = sorted((tmp_path / 'runs' / 'real_deploy' / 'logs').glob('*.log'))
    assert [p.stem for p in logs] == ['arm_adapter', 'camera_state_bridge', 'policy']
    assert code in (0, 130), (tmp_path / 'launch.log').read_text()


@pytest.mark.ros
@pytest.mark.parametrize('profile', ['franka', 'ur'])
def test_real_profiles_refuse_to_start_without_control_msgs(ros_domain, tmp_path, profile):
    """Without control_msgs the adapter stops, naming the package and the profile field.

    The real profiles use the driver's GripperCommand action; running on without the gripper
    would be a silent failure.
    """
    log = tmp_path / 'adapter.log'
    proc = start_node('tgrpo_ros.ros.nodes.arm_adapter', '--ros-args', '-p',
                      f'robot_profile:={profile}', log_path=log)
    try:
        code = proc.wait(timeout=60)
    finally:
        stop_process(proc)
    text = log.read_text()
    assert code != 0
    assert 'control_msgs is not installed' in text and 'gripper.interface: topic' in text


@pytest.mark.ros
def test_tf_pose_source_falls_back_to_the_topic_and_says_so(ros_domain, tmp_path):
    """ur.yaml reads the pose from TF; without tf2_ros the adapter logs it and uses the topic."""
    data = yaml.safe_load(open(REPO_ROOT / 'config' / 'robots' / 'ur.yaml'))
    data['gripper'] = {'interface': 'none'}
    profile = tmp_path / 'ur_no_gripper.yaml'
    profile.write_text(yaml.safe_dump(data))
    start_rclpy()
    stand = StandIns()
    spinner = Spinner(stand)
    log = tmp_path / 'adapter.log'
    proc = start_node('tgrpo_ros.ros.nodes.arm_adapter', '--ros-args', '-p',
                      f'robot_profile:={profile}', log_path=log)
    WATCHED[:] = [proc]
    try:
        stand.wait_status('arm_adapter: safety', 'DISARMED', 0.0, timeout=30.0)
    finally:
        WATCHED.clear()
        code = stop_process(proc)
        spinner.stop()
        stop_rclpy()
    text = log.read_text()
    assert "tf2_ros is not installed; falling back to the PoseStamped topic '/tcp_pose'" in text
    assert clean_exit(code, text)
