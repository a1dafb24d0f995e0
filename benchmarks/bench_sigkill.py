#!/usr/bin/env python3
# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Random SIGKILLs of the sim_train graph's processes, each followed by a resume.

For each process kind (learner, policy node, environment node, launcher) one run folder is
trained with ``tgrpo-ros launch sim_train preset:=smoke`` (tiny policy, group 2, 8-step
episodes, 32 px images, no evaluation) and killed TRIALS times: each trial starts the graph
(the first fresh, the others with ``--resume``), waits a random time (uniform in [MIN, MAX]
seconds after the launch for a quarter of the trials, after the launch's first finished
iteration for the others, so kills land in start-up, rollouts, updates and saves alike), sends
SIGKILL to one process of that kind, waits for the graph to go down, and checks the folder:

- orphans: node processes still alive 5 s after the graph went down (then killed here);
- committed whole: ``state/last_complete.json`` names iteration N whose adapter (SHA-256 as
  recorded) and state files (safetensors + JSON, loaded) are complete;
- metrics rows: metrics.csv's first N rows are iterations 1..N exactly (a row N+1 written
  before the commit is allowed: the resume drops it);
- temporary files left by the kill (removed by the resume);
- for the policy and environment nodes, which sim_train restarts (respawn), the run resumes in
  place: the launcher must restart the node and the graph learn from another group; then the
  next kill comes, several in one launch (``--relaunch-every``, 5), after which the graph is
  stopped with Ctrl-C, as a user would, and must resume from its folder.

The launch after a trial is its resume: ``resumed ok`` means the learner of the next launch
that got as far as reading the run folder (one killed earlier commits nothing) continued after
the committed iteration N (its log says so) without an error of its own (a KeyboardInterrupt
traceback is the launcher stopping the graph, not an error); ``failed`` counts the others. After
the last trial the run is resumed with ``iterations:=N+1`` and must finish (exit 0) with
metrics rows exactly 1..N+1, no temporary file, every committed adapter whole.

Writes benchmarks/results/sigkill.{json,md}. Run from a prepared shell with ``nice -n 10``.
On two cores, two halves at once finish sooner (``--kinds learner,policy --seed 20`` and
``--kinds env,launcher --seed 31``: their ROS domains differ), then ``--merge`` writes one table.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
import csv
import json
import os
from pathlib import Path
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'benchmarks' / 'results'
KINDS = ('learner', 'policy', 'env', 'launcher')
RESPAWNED = ('policy', 'env')  # sim_train's launcher restarts these (NodeSpec.respawn)
BASE_ARGS = ['preset:=smoke', 'eval_every:=0']
# Waits long enough for a machine loaded by other jobs: building LIBERO at the first reset
# took over 300 s (the default run.startup_timeout_s) at a load of 22 on 2 cores. A step takes
# 1-2 s at a load of 10; the step timeout is what a killed policy node costs the group waiting
# on it (its observations died with it), so it is kept short.
SLOW_MACHINE = """/**:
  ros__parameters:
    run:
      startup_timeout_s: 1800.0
      step_timeout_s: 30.0
"""
TEMP_PATTERNS = ('**/*.tmp', '**/.iter_*.tmp-*', '**/.iter_*.old-*')


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f'/proc/{pid}/stat') as f:
            return f.read().split(') ')[1][0] == 'Z'
    except (ProcessLookupError, FileNotFoundError):
        return True


def launch(run: Path, fresh: bool, extra: list[str], env: dict, log: Path) -> tuple:
    """Start the graph; return (launcher Popen, {node name: pid}, log, t0) once nodes started."""
    cmd = [sys.executable, '-m', 'tgrpo_ros.commands.cli', 'launch', 'sim_train']
    params = run.parent / 'timeouts.yaml'
    params.write_text(SLOW_MACHINE)
    cmd += (BASE_ARGS + [f'params_file:={params}', f'output_dir:={run}', 'iterations:=1000']
            if fresh else ['--resume', str(run)]) + extra
    out = open(log, 'w')
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    pids: dict[str, int] = {}

    def pump() -> None:  # the launcher's output to its log; node pids as they start
        for line in proc.stdout:
            out.write(line)
            out.flush()
            m = re.search(r'started (\S+) \(pid (\d+)\)', line)
            if m:
                pids[m.group(1)] = int(m.group(2))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    while len(pids) < 4 and proc.poll() is None and time.monotonic() - t0 < 900:
        time.sleep(0.1)
    proc.reader = reader
    return proc, pids, out, t0


def reap_orphans(pids: dict[str, int]) -> list[str]:
    """Return the nodes still alive 5 s after their launcher went down (then killed here)."""
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and not all(_gone(p) for p in pids.values()):
        time.sleep(0.1)
    orphans = [k for k, p in pids.items() if not _gone(p)]
    for k in orphans:
        os.kill(pids[k], signal.SIGKILL)
    return orphans


def drain(proc, out, timeout: float) -> int | None:
    """Wait for the launcher to exit (its output goes to the log); return rc or None."""
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None
    proc.reader.join(5)
    return rc


def target_pid(kind: str, proc, pids: dict[str, int], rng: random.Random) -> tuple[str, int]:
    if kind == 'launcher':
        return 'launcher', proc.pid
    if kind == 'env':
        name = rng.choice(sorted(k for k in pids if k.endswith('/sim_env')))
        return name, pids[name]
    return f'/{kind}', pids[f'/{kind}']


def learner_log_facts(run: Path, log: Path | None = None) -> dict:
    """Return what the learner of the launch that just ended said: resumed where, errors.

    A traceback ending in KeyboardInterrupt is the launcher stopping the graph (after another
    node died), not an error of the learner.
    """
    f = log or run / 'logs' / 'learner.log'
    text = f.read_text(errors='replace') if f.is_file() else ''
    m = re.search(r'resuming \S+ after iteration (\d+)', text)
    started = re.search(r'\[train\] run folder \S+; iterations (\d+)\.\.', text)
    lines = text.splitlines()
    own = next((ln for ln in lines if '[learner] error' in ln), '')
    last_exc = ''
    for i, ln in enumerate(lines):
        if ln.startswith('Traceback (most recent call last):'):
            last_exc = next((t for t in lines[i + 1:] if t.strip() and not t.startswith(' ')),
                            '')
    crashed = bool(last_exc) and not last_exc.startswith('KeyboardInterrupt')
    return {'resumed_after': int(m.group(1)) if m else (0 if started else None),
            'first_iteration': int(started.group(1)) if started else None,
            'error': bool(own) or crashed, 'error_line': own or (last_exc if crashed else '')}


def score_resumes(outcomes: list[dict], final: dict) -> None:
    """Set each trial's ``resumed_ok`` from the first later launch whose learner got that far.

    A launch killed before its learner read the run folder tells nothing (and commits nothing),
    so the next one that did is the resume of every trial before it.
    """
    launches = [o['learner'] for o in outcomes[1:]] + [final['learner']]
    for i, o in enumerate(outcomes):
        after = next((x for x in launches[i:] if x['resumed_after'] is not None or x['error']),
                     None)
        o['resumed_ok'] = None if after is None else (
            after['resumed_after'] == o['committed'] and not after['error'])


def check_folder(run: Path) -> dict:
    """Return the committed iteration and whether everything it needs is whole."""
    sys.path.insert(0, str(ROOT))
    from tgrpo_ros.training.state_files import load_state
    from tgrpo_ros.versioning import sha256_file
    out = {'committed': 0, 'committed_whole': True, 'rows_exact': True, 'rows_after': 0,
           'temp_files': sum(len(list(run.glob(p))) for p in TEMP_PATTERNS), 'problems': []}
    lc = run / 'state' / 'last_complete.json'
    if lc.is_file():
        try:
            last = json.loads(lc.read_text())
            n = int(last['iteration'])
            out['committed'] = n
            weights = Path(last['adapter']) / 'adapter_model.safetensors'
            if sha256_file(weights) != last['sha256']:
                out['committed_whole'] = False
                out['problems'].append(f'adapter {weights} SHA-256 differs from last_complete')
            load_state(run / 'state' / last['state'])
        except Exception as exc:  # noqa: BLE001 - record what is broken
            out['committed_whole'] = False
            out['problems'].append(f'{type(exc).__name__}: {exc}')
    rows = []
    if (run / 'metrics.csv').is_file():
        with open(run / 'metrics.csv', newline='') as fh:
            rows = list(csv.DictReader(fh))
    its = [r.get('iteration') for r in rows]
    n = out['committed']
    if its[:n] != [str(i) for i in range(1, n + 1)]:
        out['rows_exact'] = False
        out['problems'].append(f'metrics iterations {its} for committed {n}')
    out['rows_after'] = len(its) - n
    if out['rows_after'] > 1:
        out['rows_exact'] = False
        out['problems'].append(f'{out["rows_after"]} rows after the committed iteration')
    return out


def trial(kind: str, t: int, work: Path, lo: float, hi: float, rng: random.Random,
          env: dict, launch_share: float = 0.25) -> dict:
    """Launch (fresh or resumed), SIGKILL one process of ``kind`` after a random delay, check."""
    run = work / f'run_{kind}'
    logs = work / f'logs_{kind}'
    logs.mkdir(parents=True, exist_ok=True)
    fresh = not (run / 'launch_args.yaml').is_file()
    proc, pids, out, t0 = launch(run, fresh, [], env, logs / f'trial_{t:02d}.log')
    delay = rng.uniform(lo, hi)
    # Counted from the launch, kills land mostly in start-up on a slow machine (start-up and
    # the first iteration, which builds LIBERO, can outlast the delay); counted from this
    # launch's first finished iteration they land in later rollouts, updates and saves.
    anchor = 'launch' if rng.random() < launch_share else 'first iteration'
    start = t0
    if anchor != 'launch':
        seen = _iterations_logged(run)
        while (proc.poll() is None and time.monotonic() - t0 < 900
               and _iterations_logged(run) <= seen):
            time.sleep(0.2)
        start = time.monotonic()
    rc = drain(proc, out, max(0.0, delay - (time.monotonic() - start)))
    rec = {'trial': t, 'kind': kind, 'delay_s': round(delay, 1), 'anchor': anchor,
           'fresh': fresh, 'committed_before': check_folder(run)['committed'] if not fresh else 0}
    if rc is not None:  # ended by itself before the kill
        rec.update(killed=None, ended_by_itself=rc)
    elif kind != 'launcher' and not any(k == f'/{kind}' or k.endswith(f'/sim_{kind}')
                                        for k in pids):
        rec.update(killed=None, not_started=sorted(pids))  # its node never started: no kill
        proc.send_signal(signal.SIGINT)
        rec['launcher_rc'] = drain(proc, out, 120)
    else:
        name, pid = target_pid(kind, proc, pids, rng)
        at_kill = _iterations_logged(run)
        os.kill(pid, signal.SIGKILL)
        rec['killed'] = name
        rec['phase'] = phase(run)
        if kind in RESPAWNED:
            # sim_train restarts these: the graph must go on and finish another iteration;
            # then it is stopped as a user would (Ctrl-C) and resumed by the next trial.
            deadline = time.monotonic() + 600
            while proc.poll() is None and time.monotonic() < deadline and not (
                    pids.get(name) != pid and _iterations_logged(run) > at_kill):
                time.sleep(0.2)
            rec['respawned'] = pids.get(name) != pid
            rec['went_on'] = _iterations_logged(run) > at_kill
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        rc = drain(proc, out, 120)
        if rc is None and kind != 'launcher':
            proc.kill()
            rc = drain(proc, out, 10)
            rec['launcher_hung'] = True
        rec['launcher_rc'] = rc
    # the launcher is gone (or was the victim): its nodes must follow within a few seconds
    orphans = rec['orphans'] = reap_orphans(pids)
    out.close()
    rec['learner'] = learner_log_facts(run)
    rec.update(check_folder(run))
    rec['seconds'] = round(time.monotonic() - t0, 1)
    if (run / 'logs' / 'learner.log').is_file():
        shutil.copy(run / 'logs' / 'learner.log', logs / f'trial_{t:02d}_learner.log')
    went = (f', restarted {rec["respawned"]}, went on {rec["went_on"]}'
            if 'respawned' in rec else '')
    print(f'[{kind} {t:2d}] kill {rec.get("killed")} at {delay:.1f} s after {anchor.split()[0]} '
          f'({rec.get("phase")}): '
          f'committed {rec["committed"]}, whole {rec["committed_whole"]}, rows exact '
          f'{rec["rows_exact"]}, temp {rec["temp_files"]}, orphans {orphans}, this launch '
          f'resumed after {rec["learner"]["resumed_after"]}{went}'
          f'{" ERROR " + rec["learner"]["error_line"] if rec["learner"]["error"] else ""}',
          flush=True)
    return rec


def series(kind: str, t0: int, n: int, work: Path, lo: float, hi: float, rng: random.Random,
           env: dict, relaunch_every: int, before: list[dict] = ()) -> list[dict]:
    """Kill a node that sim_train restarts ``n`` times, most of them within one launch.

    The launcher restarts a killed policy or environment node, so the run resumes in place: after
    each kill the node must be back and the graph must finish another iteration (``resumed_ok``),
    then the next kill comes ``uniform(lo, hi)`` seconds later. Every ``relaunch_every`` kills
    the graph is stopped with Ctrl-C and resumed from its folder, which must continue after the
    committed iteration (recorded on the kill before it as ``relaunch_resumed``).
    """
    run = work / f'run_{kind}'
    logs = work / f'logs_{kind}'
    logs.mkdir(parents=True, exist_ok=True)
    out_recs: list[dict] = []
    proc = None
    for t in range(t0, t0 + n):
        if proc is None:
            fresh = not (run / 'launch_args.yaml').is_file()
            committed_at_stop = 0 if fresh else check_folder(run)['committed']
            proc, pids, out, started = launch(run, fresh, [], env, logs / f'launch_{t:02d}.log')
            seen = 0
            deadline = time.monotonic() + 900
            while proc.poll() is None and time.monotonic() < deadline and seen < 1:
                seen = _iterations_logged(run)
                time.sleep(0.2)
            facts = learner_log_facts(run)
            earlier = out_recs or list(before)
            if earlier:  # the previous launch was stopped on purpose: did this one resume it?
                earlier[-1]['relaunch_resumed'] = (facts['resumed_after'] == committed_at_stop
                                                   and not facts['error'])
        delay = rng.uniform(lo, hi)
        rc = drain(proc, out, delay)
        rec = {'trial': t, 'kind': kind, 'delay_s': round(delay, 1), 'anchor': 'recovery',
               'fresh': False, 'committed_before': check_folder(run)['committed']}
        if rc is not None:
            rec.update(killed=None, ended_by_itself=rc, orphans=[], learner=learner_log_facts(run))
            rec.update(check_folder(run))
            out_recs.append(rec)
            out.close()
            proc = None
            continue
        name, pid = target_pid(kind, proc, pids, rng)
        # Recovered = the node is back and a group after the kill was learnt from (the group
        # the kill hit may be skipped: its trials time out). Two skipped groups in a row stop a
        # run on purpose (a node that cannot serve), so the next kill waits for a whole one.
        at_kill = _iterations_logged(run, healthy=True)
        os.kill(pid, signal.SIGKILL)
        rec['killed'], rec['phase'] = name, phase(run)
        deadline = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < deadline and not (
                pids.get(name) != pid and _iterations_logged(run, healthy=True) > at_kill):
            time.sleep(0.2)
        rec['respawned'] = pids.get(name) != pid
        rec['went_on'] = _iterations_logged(run, healthy=True) > at_kill
        rec['learner'] = learner_log_facts(run)
        rec.update(check_folder(run))
        rec['resumed_ok'] = rec['respawned'] and rec['went_on'] and not rec['learner']['error']
        last = t == t0 + n - 1 or (t - t0 + 1) % relaunch_every == 0
        orphans: list[str] = []
        if last or proc.poll() is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            rc = drain(proc, out, 120)
            if rc is None:
                proc.kill()
                drain(proc, out, 10)
                rec['launcher_hung'] = True
            rec['launcher_rc'] = rc
            orphans = reap_orphans(pids)
            out.close()
            shutil.copy(run / 'logs' / 'learner.log', logs / f'trial_{t:02d}_learner.log')
            rec.update(check_folder(run))
            proc = None
        rec['orphans'] = orphans
        out_recs.append(rec)
        print(f'[{kind} {t:2d}] kill {name} at {delay:.1f} s after recovery ({rec["phase"]}): '
              f'committed {rec["committed"]}, whole {rec["committed_whole"]}, rows exact '
              f'{rec["rows_exact"]}, temp {rec["temp_files"]}, orphans {orphans}, restarted '
              f'{rec["respawned"]}, went on {rec["went_on"]}'
              f'{", graph stopped (Ctrl-C) for a resume" if proc is None else ""}'
              f'{" ERROR " + rec["learner"]["error_line"] if rec["learner"]["error"] else ""}',
              flush=True)
    return out_recs


def _iterations_logged(run: Path, healthy: bool = False) -> int:
    """Count the learner's '[train] iter' lines (its log restarts with each launch).

    healthy: only iterations whose group was not skipped (some trial was not masked).
    """
    f = run / 'logs' / 'learner.log'
    lines = f.read_text(errors='replace').splitlines() if f.is_file() else []
    return sum('[train] iter ' in ln and not (healthy and 'group skipped' in ln) for ln in lines)


def phase(run: Path) -> str:
    """Say where the learner was when the kill came (from its log and the run folder)."""
    f = run / 'logs' / 'learner.log'
    text = f.read_text(errors='replace') if f.is_file() else ''
    if '[train] run folder' not in text:
        return 'start-up'
    return 'training'


def finish(kind: str, outcomes: list[dict], work: Path, env: dict) -> dict:
    """Resume the run once more with iterations:=N+1; it must finish clean."""
    run = work / f'run_{kind}'
    n = check_folder(run)['committed']
    proc, pids, out, t0 = launch(run, False, [f'iterations:={n + 1}'], env,
                                 work / f'logs_{kind}' / 'final_resume.log')
    rc = drain(proc, out, 900)
    if rc is None:
        proc.send_signal(signal.SIGINT)
        rc = drain(proc, out, 60)
    out.close()
    final = {'rc': rc, 'learner': learner_log_facts(run), **check_folder(run),
             'seconds': round(time.monotonic() - t0, 1)}
    final['finished'] = (rc == 0 and final['committed'] == n + 1 and final['rows_after'] == 0
                         and final['temp_files'] == 0 and (run / 'summary.json').is_file())
    if kind in RESPAWNED:  # resumed in place after each kill; the final launch resumed the last
        if outcomes:
            outcomes[-1]['relaunch_resumed'] = (final['learner']['resumed_after'] == n
                                                and not final['learner']['error'])
    else:
        score_resumes(outcomes, final)
    return {'trials': outcomes, 'final': final}


def summarize(kind: str, res: dict) -> dict:
    tr = [o for o in res['trials'] if o.get('killed')]
    return {'kind': kind, 'kills': len(tr),
            'kills_in_startup': sum(o.get('phase') == 'start-up' for o in tr),
            'kills_in_training': sum(o.get('phase') == 'training' for o in tr),
            'ended_before_kill': len(res['trials']) - len(tr),
            'resumed_ok': sum(o['resumed_ok'] is True for o in tr),
            'resume_failed': sum(o['resumed_ok'] is False for o in tr),
            'committed_whole': sum(o['committed_whole'] for o in tr),
            'rows_exact': sum(o['rows_exact'] for o in tr),
            'uncommitted_row_left': sum(o['rows_after'] == 1 for o in tr),
            'temp_files_left_by_kill': sum(o['temp_files'] > 0 for o in tr),
            'orphans': sum(bool(o['orphans']) for o in tr),
            'launcher_hung': sum(bool(o.get('launcher_hung')) for o in tr),
            'relaunches': sum('relaunch_resumed' in o for o in tr),
            'relaunches_resumed': sum(o.get('relaunch_resumed') is True for o in tr),
            'respawned_went_on': (sum(bool(o.get('respawned') and o.get('went_on')) for o in tr)
                                  if kind in RESPAWNED else None),
            'iterations_committed': res['final']['committed'],
            'final_finished_clean': res['final']['finished']}


_TRIAL = re.compile(r'\[(\w+) +(\d+)\] kill (\S+) at ([\d.]+) s (?:after \w+ )?\(([\w-]+)\): '
                    r'committed (\d+), '
                    r'whole (\w+), rows exact (\w+), temp (\d+), orphans \[(.*?)\]')


def from_log(out: Path, work: Path, a) -> dict:
    """Rebuild the results of a run cut off before its final resumes (a deadline).

    The trials come from the lines the run printed; each trial's resume is judged from the kept
    learner logs and, for the last trials, from the launch that was running when the run was
    cut off (its learner log in the run folder): no final resume, so 'finished clean' is no.
    """
    results = {'benchmark': 'sigkill', 'commit': git_commit(),
               'date_utc': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
               'machine': {'platform': platform.platform(), 'cpus': os.cpu_count(),
                           'processor': platform.processor() or platform.machine(),
                           'note': 'shared VM; a soak run and other jobs at the same time, '
                                   '1-min load 20 to 78'},
               'load_at_start': os.getloadavg()[0], 'seed': a.seed, 'delay_s': list(a.delay),
               'launch': ' '.join(BASE_ARGS), 'kinds': {}, 'summary': [],
               'cut_off': 'stopped at the deadline before the final resumes'}
    trials: dict[str, list[dict]] = {}
    for line in out.read_text().splitlines():
        m = _TRIAL.match(line)
        if not m:
            continue
        kind, t = m.group(1), int(m.group(2))
        log = work / f'logs_{kind}' / f'trial_{t:02d}_learner.log'
        trials.setdefault(kind, []).append({
            'trial': t, 'kind': kind, 'killed': m.group(3), 'delay_s': float(m.group(4)),
            'phase': m.group(5), 'committed': int(m.group(6)),
            'committed_whole': m.group(7) == 'True', 'rows_exact': m.group(8) == 'True',
            'temp_files': int(m.group(9)), 'rows_after': 0,
            'orphans': [x.strip(" '") for x in m.group(10).split(',') if x.strip()],
            'problems': [], 'learner': learner_log_facts(work, log)})
    for kind, outcomes in trials.items():
        run = work / f'run_{kind}'
        final = {'rc': None, 'learner': learner_log_facts(run), **check_folder(run),
                 'finished': False, 'note': 'the launch running when the run was cut off'}
        score_resumes(outcomes, final)
        results['kinds'][kind] = {'trials': outcomes, 'final': final}
        results['summary'].append(summarize(kind, results['kinds'][kind]))
    return results


def git_commit() -> str:
    try:
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def write_results(results: dict, name: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f'{name}.json').write_text(json.dumps(results, indent=2) + '\n')
    m = results['machine']
    lines = ['# Random SIGKILLs of the sim_train graph, each followed by a resume', '',
             __doc__.strip().split('\n\n', 1)[1].split('\n\nWrites')[0], '',
             f'Machine: {m["processor"]}, {m["cpus"]} cores ({m["note"]}; 1-min load '
             f'{results["load_at_start"]:.1f} at start), no GPU. Commit {results["commit"]}, '
             f'{results["date_utc"]}. Kill delay uniform in [{results["delay_s"][0]}, '
             f'{results["delay_s"][1]}] s after the launch (a share '
             f'{results.get("launch_share", 1.0)} of the kills) or after the first iteration '
             f'the launch finished (the others); seed {results["seed"]}.', '',
             '| process killed | kills (start-up / training) | resumed ok (failed) | committed '
             'iteration '
             'whole | metrics rows exact | row N+1 left (dropped at resume) | temp files left '
             '(removed at resume) | orphaned nodes | launcher hung | restarted, graph went on | '
             'final resume: finished clean (iterations) |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for s in results['summary']:
        lines.append(f'| {s["kind"]} | {s["kills"]} ({s["kills_in_startup"]} / '
                     f'{s["kills_in_training"]}) | {s["resumed_ok"]} ({s["resume_failed"]}) | '
                     f'{s["committed_whole"]} | {s["rows_exact"]} | {s["uncommitted_row_left"]} '
                     f'| {s["temp_files_left_by_kill"]} | {s["orphans"]} | {s["launcher_hung"]} '
                     f'| {"-" if s.get("respawned_went_on") is None else s["respawned_went_on"]} '
                     f'| {"yes" if s["final_finished_clean"] else "NO"} '
                     f'({s["iterations_committed"]}) |')
    if results.get('cut_off'):
        lines += ['', f'Cut off: {results["cut_off"]}; the last column is the state of the launch '
                  'that was running then (resumed from the right iteration or not is in '
                  '"resumed ok").']
    for s in results['summary']:
        if s.get('relaunches'):
            lines += ['', f'{s["kind"]}: killed {s["kills"]} times in {s["relaunches"]} launches '
                      '(the launcher restarts it in place); each launch was then stopped with '
                      f'Ctrl-C and resumed: {s["relaunches_resumed"]} of {s["relaunches"]} '
                      'resumed after the committed iteration.']
    if results.get('note'):
        lines += ['', results['note']]
    problems = [f'- {k} trial {o["trial"]}: ' + '; '.join(o['problems'] + (
                [o['learner']['error_line']] if o['learner']['error'] else []))
                for k, r in results['kinds'].items() for o in r['trials']
                if o['problems'] or o.get('resumed_ok') is False or o['learner']['error']]
    lines += ['', 'Problems seen (trial: what):' if problems else 'No problem seen.', *problems,
              '', f'Per-trial records: {name}.json.', '']
    (RESULTS / f'{name}.md').write_text('\n'.join(lines))
    print('\n'.join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--trials', type=int, default=20, help='kills per process kind')
    ap.add_argument('--kinds', default=','.join(KINDS), help='comma-separated subset of '
                    + ', '.join(KINDS))
    ap.add_argument('--delay', type=float, nargs=2, default=(1.0, 30.0), metavar=('MIN', 'MAX'),
                    help="kill this many seconds after the launch or the launch's first "
                    'iteration, uniformly at random')
    ap.add_argument('--launch-share', type=float, default=0.25, help='share of the kills whose '
                    'delay counts from the launch; the others count from the end of the '
                    "launch's first iteration")
    ap.add_argument('--relaunch-every', type=int, default=5, help='policy and environment '
                    'nodes: kills per launch before the graph is stopped and resumed')
    ap.add_argument('--seed', type=int, default=20)
    ap.add_argument('--parallel', type=int, default=1, help='final resumes run at once')
    ap.add_argument('--budget', type=float, default=0.0, help='stop starting rounds of kills '
                    'after this many seconds (0 = none); the final resumes still run')
    ap.add_argument('--work', default='/tmp/tgrpo_sigkill', help='scratch folder (emptied)')
    ap.add_argument('--name', default='sigkill')
    ap.add_argument('--from-log', metavar='OUT', help='only write the results of a run cut off '
                    'before its final resumes, from its printed trial lines and --work')
    ap.add_argument('--note', default='', help='with --from-log: a paragraph for the table')
    ap.add_argument('--rescore', metavar='JSON', help='only score an earlier run again from '
                    'its results and the learner logs kept in --work')
    ap.add_argument('--final-only', metavar='JSON', help='only run the final resumes again for '
                    'the kinds of an earlier run (its results and --work kept), then write them')
    ap.add_argument('--merge', metavar='JSON', nargs='+', help='only write one table from the '
                    'results of runs over disjoint kinds (e.g. two halves run at the same time)')
    ap.add_argument('--machine-note', default='', help='replaces the machine note of the table')
    a = ap.parse_args()
    work = Path(a.work).resolve()
    rng = random.Random(a.seed)
    # A domain per kind, so other ROS 2 work on this host (and the other kinds' graphs) is
    # neither seen nor disturbed: 215..229, outside 1..101 where the tests pick theirs.
    base = rng.randint(215, 229 - len(KINDS))
    envs = {k: dict(os.environ, ROS_DOMAIN_ID=str(base + i),
                    ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', PYTHONUNBUFFERED='1')
            for i, k in enumerate(KINDS)}
    if a.final_only:
        results = json.loads(Path(a.final_only).read_text())
        results.pop('cut_off', None)
        for kind in list(results['kinds']):
            results['kinds'][kind] = finish(kind, results['kinds'][kind]['trials'], work,
                                            envs[kind])
        results['summary'] = [summarize(k, r) for k, r in results['kinds'].items()]
        write_results(results, a.name)
        return 0
    if a.merge:
        parts = [json.loads(Path(f).read_text()) for f in a.merge]
        results = dict(parts[0], kinds={}, summary=[], parts=[
            {k: r[k] for k in ('commit', 'date_utc', 'seed', 'load_at_start')} for r in parts])
        for r in parts:
            if set(r['kinds']) & set(results['kinds']):
                sys.exit(f'--merge: kinds {sorted(set(r["kinds"]) & set(results["kinds"]))} '
                         'appear in more than one file')
            results['kinds'].update(r['kinds'])
        results['summary'] = [summarize(k, r) for k, r in results['kinds'].items()]
        results['seed'] = ' / '.join(str(r['seed']) for r in parts)
        results['load_at_start'] = max(r['load_at_start'] for r in parts)
        if a.machine_note:
            results['machine']['note'] = a.machine_note
        write_results(results, a.name)
        return 0
    if a.from_log:
        results = from_log(Path(a.from_log), work, a)
        results['note'] = a.note
        write_results(results, a.name)
        return 0
    if a.rescore:
        results = json.loads(Path(a.rescore).read_text())
        results['summary'] = []
        for kind, res in results['kinds'].items():
            for o in res['trials']:
                log = work / f'logs_{kind}' / f'trial_{o["trial"]:02d}_learner.log'
                if log.is_file():
                    o['learner'] = learner_log_facts(work, log)
            res['final']['learner'] = learner_log_facts(work / f'run_{kind}')
            if kind not in RESPAWNED:
                score_resumes(res['trials'], res['final'])
            results['summary'].append(summarize(kind, res))
        write_results(results, a.name)
        return 0
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    results = {'benchmark': 'sigkill', 'commit': git_commit(),
               'date_utc': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
               'machine': {'platform': platform.platform(), 'cpus': os.cpu_count(),
                           'processor': platform.processor() or platform.machine(),
                           'note': 'shared VM; other jobs (a soak run among them) ran at the '
                                   'same time'},
               'load_at_start': os.getloadavg()[0], 'seed': a.seed, 'delay_s': list(a.delay),
               'launch_share': a.launch_share, 'launch': ' '.join(BASE_ARGS), 'kinds': {},
               'summary': []}
    kinds = a.kinds.split(',')
    for kind in kinds:
        if kind not in KINDS:
            sys.exit(f'unknown kind {kind!r}; choose from {KINDS}')
    # Round robin over the kinds, so that a deadline leaves each with as many kills.
    trials: dict[str, list[dict]] = {k: [] for k in kinds}
    stop_at = time.time() + a.budget if a.budget else float('inf')
    for t in range(a.trials):
        if time.time() > stop_at:
            print(f'[sigkill] time budget spent after {t} rounds', flush=True)
            break
        for kind in kinds:
            if kind in RESPAWNED:
                if t % a.relaunch_every == 0:  # a series of kills, then a stop and a resume
                    trials[kind] += series(kind, t, min(a.relaunch_every, a.trials - t), work,
                                           a.delay[0], a.delay[1], rng, envs[kind],
                                           a.relaunch_every, trials[kind])
                continue
            trials[kind].append(trial(kind, t, work, a.delay[0], a.delay[1], rng, envs[kind],
                                      a.launch_share))
    # The final resumes, a.parallel at a time (each kind has its own ROS domain).
    lock = threading.Lock()

    def final(kind: str) -> None:
        res = finish(kind, trials[kind], work, envs[kind])
        with lock:
            results['kinds'][kind] = res
            results['summary'] = [summarize(k, results['kinds'][k]) for k in kinds
                                  if k in results['kinds']]
            write_results(results, a.name)  # after each kind: a cut-off run keeps what it did

    with ThreadPoolExecutor(max(1, a.parallel)) as pool:
        list(pool.map(final, kinds))
    ok = all(s['resumed_ok'] == s['kills'] and s['final_finished_clean'] and not s['orphans']
             and s['respawned_went_on'] in (None, s['kills'])
             and s['relaunches_resumed'] == s['relaunches'] for s in results['summary'])
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
