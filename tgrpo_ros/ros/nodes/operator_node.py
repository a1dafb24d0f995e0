# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""operator_node: the person (or the script standing in) between a robot's training trials.

Services (every key of the terminal interface is one of them):

- ``~/reset`` (tgrpo_ros/ResetEnv): the robot environment asks for the scene of a group's
  start; answered once the operator confirms (``~/reset_done`` or key ``r``), or at once by the
  scripted operator, which forwards it to the simulated arm's reset (``sim_reset_service``);
  ``reset_timeout_s`` bounds the wait (then the reset fails and the trial is not run);
- ``~/reset_done``, ``~/success``, ``~/failure``, ``~/abort`` (std_srvs/Trigger) and ``~/label``
  (tgrpo_ros/Label, for "stage k reached" too).

Topics: publishes ``operator/labels`` (tgrpo_ros/TrialLabel) with the running trial's ids;
reads ``step_result`` (the robot trial's ids, stage), ``policy_version`` and ``/diagnostics``
(the arm adapter's safety state) for the screen (``tgrpo_ros.real.operator.render``).

Parameters: ``scripted`` (bool), ``sim_reset_service`` (str), ``placement_error_m`` [m],
``abort_trials`` ("group:trial,..."), ``abort_after_steps``, ``reset_timeout_s`` [s, 0 =
wait without end], ``trials_per_group``, ``env_id`` ("robot"), ``tui`` ("auto", "on", "off").
"""

from __future__ import annotations

import curses
import sys
import threading

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import Bool, Header
from std_srvs.srv import Trigger

from tgrpo_ros.contract import DoneReason
from tgrpo_ros.msg import Ids, PolicyVersion as PolicyVersionMsg, StepResult, TrialLabel
from tgrpo_ros.real.operator import key_action, Label, OperatorView, render, ScriptedOperator
from tgrpo_ros.ros.node_main import run_node
from tgrpo_ros.ros.parameters import declarer
from tgrpo_ros.ros.qos import LATCHED, reliable
from tgrpo_ros.srv import Label as LabelSrv, ResetEnv

RELIABLE = reliable(100)
DEADMAN_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)


def parse_abort_trials(text: str) -> tuple[tuple[int, int], ...]:
    """'3:2,4:1' -> ((3, 2), (4, 1)): (group id, 1-based trial) pairs the script aborts."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(','))):
        try:
            g, t = (int(x) for x in part.split(':'))
        except ValueError:
            raise ValueError(f'abort_trials: expected "group:trial" pairs separated by commas, '
                             f'got {part!r}') from None
        out.append((g, t))
    return tuple(out)


class OperatorNode(Node):

    def __init__(self, node_name: str = 'operator'):
        super().__init__(node_name)

        declare = declarer(self)
        self.scripted = declare('scripted', False, 'A script answers (against sim_robot).')
        self.sim_reset_service = declare('sim_reset_service', '/sim_robot/reset',
                                         'Scripted: the simulated arm reset it forwards to.')
        error = declare('placement_error_m', 0.01, 'Scripted: object placement error per axis '
                        "[m], >= 0 (applied by the simulated arm's reset).")
        aborts = parse_abort_trials(declare('abort_trials', '', 'Scripted: "group:trial,..." '
                                            'trials it aborts (trial 1-based).'))
        after = declare('abort_after_steps', 3, 'Scripted: steps into a trial before its abort.')
        self.reset_timeout_s = float(declare('reset_timeout_s', 0.0, 'Longest wait for a '
                                             'confirmed reset [s]; 0 = no limit.'))
        self.view = OperatorView(trials_per_group=int(declare('trials_per_group', 0,
                                                              'Trials per group (screen).')))
        self.env_id = declare('env_id', 'robot', "The robot environment's env_id.")
        tui = declare('tui', 'auto', 'Terminal interface: auto (when stdin is a terminal), '
                      'on or off.')
        self.script = ScriptedOperator(error, abort_trials=aborts, abort_after_steps=after)
        self._lock = threading.Lock()
        self._reset_done = threading.Event()
        self._ids = Ids()
        self._trial_open = False
        self._aborted: set[int] = set()

        group = ReentrantCallbackGroup()  # ~/reset waits while ~/reset_done is served
        self.label_pub = self.create_publisher(TrialLabel, 'operator/labels', RELIABLE)
        self.create_service(ResetEnv, '~/reset', self._on_reset, callback_group=group)
        for name, action in (('reset_done', 'reset_done'), ('success', Label.SUCCESS),
                             ('failure', Label.FAILURE), ('abort', Label.ABORT)):
            self.create_service(Trigger, f'~/{name}', self._trigger(action),
                                callback_group=group)
        self.create_service(LabelSrv, '~/label', self._on_label, callback_group=group)
        self.create_subscription(StepResult, 'step_result', self._on_step, RELIABLE,
                                 callback_group=group)
        self.create_subscription(PolicyVersionMsg, 'policy_version', self._on_version, LATCHED,
                                 callback_group=group)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10,
                                 callback_group=group)
        self._sim_reset = (self.create_client(ResetEnv, self.sim_reset_service,
                                              callback_group=group) if self.scripted else None)
        if self.scripted:
            # A person holds the dead-man and arms the adapter; the script does both.
            adapter = declare('arm_adapter', '/arm_adapter', 'Scripted: the arm adapter it '
                              'arms and holds the dead-man of.')
            self._deadman = self.create_publisher(Bool, f'{adapter}/deadman', DEADMAN_QOS)
            self._arm = self.create_client(Trigger, f'{adapter}/arm', callback_group=group)
            self._armed = False
            self.create_timer(0.1, lambda: self._deadman.publish(Bool(data=True)),
                              callback_group=group)
        if tui == 'on' or (tui == 'auto' and sys.stdin.isatty() and not self.scripted):
            threading.Thread(target=self._terminal, daemon=True).start()
        self.get_logger().info(f'operator ready ({"scripted" if self.scripted else "person"})')

    # --- actions (services and keys alike) ---------------------------------------------------
    def act(self, action: str, stage: int = 0) -> tuple[bool, str]:
        """Do one operator action; returns (accepted, message)."""
        if action == 'reset_done':
            with self._lock:
                if not self.view.waiting_reset:
                    return False, 'no reset was asked for'
            self._reset_done.set()
            return True, ''
        try:
            label = Label.parse(action)
        except ValueError as exc:
            return False, str(exc)
        if label is Label.STAGE and stage < 1:
            return False, 'a stage label needs stage >= 1'
        with self._lock:
            if not self._trial_open:
                return False, 'no trial is running'
            ids = Ids(env_id=self._ids.env_id, episode_id=self._ids.episode_id,
                      step=self._ids.step, group_id=self._ids.group_id)
            self.view.last_label = f'{label.value} {stage}' if stage else label.value
            self.view.note(f'episode {ids.episode_id} step {ids.step}: {self.view.last_label}')
        self._publish_label(ids, label, stage)
        return True, ''

    def _publish_label(self, ids: Ids, label: Label, stage: int = 0) -> None:
        self.label_pub.publish(TrialLabel(header=Header(stamp=self.get_clock().now().to_msg()),
                                          ids=ids, label=label.value, stage=int(stage)))

    def _trigger(self, action):
        def handler(req, res):
            res.success, res.message = self.act(str(action))
            return res
        return handler

    def _on_label(self, req: LabelSrv.Request, res: LabelSrv.Response) -> LabelSrv.Response:
        res.success, res.message = self.act(req.label, int(req.stage))
        return res

    # --- the reset a group's trial starts from ----------------------------------------------
    def _on_reset(self, req: ResetEnv.Request, res: ResetEnv.Response) -> ResetEnv.Response:
        with self._lock:
            self._trial_open = False
            v = self.view
            v.group_id, v.task, v.init_state = int(req.group_id), req.task, req.init_state_index
            v.waiting_reset, v.stage, v.last_label = True, 0, ''
            v.note(f'reset asked: group {req.group_id}, initial state {req.init_state_index}')
        self._reset_done.clear()
        if self.scripted:
            ok, message, sim = self._scripted_reset(req)
        else:
            timeout = self.reset_timeout_s or None
            ok = self._reset_done.wait(timeout)
            message = '' if ok else f'no reset confirmed within {self.reset_timeout_s} s'
            sim = None
        with self._lock:
            self.view.waiting_reset = False
            self.view.note('reset done' if ok else f'reset failed: {message}')
        res.success, res.message = ok, message
        if sim is not None:
            res.episode_id, res.instruction = sim.episode_id, sim.instruction
        return res

    def _scripted_reset(self, req: ResetEnv.Request):
        if not self._sim_reset.wait_for_service(timeout_sec=10.0):
            return False, f'{self.sim_reset_service} is not available', None
        done = threading.Event()
        future = self._sim_reset.call_async(req)
        future.add_done_callback(lambda _: done.set())
        if not done.wait(self.reset_timeout_s or 600.0):  # a loaded machine resets slowly
            return False, f'{self.sim_reset_service} did not answer', None
        sim = future.result()
        if sim.success and not self._armed:
            self._armed = self._trigger_call(self._arm)
        return bool(sim.success), sim.message, sim

    def _trigger_call(self, client) -> bool:
        if not client.wait_for_service(timeout_sec=10.0):
            self.get_logger().error(f'{client.srv_name} is not available')
            return False
        done = threading.Event()
        future = client.call_async(Trigger.Request())
        future.add_done_callback(lambda _: done.set())
        if not done.wait(10.0) or not future.result().success:
            self.get_logger().error(f'{client.srv_name} refused')
            return False
        return True

    # --- what the screen shows --------------------------------------------------------------
    def _on_step(self, msg: StepResult) -> None:
        if msg.ids.env_id != self.env_id:
            return
        with self._lock:
            new_trial = msg.ids.episode_id != self._ids.episode_id
            self._ids = msg.ids
            self._trial_open = not msg.done
            v = self.view
            if new_trial:
                v.trial = v.trial + 1 if v.group_id == msg.ids.group_id and v.trial else 1
                v.group_id = int(msg.ids.group_id)
            v.episode_id, v.stage, v.num_stages = (int(msg.ids.episode_id), int(msg.stage),
                                                   int(msg.num_stages))
            trial, step = v.trial, int(msg.ids.step)
        if not self.scripted or msg.ids.episode_id in self._aborted:
            return
        if not msg.done:
            if self.script.label_for(int(msg.ids.group_id), trial, step) is Label.ABORT:
                self._aborted.add(msg.ids.episode_id)
                self.act(Label.ABORT.value)
        elif not DoneReason.parse(msg.done_reason).abnormal:
            # A person says how each trial went; the script reads it off the outcome, so
            # every trial in the bag carries a label.
            self._publish_label(msg.ids, Label.SUCCESS if msg.success else Label.FAILURE)

    def _on_version(self, msg: PolicyVersionMsg) -> None:
        with self._lock:
            self.view.policy_version = f'v{msg.version}'

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.endswith('safety'):
                mode = next((kv.value for kv in status.values if kv.key == 'mode'), '?')
                with self._lock:
                    self.view.safety = f'{mode}: {status.message}'[:60]

    def _terminal(self) -> None:
        """Draw the curses screen twice a second; one key = one action."""
        def loop(screen):
            screen.timeout(500)
            while True:
                with self._lock:
                    lines = render(self.view, width=max(40, min(100, screen.getmaxyx()[1] - 1)))
                screen.erase()
                for row, line in enumerate(lines[:screen.getmaxyx()[0] - 1]):
                    screen.addstr(row, 0, line)
                screen.refresh()
                key = screen.getch()
                if key < 0:
                    continue
                action, stage = key_action(chr(key))
                if action == 'quit':
                    return
                if action:
                    ok, message = self.act(action, stage)
                    if not ok:
                        with self._lock:
                            self.view.note(f'refused: {message}')
        curses.wrapper(loop)


def main(args=None) -> int:
    return run_node(OperatorNode, args, threads=4)


if __name__ == '__main__':
    sys.exit(main())
