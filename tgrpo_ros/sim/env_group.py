# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A group of N LIBERO environments stepped in lockstep (no ROS): THE way to step N envs.

TGRPO resets the N environments of a group to the SAME initial state and samples one
trajectory in each (``tgrpo_ros.contract``). ``EnvGroup`` does that for training in one
process (``tgrpo_ros.training.rollout``), evaluation, demonstrations and the benchmarks: one
``LiberoEnv`` per worker process (MuJoCo and EGL are not thread-safe, and processes use all
cores; each worker holds ~2.2 GB), commands sent to all workers first, then answers collected.
``LocalEnvGroup`` offers the same API over environments in this process (tests with fake or
wrapped environments, a single environment where a worker does not pay off).

The API both share: ``num_envs``, ``max_steps``, ``task_id``, ``done`` (N,) bool,
``reset_all(init_state_index, seed)`` (one index for all, or N indices, one per env),
``reset(i, init_state_index, seed)``, ``step(actions (N, 7), active (N,) bool)`` and
``close()``.

Failure handling: every wait has a timeout; a worker that exits, crashes or stops answering
raises ``WorkerError`` naming the worker (never a hang) and is marked dead. ``restart(i)``
replaces it with a fresh process; reset it before stepping. An exception inside a worker (a bad
action, an index out of range) is re-raised in the parent as ``WorkerError`` with the worker's
traceback; that worker stays usable.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
from typing import Any, Sequence

import numpy as np

from tgrpo_ros.contract import ACTION_DIM
from tgrpo_ros.observation import Observation, StepOutcome
from tgrpo_ros.sim.libero_env import check_action, LiberoEnv
from tgrpo_ros.sim.sim_state import SimState


class WorkerError(RuntimeError):
    """A worker died, timed out, or raised; ``worker`` is its index."""

    def __init__(self, worker: int, message: str):
        super().__init__(f'worker {worker}: {message}')
        self.worker = worker


def _worker_main(conn, env_kwargs: dict) -> None:
    """Own one LiberoEnv; answer (command, args) messages with ('ok', value) or ('error', tb)."""
    try:
        env = LiberoEnv(**env_kwargs)
    except Exception:  # report why it could not start instead of dying silently
        conn.send(('error', traceback.format_exc()))
        return
    conn.send(('ok', {'task_id': env.task_id, 'max_steps': env.max_steps,
                      'num_init_states': env.num_init_states}))
    try:
        while True:
            try:
                cmd, args = conn.recv()
            except EOFError:  # the parent went away
                break
            if cmd == 'close':
                conn.send(('ok', None))
                break
            try:
                if cmd == 'reset':
                    value: Any = env.reset(*args)
                elif cmd == 'step':
                    value = env.step(*args)
                elif cmd == 'sim_state':
                    value = env.sim_state()
                elif cmd == 'set_object_pose':
                    value = env.set_object_pose(*args)
                elif cmd == 'crash':  # test hook: die like a segfaulting simulator would
                    os._exit(3)
                elif cmd == 'stall':  # test hook: stop answering like a stuck renderer would
                    time.sleep(float(args[0]))
                    value = None
                else:
                    raise ValueError(f'unknown command {cmd!r}')
                conn.send(('ok', value))
            except Exception:
                conn.send(('error', traceback.format_exc()))
    finally:
        env.close()


class EnvGroup:
    """N ``LiberoEnv`` of one task in worker processes.

    Args:
        num_envs: N, the group size (>= 1).
        suite, task, cameras, image_size, reward_spec, max_steps, init_states_file: as for
            ``LiberoEnv``.
        timeout_s: longest wait for any one answer [s] (a LIBERO step takes 2-150 ms; starting
            a worker ~10 s, longer when N workers start on few cores).
        start_timeout_s: longest wait for a worker to build its environment [s].
        start_method: ``'spawn'`` (default; safe with EGL) or ``'forkserver'``.
    """

    def __init__(self, num_envs: int, suite: str = 'libero_object', task: str | int = 0,
                 cameras: Sequence[str] = ('agentview',), image_size: int = 128,
                 reward_spec: Any = 'auto', max_steps: int | None = None,
                 init_states_file: str | None = None, timeout_s: float = 60.0,
                 start_timeout_s: float = 600.0,
                 start_method: str = 'spawn'):
        if int(num_envs) < 1:
            raise ValueError(f'num_envs must be >= 1, got {num_envs}')
        if start_method not in ('spawn', 'forkserver'):
            raise ValueError(f"start_method must be 'spawn' or 'forkserver', got "
                             f'{start_method!r} (fork is unsafe with EGL contexts)')
        self.num_envs = int(num_envs)
        self.timeout_s = float(timeout_s)
        self.start_timeout_s = float(start_timeout_s)
        self._ctx = mp.get_context(start_method)
        self._env_kwargs = {'suite': suite, 'task': task, 'cameras': tuple(cameras),
                            'image_size': image_size, 'reward_spec': reward_spec,
                            'max_steps': max_steps, 'init_states_file': init_states_file}
        self._procs: list[Any] = [None] * self.num_envs
        self._conns: list[Any] = [None] * self.num_envs
        self.done = np.ones(self.num_envs, dtype=bool)  # True until reset
        self.alive = np.zeros(self.num_envs, dtype=bool)
        self.info: dict = {}
        try:
            for i in range(self.num_envs):
                self._launch(i)
            for i in range(self.num_envs):
                self.info = self._receive(i, self.start_timeout_s, 'start')
        except BaseException:
            self.close()
            raise

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def task_id(self) -> str:
        return self.info.get('task_id', '')

    @property
    def max_steps(self) -> int:
        return self.info.get('max_steps', 0)

    def _launch(self, i: int) -> None:
        parent, child = self._ctx.Pipe()
        p = self._ctx.Process(target=_worker_main, args=(child, self._env_kwargs),
                              name=f'libero-worker-{i}', daemon=True)
        p.start()
        child.close()
        self._procs[i], self._conns[i] = p, parent
        self.alive[i] = True
        self.done[i] = True

    def restart(self, i: int) -> None:
        """Replace worker ``i`` with a fresh process (its episode is lost; reset it next)."""
        self._check_index(i)
        self._kill(i)
        self._launch(i)
        self._receive(i, self.start_timeout_s, 'restart')

    def close(self) -> None:
        """Stop all workers (politely, then by force after a timeout)."""
        for i in range(self.num_envs):
            if self._conns[i] is not None and self.alive[i]:
                try:
                    self._conns[i].send(('close', None))
                except (OSError, BrokenPipeError):
                    pass
        for i in range(self.num_envs):
            p = self._procs[i]
            if p is not None:
                p.join(timeout=10)
            self._kill(i)

    def __enter__(self) -> EnvGroup:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _kill(self, i: int) -> None:
        p, c = self._procs[i], self._conns[i]
        if p is not None and p.is_alive():
            p.terminate()
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        if c is not None:
            c.close()
        self._procs[i] = self._conns[i] = None
        self.alive[i] = False
        self.done[i] = True

    # -- messaging ------------------------------------------------------------------------
    def _check_index(self, i: int) -> None:
        if not 0 <= i < self.num_envs:
            raise IndexError(f'worker index {i} out of range (0..{self.num_envs - 1})')

    def _send(self, i: int, cmd: str, args: tuple = ()) -> None:
        if not self.alive[i]:
            raise WorkerError(i, f'is dead; call restart({i})')
        try:
            self._conns[i].send((cmd, args))
        except (OSError, BrokenPipeError) as e:
            self._mark_dead(i)
            raise WorkerError(i, f'died (pipe closed while sending {cmd!r}: {e}); '
                                 f'call restart({i})') from None

    def _mark_dead(self, i: int) -> None:
        self.alive[i] = False
        self.done[i] = True

    def _receive(self, i: int, timeout: float, what: str):
        conn, proc = self._conns[i], self._procs[i]
        try:
            ready = conn.poll(timeout)
        except (OSError, EOFError):
            ready = False
        if not ready:
            code = proc.exitcode if proc is not None else None
            self._kill(i)
            reason = (f'exited with code {code}' if code is not None
                      else f'did not answer within {timeout:.0f} s')
            raise WorkerError(i, f'{reason} during {what}; call restart({i})')
        try:
            status, value = conn.recv()
        except (EOFError, OSError):
            proc.join(timeout=1)
            code = proc.exitcode
            self._kill(i)
            raise WorkerError(i, f'died during {what} (exit code {code}); '
                                 f'call restart({i})') from None
        if status == 'error':
            if what in ('start', 'restart'):
                self._kill(i)
            last = value.strip().splitlines()[-1] if value.strip() else '?'
            raise WorkerError(i, f'raised during {what}: {last}\n--- worker traceback ---\n'
                                 f'{value}')
        return value

    def _call(self, workers: list[int], cmd: str, args: list[tuple], what: str) -> list:
        """Send ``cmd`` to all ``workers``, then collect every answer (so none stays queued).

        All workers are checked alive before anything is sent; the first failure is raised
        after the other answers were drained.
        """
        for i in workers:
            if not self.alive[i]:
                raise WorkerError(i, f'is dead; call restart({i})')
        sent, first_error = [], None
        for i, a in zip(workers, args):
            try:
                self._send(i, cmd, a)
                sent.append(i)
            except WorkerError as e:
                first_error = first_error or e
        try:
            return self._gather(sent, what)
        finally:
            if first_error is not None:
                raise first_error

    def _gather(self, workers: list[int], what: str) -> list:
        """Collect answers from ``workers``; raise the first failure after draining the rest."""
        results, first_error = {}, None
        for i in workers:
            try:
                results[i] = self._receive(i, self.timeout_s, what)
            except WorkerError as e:
                first_error = first_error or e
        if first_error is not None:
            raise first_error
        return [results[i] for i in workers]

    # -- environment API ------------------------------------------------------------------
    def reset_all(self, init_state_index: int | Sequence[int] = 0,
                  seed: int = 7) -> list[Observation]:
        """Reset every worker (in parallel); return N observations.

        init_state_index: one index for every env (a TGRPO group), or N indices, one per env
            (an evaluation over several held-out states).
        """
        workers = list(range(self.num_envs))
        indices = _per_env(init_state_index, self.num_envs)
        obs = self._call(workers, 'reset', [(i, int(seed)) for i in indices],
                         f'reset({init_state_index})')
        self.done[:] = False
        return obs

    def reset(self, i: int, init_state_index: int = 0, seed: int = 7) -> Observation:
        """Reset worker ``i`` only."""
        self._check_index(i)
        self._send(i, 'reset', (int(init_state_index), int(seed)))
        obs = self._receive(i, self.timeout_s, f'reset({init_state_index})')
        self.done[i] = False
        return obs

    def step(self, actions, active: Sequence[bool] | np.ndarray | None = None
             ) -> tuple[list[Observation | None], list[StepOutcome | None]]:
        """Step the active environments in parallel.

        actions: (N, 7) in the environment's action space; rows of inactive envs are ignored.
        active: (N,) bool; default: every env whose episode is not over.
        Returns N observations and N outcomes, ``None`` where an env was not stepped.
        """
        a = np.asarray(actions, dtype=np.float64)
        if a.shape != (self.num_envs, 7):
            raise ValueError(f'actions must have shape ({self.num_envs}, 7), got {a.shape}')
        mask = ~self.done if active is None else np.asarray(active, dtype=bool)
        if mask.shape != (self.num_envs,):
            raise ValueError(f'active must have shape ({self.num_envs},), got {mask.shape}')
        workers = [i for i in range(self.num_envs) if mask[i]]
        for i in workers:
            if self.done[i]:
                raise ValueError(f'env {i} is not in an episode (over, or never reset); '
                                 'exclude it with active or reset it')
            check_action(a[i])
        answers = self._call(workers, 'step', [(a[i],) for i in workers], 'step')
        obs: list[Observation | None] = [None] * self.num_envs
        outs: list[StepOutcome | None] = [None] * self.num_envs
        for i, (o, out) in zip(workers, answers):
            obs[i], outs[i] = o, out
            self.done[i] = out.done
        return obs, outs

    def sim_states(self, workers: Sequence[int] | None = None) -> list[SimState]:
        """Return the ``SimState`` of the given workers (default: all)."""
        ws = list(range(self.num_envs)) if workers is None else list(workers)
        return self._call(ws, 'sim_state', [()] * len(ws), 'sim_state')

    def set_object_pose(self, i: int, name: str, pos, quat_xyzw=(0.0, 0.0, 0.0, 1.0)) -> None:
        """Teleport an object in worker ``i`` (tests, demonstrations)."""
        self._check_index(i)
        self._send(i, 'set_object_pose', (name, pos, quat_xyzw))
        self._receive(i, self.timeout_s, 'set_object_pose')

    def _crash(self, i: int) -> None:
        """Make worker ``i`` exit abruptly (for tests of failure handling)."""
        self._send(i, 'crash')

    def _stall(self, i: int, seconds: float) -> None:
        """Make worker ``i`` stop answering for ``seconds`` (for tests of timeouts)."""
        self._send(i, 'stall', (seconds,))


def _per_env(init_state_index: int | Sequence[int], n: int) -> list[int]:
    """One initial-state index per env: ``n`` copies of one index, or the ``n`` given."""
    if isinstance(init_state_index, (int, np.integer)):
        return [int(init_state_index)] * n
    indices = [int(i) for i in init_state_index]
    if len(indices) != n:
        raise ValueError(f'{len(indices)} initial states for {n} environments')
    return indices


class LocalEnvGroup:
    """``EnvGroup``'s API over N environments in this process, stepped one after another.

    envs: N objects with ``LiberoEnv``'s ``reset(init_state_index, seed) -> Observation``,
        ``step(action) -> (Observation, StepOutcome)``, ``max_steps`` and ``close()``.
    Exceptions of an environment propagate unchanged (no worker wraps them).
    """

    def __init__(self, envs: Sequence[Any]):
        if not envs:
            raise ValueError('LocalEnvGroup needs at least one environment')
        self.envs = list(envs)
        self.num_envs = len(self.envs)
        self.done = np.ones(self.num_envs, dtype=bool)
        self.alive = np.ones(self.num_envs, dtype=bool)

    @classmethod
    def libero(cls, num_envs: int, **kwargs) -> LocalEnvGroup:
        """N ``LiberoEnv(**kwargs)`` in this process."""
        envs: list[LiberoEnv] = []
        try:
            for _ in range(int(num_envs)):
                envs.append(LiberoEnv(**kwargs))
        except BaseException:
            for e in envs:
                e.close()
            raise
        return cls(envs)

    @property
    def task_id(self) -> str:
        return getattr(self.envs[0], 'task_id', '')

    @property
    def max_steps(self) -> int:
        return int(self.envs[0].max_steps)

    def reset_all(self, init_state_index: int | Sequence[int] = 0,
                  seed: int = 7) -> list[Observation]:
        """Reset every env (one index for all, or one per env); return N observations."""
        indices = _per_env(init_state_index, self.num_envs)
        obs = [env.reset(i, int(seed)) for env, i in zip(self.envs, indices)]
        self.done[:] = False
        return obs

    def reset(self, i: int, init_state_index: int = 0, seed: int = 7) -> Observation:
        """Reset env ``i`` only."""
        obs = self.envs[i].reset(int(init_state_index), int(seed))
        self.done[i] = False
        return obs

    def step(self, actions, active: Sequence[bool] | np.ndarray | None = None
             ) -> tuple[list[Observation | None], list[StepOutcome | None]]:
        """Step the active envs; same arguments and results as ``EnvGroup.step``."""
        a = np.asarray(actions, dtype=np.float64)
        if a.shape != (self.num_envs, ACTION_DIM):
            raise ValueError(f'actions must have shape ({self.num_envs}, {ACTION_DIM}), got '
                             f'{a.shape}')
        mask = ~self.done if active is None else np.asarray(active, dtype=bool)
        obs: list[Observation | None] = [None] * self.num_envs
        outs: list[StepOutcome | None] = [None] * self.num_envs
        for i in np.flatnonzero(mask):
            if self.done[i]:
                raise ValueError(f'env {i} is not in an episode (over, or never reset); '
                                 'exclude it with active or reset it')
            obs[i], outs[i] = self.envs[i].step(a[i])
            self.done[i] = outs[i].done
        return obs, outs

    def sim_states(self, workers: Sequence[int] | None = None) -> list[SimState]:
        """Return the ``SimState`` of the given envs (default: all), as ``EnvGroup`` does."""
        ws = range(self.num_envs) if workers is None else workers
        return [self.envs[i].sim_state() for i in ws]

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def __enter__(self) -> LocalEnvGroup:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
