#!/usr/bin/env python3
# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Throughput of the rollout loop: in one process vs over ROS 2 topics (the middleware's cost).

For N = 1, 2, 4 environments and the same work (S policy steps per environment, tiny model,
one 128 px camera, LIBERO-Object task 0):

- in-process: N LiberoEnv in this process, one batched policy call per step (the in-process
  loop's rollout, ``tgrpo_ros.training.rollout``);
- over ROS 2: N sim_env_node processes + policy_node, driven by this script as the learner
  would (reset services, step results counted on /step_result).

Writes benchmarks/results/sim_train_throughput.json and prints a table. The whole TGRPO loop
(updates included) is measured by the main job itself: its metrics.csv has rollout and update
times per iteration. Run on a quiet machine; the numbers are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import platform
import random
import statistics
import subprocess
import sys
import time

ROOT = Path(__file__).resolve().parents[1]


def in_process(n: int, steps: int) -> float:
    import torch

    from tgrpo_ros.sim.libero_env import LiberoEnv
    from tgrpo_ros.training.policy_setup import build_policy
    envs = [LiberoEnv('libero_object', 0, cameras=('agentview',), image_size=128,
                      max_steps=steps) for _ in range(n)]
    torch.set_num_threads(1)  # as the policy node and the learner do (torch_threads)
    policy = build_policy('tiny:test', seed=7)
    gen = torch.Generator().manual_seed(0)
    try:
        obs = [e.reset(0, 7) for e in envs]
        t0 = time.monotonic()
        for _ in range(steps):
            sample = policy.sample(obs, 1.0, gen)
            obs = [e.step(a)[0] for e, a in zip(envs, sample.actions)]
        return n * steps / (time.monotonic() - t0)
    finally:
        for e in envs:
            e.close()


def over_ros(n: int, steps: int) -> float:
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from tgrpo_ros.msg import StepResult
    from tgrpo_ros.srv import ResetEnv
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(1, 100)), MUJOCO_GL='egl',
               PYTHONPATH=f'{ROOT}:{os.environ.get("PYTHONPATH", "")}')
    shared = ['-r', 'observation:=/observation', '-r', 'action:=/action',
              '-r', 'step_result:=/step_result', '-r', 'policy_version:=/policy_version']
    procs = [subprocess.Popen([sys.executable, '-m', 'tgrpo_ros.ros.nodes.sim_env_node',
                               '--ros-args', '-r', f'__ns:=/env{i}', *shared], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i in range(n)]
    procs.append(subprocess.Popen([sys.executable, '-m', 'tgrpo_ros.ros.nodes.policy_node',
                                   '--ros-args', '-p', 'policy.model:=tiny:test'], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    os.environ['ROS_DOMAIN_ID'] = env['ROS_DOMAIN_ID']
    rclpy.init()
    node = Node('bench_driver')
    done: dict[int, int] = {}  # group id -> step results received

    def on_result(m):
        done[m.ids.group_id] = done.get(m.ids.group_id, 0) + 1

    node.create_subscription(StepResult, '/step_result', on_result,
                             QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))
    try:
        # Warm-up episode (environment construction, first forward pass), then the timed one.
        for group in (1, 2):
            futures = []
            for i in range(n):
                client = node.create_client(ResetEnv, f'/env{i}/reset')
                assert client.wait_for_service(timeout_sec=300)
                futures.append(client.call_async(ResetEnv.Request(
                    task='0', init_state_index=0, seed=7, group_id=group, max_steps=steps)))
            # The clock starts when every environment has answered its reset (construction
            # and the wait steps are not the loop's work); steps are counted by group id, so
            # results that arrive while the last reset is still being answered still count.
            while not all(f.done() for f in futures):
                rclpy.spin_once(node, timeout_sec=0.05)
            t0 = time.monotonic()
            while done.get(group, 0) < n * steps:
                rclpy.spin_once(node, timeout_sec=0.05)
                if time.monotonic() - t0 > 900:
                    raise TimeoutError(f'only {done} steps after 900 s')
            rate = n * steps / (time.monotonic() - t0)
        return rate
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--envs', default='1,2,4')
    ap.add_argument('--steps', type=int, default=30, help='policy steps per environment')
    ap.add_argument('--repeats', type=int, default=1,
                    help='runs of each path per N, alternated (ROS first on odd repeats) so '
                    "a change in the machine's load falls on both; the rows give medians")
    ap.add_argument('--out', default=str(ROOT / 'benchmarks' / 'results'
                                         / 'sim_train_throughput.json'))
    args = ap.parse_args()
    load = os.getloadavg()[0]
    rows = []
    for n in [int(x) for x in args.envs.split(',')]:
        runs: dict[str, list[float]] = {'in_process': [], 'ros': []}
        for r in range(args.repeats):
            for path in (('ros', 'in_process') if r % 2 else ('in_process', 'ros')):
                rate = (over_ros if path == 'ros' else in_process)(n, args.steps)
                runs[path].append(round(rate, 3))
        a, b = statistics.median(runs['in_process']), statistics.median(runs['ros'])
        rows.append({'envs': n, 'steps_per_env': args.steps,
                     'in_process_steps_per_s': round(a, 3), 'ros_steps_per_s': round(b, 3),
                     'ros_over_in_process': round(b / a, 3),
                     'in_process_runs': runs['in_process'], 'ros_runs': runs['ros']})
        print(f'N={n}: in-process {a:.2f} steps/s, over ROS 2 {b:.2f} steps/s '
              f'(medians of {args.repeats}), ratio {b / a:.2f}', flush=True)
    result = {'benchmark': 'rollout throughput, tiny:test policy, agentview 128 px, '
                           'LIBERO-Object task 0',
              'machine': f'{platform.machine()}, {os.cpu_count()} CPU cores, no GPU',
              'date': time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime()),
              'load_1min_at_start': round(load, 2), 'repeats': args.repeats, 'rows': rows}
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f'written {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
