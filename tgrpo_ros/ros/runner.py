# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The process runner behind ``tgrpo-ros launch``: start a node graph without the ros2 CLI.

It reads the same graph description (tgrpo_ros.ros.graph) as ``launch/<graph>.launch.py`` and
starts each node as ``python -m tgrpo_ros.ros.nodes.<executable> --ros-args ...`` with the same
parameter files. Node output goes to ``<run_dir>/logs/<node>.log`` so that the terminal shows one
progress bar. Ctrl-C (SIGINT) or SIGTERM (`kill`, docker/systemd stop) stops every node (SIGINT,
then SIGTERM, then SIGKILL) before the launcher exits with 130 or 143, so no node is left orphaned;
when a required node exits, everything is stopped (a non-zero exit is reported with the end of that
node's log). A node marked ``respawn`` (the sim_train environments) that exits is started again
after its ``respawn_delay``, as launch_ros's ``respawn`` does; its log continues in the same file.
A launcher killed outright (SIGKILL, out of memory) takes its nodes with it: each
node is started with Linux's parent-death signal set to SIGKILL (``ros/parent_death.py``), as
nothing is left to escalate a gentler signal; every save is SIGKILL-safe (run_folder.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time

from tqdm import tqdm
import yaml

from tgrpo_ros.ros.graph import get_graph, NodeSpec
from tgrpo_ros.ros.parent_death import preexec_die_with_parent
from tgrpo_ros.training.throughput import throughput_line


def parse_launch_args(tokens: list[str]) -> dict[str, str]:
    """Parse ``name:=value`` tokens as ``ros2 launch`` does."""
    values = {}
    for tok in tokens:
        if ':=' not in tok:
            raise ValueError(f'launch arguments are name:=value, got {tok!r}')
        name, value = tok.split(':=', 1)
        if not name:
            raise ValueError(f'empty launch argument name in {tok!r}')
        values[name] = value
    return values


def full_name(spec: NodeSpec) -> str:
    return '/' + '/'.join(p for p in (spec.namespace.strip('/'), spec.name) if p)


def node_command(spec: NodeSpec, overrides_file: Path | None) -> list[str]:
    """Command line starting one node with its remappings and parameter files."""
    cmd = [sys.executable, '-m', f'tgrpo_ros.ros.nodes.{spec.executable}', '--ros-args']
    if spec.rename:
        cmd += ['-r', f'__node:={spec.name}']
    if spec.namespace:
        cmd += ['-r', f'__ns:=/{spec.namespace.strip("/")}']
    for src, dst in spec.remappings:
        cmd += ['-r', f'{src}:={dst}']
    for f in spec.params_files:
        cmd += ['--params-file', f]
    if overrides_file is not None:
        cmd += ['--params-file', str(overrides_file)]
    return cmd


def write_overrides(spec: NodeSpec, folder: Path) -> Path | None:
    """Write the node's parameter overrides as a ROS 2 parameter file, keyed by node name.

    ``launch/*.launch.py`` uses this too, so both ways of starting a graph pass identical files.
    """
    sections = {}
    if spec.parameters:
        sections[full_name(spec)] = {'ros__parameters': spec.parameters}
    for node, params in spec.extra_parameters.items():
        ns = spec.namespace.strip('/')
        sections['/' + '/'.join(p for p in (ns, node) if p)] = {'ros__parameters': params}
    if not sections:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (full_name(spec).strip('/').replace('/', '__') + '.yaml')
    path.write_text(yaml.safe_dump(sections, sort_keys=True))
    return path


class _Progress:
    """One tqdm bar fed by a JSON file that the graph's main node rewrites atomically."""

    def __init__(self, path: Path | None):
        self.path = path
        self.bar = None
        self.last = None

    def poll(self) -> None:
        if self.path is None or not self.path.is_file():
            return
        try:
            state = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return  # being replaced right now; next poll
        if state == self.last:
            return
        self.last = state
        if self.bar is None:
            self.bar = tqdm(total=state.get('total'), desc=state.get('desc', 'progress'),
                            unit=state.get('unit', 'it'), dynamic_ncols=True)
        self.bar.n = state.get('done', 0)
        if state.get('postfix'):
            self.bar.set_postfix(state['postfix'], refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _stop_all(procs: dict[str, subprocess.Popen], grace: float = 10.0) -> None:
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        alive = [p for p in procs.values() if p.poll() is None]
        if not alive:
            return
        for p in alive:
            p.send_signal(sig)
        deadline = time.monotonic() + wait
        for p in alive:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass


class _Stop(Exception):
    """A stop signal reached the launcher."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_stop(signum, frame) -> None:
    raise _Stop(signum)


def _handle_stop_signals(handler) -> dict:
    """Install ``handler`` for SIGINT and SIGTERM (main thread only); return the old ones.

    Explicit handlers, because Python's default turns only SIGINT into an exception (SIGTERM
    would kill the launcher and orphan its nodes), and not even that when the launcher was
    started with SIGINT ignored (a background job of a non-interactive shell).
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}


_TRACEBACK = 'Traceback (most recent call last):'
_CHAINED = ('During handling of the above exception, another exception occurred:',
            'The above exception was the direct cause of the following exception:')


def _tail(path: Path, lines: int = 25, most: int = 400) -> str:
    """Return the end of a node's log: from its last traceback (chains whole) or ``lines``.

    A crash's traceback is what the user needs first, and it is often longer than ``lines``:
    it is shown whole (up to ``most`` lines), with the node's last words after it.
    """
    try:
        text = path.read_text(errors='replace').splitlines()
    except OSError:
        return '(no log)'
    start = max(0, len(text) - lines)
    starts = [i for i, line in enumerate(text) if line.startswith(_TRACEBACK)]
    if starts:
        first = starts[-1]
        # walk back over 'During handling of the above exception' links to the chain's start
        for i in reversed(starts[:-1]):
            between = [t for t in text[i:first] if t.strip()]
            if not any(t in _CHAINED for t in between):
                break
            first = i
        start = min(start, first, max(first, len(text) - most))
    return '\n'.join(text[start:])


def _error_line(path: Path) -> str:
    """Return the exception line of the last traceback in a node's log ('' if none)."""
    try:
        text = path.read_text(errors='replace').splitlines()
    except OSError:
        return ''
    starts = [i for i, line in enumerate(text) if line.startswith(_TRACEBACK)]
    if not starts:
        return ''
    return next((t for t in text[starts[-1] + 1:] if t.strip() and not t.startswith(' ')), '')


def _respawn(procs: dict[str, subprocess.Popen], commands: dict[str, list[str]],
             logs: dict[str, Path], respawn: dict[str, float], restart_at: dict[str, float],
             env: dict[str, str], quiet: bool) -> None:
    """Start again the respawn nodes that exited, each ``respawn_delay`` s after its exit."""
    now = time.monotonic()
    for key, delay in respawn.items():
        rc = procs[key].poll()
        if rc is None:
            continue
        if key not in restart_at:
            restart_at[key] = now + delay
            print(f'[launch] {key} exited with code {rc}; restarting it in {delay:g} s',
                  file=sys.stderr, flush=True)
        elif now >= restart_at[key]:
            del restart_at[key]
            with open(logs[key], 'a') as log:
                log.write(f'\n[launch] restarted after exit code {rc}\n$ '
                          + ' '.join(commands[key]) + '\n')
                log.flush()
                procs[key] = subprocess.Popen(commands[key], stdout=log,
                                              stderr=subprocess.STDOUT, env=env,
                                              preexec_fn=preexec_die_with_parent())
            if not quiet:
                print(f'[launch] restarted {key} (pid {procs[key].pid})', flush=True)


def run_graph(graph_name: str, values: dict[str, str], quiet: bool = False) -> int:
    graph = get_graph(graph_name)
    resolved = graph.resolve_args(values)  # once: it may fill in a timestamped folder
    specs = graph.build(resolved)
    run_dir = Path(graph.run_dir(resolved)) if graph.run_dir else Path('runs') / graph_name
    log_dir = run_dir / 'logs'
    log_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / 'launch_args.yaml').write_text(yaml.safe_dump(resolved, sort_keys=True))
    progress = _Progress(Path(graph.progress_file(resolved)) if graph.progress_file else None)

    procs: dict[str, subprocess.Popen] = {}
    logs: dict[str, Path] = {}
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    required = {full_name(s) for s in specs if s.required}
    respawn = {full_name(s): s.respawn_delay for s in specs if s.respawn}
    commands: dict[str, list[str]] = {}
    restart_at: dict[str, float] = {}  # respawn nodes that exited: when to start them again
    code = 0
    previous = _handle_stop_signals(_raise_stop)
    try:
        # started inside the try: a signal during start-up still stops what already runs
        for spec in specs:
            key = full_name(spec)
            cmd = commands[key] = node_command(spec, write_overrides(spec, run_dir / 'params'))
            logs[key] = log_dir / (key.strip('/').replace('/', '__') + '.log')
            with open(logs[key], 'w') as log:
                log.write('$ ' + ' '.join(cmd) + '\n')
                log.flush()
                procs[key] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                              env=env, preexec_fn=preexec_die_with_parent())
            if not quiet:
                print(f'[launch] started {key} (pid {procs[key].pid}), log: {logs[key]}',
                      flush=True)
        while True:
            progress.poll()
            ended = [k for k, p in procs.items() if p.poll() is not None]
            ended_required = [k for k in ended if k in required]
            if ended_required:
                key = ended_required[0]
                rc = procs[key].returncode
                if rc != 0:
                    code = 1
                    print(f'\n[launch] required node {key} exited with code {rc}; stopping. '
                          f'End of {logs[key]}:\n{_tail(logs[key])}', file=sys.stderr)
                    if _error_line(logs[key]):  # the one line to read first, last
                        print(f'[launch] {key} failed: {_error_line(logs[key])}',
                              file=sys.stderr)
                elif not quiet:
                    print(f'\n[launch] {key} finished; stopping the graph', flush=True)
                break
            if len(ended) == len(procs) and not respawn:
                break
            _respawn(procs, commands, logs, respawn, restart_at, env, quiet)
            time.sleep(0.5)
    except (_Stop, KeyboardInterrupt) as stop:
        signum = stop.signum if isinstance(stop, _Stop) else signal.SIGINT
        name = 'Ctrl-C' if signum == signal.SIGINT else signal.Signals(signum).name
        print(f'\n[launch] {name}: stopping all nodes', file=sys.stderr)
        code = 128 + signum
    finally:
        # a second signal must not cut the shutdown short: it escalates to SIGKILL by itself
        _handle_stop_signals(signal.SIG_IGN)
        try:
            _stop_all(procs)
            progress.poll()
            progress.close()
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
    if not quiet:
        line = _throughput_line(run_dir) if code == 0 else ''
        if line:
            print(f'[launch] {line.removeprefix("[train] ")}')
        print(f'[launch] run folder: {run_dir}')
    return code


def _throughput_line(run_dir: Path) -> str:
    """Return the learner's throughput line of this launch (summary.json), or ''."""
    try:
        summary = json.loads((Path(run_dir) / 'summary.json').read_text())
    except (OSError, ValueError):
        return ''
    report = summary.get('throughput') if isinstance(summary, dict) else None
    return throughput_line(report) if isinstance(report, dict) else ''
