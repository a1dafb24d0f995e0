# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The sim_rollout_host graph: K LIBERO environment nodes on a host joining a training graph.

::

    (host B)  <host>_env0/sim_env ─┐  observation, step_result    (host A, sim_train with
              <host>_env1/sim_env ─┼───── DDS over the network ──> env_discovery:=graph)
              <host>_envK/sim_env ─┘  <── action, reset, end_episode ── policy, learner

Started on each rollout host (``tgrpo-ros launch sim_rollout_host envs:=K`` or
``ros2 launch tgrpo_ros sim_rollout_host.launch.py``) with the learner host's ROS_DOMAIN_ID and
the same environment settings (preset, params_file, env.* arguments). Environment ids are
``<host>_env<i>``, the host name made a ROS name unless ``host:=`` says otherwise, so two hosts
never collide; the learner finds them through ROS 2 discovery (``run.env_discovery`` 'graph')
and uses them from the next group on. A node that dies is restarted; the trial it held is
masked by the learner (``tgrpo_ros.training.trials``). The graph runs until stopped.
"""

from __future__ import annotations

import re
import socket

from tgrpo_ros.ros.graph import Graph, LaunchArg, NodeSpec, register
from tgrpo_ros.ros.graphs.sim_train import (setting_arg, EXPOSED, given_settings_of,
                                            parameter_files)
from tgrpo_ros.training.settings import entries, ros_value

ENV_SETTINGS = [p for p in EXPOSED if p.startswith('env.')]
ARGS = [
    LaunchArg('envs', '4', 'Environment nodes on this host (each a LIBERO process, ~2.2 GB of '
              'memory and about one core while stepping).'),
    LaunchArg('host', '', "Prefix of this host's environment ids (<host>_env<i>); '' = this "
              "machine's host name made a ROS name. Must differ between hosts."),
] + [setting_arg(p) for p in ENV_SETTINGS] + [
    LaunchArg('preset', '', "Named settings (config/presets/<name>.yaml): the learner host's."),
    LaunchArg('params_file', '', "Parameter file (a path, or a name under config/): the "
              "learner host's, so every environment steps alike."),
]


def host_prefix(name: str | None = None) -> str:
    """Return ``name`` (default: this machine's host name) as a ROS name token."""
    token = re.sub(r'[^A-Za-z0-9_]', '_', name if name is not None else socket.gethostname())
    return token if re.match(r'[A-Za-z_]', token) else f'h{token}'


def build(v: dict[str, str]) -> list[NodeSpec]:
    try:
        count = int(v['envs'])
    except ValueError:
        raise ValueError(f"launch argument envs: {v['envs']!r} is not a whole number") from None
    if not 1 <= count <= 64:
        raise ValueError(f'launch argument envs: {count} environments; allowed 1-64')
    host = host_prefix(v['host'] or None)
    if host != v['host'] and v['host']:
        raise ValueError(f"launch argument host: {v['host']!r} is not a ROS name token "
                         f'(letters, digits, _; not starting with a digit); e.g. {host!r}')
    table = entries()
    overrides = {path: ros_value(table[path], value)
                 for path, value in given_settings_of(ARGS, v).items()}
    shared_topics = [(t, f'/{t}') for t in ('observation', 'action', 'step_result',
                                             'policy_version')]
    return [NodeSpec('sim_env_node', 'sim_env', namespace=f'{host}_env{i}',
                     params_files=parameter_files(v), remappings=shared_topics,
                     parameters=dict(overrides), required=False, respawn=True)
            for i in range(count)]


GRAPH = register(Graph(
    name='sim_rollout_host',
    description='LIBERO environment nodes on a rollout host that join a running sim_train '
                '(env_discovery:=graph) through ROS 2 discovery.',
    args=ARGS, build=build))
