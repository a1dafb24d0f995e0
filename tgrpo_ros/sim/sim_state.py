# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The simulator state that rewards and the scripted expert read: a small, plain snapshot.

Rewards and the expert never touch MuJoCo or robosuite; they read a ``SimState`` taken by
``LiberoEnv.sim_state()`` after each step. That keeps them pure functions of data, testable
without a simulator, and portable to another simulator that can fill the same fields.

Frames and units: every position is in the WORLD frame of the MuJoCo scene, in metres;
quaternions are (x, y, z, w). (The robot state in ``Observation.state`` is in the robot base
frame instead; see ``libero_env.py``.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Entity names, besides the task's objects, that may appear in ``SimState.contacts``.
LEFT_FINGER = 'left_finger'
RIGHT_FINGER = 'right_finger'
ROBOT = 'robot'
FLOOR = 'floor'
GRIPPER = 'gripper'


def quat_to_mat(q_xyzw: np.ndarray) -> np.ndarray:
    """Return the (3, 3) rotation matrix of an (x, y, z, w) quaternion."""
    x, y, z, w = np.asarray(q_xyzw, dtype=np.float64) / np.linalg.norm(q_xyzw)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


@dataclass(frozen=True)
class ObjectPose:
    """Pose and extent of one movable object (BDDL name, e.g. ``ketchup_1``).

    pos: (3,) position of the object's root body [m], world frame.
    quat: (4,) orientation (x, y, z, w).
    bbox_min, bbox_max: (3,) world-aligned bounding box of its collision geometry [m].
    half_size: (3,) half extents of that geometry's box in the object's own frame [m]
        (tighter than the world box for a rotated object; used to choose a grasp).
    """

    pos: np.ndarray
    quat: np.ndarray
    bbox_min: np.ndarray
    bbox_max: np.ndarray
    half_size: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @property
    def center(self) -> np.ndarray:
        """(3,) centre of the bounding box [m]."""
        return 0.5 * (self.bbox_min + self.bbox_max)

    def rotation(self) -> np.ndarray:
        """(3, 3) rotation matrix of ``quat`` (columns: the object's axes in the world)."""
        return quat_to_mat(self.quat)

    def width_along(self, direction: np.ndarray) -> float:
        """Full extent [m] of the object's box along a world ``direction`` (unit vector)."""
        return float(2 * np.abs(direction @ self.rotation()) @ self.half_size)


@dataclass(frozen=True)
class Region:
    """A box-shaped goal region (LIBERO site, e.g. ``basket_1_contain_region``).

    center: (3,) [m]; half_size: (3,) world-aligned half extents [m] (``|rotation @ size|``,
    LIBERO's ``In`` box); parent: the object or fixture the region belongs to ('' for a region
    of the table or floor).
    size: (3,) half extents in the region's own frame [m] (LIBERO's ``On`` test uses them);
        ``None`` = ``half_size``.
    rotation: (3, 3) the region site's orientation matrix; ``None`` = identity.
    joints: joints that move the region with a part of its fixture (a drawer's inside moves
        with the drawer); empty for a fixed region.
    """

    center: np.ndarray
    half_size: np.ndarray
    parent: str
    size: np.ndarray | None = None
    rotation: np.ndarray | None = None
    joints: tuple[str, ...] = ()

    def supports(self, point: np.ndarray) -> bool:
        """Return whether ``point`` (an object's root) rests on this region.

        LIBERO's ``On`` test for a region: within its footprint, from 5 mm below its top to
        10 cm above.
        """
        size = self.half_size if self.size is None else self.size
        rot = np.eye(3) if self.rotation is None else self.rotation
        # LIBERO multiplies by the site matrix (not its transpose); kept so both agree.
        d = rot @ (np.asarray(point, dtype=np.float64) - self.center)
        return bool(size[2] - 0.005 < d[2] < size[2] + 0.10
                    and np.all(np.abs(d[:2]) < size[:2]))


#: Articulation states, each with its opposite (the state it is measured from).
OPPOSITE_STATE = {'open': 'closed', 'closed': 'open', 'on': 'off', 'off': 'on'}
#: States that hold when ANY joint is in them (LIBERO's is_open / turn_on); the others need ALL.
ANY_JOINT_STATES = ('open', 'on')


@dataclass(frozen=True)
class Articulation:
    """Joints of a fixture that open and close or turn on and off.

    A whole fixture (microwave door, stove knob, every drawer of a cabinet), or one part of it
    (a drawer, keyed by its region).

    joints: MuJoCo joint names; qpos: (n,) their positions [m for a slide, rad for a hinge].
    states: LIBERO's own checks that apply, by state name: 'open' and 'closed' (drawers,
        doors), or 'on' and 'off' (stove knobs). 'open'/'on' hold when any joint is in that
        state, 'closed'/'off' when all are (LIBERO's rule).
    thresholds: joint position at which each state begins (from the fixture's articulation
        ranges), used for progress between the two states.
    handle: (3,) world position [m] of the part the gripper moves: the handle's geometry if
        the part has one, else the moving part's box centre (a door, a knob).
    """

    joints: tuple[str, ...]
    qpos: np.ndarray
    states: dict[str, bool]
    thresholds: dict[str, float]
    handle: np.ndarray

    def fraction(self, toward: str) -> float:
        """Return how far [0, 1] the joints are from the opposite state toward ``toward``.

        0 at (or beyond) where the opposite state begins, 1 at (or beyond) where ``toward``
        begins. The best joint counts for 'open'/'on', the worst for 'closed'/'off' (as in
        LIBERO's checks).
        """
        start = self.thresholds[OPPOSITE_STATE[toward]]
        end = self.thresholds[toward]
        span = end - start
        if span == 0 or len(self.qpos) == 0:
            return float(self.states.get(toward, False))
        f = np.clip((np.asarray(self.qpos, dtype=np.float64) - start) / span, 0.0, 1.0)
        return float(f.max() if toward in ANY_JOINT_STATES else f.min())


@dataclass(frozen=True)
class SimState:
    """Snapshot of what rewards and the expert may read, taken after a control step.

    objects: BDDL object name -> ``ObjectPose`` (movable objects and fixtures of the task).
    regions: LIBERO site name -> ``Region`` (the task's goal regions).
    eef_pos: (3,) grip site position (between the fingertips) [m].
    eef_quat: (4,) grip site orientation (x, y, z, w).
    gripper_qpos: (2,) finger joint positions [m]; the left is positive, the right negative.
    gripper_opening: distance between the fingers [m] (about 0.08 open, 0 closed empty).
    contacts: unordered pairs of entity names currently touching: object names and
        ``left_finger``, ``right_finger``, ``robot`` (other robot links), ``floor``.
    success: LIBERO's own success check for the task.
    goal: the BDDL goal as parsed by LIBERO, e.g. ``(('in', 'ketchup_1',
        'basket_1_contain_region'),)``.
    articulations: fixture name, or name of a region that moves with a part (a drawer's
        region), -> ``Articulation``; only fixtures that open/close or turn on/off.
    """

    objects: dict[str, ObjectPose]
    regions: dict[str, Region]
    eef_pos: np.ndarray
    eef_quat: np.ndarray
    gripper_qpos: np.ndarray
    gripper_opening: float
    contacts: frozenset[frozenset[str]] = field(default_factory=frozenset)
    success: bool = False
    goal: tuple[tuple[str, ...], ...] = ()
    articulations: dict[str, Articulation] = field(default_factory=dict)

    def touching(self, a: str, b: str) -> bool:
        """Return whether entities ``a`` and ``b`` are in contact."""
        return frozenset((a, b)) in self.contacts

    def grasped(self, obj: str) -> bool:
        """Return whether both fingers touch ``obj`` (a two-sided grasp)."""
        return self.touching(LEFT_FINGER, obj) and self.touching(RIGHT_FINGER, obj)

    def in_region(self, obj: str, region: str) -> bool:
        """Return whether ``obj``'s root position is inside ``region``.

        Same test as LIBERO's ``In`` predicate (a box, 1 cm of slack below).
        """
        r = self.regions[region]
        p = self.objects[obj].pos
        lb = r.center - r.half_size
        lb[2] -= 0.01
        ub = r.center + r.half_size
        return bool(np.all(p > lb) and np.all(p < ub))

    def on(self, obj: str, support: str, radius: float = 0.03) -> bool:
        """Return whether ``obj`` rests on ``support`` (LIBERO's ``On``).

        support a region: ``obj``'s root is on the region (``Region.supports``) and, when the
        region belongs to an object or fixture, ``obj`` touches that owner. support an object
        (stacking): they touch, ``obj``'s root is not below ``support``'s, and the roots are
        within ``radius`` [m] horizontally (LIBERO: 3 cm).
        """
        p = self.objects[obj].pos
        if support in self.regions:
            r = self.regions[support]
            return r.supports(p) and (not r.parent or self.touching(obj, r.parent))
        q = self.objects[support].pos
        return bool(q[2] <= p[2] and self.touching(obj, support)
                    and np.linalg.norm(p[:2] - q[:2]) < radius)
