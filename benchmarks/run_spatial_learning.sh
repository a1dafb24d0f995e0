#!/usr/bin/env bash
# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
#
# The LIBERO-Spatial learning result (issue #19), from expert demonstrations to the table,
# resumable: rerun the same command after any interruption and each step continues or is
# skipped. Run from the repository root in a prepared shell (source scripts/prepare_shell.sh).
#
#   1. expert demonstrations of tasks 2, 3, 8 on TRAINING states (0-14) only (folders a-f: the
#      split the first run used; a and b are the start of a larger plan cut short, kept as data)
#   2. the same frames at the policy's 64 px
#   3. SFT, 6 epochs, from sft:object_task0 with the proprioception token; a copy of every
#      epoch's checkpoint is kept as a candidate start (the SFT run keeps only its latest)
#   4. selection of the start, beside the SFT run (benchmarks/select_start.py: sampled at temperature 1 on selection
#      states 45-49 of each task, band 20-70% pooled, the shortest-trained candidate in the band)
#   5. the chosen start stored in bfloat16 as models/sft_spatial_t238_state
#   6. the experiment: SFT vs TGRPO, seeds 0 1 2, held-out states 25-44 of each task
#
# At most two heavy processes at a time (steps 3 and 4 overlap; the rest run one at a time).
set -euo pipefail
TASKS=(2 3 8)
SFT=runs/sft_spatial_e6
CAND=runs/sft_candidates
MODEL=models/sft_spatial_t238_state
OUT=benchmarks/results/experiment_spatial_t238
CLI=(python -m tgrpo_ros.commands.cli)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
DEMO=("${CLI[@]}" demonstrations --suite libero_spatial --repeats 1 --noise 0.1 --labels clean
      --cameras agentview --image-size 128 --seed 21)

# 1-2: demonstrations (a, b: repeats 2, stopped after three episodes each; c-f: as below)
if [ ! -f data/spatial_f_64/dataset.json ]; then
  "${DEMO[@]}" --tasks 3 8 --init-states 0-5 --out data/spatial_c
  "${DEMO[@]}" --tasks 3 8 --init-states 6-11 --out data/spatial_d
  "${DEMO[@]}" --tasks 2 --init-states 2-4 --out data/spatial_e
  "${DEMO[@]}" --tasks 2 --init-states 5-7 --out data/spatial_f
  for x in a b c d e f; do
    [ -d data/spatial_$x ] && [ ! -d data/spatial_${x}_64 ] && \
      "${CLI[@]}" demonstrations --resize-from data/spatial_$x --image-size 64 \
        --out data/spatial_${x}_64
  done
fi
DATA=()
for x in a b c d e f; do [ -d data/spatial_${x}_64 ] && DATA+=(data/spatial_${x}_64); done

# 3: SFT (resumed if interrupted), with a copy of each epoch's checkpoint as a candidate
copy_checkpoints() {
  mkdir -p "$CAND"
  [ -f "$SFT/last_complete.json" ] || return 0
  # a checkpoint is complete once last_complete.json names its epoch (or a later one)
  done_epoch=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['epoch'])" \
               "$SFT/last_complete.json")
  for ck in "$SFT"/checkpoints/epoch_*; do
    [ -d "$ck" ] || continue
    n=$(( 10#${ck##*_} ))
    [ "$n" -le "$done_epoch" ] || continue
    dst="$CAND/e6_epoch$n"
    [ -d "$dst" ] && continue
    tmp="$dst.tmp$BASHPID"
    rm -rf "$tmp" && mkdir -p "$tmp" || continue
    if cp "$ck"/*.json "$ck"/model.safetensors "$ck"/proprio.safetensors "$tmp"/ 2>/dev/null \
        && [ ! -d "$dst" ]; then mv "$tmp" "$dst"; else rm -rf "$tmp"; fi
  done
}
sft_pid=
if [ ! -d "$MODEL" ] && [ ! -d "$SFT/policy" ]; then
  RESUME=()
  [ -f "$SFT/last_complete.json" ] && RESUME=(--resume)
  "${CLI[@]}" sft --dataset "${DATA[@]}" --model sft:object_task0 --cameras agentview \
      --state eef_pos_x eef_pos_y eef_pos_z gripper_qpos_0 gripper_qpos_1 \
      --epochs 6 --shift-augment 4 --batch-size 96 --lr 5e-4 --warmup-steps 50 \
      --dtype float32 --seed 0 --quiet --out "$SFT" "${RESUME[@]}" &
  sft_pid=$!
  (while kill -0 "$sft_pid" 2>/dev/null; do copy_checkpoints; sleep 20; done
   copy_checkpoints) &
else
  copy_checkpoints
fi

# 4: selection, beside the SFT: each candidate is evaluated as soon as its checkpoint exists
chosen() {  # a start was chosen already (by this step or by select_start.py run by hand)
  python -c "import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))['chosen'] else 1)" \
      "$OUT/selection/selection.json" 2>/dev/null
}
if [ ! -d "$MODEL" ]; then
  chosen || python benchmarks/select_start.py --tasks "${TASKS[@]}" --states 45-49 --envs 2 \
      --candidates "$CAND"/e6_epoch3 "$CAND"/e6_epoch4 "$CAND"/e6_epoch5 "$CAND"/e6_epoch6 \
      --out "$OUT/selection"
  # 5: store the chosen one in bfloat16 (as models/sft_object_task0_state_short)
  python - "$OUT/selection/selection.json" "$MODEL" <<'EOF'
import json
import shutil
import sys
from pathlib import Path

import torch

from tgrpo_ros.policy.checkpoint import load_policy, save_policy

chosen = json.loads(Path(sys.argv[1]).read_text())['chosen']
policy = load_policy(chosen)
policy.backbone.to(torch.bfloat16)
tmp = Path(sys.argv[2] + '.tmp')
save_policy(policy, tmp)
shutil.copy(Path(sys.argv[1]).parents[1] / 'MODEL_README.md', tmp / 'README.md')
tmp.rename(sys.argv[2])
print(f'stored {chosen} as {sys.argv[2]}')
EOF
fi
# the start is chosen: the rest of the SFT run (longer candidates) is not needed
if [ -n "$sft_pid" ] && kill -0 "$sft_pid" 2>/dev/null; then kill "$sft_pid"; fi
wait

# 6: the experiment (resumable itself); one process, seeds in turn
python benchmarks/run_experiment.py --model sft:spatial_t238_state --suite libero_spatial \
    --tasks "${TASKS[@]}" --seeds 0 1 2 --methods tgrpo --iterations 12 --group-size 4 \
    --max-steps 160 --eval-max-steps 160 --eval-envs 2 --lr 3e-4 --eval-temperature 1 \
    --out "$OUT"
