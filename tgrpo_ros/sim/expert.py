# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A scripted expert for the LIBERO suites (Spatial, Object, Goal, 10), driven by the BDDL goal.

It serves two purposes: demonstrations (with optional action noise) and a check that the dense
rewards rise along a competent trajectory. It reads the task's goal (LIBERO's parse of the BDDL
``(:goal (And ...))``) and turns every predicate into a skill, so one expert covers a suite:

* ``(On A B)`` / ``(In A B)``: pick ``A`` and place it on/in ``B`` (an object such as a plate,
  bowl or basket, or a region such as a stove's cook region, a cabinet's top or a drawer);
  a flat object too wide to grasp (a plate) is pushed onto a table region instead. A drawer
  region that is closed is opened first.
* ``(Open R)`` / ``(Close R)``: pull a drawer out by its handle / push it shut; for a hinged
  door (microwave), swing it by pushing the door's free edge.
* ``(TurnOn S)`` / ``(TurnOff S)``: push the stove knob's tip about its hinge.

Order of a conjunction (LIBERO-10's two-step tasks): opening and turning first, then placing
in the goal's order, closing last (``put the bowl in the drawer and close it`` needs the bowl in
before the drawer shuts). A skill ends when LIBERO's own predicate holds with the hand clear;
a failed placement (the object slipped or missed) starts that skill again (``max_retries``).

Pick-and-place phases (targets for the grip site, followed by a proportional controller):
``approach`` above the grasp point (turning the hand about the vertical so the fingers close
across a graspable width, or across a bowl's or mug's rim, missing neighbours) -> ``descend``
-> ``close`` -> ``lift`` above everything on the way -> ``carry`` the object's root over the
target -> ``lower`` until it is just above the support -> ``release`` -> ``retreat`` upward.

What it reads: the ``SimState`` snapshot (object poses and boxes, regions, grip site, contacts)
and, for fixtures (drawer, door and knob joints, handle geometry) and per-predicate checks, the
``LiberoEnv`` passed to ``act(state, env)``. Without ``env`` it handles ``In``/``On`` goals
between movable objects and judges completion by the snapshot alone (the original
LIBERO-Object use).

Actions are in the environment's space (``tgrpo_ros.contract``): OSC_POSE deltas in [-1, 1] where 1
commands 5 cm (position) or 0.5 rad (rotation) per control step, gripper -1 open / +1 close
(robosuite integrates the gripper command by 0.25 of its range per step, so a few steps of
closing from open give a partly open hand).
"""

from __future__ import annotations

import numpy as np

from tgrpo_ros.sim.sim_state import quat_to_mat as _quat_to_mat, SimState

POS_GAIN = 12.0  # action per metre of error: full speed beyond ~8 cm
ROT_GAIN = 1.5  # action per radian of orientation error
MAX_GRASP_WIDTH = 0.075  # [m] the Panda hand opens to ~8 cm
# Footprint of the Panda hand around the grip site, in the finger-axis frame [m]: it is long
# along the finger axis and narrow across it; neighbours inside it block the descent.
HAND_HALF_LENGTH, HAND_HALF_WIDTH = 0.10, 0.035
HAND_BOTTOM = 0.03  # [m] the hand's underside above the grip site
OPEN, CLOSE, HOLD = -1.0, 1.0, 0.0
PHASES = ('approach', 'descend', 'close', 'lift', 'carry', 'lower', 'release', 'retreat')
CLEARANCE = 0.05  # [m] carried objects pass this far above whatever is on the way
TABLE_TOP_MARGIN = 0.03  # [m] objects lower than this over their support are "flat"
DRAWER_PUSH_TILT = 0.7  # [rad] the hand shutting a drawer leans back, fingertips first
PUSH_TILT = 0.7  # [rad] the pushing hand's lean forward over the object
# Into a roofed region (a microwave): the object's root this far inside the opening [m]; the
# hand's lean out of it [rad]; where the object is lowered before going in [m]
ROOF_DEPTH = 0.03
ROOF_TILT = 1.0
ROOF_FRONT = 0.12
# How far below its top a rim is pinched [m]. Under a roof the hand leans (ROOF_TILT) and its
# lower edge comes down beside the grip: 1 cm higher, it no longer presses on the mug's handle
# and tips it (LIBERO-10 task 9 inits 1 and 6: the mug tilted 35-40 degrees as the hand closed).
RIM_DEPTH = 0.025
ROOF_RIM_DEPTH = 0.015
# In front of a roofed opening, the object goes down this far across it, away from the door's
# hinge [m] (see PickPlace._front_shift)
ROOF_DOOR_SHIFT = 0.03


def _rotation_error(r_target: np.ndarray, r_now: np.ndarray) -> np.ndarray:
    """Axis-angle vector (world frame) [rad] rotating ``r_now`` onto ``r_target``."""
    r = r_target @ r_now.T
    angle = np.arccos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0))
    if angle < 1e-6:
        return np.zeros(3)
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    n = np.linalg.norm(axis)
    if n < 1e-9:  # 180 degrees: no unique axis; any perpendicular one will do
        return np.array([angle, 0.0, 0.0])
    return axis / n * angle


def _yaw_rotation(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation matrix of ``angle`` [rad] about the unit ``axis`` (Rodrigues)."""
    k = _unit(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else v * 0.0


def goal_objects(state: SimState) -> tuple[str, str]:
    """Return ``(object, container)`` of an ``in`` goal, e.g. ``('ketchup_1', 'basket_1')``."""
    for g in state.goal:
        if len(g) == 3 and g[0].lower() == 'in' and g[2] in state.regions:
            return g[1], state.regions[g[2]].parent
    raise ValueError(f'the expert handles goals (in OBJECT REGION); this task has {state.goal}')


class _Box:
    """An axis-aligned obstacle box (a drawer's moving part) with ``ObjectState``'s queries."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray):
        self.bbox_min, self.bbox_max = lo, hi
        self.center = 0.5 * (lo + hi)

    def width_along(self, direction: np.ndarray) -> float:
        return float(np.abs(direction) @ (self.bbox_max - self.bbox_min))


class Fixtures:
    """What the expert reads from a live ``LiberoEnv`` beyond the snapshot.

    Joint positions and axes of drawers, doors and knobs, the geometry of their moving parts,
    and LIBERO's own truth value for one goal predicate.
    """

    def __init__(self, env):
        self.env = env
        self.e = env._env.env
        self.model, self.data = self.e.sim.model, self.e.sim.data

    def holds(self, predicate: tuple[str, ...]) -> bool:
        """LIBERO's truth value of one goal predicate, e.g. ``('open', 'x_region')``."""
        return bool(self.e._eval_predicate(list(predicate)))

    def joints_of(self, name: str) -> list[str]:
        """Hinge/slide joints behind a region (drawer) or an articulated object (door, knob)."""
        site = self.e.object_sites_dict.get(name)
        if site is not None and getattr(site, 'joints', None):
            return list(site.joints)
        obj = self.e.get_object(name)
        m = self.model
        out = []
        for j in (getattr(obj, 'joints', None) or []):  # a table region's parent has none
            jid = m.joint_name2id(j)
            if m.jnt_type[jid] in (2, 3):  # slide, hinge
                out.append(j)
        return out

    def qpos(self, joint: str) -> float:
        return float(self.data.qpos[self.model.get_joint_qpos_addr(joint)])

    def axis(self, joint: str) -> np.ndarray:
        """(3,) joint axis in the world frame."""
        m = self.model
        jid = m.joint_name2id(joint)
        return self.data.xaxis[jid].copy()

    def anchor(self, joint: str) -> np.ndarray:
        return self.data.xanchor[self.model.joint_name2id(joint)].copy()

    def is_slide(self, joint: str) -> bool:
        return int(self.model.jnt_type[self.model.joint_name2id(joint)]) == 2

    def limits(self, joint: str) -> tuple[float, float]:
        lo, hi = self.model.jnt_range[self.model.joint_name2id(joint)]
        return float(lo), float(hi)

    def part_boxes(self, joint: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """World boxes of the collision geoms of the body the joint moves (and its children)."""
        m, d = self.model, self.data
        body = int(m.jnt_bodyid[m.joint_name2id(joint)])
        bodies = {body}
        for b in range(m.nbody):  # children: parents have lower ids in MuJoCo
            if int(m.body_parentid[b]) in bodies:
                bodies.add(b)
        out = []
        for g in range(m.ngeom):
            if int(m.geom_bodyid[g]) in bodies and (m.geom_contype[g] or m.geom_conaffinity[g]):
                lo, hi = self.env._geom_bbox(m, d, [g])
                out.append((lo, hi))
        return out

    def object_geom_boxes(self, name: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """World boxes of the collision geoms of a movable object's bodies."""
        m, d = self.model, self.data
        out = []
        for g in range(m.ngeom):
            body = m.body_id2name(int(m.geom_bodyid[g])) or ''
            if body.startswith(name + '_') and (m.geom_contype[g] or m.geom_conaffinity[g]):
                out.append(self.env._geom_bbox(m, d, [g]))
        return out

    def moving_part_boxes(self, per_geom: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
        """Union boxes of every drawer's moving part (slide joints); or each of its geoms'."""
        m = self.model
        out = []
        for j in range(m.njnt):
            name = m.joint_id2name(j) or ''
            if m.jnt_type[j] == 2 and not name.startswith(('robot', 'gripper', 'mount')):
                boxes = self.part_boxes(name)
                if per_geom:
                    out += boxes
                elif boxes:
                    out.append((np.min([b[0] for b in boxes], axis=0),
                                np.max([b[1] for b in boxes], axis=0)))
        return out

    def open_sign(self, joint: str, owner: str) -> float:
        """+1 if opening increases the joint position, -1 if it decreases it."""
        obj = self.e.get_object(owner)
        rng = obj.object_properties['articulation'].get('default_open_ranges') if obj else None
        if rng:
            lo, hi = self.limits(joint)
            return 1.0 if np.mean(rng) > 0.5 * (lo + hi) else -1.0
        return -1.0


class _Skill:
    """One goal predicate's behaviour: ``act`` returns an action, or ``None`` once done."""

    name = 'skill'

    def __init__(self, expert: ScriptedExpert, predicate: tuple[str, ...]):
        self.x = expert
        self.pred = predicate
        self.phase = 'start'
        self.phase_steps = 0
        self.failed = False

    def go(self, phase: str) -> None:
        self.phase, self.phase_steps = phase, 0

    def done(self, state: SimState) -> bool:
        return self.x.holds(state, self.pred)


class PickPlace(_Skill):
    """Pick ``obj`` and put it on/in ``dest`` (object or region)."""

    name = 'pick_place'

    def __init__(self, expert, predicate):
        super().__init__(expert, predicate)
        self.kind, self.obj, self.dest = predicate[0].lower(), predicate[1], predicate[2]
        self.retries = 0
        self.go('approach')
        self._grasp_z = self._lift_z = None
        self._rot_target = None
        self._offset = np.zeros(3)
        self._close_steps = 12
        self._missing, self._below = 0, None
        self._roof = None

    # -- geometry -------------------------------------------------------------------------
    def dest_xy_and_top(self, state: SimState) -> tuple[np.ndarray, float]:
        """Where the object's root should end (xy) and the height of the support's top [m]."""
        if self.dest in state.regions:
            r = state.regions[self.dest]
            xy = r.center[:2].copy()
            if self.kind == 'in':
                top = r.center[2] + r.half_size[2]
                parent = state.objects.get(r.parent)
                if self._roof is not None:  # on the floor under the roof
                    across = np.array([-self._roof[0][1], self._roof[0][0]])
                    xy = self._roof[3] - across * (self._offset[:2] @ across)
                    return xy, self._roof[1]
                if parent is not None and self.x.fixtures is not None:
                    xy = self._exposed_xy(state, r, parent)
                    # a basket's rim stands a little above its region
                    top = max(top, min(parent.bbox_max[2], top + 0.01)) \
                        if not self._is_drawer_region() else top
                return xy, top
            return xy + self._slot(state, r), r.center[2] + r.half_size[2]
        d = state.objects[self.dest]
        return d.pos[:2].copy(), d.bbox_max[2]

    def _roofed(self, state: SimState):
        """For an ``in`` region under a roof (a microwave's cavity), how to slide into it.

        Returns ``None``, or ``(out, floor, roof, xy)``: the horizontal unit vector out of
        the opening (the side of the parent's main body without a wall), the floor's and the
        roof's heights and where the object's root goes (``ROOF_DEPTH`` inside the opening,
        across it at the region's centre).
        """
        f = self.x.fixtures
        if f is None or self.kind != 'in' or self.dest not in state.regions:
            return None
        r = state.regions[self.dest]
        parent = r.parent
        if parent not in state.objects or self._is_drawer_region():
            return None
        m = f.model
        boxes = [f.env._geom_bbox(m, f.data, [g]) for g in range(m.ngeom)
                 if (m.body_id2name(int(m.geom_bodyid[g])) or '') == parent + '_main'
                 and (m.geom_contype[g] or m.geom_conaffinity[g])]
        c = r.center
        over = [(lo, hi) for lo, hi in boxes if np.all(lo[:2] <= c[:2]) and
                np.all(hi[:2] >= c[:2])]
        roofs = [lo[2] for lo, hi in over if lo[2] > c[2]]
        floors = [hi[2] for lo, hi in over if hi[2] <= c[2]]
        if not roofs or not floors:
            return None
        roof, floor = min(roofs), max(floors)
        mid = 0.5 * (roof + floor)
        for d in (np.array([-1.0, 0]), np.array([0, -1.0]), np.array([0, 1.0]),
                  np.array([1.0, 0])):
            ends = [c[:2] + d * t for t in np.linspace(0.0, 0.25, 26)]
            walled = any(lo[2] < mid < hi[2] and np.all(p >= lo[:2]) and np.all(p <= hi[:2])
                         for lo, hi in boxes for p in ends)
            if not walled:
                k = int(np.argmax(np.abs(d)))
                # the opening's plane: the floor's front edge
                edge = d[k] * max(float((hi if d[k] > 0 else lo)[k] * d[k])
                                  for lo, hi in over if hi[2] <= c[2])
                xy = c[:2].copy()
                xy[k] = edge - d[k] * ROOF_DEPTH
                # across the opening, the hand (grasping beside the object) goes mid-floor
                j = 1 - k
                xy[j] = 0.5 * (min(lo[j] for lo, hi in over if hi[2] <= c[2]) +
                               max(hi[j] for lo, hi in over if hi[2] <= c[2]))
                return np.array([*d, 0.0]), floor, roof, xy
        return None

    def _slot(self, state: SimState, region) -> np.ndarray:
        """Offset from a region's centre of this object's place among those the goal puts there.

        Several objects on one region (LIBERO-10's two moka pots on the stove) go side by side,
        in the goal's order, along the axis where their widths add up to less.
        """
        goal = self.x.goal if self.x.goal is not None else state.goal
        names = [g[1] for g in goal if g[0].lower() == 'on' and len(g) == 3 and
                 g[2] == self.dest and g[1] in state.objects]
        if len(names) < 2 or self.obj not in names:
            return np.zeros(2)
        sizes = np.array([state.objects[n].bbox_max[:2] - state.objects[n].bbox_min[:2]
                          for n in names])
        k = int(np.argmin(sizes.sum(axis=0)))
        pitch = float(sizes[:, k].mean()) + 0.01
        off = np.zeros(2)
        off[k] = (names.index(self.obj) - 0.5 * (len(names) - 1)) * pitch
        off[k] = float(np.clip(off[k], -region.half_size[k] + 0.01, region.half_size[k] - 0.01))
        return off

    def _is_drawer_region(self) -> bool:
        f = self.x.fixtures
        return f is not None and self.dest in f.e.object_sites_dict and bool(
            f.joints_of(self.dest))

    def _exposed_xy(self, state: SimState, region, parent) -> np.ndarray:
        """For a drawer region, the part of it pulled out of the cabinet (reachable from above)."""
        xy = region.center[:2].copy()
        if not self._is_drawer_region():
            return xy
        f = self.x.fixtures
        joint = f.joints_of(self.dest)[0]
        # the opening direction in the world is the way the front moves when opening
        sign = f.open_sign(joint, parent_name(state, self.dest))
        out = _unit(sign * f.axis(joint)[:2])
        half = float(np.abs(out) @ region.half_size[:2])
        return xy + out * max(half - 0.045, 0.0)

    def obstacles_top(self, state: SimState, start: np.ndarray, end: np.ndarray,
                      radius: float) -> float:
        """Highest top [m] of other objects within ``radius`` of the segment start-end (xy)."""
        top = -np.inf
        seg = end - start
        length = np.linalg.norm(seg)
        for name, o in state.objects.items():
            if name == self.obj:
                continue
            c = o.center[:2]
            t = 0.0 if length < 1e-9 else np.clip((c - start) @ seg / length ** 2, 0, 1)
            d = np.linalg.norm(start + t * seg - c)
            r = 0.5 * max(o.bbox_max[0] - o.bbox_min[0], o.bbox_max[1] - o.bbox_min[1])
            if d < radius + r:
                top = max(top, o.bbox_max[2])
        return top

    def _choose_grasp(self, state: SimState, grasp_z: float) -> None:
        """Choose the hand's turn about z and the grasp point.

        Candidates: finger axis along the object's own horizontal axes or the world axes, the
        grasp point shifted along the object's length by up to 3 cm; or, for an object too
        wide for the hand in every direction (a bowl, a mug), a grasp across its rim from eight
        directions. Prefer a graspable width, then (up to 2 cm) the most clearance between the
        hand and neighbouring objects tall enough to hit it, then the smallest shift and turn
        (and for a rim, the side facing the robot). Sets ``_rot_target`` and ``_offset``.
        """
        obj = state.objects[self.obj]
        rot0 = self.x.rot0
        finger0 = rot0[:, 1]  # the Panda's fingers close along the hand's y axis
        base = np.arctan2(finger0[1], finger0[0])
        tall = [o for name, o in state.objects.items() if name not in (self.obj, self.dest)
                and name != self.x.support_of(state, self.obj)
                and o.bbox_max[2] > grasp_z + HAND_BOTTOM - 0.06]
        tall = [o for o in tall if np.linalg.norm(o.center[:2] - obj.center[:2]) < 0.35]
        # An open drawer over or beside the object: the hand coming down onto it gets stuck
        # (a neighbour it brushes merely moves), so its clearance comes first.
        drawers = []
        if self.x.fixtures is not None:
            drawers = [_Box(lo, hi) for lo, hi in self.x.fixtures.moving_part_boxes(per_geom=True)
                       if hi[2] > grasp_z + HAND_BOTTOM - 0.06 and
                       np.linalg.norm(0.5 * (lo + hi)[:2] - obj.center[:2]) < 0.35]

        def clearance_at(grip, f, n, obstacles=None):
            clearance = 1.0
            for other in (tall if obstacles is None else obstacles):
                # gap between the hand's and the neighbour's rectangles
                d = other.center[:2] - grip[:2]
                gap_f = abs(d @ f[:2]) - HAND_HALF_LENGTH - 0.5 * other.width_along(f)
                gap_n = abs(d @ n[:2]) - HAND_HALF_WIDTH - 0.5 * other.width_along(n)
                gaps = [gap_f, gap_n]
                if isinstance(other, _Box):  # a box's own axes separate it better
                    for k in (0, 1):
                        reach = HAND_HALF_LENGTH * abs(f[k]) + HAND_HALF_WIDTH * abs(n[k])
                        gaps.append(abs(d[k]) - reach - 0.5 * (other.bbox_max[k] -
                                                                other.bbox_min[k]))
                clearance = min(clearance, max(gaps))
            return clearance

        best = None
        axes = [obj.rotation()[:, 0], obj.rotation()[:, 1], np.array([1.0, 0, 0]),
                np.array([0, 1.0, 0])]
        for ax in axes:
            if np.linalg.norm(ax[:2]) < 0.3:  # a lying object's vertical axis
                continue
            yaw = np.arctan2(ax[1], ax[0]) - base
            yaw = (yaw + np.pi / 2) % np.pi - np.pi / 2  # the hand is symmetric: |yaw| <= 90
            f = np.array([np.cos(base + yaw), np.sin(base + yaw), 0.0])
            n = np.array([-f[1], f[0], 0.0])
            if obj.width_along(f) > MAX_GRASP_WIDTH:
                continue
            room = max(0.5 * obj.width_along(n) - 0.012, 0.0)
            for shift in (0.0, 0.01, -0.01, 0.02, -0.02, 0.03, -0.03):
                if abs(shift) > room:
                    continue
                grip = obj.center + shift * n
                key = (0, -round(min(clearance_at(grip, f, n, drawers), 0.0) / 0.01),
                       -min(clearance_at(grip, f, n), 0.02), abs(shift), abs(yaw))
                if best is None or key < best[0]:
                    best = (key, yaw, shift * n, False)
        self.handle_top = None
        if best is None and self.x.fixtures is not None:  # too wide: a handle, if it has one
            handle = self._handle(state)
            if handle is not None:
                grip, yaw, self.handle_top = handle
                best = ((0,), yaw, grip - obj.center, False)
        if best is None:  # too wide everywhere: grasp the rim
            radius = 0.5 * min(obj.width_along(np.array([1.0, 0, 0])),
                               obj.width_along(np.array([0, 1.0, 0])))
            # Drawers count only where one is in the way of a rim grasp (an open drawer over
            # the object): otherwise the ranking is the one without drawers. Next to an open
            # drawer, finer directions find the gap beside its corner.
            def hand_at(a):
                u = np.array([np.cos(a), np.sin(a), 0.0])
                grip = obj.center + u * (radius - 0.012)
                return grip + 0.02 * u, u, np.array([-u[1], u[0], 0.0])

            if all(clearance_at(*hand_at(k * np.pi / 4), drawers) >= 0 for k in range(8)):
                drawers = []
            n_dir = 16 if drawers else 8
            for k in range(n_dir):
                a = k * 2 * np.pi / n_dir
                u = np.array([np.cos(a), np.sin(a), 0.0])
                if self._roof is not None and abs(u @ self._roof[0]) > 0.1:
                    continue  # under a roof the hand pinches the rim beside the opening's axis
                yaw = (a - base + np.pi / 2) % np.pi - np.pi / 2
                f = u
                n = np.array([-f[1], f[0], 0.0])
                grip = obj.pos.copy()
                grip[:2] = obj.center[:2] + u[:2] * (radius - 0.012)
                # the outer finger sits outside the rim: clearance around the rim point
                cl = clearance_at(grip + 0.02 * u, f, n)
                # (whole centimetres: the hand's box is a rough model of its mesh). Next to an
                # open drawer the side facing the robot goes first: measured, the hand gets down
                # there beside the drawer's front where one reaching across from another side
                # rests on it, at the same modelled overlap.
                key = (1, -round(min(clearance_at(grip + 0.02 * u, f, n, drawers), 0.0) / 0.01),
                       -min(cl, 0.02), round(float(u[0]), 1), abs(yaw))
                if drawers:
                    key = (key[0], key[1], key[3], key[2], key[4])
                if best is None or key < best[0]:
                    best = (key, yaw, grip - obj.center, True)
        self._rot_target = _yaw_rotation(best[1]) @ rot0
        if self._roof is not None and best[3]:
            # lean the hand out of the opening about the fingers' closing axis (the pads stay
            # on the rim's wall): in the cavity only the fingers go under the roof
            self._rot_target = _axis_rotation(np.cross([0.0, 0.0, 1.0], self._roof[0]),
                                              ROOF_TILT) @ self._rot_target
        self._offset = best[2].copy()
        self._offset[2] = 0.0
        self.rim = best[3]

    def _front_shift(self, state: SimState) -> np.ndarray:
        """Across a roofed opening, away from the parent's door hinges: where to go down.

        In front of the opening, the hand (long across it, centred on it) reaches past the
        opening's sides, where a door open less than 90 degrees leans in (LIBERO-10 task 9,
        inits 3 and 9: lowered beside the microwave's door, the hand stopped 5 cm high and the
        mug, taken in that high, fell out). Going in, the hand returns to the opening's middle.
        """
        f = self.x.fixtures
        parent = state.regions[self.dest].parent
        across = np.array([-self._roof[0][1], self._roof[0][0]])
        side = sum(float(np.sign((self._roof[3] - f.anchor(j)[:2]) @ across))
                   for j in f.joints_of(parent) if not f.is_slide(j))
        return across * np.sign(side) * ROOF_DOOR_SHIFT

    def _handle(self, state: SimState):
        """Find a handle to grasp from above: ``(grip point, hand yaw, handle top)`` or None.

        A handle (a moka pot's) is a thin part standing out of a solid body (the geoms under
        the object's root reach within 3 cm of its top; a bowl's or a mug's do not): collision
        geoms at most 2 cm thick across, 2.5 cm or more from the body's box. The highest one is
        pinched across its thin side, 1.2 cm under its top.
        """
        obj = state.objects[self.obj]
        boxes = self.x.fixtures.object_geom_boxes(self.obj)
        c = obj.pos[:2]
        core = [(lo, hi) for lo, hi in boxes if np.all(lo[:2] <= c) and np.all(hi[:2] >= c)]
        if not core:
            return None
        clo = np.min([b[0] for b in core], axis=0)
        chi = np.max([b[1] for b in core], axis=0)
        if chi[2] < obj.bbox_max[2] - 0.03:  # a hollow vessel (bowl, mug): its rim is for that
            return None
        best = None
        for lo, hi in boxes:
            size = hi[:2] - lo[:2]
            mid = 0.5 * (lo + hi)
            gap = np.linalg.norm(np.maximum(np.maximum(clo[:2] - mid[:2], mid[:2] - chi[:2]), 0))
            if min(size) > 0.02 or gap < 0.025 or not obj.bbox_min[2] < mid[2] < obj.bbox_max[2]:
                continue
            if best is None or hi[2] > best[2]:
                axis = np.array([1.0, 0, 0]) if size[0] < size[1] else np.array([0, 1.0, 0])
                best = (mid, axis, hi[2])
        if best is None:
            return None
        mid, axis, top = best
        finger0 = self.x.rot0[:, 1]
        base = np.arctan2(finger0[1], finger0[0])
        yaw = (np.arctan2(axis[1], axis[0]) - base + np.pi / 2) % np.pi - np.pi / 2
        return mid, yaw, top

    # -- control --------------------------------------------------------------------------
    def act(self, state: SimState):
        x = self.x
        obj = state.objects[self.obj]
        eef = state.eef_pos
        height = obj.bbox_max[2] - obj.bbox_min[2]
        self.phase_steps += 1
        gripper, target, rot = OPEN, eef.copy(), self._rot_target

        if self.phase == 'approach':
            if self.phase_steps == 1:
                # Grasp tall objects 3 cm below their top (fingers are ~4 cm long), short ones
                # mid-way; a rim 1.5 cm below its top.
                z = max(obj.bbox_max[2] - 0.035, obj.bbox_min[2] + 0.5 * height)
                z = max(z, obj.bbox_min[2] + 0.012)
                self._roof = self._roofed(state)
                self._choose_grasp(state, z)
                if self.rim:
                    z = obj.bbox_max[2] - (RIM_DEPTH if self._roof is None else ROOF_RIM_DEPTH)
                if self.handle_top is not None:
                    z = self.handle_top - 0.012
                self._grasp_z = z
                rot = self._rot_target
            grip = obj.center + self._offset
            hover = max(self._grasp_z + 0.10, eef[2] if self.retries == 0 else 0)
            hover = min(hover, self._grasp_z + 0.15)
            target = np.array([grip[0], grip[1], hover])
            turned = np.linalg.norm(_rotation_error(self._rot_target,
                                                    _quat_to_mat(state.eef_quat))) < 0.08
            if (np.linalg.norm(target[:2] - eef[:2]) < 0.01 and abs(target[2] - eef[2]) < 0.03
                    and turned):
                self.go('descend')
            elif self.phase_steps > 120:
                self.go('descend')
        grip = obj.center + self._offset
        if self.phase == 'descend':
            target = np.array([grip[0], grip[1], self._grasp_z])
            if np.linalg.norm(target - eef) < 0.01 or self.phase_steps > 40:
                self.go('close')
        if self.phase == 'close':
            target = np.array([grip[0], grip[1], self._grasp_z])
            gripper = CLOSE
            if self.phase_steps >= self._close_steps:
                xy, top = self.dest_xy_and_top(state)
                below = eef[2] - obj.bbox_min[2]
                path_top = self.obstacles_top(state, obj.center[:2], xy,
                                              0.5 * max(obj.bbox_max[:2] - obj.bbox_min[:2]))
                self._lift_z = max(top, path_top, obj.bbox_min[2]) + CLEARANCE + below
                self._slide = self._slide_out(state)
                self._missing, self._below = 0, None
                self.go('slide' if self._slide is not None else 'lift')
        if self.phase == 'slide':  # out from under an open drawer before lifting
            gripper = CLOSE
            target = self._slide
            if np.linalg.norm(target[:2] - eef[:2]) < 0.01 or self.phase_steps > 40:
                self.go('lift')
        if self.phase in ('slide', 'lift', 'carry', 'lower', 'insert'):
            gripper = CLOSE
            if self._lost(state) and self.phase_steps > 5:
                if self.phase != 'insert' or not self.done(state):
                    return self.retry(state)
                # slipped out of the hand once inside (it stays there): let go and back out
                self.go('release')
        if self.phase == 'lift':
            target = np.array([eef[0], eef[1], self._lift_z])
            if self.rim or self.handle_top is not None:  # a pinch slips when jerked up
                target[2] = min(target[2], eef[2] + 0.04)
            if eef[2] > self._lift_z - 0.02 or self.phase_steps > 60:  # or out of reach
                self.go('carry')
        xy, top = self.dest_xy_and_top(state)
        inside = xy
        if self._roof is not None:  # under a roof: down in front of the opening, then in
            xy = xy + self._roof[0][:2] * ROOF_FRONT + self._front_shift(state)
        if self.phase == 'carry':
            # Put the object's root, which LIBERO's predicates test, over the target.
            offset = eef[:2] - obj.pos[:2]
            target = np.array([*(xy + offset), self._lift_z])
            if np.linalg.norm(target[:2] - eef[:2]) < 0.008 or (
                    self.phase_steps > 80 and np.linalg.norm(target[:2] - eef[:2]) < 0.02) or (
                    self.phase_steps > 150):
                self.go('lower')
        if self.phase == 'lower':
            offset = eef[:2] - obj.pos[:2]
            below = eef[2] - obj.bbox_min[2]
            drop = 0.01 if self.kind == 'on' or self._roof is not None else 0.02
            goal_z = top + drop + below
            target = np.array([*(xy + offset), goal_z])
            # stop on the support (the object touches something besides the hand)
            landed = any(self.obj in c and not c & {'left_finger', 'right_finger', 'robot'}
                         for c in state.contacts) and self.phase_steps > 3
            if eef[2] < goal_z + 0.006 or landed or self.phase_steps > 40:
                self.go('release' if self._roof is None else 'insert')
                self._insert_z = goal_z
        if self.phase == 'insert':
            offset = eef[:2] - obj.pos[:2]
            target = np.array([*(inside + offset), self._insert_z])
            moved = getattr(self, '_last_eef', eef)
            self._last_eef = eef.copy()
            stuck = self.phase_steps > 10 and np.linalg.norm(eef - moved) < 0.001
            if np.linalg.norm(target[:2] - eef[:2]) < 0.008 or stuck or self.phase_steps > 60:
                self.go('release')
        if self.phase == 'release':
            gripper = OPEN
            target = eef.copy()
            if self.phase_steps >= 8:
                self.go('retreat' if self._roof is None else 'withdraw')
        if self.phase == 'withdraw':  # back out of the opening before going up
            target = eef + self._roof[0] * 0.05
            gripper = OPEN if not getattr(self, '_shoved', False) else CLOSE
            if (eef[:2] - inside) @ self._roof[0][:2] > ROOF_FRONT or self.phase_steps > 40:
                deep = (obj.pos[:2] - inside) @ self._roof[0][:2] < 0.005
                self.go('retreat' if deep or getattr(self, '_shoved', False) else 'shove')
        if self.phase in ('shove', 'shove_down', 'shove_push'):
            # The hand could not take it in far enough (its body meets the roof's edge): push
            # it the rest of the way at its foot, the closed hand leaning out, fingertips first.
            out = self._roof[0]
            gripper = CLOSE
            back = float(np.min([obj.bbox_min[:2] @ -out[:2], obj.bbox_max[:2] @ -out[:2]]))
            behind = obj.pos[:2] + out[:2] * ((obj.pos[:2] @ -out[:2]) - back + 0.015)
            low = self._roof[1] + 0.03
            if self.phase_steps <= 1 and self.phase == 'shove':
                finger0 = self.x.rot0[:, 1]
                base = np.arctan2(finger0[1], finger0[0])
                yaw = (np.arctan2(out[1], out[0]) + np.pi / 2 - base + np.pi / 2) % np.pi \
                    - np.pi / 2
                self._shove_rot = _axis_rotation(np.cross([0.0, 0.0, 1.0], -out),
                                                 -DRAWER_PUSH_TILT) @ _yaw_rotation(yaw) @ x.rot0
            rot = self._shove_rot
        if self.phase == 'shove':
            target = np.array([*behind, low + 0.08])
            if np.linalg.norm(target - eef) < 0.015 or self.phase_steps > 60:
                self.go('shove_down')
        if self.phase == 'shove_down':
            target = np.array([*behind, low])
            if abs(eef[2] - low) < 0.006 or self.phase_steps > 30:
                self.go('shove_push')
        if self.phase == 'shove_push':
            target = np.array([*(eef[:2] - out[:2] * 0.04), low])
            if (obj.pos[:2] - inside) @ out[:2] < 0.0 or self.phase_steps > 60:
                self._shoved = True
                self.go('withdraw')
        if self.phase == 'retreat':
            target = np.array([eef[0], eef[1], eef[2] + 0.05])
            clear = not state.touching('left_finger', self.obj) and not state.touching(
                'right_finger', self.obj)
            high = obj.bbox_max[2]
            if self._roof is not None:  # up over the roof, clear of what is beside it
                parent = state.objects.get(state.regions[self.dest].parent)
                high = max(high, parent.bbox_max[2]) if parent is not None else high
            if self.phase_steps >= 6 and clear and eef[2] > high + 0.03:
                if self.done(state):
                    return None
                if self.phase_steps > 20:
                    return self.retry(state)
            if self.phase_steps > 40:
                return self.retry(state) if not self.done(state) else None
        return x.servo(state, target, rot, gripper)

    def _lost(self, state: SimState) -> bool:
        """Whether the object has left the hand.

        A rim pinched between the fingers loses one finger's contact for a step now and then
        while the hand moves (the bowl stays put), so one step without a two-sided grasp is
        not a loss: it takes several in a row, or the object sagging below the hand.
        """
        obj = state.objects[self.obj]
        below = state.eef_pos[2] - obj.pos[2]
        if state.grasped(self.obj):
            self._missing = 0
            self._below = below if self._below is None else min(self._below, below)
            return False
        self._missing += 1
        sagged = self._below is not None and below > self._below + 0.03
        return self._missing >= 4 or sagged

    def _slide_out(self, state: SimState):
        """Grip-site target that moves the object from under a drawer's box, or None."""
        if self.x.fixtures is None:
            return None
        obj = state.objects[self.obj]
        lo, hi = obj.bbox_min, obj.bbox_max
        best = None
        for blo, bhi in self.x.fixtures.moving_part_boxes():
            overlap = np.all(lo[:2] < bhi[:2]) and np.all(hi[:2] > blo[:2])
            if not overlap or blo[2] < hi[2] - 0.005:
                continue
            moves = [np.array([bhi[0] - lo[0] + 0.015, 0]), np.array([blo[0] - hi[0] - 0.015, 0]),
                     np.array([0, bhi[1] - lo[1] + 0.015]), np.array([0, blo[1] - hi[1] - 0.015])]
            m = min(moves, key=np.linalg.norm)
            if best is None or np.linalg.norm(m) > np.linalg.norm(best):
                best = m
        if best is None:
            return None
        eef = state.eef_pos
        return np.array([eef[0] + best[0], eef[1] + best[1], eef[2] + 0.01])

    def retry(self, state: SimState):
        self.retries += 1
        if self.retries > self.x.max_retries:
            self.failed = True
            return None
        self.go('approach')
        return self.act(state)


def parent_name(state: SimState, region: str) -> str | None:
    r = state.regions.get(region)
    return r.parent if r is not None else None


class Push(_Skill):
    """Push a flat, wide object (a plate) over the table until its root is in a region.

    The closed fingers push the rim from behind, the hand tilted so that the fingertips trail
    and the hand and wrist lean over the object: something tall just behind it (LIBERO-Goal's
    cabinet stands 3 cm behind the plate) then leaves room enough, as only the fingertips go
    down behind the rim; their front face presses the rim forward and down and does not ride
    over it.
    """

    name = 'push'

    def __init__(self, expert, predicate):
        super().__init__(expert, predicate)
        self.obj, self.dest = predicate[1], predicate[2]
        self.go('above')

    def act(self, state: SimState):
        obj = state.objects[self.obj]
        r = state.regions[self.dest]
        eef = state.eef_pos
        self.phase_steps += 1
        goal = r.center[:2]
        e = goal - obj.pos[:2]
        u = _unit(e)
        radius = 0.5 * max(obj.bbox_max[:2] - obj.bbox_min[:2])
        # the grip site ~2 cm over the lowest fingertip corner, which is ahead of it: that
        # corner ~5 mm over the table and just behind the rim
        low = obj.bbox_min[2] + 0.016
        behind = obj.pos[:2] - u * (radius + 0.008)
        if self.done(state) and self.phase != 'retreat':
            self.go('retreat')
        if self.phase == 'above':
            if self.phase_steps == 1:
                # fingers across the push direction: a broad pusher
                tilt = _axis_rotation(np.cross([0.0, 0.0, 1.0], [*u, 0.0]), PUSH_TILT)
                self.rot = tilt @ _yaw_rotation(self._yaw_for(u)) @ self.x.rot0
            target = np.array([*behind, low + 0.10])
            turned = np.linalg.norm(_rotation_error(self.rot, _quat_to_mat(
                state.eef_quat))) < 0.1
            if np.linalg.norm(target[:2] - eef[:2]) < 0.01 and abs(target[2] - eef[2]) < 0.02 \
                    and turned or self.phase_steps > 120:
                self.go('down')
        if self.phase == 'down':
            target = np.array([*behind, low])
            if abs(eef[2] - low) < 0.004 or self.phase_steps > 40:
                self.go('push')
        if self.phase == 'push':
            lateral = (eef[:2] - obj.pos[:2]) - ((eef[:2] - obj.pos[:2]) @ u) * u
            if np.linalg.norm(lateral) > 0.04 or (eef[:2] - obj.pos[:2]) @ u > -radius * 0.5:
                self.go('above')  # lost the object: go behind it again
                return self.act(state)
            # aim through the object's centre, a little past the goal
            step = min(np.linalg.norm(e) + 0.01, 0.04)
            target = np.array([*(eef[:2] + u * step - 0.8 * lateral), low])
            if self.phase_steps > 200:
                self.failed = True
                return None
        if self.phase == 'retreat':
            target = np.array([eef[0], eef[1], low + 0.12])
            if eef[2] > low + 0.08:
                return None
        return self.x.servo(state, target, getattr(self, 'rot', None), CLOSE)

    def _yaw_for(self, u: np.ndarray) -> float:
        finger0 = self.x.rot0[:, 1]
        base = np.arctan2(finger0[1], finger0[0])
        a = np.arctan2(u[1], u[0]) + np.pi / 2  # the finger axis across the push direction
        return (a - base + np.pi / 2) % np.pi - np.pi / 2


class Drawer(_Skill):
    """Open a drawer by pulling its handle, or close it by pushing its front."""

    name = 'drawer'

    def __init__(self, expert, predicate, region: str, opening: bool):
        super().__init__(expert, predicate)
        self.region, self.opening = region, opening
        self.go('above')

    def act(self, state: SimState):
        f = self.x.fixtures
        owner = parent_name(state, self.region)
        joint = f.joints_of(self.region)[0]
        sign = f.open_sign(joint, owner)
        out = _unit(sign * f.axis(joint))  # the way the front moves when opening
        out[2] = 0.0
        out = _unit(out)
        boxes = f.part_boxes(joint)
        front = max(float(np.where(out > 0, hi, lo) @ out) for lo, hi in boxes)
        # the handle: the geoms reaching furthest out of the front
        handle = [(lo, hi) for lo, hi in boxes
                  if float(np.where(out > 0, hi, lo) @ out) > front - 0.006]
        hlo = np.min([b[0] for b in handle], axis=0)
        hhi = np.max([b[1] for b in handle], axis=0)
        hc = 0.5 * (hlo + hhi)
        eef = state.eef_pos
        self.phase_steps += 1
        q = f.qpos(joint)
        if self.phase_steps == 1 and self.phase == 'above':
            a = np.arctan2(out[1], out[0])
            finger0 = self.x.rot0[:, 1]
            base = np.arctan2(finger0[1], finger0[0])
            yaw_grab = (a - base + np.pi / 2) % np.pi - np.pi / 2  # fingers along the pull
            yaw_push = (a + np.pi / 2 - base + np.pi / 2) % np.pi - np.pi / 2
            self.rot = _yaw_rotation(yaw_grab if self.opening else yaw_push) @ self.x.rot0
            if not self.opening:
                # Lean the hand back, the fingertips leading: upright, the hand's body (2 cm
                # wider than the fingers on each side) meets the drawer above before the
                # pushed one is shut (LIBERO-10 task 3's bottom drawer stopped 5 cm short).
                self.rot = _axis_rotation(np.cross([0.0, 0.0, 1.0], -out),
                                          -DRAWER_PUSH_TILT) @ self.rot
        gripper = OPEN
        if self.opening:
            # Grasp the handle bar from the front, the hand turned to point into the drawer
            # with the fingers closing vertically (a drawer under another one has its
            # handle right below the upper handle, so it cannot be reached from above).
            if self.phase_steps == 1 and self.phase == 'above':
                z_axis = -out
                y_axis = np.array([0.0, 0.0, 1.0])
                self.rot = np.column_stack([np.cross(y_axis, z_axis), y_axis, z_axis])
            grab = hc.copy()
            front = grab + out * 0.10
            if self.phase == 'above':  # turn the hand high up, clear of the objects
                target = front + np.array([0, 0, 0.12])
                turned = np.linalg.norm(_rotation_error(self.rot, _quat_to_mat(
                    state.eef_quat))) < 0.1
                if np.linalg.norm(target - eef) < 0.02 and turned or self.phase_steps > 120:
                    self.go('front')
            if self.phase == 'front':
                target = front
                if np.linalg.norm(target - eef) < 0.012 or self.phase_steps > 40:
                    self.go('narrow')
            if self.phase == 'narrow':  # half open: the upper finger misses the handle above
                target = front
                gripper = CLOSE if self.phase_steps <= 3 else HOLD
                if self.phase_steps >= 4:
                    self.go('in')
            if self.phase == 'in':
                gripper = HOLD
                target = grab - out * 0.01
                if np.linalg.norm(target - eef) < 0.01 or self.phase_steps > 40:
                    self.go('grip')
            if self.phase == 'grip':
                target = grab
                gripper = CLOSE
                if self.phase_steps >= 10:
                    self.go('pull')
            if self.phase == 'pull':
                gripper = CLOSE
                target = eef + out * 0.04
                target[2] = grab[2]
                target[:2] -= ((eef - grab)[:2] - ((eef - grab)[:2] @ out[:2]) * out[:2])
                lo, hi = f.limits(joint)
                far = lo if sign < 0 else hi
                if abs(q - far) < 0.012 or self.phase_steps > 80:
                    self.go('release')
            if self.phase == 'release':
                target = eef.copy()
                gripper = OPEN
                if self.phase_steps >= 6:
                    self.go('retreat')
            if self.phase == 'retreat':
                target = eef + out * 0.04
                if self.phase_steps >= 10:
                    if self.done(state):
                        return None
                    self.failed = True
                    return None
        else:
            push_from = hc + out * 0.05
            push_from[2] = hc[2]
            if self.phase == 'above':
                target = push_from + np.array([0, 0, 0.10])
                gripper = CLOSE
                if np.linalg.norm(target[:2] - eef[:2]) < 0.015 and abs(target[2] - eef[2]) < 0.03:
                    self.go('down')
            if self.phase == 'down':
                target = push_from
                gripper = CLOSE
                if np.linalg.norm(target - eef) < 0.012 or self.phase_steps > 40:
                    self.go('push')
            if self.phase == 'push':
                gripper = CLOSE
                target = eef - out * 0.05
                target[2] = hc[2]
                if self.done(state) or self.phase_steps > 80:
                    self.go('retreat')
            if self.phase == 'retreat':
                gripper = CLOSE
                target = eef + out * 0.03 + np.array([0, 0, 0.03])
                if self.phase_steps >= 8:
                    if self.done(state):
                        return None
                    self.failed = True
                    return None
        return self.x.servo(state, target, self.rot, gripper)


class Door(_Skill):
    """Swing a hinged door (a microwave's) shut, or further open, by pushing its face.

    The door's joint (from the MuJoCo model) gives the hinge axis and anchor; its largest geom
    is the panel. The closed hand stands beside the panel, its fingers along it (the hand's
    thin side to the door), on the face that leads when the door turns the wanted way, between
    the hinge and the handle, and follows the arc with the hand kept a little ahead of the
    panel, turning with it, until LIBERO's predicate holds. A door still shut cannot be
    pushed open (its handle must be pulled; not scripted): ``make_plan`` refuses that goal.
    """

    name = 'door'

    def __init__(self, expert, predicate, fixture: str, opening: bool):
        super().__init__(expert, predicate)
        self.fixture, self.opening = fixture, opening
        self.go('above')

    def geometry(self):
        """Return ``(anchor, axis, d, t, rc, half, z_lo, z_hi)`` of the door now.

        ``d``: horizontal unit vector from the hinge along the panel; ``t``: the way the
        panel's face moves for the wanted turn; ``rc``: hinge-to-hand distance; ``half``: half
        the panel's thickness; ``z_lo``/``z_hi``: the panel's bottom and top.
        """
        f = self.x.fixtures
        joint = f.joints_of(self.fixture)[0]
        k = _unit(f.axis(joint))
        a = f.anchor(joint)
        boxes = f.part_boxes(joint)
        vols = [float(np.prod(hi - lo)) for lo, hi in boxes]
        plo, phi = boxes[int(np.argmax(vols))]

        def radial(p):
            r = p - a
            return r - (r @ k) * k

        d = _unit(radial(0.5 * (plo + phi)))
        length = max(float(radial(np.array([x, y, 0.5 * (plo[2] + phi[2])])) @ d)
                     for x in (plo[0], phi[0]) for y in (plo[1], phi[1]))
        # the handle (the other geoms) sits near the free edge: the hand stays short of it
        others = [b for i, b in enumerate(boxes) if i != int(np.argmax(vols))]
        handle = min((float(radial(0.5 * (lo + hi)) @ d) - 0.5 * float(np.abs(d) @ (hi - lo))
                      for lo, hi in others), default=length)
        rc = float(np.clip(handle - HAND_HALF_LENGTH - 0.015, 0.08, 0.7 * length))
        sign = f.open_sign(joint, self.fixture)  # the joint's direction of opening
        turn = sign if self.opening else -sign
        t = _unit(np.cross(k, d)) * turn
        half = 0.5 * float(np.abs(t) @ (phi - plo)) if abs(t[0]) > 0.9 or abs(t[1]) > 0.9 \
            else 0.015
        return a, k, d, t, rc, min(half, 0.03), float(plo[2]), float(phi[2])

    def act(self, state: SimState):
        eef = state.eef_pos
        self.phase_steps += 1
        a, k, d, t, rc, half, z_lo, z_hi = self.geometry()
        z = z_lo + 0.03  # fingertips low: the hand's body then covers the panel's height
        standoff = half + HAND_HALF_WIDTH + 0.008
        finger0 = self.x.rot0[:, 1]
        base = np.arctan2(finger0[1], finger0[0])
        yaw = (np.arctan2(d[1], d[0]) - base + np.pi / 2) % np.pi - np.pi / 2
        rot = _yaw_rotation(yaw) @ self.x.rot0  # fingers along the panel
        spot = a + d * rc - t * standoff
        if self.done(state) and self.phase in ('push',):
            self.go('retreat')
        if self.phase == 'above':
            target = np.array([spot[0], spot[1], z_hi + 0.05])
            if eef[2] < z_hi + 0.03 and np.linalg.norm(target[:2] - eef[:2]) > 0.03:
                target[:2] = eef[:2]  # up first: the panel's top edge is on the way
            if np.linalg.norm(target - eef) < 0.02 or self.phase_steps > 80:
                self.go('down')
        if self.phase == 'down':
            target = np.array([spot[0], spot[1], z])
            if np.linalg.norm(target - eef) < 0.012 or self.phase_steps > 40:
                self.go('push')
        if self.phase == 'push':
            # the hand's place on the arc a little further along the wanted turn
            ahead = _axis_rotation(k, 0.25 * np.sign(np.cross(d, t) @ k)) @ (d * rc - t * (
                standoff - 0.02))
            target = a + ahead
            target[2] = z
            if self.phase_steps > 150:
                self.failed = True
                return None
        if self.phase == 'retreat':
            target = eef - t * 0.04 + np.array([0, 0, 0.04])
            if self.phase_steps >= 10:
                if not self.done(state):
                    self.failed = True
                return None
        return self.x.servo(state, target, rot, CLOSE)


class Knob(_Skill):
    """Turn a stove knob on or off: grasp its raised bar and turn the hand about the hinge."""

    name = 'knob'

    def __init__(self, expert, predicate, fixture: str, on: bool):
        super().__init__(expert, predicate)
        self.fixture, self.on = fixture, on
        self.go('above')

    def act(self, state: SimState):
        f = self.x.fixtures
        joint = f.joints_of(self.fixture)[0]
        eef = state.eef_pos
        self.phase_steps += 1
        if self.phase_steps == 1 and self.phase == 'above':
            axis = f.axis(joint)
            boxes = f.part_boxes(joint)
            top = max(hi[2] for lo, hi in boxes)
            bar = [(lo, hi) for lo, hi in boxes if hi[2] > top - 0.02]
            blo = np.min([b[0] for b in bar], axis=0)
            bhi = np.max([b[1] for b in bar], axis=0)
            self.grip = 0.5 * (blo + bhi)
            self.grip[2] = top - 0.015
            # fingers across the bar's short side
            long_axis = np.array([1.0, 0, 0]) if (bhi - blo)[0] > (bhi - blo)[1] else \
                np.array([0, 1.0, 0])
            a = np.arctan2(long_axis[1], long_axis[0]) + np.pi / 2
            finger0 = self.x.rot0[:, 1]
            base = np.arctan2(finger0[1], finger0[0])
            yaw = (a - base + np.pi / 2) % np.pi - np.pi / 2
            self.rot = _yaw_rotation(yaw) @ self.x.rot0
            turn = 1.0 if self.on else -1.0
            self.turned = _yaw_rotation(turn * np.sign(axis[2] or 1.0) * 1.1) @ self.rot
        gripper, rot = OPEN, self.rot
        target = self.grip.copy()
        if self.phase == 'above':
            target = self.grip + np.array([0, 0, 0.08])
            aligned = np.linalg.norm(_rotation_error(self.rot, _quat_to_mat(
                state.eef_quat))) < 0.08
            if np.linalg.norm(target - eef) < 0.012 and aligned or self.phase_steps > 100:
                self.go('down')
        if self.phase == 'down':
            if np.linalg.norm(target - eef) < 0.008 or self.phase_steps > 40:
                self.go('grip')
        if self.phase == 'grip':
            gripper = CLOSE
            if self.phase_steps >= 10:
                self.go('turn')
        if self.phase == 'turn':
            gripper, rot = CLOSE, self.turned
            if self.done(state) and self.phase_steps > 8 or self.phase_steps > 50:
                self.go('release')
        if self.phase == 'release':
            gripper, rot = OPEN, None
            target = eef.copy()
            rot = _quat_to_mat(state.eef_quat)
            if self.phase_steps >= 6:
                self.go('retreat')
        if self.phase == 'retreat':
            rot = _quat_to_mat(state.eef_quat)
            target = eef + np.array([0, 0, 0.05])
            if self.phase_steps >= 8:
                if self.done(state):
                    return None
                self.failed = True
                return None
        return self.x.servo(state, target, rot, gripper)


class ScriptedExpert:
    """Reach a LIBERO task's goal with scripted skills, one per goal predicate.

    Args:
        noise: standard deviation of Gaussian noise added to the 6 motion dims of each action
            (before clipping to [-1, 1]); 0 for the clean expert.
        seed: seed of the noise generator.
        max_retries: attempts after a failed placement before giving up on that predicate.
        goal: predicates to reach instead of the task's own (e.g. ``(('close', 'microwave_1'),)``
            to script one skill of a two-step task); ``None``: the task's goal.
    """

    def __init__(self, noise: float = 0.0, seed: int | None = None, max_retries: int = 3,
                 goal: tuple[tuple[str, ...], ...] | None = None):
        if noise < 0:
            raise ValueError(f'noise must be >= 0, got {noise}')
        self.noise = float(noise)
        self.goal = tuple(tuple(g) for g in goal) if goal is not None else None
        self.rng = np.random.default_rng(seed)
        self.max_retries = max_retries
        self.reset()

    def reset(self) -> None:
        """Forget the current episode (call after every environment reset)."""
        self.clean_action: np.ndarray | None = None
        self.rot0: np.ndarray | None = None
        self.plan: list[_Skill] | None = None
        self.fixtures: Fixtures | None = None
        self.skill: _Skill | None = None
        self._all: list[_Skill] = []

    # -- what the skills share ------------------------------------------------------------
    @property
    def phase(self) -> str:
        """The current skill's phase ('done' when the plan is finished)."""
        return self.skill.phase if self.skill is not None else 'done'

    @property
    def retries(self) -> int:
        """Regrasps so far in this episode (all pick-and-place skills together)."""
        return sum(getattr(s, 'retries', 0) for s in self._all)

    def holds(self, state: SimState, predicate: tuple[str, ...]) -> bool:
        """Whether one goal predicate is true now (LIBERO's check when an env was given)."""
        if self.fixtures is not None:
            return self.fixtures.holds(predicate)
        if predicate[0].lower() == 'in' and predicate[2] in state.regions:
            return state.in_region(predicate[1], predicate[2])
        return bool(state.success)

    def support_of(self, state: SimState, name: str) -> str | None:
        """Return the object ``name`` stands on (right below it and touching it), if any."""
        for other in state.objects:
            if other != name and state.touching(name, other) and (
                    state.objects[other].center[2] < state.objects[name].center[2]):
                return other
        return None

    def servo(self, state: SimState, target: np.ndarray, rot_target, gripper: float):
        """Proportional action toward a grip-site position and hand orientation."""
        action = np.zeros(7)
        action[:3] = np.clip(POS_GAIN * (target - state.eef_pos), -1, 1)
        rt = self.rot0 if rot_target is None else rot_target
        action[3:6] = np.clip(ROT_GAIN * _rotation_error(rt, _quat_to_mat(state.eef_quat)),
                              -1, 1)
        action[6] = gripper
        return action

    # -- planning -------------------------------------------------------------------------
    def make_plan(self, state: SimState) -> list[_Skill]:
        """Turn the goal's predicates into skills, in an order that can reach all of them."""
        goal = self.goal if self.goal is not None else state.goal
        if not goal:
            raise ValueError('the task has no goal predicates')
        first, place, last = [], [], []
        for g in goal:
            kind = g[0].lower()
            if kind in ('in', 'on') and len(g) == 3:
                obj, dest = g[1], g[2]
                if obj not in state.objects:
                    raise ValueError(f'goal {g}: no object {obj!r} in the scene')
                if dest not in state.objects and dest not in state.regions:
                    raise ValueError(f'goal {g}: no object or region {dest!r} in the scene')
                if self._push_instead(state, obj, dest):
                    place.append(Push(self, g))
                    continue
                if self.fixtures is None and dest in state.regions and \
                        state.regions[dest].parent not in state.objects:
                    raise ValueError(f'the expert needs the env for goal {g}')
                if self.fixtures is not None and dest in self.fixtures.e.object_sites_dict \
                        and self.fixtures.joints_of(dest) and not self.fixtures.holds(
                            ('open', dest)):
                    first.append(Drawer(self, ('open', dest), dest, opening=True))
                place.append(PickPlace(self, g))
            elif kind in ('open', 'close') and len(g) == 2:
                self._need_fixtures(g)
                if not self.fixtures.joints_of(g[1]):
                    raise ValueError(f'goal {g}: {g[1]!r} has no drawer or door joint')
                j = self.fixtures.joints_of(g[1])[0]
                if self.fixtures.is_slide(j):
                    (first if kind == 'open' else last).append(
                        Drawer(self, g, g[1], opening=kind == 'open'))
                    continue
                lo, hi = self.fixtures.limits(j)
                shut = hi if self.fixtures.open_sign(j, g[1]) < 0 else lo
                if kind == 'open' and abs(self.fixtures.qpos(j) - shut) < 0.3 and \
                        not self.fixtures.holds(g):
                    raise ValueError(f'goal {g}: opening a shut hinged door (pulling its '
                                     'handle) is not scripted yet')
                (first if kind == 'open' else last).append(
                    Door(self, g, g[1], opening=kind == 'open'))
            elif kind in ('turnon', 'turnoff') and len(g) == 2:
                self._need_fixtures(g)
                if not self.fixtures.joints_of(g[1]):
                    raise ValueError(f'goal {g}: {g[1]!r} has no knob joint')
                first.append(Knob(self, g, g[1], on=kind == 'turnon'))
            else:
                raise ValueError(f'the expert handles In, On, Open, Close, TurnOn and TurnOff '
                                 f'goals; this task has {g}')
        return first + place + last

    def _need_fixtures(self, g) -> None:
        if self.fixtures is None:
            raise ValueError(f'goal {g} needs fixture joints: call act(state, env)')

    def _push_instead(self, state: SimState, obj: str, dest: str) -> bool:
        """Return whether to push: a flat object too wide for the hand, to a table region."""
        o = state.objects[obj]
        flat = (o.bbox_max[2] - o.bbox_min[2]) < TABLE_TOP_MARGIN
        wide = min(o.width_along(np.array([1.0, 0, 0])),
                   o.width_along(np.array([0, 1.0, 0]))) > MAX_GRASP_WIDTH
        table = dest in state.regions and state.regions[dest].parent not in state.objects
        return flat and wide and table

    def act(self, state: SimState, env=None) -> np.ndarray:
        """Return the (7,) action for the current state.

        ``env``: the ``LiberoEnv`` the state came from; needed for fixture goals (drawers,
        knobs) and used, when given, to check each predicate with LIBERO's own code.
        """
        if self.rot0 is None:
            self.rot0 = _quat_to_mat(state.eef_quat)
        if env is not None and self.fixtures is None:
            self.fixtures = Fixtures(env)
        if self.plan is None:
            self.plan = self.make_plan(state)
            self._all = list(self.plan)
        action = None
        while action is None and self.plan:
            self.skill = self.plan[0]
            if self.skill.phase_steps == 0 and self.skill.phase in ('approach', 'above') \
                    and self.skill.done(state):
                self.plan.pop(0)  # already true (or made true by an earlier skill)
                continue
            action = self.skill.act(state)
            if action is None:
                self.plan.pop(0)
        if action is None:  # plan finished (or given up): hold still, hand raised a little
            self.skill = None
            action = self.servo(state, state.eef_pos + np.array([0, 0, 0.02]), None, OPEN)
        action = np.clip(action, -1, 1)
        # the unperturbed command, kept for DART-style labels (execute noisy, label clean)
        self.clean_action = action.copy()
        if self.noise > 0:
            action = action.copy()
            action[:6] += self.rng.normal(0.0, self.noise, 6)
        return np.clip(action, -1, 1)
