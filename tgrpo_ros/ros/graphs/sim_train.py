# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The sim_train graph: N LIBERO environments, the policy node and the TGRPO learner.

::

    env0/sim_env ─┐ observation, step_result     ┌─> policy ─── action ──> env*/sim_env
    env1/sim_env ─┼───────────────────────────────┤
    envN/sim_env ─┘                               └─> learner ── reset, end_episode ──> env*
                                                      learner ── adapter_announcement ──> policy

placement:=separate runs policy_node and learner_node as two processes (each holds the model;
weights travel as adapter files). placement:=shared runs trainer_node, one process holding
both on one base model (a single GPU that cannot hold two copies).
"""

from __future__ import annotations

from pathlib import Path

from tgrpo_ros.ros.graph import config_file, Graph, LaunchArg, NodeSpec, register
from tgrpo_ros.ros.graphs.recording import recorder_node_spec

ARGS = [
    LaunchArg('suite', 'libero_object', 'LIBERO suite (libero_object, libero_spatial, '
              'libero_goal, libero_10).'),
    LaunchArg('tasks', '0', 'Comma-separated task names or indices trained (cycled).'),
    LaunchArg('init_states', '0,1,2,3,4', 'Comma-separated benchmark initial states for '
              'training (cycled); keep evaluation states out of this list.'),
    LaunchArg('init_states_file', '', "A .npz of generated initial states that init_states "
              "index into (tgrpo-ros init-states); '' = the benchmark's."),
    LaunchArg('group_size', '4', 'Environments N per group (paper: 4); one process each.'),
    LaunchArg('iterations', '9', 'TGRPO iterations (one group + one update each); 9 take '
              'about 15 minutes on a 2-core CPU with the defaults.'),
    LaunchArg('max_steps', '160', "Control steps per episode at 20 Hz (0 = suite's max; the "
              'scripted expert needs 100-130 on LIBERO-Object).'),
    LaunchArg('model', 'sft:object_task0_state_short', "Policy: 'sft:<name>' (the package's "
              "models/sft_<name>, e.g. the SFT policy of LIBERO-Object task 0), 'tiny:<size>' "
              '(random init) or a model folder.'),
    LaunchArg('device', 'cpu', "Torch device for the model ('cpu', 'cuda')."),
    LaunchArg('placement', 'separate', "'separate' (policy and learner processes) or "
              "'shared' (one process, one base model)."),
    LaunchArg('estimator', 'tgrpo', 'Advantage estimator: tgrpo, traj, step, grpo_outcome.'),
    LaunchArg('completion', 'first_success', "Group end rule: 'first_success' (paper) or "
              "'all_done' (needed by grpo_outcome)."),
    LaunchArg('temperature', '1.0', 'Sampling temperature of the rollouts.'),
    LaunchArg('lr', '0.0001', 'AdamW learning rate.'),
    LaunchArg('lora_rank', '8', 'LoRA rank (policy and learner use the same).'),
    LaunchArg('seed', '7', 'Seed of the model init, sampling, shuffling and environments.'),
    LaunchArg('output_dir', '', "Run folder ('' = runs/sim_train_<UTC time>)."),
    LaunchArg('resume', 'false', 'Continue the run in output_dir (tgrpo-ros launch --resume).'),
    LaunchArg('params_file', 'sim_train.yaml', 'Parameter file under config/ (or absolute).'),
    LaunchArg('record', '', "Bag folder to record the episodes into ('' = no recording); "
              'see tgrpo-ros record.'),
    LaunchArg('record_versions', '', "Record only episodes acted by these policy versions "
              "(e.g. '0,10-12' = iterations' adapters; '' = all)."),
]


def _prepare(v: dict[str, str]) -> dict[str, str]:
    if not v['output_dir']:
        from tgrpo_ros.training.run_folder import default_run_dir
        v = dict(v, output_dir=str(default_run_dir().resolve()))
    return v


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(',') if t.strip()]


def _bool(text: str) -> bool:
    if text.lower() not in ('true', 'false', '1', '0', 'yes', 'no'):
        raise ValueError(f'expected true/false, got {text!r}')
    return text.lower() in ('true', '1', 'yes')


def build(v: dict[str, str]) -> list[NodeSpec]:
    n = int(v['group_size'])
    if n < 2:
        raise ValueError(f'group_size must be >= 2 (advantages are relative to the group), '
                         f'got {n}')
    if v['placement'] not in ('separate', 'shared'):
        raise ValueError(f"placement must be 'separate' or 'shared', got {v['placement']!r}")
    params = [config_file(v['params_file'])]
    env_ids = [f'env{i}' for i in range(n)]
    shared_topics = [(t, f'/{t}') for t in ('observation', 'action', 'step_result',
                                             'policy_version')]
    # The argument, when given, overrides the parameter file on every env and the learner.
    states = {}
    if v['init_states_file']:  # absolute: the nodes may start in another folder
        states['init_states_file'] = str(Path(v['init_states_file']).resolve())
        if not Path(states['init_states_file']).is_file():
            raise ValueError(f"init_states_file {states['init_states_file']} does not exist "
                             '(make one with tgrpo-ros init-states)')
    nodes = [NodeSpec('sim_env_node', 'sim_env', namespace=e, params_files=params,
                      remappings=shared_topics, parameters=dict(states)) for e in env_ids]
    common = {'model': v['model'], 'device': v['device'], 'seed': int(v['seed']),
              'lora_rank': int(v['lora_rank'])}
    policy = dict(common, temperature=float(v['temperature']))
    learner = dict(common, **{
        'suite': v['suite'], 'tasks': _csv(v['tasks']),
        'init_states': [int(x) for x in _csv(v['init_states'])],
        **states,
        'iterations': int(v['iterations']), 'max_steps': int(v['max_steps']),
        'output_dir': v['output_dir'], 'resume': _bool(v['resume']), 'env_ids': env_ids,
        'algo.group_size': n, 'algo.estimator': v['estimator'],
        'algo.group_completion': v['completion'], 'algo.temperature': float(v['temperature']),
        'algo.lr': float(v['lr'])})
    if v['placement'] == 'separate':
        nodes.append(NodeSpec('policy_node', 'policy', params_files=params, parameters=policy))
        nodes.append(NodeSpec('learner_node', 'learner', params_files=params,
                              parameters=learner))
    else:
        # One process, two nodes (/learner and /policy): parameters go to each by name.
        nodes.append(NodeSpec('trainer_node', 'learner', params_files=params,
                              parameters=learner, rename=False, extra_parameters={
                                  'policy': policy}))
    if v['record']:
        nodes.append(recorder_node_spec(v['record'], policy_versions=v['record_versions']))
    return nodes


GRAPH = register(Graph(
    name='sim_train',
    description='TGRPO training in LIBERO over ROS 2 topics (the main job).',
    args=ARGS, build=build, prepare=_prepare,
    run_dir=lambda v: v['output_dir'],
    progress_file=lambda v: str(Path(v['output_dir']) / 'progress.json')))
