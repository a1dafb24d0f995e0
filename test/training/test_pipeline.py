# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Overlapped updates: which policy collects which group, and the staleness bound.

``GroupPipeline`` against a recording collector (the order of serves, collections and
evaluations; that collection really runs while the learner updates), then the driver
in-process with ``run.max_staleness`` = 1 on fast stand-in environments.
"""

from __future__ import annotations

import csv
import threading
import time

import pytest
from training_fakes import FakeGroups

from tgrpo_ros.training.collector import Collector
from tgrpo_ros.training.driver import train_in_process
from tgrpo_ros.training.pipeline import GroupPipeline
from tgrpo_ros.training.settings import SimTrainSettings
from tgrpo_ros.versioning import PolicyVersion


class Recorder(Collector):
    """Logs ('serve', j) and ('collect', g, acting j); collection takes ``collect_s``."""

    def __init__(self, collect_s: float = 0.0, fail_at: int | None = None):
        self.log: list[tuple] = []
        self.acting = 0  # the caller served the start before the pipeline
        self.collect_s, self.fail_at = collect_s, fail_at
        self.lock = threading.Lock()

    def serve(self, version, adapter_path):
        with self.lock:
            self.acting = version.version
            self.log.append(('serve', version.version))

    def collect(self, request):  # the pipeline calls collect_fn, which calls this
        raise AssertionError('not used')

    def collect_g(self, its):
        out = []
        for g in its:  # a batch: all acted by the version served before it
            if g == self.fail_at:
                raise ValueError(f'group {g} failed')
            time.sleep(self.collect_s)
            with self.lock:
                self.log.append(('collect', g, self.acting))
            out.append(f'group {g}')
        return out


def _run(k: int, last: int = 6, due=lambda j: j in (3,), update_s: float = 0.0,
         collector: Recorder | None = None, groups: int = 1):
    """Drive a pipeline as the driver does; return (collector, collected, events)."""
    c = collector or Recorder()
    events = []
    p = GroupPipeline(c, c.collect_g, lambda j, v: {'eval': j, 'version': v.version}, due,
                      start=1, last=last, version=PolicyVersion(0, 'v0'), adapter='',
                      max_staleness=k, groups=groups)
    got = []
    try:
        for it in range(1, last + 1):
            got.append(p.group(it))
            events.append(('update', it, time.monotonic()))
            time.sleep(update_s)
            p.saved(it, PolicyVersion(it, f'v{it}'), f'/a/{it}')
            if due(it):
                ev = p.evaluation(it)
                assert ev == {'eval': it, 'version': it}
        p.finish()
    finally:
        p.close()
    return c, got, events


@pytest.mark.parametrize('k,groups', [(0, 1), (1, 1), (2, 1), (0, 2), (1, 2), (0, 3)])
def test_each_group_is_acted_by_the_policy_k_behind_and_evaluations_drain(k, groups):
    c, got, _ = _run(k, groups=groups)
    collects = [e for e in c.log if e[0] == 'collect']
    assert [e[1] for e in collects] == [1, 2, 3, 4, 5, 6]
    for e, col in zip(collects, got):
        g, acted = e[1], e[2]
        assert col.acting_iteration == acted == col.acting_version.version
        assert col.staleness == g - 1 - acted and 0 <= col.staleness <= k + groups - 1
        # the rule, per batch (starting at b): k behind b, never before the start, never
        # before an evaluation's iteration (3)
        b = 1 + (g - 1) // groups * groups
        assert acted == max(b - 1 - k, 0, 3 if b > 3 else 0)
    if k == 0 and groups == 1:
        assert [col.staleness for col in got] == [0] * 6
    # a version is served between groups only: never twice in a row, never one not yet saved
    serves = [e[1] for e in c.log if e[0] == 'serve']
    assert serves == sorted(set(serves))
    assert serves[-1] == 6  # the run ends serving its final policy


def test_overlapped_collection_runs_while_the_learner_updates():
    """k=1: group g+1 is collected during update g; synchronous, only after it."""
    for k, overlapped in ((0, False), (1, True)):
        c = Recorder(collect_s=0.05)
        c.stamps = {}
        original = c.collect_g

        def stamped(its, original=original, c=c):
            out = original(its)
            c.stamps[its[-1]] = time.monotonic()
            return out
        c.collect_g = stamped
        c, got, events = _run(k, last=4, due=lambda j: False, update_s=0.3, collector=c)
        starts = {it: t for _, it, t in events}
        # group 3 finishes collecting before update 2 ends (update 2 lasts 0.3 s)
        assert (c.stamps[3] < starts[2] + 0.3) == overlapped, (k, c.stamps, starts)


def test_a_collection_error_in_the_pipeline_thread_reaches_the_driver():
    with pytest.raises(ValueError, match='group 3 failed'):
        _run(1, collector=Recorder(fail_at=3))


def test_staleness_is_a_setting_with_a_range_and_shared_placement_refuses_it():
    base = {'policy.model': 'tiny:test'}
    with pytest.raises(ValueError, match='run.max_staleness'):
        SimTrainSettings.from_flat({**base, 'run.max_staleness': 5})
    with pytest.raises(ValueError, match="placement 'separate'"):
        SimTrainSettings.from_flat({**base, 'run.max_staleness': 1, 'run.placement': 'shared'})


def _settings(out, k: int, groups: int = 1) -> SimTrainSettings:
    return SimTrainSettings.from_flat({
        'policy.model': 'tiny:test', 'policy.lora_rank': 4, 'run.iterations': 5,
        'env.max_steps': 6, 'env.image_size': 32, 'run.output_dir': str(out),
        'env.init_states': (0, 1), 'eval.init_states': (7, 8), 'eval.every': 3,
        'eval.episodes': 2, 'policy.torch_threads': 0, 'algo.group_size': 2, 'algo.lr': 1e-2,
        'algo.minibatch_size': 64, 'run.max_staleness': k, 'run.concurrent_groups': groups})


def _rows(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def test_an_overlapped_run_in_process_records_its_staleness_and_is_reproducible(tmp_path):
    """max_staleness=1 in-process: the acting copy lags one update, the ratio shows it.

    Groups acted by the learner's current weights start the update at ratio 1
    (|log ratio| < 1e-4); stale ones do not, and the update still runs on them. Two runs
    give the same rows: the acting version is fixed by the settings, not by timing.
    """
    runs = []
    for name in ('a', 'b'):
        train_in_process(_settings(tmp_path / name, 1), make_envs=FakeGroups(),
                         log=lambda s: None)
        runs.append(_rows(tmp_path / name / 'metrics.csv'))
    rows = runs[0]
    # eval after 3 drains: group 4 is acted by the policy of iteration 3
    assert [int(r['acting_version']) for r in rows] == [0, 0, 1, 3, 3]
    assert [int(r['staleness']) for r in rows] == [0, 1, 1, 0, 1]
    for r in rows:
        gap = float(r['first_abs_log_ratio_max'])
        assert (gap > 1e-4) == (r['staleness'] == '1'), r
        assert r['stale_actions'] == '0' and float(r['loss']) == float(r['loss'])
    timing = {'rollout_time_s', 'update_time_s'}
    assert ([{k: v for k, v in r.items() if k not in timing} for r in runs[0]]
            == [{k: v for k, v in r.items() if k not in timing} for r in runs[1]])
    evals = _rows(tmp_path / 'a' / 'evaluation.csv')
    assert [int(e['iteration']) for e in evals] == [0, 3, 5]
    assert [int(e['policy_version']) for e in evals] == [0, 3, 5]


def test_two_groups_at_once_in_process(tmp_path):
    """G=2: iterations (1,2), (3,4), (5) are batches, each acted by one version."""
    train_in_process(_settings(tmp_path, 0, groups=2), make_envs=FakeGroups(),
                     log=lambda s: None)
    rows = _rows(tmp_path / 'metrics.csv')
    # batch (1,2) by v0; (3,4) by v2, the evaluation after 3 mid-batch; 5 by v4
    assert [int(r['acting_version']) for r in rows] == [0, 0, 2, 2, 4]
    assert [int(r['staleness']) for r in rows] == [0, 1, 0, 1, 0]
    for r in rows:
        assert (float(r['first_abs_log_ratio_max']) > 1e-4) == (r['staleness'] == '1'), r
    evals = _rows(tmp_path / 'evaluation.csv')
    assert [(int(e['iteration']), int(e['policy_version'])) for e in evals] == [
        (0, 0), (3, 3), (5, 5)]
