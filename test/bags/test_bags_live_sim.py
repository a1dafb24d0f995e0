# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A live LIBERO episode recorded by the project's recorder, evaluated with the same policy.

Four processes: sim_env_node (LIBERO, env0), policy_node (tiny:test, greedy, seed 7), the
bag_recorder (stops after one episode) and this test, which resets the environment through its
service. The bag is then evaluated by ``tgrpo-ros eval-bag`` with the same policy: every
recorded action must be predicted exactly (token accuracy 1.0, zero error).
"""

from __future__ import annotations

import json
import time

from helpers import start_node, stop_process
import numpy as np
import pytest

from tgrpo_ros.commands import eval_bag as eval_cli
from tgrpo_ros.bags.reader import BagReader

pytestmark = [pytest.mark.ros, pytest.mark.libero, pytest.mark.slow]

STEPS = 12


def _wait(predicate, timeout: float, node, what: str, logs) -> None:
    import rclpy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        rclpy.spin_once(node, timeout_sec=0.1)
    tails = '\n'.join(f'--- {p.name}\n{p.read_text()[-2000:]}' for p in logs if p.exists())
    raise AssertionError(f'timed out waiting for {what}\n{tails}')


@pytest.mark.parametrize('storage', ['mcap'])
def test_greedy_live_episode_is_reproduced_exactly(tmp_path, ros_domain, storage):
    import rclpy
    from tgrpo_ros.srv import ResetEnv

    bag = tmp_path / 'live_bag'
    logs = [tmp_path / f'{n}.log' for n in ('recorder', 'sim', 'policy')]
    ns = ['--ros-args', '-r', '__ns:=/env0']
    procs = [
        start_node('tgrpo_ros.ros.nodes.bag_recorder', '--ros-args', '-p', f'output:={bag}', '-p',
                   f'storage:={storage}', '-p', 'namespaces:=["env0"]', '-p', 'max_episodes:=1',
                   log_path=logs[0]),
        start_node('tgrpo_ros.ros.nodes.sim_env_node', *ns, '-p', 'env.image_size:=64', '-p',
                   'env.cameras:=["agentview"]', log_path=logs[1]),
        start_node('tgrpo_ros.ros.nodes.policy_node', *ns, '-p', 'policy.model:=tiny:test', '-p',
                   'policy.temperature:=0.0', '-p', 'run.seed:=7', log_path=logs[2]),
    ]
    rclpy.init()
    node = rclpy.create_node('live_test')
    try:
        client = node.create_client(ResetEnv, '/env0/reset')
        # Ready: the policy and the recorder listen to observations, env and recorder to actions.
        _wait(lambda: client.service_is_ready()
              and node.count_subscribers('/env0/observation') >= 2
              and node.count_subscribers('/env0/action') >= 2
              and node.count_subscribers('/env0/step_result') >= 1, 120, node, 'the graph', logs)
        future = client.call_async(ResetEnv.Request(suite='libero_object', task='0',
                                                    init_state_index=0, seed=7,
                                                    max_steps=STEPS))
        _wait(future.done, 180, node, 'the reset', logs)
        assert future.result().success, future.result().message
        _wait(lambda: procs[0].poll() is not None, 180, node, 'the recorder to finish', logs)
        assert procs[0].returncode == 0, logs[0].read_text()
    finally:
        for p in procs:
            stop_process(p)
        node.destroy_node()
        rclpy.try_shutdown()

    with BagReader(bag) as r:
        topics = r.topics
        actions = [m for _, _, m in r.messages(['/env0/action'])]
        results = [m for _, _, m in r.messages(['/env0/step_result'])]
    assert topics['/env0/observation'].count == STEPS and len(actions) == STEPS
    assert results[-1].done and results[-1].done_reason == 'max_steps'
    assert all(a.temperature == 0.0 for a in actions)

    out = tmp_path / 'eval'
    rc = eval_cli.main([str(bag), '--policy', 'tiny:test', '--seed', '7', '--topics', 'sim:env0',
                        '--out', str(out), '--no-progress'])
    assert rc == 0
    report = json.loads((out / 'report.json').read_text())
    r = report['overall']['tiny:test']
    assert r['samples'] == STEPS and report['skipped']['total'] == 0
    assert r['token_accuracy'] == 1.0 and r['token_source'] == {'recorded': STEPS}
    assert r['mae_mean'] == 0.0 and r['rmse_mean'] == 0.0 and r['gripper_agreement'] == 1.0
    recorded_nll = -np.mean([np.sum(np.asarray(a.token_logprobs, np.float64)) for a in actions])
    assert r['nll'] == pytest.approx(recorded_nll, abs=1e-3)
    assert (out / 'summary.html').is_file() and (out / 'plots' / 'episode_000.png').is_file()
