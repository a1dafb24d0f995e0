# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros sft``: supervised fine-tuning (behaviour cloning) from an episode dataset.

Writes a policy folder that ``load_policy``, ``eval-sim`` and the training runs' ``model``
setting accept; the method, the output folder and resuming are described in
``tgrpo_ros.training.sft``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
from typing import Sequence

from tgrpo_ros.training.sft import run_sft

EXAMPLES = """
examples:
  # behaviour cloning of a tiny model (32 px, 1M parameters) on expert demonstrations
  tgrpo-ros demonstrations --tasks 0 --init-states 0-24 --repeats 2 \\
      --noise 0.1 --out data/demos_object_task0
  tgrpo-ros sft --dataset data/demos_object_task0 --model tiny:test --epochs 20 \\
      --out runs/sft_object_task0

  # continue it after an interruption (same command plus --resume)
  tgrpo-ros sft --dataset data/demos_object_task0 --model tiny:test --epochs 20 \\
      --out runs/sft_object_task0 --resume

  # LoRA fine-tuning of a saved policy folder on two datasets, then evaluate on held-out states
  tgrpo-ros sft --dataset data/demos_a data/demos_b --model models/sft_object_task0 \\
      --lora-rank 8 --epochs 5 --lr 1e-4 --out runs/sft_more
  tgrpo-ros eval-sim --policy runs/sft_more/policy --tasks 0 --first-init-state 25 \\
      --episodes 20 --image-size 128
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='tgrpo-ros sft', description=__doc__.split('\n\n')[0], epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--dataset', nargs='+', required=True, type=Path,
                   help='dataset folder(s) (tgrpo_ros.data.episodes layout)')
    p.add_argument('--model', default='tiny:test',
                   help="'tiny:<size>' (random init: test, cpu-2m, cpu-5m, cpu-20m), a policy "
                        "folder, or 'sft:<name>' (models/sft_<name> of this package)")
    p.add_argument('--out', type=Path, required=True, help='output folder')
    p.add_argument('--epochs', type=int, default=20)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--lr', type=float, default=3e-4, help='peak AdamW learning rate')
    p.add_argument('--warmup-steps', type=int, default=100)
    p.add_argument('--weight-decay', type=float, default=0.01)
    p.add_argument('--max-grad-norm', type=float, default=1.0)
    p.add_argument('--lora-rank', type=int, default=0,
                   help='0 = train every weight (tiny models); > 0 = a LoRA adapter of that rank')
    p.add_argument('--shift-augment', type=int, default=0,
                   help='random image shift of up to N raw pixels during training (0 = off)')
    p.add_argument('--val-fraction', type=float, default=0.1,
                   help='fraction of EPISODES held out for the validation loss')
    p.add_argument('--val-every', type=int, default=1, help='validation every N epochs')
    p.add_argument('--checkpoint-every', type=int, default=1, help='checkpoint every N epochs')
    p.add_argument('--cameras', nargs='*', default=None,
                   help='cameras the policy reads (default: all in the dataset)')
    p.add_argument('--state', nargs='+', default=None, metavar='NAME',
                   help='robot-state entries the policy reads as one more input token '
                        '(proprioception, policy/proprio.py), e.g. eef_pos_z gripper_qpos_0; '
                        "standardised with the training episodes' mean and std [SI units in]")
    p.add_argument('--statistics-key', default='demos',
                   help='key of the demonstration statistics in the policy')
    p.add_argument('--trust-remote-code', action='store_true',
                   help="let transformers run Python code shipped in the --model folder "
                        "('auto_map'); only for an HF VLM folder you trust")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='cpu')
    p.add_argument('--dtype', default='auto',
                   help="'auto' (float32 on the CPU, bfloat16 on GPUs), 'float32', 'bfloat16'; "
                        'train a full tiny model in float32')
    p.add_argument('--resume', action='store_true', help='continue from OUT/last_complete.json')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1:
        raise SystemExit('--epochs and --batch-size must be >= 1')
    if not 0 <= args.val_fraction < 1:
        raise SystemExit('--val-fraction must be in [0, 1)')
    run_sft(args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
