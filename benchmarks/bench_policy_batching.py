# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Group-aware batching of policy_node: actions/s and forward passes per step (issue 21).

Two policy_node processes (tiny:test, one torch thread) run side by side in namespaces
``/old`` (``policy.batch_window_s`` 0: whatever arrived within the 2 ms tick, the behaviour
before) and ``/new`` (the window given). This process plays 1, 2 and 4 simulated environments of
one group: they start together, and each sends its next observation (64 x 64 rgb8, one camera)
``--step-ms`` (+- ``--jitter``, uniform) after its action arrived, as a LIBERO environment
steps in its own process. Old and new alternate in short rounds so that the load of a shared
machine falls on both alike.

Measured per configuration, over ``--seconds`` (after the first action):
actions/s (all environments), forward passes per environment step (distinct action stamps:
the node stamps every action of one pass alike, divided by actions / N), and the hold from an
observation's publication to its action's arrival (p50, max).

Usage: nice -n 10 python benchmarks/bench_policy_batching.py [--seconds 6] [--window 0.03]
Writes benchmarks/results/policy_batching.json and .md.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
from pathlib import Path
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / 'test')]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seconds', type=float, default=6.0, help='per round and mode')
    parser.add_argument('--rounds', type=int, default=2, help='old/new alternations per N')
    parser.add_argument('--window', type=float, default=0.03, help='new batch_window_s [s]')
    parser.add_argument('--step-ms', type=float, default=30.0, help='simulated env step [ms]')
    parser.add_argument('--jitter', type=float, default=0.3, help='relative, uniform +-')
    parser.add_argument('--envs', type=int, nargs='+', default=[1, 2, 4])
    parser.add_argument('--out', default=str(ROOT / 'benchmarks' / 'results'))
    ns = parser.parse_args(argv)
    os.environ['ROS_DOMAIN_ID'] = str(random.SystemRandom().randint(1, 101))
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'

    from helpers import start_node, stop_process
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from std_msgs.msg import Header

    from tgrpo_ros.msg import Action, Observation as ObservationMsg
    from tgrpo_ros.observation import Observation
    from tgrpo_ros.ros.conversions import ids_msg, observation_to_msg

    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    modes = {'old': 0.0, 'new': ns.window}

    class Envs(Node):
        """Simulated environments: next observation a step time after each action."""

        def __init__(self):
            super().__init__('bench_policy_batching')
            self.pubs = {m: self.create_publisher(ObservationMsg, f'/{m}/observation', reliable)
                         for m in modes}
            for m in modes:
                self.create_subscription(Action, f'/{m}/action', self._on_action, reliable)
            img = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
            self.template = Observation(images={'agentview': img}, instruction='pick up the '
                                        'alphabet soup and place it in the basket',
                                        task='libero_object/test')
            self.cv = threading.Condition()
            self.queue: list = []  # (due, seq, mode, env, group, step)
            self.seq = 0
            self.sent: dict = {}  # (env, group, step) -> publish time
            self.got: list = []  # (arrival, env, group, step, stamp)
            self.answered: set = set()
            self.active = None  # (mode, group, n): actions of other runs are ignored
            self.rng = random.Random(1)
            self.stop = False
            threading.Thread(target=self._sender, daemon=True).start()

        def schedule(self, due, mode, env, group, step):
            with self.cv:
                heapq.heappush(self.queue, (due, self.seq, mode, env, group, step))
                self.seq += 1
                self.cv.notify()

        def _sender(self):
            while True:
                with self.cv:
                    while not self.stop and (not self.queue
                                             or self.queue[0][0] > time.monotonic()):
                        self.cv.wait(None if not self.queue
                                     else max(0.0, self.queue[0][0] - time.monotonic()))
                    if self.stop:
                        return
                    _, _, mode, env, group, step = heapq.heappop(self.queue)
                msg = observation_to_msg(self.template, ids_msg(env, group, step, group),
                                         Header(frame_id='world'))
                self.sent[(env, group, step)] = time.monotonic()
                self.pubs[mode].publish(msg)

        def _on_action(self, a):
            now = time.monotonic()
            key = (a.ids.env_id, a.ids.group_id, a.ids.step)
            if (self.active is None or a.ids.group_id != self.active[1]
                    or key not in self.sent or key in self.answered):
                return  # another run's, or a second answer to a re-sent first observation
            self.answered.add(key)
            self.got.append((now, *key, (a.header.stamp.sec, a.header.stamp.nanosec)))
            step_s = ns.step_ms / 1e3 * (1 + self.rng.uniform(-ns.jitter, ns.jitter))
            self.schedule(now + step_s, self.active[0], a.ids.env_id, a.ids.group_id,
                          a.ids.step + 1)

    rclpy.init()
    node = Envs()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    logs = Path(tempfile.mkdtemp(prefix='bench_policy_batching_'))
    procs = [start_node('tgrpo_ros.ros.nodes.policy_node', '--ros-args', '-r', f'__ns:=/{m}',
                        '-p', 'policy.model:=tiny:test', '-p', 'policy.torch_threads:=1',
                        '-p', f'policy.batch_window_s:={w}', log_path=logs / f'{m}.log')
             for m, w in modes.items()]
    load_before = os.getloadavg()
    runs: dict = {}
    group = 100
    try:
        # A first round per mode, not counted: start-up, first forward passes.
        plan = [(max(ns.envs), m, False) for m in modes] + [
            (n, m, True) for n in ns.envs for _ in range(ns.rounds) for m in modes]
        for n, mode, counted in plan:
            group += 1
            node.got.clear()
            node.active = (mode, group, n)
            start = time.monotonic()
            for i in range(n):
                node.schedule(start, mode, f'env{i}', group, 0)
            deadline = start + 180
            while not node.got:  # the first round waits for the node to be up
                assert time.monotonic() < deadline, f'no action from {mode}'
                assert all(p.poll() is None for p in procs), f'see {logs}'
                time.sleep(0.05)
                if time.monotonic() - start > 2.0:  # not matched yet: send again
                    start = time.monotonic()
                    for i in range(n):
                        node.schedule(start, mode, f'env{i}', group, 0)
            t0 = time.monotonic()
            time.sleep(ns.seconds)
            t1 = time.monotonic()
            node.active = None
            with node.cv:
                node.queue.clear()
            time.sleep(0.3)  # late actions of this round drain before the next starts
            got = [g for g in node.got if t0 <= g[0] <= t1]
            if not counted:
                continue
            holds = [g[0] - node.sent[g[1:4]] for g in got]
            r = runs.setdefault((n, mode), {'actions': 0, 'forwards': 0, 'seconds': 0.0,
                                            'holds': []})
            r['actions'] += len(got)
            r['forwards'] += len({g[4] for g in got})
            r['seconds'] += t1 - t0
            r['holds'] += holds
    finally:
        codes = [stop_process(p) for p in procs]
        node.stop = True
        with node.cv:
            node.cv.notify()
        executor.shutdown()
        rclpy.try_shutdown()
    load_after = os.getloadavg()

    rows = []
    for n in ns.envs:
        row = {'environments': n}
        for mode in modes:
            r = runs[(n, mode)]
            h = np.asarray(r['holds']) * 1e3
            row[mode] = {'actions_per_s': round(r['actions'] / r['seconds'], 1),
                         'forwards_per_step': round(r['forwards'] / (r['actions'] / n), 2),
                         'hold_p50_ms': round(float(np.median(h)), 1),
                         'hold_max_ms': round(float(h.max()), 1), 'actions': r['actions']}
        row['actions_per_s_ratio_new_over_old'] = round(
            row['new']['actions_per_s'] / row['old']['actions_per_s'], 3)
        rows.append(row)
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    result = {
        'benchmark': 'policy_node group-aware batching: old (batch_window_s 0) vs new',
        'model': 'tiny:test', 'torch_threads': 1, 'window_s': ns.window,
        'env_step_ms': ns.step_ms, 'jitter': ns.jitter, 'image': '64x64 rgb8, one camera',
        'seconds_per_mode_and_n': ns.seconds * ns.rounds, 'rounds': ns.rounds, 'rows': rows,
        'load_average_1min': [round(load_before[0], 2), round(load_after[0], 2)],
        'machine': f'{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, '
                   f'{platform.python_implementation()} {platform.python_version()}',
        'commit': commit, 'date_utc': time.strftime('%Y-%m-%d %H:%M', time.gmtime()),
        'niceness': os.nice(0), 'exit_codes': codes,
    }
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'policy_batching.json').write_text(json.dumps(result, indent=2) + '\n')
    lines = [
        '# policy_node group-aware batching (issue 21)\n',
        f"{result['date_utc']} UTC, commit {commit}, {result['machine']}, niceness "
        f"{result['niceness']}, 1-min load average {result['load_average_1min'][0]} -> "
        f"{result['load_average_1min'][1]} (shared machine). Two policy_node processes "
        f"(tiny:test, 1 torch thread): old = batch_window_s 0, new = {ns.window} s; simulated "
        f"environments in one process each send their next observation {ns.step_ms:g} ms "
        f"(+-{ns.jitter:.0%}) after their action; old and new alternate, {ns.rounds} rounds of "
        f'{ns.seconds:g} s each. Forward passes per step: distinct action stamps / (actions / '
        'N). Hold: observation published -> action arrived.\n',
        '| N | old actions/s | new actions/s | new/old | old forwards/step | '
        'new forwards/step | old hold p50/max [ms] | new hold p50/max [ms] |',
        '|---|---|---|---|---|---|---|---|']
    for r in rows:
        o, w = r['old'], r['new']
        lines.append(f"| {r['environments']} | {o['actions_per_s']} | {w['actions_per_s']} | "
                     f"{r['actions_per_s_ratio_new_over_old']} | {o['forwards_per_step']} | "
                     f"{w['forwards_per_step']} | {o['hold_p50_ms']}/{o['hold_max_ms']} | "
                     f"{w['hold_p50_ms']}/{w['hold_max_ms']} |")
    (out / 'policy_batching.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return 0 if all(c == 0 for c in codes) else 1


if __name__ == '__main__':
    sys.exit(main())
