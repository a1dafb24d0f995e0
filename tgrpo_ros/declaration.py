# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``setting()``: a dataclass field that carries what a user needs to know about a setting.

Every setting of the package is declared once, as a field of a frozen dataclass made with
``setting(default, help, unit=..., range=..., choices=..., read_only=..., launch_arg=...)``.
ROS parameters, launch arguments, command-line flags and the documented parameter files are
derived from (or tested against) these declarations, so a setting has one home. This module is
pure Python (layer 0): the algorithm's config and the training settings both use it.
"""

from __future__ import annotations

from dataclasses import dataclass, Field, field, MISSING
import math
from typing import Any, Callable

# Unit of pure numbers (ratios, weights, coefficients): said explicitly, so that a missing unit
# is always an omission.
DIMENSIONLESS = 'dimensionless'


@dataclass(frozen=True)
class Range:
    """An interval of allowed values; ``None`` bounds are unbounded."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    @classmethod
    def parse(cls, text: str) -> Range:
        """``'[0, 1]'``, ``'(0, inf)'``, ``'[2, 1024]'``: brackets say whether a bound is in."""
        text = text.strip()
        if text[0] not in '[(' or text[-1] not in '])' or ',' not in text:
            raise ValueError(f'range {text!r}: expected e.g. "[0, 1]" or "(0, inf)"')
        lo, hi = (t.strip() for t in text[1:-1].split(','))

        def bound(t: str) -> float | None:
            return None if t in ('inf', '-inf') else float(t)
        return cls(bound(lo), bound(hi), text[0] == '(', text[-1] == ')')

    def contains(self, value: float) -> bool:
        if isinstance(value, float) and math.isnan(value):
            return False
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            return False
        if self.hi is not None and (value > self.hi or (self.hi_open and value == self.hi)):
            return False
        return True

    def __str__(self) -> str:
        def num(v: float | None, inf: str) -> str:
            if v is None:
                return inf
            return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(v)
        return (('(' if self.lo_open or self.lo is None else '[') + num(self.lo, '-inf') + ', '
                + num(self.hi, 'inf') + (')' if self.hi_open or self.hi is None else ']'))


@dataclass(frozen=True)
class SettingInfo:
    """What ``setting()`` stores in a field's metadata."""

    help: str
    unit: str = ''
    range: Range | None = None
    # A tuple, or a function returning one (for names owned by a registry imported lazily).
    choices: tuple | Callable[[], tuple] | None = None
    # True: read once at start-up, so a change at run time would be accepted and ignored;
    # ROS parameters of such settings are declared read-only.
    read_only: bool = True
    # Name of the launch argument that sets it ('' = none; graphs choose which they expose).
    launch_arg: str = ''
    # For Optional settings: the value that stands for None where None cannot be written
    # (ROS parameters, launch arguments), e.g. 0.0 = "off".
    none_as: Any = None

    def allowed(self) -> tuple | None:
        return self.choices() if callable(self.choices) else self.choices


def setting(default: Any = MISSING, help: str = '', *, unit: str = '',
            range: str | None = None, choices: tuple | Callable[[], tuple] | None = None,
            read_only: bool = True, launch_arg: str = '', none_as: Any = None,
            default_factory: Callable[[], Any] | Any = MISSING) -> Field:
    """Return a dataclass field with its description, unit, allowed range or choices, flags.

    default / default_factory: as ``dataclasses.field``.
    help: one line a user reads (in --help, ``ros2 param describe``, the parameter file).
    unit: SI unit or count ('s', 'px', 'steps'), ``DIMENSIONLESS`` for pure numbers, '' for
        strings and booleans.
    range: allowed interval as text, e.g. ``'[0, 1]'`` or ``'(0, inf)'``.
    """
    if not help:
        raise ValueError('every setting needs a one-line help text')
    info = SettingInfo(help=help, unit=unit, range=Range.parse(range) if range else None,
                       choices=choices, read_only=read_only, launch_arg=launch_arg,
                       none_as=none_as)
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata={'setting': info, 'help': help})
    return field(default=default, metadata={'setting': info, 'help': help})


def info_of(f: Field) -> SettingInfo | None:
    """Return the ``SettingInfo`` of a field (None: not declared with ``setting()``)."""
    return f.metadata.get('setting')
