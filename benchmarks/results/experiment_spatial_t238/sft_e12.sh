#!/usr/bin/env bash
# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
# Started 2026-12-07 12:02 UTC (from a copy in /tmp) beside the selection of the 6-epoch
# candidates, after the first of them (epoch 3) succeeded 0/15; each epoch's checkpoint is
# copied to runs/sft_candidates/e12_epochN. Resumable: rerun it.
# the next candidates if every 6-epoch one is below the band: 12 epochs, same recipe
set -u
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1
SFT=runs/sft_spatial_e12; CAND=runs/sft_candidates
DATA=(data/spatial_a_64 data/spatial_b_64 data/spatial_c_64 data/spatial_d_64 data/spatial_e_64 data/spatial_f_64)
RESUME=(); [ -f $SFT/last_complete.json ] && RESUME=(--resume)
python -m tgrpo_ros.commands.cli sft --dataset "${DATA[@]}" --model sft:object_task0 --cameras agentview \
  --state eef_pos_x eef_pos_y eef_pos_z gripper_qpos_0 gripper_qpos_1 --epochs 12 --shift-augment 4 \
  --batch-size 96 --lr 5e-4 --warmup-steps 50 --dtype float32 --seed 0 --quiet --out $SFT "${RESUME[@]}" &
pid=$!
copy() {
  [ -f $SFT/last_complete.json ] || return 0
  e=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['epoch'])" $SFT/last_complete.json)
  for ck in $SFT/checkpoints/epoch_*; do
    [ -d "$ck" ] || continue; n=$((10#${ck##*_})); [ $n -le $e ] || continue
    d=$CAND/e12_epoch$n; [ -d $d ] && continue
    mkdir -p $d.tmp && cp $ck/*.json $ck/model.safetensors $ck/proprio.safetensors $d.tmp/ && mv $d.tmp $d
  done
}
while kill -0 $pid 2>/dev/null; do copy; sleep 20; done; copy
