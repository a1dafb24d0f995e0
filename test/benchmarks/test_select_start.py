# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""benchmarks/select_start.py: the start is chosen by a fixed rule, never on evaluation states."""

from __future__ import annotations


from helpers import benchmark_script
import pytest



def _module():
    return benchmark_script('select_start')


def test_the_shortest_trained_candidate_in_the_band_is_chosen():
    choose = _module().choose
    band = (0.2, 0.7)
    assert choose([None, None, None], band) == (None, 0)      # the shortest is evaluated first
    assert choose([0.5, None, None], band) == (0, None)       # in the band: chosen
    assert choose([0.1, None, None], band) == (None, 1)       # below: the next longer one
    assert choose([0.1, 0.0, 0.7], band) == (2, None)
    assert choose([0.1, 0.1, 0.1], band) == (None, None)      # all below: nothing chosen
    assert choose([0.1, 0.8, None], band) == (None, None)     # above: longer won't help


def test_evaluation_states_cannot_select(tmp_path):
    with pytest.raises(SystemExit, match='evaluation states'):
        _module().main(['--candidates', 'x', '--tasks', '2', '--states', '40-49',
                        '--out', str(tmp_path)])
