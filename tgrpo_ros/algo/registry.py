# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The names a ``TGRPOConfig`` chooses from, kept apart from the code behind them.

``config`` checks ``estimator`` and ``loss_aggregation`` against these tables, while
``advantages`` and ``losses`` register their functions here and take a ``TGRPOConfig``. Holding
the tables in this small module lets both sides import it, and neither import the other.

The tables are filled when ``tgrpo_ros.algo`` is imported (its ``__init__`` imports
``advantages`` and ``losses``), which Python always does before any ``tgrpo_ros.algo.*``
module, so a config never sees them empty.
"""

from __future__ import annotations

from typing import Any, Callable

# name -> estimator fn(rewards (N, T) float64, mask (N, T) bool, config, *, success, values,
# last_values) -> advantages (N, T) float64 (see ``advantages``).
ADVANTAGE_ESTIMATORS: dict[str, Callable[..., Any]] = {}
# name -> aggregation fn(values (B, K), token_mask (B, K), step_weights (B,) or None) -> scalar
# (see ``losses``).
LOSS_AGGREGATIONS: dict[str, Callable[..., Any]] = {}


def _register(table: dict[str, Callable[..., Any]], kind: str, name: str):
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in table:
            raise ValueError(f'{kind} {name!r} is already registered')
        table[name] = fn
        return fn
    return decorate


def register_estimator(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register an advantage estimator under ``name`` (a config's ``estimator`` value)."""
    return _register(ADVANTAGE_ESTIMATORS, 'advantage estimator', name)


def register_aggregation(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a loss aggregation under ``name`` (a config's ``loss_aggregation`` value)."""
    return _register(LOSS_AGGREGATIONS, 'loss aggregation', name)
