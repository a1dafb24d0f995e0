# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Dense multi-stage reward specs derived from each LIBERO task's own BDDL goal.

TGRPO has a language model split a task into stages; LIBERO's goals are few and regular
(``On``, ``In``, ``Open``, ``Close``, ``TurnOn``, ``TurnOff``, conjunctions of them), so here
each goal predicate expands by rule into stages of the spec format (``config/rewards/
FORMAT.md``, version 2):

- ``In obj region`` / ``On obj support`` (pick and place): reach, grasp, lift, carry (over the
  destination, or held within its footprint while lowered into it), place (LIBERO's own ``In`` / ``On`` test; ``On`` another object is stacking).
  An ``In`` into a drawer, or into a fixture with a door, that the BDDL does not start open is
  preceded by opening it (the drawer stages below) -- e.g. "open the top drawer and put the
  bowl inside", whose goal is only the ``In``.
- ``On obj region`` of a task whose instruction says "push": reach, pushed (moved without a
  grasp), on the region.
- ``Open`` / ``Close`` (drawers, doors): reach the handle, half way, open / closed.
- ``TurnOn`` / ``TurnOff`` (stove knobs): reach the knob, half way, on / off.

A conjunction's goals keep the BDDL order, except that ``Close X`` moves after an ``In`` into
X (LIBERO-10: "put the bowl in the bottom drawer and close it" lists the ``Close`` first).
Every stage after the first goal also requires the earlier goals to hold (``all:``), so
progress on a later goal counts only once the earlier ones are done; an opening step before an
``In`` gates that ``In``'s approach stages but not its final test (the drawer may be closed
again by a later goal).

``generate_suite`` writes ``config/rewards/<suite>/<task>.yaml`` for every task of a suite
(``tgrpo-ros reward-spec generate``), marking each file with ``generated:``; a file without that
mark is hand-written and never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tgrpo_ros.sim.bddl_task import BddlTask, read_bddl_task
from tgrpo_ros.sim.libero_env import _benchmark, list_tasks
from tgrpo_ros.sim.reward_spec import GRIPPER, HANDLE_SUFFIX, parse_spec, rewards_dir, \
    StagedReward

#: Format version the generator writes.
VERSION = 2
#: Stage geometry [m] (the LIBERO-Object hand-written specs use the same numbers).
REACH_WITHIN = 0.05       # grip site to the object's centre
HANDLE_WITHIN = 0.06      # grip site to a handle or knob
REACH_SCALE = 0.2         # approach progress scale toward the object / handle
LIFT_HEIGHT = 0.05        # lifted above the reset height
CARRY_RADIUS = 0.07       # object's centre over the destination's, horizontally
CARRY_SCALE = 0.15
PLACE_SCALE = 0.1
PUSH_REACH_WITHIN = 0.08  # a push starts from beside the object, not around it
PUSH_DISTANCE = 0.02      # moved at least this far from where it stood
HALF_WAY = 0.5            # joints half way between the two states


class GenerationError(ValueError):
    """A task's goal uses a predicate, or a shape of one, the generator has no rule for."""


@dataclass
class _Step:
    """One goal predicate (or an opening it needs first) and its stages."""

    stages: list[dict]
    final: dict          # the predicate that says this step is done
    is_goal: bool        # False for a precondition the BDDL goal does not state


def _stage(name: str, predicate: dict, progress: dict | None = None) -> dict:
    st = {'name': name, 'predicate': predicate}
    if progress is not None:
        st['progress'] = progress
    return st


def _pick_place(obj: str, dest: str, kind: str, task: BddlTask) -> _Step:
    is_region = dest in task.regions
    if kind == 'in':
        if not is_region:
            raise GenerationError(f'In {obj} {dest}: the generator needs a region as the '
                                  f'container (LIBERO goals name one)')
        final = {'inside': {'object': obj, 'region': dest}}
        last = 'place'
    else:
        final = {'on': {'object': obj, 'support': dest}}
        last = 'place' if is_region else 'stack'
    return _Step([
        _stage(f'reach {obj}', {'near': {'a': GRIPPER, 'b': obj, 'within': REACH_WITHIN}},
               {'approach': {'a': GRIPPER, 'b': obj, 'scale': REACH_SCALE}}),
        _stage(f'grasp {obj}', {'grasped': {'object': obj}}, {'closure': {'object': obj}}),
        _stage(f'lift {obj}', {'lifted': {'object': obj, 'height': LIFT_HEIGHT}},
               {'raise': {'object': obj, 'height': LIFT_HEIGHT}}),
        # over the destination: above its top, or still held while being lowered into it
        # (a basket's or drawer's rim is above the object's bottom then; without the second
        # case the stage would fall back to "lift" on the way down)
        _stage(f'carry {obj} over {dest}',
               {'any': [{'above': {'object': obj, 'over': dest, 'radius': CARRY_RADIUS,
                                   'gap': 0.0}},
                        {'all': [{'grasped': {'object': obj}},
                                 {'near': {'a': obj, 'b': dest, 'axes': 'xy',
                                           'within': CARRY_RADIUS}}]}]},
               {'approach': {'a': obj, 'b': dest, 'axes': 'xy', 'scale': CARRY_SCALE}}),
        _stage(f'{last} {obj} {"in" if kind == "in" else "on"} {dest}', final,
               {'approach': {'a': obj, 'b': dest, 'scale': PLACE_SCALE}}),
    ], final, True)


def _push(obj: str, region: str) -> _Step:
    final = {'on': {'object': obj, 'support': region}}
    return _Step([
        _stage(f'reach {obj}', {'near': {'a': GRIPPER, 'b': obj, 'within': PUSH_REACH_WITHIN}},
               {'approach': {'a': GRIPPER, 'b': obj, 'scale': REACH_SCALE}}),
        _stage(f'push {obj}', {'pushed': {'object': obj, 'distance': PUSH_DISTANCE}},
               {'approach': {'a': GRIPPER, 'b': obj, 'scale': PLACE_SCALE}}),
        _stage(f'{obj} on {region}', final,
               {'approach': {'a': obj, 'b': region, 'axes': 'xy', 'scale': CARRY_SCALE}}),
    ], final, True)


def _articulate(fixture: str, state: str, is_goal: bool) -> _Step:
    """Open/close a drawer or door, or turn a knob on/off: reach it, half way, the state."""
    pred = {'open': 'open', 'closed': 'closed', 'on': 'turned_on', 'off': 'turned_off'}[state]
    verb = {'open': ('pull', 'open'), 'closed': ('push', 'close'), 'on': ('turn', 'turn on'),
            'off': ('turn', 'turn off')}[state]
    handle = fixture + HANDLE_SUFFIX
    final = {pred: {'fixture': fixture}}
    return _Step([
        _stage(f'reach {handle}', {'near': {'a': GRIPPER, 'b': handle, 'within': HANDLE_WITHIN}},
               {'approach': {'a': GRIPPER, 'b': handle, 'scale': REACH_SCALE}}),
        _stage(f'{verb[0]} {fixture} half way',
               {'articulated': {'fixture': fixture, 'toward': state, 'fraction': HALF_WAY}},
               {'articulate': {'fixture': fixture, 'toward': state}}),
        _stage(f'{verb[1]} {fixture}', final,
               {'articulate': {'fixture': fixture, 'toward': state}}),
    ], final, is_goal)


def _container_to_open(region: str, task: BddlTask) -> str | None:
    """Return the drawer region or door fixture to open before putting something in ``region``.

    None if there is none, or if the BDDL starts it open.
    """
    r = task.regions.get(region)
    if r is None:
        return None
    if r.joints and 'open' in task.articulations.get(region, ()):
        target = region
    elif r.parent and 'open' in task.articulations.get(r.parent, ()):
        target = r.parent  # a door (microwave): the region itself does not move
    else:
        return None
    started_open = any(p[0] == 'open' and p[1:] in ((region,), (target,))
                       for p in task.initial)
    return None if started_open else target


def _order_goals(task: BddlTask) -> list[tuple[str, ...]]:
    """Return the BDDL goals in order, each ``Close X`` moved after the last ``In`` into X."""
    goals = [tuple(g) for g in task.goal]

    def owner(region: str) -> set[str]:
        r = task.regions.get(region)
        return {region} | ({r.parent} if r is not None and r.parent else set())

    out = [g for g in goals if g[0] != 'close']
    for g in goals:
        if g[0] != 'close':
            continue
        last = max((i for i, h in enumerate(out) if h[0] == 'in' and g[1] in owner(h[2])),
                   default=None)
        if last is None:
            out.insert(min(goals.index(g), len(out)), g)  # keep its place among the others
        else:
            out.insert(last + 1, g)
    return out


def steps_for_task(task: BddlTask) -> list[_Step]:
    """Expand a task's goal into steps of stages (see the module docstring)."""
    push = task.language.strip().lower().startswith('push')
    steps: list[_Step] = []
    for g in _order_goals(task):
        kind = g[0].lower()
        if kind in ('in', 'on') and len(g) == 3:
            obj, dest = g[1], g[2]
            if obj not in task.objects:
                raise GenerationError(f'{kind} {obj} {dest}: {obj!r} is not a movable object')
            if kind == 'on' and push and dest in task.regions:
                steps.append(_push(obj, dest))
                continue
            if kind == 'in':
                door = _container_to_open(dest, task)
                if door is not None:
                    steps.append(_articulate(door, 'open', is_goal=False))
            steps.append(_pick_place(obj, dest, kind, task))
        elif kind in ('open', 'close', 'turnon', 'turnoff') and len(g) == 2:
            state = {'open': 'open', 'close': 'closed', 'turnon': 'on', 'turnoff': 'off'}[kind]
            if state not in task.articulations.get(g[1], ()):
                raise GenerationError(f'{kind} {g[1]}: {g[1]!r} has no {state!r} state (task '
                                      f'fixtures: {task.articulations})')
            steps.append(_articulate(g[1], state, is_goal=True))
        else:
            raise GenerationError(f'no rule for the goal predicate {g!r}')
    return steps


def spec_for_task(suite: str, task_name: str, task: BddlTask) -> dict[str, Any]:
    """Return the generated spec (a mapping in the file format) of one task."""
    steps = steps_for_task(task)
    stages: list[dict] = []
    done_goals: list[dict] = []     # finals of the earlier goals (must still hold)
    pending_pre: list[dict] = []    # finals of openings since the last goal
    for step in steps:
        for i, st in enumerate(step.stages):
            last = i == len(step.stages) - 1
            need = done_goals + ([] if (last and step.is_goal) else pending_pre)
            if need:
                st = dict(st, predicate={'all': need + [st['predicate']]})
            stages.append(st)
        if step.is_goal:
            done_goals.append(step.final)
            pending_pre = []
        else:
            pending_pre.append(step.final)
    return {
        'version': VERSION,
        'task': f'{suite}/{task_name}',
        'description': task.language[:1].upper() + task.language[1:] + '.',
        'generated': (f'tgrpo-ros reward-spec generate --suite {suite}, from '
                      f'{Path(task.bddl_file).name} (goal: '
                      + ' '.join('(' + ' '.join(g) + ')' for g in task.goal) + ')'),
        'success_bonus': 1.0,
        'stages': stages,
    }


def render_spec(spec: dict[str, Any]) -> str:
    """Return a generated spec as YAML text, one stage per block, terms in flow style."""
    head = {k: v for k, v in spec.items() if k != 'stages'}
    lines = ["# Generated by `tgrpo-ros reward-spec generate` from the task's BDDL goal.",
             '# Format: ../FORMAT.md. To hand-tune it, delete the `generated:` line (then',
             '# generation keeps the file).',
             yaml.safe_dump(head, sort_keys=False, width=100).rstrip(), 'stages:']
    for st in spec['stages']:
        lines.append(f'  - name: {yaml.safe_dump(st["name"], width=1000).strip()}'
                     .replace('\n...', ''))
        for key in ('predicate', 'progress'):
            if key in st:
                text = yaml.safe_dump(st[key], default_flow_style=True, width=1000,
                                      sort_keys=False).strip()
                lines.append(f'    {key}: {text}')
    return '\n'.join(lines) + '\n'


@dataclass
class SuiteReport:
    """What ``generate_suite`` did, task by task."""

    suite: str
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    hand_written: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    stages: dict[str, int] = field(default_factory=dict)


def bddl_file_of(suite: str, task_name: str) -> str:
    bench = _benchmark(suite)
    return bench.get_task_bddl_file_path(list_tasks(suite).index(task_name))


def is_hand_written(path: Path) -> bool:
    """Return whether a spec file lacks the ``generated`` field (hand-written: keep it)."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return True  # unreadable: leave it to its author rather than overwrite it
    return not (isinstance(raw, dict) and raw.get('generated'))


def generate_suite(suite: str, out_dir: str | Path | None = None, tasks: list[str] | None = None,
                   dry_run: bool = False) -> SuiteReport:
    """Write a generated spec for every task of ``suite`` (or of ``tasks``).

    Into ``out_dir`` (default ``config/rewards/<suite>``), keeping hand-written files;
    ``dry_run`` writes nothing and reports what would change.
    """
    out = Path(out_dir) if out_dir is not None else rewards_dir() / suite
    report = SuiteReport(suite)
    for name in tasks or list_tasks(suite):
        path = out / f'{name}.yaml'
        if path.exists() and is_hand_written(path):
            report.hand_written.append(name)
            continue
        try:
            task = read_bddl_task(bddl_file_of(suite, name))
            spec = spec_for_task(suite, name, task)
            # the generator's output must pass the same checks as any spec, against the task
            StagedReward(parse_spec(spec, source=str(path)), task.entities, list(task.regions),
                         task.articulations)
        except (GenerationError, ValueError) as e:
            report.failed[name] = str(e)
            continue
        text = render_spec(spec)
        report.stages[name] = len(spec['stages'])
        if path.exists() and path.read_text() == text:
            report.unchanged.append(name)
            continue
        if not dry_run:
            out.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix('.yaml.tmp')
            tmp.write_text(text)
            tmp.replace(path)
        report.written.append(name)
    return report
