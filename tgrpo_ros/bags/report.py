# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Outputs of an offline evaluation: report.json, plots, and a one-page summary.

Files in the output folder:

* ``report.json``: everything measured (see ``evaluate.Evaluation.report``); written atomically.
* ``plots/episode_<n>.png``: predicted (one colour per policy) against recorded (black) action,
  one panel per dimension, over time, for the first ``max_plots`` episodes.
* ``plots/mae_per_dim.png``: overall MAE per dimension, policies side by side.
* ``summary.md``: the one-page summary (tables + plots by relative path), and ``summary.html``,
  the same page with the plots embedded (one self-contained file to send around).
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

import numpy as np

from tgrpo_ros.bags.metrics import DIM_NAMES

COLOURS = ['tab:blue', 'tab:orange', 'tab:green', 'tab:red', 'tab:purple', 'tab:brown']


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + f'.tmp{os.getpid()}')
    tmp.write_text(json.dumps(data, indent=2, default=_jsonable))
    tmp.replace(path)


def _jsonable(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def write_outputs(out_dir: Path, report: dict, traces: dict, *, plots: bool = True,
                  max_plots: int = 20) -> None:
    """Write report.json, and with ``plots`` the figures and the summary pages."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / 'report.json', report)
    if not plots:
        return
    figures = []
    try:
        figures = make_plots(out_dir / 'plots', report, traces, max_plots)
    except Exception as exc:  # noqa: BLE001 - a plotting failure must not lose the report
        report.setdefault('errors', []).append({'bag': '', 'type': type(exc).__name__,
                                                'error': f'plotting failed: {exc}'})
        write_json(out_dir / 'report.json', report)
    (out_dir / 'summary.md').write_text(summary_markdown(report, figures))
    (out_dir / 'summary.html').write_text(summary_html(report, figures, out_dir))


def make_plots(folder: Path, report: dict, traces: dict, max_plots: int) -> list[tuple[str, str]]:
    """Draw the figures; return (caption, path relative to the output folder)."""
    # optional: matplotlib only for plots (slow to import), and the backend is chosen first
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    names = list(report['policies'])
    figures = []
    overall = report['overall']
    if any(overall[n].get('samples') for n in names):
        fig, ax = plt.subplots(figsize=(8, 3.2))
        width = 0.8 / max(1, len(names))
        x = np.arange(7)
        for k, n in enumerate(names):
            mae = [overall[n].get('mae', {}).get(d, 0.0) for d in DIM_NAMES]
            ax.bar(x + k * width - 0.4 + width / 2, mae, width, label=n, color=COLOURS[k % 6])
        ax.set_xticks(x, DIM_NAMES)
        ax.set_ylabel('MAE [action units]')
        ax.set_title('Mean absolute error per action dimension (all episodes)')
        ax.legend()
        fig.tight_layout()
        fig.savefig(folder / 'mae_per_dim.png', dpi=90)
        plt.close(fig)
        figures.append(('MAE per dimension', 'plots/mae_per_dim.png'))
    for i, ((bag, episode), tr) in enumerate(traces.items()):
        if i >= max_plots:
            break
        t = np.asarray(tr.times) - tr.times[0]
        rec = np.stack(tr.recorded)
        fig, axes = plt.subplots(7, 1, figsize=(8, 10), sharex=True)
        for d, ax in enumerate(axes):
            ax.plot(t, rec[:, d], color='black', lw=1.6, label='recorded', drawstyle='steps-post')
            for k, n in enumerate(names):
                if n in tr.predicted:
                    ax.plot(t, np.stack(tr.predicted[n])[:, d], color=COLOURS[k % 6], lw=1.0,
                            ls='--', label=n, drawstyle='steps-post')
            ax.set_ylabel(DIM_NAMES[d])
            ax.set_ylim(-1.1, 1.1)
            ax.grid(alpha=0.3)
        axes[0].legend(loc='upper right', fontsize=7, ncol=len(names) + 1)
        axes[-1].set_xlabel('time since episode start [s]')
        fig.suptitle(f'{bag} / {episode}: predicted vs recorded action', fontsize=10)
        fig.tight_layout()
        fname = f'episode_{i:03d}.png'
        fig.savefig(folder / fname, dpi=80)
        plt.close(fig)
        figures.append((f'{bag} / {episode}', f'plots/{fname}'))
    return figures


def _fmt(x, digits=4) -> str:
    return '-' if x is None else f'{x:.{digits}g}' if isinstance(x, float) else str(x)


def _tables(report: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    names = list(report['policies'])
    tables = []
    head = ['policy', 'samples', 'MAE (mean)', 'RMSE (mean)', 'gripper agree', 'NLL/action',
            'token acc']
    rows = []
    for n in names:
        r = report['overall'][n]
        rows.append([n, str(r.get('samples', 0)), _fmt(r.get('mae_mean')),
                     _fmt(r.get('rmse_mean')), _fmt(r.get('gripper_agreement')),
                     _fmt(r.get('nll')), _fmt(r.get('token_accuracy'))])
    tables.append(('Overall', head, rows))
    units = report['topic_map'].get('physical_units', [''] * 6)
    head = ['policy', 'metric'] + [f'{d} [{u}]' for d, u in zip(DIM_NAMES[:6], units)] + \
        ['gripper']
    rows = []
    for n in names:
        r = report['overall'][n]
        if not r.get('samples'):
            continue
        for key in ('mae', 'rmse'):
            rows.append([n, key] + [_fmt(r[key][d]) for d in DIM_NAMES])
        for key in ('mae_physical', 'rmse_physical'):
            rows.append([n, key] + [_fmt(r[key][d]) for d in DIM_NAMES[:6]] + ['-'])
    tables.append(('Per dimension (action units; physical units per control step)', head, rows))
    head = ['bag', 'episode', 'skipped'] + [f'{n}: {m}' for n in names
                                            for m in ('n', 'MAE', 'tok acc')]
    rows = []
    for e in report['per_episode']:
        row = [e['bag'], e['episode'], str(e['skipped'])]
        for n in names:
            r = e['policies'].get(n, {})
            row += [str(r.get('samples', 0)), _fmt(r.get('mae_mean')),
                    _fmt(r.get('token_accuracy'))]
        rows.append(row)
    tables.append(('Per episode', head, rows))
    return tables


def summary_markdown(report: dict, figures: list[tuple[str, str]]) -> str:
    lines = ['# Offline evaluation on recorded bags', '']
    lines += [f'- bags: {", ".join(b["path"] for b in report["bags"])}',
              f'- policies: {", ".join(report["policies"])}',
              f'- samples evaluated: {report["throughput"]["samples"]} '
              f'({report["throughput"]["samples_per_second"]:.2f}/s), skipped: '
              f'{report["skipped"]["total"]}', '']
    if report['errors']:
        lines += ['## Errors (results below cover what was read before them)', '']
        lines += [f'- `{e["bag"]}`: {e["error"]}' for e in report['errors']] + ['']
    for title, head, rows in _tables(report):
        lines += [f'## {title}', '', '| ' + ' | '.join(head) + ' |',
                  '|' + '---|' * len(head)]
        lines += ['| ' + ' | '.join(r) + ' |' for r in rows] + ['']
    if report['skipped']['by_reason']:
        lines += ['## Skipped samples', '']
        lines += [f'- {n} x {r}' for r, n in report['skipped']['by_reason'].items()] + ['']
    if figures:
        lines += ['## Plots', '']
        lines += [f'![{cap}]({path})' for cap, path in figures]
    return '\n'.join(lines) + '\n'


def summary_html(report: dict, figures: list[tuple[str, str]], out_dir: Path) -> str:
    e = html.escape
    parts = ['<!DOCTYPE html><html><head><meta charset="utf-8"><title>eval-bag summary</title>',
             '<style>body{font-family:sans-serif;max-width:1000px;margin:auto}'
             'table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;'
             'padding:2px 6px}.err{color:#b00}</style></head><body>',
             '<h1>Offline evaluation on recorded bags</h1>',
             f'<p>bags: {e(", ".join(b["path"] for b in report["bags"]))}<br>policies: '
             f'{e(", ".join(report["policies"]))}<br>samples: '
             f'{report["throughput"]["samples"]}, skipped: {report["skipped"]["total"]}</p>']
    if report['errors']:
        parts.append('<h2 class="err">Errors</h2><ul>' + ''.join(
            f'<li class="err"><code>{e(x["bag"])}</code>: {e(x["error"])}</li>'
            for x in report['errors']) + '</ul>')
    for title, head, rows in _tables(report):
        parts.append(f'<h2>{e(title)}</h2><table><tr>' + ''.join(f'<th>{e(h)}</th>' for h in head)
                     + '</tr>' + ''.join('<tr>' + ''.join(f'<td>{e(c)}</td>' for c in r)
                                         + '</tr>' for r in rows) + '</table>')
    if report['skipped']['by_reason']:
        parts.append('<h2>Skipped samples</h2><ul>' + ''.join(
            f'<li>{n} x {e(r)}</li>' for r, n in report['skipped']['by_reason'].items())
            + '</ul>')
    for cap, path in figures:
        data = base64.b64encode((out_dir / path).read_bytes()).decode()
        parts.append(f'<h3>{e(cap)}</h3><img alt="{e(cap)}" src="data:image/png;base64,{data}">')
    parts.append('</body></html>')
    return '\n'.join(parts)
