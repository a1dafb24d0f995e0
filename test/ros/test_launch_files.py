# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Every launch file names a graph whose executables, parameter files and arguments exist.

``launch`` and ``launch_ros`` are not installable from the wheels, so the launch files cannot
run here; they are thin wrappers over tgrpo_ros.ros.graph descriptions, which are checked instead.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from pathlib import Path

from helpers import REPO_ROOT
import pytest

from tgrpo_ros.ros.graph import get_graph, graph_names
from tgrpo_ros.ros.runner import node_command, parse_launch_args, write_overrides

LAUNCH_FILES = sorted((REPO_ROOT / 'launch').glob('*.launch.py'))
# Arguments a graph requires (no safe default exists for them).
REQUIRED_ARGS = {'real_deploy': {'robot_profile': 'sim_test'}}


def _graph_of(launch_file: Path) -> str:
    tree = ast.parse(launch_file.read_text())
    funcs = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert 'generate_launch_description' in funcs, f'{launch_file.name}: no entry point'
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and getattr(n.func, 'id', None) == 'generate']
    assert len(calls) == 1, f'{launch_file.name}: expected one generate(<graph>) call'
    (arg,) = calls[0].args
    assert isinstance(arg, ast.Constant) and isinstance(arg.value, str)
    return arg.value


def test_there_are_launch_files_for_every_graph():
    names = [_graph_of(f) for f in LAUNCH_FILES]
    assert sorted(names) == graph_names()
    assert {'sim_train', 'real_deploy'} <= set(names)


@pytest.mark.parametrize('launch_file', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_graph_names_existing_executables_params_and_arguments(launch_file):
    graph = get_graph(_graph_of(launch_file))
    for a in graph.args:
        assert a.description.strip(), f'launch argument {a.name} has no description'
    values = graph.resolve_args(REQUIRED_ARGS.get(graph.name, {}))
    specs = graph.build(values)
    assert specs, 'graph starts no node'
    cmake = (REPO_ROOT / 'CMakeLists.txt').read_text()
    assert 'scripts/nodes/*' in cmake
    for spec in specs:
        script = REPO_ROOT / 'scripts' / 'nodes' / spec.executable
        assert script.is_file() and os.access(script, os.X_OK), f'{script} missing'
        assert f'tgrpo_ros.ros.nodes.{spec.executable} import main' in script.read_text()
        module = f'tgrpo_ros.ros.nodes.{spec.executable}'
        assert importlib.util.find_spec(module) is not None, f'{module} not found'
        for f in spec.params_files:
            assert Path(f).is_file(), f'parameter file {f} missing'
        cmd = node_command(spec, None)
        assert cmd[cmd.index('--ros-args') - 1] == module


def test_unknown_launch_argument_is_rejected_with_the_known_ones():
    graph = get_graph('sim_train')
    with pytest.raises(ValueError, match='grup_size.*known'):
        graph.resolve_args({'grup_size': '4'})
    with pytest.raises(ValueError, match='name:=value'):
        parse_launch_args(['group_size=4'])


def test_sim_train_graph_has_one_env_per_group_member_and_both_placements(tmp_path):
    graph = get_graph('sim_train')
    values = graph.resolve_args({'group_size': '3', 'output_dir': str(tmp_path)})
    specs = graph.build(values)
    envs = [s for s in specs if s.executable == 'sim_env_node']
    assert [s.namespace for s in envs] == ['env0', 'env1', 'env2']
    assert {s.executable for s in specs} == {'sim_env_node', 'policy_node', 'learner_node'}
    learner = next(s for s in specs if s.executable == 'learner_node')
    assert learner.parameters['algo.group_size'] == 3  # given: overrides the files
    shared = graph.build(graph.resolve_args({'placement': 'shared',
                                             'output_dir': str(tmp_path)}))
    trainer = [s for s in shared if s.executable == 'trainer_node']
    assert len(trainer) == 1 and not trainer[0].rename
    path = write_overrides(trainer[0], tmp_path)
    import yaml
    sections = yaml.safe_load(path.read_text())
    assert set(sections) == {'/learner', '/policy'}
    recording = graph.build(graph.resolve_args({'record': str(tmp_path / 'bag'),
                                                'output_dir': str(tmp_path)}))
    recorder = [s for s in recording if s.executable == 'bag_recorder']
    assert len(recorder) == 1 and not recorder[0].required
    assert (REPO_ROOT / 'scripts' / 'nodes' / 'bag_recorder').is_file()
    with pytest.raises(ValueError, match=r'algo.group_size = 1 is out of range \[2, 1024\]'):
        graph.build(graph.resolve_args({'group_size': '1', 'output_dir': str(tmp_path)}))


def test_generated_initial_states_reach_every_env_and_the_learner(tmp_path, monkeypatch):
    graph = get_graph('sim_train')
    default = graph.build(graph.resolve_args({'output_dir': str(tmp_path)}))
    # no argument: the parameter file decides (nothing overrides it)
    assert all('env.init_states_file' not in s.parameters for s in default)
    states = tmp_path / 'gen.npz'
    states.write_bytes(b'')  # the graph checks it exists; the env nodes read it
    monkeypatch.chdir(tmp_path)  # a relative path becomes absolute for nodes started elsewhere
    specs = graph.build(graph.resolve_args({'init_states_file': 'gen.npz',
                                            'output_dir': str(tmp_path)}))
    with_file = [s for s in specs if s.executable in ('sim_env_node', 'learner_node')]
    assert len(with_file) == 5
    assert {s.parameters['env.init_states_file'] for s in with_file} == {str(states.resolve())}
    with pytest.raises(ValueError, match='missing.npz does not exist'):
        graph.build(graph.resolve_args({'init_states_file': 'missing.npz',
                                        'output_dir': str(tmp_path)}))


def test_a_rollout_host_starts_envs_whose_ids_carry_its_host_name(monkeypatch):
    from tgrpo_ros.ros.graphs import sim_rollout_host
    graph = get_graph('sim_rollout_host')
    specs = graph.build(graph.resolve_args({'envs': '3', 'host': 'hostb', 'image_size': '64'}))
    assert [s.namespace for s in specs] == ['hostb_env0', 'hostb_env1', 'hostb_env2']
    assert all(s.executable == 'sim_env_node' and s.respawn and not s.required for s in specs)
    # the environment settings given reach every node; the learner's topics are shared
    assert all(s.parameters['env.image_size'] == 64 for s in specs)
    assert ('observation', '/observation') in specs[0].remappings
    # by default the ids carry this machine's host name, made a ROS name
    monkeypatch.setattr(sim_rollout_host.socket, 'gethostname', lambda: '7-gpu.lab')
    specs = graph.build(graph.resolve_args({'envs': '1'}))
    assert [s.namespace for s in specs] == ['h7_gpu_lab_env0']
    with pytest.raises(ValueError, match='host.*not a ROS name'):
        graph.build(graph.resolve_args({'host': 'host-b'}))
    with pytest.raises(ValueError, match='envs'):
        graph.build(graph.resolve_args({'envs': '0'}))


def test_sim_train_can_leave_its_environments_to_rollout_hosts(tmp_path):
    graph = get_graph('sim_train')

    def envs(**args):
        values = graph.resolve_args({'group_size': '3', 'output_dir': str(tmp_path), **args})
        return [s.namespace for s in graph.build(values) if s.executable == 'sim_env_node']
    assert envs(env_discovery='graph', local_envs='1') == ['env0']
    assert envs(env_discovery='graph', local_envs='0') == []
    assert envs(env_discovery='graph') == ['env0', 'env1', 'env2']
    with pytest.raises(ValueError, match='env_discovery:=graph'):
        envs(local_envs='1')
    with pytest.raises(ValueError, match='allowed 0-3'):
        envs(env_discovery='graph', local_envs='4')
