# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Multi-stage dense rewards from declarative per-task specs (YAML in ``config/rewards/``).

TGRPO has a language model split each task into stages and write reward code. Here the stages
are data: an ordered list, each with a *predicate* (is this stage reached?) and a *progress*
term (how close, in [0, 1), the state is to reaching it). The format is documented in
``config/rewards/FORMAT.md``; ``config/rewards/PROMPT.md`` is a template for having a language
model write a spec for a new task.

Reward of a state (``tgrpo_ros.contract``: the reward of the state reached, not a running total)::

    stage    = highest k in 1..K whose predicate holds (0 if none)
    progress = progress term of stage stage+1, clipped to [0, 0.99] (0 when stage = K)
    R        = stage + progress + success_bonus * success

so R lies in [0, K + success_bonus]; with K = 5 and the default bonus 1, R is in [0, 6].
Taking the highest satisfied stage (not the longest satisfied prefix) lets later stages hold
after earlier ones stop holding (the object is released into the basket: no longer grasped).

A spec is validated when loaded (field names, predicate/progress types and their fields) and
again when bound to a task (every entity must be the gripper, a role, or an object or region of
that task); errors name the offending field or name.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import yaml

from tgrpo_ros.sim.bddl_task import read_bddl_task
from tgrpo_ros.sim.sim_state import SimState

#: The entity that names the robot's grip site (between the fingertips).
GRIPPER = 'gripper'
PROGRESS_CAP = 0.99  # keeps stage + progress below stage + 1


class RewardSpecError(ValueError):
    """A reward spec is malformed or names something the task does not have."""


# -- the vocabulary: predicate and progress types with their fields --------------------------
# Each entry: type name -> (required fields, optional fields with defaults). Fields ending in
# 'object'/'a'/'b'/'over'/'region' name entities; the rest are numbers in metres or strings.
ENTITY_FIELDS = ('a', 'b', 'object', 'over', 'region', 'support', 'fixture')
#: Articulation states a spec may name (``SimState.articulations``).
ARTICULATION_STATES = ('open', 'closed', 'on', 'off')
#: Suffix naming the handle (or knob, or door) of an articulation as a position entity.
HANDLE_SUFFIX = '.handle'
PREDICATES: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    # distance between two entities below `within` [m]; axes 'xyz' or 'xy'
    'near': (('a', 'b', 'within'), {'axes': 'xyz'}),
    # both fingers touch the object
    'grasped': (('object',), {}),
    # object's root raised by at least `height` [m] over its height at reset (any support)
    'lifted': (('object', 'height'), {'grasped': False}),
    # object's centre within `radius` [m] (xy) of `over`'s centre and its bottom at least
    # `gap` [m] above `over`'s top (gap may be negative)
    'above': (('object', 'over', 'radius'), {'gap': 0.0}),
    # object's root inside a goal region (LIBERO's `In` test)
    'inside': (('object', 'region'), {}),
}
#: Added by version 2 (fixtures, pushing, stacking, combinations).
PREDICATES_V2: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    # LIBERO's `On`: on a region (its footprint, touching its owner) or on an object (stacking:
    # touching, not below it, roots within `radius` [m] horizontally)
    'on': (('object', 'support'), {'radius': 0.03}),
    # stacking only: `support` must be an object
    'stacked': (('object', 'support'), {'radius': 0.03}),
    # pushed: root moved at least `distance` [m] horizontally from its reset position, not
    # grasped, its height within `lift_tolerance` [m] of the reset height
    'pushed': (('object', 'distance'), {'lift_tolerance': 0.02}),
    # LIBERO's Open / Close / TurnOn / TurnOff checks of a fixture or a drawer's region
    'open': (('fixture',), {}),
    'closed': (('fixture',), {}),
    'turned_on': (('fixture',), {}),
    'turned_off': (('fixture',), {}),
    # the joints at least `fraction` of the way from the opposite state toward `toward`
    'articulated': (('fixture', 'toward', 'fraction'), {}),
    # combinations: every / some listed predicate holds; the predicate does not hold
    'all': ((), {}),
    'any': ((), {}),
    'not': ((), {}),
}
PROGRESSES: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    # 1 - tanh(d / scale), d the distance a-b [m]
    'approach': (('a', 'b', 'scale'), {'axes': 'xyz'}),
    # gripper closing on the object: 0.5 (1 - opening/open_width) + 0.25 per finger touching
    'closure': (('object',), {'open_width': 0.08}),
    # (z - z_reset) / height of the object's root, clipped
    'raise': (('object', 'height'), {}),
}
PROGRESSES_V2: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    # fraction of the way from the opposite state toward `toward` (``Articulation.fraction``)
    'articulate': (('fixture', 'toward'), {}),
}
COMBINATIONS = ('all', 'any', 'not')
VERSIONS = (1, 2)
TOP_FIELDS = {'version', 'task', 'description', 'roles', 'success_bonus', 'stages'}
TOP_FIELDS_V2 = {'generated'}  # provenance of a generated spec: generation may overwrite it
STAGE_FIELDS = {'name', 'predicate', 'progress'}


@dataclass(frozen=True)
class Term:
    """One predicate or progress term: its type and its fields (entities by name)."""

    type: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Stage:
    name: str
    predicate: Term
    progress: Term | None


@dataclass(frozen=True)
class RewardSpec:
    """A parsed, format-checked reward spec (not yet bound to a task's objects)."""

    task: str
    stages: tuple[Stage, ...]
    roles: dict[str, str] = field(default_factory=dict)
    success_bonus: float = 1.0
    description: str = ''
    source: str = '<dict>'
    version: int = 1
    generated: str = ''  # non-empty: written by `tgrpo-ros reward-spec generate`

    @property
    def num_stages(self) -> int:
        return len(self.stages)


@dataclass(frozen=True)
class RewardResult:
    """Reward of one state: R, the stage reached (0..K), K, progress toward the next stage."""

    reward: float
    stage: int
    num_stages: int
    progress: float
    success: bool


def _term(raw: Any, table: dict, where: str, version: int = 2) -> Term:
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise RewardSpecError(f'{where}: expected a mapping with one key, the type '
                              f'(one of {", ".join(table)}), got {raw!r}')
    (kind, args), = raw.items()
    if kind not in table:
        raise RewardSpecError(f'{where}: unknown type {kind!r}; known: {", ".join(table)}'
                              + (' (version 1; version: 2 adds more)' if version == 1 else ''))
    if kind in COMBINATIONS:
        # all/any: a list of predicates; not: one predicate. Args keep the parsed terms.
        if kind == 'not':
            return Term(kind, {'of': (_term(args, table, f'{where}.not', version),)})
        if not isinstance(args, list) or not args:
            raise RewardSpecError(f'{where}.{kind}: expected a non-empty list of predicates, '
                                  f'got {args!r}')
        return Term(kind, {'of': tuple(_term(a, table, f'{where}.{kind}[{i}]', version)
                                       for i, a in enumerate(args))})
    if args is not None and not isinstance(args, Mapping):
        raise RewardSpecError(f'{where}.{kind}: expected a mapping of fields, got {args!r}')
    args = dict(args or {})
    required, optional = table[kind]
    for k in args:
        if k not in required and k not in optional:
            raise RewardSpecError(f'{where}.{kind}: unknown field {k!r}; allowed: '
                                  f'{", ".join(list(required) + list(optional))}')
    for k in required:
        if k not in args:
            raise RewardSpecError(f'{where}.{kind}: missing field {k!r}')
    full = {**optional, **args}
    for k, v in full.items():
        if k in ENTITY_FIELDS:
            if not isinstance(v, str) or not v:
                raise RewardSpecError(f'{where}.{kind}.{k}: expected an entity name, got {v!r}')
        elif k == 'axes':
            if v not in ('xyz', 'xy'):
                raise RewardSpecError(f"{where}.{kind}.axes: expected 'xyz' or 'xy', got {v!r}")
        elif k == 'toward':
            if v not in ARTICULATION_STATES:
                raise RewardSpecError(f'{where}.{kind}.toward: expected one of '
                                      f'{", ".join(ARTICULATION_STATES)}, got {v!r}')
        elif k == 'grasped':
            if not isinstance(v, bool):
                raise RewardSpecError(f'{where}.{kind}.grasped: expected true/false, got {v!r}')
        else:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise RewardSpecError(f'{where}.{kind}.{k}: expected a number, got {v!r}')
            if k != 'gap' and v <= 0:
                raise RewardSpecError(f'{where}.{kind}.{k}: must be > 0, got {v!r}')
            if k == 'fraction' and v > 1:
                raise RewardSpecError(f'{where}.{kind}.fraction: must be in (0, 1], got {v!r}')
            full[k] = float(v)
    return Term(kind, full)


def parse_spec(raw: Mapping[str, Any], source: str = '<dict>') -> RewardSpec:
    """Check a spec's format and return it parsed; raise ``RewardSpecError`` naming the field."""
    if not isinstance(raw, Mapping):
        raise RewardSpecError(f'{source}: a reward spec is a mapping, got {type(raw).__name__}')
    version = raw.get('version', 1)
    if isinstance(version, bool) or version not in VERSIONS:
        raise RewardSpecError(f'{source}: unsupported version {version!r} (know '
                              f'{", ".join(map(str, VERSIONS))})')
    top = TOP_FIELDS | (TOP_FIELDS_V2 if version >= 2 else set())
    for k in raw:
        if k not in top:
            raise RewardSpecError(f'{source}: unknown field {k!r}; allowed: '
                                  f'{", ".join(sorted(top))}'
                                  + (' (version 1)' if k in TOP_FIELDS_V2 else ''))
    predicates = {**PREDICATES, **(PREDICATES_V2 if version >= 2 else {})}
    progresses = {**PROGRESSES, **(PROGRESSES_V2 if version >= 2 else {})}
    if 'task' not in raw or not isinstance(raw['task'], str):
        raise RewardSpecError(f"{source}: missing field 'task' (\"<suite>/<task_name>\")")
    roles = raw.get('roles') or {}
    if not isinstance(roles, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in roles.items()):
        raise RewardSpecError(f'{source}: roles must map role names to object names')
    if GRIPPER in roles:
        raise RewardSpecError(f"{source}: role name 'gripper' is reserved")
    bonus = raw.get('success_bonus', 1.0)
    if isinstance(bonus, bool) or not isinstance(bonus, (int, float)) or bonus < 0:
        raise RewardSpecError(f'{source}: success_bonus must be a number >= 0, got {bonus!r}')
    stages_raw = raw.get('stages')
    if not isinstance(stages_raw, list) or not stages_raw:
        raise RewardSpecError(f"{source}: 'stages' must be a non-empty list")
    stages = []
    for i, s in enumerate(stages_raw):
        where = f'{source}: stages[{i}]'
        if not isinstance(s, Mapping):
            raise RewardSpecError(f'{where}: expected a mapping, got {s!r}')
        for k in s:
            if k not in STAGE_FIELDS:
                raise RewardSpecError(f'{where}: unknown field {k!r}; allowed: '
                                      f'{", ".join(sorted(STAGE_FIELDS))}')
        if 'name' not in s or 'predicate' not in s:
            raise RewardSpecError(f"{where}: needs 'name' and 'predicate'")
        pred = _term(s['predicate'], predicates, f'{where}.predicate', version)
        prog = _term(s['progress'], progresses, f'{where}.progress', version) if s.get(
            'progress') is not None else None
        stages.append(Stage(str(s['name']), pred, prog))
    return RewardSpec(task=raw['task'], stages=tuple(stages), roles=dict(roles),
                      success_bonus=float(bonus), description=str(raw.get('description', '')),
                      source=source, version=int(version),
                      generated=str(raw.get('generated', '') or ''))


def load_spec(path: str | os.PathLike) -> RewardSpec:
    """Read and format-check a YAML spec file."""
    p = Path(path)
    with open(p) as f:
        raw = yaml.safe_load(f)
    return parse_spec(raw, source=str(p))


def rewards_dir() -> Path:
    """Return the folder of reward specs (``$TGRPO_ROS_REWARDS_DIR`` or ``config/rewards``)."""
    env = os.environ.get('TGRPO_ROS_REWARDS_DIR')
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / 'config' / 'rewards'


def spec_path(suite: str, task_name: str) -> Path:
    """Return where the spec of ``suite/task_name`` lives (it may not exist)."""
    return rewards_dir() / suite / f'{task_name}.yaml'


# -- evaluation ------------------------------------------------------------------------------
class StagedReward:
    """A spec bound to one task: ``reset(state)`` at episode start, then ``reward(state)``.

    objects, regions: the task's object and region names; articulations: its fixtures (and
    drawer regions) that open/close or turn on/off (``SimState.articulations``).
    """

    def __init__(self, spec: RewardSpec, objects: list[str], regions: list[str],
                 articulations: Any = ()):
        self.spec = spec
        self.num_stages = spec.num_stages
        self._objects, self._regions = set(objects), set(regions)
        self._articulations = set(articulations)
        # states of each fixture when known (a mapping name -> states); else checked at reset
        self._art_states = ({k: tuple(v) for k, v in articulations.items()}
                            if isinstance(articulations, Mapping) else {})
        self._state_checks: list[tuple[str, str, str]] = []
        known = self._objects | self._regions | self._articulations
        for role, name in spec.roles.items():
            if name not in known:
                raise RewardSpecError(f'{spec.source}: role {role!r} names unknown object '
                                      f'{name!r}; task has: {", ".join(sorted(known))}')
        self._stages: list[tuple[Callable, Callable | None]] = []
        for i, st in enumerate(spec.stages):
            where = f'{spec.source}: stages[{i}] ({st.name})'
            pred = self._compile(st.predicate, where)
            prog = self._compile(st.progress, where) if st.progress else None
            self._stages.append((pred, prog))
        self._z0: dict[str, float] = {}
        self._p0: dict[str, np.ndarray] = {}

    def _known(self) -> str:
        return (f'objects {", ".join(sorted(self._objects))}; regions '
                f'{", ".join(sorted(self._regions))}; fixtures that open/close or turn on/off '
                f'{", ".join(sorted(self._articulations)) or "(none)"}')

    def _resolve(self, name: str, field_name: str, where: str) -> str:
        """Return the entity ``name`` (a role resolved) if it suits ``field_name``."""
        if name.endswith(HANDLE_SUFFIX):
            base = self.spec.roles.get(name[:-len(HANDLE_SUFFIX)], name[:-len(HANDLE_SUFFIX)])
            if field_name in ('a', 'b', 'over') and base in self._articulations:
                return base + HANDLE_SUFFIX
            raise RewardSpecError(f'{where}: {name!r}: a handle names a fixture that opens/'
                                  f'closes or turns on/off, in a position field (a, b, over); '
                                  f'task has {self._known()}')
        name = self.spec.roles.get(name, name)
        ok = {
            'object': name in self._objects,
            'region': name in self._regions,
            'support': name in self._objects or name in self._regions,
            'fixture': name in self._articulations,
        }.get(field_name, name == GRIPPER or name in self._objects or name in self._regions)
        if ok:
            return name
        kind = {'object': 'object', 'region': 'region', 'support': 'object or region',
                'fixture': 'fixture or region that opens/closes or turns on/off'}.get(
                    field_name, 'object, region or role')
        if field_name != 'object' and name in self._objects | self._regions:
            raise RewardSpecError(f'{where}: {name!r} is not a {kind}; task has '
                                  f'{self._known()}')
        raise RewardSpecError(f'{where}: unknown {kind} {name!r}; task has {self._known()}')

    def _compile(self, term: Term, where: str) -> Callable[[SimState], Any]:
        t = term.type
        if t in COMBINATIONS:
            parts = [self._compile(sub, f'{where}.{t}[{i}]') for i, sub in
                     enumerate(term.args['of'])]
            if t == 'all':
                return lambda s: all(p(s) for p in parts)
            if t == 'any':
                return lambda s: any(p(s) for p in parts)
            return lambda s: not parts[0](s)
        a = dict(term.args)
        for k in ENTITY_FIELDS:
            if k in a:
                a[k] = self._resolve(a[k], k, f'{where}.{t}.{k}')
        pos, dist = self._pos, self._dist
        if t == 'near':
            return lambda s: dist(s, a['a'], a['b'], a['axes']) < a['within']
        if t == 'grasped':
            return lambda s: s.grasped(a['object'])
        if t == 'lifted':
            return lambda s: (s.objects[a['object']].pos[2] - self._z0[a['object']]
                              >= a['height']) and (not a['grasped'] or s.grasped(a['object']))
        if t == 'above':
            def above(s: SimState) -> bool:
                o = s.objects[a['object']]
                top = self._top(s, a['over'])
                return (np.linalg.norm(o.center[:2] - pos(s, a['over'])[:2]) < a['radius']
                        and o.bbox_min[2] - top >= a['gap'])
            return above
        if t == 'inside':
            return lambda s: s.in_region(a['object'], a['region'])
        if t == 'on':
            return lambda s: s.on(a['object'], a['support'], a['radius'])
        if t == 'stacked':
            if a['support'] not in self._objects:
                raise RewardSpecError(f'{where}.stacked.support: {a["support"]!r} is not an '
                                      f'object (use on: for a region); task has '
                                      f'{self._known()}')
            return lambda s: s.on(a['object'], a['support'], a['radius'])
        if t == 'pushed':
            def pushed(s: SimState) -> bool:
                o, p0 = s.objects[a['object']].pos, self._p0[a['object']]
                return (np.linalg.norm(o[:2] - p0[:2]) >= a['distance']
                        and abs(o[2] - p0[2]) <= a['lift_tolerance']
                        and not s.grasped(a['object']))
            return pushed
        if t in ('open', 'closed', 'turned_on', 'turned_off'):
            state = {'open': 'open', 'closed': 'closed', 'turned_on': 'on',
                     'turned_off': 'off'}[t]
            self._need_state(a['fixture'], state, where)
            return lambda s: bool(s.articulations[a['fixture']].states[state])
        if t in ('articulated', 'articulate'):
            self._need_state(a['fixture'], a['toward'], where)
            if t == 'articulated':
                return lambda s: (s.articulations[a['fixture']].fraction(a['toward'])
                                  >= a['fraction'])
            return lambda s: s.articulations[a['fixture']].fraction(a['toward'])
        if t == 'approach':
            return lambda s: 1.0 - math.tanh(dist(s, a['a'], a['b'], a['axes']) / a['scale'])
        if t == 'closure':
            def closure(s: SimState) -> float:
                shut = 1.0 - min(max(s.gripper_opening / a['open_width'], 0.0), 1.0)
                touch = (s.touching('left_finger', a['object'])
                         + s.touching('right_finger', a['object']))
                return 0.5 * shut + 0.25 * touch
            return closure
        if t == 'raise':
            return lambda s: (s.objects[a['object']].pos[2] - self._z0[a['object']]) / a['height']
        raise RewardSpecError(f'{where}: unhandled type {t!r}')  # parse_spec prevents this

    def _need_state(self, fixture: str, state: str, where: str) -> None:
        # A drawer has no 'on'; a stove knob has no 'open'. Checked now when the task's fixture
        # states are known, else at reset (from the snapshot).
        if fixture in self._art_states and state not in self._art_states[fixture]:
            raise RewardSpecError(f'{where}: fixture {fixture!r} has no state {state!r} (it '
                                  f'has {", ".join(self._art_states[fixture])})')
        self._state_checks.append((fixture, state, where))

    @staticmethod
    def _pos(s: SimState, name: str) -> np.ndarray:
        if name == GRIPPER:
            return s.eef_pos
        if name.endswith(HANDLE_SUFFIX):
            return s.articulations[name[:-len(HANDLE_SUFFIX)]].handle
        if name in s.objects:
            return s.objects[name].center
        return s.regions[name].center

    @staticmethod
    def _top(s: SimState, name: str) -> float:
        if name in s.objects:
            return float(s.objects[name].bbox_max[2])
        if name in s.regions:
            return float(s.regions[name].center[2] + s.regions[name].half_size[2])
        return float(StagedReward._pos(s, name)[2])

    def _dist(self, s: SimState, a: str, b: str, axes: str) -> float:
        d = self._pos(s, a) - self._pos(s, b)
        return float(np.linalg.norm(d[:2] if axes == 'xy' else d))

    def reset(self, state: SimState) -> None:
        """Remember object poses at episode start (``lifted``, ``raise``, ``pushed``).

        Also checks that each named fixture has the states the spec asks of it.
        """
        for fixture, st, where in self._state_checks:
            art = state.articulations.get(fixture)
            if art is None or st not in art.states:
                have = 'nothing' if art is None else ', '.join(art.states) or 'nothing'
                raise RewardSpecError(f'{where}: fixture {fixture!r} has no state {st!r} '
                                      f'(it has {have})')
        self._z0 = {k: float(v.pos[2]) for k, v in state.objects.items()}
        self._p0 = {k: np.asarray(v.pos, dtype=np.float64).copy()
                    for k, v in state.objects.items()}

    def stage_predicates(self, state: SimState) -> list[bool]:
        """Return whether each stage's predicate holds in ``state`` (after ``reset``)."""
        return [bool(pred(state)) for pred, _ in self._stages]

    def __call__(self, state: SimState) -> RewardResult:
        if not self._z0:
            raise RuntimeError('StagedReward.reset(state) must be called at episode start')
        stage = 0
        for k, (pred, _) in enumerate(self._stages, start=1):
            if pred(state):
                stage = k
        progress = 0.0
        if stage < self.num_stages:
            prog = self._stages[stage][1]
            if prog is not None:
                progress = min(max(float(prog(state)), 0.0), PROGRESS_CAP)
        r = stage + progress + self.spec.success_bonus * float(state.success)
        return RewardResult(float(r), stage, self.num_stages, progress, state.success)


class SuccessReward:
    """Reward when a task has no spec: 1 on success, else 0; no stages."""

    num_stages = 0

    def reset(self, state: SimState) -> None:
        pass

    def __call__(self, state: SimState) -> RewardResult:
        return RewardResult(float(state.success), 0, 0, 0.0, state.success)


class MissingSpecError(RewardSpecError):
    """A task has no reward spec and success-only reward was not asked for."""


#: ``reward_spec`` value asking for the success-only reward by name (``None`` means the same).
SUCCESS_ONLY = 'success_only'


def missing_spec_message(suite: str, task_name: str) -> str:
    """Return the error for a task without a spec: the task, the file, how to make one."""
    return (f'task {suite}/{task_name} has no reward spec ({spec_path(suite, task_name)} '
            f'does not exist): make one with `tgrpo-ros reward-spec generate --suite {suite}` '
            f'(or write it: config/rewards/FORMAT.md), or ask for the success-only reward by '
            f'name (env.reward: {SUCCESS_ONLY}; step advantages are then zero)')


def load_reward_for_task(spec: Any, suite: str, task_name: str, objects: list[str],
                         regions: list[str], articulations: Any = ()
                         ) -> StagedReward | SuccessReward:
    """Return the reward for a task.

    spec: ``'auto'`` (the task's file under ``rewards_dir()``; ``MissingSpecError`` if there
    is none), ``'success_only'`` or ``None`` (success only), a path, a mapping, or a
    ``RewardSpec``. articulations: the task's fixtures that open/close or turn on/off (names,
    or a mapping name -> states).
    """
    if spec is None or (isinstance(spec, str) and spec == SUCCESS_ONLY):
        return SuccessReward()
    if isinstance(spec, str) and spec == 'auto':
        p = spec_path(suite, task_name)
        if not p.exists():
            raise MissingSpecError(missing_spec_message(suite, task_name))
        spec = load_spec(p)
    elif isinstance(spec, (str, os.PathLike)):
        spec = load_spec(spec)
    elif isinstance(spec, Mapping):
        spec = parse_spec(spec)
    elif not isinstance(spec, RewardSpec):
        raise TypeError(f'reward_spec must be "auto", None, a path, a mapping or a RewardSpec, '
                        f'got {type(spec).__name__}')
    want = f'{suite}/{task_name}'
    if spec.task != want:
        raise RewardSpecError(f'{spec.source}: spec is for task {spec.task!r}, not {want!r}')
    return StagedReward(spec, objects, regions, articulations)


def validate_spec_for_bddl(spec: RewardSpec, bddl_file: str) -> StagedReward:
    """Bind a spec to a task's BDDL file without building the simulator (fast check)."""
    task = read_bddl_task(bddl_file)
    return StagedReward(spec, task.entities, list(task.regions), task.articulations)
