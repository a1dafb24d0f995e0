# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""SimTrainSettings: every setting of a simulation training run, with units, in one place.

The same settings drive the in-process loop (``tgrpo-ros train``) and the ROS 2 graph
(``sim_train``): config/sim_train.yaml holds them as the learner node's ROS parameters, and
``from_ros_yaml`` reads that file for the in-process loop, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import yaml

from tgrpo_ros.algo import TGRPOConfig


def _help(text: str) -> dict[str, str]:
    return {'help': text}


@dataclass(frozen=True)
class SimTrainSettings:
    suite: str = field(default='libero_object', metadata=_help(
        'LIBERO suite: libero_object, libero_spatial, libero_goal or libero_10.'))
    tasks: tuple[str, ...] = field(default=('0',), metadata=_help(
        'Tasks trained, by name or index in the suite; groups cycle through them.'))
    init_states: tuple[int, ...] = field(default=(0, 1, 2, 3, 4), metadata=_help(
        'Initial-state indices used for training (into the benchmark list, or into '
        'init_states_file); groups cycle through them. Keep evaluation states disjoint '
        '(eval-sim --init-states).'))
    init_states_file: str = field(default='', metadata=_help(
        "A .npz of generated initial states (tgrpo-ros init-states); '' = the "
        "benchmark's 50 fixed ones. Lets RL train on states that neither the demonstrations "
        'nor the evaluation use.'))
    iterations: int = field(default=9, metadata=_help(
        'TGRPO iterations (one group rollout + one update each).'))
    max_steps: int = field(default=160, metadata=_help(
        "Control steps per episode at 20 Hz (0 = the suite's maximum: Object 280)."))
    model: str = field(default='sft:object_task0_state_short', metadata=_help(
        "Policy: 'sft:<name>' (the package's models/sft_<name>; sft:object_task0_state_short is "
        'the SFT policy of LIBERO-Object task 0, see its README.md), '
        "'tiny:<size>' "
        '(test, cpu-2m, cpu-5m, cpu-20m; random init), or a folder (a saved tgrpo_ros policy, an '
        'OpenVLA checkpoint or an HF VLM).'))
    device: str = field(default='cpu', metadata=_help("Torch device: 'cpu', 'cuda', 'cuda:1'."))
    torch_threads: int = field(default=1, metadata=_help(
        'CPU threads torch may use (0 = torch default). 1 by default: the environments need the '
        'other cores, and oversubscribed OpenMP threads stall for seconds per call.'))
    cameras: tuple[str, ...] = field(default=('agentview',), metadata=_help(
        'Cameras rendered and fed to the policy (LIBERO names: agentview, robot0_eye_in_hand).'))
    image_size: int = field(default=128, metadata=_help(
        'Rendered image height = width [px] (the policy resizes to its own input size).'))
    lora_rank: int = field(default=8, metadata=_help(
        'LoRA rank r (OpenVLA LIBERO checkpoints use 32; small for the tiny CPU models).'))
    lora_alpha: float = field(default=16.0, metadata=_help('LoRA alpha (scale = alpha / r).'))
    seed: int = field(default=7, metadata=_help(
        'Seed of sampling, shuffling and environments (OpenVLA evaluates with 7).'))
    output_dir: str = field(default='', metadata=_help(
        "Run folder; '' = runs/sim_train_<UTC time>."))
    resume: bool = field(default=False, metadata=_help(
        'Continue the run in output_dir from its last complete iteration.'))
    algo: TGRPOConfig = field(default_factory=lambda: TGRPOConfig(lr=1e-4), metadata=_help(
        'The TGRPO settings (tgrpo_ros.algo.TGRPOConfig); lr 1e-4 by default for the tiny '
        'models (the paper uses 1e-5 for OpenVLA-7B).'))

    def __post_init__(self):
        if self.iterations < 1:
            raise ValueError(f'iterations must be >= 1, got {self.iterations}')
        if self.max_steps < 0:
            raise ValueError(f'max_steps must be >= 0 (0 = suite default), got {self.max_steps}')
        if not self.tasks or not self.init_states:
            raise ValueError('tasks and init_states must each name at least one entry')
        if not self.cameras:
            raise ValueError('cameras must name at least one camera')
        if self.image_size < 8:
            raise ValueError(f'image_size must be >= 8 px, got {self.image_size}')

    @property
    def group_size(self) -> int:
        return self.algo.group_size

    def to_dict(self) -> dict:
        d = asdict(self)
        d['tasks'] = list(self.tasks)
        d['init_states'] = list(self.init_states)
        d['cameras'] = list(self.cameras)
        return d

    @classmethod
    def from_flat(cls, params: dict) -> SimTrainSettings:
        """Build from flat parameters: ours by name, TGRPOConfig's as ``algo.<name>``."""
        own = {f.name for f in fields(cls)} - {'algo'}
        algo_names = {f.name for f in fields(TGRPOConfig)}
        # ROS parameters cannot be None: 0 stands for None in fields whose default is None.
        optional = {f.name for f in fields(TGRPOConfig) if f.default is None}
        kwargs, algo = {}, {}
        for key, value in params.items():
            if key.startswith('algo.') and key[5:] in algo_names:
                name = key[5:]
                algo[name] = None if (name in optional and value in (0, 0.0)) else value
            elif key in own:
                kwargs[key] = tuple(value) if isinstance(value, list) else value
            else:
                raise ValueError(f'unknown training setting {key!r}')
        if 'tasks' in kwargs:
            kwargs['tasks'] = tuple(str(t) for t in kwargs['tasks'])
        base = cls()
        return replace(base, **kwargs, algo=replace(base.algo, **algo))

    def to_flat(self) -> dict:
        d = self.to_dict()
        algo = d.pop('algo')
        d.update({f'algo.{k}': v for k, v in algo.items()})
        return d

    @classmethod
    def from_ros_yaml(cls, path: str | Path, node: str = 'learner') -> SimTrainSettings:
        """Read the ``ros__parameters`` of ``node`` from a ROS 2 parameter file."""
        data = yaml.safe_load(Path(path).read_text()) or {}
        for key, section in data.items():
            if key.strip('/').split('/')[-1] == node or key == '/**':
                params = dict(section.get('ros__parameters', {}))
                flat = _flatten(params)
                known = set(cls().to_flat())
                return cls.from_flat({k: v for k, v in flat.items() if k in known})
        raise ValueError(f'{path}: no ros__parameters for node {node!r}')


def _flatten(d: dict, prefix: str = '') -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f'{prefix}{k}.'))
        else:
            out[f'{prefix}{k}'] = v
    return out
