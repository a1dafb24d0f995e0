# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Choose an SFT start for a several-task experiment by its SAMPLED success, never held-out states.

Each candidate policy (given in order of training length, shortest first) is evaluated with
``run_experiment.py``'s evaluation (the same runner, sampled at ``--temperature``) on the
selection states of every task (default 45-49: neither training states 0-24 nor the
experiment's evaluation states 25-44). The rule, fixed before any RL run:

1. evaluate the candidates shortest-trained first;
2. the first whose success pooled over the tasks lies in ``--band`` (default 20-70%) is chosen:
   the least-trained start in the band, as much room for RL as the band allows;
3. one above the band stops the search (longer training will not bring it down): nothing is
   chosen (exit 2), as when every candidate lies below the band; train shorter or longer and
   run again with the new candidates.

A candidate folder that does not exist yet is waited for (``--wait-s``), so the selection can
run beside the SFT run that writes its checkpoints.

Resumable: every (candidate, task) evaluation is cached in OUT/<candidate>/task<t>/results.json;
rerunning only evaluates what is missing. OUT/selection.json and selection.md hold the table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
import sys
import time
from typing import Sequence

HERE = Path(__file__).resolve().parent


def _experiment():
    spec = importlib.util.spec_from_file_location('run_experiment', HERE / 'run_experiment.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def candidate_name(folder: str) -> str:
    """Return a folder name for a candidate path: its last three parts, joined."""
    return '_'.join(Path(folder).parts[-3:])


def choose(rates: list[float | None], band: tuple[float, float]) -> tuple[int | None, int | None]:
    """Apply the rule to the pooled rates measured so far (None: not evaluated).

    Returns (chosen index or None, index to evaluate next or None).
    """
    lo, hi = band
    for i, rate in enumerate(rates):
        if rate is None:
            return None, i
        if lo <= rate <= hi:
            return i, None
        if rate > hi:
            return None, None  # above the band: longer ones will not be lower
    return None, None


def wait_for(folder: Path, seconds: float, poll: float = 30.0) -> None:
    """Wait until ``folder`` exists (a checkpoint the SFT run has not written yet)."""
    deadline = time.monotonic() + seconds
    while not folder.is_dir():
        if time.monotonic() > deadline:
            raise SystemExit(f'candidate {folder} did not appear within {seconds:.0f}s')
        time.sleep(poll)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--candidates', nargs='+', required=True,
                   help='policy folders, shortest training first')
    p.add_argument('--suite', default='libero_spatial')
    p.add_argument('--tasks', nargs='+', required=True)
    p.add_argument('--states', default='45-49', help='selection initial states')
    p.add_argument('--band', nargs=2, type=float, default=[0.2, 0.7])
    p.add_argument('--temperature', type=float, default=1.0)
    p.add_argument('--seed', type=int, default=3)
    p.add_argument('--max-steps', type=int, default=160)
    p.add_argument('--envs', type=int, default=2)
    p.add_argument('--image-size', type=int, default=128)
    p.add_argument('--wait-s', type=float, default=6 * 3600,
                   help='how long to wait for a candidate folder to appear')
    p.add_argument('--out', type=Path, required=True)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    exp = _experiment()
    states = exp.parse_range(args.states)
    if set(states) & set(range(25, 45)):
        raise SystemExit(f'selection states {args.states} include evaluation states 25-44')
    ev_args = exp.parse_args(['--suite', args.suite, '--tasks', *args.tasks,
                              # the runner renders the cameras each candidate reads
                              '--cameras', 'agentview',
                              '--eval-states', args.states, '--train-states', '0-24',
                              '--eval-envs', str(args.envs), '--eval-seed', str(args.seed),
                              '--eval-temperature', str(args.temperature),
                              '--eval-max-steps', str(args.max_steps),
                              '--image-size', str(args.image_size)])
    args.out.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(msg, flush=True)

    rates: list[float | None] = [None] * len(args.candidates)
    docs: dict[str, dict] = {}
    for i, c in enumerate(args.candidates):  # reuse what was measured before
        f = args.out / candidate_name(c) / 'results.json'
        if f.is_file():
            docs[c] = json.loads(f.read_text())
            rates[i] = docs[c]['success_rate']
    while True:
        chosen, nxt = choose(rates, tuple(args.band))
        if nxt is None:
            break
        c = args.candidates[nxt]
        wait_for(Path(c), args.wait_s)
        docs[c] = exp.evaluate_tasks(ev_args, c, args.out / candidate_name(c), log) \
            if len(args.tasks) > 1 else exp.evaluate(ev_args, c, args.out / candidate_name(c),
                                                     log)
        rates[nxt] = docs[c]['success_rate']
    rows = []
    for i, c in enumerate(args.candidates):
        d = docs.get(c)
        per = ', '.join(f'task {p["task"]} {p["successes"]}/{p["episodes"]}'
                        for p in (d or {}).get('per_task', []))
        rows.append({'candidate': c, 'successes': d and d['successes'],
                     'episodes': d and d['episodes'], 'per_task': per,
                     'chosen': i == chosen})
    doc = {'rule': __doc__.split('\n\n')[1], 'band': args.band, 'states': states,
           'tasks': args.tasks, 'temperature': args.temperature, 'seed': args.seed,
           'max_steps': args.max_steps, 'candidates': rows,
           'chosen': None if chosen is None else args.candidates[chosen]}
    (args.out / 'selection.json').write_text(json.dumps(doc, indent=2))
    lines = ['| candidate | pooled sampled success | per task | chosen |',
             '| --- | --- | --- | --- |']
    for r in rows:
        pooled = f'{r["successes"]}/{r["episodes"]}' if r['episodes'] else 'not evaluated'
        lines.append(f'| {r["candidate"]} | {pooled} | {r["per_task"]} | '
                     f'{"**yes**" if r["chosen"] else ""} |')
    (args.out / 'selection.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    print(f'chosen: {doc["chosen"]}')
    return 0 if chosen is not None else 2


if __name__ == '__main__':
    sys.exit(main())
