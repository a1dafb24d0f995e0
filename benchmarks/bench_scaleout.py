#!/usr/bin/env python3
# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Throughput with the environments spread over 1, 2 and 3 hosts (network namespaces; #22).

Every layout runs the same training: the sim_train graph's learner and policy in namespace 0,
E environment nodes (``sim_rollout_host``) spread over the first k namespaces (round robin, so
k = 1 puts all of them beside the learner, k = 3 with E = 4 puts 2, 1, 1), Fast DDS held to
UDPv4 so the steps cross the links, groups of E run to the step limit (``completion
all_done``: the same work in every layout), no evaluation. A reference row runs the ordinary
graph (sim_train starting its own E environments, every Fast DDS transport, shared memory
included) in namespace 0. Layouts alternate within each repeat so slow drift in the machine's
load reaches all of them alike.

The machine's cores are the same in every layout: the figure is the overhead of the network
path and of spreading, as a ratio of environment steps per second of rollout (iterations 2..N
of metrics.csv; the first holds discovery and warm-up) to the reference. Bytes through each
namespace's link are reported as the check that the data did cross.

Needs root (``ip netns``). Writes benchmarks/results/scaleout_namespaces.json and .md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tgrpo_ros.ros.network_namespaces import Hosts, hosts_on_one_machine  # noqa: E402

LAUNCH = [sys.executable, '-m', 'tgrpo_ros.commands.cli', 'launch']


def spread(envs: int, hosts: int) -> list[int]:
    """Return environments per namespace, round robin over ``hosts`` (4 over 3: [2, 1, 1])."""
    return [len(range(i, envs, hosts)) for i in range(hosts)]


def rollout_rate(run: Path) -> tuple[float, int, float]:
    """Return (steps/s of rollout, steps, rollout s) over iterations 2..N of run/metrics.csv."""
    with open(run / 'metrics.csv', newline='') as f:
        rows = [r for r in csv.DictReader(f) if int(r['iteration']) >= 2]
    if not rows:
        raise RuntimeError(f'{run}/metrics.csv has no iteration after the first')
    masked = [r['masked_trials'] for r in rows if r.get('masked_trials', '0') not in ('', '0')]
    if masked:
        raise RuntimeError(f'{run}: trials were masked ({masked}); the figures would not be '
                           'the same work as the other layouts')
    steps = sum(int(r['env_steps']) for r in rows)
    secs = sum(float(r['rollout_time_s']) for r in rows)
    return steps / secs, steps, secs


def run_layout(hosts: Hosts, layout: str, args, work: Path) -> dict:
    """Run one training in ``layout`` ('graph' or 'k<n>') and return its row."""
    domain = random.SystemRandom().randint(1, 101)
    env = dict(os.environ, MUJOCO_GL='egl', ROS_DOMAIN_ID=str(domain),
               ROS_AUTOMATIC_DISCOVERY_RANGE='SUBNET', PYTHONUNBUFFERED='1',
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get('PYTHONPATH'))
                                          if p))
    settings = [f'image_size:={args.image_size}', f'max_steps:={args.max_steps}']
    train = [*settings, f'model:={args.model}', f'group_size:={args.envs}',
             f'iterations:={args.iterations}', 'completion:=all_done', 'eval_every:=0',
             f'seed:={args.seed}']
    out = work / f'{layout}_{time.monotonic_ns()}'
    per_host = []
    rollout = []
    if layout != 'graph':
        env['FASTDDS_BUILTIN_TRANSPORTS'] = 'UDPv4'
        per_host = spread(args.envs, int(layout[1:]))
        for i, count in enumerate(per_host):
            folder = out / f'host{i}'
            folder.mkdir(parents=True)
            with open(folder / 'launch.log', 'w') as log:  # the child keeps its own copy
                rollout.append(subprocess.Popen(
                    [*hosts.run_in(i), *LAUNCH, 'sim_rollout_host', f'envs:={count}',
                     f'host:=h{i}', *settings], env=env, cwd=folder, stdout=log,
                    stderr=subprocess.STDOUT))
        train += ['env_discovery:=graph', 'local_envs:=0']
    before = [hosts.link_bytes(i) for i in range(len(hosts.names))]
    t0 = time.monotonic()
    try:
        done = subprocess.run([*hosts.run_in(0), *LAUNCH, 'sim_train', *train,
                               f'output_dir:={out / "run"}'], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=args.timeout)
    finally:
        for p in rollout:
            p.send_signal(signal.SIGINT)  # the launcher stops its nodes
        for p in rollout:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    wall = time.monotonic() - t0
    moved = [hosts.link_bytes(i) - b for i, b in enumerate(before)]
    if done.returncode != 0:
        raise RuntimeError(f'{layout}: sim_train exited {done.returncode}:\n'
                           f'{done.stdout[-3000:]}\n{done.stderr[-3000:]}')
    rate, steps, secs = rollout_rate(out / 'run')
    return {'layout': layout, 'envs_per_namespace': per_host or [args.envs],
            'steps_per_s': round(rate, 3), 'steps': steps, 'rollout_s': round(secs, 2),
            'wall_s': round(wall, 1), 'link_bytes': moved}


def machine() -> str:
    load = os.getloadavg()[0]
    return (f'{platform.machine()}, {os.cpu_count()} CPU cores, no GPU '
            f'(1-min load {load:.2f} at the start)')


def summarise(rows: list[dict], layouts: list[str]) -> list[dict]:
    """Per layout: the median steps/s over repeats and its ratio to the reference's median."""
    by = {lay: [r for r in rows if r['layout'] == lay] for lay in layouts}
    med = {lay: statistics.median(r['steps_per_s'] for r in by[lay]) for lay in layouts}
    ref = med[layouts[0]]
    return [{'layout': lay, 'runs': len(by[lay]),
             'steps_per_s': [r['steps_per_s'] for r in by[lay]],
             'median_steps_per_s': round(med[lay], 3),
             'ratio_to_reference': round(med[lay] / ref, 3),
             'link_bytes_last_run': by[lay][-1]['link_bytes']}
            for lay in layouts]


LABEL = {'graph': 'reference: sim_train with its own environments, every transport',
         'k1': "environments on 1 namespace (the learner's), UDPv4",
         'k2': 'environments on 2 namespaces, UDPv4',
         'k3': 'environments on 3 namespaces, UDPv4'}


def write_markdown(path: Path, doc: dict) -> None:
    lines = ['# Scale-out overhead: environments on 1, 2 and 3 network namespaces', '',
             f"{doc['what']}", '', f"Machine: {doc['machine']}. Date: {doc['date']}. "
             f"Command: `{doc['command']}`.", '',
             '| layout | envs per namespace | runs | rollout steps/s (each run) | median | '
             'ratio to reference | bytes through each link (last run) |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    per = {r['layout']: r['envs_per_namespace'] for r in doc['runs']}
    for s in doc['summary']:
        lines.append(f"| {LABEL[s['layout']]} | {per[s['layout']]} | {s['runs']} | "
                     f"{', '.join(f'{x:.2f}' for x in s['steps_per_s'])} | "
                     f"{s['median_steps_per_s']:.2f} | {s['ratio_to_reference']:.2f} | "
                     f"{', '.join(f'{b / 1e6:.1f} MB' for b in s['link_bytes_last_run'])} |")
    path.write_text('\n'.join(lines) + '\n')


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--envs', type=int, default=4, help='environment nodes = group size')
    ap.add_argument('--layouts', default='graph,k1,k2,k3',
                    help="comma-separated: 'graph' (reference) and 'k<n>' (n namespaces)")
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--iterations', type=int, default=3, help='per run; the first is not timed')
    ap.add_argument('--max-steps', type=int, default=50, help='steps per episode')
    ap.add_argument('--image-size', type=int, default=128, help='render size [px]')
    ap.add_argument('--model', default='sft:object_task0_state_short')
    ap.add_argument('--seed', type=int, default=7)
    ap.add_argument('--timeout', type=float, default=900, help='per run [s]')
    ap.add_argument('--out', type=Path,
                    default=ROOT / 'benchmarks' / 'results' / 'scaleout_namespaces.json')
    args = ap.parse_args(argv)
    layouts = args.layouts.split(',')
    bad = [lay for lay in layouts if lay not in LABEL]
    if bad:
        ap.error(f'--layouts: unknown {bad}; known: {sorted(LABEL)}')
    count = max([int(lay[1:]) for lay in layouts if lay != 'graph'] + [1])
    doc = {'what': f'{args.envs} LIBERO-Object task 0 environment nodes = one group, episodes '
                   f'of {args.max_steps} steps at {args.image_size} px, model {args.model}, '
                   f'{args.iterations} iterations per run (the first not timed), no '
                   'evaluation; figure: environment steps per second of rollout.',
           'machine': machine(), 'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
           'command': 'python benchmarks/bench_scaleout.py (as root) '
                      + ' '.join(argv if argv is not None else sys.argv[1:]),
           'runs': []}
    with tempfile.TemporaryDirectory(prefix='scaleout_') as tmp, \
            hosts_on_one_machine(count) as hosts:
        for rep in range(args.repeats):
            for lay in layouts:
                row = run_layout(hosts, lay, args, Path(tmp))
                row['repeat'] = rep
                doc['runs'].append(row)
                print(f"repeat {rep} {lay}: {row['steps_per_s']:.2f} steps/s "
                      f"({row['steps']} steps in {row['rollout_s']} s of rollout, wall "
                      f"{row['wall_s']} s), link bytes {row['link_bytes']}", flush=True)
    doc['summary'] = summarise(doc['runs'], layouts)
    for s in doc['summary']:
        print(f"{s['layout']}: median {s['median_steps_per_s']:.2f} steps/s, ratio "
              f"{s['ratio_to_reference']:.2f} to the reference")
    args.out.write_text(json.dumps(doc, indent=2))
    write_markdown(args.out.with_suffix('.md'), doc)
    print(f'written {args.out} and {args.out.with_suffix(".md")}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
