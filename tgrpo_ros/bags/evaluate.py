# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Offline evaluation: run one or more policies over recorded bags and measure the difference.

``evaluate_bags(bags, policies, topic_map, out_dir)`` streams each bag's samples
(``pairing.iter_samples``), runs every policy on the same batches (greedy prediction with
``sample(temperature=0)``; the recorded action's tokens scored with ``token_logprobs`` at
temperature 1) and accumulates metrics per episode and overall (``metrics.py``).

Recorded tokens: when a recorded action carries token ids (tgrpo_ros/msg/Action) and they decode,
under the evaluated policy's tokenizer and statistics, to exactly the recorded action, those
tokens are scored (``token_source: recorded``). Otherwise the action is tokenised with the
policy's own normalisation (``reencoded``); that is lossy for a binarised gripper.

Errors in one bag (truncated, missing topics, unsupported image encoding) are recorded in the
report with the bag's name and the cause, and the other bags are still evaluated; the report is
written after every bag and at the end in any case (``report.write_outputs``), so nothing
computed is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
import time
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from tgrpo_ros.bags import messages as M
from tgrpo_ros.bags.metrics import MetricAccumulator
from tgrpo_ros.bags.pairing import iter_samples, reference_count, resolve_mode, Sample, SkipLog
from tgrpo_ros.bags.reader import BagError, BagReader
from tgrpo_ros.bags.report import write_outputs
from tgrpo_ros.bags.topic_map import TopicMap

EVAL_ERRORS = (BagError, M.MessageError, M.UnsupportedImageError, KeyError, ValueError)


@dataclass
class EpisodeTrace:
    """What the plots need for one episode: times, recorded and predicted actions."""

    bag: str
    episode: str
    times: list[float] = field(default_factory=list)
    recorded: list[np.ndarray] = field(default_factory=list)
    predicted: dict[str, list[np.ndarray]] = field(default_factory=dict)


def target_tokens(policy, samples: Sequence[Sample]) -> tuple[torch.Tensor, list[str]]:
    """(B, 7) token ids to score for the recorded actions, and where each row came from."""
    actions = np.stack([s.action for s in samples])
    encoded = policy.actions_to_tokens(actions).numpy()
    rows, sources = [], []
    for i, s in enumerate(samples):
        if s.token_ids is not None and _tokens_match(policy, s.token_ids, s.action):
            rows.append(np.asarray(s.token_ids, dtype=np.int64))
            sources.append('recorded')
        else:
            rows.append(encoded[i])
            sources.append('reencoded')
    return torch.from_numpy(np.stack(rows)), sources


def _tokens_match(policy, tokens: np.ndarray, action: np.ndarray) -> bool:
    tok = policy.action_tokenizer
    if tokens.shape != (7,) or tokens.min() < tok.first_id or tokens.max() >= tok.vocab_size:
        return False
    decoded = policy.normalizer.to_env(tok.decode(tokens))
    return bool(np.allclose(decoded, action, rtol=0, atol=1e-6))


def run_policy(policy, samples: Sequence[Sample]) -> dict:
    """Greedy prediction and the recorded tokens' log-probs for one batch."""
    batch = [s.observation for s in samples]
    pred = policy.sample(batch, temperature=0.0)
    targets, sources = target_tokens(policy, samples)
    logp = policy.token_logprobs(batch, targets, temperature=1.0, grad=False)
    return {'actions': np.asarray(pred.actions, np.float64),
            'tokens': pred.token_ids.cpu().numpy(), 'targets': targets.numpy(),
            'logprobs': logp.detach().float().cpu().numpy(), 'sources': sources}


class Evaluation:
    """State of one evaluation run: accumulators, traces, skips, errors, timing."""

    def __init__(self, policies: dict, tmap: TopicMap) -> None:
        self.policies = policies
        self.tmap = tmap
        self.overall = {n: MetricAccumulator(tmap.physical_scale) for n in policies}
        self.episodes: dict[tuple[str, str], dict[str, MetricAccumulator]] = {}
        self.traces: dict[tuple[str, str], EpisodeTrace] = {}
        self.skips = SkipLog()
        self.errors: list[dict] = []
        self.bags: list[dict] = []
        self.samples = 0
        self.model_seconds = 0.0
        self.started = time.perf_counter()

    def add_batch(self, samples: list[Sample]) -> None:
        results = {}
        t0 = time.perf_counter()
        for name, policy in self.policies.items():
            results[name] = run_policy(policy, samples)
        self.model_seconds += time.perf_counter() - t0
        self.samples += len(samples)
        recorded = np.stack([s.action for s in samples])
        keys = [(s.bag, s.episode) for s in samples]
        for name, r in results.items():
            self.overall[name].add(r['actions'], recorded, r['tokens'], r['targets'],
                                   r['logprobs'], r['sources'])
            for key in dict.fromkeys(keys):
                idx = [i for i, k in enumerate(keys) if k == key]
                acc = self.episodes.setdefault(key, {
                    n: MetricAccumulator(self.tmap.physical_scale) for n in self.policies})
                acc[name].add(r['actions'][idx], recorded[idx], r['tokens'][idx],
                              r['targets'][idx], r['logprobs'][idx],
                              [r['sources'][i] for i in idx])
        for i, s in enumerate(samples):
            trace = self.traces.setdefault(keys[i], EpisodeTrace(s.bag, s.episode))
            trace.times.append(s.time_ns / 1e9)
            trace.recorded.append(s.action)
            for name, r in results.items():
                trace.predicted.setdefault(name, []).append(r['actions'][i])

    def report(self, policy_info: dict, out_dir: Path) -> dict:
        wall = time.perf_counter() - self.started
        per_episode = []
        keys = list(self.episodes) + [k for k in self.skips.by_episode if k not in self.episodes]
        for bag, episode in keys:
            accs = self.episodes.get((bag, episode), {})
            per_episode.append({
                'bag': bag, 'episode': episode,
                'skipped': self.skips.by_episode.get((bag, episode), 0),
                'skipped_by_reason': dict(self.skips.episode_reasons.get((bag, episode), {})),
                'policies': {n: accs[n].result() if n in accs else {'samples': 0}
                             for n in self.policies}})
        return {
            'format': 'tgrpo_ros.eval_bag', 'format_version': 1,
            'complete': not self.errors,
            'bags': self.bags, 'errors': self.errors,
            'topic_map': self.tmap.to_dict() | {'source': self.tmap.source},
            'policies': policy_info,
            'overall': {n: a.result() for n, a in self.overall.items()},
            'per_episode': per_episode,
            'skipped': self.skips.to_dict(),
            'throughput': {
                'samples': self.samples, 'wall_seconds': wall,
                'model_seconds': self.model_seconds,
                'samples_per_second': self.samples / wall if wall > 0 else 0.0,
                'model_samples_per_second': (self.samples / self.model_seconds
                                             if self.model_seconds > 0 else 0.0)},
            'out_dir': str(out_dir),
        }


def evaluate_bags(bags: Sequence[str | Path], policies: dict, tmap: TopicMap,
                  out_dir: str | Path, *, batch_size: int = 8, progress: bool = True,
                  policy_info: dict | None = None, max_plots: int = 20) -> dict:
    """Evaluate ``policies`` ({name: VLAPolicy}) on ``bags``; write outputs to ``out_dir``.

    Returns the report dict (also written as report.json). ``report['errors']`` lists bags that
    failed (with the cause); ``report['complete']`` is False then.
    """
    if not policies:
        raise ValueError('no policy to evaluate')
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = policy_info or {n: {'version': p.version.version, 'sha256': p.version.sha256}
                           for n, p in policies.items()}
    ev = Evaluation(policies, tmap)
    bar = tqdm(total=0, unit='sample', desc='eval-bag', disable=not progress, dynamic_ncols=True)
    try:
        for bag in bags:
            _evaluate_one(ev, Path(bag), batch_size, bar)
            write_outputs(out_dir, ev.report(info, out_dir), ev.traces, plots=False)
    except KeyboardInterrupt:
        ev.errors.append({'bag': str(ev.bags[-1]['path']) if ev.bags else '',
                          'type': 'KeyboardInterrupt',
                          'error': f'interrupted after {ev.samples} samples; the report covers '
                                   'those', 'samples_before_error': ev.samples})
        raise
    finally:
        bar.close()
        report = ev.report(info, out_dir)
        write_outputs(out_dir, report, ev.traces, max_plots=max_plots)
    return report


class TruncatedBagError(BagError):
    """A bag was cut off; its complete part was evaluated (reported as an error all the same)."""


class PolicyInputError(RuntimeError):
    """A policy refused a batch of recorded inputs (e.g. a camera it needs is not mapped)."""


def _run_batch(ev: Evaluation, entry: dict, batch: list[Sample], bar) -> None:
    try:
        ev.add_batch(batch)
    except (KeyError, ValueError, RuntimeError) as exc:
        first = batch[0]
        raise PolicyInputError(
            f'bag {entry["path"]}, episode {first.episode}, t={first.time_ns / 1e9:.3f} s: the '
            f'policy cannot use these recorded inputs: {exc}') from exc
    entry['samples'] += len(batch)
    bar.update(len(batch))


def _evaluate_one(ev: Evaluation, path: Path, batch_size: int, bar) -> None:
    entry = {'path': str(path), 'samples': 0, 'skipped': 0, 'mode': None, 'error': None}
    names = {b['name'] for b in ev.bags}
    ev.bags.append(entry)
    entry['name'] = path.name if path.name not in names else str(path)
    skipped_before = ev.skips.total
    batch: list[Sample] = []
    try:
        with BagReader(path) as reader:
            entry['storage'] = reader.storage
            entry['mode'] = resolve_mode(reader, ev.tmap)
            bar.total += reference_count(reader, ev.tmap)
            bar.refresh()
            try:
                for sample in iter_samples(reader, ev.tmap, ev.skips, entry['name']):
                    batch.append(sample)
                    if len(batch) == batch_size:
                        full, batch = batch, []
                        _run_batch(ev, entry, full, bar)
            finally:
                # Samples paired before a reading error are still evaluated and kept.
                if batch:
                    full, batch = batch, []
                    _run_batch(ev, entry, full, bar)
            if reader.truncated_note:
                raise TruncatedBagError(reader.truncated_note)
    except (PolicyInputError, TruncatedBagError, *EVAL_ERRORS) as exc:
        entry['error'] = f'{type(exc).__name__}: {exc}'
        ev.errors.append({'bag': str(path), 'type': type(exc).__name__, 'error': str(exc),
                          'samples_before_error': entry['samples']})
    finally:
        entry['skipped'] = ev.skips.total - skipped_before
