# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The reward's ``SimState`` rebuilt from what a robot's perception publishes.

On a real arm nobody reads MuJoCo: the dense stage reward (``reward_spec.StagedReward``) must
come from the poses a perception system publishes (the end-effector and each object as
``geometry_msgs/PoseStamped``), the finger joint states and the task's object geometry. This
module builds the same ``SimState`` from those inputs, ROS-free, so the reward code is one:

- ``TaskGeometry``: per object the half extents and centre offset of its collision box in the
  object's own frame, per goal region its box relative to the body that carries it. A user
  writes it for a real scene (measured once); ``TaskGeometry.from_sim_state`` takes it from a
  simulator snapshot, and ``to_dict``/``from_dict`` keep it as YAML next to the reward spec.
- ``PerceivedStateBuilder``: one ``SimState`` per control step from (eef pose, object poses,
  finger positions). Contacts are not observable, so a grasp is inferred: the fingers have
  closed on something (opening between an empty-closed and an open width, and no longer
  closing) with the object between them, and the object follows the hand (its position
  relative to the grip site is unchanged since the previous step). ``success`` is LIBERO's goal
  evaluated on the poses for the predicates geometry decides (``In``, ``On``); for the others
  an operator's label or another node gives it.

Frames and units as in ``sim_state``: one world frame, metres, quaternions (x, y, z, w).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np

from tgrpo_ros.sim.sim_state import (LEFT_FINGER, ObjectPose, quat_to_mat, Region,
                                     RIGHT_FINGER, SimState)

#: Region parent meaning "fixed in the world" (a table region, a fixture that never moves).
WORLD = 'world'


def _vec(raw: Any, n: int, where: str) -> np.ndarray:
    try:
        v = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f'{where}: expected {n} numbers, got {raw!r}') from None
    if v.shape != (n,) or not np.all(np.isfinite(v)):
        raise ValueError(f'{where}: expected {n} finite numbers, got {raw!r}')
    return v


@dataclass(frozen=True)
class ObjectGeometry:
    """One object's collision box in its own frame.

    half_size: (3,) half extents [m]; offset: (3,) box centre relative to the object's pose [m].
    """

    half_size: np.ndarray
    offset: np.ndarray


@dataclass(frozen=True)
class RegionGeometry:
    """A goal region's box, fixed to the body ``parent`` (an object name or ``WORLD``).

    offset: (3,) centre in the parent's frame [m]; axes: (3, 3) the region's axes in the
    parent's frame; size: (3,) half extents along those axes [m].
    """

    parent: str
    offset: np.ndarray
    axes: np.ndarray
    size: np.ndarray


@dataclass(frozen=True)
class TaskGeometry:
    """What a real scene must state once so poses become a reward state."""

    objects: dict[str, ObjectGeometry]
    regions: dict[str, RegionGeometry]

    @classmethod
    def from_sim_state(cls, state: SimState, base_pos=None, base_rot=None) -> 'TaskGeometry':
        """Read the geometry off a simulator snapshot (objects at rest, e.g. after reset).

        base_pos (3,), base_rot (3, 3): the frame the poses will be published in (a robot's
        base frame), in the snapshot's world frame; None = the world frame. Only regions fixed
        in the world depend on it: the others ride on their object.
        """
        t = np.zeros(3) if base_pos is None else np.asarray(base_pos, dtype=np.float64)
        rb = np.eye(3) if base_rot is None else np.asarray(base_rot, dtype=np.float64)
        objects = {}
        for name, o in state.objects.items():
            rot = o.rotation()
            objects[name] = ObjectGeometry(half_size=np.asarray(o.half_size, float).copy(),
                                           offset=rot.T @ (o.center - o.pos))
        regions = {}
        for name, r in state.regions.items():
            parent = r.parent if r.parent in state.objects else WORLD
            if parent == WORLD:
                p_pos, p_rot = t, rb  # the frame the poses are published in
            else:
                p_pos, p_rot = state.objects[parent].pos, state.objects[parent].rotation()
            # The snapshot keeps regions world-aligned; keep that box in the parent's frame.
            regions[name] = RegionGeometry(parent=parent, offset=p_rot.T @ (r.center - p_pos),
                                           axes=p_rot.T, size=np.asarray(r.half_size, float))
        return cls(objects=objects, regions=regions)

    def to_dict(self) -> dict:
        return {
            'objects': {k: {'half_size': v.half_size.round(5).tolist(),
                            'offset': v.offset.round(5).tolist()}
                        for k, v in self.objects.items()},
            'regions': {k: {'parent': v.parent, 'offset': v.offset.round(5).tolist(),
                            'axes': v.axes.round(6).tolist(), 'size': v.size.round(5).tolist()}
                        for k, v in self.regions.items()},
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: str = '<dict>') -> 'TaskGeometry':
        if not isinstance(raw, Mapping) or not isinstance(raw.get('objects'), Mapping):
            raise ValueError(f'{source}: a task geometry needs a mapping "objects"')
        objects = {}
        for name, o in raw['objects'].items():
            where = f'{source}: objects.{name}'
            if not isinstance(o, Mapping):
                raise ValueError(f'{where}: expected a mapping with half_size and offset')
            half = _vec(o.get('half_size'), 3, f'{where}.half_size')
            if np.any(half < 0):
                raise ValueError(f'{where}.half_size: extents must be >= 0, got {half.tolist()}')
            objects[str(name)] = ObjectGeometry(half_size=half,
                                                offset=_vec(o.get('offset', [0, 0, 0]), 3,
                                                            f'{where}.offset'))
        regions = {}
        for name, r in (raw.get('regions') or {}).items():
            where = f'{source}: regions.{name}'
            if not isinstance(r, Mapping):
                raise ValueError(f'{where}: expected a mapping with parent, offset, axes, size')
            parent = str(r.get('parent', WORLD))
            if parent != WORLD and parent not in objects:
                raise ValueError(f'{where}.parent: {parent!r} is neither "world" nor an object '
                                 f'of this geometry ({", ".join(sorted(objects))})')
            axes = np.asarray(r.get('axes', np.eye(3).tolist()), dtype=np.float64)
            if axes.shape != (3, 3) or not np.all(np.isfinite(axes)):
                raise ValueError(f'{where}.axes: expected a 3x3 matrix')
            regions[str(name)] = RegionGeometry(parent=parent,
                                                offset=_vec(r.get('offset'), 3, f'{where}.offset'),
                                                axes=axes, size=_vec(r.get('size'), 3,
                                                                     f'{where}.size'))
        return cls(objects=objects, regions=regions)


@dataclass(frozen=True)
class GraspInference:
    """Thresholds of the grasp inferred from the fingers and the object following the hand.

    open_width: opening [m] below which the fingers count as closing (Panda: 0.08 open).
    empty_width: opening [m] at or below which they closed on nothing.
    settle: the opening may shrink at most this much [m] per step once closed on something.
    reach: how far [m] the object's box may lie from the grip site, beyond its half extents.
    follow: how far [m] the object may move relative to the grip site in one step.
    """

    open_width: float = 0.075
    empty_width: float = 0.004
    settle: float = 0.0015
    reach: float = 0.02
    follow: float = 0.01


class PerceivedStateBuilder:
    """Turns each step's perceived poses into the ``SimState`` the reward reads.

    Call ``reset`` at a trial's start, then ``build`` once per control step, in order: the
    grasp test compares with the previous step.
    """

    def __init__(self, geometry: TaskGeometry, goal: tuple[tuple[str, ...], ...] = (),
                 grasp: GraspInference = GraspInference()):
        self.geometry = geometry
        self.goal = tuple(tuple(g) for g in goal)
        self.grasp = grasp
        self.reset()

    def reset(self) -> None:
        self._prev_opening: float | None = None
        self._prev_rel: dict[str, np.ndarray] = {}
        self._held: set[str] = set()

    def build(self, eef_pos, eef_quat, object_poses: Mapping[str, tuple[Any, Any]],
              finger_qpos) -> SimState:
        """One snapshot.

        eef_pos (3,), eef_quat (4,) (x, y, z, w): the grip site (between the fingertips).
        object_poses: object name -> (pos (3,), quat (4,)), every object of the geometry.
        finger_qpos: (2,) finger joint positions [m], left positive, right negative.
        """
        eef_pos = _vec(eef_pos, 3, 'eef_pos')
        eef_quat = _vec(eef_quat, 4, 'eef_quat')
        q = _vec(finger_qpos, 2, 'finger_qpos')
        missing = set(self.geometry.objects) - set(object_poses)
        if missing:
            raise ValueError(f'no pose for object(s) {", ".join(sorted(missing))}')
        objects = {}
        for name, geo in self.geometry.objects.items():
            pos, quat = object_poses[name]
            pos, quat = _vec(pos, 3, f'{name}.pos'), _vec(quat, 4, f'{name}.quat')
            rot = quat_to_mat(quat)
            center = pos + rot @ geo.offset
            extent = np.abs(rot) @ geo.half_size  # world-aligned half extents of the box
            objects[name] = ObjectPose(pos=pos, quat=quat, bbox_min=center - extent,
                                       bbox_max=center + extent, half_size=geo.half_size)
        regions = {}
        for name, geo in self.geometry.regions.items():
            if geo.parent == 'world':
                p_pos, p_rot = np.zeros(3), np.eye(3)
            else:
                p_pos, p_rot = objects[geo.parent].pos, objects[geo.parent].rotation()
            axes = p_rot @ geo.axes  # columns: the region's axes in the publishing frame
            regions[name] = Region(center=p_pos + p_rot @ geo.offset,
                                   half_size=np.abs(axes) @ geo.size, parent=geo.parent)
        opening = float(q[0] - q[1])
        contacts = frozenset(frozenset((finger, name)) for name in self._grasped(
            objects, eef_pos, opening) for finger in (LEFT_FINGER, RIGHT_FINGER))
        state = SimState(objects=objects, regions=regions, eef_pos=eef_pos, eef_quat=eef_quat,
                         gripper_qpos=q, gripper_opening=opening, contacts=contacts,
                         goal=self.goal)
        return replace(state, success=goal_met(state))

    def _grasped(self, objects: dict[str, ObjectPose], eef: np.ndarray,
                 opening: float) -> set[str]:
        g = self.grasp
        closing = g.empty_width < opening < g.open_width
        settled = (self._prev_opening is not None
                   and self._prev_opening - opening <= g.settle)
        held = set()
        rel_now = {}
        for name, o in objects.items():
            rel = o.center - eef
            rel_now[name] = rel
            # Between the fingers: the grip site lies within the object's box, with margin.
            between = bool(np.all(np.abs(rel) <= (o.bbox_max - o.bbox_min) / 2 + g.reach))
            prev = self._prev_rel.get(name)
            follows = prev is not None and float(np.linalg.norm(rel - prev)) <= g.follow
            # Once held, it stays held while the fingers stay closed on it and it follows.
            if closing and between and follows and (settled or name in self._held):
                held.add(name)
        self._prev_opening = opening
        self._prev_rel = rel_now
        self._held = held
        return held


def goal_met(state: SimState) -> bool:
    """LIBERO's goal on poses, for goals made of ``In`` and ``On`` only (else False).

    ``In``: the object's root inside the region (``SimState.in_region``). ``On`` an object: its
    box above the other's top within 2 cm and over its footprint; ``On`` a region: inside it.
    """
    if not state.goal:
        return False
    for pred in state.goal:
        kind, *args = pred
        if kind.lower() not in ('in', 'on') or len(args) != 2:
            return False
        obj, target = args
        if obj not in state.objects:
            return False
        if target in state.regions:
            if not state.in_region(obj, target):
                return False
        elif target in state.objects:
            o, t = state.objects[obj], state.objects[target]
            inside_xy = bool(np.all(o.center[:2] > t.bbox_min[:2])
                             and np.all(o.center[:2] < t.bbox_max[:2]))
            if not (inside_xy and abs(o.bbox_min[2] - t.bbox_max[2]) < 0.02):
                return False
        else:
            return False
    return True
