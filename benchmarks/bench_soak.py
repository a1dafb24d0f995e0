#!/usr/bin/env python3
# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Soak: run the sim_train graph for an hour and watch every process's resident memory.

Starts ``tgrpo-ros launch sim_train preset:=smoke`` (tiny policy, group 2 = two LIBERO
environment nodes, 8-step episodes, 32 px images) with effectively unlimited iterations and no
evaluation, and samples every few seconds the resident set size (RSS, ``/proc/<pid>/status``
VmRSS) of the launcher and of each node process, together with the number of committed
iterations (rows of the run's metrics.csv). After the duration the launcher is stopped with
SIGINT (as Ctrl-C).

Growth per iteration, per process, after the first three iterations (start-up, first
allocations and caches): the least-squares slope of RSS over committed iterations of the
samples taken once iteration 3 is committed; also the plain difference last - first over the
same span. Target: below 1 MiB per iteration per process.

Writes benchmarks/results/soak.{json,md} and soak.png (RSS over time, one line per process);
the raw samples go to <run>_soak_samples.jsonl (next to the run folder) while it runs, so
``--report FILE`` can write the results again from them (e.g. after an interruption). Run from a
prepared shell (``source scripts/prepare_shell.sh``) with ``nice -n 10``; numbers: wall-clock.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import platform
import signal
import subprocess
import sys
import time

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'benchmarks' / 'results'
TARGET_MIB_PER_ITERATION = 1.0
SKIP_ITERATIONS = 3

# Waits long enough for a machine loaded by other jobs: building LIBERO at the first reset
# took over 300 s (the default run.startup_timeout_s) at a load of 22 on 2 cores.
SLOW_MACHINE = """/**:
  ros__parameters:
    run:
      startup_timeout_s: 1800.0
      step_timeout_s: 900.0
"""


def memory_mib(pid: int) -> dict[str, float]:
    """Resident memory of a process: all (VmRSS), anonymous (RssAnon) and file-backed pages.

    RSS also counts shared library and file pages, which the kernel drops and reloads when the
    machine runs short of memory; anonymous memory (the heap: what a leak grows) does not move
    that way without swap, so it is the figure to judge growth by.
    """
    out = {}
    keys = {'VmRSS:': 'rss', 'RssAnon:': 'anon', 'RssFile:': 'file'}
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                name = line.split(None, 1)[0] if line.strip() else ''
                if name in keys:
                    out[keys[name]] = int(line.split()[1]) / 1024.0
    except OSError:
        return {}
    return out


def children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f'/proc/{pid}/task'):
            with open(f'/proc/{pid}/task/{tid}/children') as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def label(pid: int) -> str:
    """Return a stable name for a process: node module and namespace, or 'launcher'."""
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            argv = f.read().decode(errors='replace').split('\0')
    except OSError:
        return f'pid{pid}'
    name = next((a.rsplit('.', 1)[1] for a in argv if a.startswith('tgrpo_ros.ros.nodes.')), '')
    ns = next((a.split(':=', 1)[1] for a in argv if a.startswith('__ns:=')), '')
    if not name:
        return 'launcher' if 'launch' in argv else os.path.basename(argv[0]) or f'pid{pid}'
    return f'{ns.strip("/")}/{name}' if ns else name


def committed(run_dir: Path) -> int:
    try:
        with open(run_dir / 'metrics.csv') as f:
            return max(0, sum(1 for line in f if line.strip()) - 1)
    except OSError:
        return 0


def git_commit() -> str:
    try:
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def soak(run_dir: Path, duration: float, interval: float, samples_file: Path) -> dict:
    params = run_dir.parent / f'{run_dir.name}_timeouts.yaml'
    params.write_text(SLOW_MACHINE)
    cmd = [sys.executable, '-m', 'tgrpo_ros.commands.cli', 'launch', 'sim_train',
           'preset:=smoke', 'iterations:=1000000', 'eval_every:=0', f'params_file:={params}',
           f'output_dir:={run_dir}']
    # the commit the processes run, taken now: the checkout may move while the hour passes
    meta = {'command': ' '.join(cmd[1:]), 'started_utc': time.strftime('%Y-%m-%dT%H:%M:%SZ',
            time.gmtime()), 'load_at_start': os.getloadavg()[0], 'commit': git_commit()}
    log = open(run_dir.parent / f'{run_dir.name}_launcher.log', 'w')
    # A domain of its own, so other ROS 2 work on this host is neither seen nor disturbed:
    # outside 1..101, where the tests pick theirs (a test's policy node acting on this graph's
    # topics once failed a soak with 'sampled at temperature 0').
    env = dict(os.environ, ROS_DOMAIN_ID=os.environ.get('SOAK_ROS_DOMAIN_ID', '230'),
               ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    launcher = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    with open(samples_file, 'w') as out:
        out.write(json.dumps({'meta': meta}) + '\n')
        ended_early = sample(launcher.pid, lambda: launcher.poll() is None, run_dir, duration,
                             interval, out)
    if launcher.poll() is None:
        launcher.send_signal(signal.SIGINT)
        try:
            launcher.wait(90)
        except subprocess.TimeoutExpired:
            launcher.kill()
            launcher.wait()
    log.close()
    with open(samples_file, 'a') as out:
        out.write(json.dumps({'end': {'ended_early': ended_early,
                                      'launcher_rc': launcher.returncode}}) + '\n')
    return {}


def sample(launcher: int, alive, run_dir: Path, duration: float, interval: float, out) -> str:
    """Write a sample of every process of the graph each ``interval`` s; return why it ended."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < duration:
        if not alive():
            return f'launcher ended after {time.monotonic() - t0:.0f} s'
        pids = {'launcher': launcher}
        for c in children(launcher):
            pids[label(c)] = c
        mem = {k: memory_mib(p) for k, p in pids.items()}
        out.write(json.dumps({
            't': round(time.monotonic() - t0, 2), 'utc': round(time.time(), 1),
            'iteration': committed(run_dir), 'pids': pids,
            'rss_mib': {k: v['rss'] for k, v in mem.items() if 'rss' in v},
            'anon_mib': {k: v['anon'] for k, v in mem.items() if 'anon' in v}}) + '\n')
        out.flush()
        time.sleep(interval)
    return ''


def attach(launcher: int, run_dir: Path, duration: float, interval: float,
           samples_file: Path) -> None:
    """Sample a graph started elsewhere (its launcher's pid) until it ends or ``duration``."""
    meta = {'attached_to': launcher, 'started_utc': time.strftime('%Y-%m-%dT%H:%M:%SZ',
            time.gmtime()), 'load_at_start': os.getloadavg()[0],
            'at_iteration': committed(run_dir)}
    with open(samples_file, 'w') as out:
        out.write(json.dumps({'meta': meta}) + '\n')
        why = sample(launcher, lambda: os.path.exists(f'/proc/{launcher}'), run_dir, duration,
                     interval, out)
        out.write(json.dumps({'end': {'ended_early': why}}) + '\n')


def slope(xs: list[float], ys: list[float]) -> float | None:
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def _read(path: Path) -> tuple[dict, dict, list[dict]]:
    meta, end, rows = {}, {}, []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if 'meta' in rec:
            meta = rec['meta']
        elif 'end' in rec:
            end = rec['end']
        else:
            rows.append(rec)
    return meta, end, rows


def growth(rows: list[dict], key: str, proc: str) -> dict:
    """Growth of one memory figure of one process over the iterations after the first few."""
    pts = [(r['iteration'], r[key][proc]) for r in rows
           if proc in r.get(key, {}) and r['iteration'] >= SKIP_ITERATIONS]
    if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
        return {}
    s = slope([x for x, _ in pts], [y for _, y in pts])
    return {'samples': len(pts), 'iterations_span': [pts[0][0], pts[-1][0]],
            'start_mib': round(pts[0][1], 1), 'end_mib': round(pts[-1][1], 1),
            'max_mib': round(max(y for _, y in pts), 1),
            'slope_mib_per_iteration': round(s, 4) if s is not None else None,
            'diff_mib_per_iteration': round((pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0]),
                                            4)}


def report(samples_file: Path, name: str, extra: Path | None = None) -> dict:
    """Write the results; ``extra``: samples of the same graph taken by ``--attach``.

    (Anonymous memory for a run whose own sampler recorded RSS only.)
    """
    meta, end, rows = _read(samples_file)
    extra_meta, _, extra_rows = _read(extra) if extra else ({}, {}, [])
    both = rows + extra_rows
    # a process seen in a sample or two only (its command line unread while it started) is
    # not one of the graph's: leave it out
    seen = [k for r in rows for k in r['rss_mib']]
    procs = sorted(k for k in set(seen) if seen.count(k) >= 3)
    iterations = max((r['iteration'] for r in both), default=0)
    duration = rows[-1]['t'] if rows else 0.0
    per = {}
    for p in procs:
        e = {'pids': sorted({r['pids'][p] for r in both if p in r['pids']}),
             'rss': growth(rows, 'rss_mib', p), 'anon': growth(both, 'anon_mib', p)}
        judged = e['anon'] or e['rss']
        e['judged_by'] = 'anon' if e['anon'] else 'rss'
        e['below_target'] = bool(judged) and max(judged['slope_mib_per_iteration'] or 0.0,
                                                 judged['diff_mib_per_iteration']) \
            < TARGET_MIB_PER_ITERATION
        per[p] = e
    result = {
        'benchmark': 'soak', 'how': __doc__.strip().split('\n\n')[1].replace('\n', ' '),
        'machine': {'platform': platform.platform(), 'cpus': os.cpu_count(),
                    'processor': platform.processor() or platform.machine(),
                    'note': 'shared 2-core VM; other jobs ran at the same time'},
        'commit': meta.get('commit') or git_commit(), 'date_utc': meta.get('started_utc'),
        'command': meta.get('command'), 'load_at_start': meta.get('load_at_start'),
        'duration_s': duration, 'iterations': iterations,
        'seconds_per_iteration': round(duration / iterations, 1) if iterations else None,
        'skip_iterations': SKIP_ITERATIONS, 'anon_samples_from': extra_meta or None,
        'target_mib_per_iteration': TARGET_MIB_PER_ITERATION, 'ended': end,
        'processes': per,
        'all_below_target': all(e['below_target'] for e in per.values()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f'{name}.json').write_text(json.dumps(result, indent=2) + '\n')

    def cell(d: dict, k: str) -> str:
        return str(d.get(k, '-')) if d else '-'

    lines = [f'# Soak: sim_train graph, memory per process ({duration / 60:.0f} min)', '',
             result['how'], '',
             f'Machine: {result["machine"]["processor"]}, {result["machine"]["cpus"]} cores '
             f'(shared with other jobs; 1-min load {meta.get("load_at_start", 0):.1f} at start), '
             f'no GPU. Commit {result["commit"]}, started {result["date_utc"]}.', '',
             f'Command: `{result["command"]}`', '',
             f'{iterations} iterations committed in {duration:.0f} s '
             f'({result["seconds_per_iteration"]} s per iteration); ended: {end or "?"}.', '']
    if extra_meta:
        lines += [f'Anonymous memory was sampled from iteration {extra_meta.get("at_iteration")} '
                  f'on (``--attach``, started {extra_meta.get("started_utc")}).', '']
    lines += [f'Growth is measured from iteration {SKIP_ITERATIONS} on: least-squares slope '
              'over committed iterations, and (end - start) / iterations.', '',
              '| process | RSS start / end / max (MiB) | RSS slope (MiB/it) | anon start / end '
              '(MiB) | anon slope (MiB/it) | anon (end - start)/it | < 1 MiB/it |',
              '|---|---|---|---|---|---|---|']
    for p, e in per.items():
        r, a = e['rss'], e['anon']
        lines.append(f'| {p} | {cell(r, "start_mib")} / {cell(r, "end_mib")} / '
                     f'{cell(r, "max_mib")} | {cell(r, "slope_mib_per_iteration")} | '
                     f'{cell(a, "start_mib")} / {cell(a, "end_mib")} | '
                     f'{cell(a, "slope_mib_per_iteration")} | {cell(a, "diff_mib_per_iteration")} '
                     f'| {"yes" if e["below_target"] else "NO"} ({e["judged_by"]}) |')
    lines += ['', f'Plot: {name}.png (memory of each process over committed iterations).', '']
    (RESULTS / f'{name}.md').write_text('\n'.join(lines))
    _plot(both, procs, RESULTS / f'{name}.png')
    print('\n'.join(lines))
    return result


def _plot(rows: list[dict], procs: list[str], path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 5))
    for i, p in enumerate(procs):
        color = f'C{i}'
        for key, style, what in (('rss_mib', '-', 'RSS'), ('anon_mib', '--', 'anon')):
            pts = sorted((r['iteration'], r[key][p]) for r in rows if p in r.get(key, {}))
            if pts:
                ax.plot([x for x, _ in pts], [y for _, y in pts], style, color=color, lw=1,
                        label=f'{p} ({what})')
    ax.axvline(SKIP_ITERATIONS, color='grey', ls=':', lw=1)
    ax.set_xlabel('committed iterations')
    ax.set_ylabel('resident memory (MiB)')
    ax.set_yscale('log')
    ax.set_title('sim_train soak: RSS per process')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--duration', type=float, default=3600.0, help='seconds (default 3600)')
    ap.add_argument('--interval', type=float, default=5.0, help='seconds between samples')
    ap.add_argument('--run-dir', default='/tmp/tgrpo_soak/run', help='run folder (fresh)')
    ap.add_argument('--name', default='soak', help='results name under benchmarks/results')
    ap.add_argument('--report', metavar='SAMPLES', help='only write the results from a '
                    'samples file of an earlier run')
    ap.add_argument('--extra', metavar='SAMPLES', help='with --report: samples of the same '
                    'graph taken by --attach')
    ap.add_argument('--attach', type=int, metavar='LAUNCHER_PID', help='only sample a graph '
                    'already running (its launcher pid; --run-dir: its run folder) into '
                    '<run>_attach_samples.jsonl')
    a = ap.parse_args()
    if a.report:
        report(Path(a.report), a.name, Path(a.extra) if a.extra else None)
        return 0
    if a.attach:
        run_dir = Path(a.run_dir).resolve()
        attach(a.attach, run_dir, a.duration, a.interval,
               run_dir.parent / f'{run_dir.name}_attach_samples.jsonl')
        return 0
    run_dir = Path(a.run_dir).resolve()
    if run_dir.exists():
        sys.exit(f'{run_dir} exists: give a fresh --run-dir')
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    samples = run_dir.parent / f'{run_dir.name}_soak_samples.jsonl'
    soak(run_dir, a.duration, a.interval, samples)
    result = report(samples, a.name)
    return 0 if result['all_below_target'] else 1


if __name__ == '__main__':
    sys.exit(main())
