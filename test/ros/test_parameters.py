# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Launch arguments, node parameters and YAML keys all map to one declared setting.

And the parameter file reaches a real node process when no argument names the value; read-only
parameters refuse ``set_parameters``; out-of-range values are refused with the name.
"""

from __future__ import annotations

import json
import threading
import time

from helpers import REPO_ROOT, start_node, stop_process
import pytest
from rcl_interfaces.srv import GetParameters, SetParameters
import rclpy
import rclpy.executors
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
import yaml

from tgrpo_ros.ros.graph import get_graph
from tgrpo_ros.ros.nodes.learner_node import LearnerNode
from tgrpo_ros.ros.nodes.policy_node import PolicyNode
from tgrpo_ros.ros.nodes.sim_env_node import SimEnvNode
from tgrpo_ros.ros.parameters import declare_settings
from tgrpo_ros.ros.runner import node_command, write_overrides
from tgrpo_ros.training.settings import (check_policy_agrees, entries, RealDeploySettings,
                                         render_parameter_file, resolve, ros_value)

pytestmark = pytest.mark.ros
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
ROS_OWN = {'use_sim_time', 'start_type_description_service'}


def test_parameter_file_is_the_declaration():
    """Every YAML key is a declared setting with its default, unit and range in the comment."""
    text = (REPO_ROOT / 'config' / 'sim_train.yaml').read_text()
    assert text == render_parameter_file(), (
        'config/sim_train.yaml differs from the declaration: regenerate it with '
        'tgrpo-ros train --print-parameter-file > config/sim_train.yaml')
    params = yaml.safe_load(text)['/**']['ros__parameters']
    flat = {f'{s}.{k}': v for s, d in params.items() for k, v in d.items()}
    table = entries()
    assert list(flat) == list(table)
    for path, value in flat.items():
        assert value == ros_value(table[path], table[path].default), path


def test_every_launch_argument_maps_to_one_setting_with_its_default(tmp_path):
    for graph_name, table, given in (('sim_train', entries(), {}),
                                     ('real_deploy', entries(RealDeploySettings),
                                      {'robot_profile': 'sim_test',
                                       'params_file': str(tmp_path / 'empty.yaml')})):
        (tmp_path / 'empty.yaml').write_text('{}\n')
        graph = get_graph(graph_name)
        settings_args = [a for a in graph.args if a.setting]
        assert len({a.setting for a in settings_args}) == len(settings_args)
        shown = graph.effective(given)
        for a in settings_args:
            entry = table[a.setting]
            assert a.default == '', f'{a.name}: a default would override the parameter file'
            assert entry.info.launch_arg == a.name
            if a.name not in given:
                assert shown[a.name] == _text(ros_value(entry, entry.default)), a.name
        # the rest shape the graph, not a node's settings, and do not shadow a setting's name
        others = {a.name for a in graph.args if not a.setting}
        assert not others & {e.info.launch_arg for e in table.values()}
        assert not others & {p.split('.')[1] for p in table}


def _text(value) -> str:
    if isinstance(value, list):
        return ','.join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


@pytest.fixture
def rclpy_context(ros_domain):
    rclpy.init()
    yield
    rclpy.try_shutdown()


def test_every_node_parameter_maps_to_one_setting_with_its_default(ros_domain, tmp_path):
    table = entries()
    # the one value given: where the learner makes its run folder
    rclpy.init(args=['--ros-args', '-p', f'run.output_dir:={tmp_path / "run"}'])
    learner = LearnerNode(node_name='learner_under_test')
    policy = PolicyNode(policy=learner.policy, node_name='policy_under_test')
    env = SimEnvNode(env_factory=lambda *a: None)
    try:
        for node in (learner, policy, env):
            names = set(node._parameters) - ROS_OWN
            assert names, node.get_name()
            for name in names:
                assert name in table, f'{node.get_name()}: parameter {name} is not declared'
                value = node.get_parameter(name).value
                if name != 'run.output_dir':
                    assert value == ros_value(table[name], table[name].default), name
                described = node.describe_parameters([name])[0]
                assert described.read_only == table[name].info.read_only, name
                assert described.description == table[name].describe(), name
        assert set(learner._parameters) - ROS_OWN == set(table)  # the learner reads them all
    finally:
        for node in (env, policy, learner):
            node.destroy_node()
        rclpy.try_shutdown()


def test_out_of_range_values_are_refused_by_name(rclpy_context):
    node = Node('bad', parameter_overrides=[Parameter('policy.max_batch', value=0)])
    with pytest.raises(ValueError, match=r'policy.max_batch.*range \[1, 4096\]'):
        declare_settings(node, ['policy'])
    node.destroy_node()
    node = Node('open_bound', parameter_overrides=[Parameter('algo.lr', value=0.0)])
    with pytest.raises(ValueError, match=r'algo.lr = 0.0 is out of range \(0, inf\)'):
        declare_settings(node, ['algo'])
    node.destroy_node()
    node = Node('runtime')
    declare_settings(node, ['env.suite'])
    result = node.set_parameters([Parameter('env.suite', value='libero_100')])[0]
    assert not result.successful and 'env.suite' in result.reason
    assert node.set_parameters([Parameter('env.suite', value='libero_goal')])[0].successful
    node.destroy_node()


def _call(node: Node, srv_type, name: str, request, timeout: float = 60.0):
    """Call a service and return its response, asking again when an answer is lost.

    A request sent just as the service is discovered can be answered before the response path
    is matched ("failed to send response (timeout)" in the server's log; seen once on Jazzy).
    """
    client = node.create_client(srv_type, name)
    deadline = time.monotonic() + timeout
    assert client.wait_for_service(timeout_sec=timeout), f'{name} did not come up'
    while time.monotonic() < deadline:
        future = client.call_async(request)
        rclpy.spin_until_future_complete(node, future, timeout_sec=10.0)
        if future.done() and future.result() is not None:
            return future.result()
        client.remove_pending_request(future)
    raise AssertionError(f'{name} gave no answer in {timeout} s')


def _get(node: Node, target: str, names: list[str], timeout: float = 60.0) -> list:
    response = _call(node, GetParameters, f'{target}/get_parameters',
                     GetParameters.Request(names=names), timeout)
    return [parameter_value_to_python(v) for v in response.values]


def test_parameter_file_value_reaches_a_real_node_unless_an_argument_names_it(rclpy_context,
                                                                              tmp_path):
    params = tmp_path / 'my_run.yaml'
    params.write_text(yaml.safe_dump({'/**': {'ros__parameters': {
        'policy': {'max_batch': 3, 'temperature': 0.5, 'model': 'tiny:test'},
        'run': {'seed': 11}}}}))
    graph = get_graph('sim_train')
    values = graph.resolve_args({'params_file': str(params), 'preset': 'smoke',
                                 'lora_rank': '2', 'output_dir': str(tmp_path / 'run')})
    spec = next(s for s in graph.build(values) if s.executable == 'policy_node')
    # only the argument given (and the run folder decided by the graph) override the files
    assert set(spec.parameters) == {'policy.lora_rank', 'run.output_dir'}
    cmd = node_command(spec, write_overrides(spec, tmp_path / 'params'))
    proc = start_node(cmd[2], *cmd[3:], log_path=tmp_path / 'policy.log')
    probe = Node('probe')
    seen = []
    probe.create_subscription(String, '/policy_settings', seen.append, LATCHED)
    try:
        got = _get(probe, '/policy', ['policy.max_batch', 'policy.temperature', 'run.seed',
                                      'policy.lora_rank', 'policy.lora_alpha', 'env.cameras'])
        # file > preset > defaults; argument > all; preset > defaults where the file is silent
        assert got == [3, 0.5, 11, 2, 8.0, ['agentview']]
        # a read-only parameter refuses a change at run time instead of ignoring it
        result = _call(probe, SetParameters, '/policy/set_parameters', SetParameters.Request(
            parameters=[Parameter('policy.temperature', value=1.0).to_parameter_msg()])).results[0]
        assert not result.successful and 'read-only' in result.reason
        # it says what it samples with; a learner with other values refuses to train
        deadline = time.monotonic() + 30
        while not seen and time.monotonic() < deadline:
            rclpy.spin_once(probe, timeout_sec=0.2)
        served = json.loads(seen[0].data)
        assert served['policy.temperature'] == 0.5 and served['policy.lora_rank'] == 2
        learner = resolve('smoke', params, {'policy.lora_rank': 2})
        check_policy_agrees(learner, served)
        with pytest.raises(ValueError, match='policy.temperature: policy node 0.5, learner 1.0'):
            check_policy_agrees(resolve('smoke', '', {'policy.lora_rank': 2,
                                                      'policy.model': 'tiny:test'}), served)
    finally:
        probe.destroy_node()
        stop_process(proc)


def test_a_learner_refuses_a_policy_node_that_samples_differently(ros_domain, tmp_path):
    """The real learner, against a real policy node process with another LoRA rank: no group."""
    policy_proc = start_node('tgrpo_ros.ros.nodes.policy_node', '--ros-args',
                             '-p', 'policy.model:=tiny:test', '-p', 'policy.lora_rank:=2',
                             log_path=tmp_path / 'policy.log')
    rclpy.init(args=['--ros-args', '-p', 'policy.model:=tiny:test', '-p', 'policy.lora_rank:=4',
                     '-p', f'run.output_dir:={tmp_path / "run"}',
                     '-p', 'run.startup_timeout_s:=60.0'])
    learner = LearnerNode(node_name='learner')
    executor = rclpy.executors.SingleThreadedExecutor()
    executor.add_node(learner)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        with pytest.raises(ValueError, match='policy.lora_rank: policy node 2, learner 4'):
            learner.run()
        # refused before any episode or adapter: nothing was trained
        assert not list((tmp_path / 'run' / 'adapters').glob('iter_*'))
    finally:
        executor.shutdown(timeout_sec=5.0)
        spinner.join(timeout=5.0)
        learner.destroy_node()
        rclpy.try_shutdown()
        stop_process(policy_proc)
