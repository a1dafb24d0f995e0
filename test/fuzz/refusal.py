# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""What "refused" means in the bad-input tests, and the hypothesis settings they share.

A malformed input is refused when the package raises one of its deliberate error types (a
``ValueError`` or its subclasses, a ``TypeError`` for a value of the wrong type, or
``FileNotFoundError`` for a missing file) whose message names the offending field. A bare
``KeyError``, ``IndexError`` or ``AttributeError`` from deep inside is never a refusal, and
neither is an error whose text does not say which field is wrong.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, settings, strategies as st

# Bounded so that the whole folder runs in about a minute; no deadline (first calls import).
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
FEW = settings(FUZZ, max_examples=12)
EACH = settings(FUZZ, max_examples=6)  # per field, where a test is parametrised by field

REFUSALS = (ValueError, TypeError, FileNotFoundError)
NEVER = (KeyError, IndexError, AttributeError)


def refused(call, *names: str) -> BaseException:
    """Call; assert it raises a deliberate error whose message contains every name."""
    try:
        result = call()
    except NEVER as exc:
        raise AssertionError(f'bare {type(exc).__name__} from inside instead of a refusal '
                             f'naming {names}: {exc!r}') from exc
    except REFUSALS as exc:
        text = str(exc)
        missing = [n for n in names if n not in text]
        assert not missing, (f'{type(exc).__name__} does not name {missing}: {text}')
        return exc
    except Exception as exc:  # noqa: BLE001 - any other type is the finding
        raise AssertionError(f'{type(exc).__name__} instead of a refusal naming {names}: '
                             f'{exc!r}') from exc
    raise AssertionError(f'accepted instead of refused (expected an error naming {names}): '
                         f'{result!r}'[:2000])


def never_bare(call, *names: str):
    """Call; it may succeed, but any error must be a deliberate one naming ``names``."""
    try:
        return call()
    except NEVER as exc:
        raise AssertionError(f'bare {type(exc).__name__} from inside: {exc!r}') from exc
    except REFUSALS as exc:
        missing = [n for n in names if n not in str(exc)]
        assert not missing, f'{type(exc).__name__} does not name {missing}: {exc}'
        return None
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f'{type(exc).__name__} instead of a refusal: {exc!r}') from exc


# --- values of the wrong kind, by what a field expects ------------------------------------
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
SCALARS_NOT_NUMBER = st.one_of(st.text(max_size=8), st.booleans(), st.none(),
                               st.lists(st.integers(), max_size=3),
                               st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
NOT_A_NUMBER = st.one_of(SCALARS_NOT_NUMBER, NON_FINITE)
NOT_POSITIVE = st.one_of(st.just(0), st.just(0.0), st.floats(max_value=-1e-9,
                                                             allow_nan=False),
                         st.integers(max_value=-1))
NOT_TEXT = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(),
                     st.lists(st.text(max_size=3), max_size=3),
                     st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2))
FIELD_NAME = st.from_regex(r'[a-z][a-z_]{0,11}', fullmatch=True)
GARBAGE = st.one_of(st.binary(min_size=1, max_size=200),
                    st.sampled_from([b'\xff\xfe\x00\x01', b'{{{', b'- [1, 2\n', b'a: b: c\n',
                                     b': :', b'\x00' * 16, b'\t- x\n  y: 1\n']))
