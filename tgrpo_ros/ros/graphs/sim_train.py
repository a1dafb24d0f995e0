# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The sim_train graph: N LIBERO environments, the policy node and the TGRPO learner.

::

    env0/sim_env ─┐ observation, step_result     ┌─> policy ─── action ──> env*/sim_env
    env1/sim_env ─┼───────────────────────────────┤
    envN/sim_env ─┘                               └─> learner ── reset, end_episode ──> env*
                                                      learner ── adapter_announcement ──> policy

placement:=separate (the setting run.placement) runs policy_node and learner_node as two
processes (each holds the model; weights travel as adapter files). placement:=shared runs
trainer_node, one process holding both on one base model (a single GPU that cannot hold two
copies).

Settings (tgrpo_ros.training.settings) reach every node in one order: the declared defaults
(config/sim_train.yaml, read by every node), then ``preset:=NAME`` (config/presets/NAME.yaml),
then ``params_file:=FILE``, then the launch arguments given. The launch arguments that set a
setting default to '' = not given, so they override nothing.
"""

from __future__ import annotations

from pathlib import Path

from tgrpo_ros.ros.graph import (config_file, Graph, launch_text, LaunchArg, NodeSpec,
                                 register)
from tgrpo_ros.ros.graphs.recording import recorder_node_spec
from tgrpo_ros.training.run_folder import default_run_dir
from tgrpo_ros.training.settings import (entries, parameter_file, parse_text, PARAMETER_FILE,
                                         preset_file, resolve, ros_value, SimTrainSettings)

# Settings with a launch argument that this graph exposes (policy.adapter is left out: the
# learner starts from a fresh adapter; resume a run with --resume instead).
EXPOSED = [path for path, e in entries().items()
           if e.info.launch_arg and path != 'policy.adapter']


def setting_arg(path: str) -> LaunchArg:
    e = entries()[path]
    return LaunchArg(e.info.launch_arg, '', f'{e.describe()} Sets {path}; not given: the '
                     f"parameter files decide (default '{launch_text(ros_value(e, e.default))}').",
                     setting=path)


ARGS = [setting_arg(p) for p in EXPOSED] + [
    LaunchArg('preset', '', "Named settings (config/presets/<name>.yaml, e.g. 'smoke': a run in "
              "about a minute) applied over the defaults, under params_file and arguments."),
    LaunchArg('params_file', '', 'Parameter file (a path, or a name under config/) applied over '
              'the defaults and the preset; same format as config/sim_train.yaml.'),
    LaunchArg('local_envs', '', 'Environment nodes this graph starts on this host (of '
              "env_prefix0..M-1, M = group_size x concurrent_groups); '' = all M. Fewer needs "
              'env_discovery:=graph: the rest come from rollout hosts (sim_rollout_host).'),
    LaunchArg('record', '', "Bag folder to record the episodes into ('' = no recording); "
              'see tgrpo-ros record.'),
    LaunchArg('record_versions', '', "Record only episodes acted by these policy versions "
              "(e.g. '0,10-12' = iterations' adapters; '' = all)."),
]


def given_settings(v: dict[str, str]) -> dict[str, object]:
    """Return the settings that launch arguments given (non-empty) set, by full name."""
    return given_settings_of(ARGS, v)


def given_settings_of(args: list[LaunchArg], v: dict[str, str]) -> dict[str, object]:
    """Return the settings that the given (non-empty) ones of ``args`` set, by full name."""
    out = {}
    for a in args:
        if a.setting and v.get(a.name, '') != '':
            try:
                out[a.setting] = parse_text(entries()[a.setting], v[a.name])
            except (TypeError, ValueError) as exc:
                raise ValueError(f'launch argument {a.name}: {exc}') from None
    return out


def resolve_settings(v: dict[str, str]) -> SimTrainSettings:
    """Return what every node will read: defaults < preset < params_file < given args."""
    return resolve(v.get('preset', ''), v.get('params_file', ''), given_settings(v))


def _prepare(v: dict[str, str]) -> dict[str, str]:
    settings = resolve_settings(v)  # refuses bad values before anything starts
    # The run folder is decided once, here (a timestamp otherwise differs between nodes);
    # absolute, because the nodes may start in another folder.
    out = settings.run.output_dir or str(default_run_dir())
    return dict(v, output_dir=str(Path(out).resolve()))


def _effective(v: dict[str, str]) -> dict[str, str]:
    settings = resolve_settings(v).to_flat()
    table = entries()
    return {a.name: launch_text(ros_value(table[a.setting], settings[a.setting]))
            for a in ARGS if a.setting}


def parameter_files(v: dict[str, str]) -> list[str]:
    """Parameter files every node reads, lowest precedence first."""
    files = [config_file(PARAMETER_FILE)]
    if v.get('preset'):
        files.append(str(preset_file(v['preset'])))
    if v.get('params_file'):
        files.append(str(parameter_file(v['params_file'])))
    return files


def _local_envs(text: str, settings: SimTrainSettings) -> int:
    total = len(settings.env_ids)
    if text == '':
        return total
    try:
        count = int(text)
    except ValueError:
        raise ValueError(f'launch argument local_envs: {text!r} is not a whole number') from None
    if not 0 <= count <= total:
        raise ValueError(f'launch argument local_envs: {count}; allowed 0-{total} (group_size x '
                         'concurrent_groups)')
    if count < total and settings.run.env_discovery != 'graph':
        raise ValueError(f'launch argument local_envs: {count} of {total} environments here '
                         'needs env_discovery:=graph, so that the learner finds the others '
                         '(tgrpo-ros launch sim_rollout_host on other hosts)')
    return count


def build(v: dict[str, str]) -> list[NodeSpec]:
    settings = resolve_settings(v)  # run.placement: a setting, so a preset can choose it
    table = entries()
    # Only what was given (and what is decided here) overrides the files, on every node, so
    # the nodes cannot disagree; each node declares the settings it uses and ignores the rest.
    overrides = {path: ros_value(table[path], value)
                 for path, value in given_settings(v).items()}
    overrides['run.output_dir'] = v['output_dir']
    states = settings.env.init_states_file
    if states:  # absolute: the nodes may start in another folder
        states = str(Path(states).resolve())
        if not Path(states).is_file():
            raise ValueError(f'env.init_states_file {states} does not exist (make one with '
                             'tgrpo-ros init-states)')
        overrides['env.init_states_file'] = states
    params = parameter_files(v)
    shared_topics = [(t, f'/{t}') for t in ('observation', 'action', 'step_result',
                                             'policy_version')]
    # An environment that dies is restarted (its trial is masked, tgrpo_ros.training.trials);
    # the learner picks it up again at the next group.
    local = _local_envs(v.get('local_envs', ''), settings)
    nodes = [NodeSpec('sim_env_node', 'sim_env', namespace=e, params_files=params,
                      remappings=shared_topics, parameters=dict(overrides), required=False,
                      respawn=True)
             for e in settings.env_ids[:local]]
    if settings.run.placement == 'separate':
        # Restarted if it dies: it loads the learner's latest (latched) adapter announcement.
        nodes.append(NodeSpec('policy_node', 'policy', params_files=params,
                              parameters=dict(overrides), required=False, respawn=True))
        nodes.append(NodeSpec('learner_node', 'learner', params_files=params,
                              parameters=dict(overrides)))
    else:
        # One process, two nodes (/learner and /policy): parameters go to each by name.
        nodes.append(NodeSpec('trainer_node', 'learner', params_files=params,
                              parameters=dict(overrides), rename=False,
                              extra_parameters={'policy': dict(overrides)}))
    if v['record']:
        nodes.append(recorder_node_spec(v['record'], policy_versions=v['record_versions']))
    return nodes


GRAPH = register(Graph(
    name='sim_train',
    description='TGRPO training in LIBERO over ROS 2 topics (the main job).',
    args=ARGS, build=build, prepare=_prepare, effective=_effective,
    run_dir=lambda v: v['output_dir'],
    progress_file=lambda v: str(Path(v['output_dir']) / 'progress.json')))
