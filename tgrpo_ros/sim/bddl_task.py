# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""What a LIBERO task's BDDL file says, read without building the simulator.

``read_bddl_task`` returns the task's objects, fixtures, regions (with the object or fixture
each belongs to, and the joints that move it: a drawer's inside moves with the drawer), the
fixtures and drawer regions that open/close or turn on/off, the initial and goal predicates and
the instruction. Reward specs are generated from it (``reward_generation.py``) and checked
against it (``reward_spec.validate_spec_for_bddl``). Reading one file takes milliseconds once
LIBERO is imported (it parses the BDDL and the fixtures' MJCF, as LIBERO's own scene loader
does, without compiling a MuJoCo model).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tgrpo_ros.sim.libero_config import ensure_libero_config


def articulation_thresholds(props: dict | None) -> dict[str, float]:
    """Return where 'open'/'closed' or 'on'/'off' begin, from a fixture's articulation ranges.

    Each is the end of the state's range nearest the opposite state's range (LIBERO's
    is_open/is_close/turn_on/turn_off compare with exactly those ends).
    """
    out: dict[str, float] = {}
    props = props or {}
    for a, b, ka, kb in (('open', 'closed', 'default_open_ranges', 'default_close_ranges'),
                         ('on', 'off', 'default_turnon_ranges', 'default_turnoff_ranges')):
        ra, rb = props.get(ka) or [], props.get(kb) or []
        if len(ra) == 2 and len(rb) == 2:
            up = min(ra) > max(rb)  # the state 'a' lies at larger joint positions
            out[a] = float(min(ra) if up else max(ra))
            out[b] = float(max(rb) if up else min(rb))
    return out


@dataclass(frozen=True)
class BddlRegion:
    """A region of the task: its owner ('' for the table/floor) and the joints moving it."""

    name: str
    parent: str
    joints: tuple[str, ...] = ()


@dataclass(frozen=True)
class BddlTask:
    """A LIBERO task as its BDDL file states it (names as in the simulator)."""

    bddl_file: str
    language: str
    objects: tuple[str, ...]          # movable objects
    fixtures: tuple[str, ...]         # fixtures (the table itself excluded)
    regions: dict[str, BddlRegion]
    # fixture or drawer region -> its states ('open', 'closed') or ('on', 'off')
    articulations: dict[str, tuple[str, ...]]
    initial: tuple[tuple[str, ...], ...]
    goal: tuple[tuple[str, ...], ...]
    categories: dict[str, str] = field(default_factory=dict)  # name -> LIBERO object class

    @property
    def entities(self) -> list[str]:
        return list(self.objects) + list(self.fixtures)


def read_bddl_task(bddl_file: str) -> BddlTask:
    """Read a task's BDDL file (and its fixtures' MJCF) into a ``BddlTask``."""
    ensure_libero_config()
    import libero.libero.envs.bddl_utils as bddl_utils  # heavy: imports robosuite and MuJoCo
    from libero.libero.envs.objects import OBJECTS_DICT  # heavy, as above

    p = bddl_utils.robosuite_parse_problem(bddl_file)
    models, categories = {}, {}
    movable, fixtures = [], []
    for kind, table in (('fixture', p['fixtures']), ('object', p['objects'])):
        for cat, names in table.items():
            cls = OBJECTS_DICT.get(cat.lower())
            if cls is None:
                continue  # the table or floor: part of the arena, not an object
            for name in names:
                # Fixtures are built without a free joint, as LIBERO builds them.
                models[name] = cls(name=name, joints=None) if kind == 'fixture' else cls(
                    name=name)
                categories[name] = cat
                (fixtures if kind == 'fixture' else movable).append(name)
    # Regions: owner and moving joints, found as LIBERO's scene loader finds a site's joints
    # (the joints of the innermost body that holds the site).
    site_joints: dict[str, tuple[str, tuple[str, ...]]] = {}
    for name, model in models.items():
        wb = getattr(model, 'worldbody', None)
        root = wb.find('body') if wb is not None else None
        if root is None:
            continue
        for part in root.findall('.//body'):
            sites = part.findall('.//site')
            if not sites:
                break  # LIBERO stops at the first body without sites, too
            joints = tuple(j.get('name') for j in part.findall('./joint'))
            for site in sites:
                # an inner body's joints replace its outer body's, as in LIBERO's loader
                site_joints[site.get('name')] = (name, joints)
    regions = {}
    for rname, r in p['regions'].items():
        owner, joints = site_joints.get(rname, ('', ()))
        if not owner and r.get('target') in models:
            owner = r['target']
        regions[rname] = BddlRegion(rname, owner, tuple(joints))
    arts: dict[str, tuple[str, ...]] = {}
    for name, model in models.items():
        th = articulation_thresholds(model.object_properties.get('articulation'))
        moving = [j for j in (getattr(model, 'joints', None) or []) if j]
        if th and moving and name in fixtures + movable:
            arts[name] = tuple(th)
    for rname, r in regions.items():
        if r.joints and r.parent in arts:
            arts[rname] = arts[r.parent]
    language = p.get('language_instruction', '')
    if isinstance(language, (list, tuple)):
        language = ' '.join(language)
    return BddlTask(bddl_file=str(bddl_file), language=str(language),
                    objects=tuple(movable), fixtures=tuple(fixtures), regions=regions,
                    articulations=arts,
                    initial=tuple(tuple(x) for x in p['initial_state']),
                    goal=tuple(tuple(x) for x in p['goal_state']), categories=categories)
