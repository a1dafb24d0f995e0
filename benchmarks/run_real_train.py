# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Online TGRPO through the real-robot path on sim_robot, evaluated against its start (issue 18).

Two steps, each resumable (rerun the same command after a kill; finished parts are kept):

1. Training: ``tgrpo-ros launch real_train`` with the simulated arm and the scripted operator,
   from the shipped SFT start, rewards from the pose topics only (``reward_sources:=pose``: the
   dense stage reward rebuilt from the object and hand poses, the finger joints and the task
   geometry, as on a real arm with pose perception); each group's N trials run one after
   another from the group's start, restored by the operator with a placement error.
2. Held-out evaluation of the start policy and of the final adapter on the same initial states
   (25 + i, never trained on) with the same sampling seeds, through the same real path
   (``tgrpo_ros.sim.real_path``: the bridge's conversion with the mirrored camera, the adapter's
   SafetyFilter with the sim_franka profile, the Servo-style arm), in lockstep and in one
   process so that episode i of both policies is paired; success and the dense return come
   from the simulator.

Writes ``<out>/results.md`` and ``results.json`` (training per group, held-out success counts
with Wilson 95% intervals, the paired difference of dense return with its t interval, wall
times, machine)::

    MUJOCO_GL=egl python benchmarks/run_real_train.py --out benchmarks/results/real_train_sim
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
import subprocess
import sys
import time

import numpy as np
import yaml

# The repository and this folder (bench_sim, ...), also when a test imports the script.
sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from bench_interface_gap import paired_interval  # noqa: E402  (this script's folder)
from bench_sim import machine  # noqa: E402
from tgrpo_ros.real.robot_profile import load_profile  # noqa: E402
from tgrpo_ros.training.metrics import wilson_interval  # noqa: E402
from tgrpo_ros.training.state_files import write_durably  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / 'results'


def log(msg: str) -> None:
    print(f'[real_train_experiment {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def training_rows(run: Path) -> list[dict]:
    """Return the run's metrics rows, one per completed iteration (none before the first)."""
    f = run / 'metrics.csv'
    if not f.is_file():
        return []
    with open(f, newline='') as fh:
        return list(csv.DictReader(fh))


def train(args, run: Path) -> float:
    """Launch (or resume) real_train until ``args.iterations`` groups are done; wall seconds."""
    done = len(training_rows(run))
    if done >= args.iterations:
        log(f'training: {done} iterations already in {run}')
        return 0.0
    geometry = args.out / 'task_geometry.yaml'
    cli = [sys.executable, '-m', 'tgrpo_ros.commands.cli']
    if not geometry.is_file():
        subprocess.run(cli + ['task-geometry', '--suite', 'libero_object', '--task', '0',
                              '--out', str(geometry)], check=True, cwd=ROOT)
    cmd = cli + ['launch', 'real_train', f'model:={args.model}',
                 f'group_size:={args.group_size}', f'max_steps:={args.max_steps}',
                 f'iterations:={args.iterations}', 'eval_every:=0', 'completion:=all_done',
                 f'lr:={args.lr}', f'seed:={args.seed}', 'reward_sources:=pose',
                 f'placement_error_m:={args.placement_error_m}',
                 f'task_geometry:={geometry}', f'output_dir:={run}',
                 f'resume:={"true" if done else "false"}']
    log(f'training: {" ".join(cmd[3:])} ({done} iterations done before)')
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f'real_train exited with {proc.returncode}; logs in {run / "logs"}; '
                         'rerun this command to resume from the last complete iteration')
    return time.time() - t0


def final_adapter(run: Path) -> Path:
    adapters = sorted((run / 'adapters').glob('iter_*'))
    if not adapters:
        raise SystemExit(f'no adapter saved under {run / "adapters"}')
    return adapters[-1]


def evaluate(args, run: Path, eval_file: Path) -> list[dict]:
    """Held-out episodes of 'start' and 'final', paired by episode index (resumable)."""
    import torch  # noqa: PLC0415 - only the evaluation needs it
    from tgrpo_ros.sim.libero_env import LiberoEnv  # noqa: PLC0415
    from tgrpo_ros.sim.real_path import PathOptions, run_episode  # noqa: PLC0415
    from tgrpo_ros.sim.servo_arm import ServoArm  # noqa: PLC0415
    from tgrpo_ros.training.policy_setup import build_policy  # noqa: PLC0415
    torch.set_num_threads(1)
    episodes = json.loads(eval_file.read_text()) if eval_file.is_file() else []
    done = {(e['policy'], e['episode']) for e in episodes}
    config = yaml.safe_load((run / 'config.yaml').read_text())['settings']['policy']
    adapter = final_adapter(run)
    profile = load_profile(args.profile)
    env = LiberoEnv('libero_object', 0, cameras=('agentview',), image_size=128)
    arm = ServoArm(env)
    policies = {}
    for name, path in (('start', ''), ('final', str(adapter))):
        policies[name] = build_policy(args.model, cameras=('agentview',),
                                      lora_rank=config['lora_rank'],
                                      lora_alpha=config['lora_alpha'], adapter=path)
    for i in range(args.eval_episodes):
        state = args.first_eval_state + i
        for name, policy in policies.items():
            if (name, i) in done:
                continue
            t0 = time.time()
            r = run_episode(policy, arm, profile, state, args.seed, args.max_steps,
                            args.temperature, torch.Generator().manual_seed(1000 + i),
                            PathOptions(mirror_images=True), np.random.default_rng(1000 + i))
            episodes.append({'policy': name, 'episode': i, 'init_state': state,
                             'adapter': path_text(adapter) if name == 'final' else '',
                             'success': bool(r.success), 'steps': r.steps,
                             'dense_return': float(r.dense_return), 'max_stage': r.max_stage,
                             'wall_s': round(time.time() - t0, 1)})
            log(f'eval {name} episode {i} (state {state}): success {r.success}, '
                f'return {r.dense_return:.1f}, stage {r.max_stage}')
            write_durably(eval_file, json.dumps(episodes, indent=1).encode())
    env.close()
    return episodes


def path_text(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def summarise(args, run: Path, episodes: list[dict], train_s: float) -> dict:
    by = {name: {e['episode']: e for e in episodes if e['policy'] == name}
          for name in ('start', 'final')}
    paired = sorted(set(by['start']) & set(by['final']))
    out = {'machine': machine(), 'settings': {k: (path_text(v) if isinstance(v, Path) else v)
                                              for k, v in vars(args).items()},
           'run': path_text(run), 'train_wall_s': round(train_s, 1), 'paired_episodes':
           len(paired), 'policies': {}}
    for name in ('start', 'final'):
        eps = [by[name][i] for i in paired]
        k = sum(e['success'] for e in eps)
        lo, hi = wilson_interval(k, len(eps)) if eps else (float('nan'),) * 2
        out['policies'][name] = {
            'successes': k, 'episodes': len(eps), 'success_ci95': [lo, hi],
            'mean_dense_return': float(np.mean([e['dense_return'] for e in eps])) if eps
            else float('nan'), 'eval_wall_s': round(sum(e['wall_s'] for e in eps), 1)}
    diffs = [by['final'][i]['dense_return'] - by['start'][i]['dense_return'] for i in paired]
    mean, lo, hi = paired_interval(diffs)
    out['paired_return_diff'] = {'mean': mean, 'ci95': [lo, hi]}
    out['success_changes'] = {
        'start_fail_final_success': sum(not by['start'][i]['success'] and by['final'][i]['success']
                                        for i in paired),
        'start_success_final_fail': sum(by['start'][i]['success'] and not by['final'][i]['success']
                                        for i in paired)}
    out['training'] = [{k: r.get(k, '') for k in ('iteration', 'init_state', 'returns',
                                                  'mean_return', 'success_rate', 'masked_trials',
                                                  'lengths', 'update_time_s')}
                       for r in training_rows(run)]
    return out


def write(out_dir: Path, doc: dict) -> None:
    (out_dir / 'results.json').write_text(json.dumps(doc, indent=1))
    s, p = doc['settings'], doc['policies']
    m = doc['machine']
    lines = [
        '# Online TGRPO through the real path on sim_robot (issue 18)', '',
        f"Start: `{s['model']}` (LIBERO-Object task 0). Training: `tgrpo-ros launch real_train` "
        f"(sim_robot, sim_franka profile, scripted operator restoring each group's start with "
        f"{s['placement_error_m']} m placement error per axis), {s['iterations']} groups of "
        f"{s['group_size']} trials one after another, at most {s['max_steps']} control steps, "
        f"rewards from the pose topics only, lr {s['lr']}, seed {s['seed']}, trials run to "
        f"the end (completion all_done). Training wall time {doc['train_wall_s'] / 60:.1f} min "
        '(0 when an earlier invocation trained).', '',
        f"Held-out evaluation: initial states {s['first_eval_state']}-"
        f"{s['first_eval_state'] + s['eval_episodes'] - 1} (never trained on), scene seed "
        f"{s['seed']}, sampling seed 1000 + i for episode i of both policies, temperature "
        f"{s['temperature']}, through `tgrpo_ros.sim.real_path` (bridge with mirrored camera, "
        'SafetyFilter with sim_franka, Servo-style arm; lockstep, one process). Success and '
        "dense return are the simulator's.", '',
        f"Machine: {m['cpu']}, {m['cores']} cores, load {m['load_1min_at_start']} at the "
        "summary's start, no GPU.", '',
        '| policy | held-out success | rate [95% CI] | mean dense return | eval wall time |',
        '| --- | --- | --- | --- | --- |']
    for name in ('start', 'final'):
        q = p[name]
        lo, hi = q['success_ci95']
        lines.append(f"| {name} | {q['successes']}/{q['episodes']} | "
                     f"{q['successes'] / max(q['episodes'], 1):.2f} [{lo:.2f}, {hi:.2f}] | "
                     f"{q['mean_dense_return']:.1f} | {q['eval_wall_s'] / 60:.1f} min |")
    d = doc['paired_return_diff']
    c = doc['success_changes']
    lines += ['', f"Paired difference of dense return, final - start, over "
              f"{doc['paired_episodes']} episodes: {d['mean']:+.1f} (95% t interval "
              f"[{d['ci95'][0]:+.1f}, {d['ci95'][1]:+.1f}]). Episodes where only the final "
              f"policy succeeded: {c['start_fail_final_success']}; only the start: "
              f"{c['start_success_final_fail']}.", '', '## Training groups', '',
              'Returns are the pose-topic dense reward the learner trained on.', '',
              '| iteration | initial state | returns of the trials | mean | success rate | '
              'masked | trial lengths |', '| --- | --- | --- | --- | --- | --- | --- |']
    for r in doc['training']:
        returns = '; '.join(f'{float(x):.1f}' for x in r['returns'].split(';') if x)
        lines.append(f"| {r['iteration']} | {r['init_state']} | {returns} | "
                     f"{float(r['mean_return']):.1f} | {r['success_rate']} | "
                     f"{r['masked_trials']} | {r['lengths']} |")
    (out_dir / 'results.md').write_text('\n'.join(lines) + '\n')


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', type=Path, default=RESULTS / 'real_train_sim')
    p.add_argument('--model', default='sft:object_task0_state_short')
    p.add_argument('--profile', default='sim_franka')
    p.add_argument('--iterations', type=int, default=6, help='groups (issue 18: at least 6)')
    p.add_argument('--group-size', type=int, default=4)
    p.add_argument('--max-steps', type=int, default=160)
    p.add_argument('--lr', type=float, default=1e-4, help="the main job's")
    p.add_argument('--seed', type=int, default=7)
    p.add_argument('--placement-error-m', type=float, default=0.01)
    p.add_argument('--eval-episodes', type=int, default=20)
    p.add_argument('--first-eval-state', type=int, default=25)
    p.add_argument('--temperature', type=float, default=1.0)
    p.add_argument('--skip-eval', action='store_true', help='train only')
    args = p.parse_args(argv)
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    run = args.out / 'run'
    train_s = train(args, run)
    if train_s:
        (args.out / 'train_wall_s.txt').write_text(f'{train_s:.1f}\n')
    elif (args.out / 'train_wall_s.txt').is_file():
        train_s = float((args.out / 'train_wall_s.txt').read_text())
    if args.skip_eval:
        return 0
    episodes = evaluate(args, run, args.out / 'eval_episodes.json')
    doc = summarise(args, run, episodes, train_s)
    write(args.out, doc)
    print((args.out / 'results.md').read_text())
    return 0


if __name__ == '__main__':
    sys.exit(main())
