# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Declare the settings a node uses as ROS parameters, straight from their declaration.

``declare_settings(node, ['policy', 'run.seed'])`` declares each named section (or single
setting) as parameters ``<section>.<field>`` with a descriptor built from the declaration: the
description with unit and allowed values, an integer or floating-point range, and
``read_only`` for settings read once at start-up (``ros2 param set`` on them is refused instead
of being accepted and ignored). Values outside a range or the choices are refused at start-up
and at run time, with a message naming the parameter. The values come from the parameter files
the node was started with (config/sim_train.yaml's ``/**`` section is read by every node).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.exceptions import (InvalidParameterTypeException, InvalidParameterValueException,
                              ParameterException)
from rclpy.node import Node
from rclpy.parameter import Parameter

from tgrpo_ros.training.settings import check, coerce, entries, Entry, ros_value

INT64_MAX = 2 ** 63 - 1

_TYPES = {str: Parameter.Type.STRING, int: Parameter.Type.INTEGER,
          float: Parameter.Type.DOUBLE, bool: Parameter.Type.BOOL}
_ARRAY_TYPES = {str: Parameter.Type.STRING_ARRAY, int: Parameter.Type.INTEGER_ARRAY,
                float: Parameter.Type.DOUBLE_ARRAY, bool: Parameter.Type.BOOL_ARRAY}


def parameter_type(entry: Entry) -> Parameter.Type:
    return _ARRAY_TYPES[entry.item] if entry.kind is tuple else _TYPES[entry.kind]


def descriptor(entry: Entry) -> ParameterDescriptor:
    """Return the ROS descriptor of a setting: description, unit, range, read-only."""
    d = ParameterDescriptor(name=entry.path, type=parameter_type(entry).value,
                            description=entry.describe(), read_only=entry.info.read_only)
    allowed = entry.info.allowed()
    if allowed:
        d.additional_constraints = 'one of: ' + ', '.join(map(str, allowed))
    rng = entry.info.range
    if rng is not None and entry.kind is not tuple:
        lo = -math.inf if rng.lo is None else rng.lo
        hi = math.inf if rng.hi is None else rng.hi
        if entry.optional:  # the value that stands for None must pass too
            lo, hi = min(lo, entry.info.none_as), max(hi, entry.info.none_as)
        if entry.kind is int:
            d.integer_range = [IntegerRange(
                from_value=int(max(lo, -INT64_MAX)) + (1 if rng.lo_open else 0),
                to_value=int(min(hi, INT64_MAX)) - (1 if rng.hi_open else 0), step=1)]
        elif entry.kind is float:
            # ROS ranges are closed; an open bound is refused by the check in the callback
            d.floating_point_range = [FloatingPointRange(from_value=float(lo),
                                                         to_value=float(hi), step=0.0)]
    return d


def _selected(names: Iterable[str], cls: type | None) -> list[Entry]:
    table = entries(cls)
    chosen = []
    for name in names:
        if name in table:
            chosen.append(table[name])
            continue
        section = [e for e in table.values() if e.section == name]
        if not section:
            raise KeyError(f'{name!r} is neither a settings section nor a setting')
        chosen.extend(section)
    return list({e.path: e for e in chosen}.values())  # each once, in the order named


def declarer(node: Node):
    """Return ``declare(name, default, description) -> value`` for a node's own parameters.

    For the parameters of one node that are not settings of a run (the operator's, the robot
    environment's): declared with their description, read once.
    """
    def declare(name: str, default: Any, description: str) -> Any:
        return node.declare_parameter(name, default,
                                      ParameterDescriptor(description=description)).value
    return declare


def declare_settings(node: Node, names: Iterable[str], cls: type | None = None
                     ) -> dict[str, Any]:
    """Declare the named sections / settings on ``node``; return their values by full name.

    Values are of the declared Python types (tuples, None for "off"); a value that is out of
    range, of the wrong type or not among the choices raises ValueError naming the parameter.
    """
    chosen = _selected(names, cls)
    values = {}
    for entry in chosen:
        default = ros_value(entry, entry.default)
        try:
            node.declare_parameter(entry.path, default, descriptor(entry))
            raw = node.get_parameter(entry.path).value
        except InvalidParameterTypeException as exc:
            raise ValueError(f'parameter {entry.path} must be of type '
                             f'{parameter_type(entry).name.lower()}: {exc}') from None
        except (InvalidParameterValueException, ParameterException) as exc:
            raise ValueError(f'parameter {entry.path}: {exc} (allowed: '
                             f'{entry.constraint()})') from None
        try:
            value = coerce(entry, raw)
            check(entry, value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f'parameter {exc}') from None
        values[entry.path] = value
    by_name = {e.path: e for e in chosen}

    def on_set(params: list[Parameter]) -> SetParametersResult:
        # rclpy has refused read-only parameters and closed-range violations already; this
        # adds the choices and open bounds of the declaration.
        for p in params:
            entry = by_name.get(p.name)
            if entry is None:
                continue
            try:
                check(entry, coerce(entry, p.value))
            except (TypeError, ValueError) as exc:
                return SetParametersResult(successful=False, reason=f'parameter {exc}')
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return values


def section_values(values: dict[str, Any], section: str) -> dict[str, Any]:
    """``{'policy.model': m, ...}`` -> ``{'model': m, ...}`` for one section."""
    prefix = section + '.'
    return {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}
