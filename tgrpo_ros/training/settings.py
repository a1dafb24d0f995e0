# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Every setting of a training run or a deployment, declared once.

A setting is a field of one of the section dataclasses below, declared with
``tgrpo_ros.declaration.setting`` (type, default, unit, range or choices, one-line help, whether
it is read once, its launch-argument name). Its name everywhere is ``<section>.<field>``:

- ``env``: the LIBERO environments (``EnvSettings``);
- ``policy``: the VLA policy and how it samples (``PolicySettings``);
- ``algo``: TGRPO itself (``tgrpo_ros.algo.TGRPOConfig``);
- ``eval``: the held-out evaluation during training (``EvalSettings``);
- ``run``: the run: iterations, seed, output folder, timeouts (``RunSettings``).

The ROS parameters of the nodes (``tgrpo_ros.ros.parameters``), the launch arguments of the
graphs, the flags of ``tgrpo-ros train`` and ``config/sim_train.yaml`` all derive from these
declarations. Values combine in one order everywhere (``resolve``): the declared defaults, then
a named preset (``config/presets/<name>.yaml``), then a parameter file, then the arguments
given on the command line; an argument that is not given overrides nothing.

Values shared by several nodes live in one place: the sampling temperature is
``policy.temperature`` (the policy node samples with it, the learner recomputes log-probs with
it: ``algo.temperature`` is not a separate setting), the seed is ``run.seed``, the cameras are
``env.cameras``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
import difflib
import math
import os
from pathlib import Path
import textwrap
import types
import typing
from typing import Any, Iterable

import yaml

from tgrpo_ros.algo import TGRPOConfig
from tgrpo_ros.declaration import DIMENSIONLESS, info_of, setting, SettingInfo
from tgrpo_ros.paths import share_dir
from tgrpo_ros.policy.preprocessing import JPEG_CHOICES, MODEL, RESIZE_FILTERS
from tgrpo_ros.sim.libero_config import expand_tasks
from tgrpo_ros.sim.libero_env import CAMERAS, REWARDS, SUITES

# The parameter file every sim_train node reads first: the declared defaults, documented.
# ``render_parameter_file`` writes it; a test keeps it equal to the declaration.
PARAMETER_FILE = 'sim_train.yaml'
# Every sim_train node reads this section, so they cannot disagree on a shared value.
ALL_NODES = '/**'
INT_MAX = 2 ** 31 - 1
DTYPES = ('auto', 'float32', 'bfloat16')
# Where the sim_train graph runs the policy and the learner (the in-process loop is always one
# process): two processes with a model each, or one process holding one base model.
PLACEMENTS = ('separate', 'shared')
ENV_DISCOVERY = ('fixed', 'graph')


@dataclass(frozen=True)
class EnvSettings:
    """The LIBERO environments (the sim_env nodes; the learner names suite, task and state)."""

    suite: str = setting(
        'libero_object', 'LIBERO suite (a reset request may name another one).',
        choices=SUITES, launch_arg='suite',
        # the environment node reads it again at every reset that names no suite
        read_only=False)
    tasks: tuple[str, ...] = setting(
        ('0',), "Tasks trained, by name or index in the suite, or 'all' (also the suite's own "
        'name) for every task of env.suite; groups cycle through them.', launch_arg='tasks')
    init_states: tuple[int, ...] = setting(
        (0, 1, 2, 3, 4), 'Initial-state indices used for training (into the benchmark list, '
        'or into init_states_file); groups cycle through them. Keep evaluation states disjoint '
        '(eval-sim --init-states).', unit='index', range='[0, 1000000]',
        launch_arg='init_states')
    init_states_file: str = setting(
        '', "A .npz of generated initial states (tgrpo-ros init-states) that init_states index "
        "into; '' = the benchmark's 50 fixed ones.", launch_arg='init_states_file')
    cameras: tuple[str, ...] = setting(
        ('agentview',), 'Cameras rendered into each observation and read by the policy (LIBERO: '
        + ', '.join(CAMERAS) + '; a real robot: its profile names them).', launch_arg='cameras')
    image_size: int = setting(
        128, 'Rendered image height = width (the policy resizes to its own input size).',
        unit='px', range='[8, 1024]', launch_arg='image_size')
    max_steps: int = setting(
        160, "Control steps per episode at 20 Hz (0 = the suite's maximum: Object 280).",
        unit='steps', range='[0, 10000]', launch_arg='max_steps')
    frame_id: str = setting(
        'world', 'frame_id stamped on observations: the LIBERO world frame (x forward, z up).')
    robot: str = setting(
        '', "Env id of a robot environment (real_train's robot_env): a group's trials run one "
        "after another on it, each reset by the operator; '' = the simulated environments, one "
        'per trajectory.')
    reward: str = setting(
        'dense', "Reward: 'dense' = the task's multi-stage spec (config/rewards/<suite>/<task>"
        ".yaml; a task without one is an error naming the command that writes one: tgrpo-ros "
        "reward-spec generate), 'success_only' = 1 on success else 0 (step advantages are then "
        'zero).', choices=REWARDS, launch_arg='reward')
    drop_messages: str = setting(
        '', "Fault injection for tests, off when '': messages the environment nodes lose, "
        "comma-separated '<env_id>:<observation|action|step_result>:<episode>:<step>' "
        '(episodes count from 1 in each node process); the learner masks the trial that '
        'waits for it (run.step_timeout_s).')
    delay_messages: str = setting(
        '', "Fault injection for tests, off when '': messages the environment nodes send late, "
        "comma-separated '<env_id>:<observation|step_result>:<episode>:<step>:<seconds>' "
        '(seconds in (0, 3600)); later than run.step_timeout_s, the trial is masked (timeout) '
        'and the late message is dropped where it arrives.')


@dataclass(frozen=True)
class PolicySettings:
    """The VLA policy: what is loaded, where it runs, how it samples (policy node, learner)."""

    model: str = setting(
        'sft:object_task0_state_short', "Policy: 'sft:<name>' (the package's models/sft_<name>;"
        " sft:object_task0_state_short is the SFT policy of LIBERO-Object task 0, see its "
        "README.md), 'tiny:<size>' (test, cpu-2m, cpu-5m, cpu-20m; random init from run.seed),"
        ' or a folder (a saved tgrpo_ros policy, an OpenVLA checkpoint or an HF VLM).',
        launch_arg='model')
    adapter: str = setting(
        '', "LoRA adapter folder loaded at start ('' = a fresh adapter).", launch_arg='adapter')
    device: str = setting('cpu', "Torch device: 'cpu', 'cuda', 'cuda:1'.", launch_arg='device')
    torch_threads: int = setting(
        1, 'CPU threads torch may use (0 = torch default); 1 keeps OpenMP from stalling when '
        'the environment processes share the cores.', unit='threads', range='[0, 1024]')
    temperature: float = setting(
        1.0, 'Sampling temperature (0 = greedy, deployment only); training needs > 0 and the '
        'learner recomputes log-probs at this one.', unit=DIMENSIONLESS, range='[0, 5]',
        launch_arg='temperature')
    lora_rank: int = setting(
        8, 'LoRA rank r (OpenVLA LIBERO checkpoints use 32; small for the tiny CPU models).',
        unit='dimensionless', range='[1, 1024]', launch_arg='lora_rank')
    lora_alpha: float = setting(
        16.0, 'LoRA alpha (scale = alpha / r).', unit=DIMENSIONLESS, range='(0, 100000]',
        launch_arg='lora_alpha')
    max_batch: int = setting(
        16, 'Most observations the policy node answers with one batched forward pass.',
        unit='observations', range='[1, 4096]')
    batch_window_s: float = setting(
        0.03, 'Longest the policy node waits, after the first observation of a group arrived, '
        'for the rest of the group before one batched forward pass (it goes at once when every '
        'environment still running in the group is in; a dead one costs at most this once per '
        'group); 0 = answer whatever arrived, not waiting for the group.', unit='s',
        range='[0, 10]')
    trust_remote_code: bool = setting(
        False, "Let transformers run Python code shipped in the model folder (config.json or "
        "tokenizer_config.json 'auto_map'); only for an HF VLM folder you trust. OpenVLA folders "
        'need none (this package builds their model); false never asks on the terminal.')
    dtype: str = setting(
        'auto', "Weights' floating-point type: 'auto' = float32 on a CPU, bfloat16 on a GPU (as "
        "OpenVLA runs); 'float32' or 'bfloat16' to choose.", choices=DTYPES,
        launch_arg='dtype')
    resize_filter: str = setting(
        MODEL, "Filter of the resize to the model's input size: 'lanczos' (OpenVLA's LIBERO "
        "evaluation, before its processor), 'bicubic' (OpenVLA's processor on an image not "
        "resized before), 'bilinear'; 'model' = the model's own (lanczos unless it saved "
        'another).', choices=(MODEL,) + RESIZE_FILTERS, launch_arg='resize_filter')
    jpeg_round_trip: str = setting(
        MODEL, "JPEG-encode and decode each image before the resize, as OpenVLA's training data "
        "and LIBERO evaluation did: 'enabled', 'disabled', or 'model' = the model's own (OpenVLA "
        "folders enabled, tiny models disabled).", choices=(MODEL,) + JPEG_CHOICES,
        launch_arg='jpeg_round_trip')
    center_crop_area: float = setting(
        0.0, 'Fraction of the image area the centre crop keeps before resizing back, for '
        "checkpoints trained with random crops (OpenVLA's LIBERO ones: 0.9); 1 = no crop; 0 = "
        "the model's own (OpenVLA folders 0.9, tiny models no crop).",
        unit=DIMENSIONLESS, range='[0, 1]', launch_arg='center_crop_area')


@dataclass(frozen=True)
class RunSettings:
    """The run: how long, which seed, where it writes, how long to wait."""

    iterations: int = setting(
        9, 'TGRPO iterations (one group rollout + one update each).', unit='iterations',
        range='[1, 1000000]', launch_arg='iterations')
    seed: int = setting(
        7, 'Seed of the tiny model init, sampling, shuffling and environments (OpenVLA '
        'evaluates with 7).', unit=DIMENSIONLESS, range=f'[0, {INT_MAX}]', launch_arg='seed')
    output_dir: str = setting(
        '', "Run folder; '' = runs/sim_train_<UTC time>.", launch_arg='output_dir')
    resume: bool = setting(
        False, 'Continue the run in output_dir from its last complete iteration.',
        launch_arg='resume')
    env_prefix: str = setting(
        'env', 'Environment ids (and ROS namespaces) are <env_prefix>0 .. <env_prefix>M-1, '
        'M = algo.group_size x run.concurrent_groups.')
    step_timeout_s: float = setting(
        120.0, 'A trial whose next step has not arrived for this long is masked as timed out '
        '(a lost message); a group whose every trial times out is skipped, and two such '
        'groups in a row fail the run.', unit='s',
        range='(0, 86400]')
    startup_timeout_s: float = setting(
        300.0, 'Wait at most this long for environments and the policy node to appear.',
        unit='s', range='(0, 86400]')
    placement: str = setting(
        'separate', "sim_train graph: 'separate' (policy and learner processes, a model each; "
        "weights travel as adapter files) or 'shared' (one process, one base model: a single "
        'GPU that cannot hold two 7B copies).', choices=PLACEMENTS, launch_arg='placement')
    max_staleness: int = setting(
        0, 'Overlapped updates: 0 = synchronous, each group is collected after the previous '
        "update (the paper's protocol); k >= 1 = the next groups are collected while the "
        'learner updates, acted by the policy k iterations behind (fewer after an '
        'evaluation); recorded per group as metrics column staleness. In-process this keeps '
        "a second copy of the policy for acting; placement 'shared' cannot overlap.",
        unit='iterations', range='[0, 4]', launch_arg='max_staleness')
    concurrent_groups: int = setting(
        1, 'Groups collected at once, G: the groups of G consecutive iterations run together '
        'on G x algo.group_size environments (the sim_train graph starts that many), acted by '
        'one policy version; the learner then updates on each in turn, so the j-th group of a '
        'batch is j versions stale (recorded as staleness). 1 = one group at a time. '
        'In-process the groups of a batch run one after another.',
        unit='groups', range='[1, 8]', launch_arg='concurrent_groups')
    env_discovery: str = setting(
        'fixed', "Which environments the learner's groups use: 'fixed' = env_prefix0..M-1, the "
        "ones this graph starts; 'graph' = also every environment whose reset service "
        '(tgrpo_ros/srv/ResetEnv at /<id>/reset) appears in the ROS graph, looked for before '
        'each group, so environment nodes on other hosts (tgrpo-ros launch sim_rollout_host) '
        'join and leave between groups; a group takes the first alive in order of appearance.',
        choices=ENV_DISCOVERY, launch_arg='env_discovery')
    update_processes: int = setting(
        1, 'Processes sharing each update (data-parallel, torch.distributed): the learner and '
        'W - 1 workers it starts, each holding the policy and splitting every minibatch; the '
        "adapter is the one-process update's (up to rounding). gloo on CPU; with "
        "policy.device 'cuda:k' rank r uses cuda:k+r over NCCL. 1 = the update in the "
        'learner alone.', unit='processes', range='[1, 64]', launch_arg='update_processes')



@dataclass(frozen=True)
class EvalSettings:
    """The short sampled evaluation during training: what shows whether the policy improves.

    With first-success groups a training group's success rate is 1/N by construction, so it
    cannot show learning; the evaluation runs whole episodes from held-out initial states.
    """

    init_states: tuple[int, ...] = setting(
        (25, 26, 27, 28), 'Held-out initial-state indices of the evaluation (the same list '
        'env.init_states indexes; must not overlap it); episodes cycle through them.',
        unit='index', range='[0, 1000000]', launch_arg='eval_init_states')
    every: int = setting(
        3, 'Evaluate every this many iterations, plus the start policy before the first and '
        'the policy after the last (0 = never).', unit='iterations', range='[0, 1000000]',
        launch_arg='eval_every')
    episodes: int = setting(
        4, 'Sampled episodes per evaluation, run to the end in groups of algo.group_size at '
        'policy.temperature, with no update (rounded up to whole groups).', unit='episodes',
        range='[0, 100000]', launch_arg='eval_episodes')

# Section name -> dataclass, in the order they are documented.
SECTIONS: dict[str, type] = {'env': EnvSettings, 'policy': PolicySettings,
                             'algo': TGRPOConfig, 'eval': EvalSettings, 'run': RunSettings}
# Fields of a section that are not settings of their own: their value comes from another one.
DERIVED = {'algo.temperature': 'policy.temperature'}
# Training starts from a larger learning rate than the paper's OpenVLA-7B value.
ALGO_DEFAULTS = {'lr': 1e-4}


@dataclass(frozen=True)
class SimTrainSettings:
    """Every setting of a simulation training run (the in-process loop and the sim_train graph).

    Build it with ``resolve`` (defaults < preset < file < overrides) or ``from_flat``; read it
    by section: ``settings.env.cameras``, ``settings.algo.lr``.
    """

    env: EnvSettings = field(default_factory=EnvSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    algo: TGRPOConfig = field(default_factory=lambda: TGRPOConfig(**ALGO_DEFAULTS))
    eval: EvalSettings = field(default_factory=EvalSettings)
    run: RunSettings = field(default_factory=RunSettings)

    def __post_init__(self):
        for name, cls in SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f'{name} must be a {cls.__name__}, got '
                                f'{type(getattr(self, name)).__name__}')
        validate_section('env', self.env)
        validate_section('policy', self.policy)
        validate_section('eval', self.eval)
        validate_section('run', self.run)
        if self.eval.every > 0 and self.eval.episodes > 0:
            if not self.eval.init_states:
                raise ValueError('eval.init_states must name at least one state (or set '
                                 'eval.every=0)')
            overlap = sorted(set(self.eval.init_states) & set(self.env.init_states))
            if overlap:
                raise ValueError(f'eval.init_states and env.init_states overlap at {overlap}: '
                                 'an evaluation on training states says nothing about held-out '
                                 'ones; choose disjoint states')
        if self.run.max_staleness > 0 and self.run.placement == 'shared':
            raise ValueError("run.max_staleness > 0 needs run.placement 'separate': with "
                             "'shared' the policy that acts is the one the learner updates")
        if not self.env.tasks or not self.env.init_states:
            raise ValueError('env.tasks and env.init_states must each name at least one entry')
        # 'all' becomes the suite's task indices here, so every consumer (the schedule, the
        # evaluation, the run's config.yaml) sees the list that is trained.
        tasks = expand_tasks(self.env.suite, self.env.tasks)
        if tasks != self.env.tasks:
            object.__setattr__(self, 'env', replace(self.env, tasks=tasks))
        if not self.env.cameras:
            raise ValueError('env.cameras must name at least one camera')
        if not self.policy.temperature > 0:
            raise ValueError(f'policy.temperature must be > 0 for training (greedy actions '
                             f'have no distribution to learn from); got '
                             f'{self.policy.temperature}')
        # One home for the temperature: the learner's log-probs use the sampling one.
        if self.algo.temperature != self.policy.temperature:
            object.__setattr__(self, 'algo',
                               replace(self.algo, temperature=self.policy.temperature))

    @property
    def group_size(self) -> int:
        return self.algo.group_size

    @property
    def env_ids(self) -> tuple[str, ...]:
        """Ids (and ROS namespaces) of the environments: G groups x N (run.concurrent_groups)."""
        n = self.algo.group_size * self.run.concurrent_groups
        return tuple(f'{self.run.env_prefix}{i}' for i in range(n))

    def to_dict(self) -> dict:
        """Nested plain dict (lists, not tuples), by section: what a run's config.yaml holds."""
        out = {}
        for name in SECTIONS:
            d = asdict(getattr(self, name))
            out[name] = {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()
                         if f'{name}.{k}' not in DERIVED}
        return out

    def to_flat(self) -> dict[str, Any]:
        """``{'env.suite': ..., 'algo.lr': ...}``: every setting by its full name."""
        return {f'{s}.{k}': v for s, d in self.to_dict().items() for k, v in d.items()}

    @classmethod
    def from_flat(cls, params: dict[str, Any]) -> SimTrainSettings:
        """Build from ``{name: value}``: full names, or the short names listed by ``aliases``."""
        return _build(cls, {canonical(k): v for k, v in params.items()})

    def updated(self, params: dict[str, Any]) -> SimTrainSettings:
        """Return a copy with ``params`` (as for ``from_flat``) applied over these values."""
        flat = self.to_flat()
        flat.update({canonical(k): v for k, v in params.items()})
        return _build(type(self), flat)


# --- the declaration, as a table ----------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One declared setting: ``path`` = ``<section>.<field>``."""

    path: str
    section: str
    name: str
    kind: type          # str, int, float, bool or tuple
    item: type | None   # element type of a tuple setting
    optional: bool      # None allowed (written as info.none_as)
    default: Any
    info: SettingInfo

    def describe(self) -> str:
        """Return the help line with its unit and allowed values."""
        constraint = self.constraint()
        return f'{self.info.help} ({constraint})' if constraint else self.info.help

    def constraint(self) -> str:
        parts = []
        if self.info.unit:
            parts.append(f'[{self.info.unit}]')
        if self.info.range is not None:
            parts.append(f'range {self.info.range}')
        allowed = self.info.allowed()
        if allowed:
            parts.append('one of: ' + ', '.join(map(str, allowed)))
        if self.optional:
            parts.append(f'{_text(self.info.none_as)} = off')
        if not self.info.read_only:
            parts.append('settable at run time')
        return '; '.join(parts)


def _resolve_type(hint) -> tuple[type, type | None, bool]:
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        (hint,) = args
    if typing.get_origin(hint) is tuple:
        return tuple, typing.get_args(hint)[0], optional
    return hint, None, optional


def entries(cls: type | None = None) -> dict[str, Entry]:
    """Return every declared setting of a settings class made of sections, by full name.

    cls: ``SimTrainSettings`` (default) or ``RealDeploySettings``.
    """
    cls = cls or SimTrainSettings
    if cls in _ENTRIES:
        return _ENTRIES[cls]
    out = {}
    for top in fields(cls):
        # the section's default instance (not cls(): constructing validates through entries)
        section = top.default_factory()
        hints = typing.get_type_hints(type(section))
        for f in fields(section):
            path = f'{top.name}.{f.name}'
            if path in DERIVED:
                continue
            info = info_of(f)
            if info is None:
                raise TypeError(f'{type(section).__name__}.{f.name} is not declared with '
                                'setting()')
            kind, item, optional = _resolve_type(hints[f.name])
            out[path] = Entry(path, top.name, f.name, kind, item, optional,
                              getattr(section, f.name), info)
    _ENTRIES[cls] = out
    return out


_ENTRIES: dict[type, dict[str, Entry]] = {}


# Flat names from before the settings had sections whose short name is no longer unique
# (eval.init_states joined env.init_states): they keep their old meaning.
FLAT_NAMES = {'init_states': 'env.init_states'}


def aliases() -> dict[str, str]:
    """Short names still accepted: a field name unique across the sections, old flat names."""
    out = dict(_BARE)
    out.update(FLAT_NAMES)
    out.update(DERIVED)
    return out


def _bare_names() -> dict[str, str]:
    count: dict[str, list[str]] = {}
    for path in entries():
        count.setdefault(path.split('.', 1)[1], []).append(path)
    return {name: paths[0] for name, paths in count.items() if len(paths) == 1}


def canonical(name: str, known: Iterable[str] | None = None) -> str:
    """Return the full name of a setting named in full or short; unknown: close matches."""
    table = entries()
    if name in table:
        return name
    alias = aliases().get(name)
    if alias is not None:
        return alias
    candidates = sorted(set(table) | set(aliases()) | set(known or ()))
    close = difflib.get_close_matches(name, candidates, n=4, cutoff=0.6)
    hint = f'; did you mean {", ".join(close)}?' if close else ''
    raise ValueError(f'unknown setting {name!r}{hint} (list them with tgrpo-ros train '
                     f'--print-settings)')


# --- values -------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ','.join(_text(v) for v in value)
    return str(value)


def coerce(entry: Entry, value: Any) -> Any:
    """Value from YAML, a ROS parameter or Python -> the setting's type; errors name it."""
    name = entry.path
    if entry.optional and (value is None or (entry.info.none_as is not None
                                             and value == entry.info.none_as
                                             and not isinstance(value, bool))):
        return None
    if entry.kind is tuple:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise TypeError(f'{name} must be a list, got {type(value).__name__} {value!r}')
        if entry.item is str:
            # names or indices (tasks: [0, 1]); anything else would become nonsense text
            bad = [v for v in value if isinstance(v, bool) or not isinstance(v, (str, int))]
            if bad:
                raise TypeError(f'{name} must be a list of names, got {bad[0]!r} in {value!r}')
            return tuple(str(v) for v in value)
        return tuple(_scalar(entry, entry.item, v) for v in value)
    return _scalar(entry, entry.kind, value)


def _scalar(entry: Entry, kind: type, value: Any) -> Any:
    name = entry.path
    if kind is bool:
        if not isinstance(value, bool):
            raise TypeError(f'{name} must be true or false, got {value!r}')
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise TypeError(f'{name} must be an integer, got {type(value).__name__} {value!r}')
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f'{name} must be a number, got {type(value).__name__} {value!r}')
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise TypeError(f'{name} must be a string, got {type(value).__name__} {value!r}')
        return value
    raise TypeError(f'{name}: unsupported setting type {kind!r}')


def parse_text(entry: Entry, text: str) -> Any:
    """Parse a launch argument or ``--set`` value (text) as the setting's type.

    Lists are comma-separated (``0,1,2``) or YAML (``[0, 1, 2]``); booleans true/false/1/0.
    """
    text = text.strip()
    if entry.kind is tuple:
        if text.startswith('['):
            value = yaml.safe_load(text)
        else:
            value = [t.strip() for t in text.split(',') if t.strip()]
            if entry.item is not str:
                value = [yaml.safe_load(t) for t in value]
        return coerce(entry, value)
    if entry.kind is bool:
        lowered = text.lower()
        if lowered not in ('true', 'false', '1', '0', 'yes', 'no'):
            raise ValueError(f'{entry.path} must be true or false, got {text!r}')
        return lowered in ('true', '1', 'yes')
    if entry.kind is str:
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    if entry.kind is float and isinstance(value, str):
        try:  # YAML 1.1 reads 1e-4 (no dot) as a string
            value = float(value)
        except ValueError:
            pass
    return coerce(entry, value)


def check(entry: Entry, value: Any) -> None:
    """Refuse a value outside the declared range or choices, naming the setting."""
    if value is None:
        if not entry.optional:
            raise ValueError(f'{entry.path} must be set')
        return
    items = value if entry.kind is tuple else (value,)
    allowed = entry.info.allowed()
    for v in items:
        if allowed and v not in allowed:
            raise ValueError(f'{entry.path} = {v!r} is not one of {", ".join(map(str, allowed))}')
        if entry.info.range is not None and not entry.info.range.contains(v):
            raise ValueError(f'{entry.path} = {v!r} is out of range {entry.info.range}'
                             f' [{entry.info.unit}]')


def validate_section(section: str, obj: Any) -> None:
    """Types, ranges and choices of every field of one section; errors name the field."""
    for path, entry in entries().items():
        if entry.section == section:
            value = getattr(obj, entry.name)
            check(entry, coerce(entry, value) if value is not None else None)


def ros_value(entry: Entry, value: Any) -> Any:
    """Return a setting's value as a ROS parameter / YAML value (no None, no tuples)."""
    if value is None:
        return entry.info.none_as
    return list(value) if isinstance(value, tuple) else value


def _build(cls: type, flat: dict[str, Any]) -> SimTrainSettings:
    table = entries(cls)
    sections: dict[str, dict[str, Any]] = {f.name: {} for f in fields(cls)}
    for path, value in flat.items():
        entry = table[path]
        value = coerce(entry, value)
        check(entry, value)
        sections[entry.section][entry.name] = value
    built = {}
    for f in fields(cls):
        name = f.name
        try:
            built[name] = replace(f.default_factory(), **sections[name])
        except (ValueError, TypeError) as exc:
            # cross-field rules of a section (e.g. TGRPOConfig's): say which section
            raise type(exc)(f'{name}: {exc}') from None
    return cls(**built)


# --- files: presets and parameter files ---------------------------------------------------------
def presets_dir() -> Path:
    return share_dir() / 'config' / 'presets'


def preset_names() -> list[str]:
    return sorted(p.stem for p in presets_dir().glob('*.yaml'))


def preset_file(name: str) -> Path:
    """``config/presets/<name>.yaml``, or a path to a preset file."""
    path = Path(name)
    if path.suffix in ('.yaml', '.yml') and path.is_file():
        return path.resolve()
    candidate = presets_dir() / f'{name}.yaml'
    if not candidate.is_file():
        raise ValueError(f'unknown preset {name!r}; available: {", ".join(preset_names())}')
    return candidate


def parameter_file(name: str) -> Path:
    """Find a parameter file: a path (absolute or relative to here) or a name in config/."""
    path = Path(name)
    if path.is_file():
        return path.resolve()
    if not os.path.isabs(name) and (share_dir() / 'config' / name).is_file():
        return share_dir() / 'config' / name
    raise FileNotFoundError(f'parameter file not found: {name}')


def _flatten(d: dict, prefix: str = '') -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f'{prefix}{k}.'))
        else:
            out[f'{prefix}{k}'] = v
    return out


def read_parameter_file(path: str | Path, node: str = 'learner') -> dict[str, Any]:
    """Return the settings a ROS 2 parameter file gives ``node`` (``/**``, then its own).

    Keys outside the settings' sections (other nodes' own parameters) are left out; a key inside
    a section that names no setting is an error (a typo would otherwise change nothing).
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding='utf-8')) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f'{path}: not a readable YAML parameter file: {exc}') from None
    if not isinstance(data, dict):
        raise ValueError(f'{path}: not a ROS 2 parameter file (a mapping of node names to '
                         f'ros__parameters), got {type(data).__name__}')
    table = entries()
    out: dict[str, Any] = {}
    names = [k for k in data if isinstance(k, str)]
    matching = [k for k in names if k.strip('/') in ('**', '*')]
    matching += [k for k in names if k not in matching and k.strip('/').split('/')[-1] == node]
    for key in matching:
        section = data[key] or {}
        params = (section.get('ros__parameters') or {}) if isinstance(section, dict) else None
        if not isinstance(params, dict):
            raise ValueError(f'{path}: {key}: expected {{ros__parameters: {{<setting>: '
                             f'<value>}}}}, got {section!r}'[:300])
        for name, value in _flatten(params).items():
            if name in table:
                out[name] = value
            elif name.split('.', 1)[0] in SECTIONS or name in aliases():
                try:
                    out[canonical(name)] = value
                except ValueError as exc:
                    raise ValueError(f'{path}: {exc}') from None
    return out


def resolve(preset: str = '', params_file: str | Path = '', overrides: dict | None = None,
            *, base_file: bool = True, node: str = 'learner') -> SimTrainSettings:
    """Combine settings in order of precedence: defaults < preset < file < overrides.

    base_file: read config/sim_train.yaml first (the declared defaults, documented; an edit to
        it acts at the level of the defaults, below a preset).
    """
    flat: dict[str, Any] = {}
    files = []
    if base_file:
        files.append(share_dir() / 'config' / PARAMETER_FILE)
    if preset:
        files.append(preset_file(preset))
    if params_file:
        files.append(parameter_file(str(params_file)))
    for f in files:
        flat.update(read_parameter_file(f, node))
    flat.update({canonical(k): v for k, v in (overrides or {}).items()})
    return SimTrainSettings.from_flat(flat)


def render_parameter_file() -> str:
    """Return the text of config/sim_train.yaml: every setting once, with help and unit."""
    lines = [
        '# Parameters of every sim_train node (tgrpo-ros launch sim_train / ros2 launch '
        'tgrpo_ros',
        '# sim_train.launch.py) and of tgrpo-ros train. GENERATED from the declaration in',
        '# tgrpo_ros/training/settings.py: regenerate with',
        '#   tgrpo-ros train --print-parameter-file > config/sim_train.yaml',
        '# Each node declares the settings it uses; all of them read this one section, so they',
        '# cannot disagree. Precedence: these defaults < preset:=NAME (config/presets/) <',
        '# params_file:=FILE < launch arguments given. [unit], allowed range or values.',
        '',
        f'{ALL_NODES}:',
        '  ros__parameters:',
    ]
    table = entries()
    for section in SECTIONS:
        lines.append(f'    {section}:')
        for entry in table.values():
            if entry.section != section:
                continue
            comments = _wrap(entry.info.help, 99 - len('      # '))
            if entry.constraint():
                comments += _wrap(entry.constraint(), 99 - len('      # '))
            lines.extend(f'      # {c}' for c in comments)
            value = yaml.safe_dump(ros_value(entry, entry.default), default_flow_style=True,
                                   width=1000).strip()
            if value.endswith('\n...'):
                value = value[:-4].strip()
            value = value.removesuffix('...').strip()
            lines.append(f'      {entry.name}: {value}')
    return '\n'.join(lines) + '\n'


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False)


# --- agreement between the policy node and the learner ------------------------------------------
# What the policy node publishes on ``policy_settings``; the learner's log-probs are only those of
# the sampler if all of these agree.
AGREEMENT = ('policy.temperature', 'policy.lora_rank', 'policy.lora_alpha', 'policy.model',
             'policy.adapter', 'policy.dtype', 'policy.resize_filter', 'policy.jpeg_round_trip',
             'policy.center_crop_area')


def served_settings(policy: PolicySettings) -> dict[str, Any]:
    """Return what a policy node samples with, by full setting name (published as JSON)."""
    return {path: getattr(policy, path.split('.', 1)[1]) for path in AGREEMENT}


def check_policy_agrees(settings: SimTrainSettings, served: dict[str, Any]) -> None:
    """Raise ValueError naming every setting where the policy node and the learner differ.

    The learner recomputes log-probs of the sampled tokens; with another temperature or another
    LoRA scale the ratio is wrong from the first step and the update is silently biased.
    """
    mine = served_settings(settings.policy)
    missing = [k for k in mine if k not in served]
    if missing:
        raise ValueError(f'the policy node did not say its {", ".join(missing)}')
    differ = [f'{k}: policy node {served[k]!r}, learner {mine[k]!r}' for k in mine
              if not _same(served[k], mine[k])]
    if differ:
        raise ValueError('the policy node and the learner disagree, refusing to train: '
                         + '; '.join(differ) + ' (set them once, in the /** section of the '
                         'parameter file or with one launch argument)')


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    return a == b


# --- the real_deploy graph ----------------------------------------------------------------------
@dataclass(frozen=True)
class DeploySettings:
    """The real arm: which robot profile, cameras and task (camera_state_bridge, arm_adapter)."""

    robot_profile: str = setting(
        '', 'Robot profile (required): franka, ur, sim_test, or a path to a profile YAML (see '
        'config/robots/).', launch_arg='robot_profile')
    camera_topics: tuple[str, ...] = setting(
        (), "Camera topics in the profile's camera order, overriding its topics ('' = the "
        "profile's).", launch_arg='camera_topics')
    instruction: str = setting(
        '', 'Task instruction; empty: none until set on /camera_state_bridge/instruction (no '
        'observation is published without one).', launch_arg='instruction', read_only=False)
    arm_on_start: bool = setting(
        False, 'Arm the adapter at start-up (motion still needs the dead-man). Default false: '
        'call /arm_adapter/arm.', launch_arg='arm_on_start')


@dataclass(frozen=True)
class RealDeploySettings:
    """Every setting of the real_deploy graph that a launch argument sets."""

    policy: PolicySettings = field(default_factory=PolicySettings)
    deploy: DeploySettings = field(default_factory=DeploySettings)


_BARE = _bare_names()
