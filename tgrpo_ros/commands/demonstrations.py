# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros demonstrations``: scripted-expert demonstrations as an SFT dataset folder.

Runs the scripted expert from each chosen initial state with the cameras the policy will read
and writes the episode dataset that ``tgrpo-ros sft`` reads; or copies an existing dataset with
its images resized (``--resize-from``) or its noisy labels replaced by the expert's clean ones
(``--relabel-clean-from``). The library behind it, with the choices explained (held-out states,
noise, DART labels, resuming), is ``tgrpo_ros.sim.demonstrations``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
from typing import Sequence

from tgrpo_ros.sim.demonstrations import (LABELS, make_demonstrations, parse_range,
                                          relabel_clean, resize_dataset)

EXAMPLES = """
examples:
  # 50 noisy expert demonstrations of LIBERO-Object task 0 from training states 0-24
  tgrpo-ros demonstrations --tasks 0 --init-states 0-24 --repeats 2 \\
      --noise 0.1 --image-size 128 --out data/demos_object_task0

  # the same frames at the tiny policy's 32 px input size (identical model input, 16x smaller)
  tgrpo-ros demonstrations --resize-from data/demos_object_task0 \\
      --image-size 32 --out data/demos_object_task0_32px

  # two tasks, clean expert, also the wrist camera
  tgrpo-ros demonstrations --tasks 0 1 --init-states 0-9 \\
      --cameras agentview robot0_eye_in_hand --out data/demos_object_t01
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='tgrpo-ros demonstrations', description=__doc__.split('\n\n')[0],
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', type=Path, required=True, help='dataset folder (created/resumed)')
    p.add_argument('--relabel-clean-from', type=Path, default=None,
                   help='instead of running the expert: copy this noisy dataset with DART '
                        '(clean) labels recovered from its seeded noise (see relabel_clean)')
    p.add_argument('--resize-from', type=Path, default=None,
                   help='instead of running the expert: copy this dataset with its images '
                        'resized to --image-size (the policy input size; see resize_dataset)')
    p.add_argument('--suite', default='libero_object')
    p.add_argument('--tasks', nargs='+', default=['0'], help='task indices or names')
    p.add_argument('--init-states', default='0-24',
                   help="TRAINING initial states, e.g. '0-24' (keep the rest for evaluation)")
    p.add_argument('--repeats', type=int, default=1, help='episodes per initial state')
    p.add_argument('--noise', type=float, default=0.0,
                   help='std of Gaussian noise on the motion commands (recorded as executed)')
    p.add_argument('--labels', choices=LABELS, default='executed',
                   help="recorded action: 'executed' (noisy, as applied) or 'clean' (the "
                        "expert's unperturbed command: DART)")
    p.add_argument('--cameras', nargs='+', default=['agentview'])
    p.add_argument('--image-size', type=int, default=128, help='rendered size [px]')
    p.add_argument('--max-steps', type=int, default=None,
                   help="episode limit (default: the suite's, Object 280)")
    p.add_argument('--seed', type=int, default=7)
    p.add_argument('--keep-failures', action='store_true',
                   help='also keep episodes where the expert failed')
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.relabel_clean_from is not None:
        index = relabel_clean(args.relabel_clean_from, args.out)
        r = index['relabelled']
        print(f'{len(index["episodes"])} episodes relabelled (clean) in {args.out}; '
              f'{r["ambiguous_entries"]}/{r["motion_entries"]} clipped entries taken as +-1')
        return 0
    if args.resize_from is not None:
        index = resize_dataset(args.resize_from, args.out, args.image_size)
        print(f'{len(index["episodes"])} episodes resized to {args.image_size} px in {args.out}')
        return 0
    if args.repeats < 1:
        raise SystemExit('--repeats must be >= 1')
    index = make_demonstrations(args.out, args.suite, args.tasks, parse_range(args.init_states),
                                args.repeats, args.noise, args.cameras, args.image_size,
                                args.seed, args.keep_failures, args.max_steps,
                                labels=args.labels)
    ok = sum(a['success'] for a in index['attempts'])
    print(f'expert success {ok}/{len(index["attempts"])}; {len(index["episodes"])} episodes, '
          f'{index["num_transitions"]} transitions in {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
