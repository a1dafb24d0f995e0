# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The update over several processes (``run.update_processes``): rank 0 and its workers.

With W > 1 the learner process is rank 0 of a torch.distributed group of W; it starts W - 1
worker processes (spawned, so a learner that runs rclpy threads forks nothing) that build the
learner's policy from the same settings (``policy_setup.policy_for``) and wait for commands:

    sync    rank 0's trainable weights and trainer state (at the start, and after a resume
            loaded them), so every rank starts each update from the same point
    update  the group (``GroupRolloutBuffer``, critic values filled) and the final values:
            every rank runs ``TGRPOTrainer.update`` with ``DataParallel``, sharing each
            minibatch (``training.distributed``)
    stop    leave the group and exit

Only rank 0 collects, saves adapters and writes the run folder; the workers' weights equal
rank 0's after every update (the summed gradients and the optimiser step are the same on
every rank), so nothing is sent back. Devices: on CPU every rank uses gloo; with
``policy.device`` 'cuda:k' rank r uses 'cuda:k+r' and NCCL (not yet run on a machine with
several GPUs). A worker exits when its parent process is gone.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from typing import Any, Callable, Iterator

import torch
import torch.distributed as dist

from tgrpo_ros.algo import GroupRolloutBuffer
from tgrpo_ros.policy.base import VLAPolicy
from tgrpo_ros.training.distributed import DataParallel
from tgrpo_ros.training.policy_setup import policy_for
from tgrpo_ros.training.settings import SimTrainSettings
from tgrpo_ros.training.trainer import TGRPOTrainer, UpdateResult

# Between updates the workers wait through a whole rollout; a dead peer closes its sockets,
# which ends the wait sooner than this.
COLLECTIVE_TIMEOUT = timedelta(hours=24)


def rank_device(device: str, rank: int) -> str:
    """Return the torch device of ``rank`` when rank 0 uses ``device``."""
    if not device.startswith('cuda'):
        return device
    first = int(device.split(':')[1]) if ':' in device else 0
    return f'cuda:{first + rank}'


def _backend(device: str) -> str:
    return 'nccl' if device.startswith('cuda') else 'gloo'


def _collective_device(device: str) -> str:
    # NCCL reduces GPU tensors only; gloo here always gets CPU ones
    return rank_device(device, 0) if device.startswith('cuda') else 'cpu'


def _init(rank: int, world: int, init_method: str, device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.set_device(torch.device(device))
    dist.init_process_group(_backend(device), init_method=init_method, rank=rank,
                            world_size=world, timeout=COLLECTIVE_TIMEOUT)


def _command(cmd: Any = None) -> Any:
    box = [cmd]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _load(policy: VLAPolicy, trainer: TGRPOTrainer, weights: list[torch.Tensor],
          state: dict) -> None:
    with torch.no_grad():
        for p, w in zip(policy.trainable_parameters(), weights, strict=True):
            p.copy_(w.to(p.device, p.dtype))
    trainer.load_state_dict(state)


def _exit_with_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)  # the learner is gone: nothing here is worth keeping
    threading.Thread(target=watch, daemon=True, name='parent-watch').start()


def _worker(rank: int, world: int, init_method: str, flat: dict[str, Any], parent: int) -> None:
    _exit_with_parent(parent)
    settings = SimTrainSettings.from_flat(flat)
    if settings.policy.torch_threads > 0:
        torch.set_num_threads(settings.policy.torch_threads)
    device = rank_device(settings.policy.device, rank)
    _init(rank, world, init_method, device)
    try:
        settings = SimTrainSettings.from_flat({**flat, 'policy.device': device})
        policy = policy_for(settings)
        trainer = TGRPOTrainer(policy, settings.algo, seed=settings.run.seed,
                               data_parallel=DataParallel(device=_collective_device(device)))
        while True:
            cmd = _command()
            if cmd[0] == 'stop':
                break
            if cmd[0] == 'sync':
                _load(policy, trainer, cmd[1], cmd[2])
            elif cmd[0] == 'update':
                trainer.update(cmd[1], cmd[2])
    finally:
        dist.destroy_process_group()


class DistributedTrainer:
    """Rank 0: the trainer the driver uses when ``run.update_processes`` > 1.

    Same interface as ``TGRPOTrainer`` (``update``, ``state_dict``, ``load_state_dict``,
    ``uses_critic``); each update is first sent to the workers, then run here as rank 0.
    """

    def __init__(self, settings: SimTrainSettings, policy: VLAPolicy,
                 log: Callable[[str], None] = print):
        world = settings.run.update_processes
        self._dir = tempfile.mkdtemp(prefix='tgrpo_update_')
        init_method = f'file://{self._dir}/rendezvous'
        context = multiprocessing.get_context('spawn')
        self._workers = [context.Process(
            target=_worker, args=(r, world, init_method, settings.to_flat(), os.getpid()),
            name=f'update-rank{r}', daemon=True) for r in range(1, world)]
        for w in self._workers:
            w.start()
        try:
            _init(0, world, init_method, settings.policy.device)
        except Exception:
            self._kill()
            raise
        self.policy = policy
        self.trainer = TGRPOTrainer(
            policy, settings.algo, seed=settings.run.seed,
            data_parallel=DataParallel(device=_collective_device(settings.policy.device)))
        self._sync()  # a collective: every worker has built its policy and joined
        log(f'[train] the update is shared by {world} processes (data-parallel over '
            f'{_backend(settings.policy.device)}; worker pids '
            f'{", ".join(str(w.pid) for w in self._workers)})')

    @property
    def uses_critic(self) -> bool:
        return self.trainer.uses_critic

    def _sync(self) -> None:
        weights = [p.detach().cpu() for p in self.policy.trainable_parameters()]
        _command(('sync', weights, self.trainer.state_dict()))

    def update(self, buffer: GroupRolloutBuffer,
               last_values: list[float] | None = None) -> UpdateResult:
        """Run ``TGRPOTrainer.update`` on every rank, rank 0's result (over all ranks)."""
        _command(('update', buffer, last_values))
        return self.trainer.update(buffer, last_values)

    def state_dict(self) -> dict:
        return self.trainer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Load rank 0's state (a resume) and send it, with the loaded adapter, to the workers."""
        self.trainer.load_state_dict(state)
        self._sync()

    def close(self) -> None:
        """Stop the workers and leave the group (waits for them briefly, then kills them)."""
        try:
            if dist.is_initialized():
                _command(('stop',))
                dist.destroy_process_group()
        finally:
            for w in self._workers:
                w.join(timeout=30)
            self._kill()
            shutil.rmtree(self._dir, ignore_errors=True)

    def _kill(self) -> None:
        for w in self._workers:
            if w.is_alive():
                w.kill()
                w.join(timeout=5)


@contextmanager
def trainer_for(settings: SimTrainSettings, policy: VLAPolicy,
                log: Callable[[str], None] = print
                ) -> Iterator[TGRPOTrainer | DistributedTrainer]:
    """Yield the run's trainer: in this process, or rank 0 of ``run.update_processes``."""
    if settings.run.update_processes <= 1:
        yield TGRPOTrainer(policy, settings.algo, seed=settings.run.seed)
        return
    trainer = DistributedTrainer(settings, policy, log)
    try:
        yield trainer
    finally:
        trainer.close()
