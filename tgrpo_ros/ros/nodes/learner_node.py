# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""learner_node: TGRPO over topics, a thin shell around ``tgrpo_ros.training.driver.train``.

The driver runs the loop (resume, schedule, collect, update, save, serve, evaluate, metrics);
this node only supplies the ROS graph as its collector (``tgrpo_ros.ros.collector``: resets
``<env_id>/reset``, joins the ``observation``, ``action`` and ``step_result`` topics, ends
episodes with ``<env_id>/end_episode``, announces adapters on ``adapter_announcement``) and
publishes each iteration's ``metrics`` (tgrpo_ros/IterationMetrics). Every estimator works,
PPO's ``gae`` included (the driver computes the critic's values). Parameters: every setting of
``SimTrainSettings`` as ``<section>.<field>`` (env, policy, algo, eval, run), documented in
config/sim_train.yaml.
"""

from __future__ import annotations

import sys
import threading
import traceback

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import Header
import torch

from tgrpo_ros.msg import IterationMetrics
from tgrpo_ros.ros.collector import RosCollector
from tgrpo_ros.ros.conversions import version_msg
from tgrpo_ros.ros.node_main import try_shutdown
from tgrpo_ros.ros.robot_collector import RobotCollector
from tgrpo_ros.ros.parameters import declare_settings
from tgrpo_ros.training.driver import train
from tgrpo_ros.training.policy_setup import policy_for
from tgrpo_ros.training.settings import check_policy_agrees, SECTIONS, SimTrainSettings
from tgrpo_ros.versioning import PolicyVersion


class LearnerNode(Node):

    def __init__(self, policy=None, node_name: str = 'learner', shared: bool = False):
        """Create the learner; ``shared``: the policy node serves ``policy`` in this process."""
        super().__init__(node_name)
        self.shared = shared
        # Every setting, as parameters <section>.<field> (config/sim_train.yaml documents them).
        self.settings = SimTrainSettings.from_flat(declare_settings(self, SECTIONS))
        self.env_ids = list(self.settings.env_ids)
        self.step_timeout = self.settings.run.step_timeout_s
        self.startup_timeout = self.settings.run.startup_timeout_s
        s = self.settings
        if s.policy.torch_threads > 0:
            torch.set_num_threads(s.policy.torch_threads)
        self.policy = policy or policy_for(s)
        # A policy node sampling with another temperature or LoRA scale would bias every ratio.
        agrees = lambda served: check_policy_agrees(s, served)  # noqa: E731
        if s.env.robot:  # one robot, trials one after another (real_train)
            self.env_ids = [s.env.robot]
            self.collector = RobotCollector(self, s.env.robot, s.env.suite, self.step_timeout,
                                            self.startup_timeout, check_policy=agrees)
        else:
            self.collector = RosCollector(self, self.env_ids, s.env.suite, self.step_timeout,
                                          self.startup_timeout, check_policy=agrees,
                                          discover=s.run.env_discovery == 'graph')
        self.metrics_pub = self.create_publisher(IterationMetrics, 'metrics', 10)

    def run(self) -> dict:
        """Train with the driver over the graph; return the run's summary."""
        placement = 'shared' if self.shared else 'separate'
        return train(self.settings, self.collector, self.policy, self.get_logger().info,
                     extra_config={'ros': {'env_ids': self.env_ids, 'placement': placement}},
                     on_iteration=self._publish_metrics)

    def _publish_metrics(self, row: dict, version: PolicyVersion) -> None:
        self.metrics_pub.publish(IterationMetrics(
            header=Header(stamp=self.get_clock().now().to_msg()),
            iteration=int(row['iteration']), task=str(row['task']),
            init_state=int(row['init_state']), env_steps=int(row['env_steps']),
            env_steps_total=int(row['env_steps_total']),
            returns=[float(x) for x in row['returns'].split(';')],
            mean_return=float(row['mean_return']), success_rate=float(row['success_rate']),
            stage_histogram=[int(x) for x in row['stage_histogram'].split(';')],
            loss=float(row['loss']), kl_ref=float(row['kl_ref']),
            approx_kl=float(row['approx_kl']), clip_fraction=float(row['clip_frac']),
            first_abs_log_ratio_max=float(row['first_abs_log_ratio_max']),
            learning_rate=float(row['lr']), rollout_time=float(row['rollout_time_s']),
            update_time=float(row['update_time_s']), policy_version=version_msg(version)))


def run_learner(nodes_factory, args=None) -> int:
    """Spin the node(s) in a background executor and run the learner's loop in this thread."""
    rclpy.init(args=args)
    nodes = []
    code = 0
    executor = None
    spinner = None
    try:
        nodes = nodes_factory()
        learner = nodes[0]
        executor = MultiThreadedExecutor(num_threads=4)
        for n in nodes:
            executor.add_node(n)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        summary = learner.run()
        learner.get_logger().info(f'finished: {summary}')
    except (KeyboardInterrupt, ExternalShutdownException):
        code = 130
    except Exception as exc:  # noqa: BLE001 - report clearly, exit non-zero
        # The whole traceback (where it failed: the launcher shows it), then one line to grep.
        traceback.print_exc(file=sys.stderr)
        print(f'[learner] error: {type(exc).__name__}: {exc}', file=sys.stderr, flush=True)
        code = 1
    finally:
        if executor is not None:
            executor.shutdown(timeout_sec=5.0)
        if spinner is not None:
            spinner.join(timeout=5.0)  # destroying nodes under a spinning executor aborts
        for n in nodes:
            n.destroy_node()
        try_shutdown()
    return code


def main(args=None) -> int:
    return run_learner(lambda: [LearnerNode()], args)


if __name__ == '__main__':
    sys.exit(main())
