# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""One LIBERO-MuJoCo environment, following OpenVLA's evaluation protocol.

Protocol (the numbers OpenVLA's LIBERO evaluation uses):

* Initial states come from the benchmark's fixed list (50 per task), chosen by index, or from
  a file of states sampled the same way (``init_states.py``; e.g. to train on states that
  neither the demonstrations nor the evaluation use).
* After a reset the robot waits ``NUM_WAIT_STEPS = 10`` control steps with the action
  ``WAIT_ACTION = [0, 0, 0, 0, 0, 0, -1]`` (no motion, gripper open) so objects dropped into
  the scene settle. These steps are not counted and not observed by the policy.
* An episode then lasts at most the suite's ``MAX_STEPS`` policy actions: libero_spatial 220,
  libero_object 280, libero_goal 300, libero_10 520, libero_90 400. It ends early on success.
* Success is LIBERO's own goal check (``_check_success``), evaluated after every step.
* Control runs at 20 Hz; the action is the 7-D OSC_POSE delta command in [-1, 1]
  (dx, dy, dz, droll, dpitch, dyaw, gripper with -1 open / +1 close). Values outside [-1, 1]
  are clipped (robosuite would clip them too); NaN/inf or a wrong shape is an error.

Images are rendered only for the cameras asked for (``cameras=()`` renders nothing, which makes
a step ~50x cheaper) and are flipped on both axes so they are upright (``tgrpo_ros.contract``).
That is OpenVLA's convention (its LIBERO training images were rotated 180 degrees); note that
it leaves the view mirrored left-right compared with a real camera at the same pose (a vertical
flip alone would not), which matters when comparing sim and real images.

A ``LiberoEnv`` is bound to one task: to change task, make a new one (building the MuJoCo
model takes seconds; resets within a task take ~30 ms).

Importing this module does not import LIBERO; the first ``LiberoEnv`` does, after making sure a
LIBERO config file exists (LIBERO otherwise stops to ask questions on stdin).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from tgrpo_ros.contract import ACTION_DIM, DoneReason
from tgrpo_ros.observation import Observation, StepOutcome
from tgrpo_ros.sim.bddl_task import articulation_thresholds
from tgrpo_ros.sim.init_states import load_init_states
from tgrpo_ros.sim.libero_config import ensure_libero_config
from tgrpo_ros.sim.reward_spec import (load_reward_for_task, missing_spec_message,
                                       MissingSpecError, spec_path, SUCCESS_ONLY)
from tgrpo_ros.sim.sim_state import (Articulation, FLOOR, LEFT_FINGER, ObjectPose, Region,
                                     RIGHT_FINGER, ROBOT, SimState)

#: Maximum policy actions per episode, per suite (OpenVLA's LIBERO evaluation).
MAX_STEPS = {
    'libero_spatial': 220,
    'libero_object': 280,
    'libero_goal': 300,
    'libero_10': 520,
    'libero_90': 400,
}
SUITES = tuple(MAX_STEPS)
#: The rewards a run may ask for (setting ``env.reward``): the task's dense multi-stage spec
#: (an error if the task has none), or 1 on success else 0, asked for by name.
DENSE = 'dense'
REWARDS = (DENSE, SUCCESS_ONLY)
#: Control steps of ``WAIT_ACTION`` after each reset, so dropped objects settle (OpenVLA).
NUM_WAIT_STEPS = 10
WAIT_ACTION = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0])
#: Cameras of LIBERO scenes, and short aliases accepted for them.
CAMERAS = ('agentview', 'robot0_eye_in_hand', 'frontview', 'birdview', 'sideview')
CAMERA_ALIASES = {'wrist': 'robot0_eye_in_hand', 'eye_in_hand': 'robot0_eye_in_hand'}
#: Names of ``Observation.state``; robot base frame, SI units (metres, radians).
STATE_NAMES = (
    ['eef_pos_x', 'eef_pos_y', 'eef_pos_z', 'eef_quat_x', 'eef_quat_y', 'eef_quat_z',
     'eef_quat_w', 'gripper_qpos_0', 'gripper_qpos_1']
    + [f'joint_pos_{i}' for i in range(7)]
)


def _benchmark(suite: str):
    if suite not in MAX_STEPS:
        raise ValueError(f'unknown LIBERO suite {suite!r}; known: {", ".join(SUITES)}')
    ensure_libero_config()
    from libero.libero import benchmark  # heavy: LIBERO imports robosuite and MuJoCo
    return benchmark.get_benchmark_dict()[suite]()


def list_tasks(suite: str) -> list[str]:
    """Return the task names of ``suite`` in benchmark order (index i is task i)."""
    b = _benchmark(suite)
    return [b.get_task(i).name for i in range(b.n_tasks)]


def resolve_task(suite: str, task: str | int) -> tuple[int, str]:
    """Return ``(index, name)`` for a task given by name or index; raise naming the problem."""
    names = list_tasks(suite)
    if isinstance(task, (int, np.integer)) and not isinstance(task, bool):
        if not 0 <= task < len(names):
            raise IndexError(f'task index {task} out of range for {suite} '
                             f'(0..{len(names) - 1})')
        return int(task), names[task]
    if isinstance(task, str) and task.isdigit():
        return resolve_task(suite, int(task))
    if task not in names:
        raise ValueError(f'unknown task {task!r} in {suite}; known: {", ".join(names)}')
    return names.index(task), task


def reward_spec_for(reward: str) -> str:
    """Return the ``LiberoEnv(reward_spec=...)`` value for a ``REWARDS`` name."""
    if reward not in REWARDS:
        raise ValueError(f'env.reward: unknown reward {reward!r}; known: {", ".join(REWARDS)}')
    return 'auto' if reward == DENSE else SUCCESS_ONLY


def check_reward_spec(suite: str, task: str | int, reward: str = DENSE) -> None:
    """Raise ``MissingSpecError`` if a dense reward is asked for a task without a spec.

    The error names the task and the command that writes a spec; the check needs no simulator,
    so a run stops before any starts.
    """
    if reward_spec_for(reward) == SUCCESS_ONLY:
        return
    _, name = resolve_task(suite, int(task) if str(task).isdigit() else task)
    if not spec_path(suite, name).exists():
        raise MissingSpecError(missing_spec_message(suite, name))


def check_action(action) -> np.ndarray:
    """Return ``action`` as a (7,) float64 array clipped to [-1, 1]; raise if malformed."""
    a = np.asarray(action, dtype=np.float64)
    if a.shape != (ACTION_DIM,):
        raise ValueError(f'action must have shape ({ACTION_DIM},), got {a.shape}')
    if not np.all(np.isfinite(a)):
        raise ValueError(f'action has NaN or inf values: {a.tolist()}')
    return np.clip(a, -1.0, 1.0)


def _quat_conj_mul(q_ref_xyzw: np.ndarray, q_xyzw: np.ndarray) -> np.ndarray:
    """Return conj(q_ref) * q for (x, y, z, w) quaternions (q expressed in q_ref's frame)."""
    x1, y1, z1, w1 = -q_ref_xyzw[0], -q_ref_xyzw[1], -q_ref_xyzw[2], q_ref_xyzw[3]
    x2, y2, z2, w2 = q_xyzw
    return np.array([
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
    ])


def _under(model, body: int, roots: set[int]) -> bool:
    """Whether MuJoCo body ``body`` is one of ``roots`` or below one of them."""
    while body > 0:
        if body in roots:
            return True
        body = int(model.body_parentid[body])
    return False


class LiberoEnv:
    """A LIBERO task environment with OpenVLA's protocol, upright images and dense rewards.

    Args:
        suite: one of ``SUITES``.
        task: task name or index within the suite.
        cameras: camera names to render (``agentview``, ``robot0_eye_in_hand`` or ``wrist``, ...);
            ``()`` renders nothing.
        image_size: rendered height = width [px].
        reward_spec: ``'auto'`` loads ``config/rewards/<suite>/<task>.yaml`` (a task without
            one is a ``MissingSpecError`` naming the command that writes one); a path or
            ``RewardSpec`` uses that; ``'success_only'`` or ``None`` gives reward = 1.0 on
            success, else 0, and stage 0 of 0.
        max_steps: policy actions per episode; ``None`` = the suite's ``MAX_STEPS``.
        init_states_file: a ``.npz`` of generated initial states for this task
            (``tgrpo-ros init-states``); ``reset(i)`` then loads its i-th state.
            ``None`` = the benchmark's fixed list.
    """

    def __init__(self, suite: str = 'libero_object', task: str | int = 0,
                 cameras: Sequence[str] = ('agentview',), image_size: int = 128,
                 reward_spec='auto', max_steps: int | None = None,
                 init_states_file: str | Path | None = None):
        self.task_index, self.task_name = resolve_task(suite, task)
        self.suite = suite
        self.cameras = tuple(CAMERA_ALIASES.get(c, c) for c in cameras)
        self.camera_keys = tuple(cameras)  # images keyed by the names the caller used
        for c in self.cameras:
            if c not in CAMERAS:
                raise ValueError(f'unknown camera {c!r}; known: {", ".join(CAMERAS)} '
                                 f'(aliases: {", ".join(CAMERA_ALIASES)})')
        if int(image_size) < 8:
            raise ValueError(f'image_size must be >= 8 px, got {image_size}')
        self.image_size = int(image_size)
        self.max_steps = MAX_STEPS[suite] if max_steps is None else int(max_steps)
        if self.max_steps < 1:
            raise ValueError(f'max_steps must be >= 1, got {max_steps}')

        bench = _benchmark(suite)
        self._init_states = bench.get_task_init_states(self.task_index)
        self.init_states_file = init_states_file
        task_obj = bench.get_task(self.task_index)
        self.instruction = task_obj.language
        self.bddl_file = bench.get_task_bddl_file_path(self.task_index)

        from libero.libero.envs.env_wrapper import ControlEnv  # heavy, as in _benchmark
        render = bool(self.cameras)
        # hard_reset=False keeps the model and renderer between resets (30 ms instead of 2 s);
        # every reset then loads a full benchmark state (and clears the gripper's command
        # integrator, see reset), so nothing leaks between episodes.
        self._env = ControlEnv(
            bddl_file_name=self.bddl_file, has_offscreen_renderer=render, use_camera_obs=render,
            camera_names=list(self.cameras) if render else [], camera_heights=self.image_size,
            camera_widths=self.image_size, hard_reset=False, horizon=100000, ignore_done=True)
        try:
            self._index_model()
            if init_states_file is not None:
                self._init_states = load_init_states(init_states_file, self.task_id,
                                                     self.state_size)
            self.reward = load_reward_for_task(reward_spec, suite, self.task_name,
                                               self.object_names, self.region_names,
                                               self.articulations)
        except BaseException:
            self.close()  # a bad reward spec must not leak the simulator and its EGL context
            raise
        self.steps = 0
        self.done = True
        self._last_obs: dict | None = None
        self._state: SimState | None = None

    # -- identity -------------------------------------------------------------------------
    @property
    def task_id(self) -> str:
        """Return ``"<suite>/<task_name>"``."""
        return f'{self.suite}/{self.task_name}'

    @property
    def num_init_states(self) -> int:
        """Return how many initial states ``reset`` can load (benchmark or file)."""
        return len(self._init_states)

    @property
    def init_states(self) -> list[np.ndarray]:
        """Return the flattened MuJoCo states ``reset`` loads by index (benchmark or file)."""
        return list(self._init_states)

    @property
    def state_size(self) -> int:
        """Return the length of a flattened MuJoCo state of this task (an initial state)."""
        return int(self._env.env.sim.get_state().flatten().size)

    @property
    def object_names(self) -> list[str]:
        """Return the BDDL names of the task's objects and fixtures."""
        return list(self._root_bodies)

    @property
    def region_names(self) -> list[str]:
        """Return the names of the task's goal regions (LIBERO sites)."""
        return list(self._env.env.object_sites_dict)

    @property
    def articulations(self) -> dict[str, tuple[str, ...]]:
        """Return the fixtures (and drawer regions) that open/close or turn on/off.

        Each with its states: ('open', 'closed') or ('on', 'off').
        """
        return {n: tuple(v[2]) for n, v in self._articulations.items()}

    # -- episode --------------------------------------------------------------------------
    def reset(self, init_state_index: int = 0, seed: int = 7) -> Observation:
        """Load initial state ``init_state_index`` (benchmark or file), wait 10 steps, observe.

        ``seed`` seeds LIBERO's samplers and numpy's global generator (OpenVLA uses 7); the
        scene itself is fully fixed by the initial state, so episodes from the same index and
        actions repeat exactly, in a fresh or a reused environment.
        """
        n = len(self._init_states)
        if isinstance(init_state_index, bool) or not 0 <= int(init_state_index) < n:
            raise IndexError(f'init_state_index {init_state_index} out of range for '
                             f'{self.task_id} (0..{n - 1})')
        self._env.seed(int(seed))
        np.random.seed(int(seed))
        self._env.reset()
        # robosuite's gripper integrates its commands in `current_action`, which neither a
        # soft reset nor loading a state clears: without this the previous episode's last
        # gripper command changes the finger positions of the next one.
        for robot in self._env.env.robots:
            robot.gripper.current_action = np.zeros(robot.gripper.dof)
        obs = self._env.set_init_state(self._init_states[int(init_state_index)])
        for _ in range(NUM_WAIT_STEPS):
            obs, _, _, _ = self._env.step(WAIT_ACTION)
        self._last_obs = obs
        self._state = None
        self.steps = 0
        self.done = False
        self.reward.reset(self.sim_state())
        return self._observation(obs)

    def sample_init_state(self, seed: int) -> np.ndarray:
        """Return a new initial state: the task's object placement sampler, seeded.

        The same procedure LIBERO's own initial states were recorded with (a reset that
        samples every object in its BDDL region, then the flattened MuJoCo state), so a
        sampled state is as valid as a benchmark one, just not one of the fixed 50. Ends any
        running episode (call ``reset`` afterwards).
        """
        self._env.seed(int(seed))
        np.random.seed(int(seed))
        self._env.reset()
        self.done = True
        self._state = None
        return self._env.env.sim.get_state().flatten().copy()

    def step(self, action) -> tuple[Observation, StepOutcome]:
        """Apply one 7-D action; return the next observation and what the step produced."""
        if self.done:
            raise RuntimeError(f'{self.task_id}: episode is over (or never started); '
                               'call reset() first')
        a = check_action(action)
        obs, _, _, _ = self._env.step(a)
        self._last_obs = obs
        self._state = None
        self.steps += 1
        state = self.sim_state()
        r = self.reward(state)
        if state.success:
            self.done, why = True, DoneReason.SUCCESS
        elif self.steps >= self.max_steps:
            self.done, why = True, DoneReason.MAX_STEPS
        else:
            why = DoneReason.RUNNING
        outcome = StepOutcome(reward=r.reward, stage=r.stage, num_stages=r.num_stages,
                              success=state.success, done=self.done, done_reason=why)
        return self._observation(obs), outcome

    def close(self) -> None:
        """Release the simulator and its renderer (avoids EGL errors at interpreter exit)."""
        if getattr(self, '_env', None) is not None:
            self._env.close()
            self._env = None

    def __enter__(self) -> LiberoEnv:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- state ----------------------------------------------------------------------------
    def sim_state(self) -> SimState:
        """Return the snapshot that rewards and the expert read (see ``sim_state.py``).

        Computed once per control step (cached until the next step, reset or teleport).
        """
        if self._state is None:
            self._state = self._read_sim_state()
        return self._state

    def _read_sim_state(self) -> SimState:
        e = self._env.env
        data, model = e.sim.data, e.sim.model
        objects = {}
        for name, bid in self._root_bodies.items():
            gids = self._object_geoms[name]
            rot = data.body_xmat[bid].reshape(3, 3)
            lo, hi = self._geom_bbox(model, data, gids)
            llo, lhi = self._geom_bbox(model, data, gids, frame=(data.body_xpos[bid], rot))
            objects[name] = ObjectPose(pos=data.body_xpos[bid].copy(),
                                       quat=data.body_xquat[bid][[1, 2, 3, 0]].copy(),
                                       bbox_min=lo, bbox_max=hi, half_size=0.5 * (lhi - llo))
        regions = {}
        for name, site in e.object_sites_dict.items():
            sid = model.site_name2id(name)
            mat = data.site_xmat[sid].reshape(3, 3)
            size = np.asarray(site.size, dtype=np.float64) if site.size is not None else None
            if size is None or size.shape != (3,):
                continue
            regions[name] = Region(center=data.site_xpos[sid].copy(),
                                   half_size=np.abs(mat @ size), parent=site.parent_name or '',
                                   size=size, rotation=mat.copy(),
                                   joints=tuple(getattr(site, 'joints', None) or ()))
        articulations = {}
        for name, (joints, qidx, ranges, gids) in self._articulations.items():
            obj = e.get_object(self._articulation_owner[name])
            qpos = data.qpos[qidx].copy()
            states = {}
            if 'open' in ranges:
                states['open'] = any(bool(obj.is_open(q)) for q in qpos)
                states['closed'] = all(bool(obj.is_close(q)) for q in qpos)
            if 'on' in ranges:
                states['on'] = any(bool(obj.turn_on(q)) for q in qpos)
                states['off'] = all(bool(obj.turn_off(q)) for q in qpos)
            lo, hi = self._geom_bbox(model, data, gids)
            articulations[name] = Articulation(joints=joints, qpos=qpos, states=states,
                                               thresholds=dict(ranges), handle=0.5 * (lo + hi))
        q = data.qpos[self._gripper_qpos_idx].copy()
        obs = self._last_obs
        return SimState(
            objects=objects, regions=regions, eef_pos=np.asarray(obs['robot0_eef_pos']).copy(),
            eef_quat=np.asarray(obs['robot0_eef_quat']).copy(), gripper_qpos=q,
            gripper_opening=float(q[0] - q[1]), contacts=self._contacts(),
            success=bool(self._env.check_success()),
            goal=tuple(tuple(g) for g in e.parsed_problem['goal_state']),
            articulations=articulations)

    def set_object_pose(self, name: str, pos, quat_xyzw=(0.0, 0.0, 0.0, 1.0)) -> None:
        """Teleport a movable object (tests, demonstrations); velocities are zeroed."""
        e = self._env.env
        if name not in e.objects_dict:
            raise ValueError(f'unknown object {name!r}; known: {", ".join(e.objects_dict)}')
        jnt = e.objects_dict[name].joints[-1]
        q = np.asarray(quat_xyzw, dtype=np.float64)
        e.sim.data.set_joint_qpos(jnt, np.concatenate([np.asarray(pos, float), q[[3, 0, 1, 2]]]))
        e.sim.data.set_joint_qvel(jnt, np.zeros(6))
        e.sim.forward()
        # Re-observe (and re-render) so render() and sim_state() show the new pose at once.
        self._last_obs = e._get_observations(force_update=True)
        self._state = None

    def set_joint_positions(self, positions: dict[str, float]) -> None:
        """Set hinge/slide joints by name (a drawer, a door, a knob; tests, demonstrations).

        Names are MuJoCo joint names (``Articulation.joints``); velocities are zeroed.
        """
        e = self._env.env
        known = set(e.sim.model.joint_names)
        for name, q in positions.items():
            if name not in known:
                joints = (j for a in self._articulations.values() for j in a[0])
                raise ValueError(f'unknown joint {name!r}; fixture joints: {", ".join(joints)}')
            e.sim.data.set_joint_qpos(name, float(q))
            e.sim.data.set_joint_qvel(name, 0.0)
        e.sim.forward()
        self._last_obs = e._get_observations(force_update=True)
        self._state = None

    def render(self, camera: str | None = None) -> np.ndarray:
        """Return the last upright image of ``camera`` (default: the first one asked for)."""
        if not self.cameras:
            raise RuntimeError('this LiberoEnv renders no cameras (cameras=())')
        key = self.camera_keys[0] if camera is None else camera
        cam = CAMERA_ALIASES.get(key, key)
        if cam not in self.cameras:
            raise ValueError(f'camera {key!r} was not requested; have {self.camera_keys}')
        return self._last_obs[f'{cam}_image'][::-1, ::-1].copy()

    # -- internals ------------------------------------------------------------------------
    def _observation(self, obs: dict) -> Observation:
        images = {k: obs[f'{c}_image'][::-1, ::-1].copy()  # MuJoCo renders upside down
                  for k, c in zip(self.camera_keys, self.cameras)}
        return Observation(images=images, state=self._robot_state(obs),
                           state_names=list(STATE_NAMES), instruction=self.instruction,
                           task=self.task_id)

    def _robot_state(self, obs: dict) -> np.ndarray:
        """Return the (16,) robot state in the robot base frame (see ``STATE_NAMES``)."""
        data = self._env.env.sim.data
        base_pos = data.body_xpos[self._base_body]
        base_rot = data.body_xmat[self._base_body].reshape(3, 3)
        base_q = data.body_xquat[self._base_body][[1, 2, 3, 0]]
        pos = base_rot.T @ (np.asarray(obs['robot0_eef_pos']) - base_pos)
        quat = _quat_conj_mul(base_q, np.asarray(obs['robot0_eef_quat']))
        return np.concatenate([pos, quat, data.qpos[self._gripper_qpos_idx],
                               data.qpos[self._arm_qpos_idx]]).astype(np.float64)

    def _index_model(self) -> None:
        """Map MuJoCo bodies/geoms to task objects and fingers (used for states and contacts)."""
        e = self._env.env
        model = e.sim.model
        robot = e.robots[0]
        self._base_body = model.body_name2id(robot.robot_model.root_body)
        self._gripper_qpos_idx = np.asarray(robot._ref_gripper_joint_pos_indexes)
        self._arm_qpos_idx = np.asarray(robot._ref_joint_pos_indexes)
        self._root_bodies = {name: e.obj_body_id[name] for name in
                             list(e.objects_dict) + list(e.fixtures_dict)}
        owner_of_body = {bid: name for name, bid in self._root_bodies.items()}
        fingers = {}
        for side, key in ((LEFT_FINGER, 'left_finger'), (RIGHT_FINGER, 'right_finger')):
            for g in robot.gripper.important_geoms[key]:
                fingers[model.geom_name2id(g)] = side
        floor = {i for i in range(model.ngeom) if model.geom_id2name(i) == 'floor'}
        robot_root = self._base_body
        owner = []
        for gid in range(model.ngeom):
            if gid in fingers:
                owner.append(fingers[gid])
                continue
            if gid in floor:
                owner.append(FLOOR)
                continue
            b = int(model.geom_bodyid[gid])
            name = None
            while b > 0:
                if b in owner_of_body:
                    name = owner_of_body[b]
                    break
                if b == robot_root:
                    name = ROBOT
                    break
                b = int(model.body_parentid[b])
            owner.append(name)
        self._geom_owner = owner
        self._index_articulations()
        # Collision geoms (contype/conaffinity set) of each object, for bounding boxes.
        self._object_geoms = {name: [] for name in self._root_bodies}
        for gid, name in enumerate(owner):
            if name in self._object_geoms and (model.geom_contype[gid]
                                               or model.geom_conaffinity[gid]):
                self._object_geoms[name].append(gid)
        # The robot's arm/gripper bodies (mount included) count as 'robot'.
        for gid in range(model.ngeom):
            if owner[gid] is None and model.body_name2id('world') != model.geom_bodyid[gid]:
                bname = model.body_id2name(int(model.geom_bodyid[gid])) or ''
                if bname.startswith(('robot0_', 'gripper0_', 'mount0_')):
                    owner[gid] = ROBOT

    def _index_articulations(self) -> None:
        """Index the fixtures (and drawer regions) that open/close or turn on/off.

        For ``SimState.articulations``: their joints' qpos addresses, the joint positions where
        each state begins, and the geoms whose box centre is the handle.
        """
        e = self._env.env
        model = e.sim.model
        self._articulations: dict[str, tuple] = {}
        self._articulation_owner: dict[str, str] = {}
        raw = getattr(model, '_model', model)  # robosuite wraps mujoco.MjModel
        mat_names = [raw.material(i).name for i in range(model.nmat)]

        def add(name: str, owner: str, joints) -> None:
            joints = tuple(j for j in joints or ()
                           if j in model.joint_names and model.jnt_type[model.joint_name2id(j)]
                           in (2, 3))  # slide, hinge
            ranges = articulation_thresholds(
                getattr(e.get_object(owner), 'object_properties', {}).get('articulation'))
            if not joints or not ranges:
                return
            qidx = [model.get_joint_qpos_addr(j) for j in joints]
            moving = {int(model.jnt_bodyid[model.joint_name2id(j)]) for j in joints}
            parts = [g for g in range(model.ngeom) if _under(model, int(model.geom_bodyid[g]),
                                                             moving)]
            handle = [g for g in parts if model.geom_matid[g] >= 0
                      and 'handle' in mat_names[model.geom_matid[g]]]
            self._articulations[name] = (joints, np.asarray(qidx), ranges, handle or parts)
            self._articulation_owner[name] = owner

        for name in list(e.fixtures_dict) + list(e.objects_dict):
            add(name, name, getattr(e.get_object(name), 'joints', ()))
        for name, site in e.object_sites_dict.items():
            if getattr(site, 'joints', None) and site.parent_name:
                add(name, site.parent_name, site.joints)

    @staticmethod
    def _geom_bbox(model, data, gids: list[int], frame=None) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned box [m] of geoms, in the world or in ``frame`` = (origin, rotation)."""
        if not gids:
            return np.full(3, np.nan), np.full(3, np.nan)
        los, his = [], []
        for g in gids:
            c, h = model.geom_aabb[g][:3], model.geom_aabb[g][3:]
            rot = data.geom_xmat[g].reshape(3, 3)
            center = data.geom_xpos[g] + rot @ c
            if frame is not None:
                center = frame[1].T @ (center - frame[0])
                rot = frame[1].T @ rot
            ext = np.abs(rot) @ h
            los.append(center - ext)
            his.append(center + ext)
        return np.min(los, axis=0), np.max(his, axis=0)

    def _contacts(self) -> frozenset[frozenset[str]]:
        data = self._env.env.sim.data
        pairs = set()
        owner = self._geom_owner
        for i in range(data.ncon):
            c = data.contact[i]
            a, b = owner[c.geom1], owner[c.geom2]
            if a is not None and b is not None and a != b:
                pairs.add(frozenset((a, b)))
        return frozenset(pairs)
