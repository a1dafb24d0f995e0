# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Camera stamp -> arm command latency of the real_deploy chain (profile sim_test).

Starts camera_state_bridge, policy_node and arm_adapter as separate processes, plays camera and
arm driver in this process (test/real_standins.py: a 32 x 32 rgb8 camera stamped with the wall
clock when published), arms the adapter, holds the dead-man, and records for ``--seconds``:

- for every command the driver receives: receipt wall time minus the stamp of the camera frame
  its action answered (command -> ``~/applied_action`` with the same stamp -> ids.step ->
  the observation of that step, whose stamp is the camera frame's);
- ``fresh``: the first command made from each action (what a new frame costs end to end);
  ``all``: every command, including the last action held while the policy is slower than the
  control rate.

Usage: python benchmarks/bench_real_latency.py [--model tiny:test] [--seconds 30]
Writes benchmarks/results/real_latency_<model>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import platform
import random
import sys
import tempfile
import time

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / 'test')]


def _stamp(h) -> float:
    return h.stamp.sec + h.stamp.nanosec * 1e-9


def _stats(values_ms):
    a = np.asarray(values_ms)
    return {'n': int(a.size), 'p50_ms': round(float(np.percentile(a, 50)), 2),
            'p90_ms': round(float(np.percentile(a, 90)), 2),
            'p99_ms': round(float(np.percentile(a, 99)), 2),
            'max_ms': round(float(a.max()), 2), 'mean_ms': round(float(a.mean()), 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='tiny:test',
                        help="policy_node model, or 'instant': no policy node, this process "
                             'answers each observation at once (the ROS chain alone)')
    parser.add_argument('--seconds', type=float, default=30.0)
    parser.add_argument('--camera-hz', type=float, default=30.0)
    parser.add_argument('--lockstep', action='store_true',
                        help='camera waits for the action of its last frame (no queueing)')
    parser.add_argument('--out', default=str(ROOT / 'benchmarks' / 'results'))
    ns = parser.parse_args(argv)
    os.environ['ROS_DOMAIN_ID'] = str(random.SystemRandom().randint(1, 101))
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'

    from helpers import start_node, stop_process
    from real_standins import Spinner, StandIns, start_rclpy, stop_rclpy, wait_for, WATCHED

    logs = Path(tempfile.mkdtemp(prefix='bench_real_latency_'))
    start_rclpy()
    stand = StandIns(camera_encoding='rgb8', camera_hz=ns.camera_hz)
    stand.camera_lockstep = ns.lockstep
    load_before = os.getloadavg()
    offset = time.time() - time.monotonic()  # receipt times are monotonic; stamps are wall
    spinner = Spinner(stand)
    procs = [
        start_node('tgrpo_ros.ros.nodes.camera_state_bridge', '--ros-args', '-p',
                   'robot_profile:=sim_test', '-p', 'instruction:=lift the red cube',
                   log_path=logs / 'bridge.log'),
        start_node('tgrpo_ros.ros.nodes.arm_adapter', '--ros-args',
                   '-p', 'robot_profile:=sim_test',
                   log_path=logs / 'adapter.log'),
    ]
    if ns.model == 'instant':
        stand.answer_on_arrival = [0.05, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0]
    else:
        procs.append(start_node('tgrpo_ros.ros.nodes.policy_node', '--ros-args', '-p',
                                f'policy.model:={ns.model}', '-p', 'policy.temperature:=0.0',
                                log_path=logs / 'policy.log'))
    WATCHED[:] = procs
    try:
        wait_for(lambda: len(stand.snapshot('actions')) >= 10, 180.0, 'actions')
        stand.deadman_on = True
        assert stand.call('arm').success
        time.sleep(2.0)  # let the chain settle after arming (commands may not flow at all
        # when the policy cannot answer within the hold timeout: that is a result too)
        t0 = time.monotonic()
        time.sleep(ns.seconds)
        t1 = time.monotonic()
        load_after = os.getloadavg()
    finally:
        WATCHED.clear()
        codes = [stop_process(p) for p in procs]
        spinner.stop()
        stop_rclpy()

    obs_stamp = {o.ids.step: _stamp(o.header) for _, o in stand.snapshot('observations')}
    obs_recv = {o.ids.step: r + offset for r, o in stand.snapshot('observations')}
    act_recv = {a.ids.step: r + offset for r, a in stand.snapshot('actions')}
    applied = {(a.header.stamp.sec, a.header.stamp.nanosec): a
               for _, a in stand.snapshot('applied')}
    every, fresh, seen = [], [], set()
    parts = {'camera_to_observation': [], 'observation_to_action': [], 'action_to_command': []}
    commands = [(r, m) for r, m in stand.snapshot('commands') if t0 <= r <= t1]
    for r, m in commands:
        a = applied.get((m.header.stamp.sec, m.header.stamp.nanosec))
        if a is None or not a.ids.env_id or a.ids.step not in obs_stamp:
            continue  # a zero command (halt) carries empty ids: it answers no camera frame
        step = a.ids.step
        latency = (r + offset - obs_stamp[step]) * 1e3
        every.append(latency)
        if step not in seen:
            seen.add(step)
            fresh.append(latency)
            if step in obs_recv and step in act_recv:
                parts['camera_to_observation'].append((obs_recv[step] - obs_stamp[step]) * 1e3)
                parts['observation_to_action'].append((act_recv[step] - obs_recv[step]) * 1e3)
                parts['action_to_command'].append((r + offset - act_recv[step]) * 1e3)
    span = t1 - t0
    answer = [(act_recv[k] - obs_stamp[k]) * 1e3 for k in act_recv
              if k in obs_stamp and t0 + offset <= act_recv[k] <= t1 + offset]
    commanded = len(seen)
    result = {
        'benchmark': 'camera stamp -> arm command (real_deploy chain, profile sim_test)',
        'model': ns.model, 'seconds': round(span, 1), 'camera_hz': ns.camera_hz,
        'control_rate_hz': 20.0, 'commands_per_s': round(len(commands) / span, 2),
        'actions_per_s': round(len(fresh) / span, 2),
        'camera_mode': 'lock-step with the policy' if ns.lockstep else 'free-running',
        'camera_to_action_all_actions': _stats(answer) if answer else None,
        'actions_received': len(answer), 'actions_commanded': commanded,
        'fresh': _stats(fresh) if fresh else None, 'all': _stats(every) if every else None,
        'load_average_1min': [round(load_before[0], 2), round(load_after[0], 2)],
        'breakdown_p50_ms': {k: round(float(np.median(v)), 2) for k, v in parts.items() if v},
        'machine': f'{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, '
                   f'{platform.python_implementation()} {platform.python_version()}',
        'date_utc': time.strftime('%Y-%m-%d %H:%M', time.gmtime()),
        'exit_codes': codes,
    }
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = 'real_latency_' + ns.model.replace(':', '_').replace('/', '_') + \
        ('_lockstep' if ns.lockstep else '_freerun')
    (out / f'{stem}.json').write_text(json.dumps(result, indent=2) + '\n')
    policy_text = ('an instant stand-in policy in the driver process (no model: the ROS chain '
                   'alone)' if ns.model == 'instant' else 'policy_node (temperature 0)')
    empty = {'n': 0, 'p50_ms': '-', 'p90_ms': '-', 'p99_ms': '-', 'max_ms': '-'}
    f, e = result['fresh'] or empty, result['all'] or empty
    c = result['camera_to_action_all_actions'] or empty
    (out / f'{stem}.md').write_text(
        f"# Camera stamp -> arm command latency, {ns.model}, {result['camera_mode']} camera\n\n"
        f"{result['date_utc']} UTC, {result['machine']}, CPU only, 1-min load average "
        f"{result['load_average_1min'][0]} -> {result['load_average_1min'][1]} (shared "
        f"machine). Chain: stand-in camera ({ns.camera_hz:g} Hz max, 32x32 rgb8, "
        f"{result['camera_mode']}) -> camera_state_bridge -> {policy_text} -> "
        f"arm_adapter (20 Hz, sim_test profile: action hold 0.3 s) -> stand-in driver; "
        f"{result['seconds']} s measured; each node its own process.\n\n"
        "| latency from the camera stamp | n | p50 [ms] | p90 [ms] | p99 [ms] | max [ms] |\n"
        "|---|---|---|---|---|---|\n"
        f"| action received (every action) | {c['n']} | {c['p50_ms']} | {c['p90_ms']} | "
        f"{c['p99_ms']} | {c['max_ms']} |\n"
        f"| arm command, first per action | {f['n']} | {f['p50_ms']} | {f['p90_ms']} | "
        f"{f['p99_ms']} | {f['max_ms']} |\n"
        f"| arm command, every (incl. held) | {e['n']} | {e['p50_ms']} | {e['p90_ms']} | "
        f"{e['p99_ms']} | {e['max_ms']} |\n\n"
        f"Commands/s: {result['commands_per_s']}; actions received: "
        f"{result['actions_received']}, of which {result['actions_commanded']} became commands "
        "(the others were superseded by a newer action before the adapter's next tick, or "
        "refused because their camera data was older than the 0.3 s hold timeout). "
        f"Median breakdown of commanded actions [ms]: {result['breakdown_p50_ms']}."
        "\n\nThe bridge and the adapter each run on a 20 Hz timer, so up to 50 ms + 50 ms of "
        "the latency is waiting for the next tick.\n")
    print(json.dumps(result, indent=2))
    return 0 if all(c == 0 for c in codes) else 1


if __name__ == '__main__':
    sys.exit(main())
