# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""DataParallel: one TGRPO update spread over the processes of a torch.distributed group.

Every rank holds the same policy, the same optimiser state and the same group; the trainer's
shuffle generator is seeded alike, so every rank draws the same minibatches. Each rank takes a
contiguous share of each minibatch's rows (``rows``), computes its share of the loss against
the denominator summed over all ranks (``sum``: valid tokens, or trajectory weights for
'seq-mean'), and the gradients are summed over ranks (``sum_gradients``) before clipping and
the optimiser step. The result is the single-process update up to floating-point summation
order, however unevenly the valid tokens fall on the ranks; the optimiser steps alike on every
rank, so the weights never drift apart.

This is what DistributedDataParallel does for a module's gradients, written out because the
update is not one module's forward (the reference pass, the sampler's log-probs and the loss
live in the trainer) and because only the LoRA (and value head) parameters carry gradients:
one flat all-reduce of those per minibatch. Launch with torchrun (``torchrun --nproc-per-node
2 ...``) or any other way that calls ``torch.distributed.init_process_group``; gloo on CPUs,
NCCL on GPUs.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.distributed as dist


class DataParallel:
    """This process's place in a data-parallel update."""

    def __init__(self, group: dist.ProcessGroup | None = None, device: str = 'cpu'):
        """Take part in ``group`` (None: the default one).

        device: where the collectives run: 'cpu' for gloo, this rank's 'cuda:k' for NCCL
        (which reduces GPU tensors only); results come back on each input's own device.
        """
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError('DataParallel needs torch.distributed initialised first '
                               '(torch.distributed.init_process_group, or run under torchrun)')
        self.group = group
        self.device = torch.device(device)
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)

    def rows(self, n: int) -> slice:
        """Return this rank's contiguous share of ``n`` rows.

        Shares differ by at most one row; a share is empty when ``n`` < world size.
        """
        return slice(self.rank * n // self.world_size, (self.rank + 1) * n // self.world_size)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Return ``tensor`` summed over the ranks (a new tensor; the input is untouched)."""
        out = tensor.detach().to(self.device, copy=True)
        dist.all_reduce(out, op=dist.ReduceOp.SUM, group=self.group)
        return out.to(tensor.device)

    def max(self, tensor: torch.Tensor) -> torch.Tensor:
        """Return ``tensor``'s element-wise maximum over the ranks."""
        out = tensor.detach().to(self.device, copy=True)
        dist.all_reduce(out, op=dist.ReduceOp.MAX, group=self.group)
        return out.to(tensor.device)

    def sum_gradients(self, params: Sequence[torch.Tensor]) -> None:
        """Replace each parameter's gradient by its sum over the ranks, in one all-reduce.

        A parameter with a gradient on no rank keeps none (the optimiser then skips it, weight
        decay included, as it does in one process); one with a gradient on some ranks only
        (a rank without rows) counts zeros for the others.
        """
        if not params:
            return
        present = self.max(torch.tensor([p.grad is not None for p in params],
                                        dtype=torch.uint8))
        used = [p for p, keep in zip(params, present.tolist()) if keep]
        if not used:
            return
        # summed in float32 whatever the parameters' dtype (bf16 sums lose the 1e-5 agreement)
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p))
                          .reshape(-1).float().to(self.device) for p in used])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=self.group)
        offset = 0
        for p in used:
            n = p.numel()
            p.grad = flat[offset:offset + n].view_as(p).to(p.device, p.dtype).clone()
            offset += n
