#!/usr/bin/env python3
# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Where one iteration's CPU time goes, over ROS 2 and in one process, at 2 and 4 environments.

Runs the whole loop (the main job's settings, evaluations off: ``bench_loop.run_loop``) under a
sampling profiler, py-spy (``pip install py-spy``; it reads the processes' stacks from outside,
so the code runs unchanged), attached to the loop's process and every process it starts. Each
sample of a thread that is running (not blocked) is put in one part by the frames on its stack:

  render (MuJoCo offscreen rendering), physics (MuJoCo stepping and the arm's controller),
  reward (the dense reward's reading of the simulator state), env other (the rest of LIBERO's
  step and observation), conversion (observations and actions to and from messages or
  arrays), transport (rclpy publishing, taking and executing callbacks), policy forward
  (sampling actions), update (the learner's gradient steps), saving (adapters, run folder),
  start-up (imports, building environments and models), other; and waiting: a thread
  blocked in C (``BLOCKING``: the innermost Python frame waits on rcl_wait, a lock or a pipe),
  which py-spy's own idle test misses when it cannot match a thread to the OS's.

The parts but waiting are CPU time.
On a 2-core machine the parts compete for the same cores, so the sum over processes is the
machine's CPU time per iteration, the figure that bounds throughput.

Writes benchmarks/results/<name>.{json,md}. Needs a quiet machine.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
import json
import os
from pathlib import Path
import platform
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_loop import _commit, ROOT, run_loop, write_report  # noqa: E402

# Part of a stack: the first rule (in this order) any frame of the stack matches.
RULES = [
    ('start-up', ('_find_and_load', 'MjSim.from_xml_string', 'RobotEnv.__init__',
                  'MjRenderContext.__init__', 'build_policy', 'policy_for', 'load_settings',
                  '_initialize_sim', 'EnvGroup.__init__')),
    ('update', ('TGRPOTrainer.update', 'critic_values', 'optimizer', 'Optimizer.')),
    ('saving', ('save_adapter', 'complete_iteration', 'RunFolder.', 'SummaryWriter',
                'event_file_writer')),
    ('render', ('MjSim.render', 'read_pixels', 'MjRenderContext.render')),
    ('reward', ('reward_generation', 'reward_spec', 'perceived_state', 'sim_state',
                '_read_sim_state', '_check_success', 'check_success', 'StageReward',
                'RewardSpec')),
    ('physics', ('MjSim.step', 'MjSim.forward', 'run_controller', '_pre_action',
                 'Controller.update')),
    ('env other', ('libero', 'robosuite', 'LiberoEnv.', 'env_wrapper')),
    ('conversion', ('conversions.py', 'images.py', 'msg_to_', '_to_msg', 'from_msg')),
    ('policy forward', ('.sample (', 'token_policy', 'prismatic', 'modeling_llama',
                        'torch', 'Module._call_impl')),
    ('transport', ('rclpy', 'executors.py', 'publish', 'take_', 'Subscription', 'Client.',
                   'Service.')),
]
PARTS = [name for name, _ in RULES] + ['other', 'waiting']


# A stack whose innermost Python frame is one of these is blocked in C (rcl_wait, a lock, a
# pipe): py-spy cannot always tell such a thread is idle, so the frame name decides.
BLOCKING = {'_wait_for_ready_callbacks', 'wait', '_worker', 'get', 'select', 'sleep', 'poll',
            '_recv', 'recv', 'recv_bytes', '_recv_bytes', 'accept', 'readline', 'communicate',
            'join', '_wait_for_tstate_lock', 'wait_for_service', 'spin_until_future_complete'}


def part_of(frames: list[str]) -> str:
    """Return the part of one sampled stack (outermost frame first)."""
    if frames and frames[-1].split(' (')[0].rsplit('.', 1)[-1] in BLOCKING:
        return 'waiting'
    for name, needles in RULES:
        for frame in frames:
            if any(n in frame for n in needles):
                return name
    return 'other'


def role_of(cmdline: str) -> str:
    m = re.search(r'nodes\.(\w+)', cmdline)
    if m:
        return m.group(1)
    if 'multiprocessing' in cmdline or 'spawn_main' in cmdline or 'forkserver' in cmdline:
        return 'env worker'
    if ' launch ' in cmdline:
        return 'launcher'
    if ' train ' in cmdline:
        return 'train (in-process)'
    return 'other process'


def read_profile(path: Path, rate: float) -> dict[str, dict[str, float]]:
    """CPU seconds by process role and part, from py-spy's raw (collapsed) output."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(' ')
        frames = stack.split(';')
        procs = [f for f in frames if f.startswith('process ')]
        role = role_of(procs[-1]) if procs else 'other process'
        code = [f for f in frames if not f.startswith('process ')]
        out[role][part_of(code)] += int(count) / rate
    return {r: dict(p) for r, p in out.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--py-spy', default=shutil.which('py-spy') or 'py-spy')
    ap.add_argument('--iterations', type=int, default=3)
    ap.add_argument('--rate', type=int, default=25, help='samples per second per thread')
    ap.add_argument('--configs', default='ros:4,inproc:4,ros:2,inproc:2')
    ap.add_argument('--work', type=Path, default=Path('/tmp/tgrpo_bench_profile'))
    ap.add_argument('--name', default='profile')
    ap.add_argument('--timeout', type=float, default=1200.0)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    k = args.iterations
    t0 = time.time()
    load = os.getloadavg()[0]
    runs = []
    for config in args.configs.split(','):
        path, n = config.split(':')
        name = f'{path}_{n}envs'
        out = args.work / name
        raw = args.work / f'{name}.pyspy.txt'
        if path == 'ros':
            command = (f'tgrpo-ros launch sim_train iterations:={k} eval_every:=0 '
                       f'group_size:={n} output_dir:={out}')
        else:
            command = (f'tgrpo-ros train --set run.iterations={k} eval.every=0 '
                       f'algo.group_size={n} run.output_dir={out}')
        spy: list[subprocess.Popen] = []

        def attach(pid: int, raw=raw, spy=spy) -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # until bash has exec'd Python (and the ROS
                try:                            # wheels' bootstrap has exec'd it again)
                    if 'python' in os.readlink(f'/proc/{pid}/exe') and (
                            b'_ROS_WHEELS_BOOTSTRAP_COMPLETE' in
                            Path(f'/proc/{pid}/environ').read_bytes()):
                        break
                except OSError:
                    return
                time.sleep(0.2)
            time.sleep(1.0)
            spy.append(subprocess.Popen(
                [args.py_spy, 'record', '--pid', str(pid), '--subprocesses', '--format', 'raw',
                 '--rate', str(args.rate), '-o', str(raw)],
                stdout=open(args.work / f'{name}.pyspy.log', 'w'), stderr=subprocess.STDOUT))
        result = run_loop(name, ROOT, command, out, k, args.timeout, on_start=attach)
        for p in spy:
            p.wait(120)  # py-spy stops and writes when its target exits
        result['cpu_s_by_role'] = read_profile(raw, args.rate) if raw.is_file() else {}
        runs.append(result)
        print(json.dumps({x: result.get(x) for x in ('name', 'env_steps_per_s', 'iterations',
                                                     'error')}), flush=True)
    report = {'benchmark': args.name, 'commit': _commit(),
              'date_utc': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t0)),
              'machine': {'platform': platform.platform(), 'cpus': os.cpu_count()},
              'load_at_start': round(load, 2), 'iterations_per_run': k,
              'sample_rate_hz': args.rate, 'parts': PARTS, 'runs': runs}
    write_report(args.name, report, markdown(report))
    return 0


def markdown(r: dict) -> str:
    lines = [f'# Profile of the whole loop ({r["date_utc"]}, commit {r["commit"]})', '',
             f'Machine: {r["machine"]["platform"]}, {r["machine"]["cpus"]} CPUs; 1-min load at '
             f'start {r["load_at_start"]}. py-spy at {r["sample_rate_hz"]} Hz on every process; '
             "CPU seconds per iteration: the run's CPU in each part divided by its iterations "
             "(start-up is a part of its own). The script's docstring defines the parts.",
             '']
    for run in r['runs']:
        roles = run.get('cpu_s_by_role', {})
        iters = max(run.get('iterations', 0), 1)
        if not roles:
            lines += [f'## {run["name"]}: no profile ({run.get("error", "")})', '']
            continue
        parts = [p for p in r['parts'] if any(roles[x].get(p, 0) for x in roles)]
        lines += [f'## {run["name"]}: {run.get("env_steps_per_s", "-")} env steps/s, '
                  f'{iters} iterations, wall {run.get("wall_s")} s '
                  f'(timed: {run.get("timed_wall_s", "-")} s for '
                  f'{run.get("timed_iterations", "-")} iterations)', '',
                  '| process | ' + ' | '.join(parts) + ' | total |',
                  '|---|' + '---|' * (len(parts) + 1)]
        totals = defaultdict(float)
        for role in sorted(roles):
            row = roles[role]
            for p in parts:
                totals[p] += row.get(p, 0.0)
            lines.append(f'| {role} | ' + ' | '.join(f'{row.get(p, 0.0) / iters:.1f}'
                                                     for p in parts)
                         + f' | {sum(row.values()) / iters:.1f} |')
        lines.append('| **all** | ' + ' | '.join(f'**{totals[p] / iters:.1f}**' for p in parts)
                     + f' | **{sum(totals.values()) / iters:.1f}** |')
        busy = sum(v for p, v in totals.items() if p not in ('waiting', 'start-up'))
        lines += ['', f'CPU per iteration, start-up and waiting left out: {busy / iters:.1f} s '
                  f'(the machine has {r["machine"]["cpus"]} cores).']
        lines.append('')
    return '\n'.join(lines)


if __name__ == '__main__':
    sys.exit(main())
