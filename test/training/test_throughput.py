# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Where a run's wall time goes (tgrpo_ros.training.throughput), on a clock the test moves."""

from __future__ import annotations

import pytest

from tgrpo_ros.training.throughput import PartTimes, throughput_line


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_shares_and_steps_per_second_over_full_iterations():
    clock = Clock()
    times = PartTimes(clock)
    # The first iteration builds the environments (a 40 s rollout): left out once others ran.
    with times.part('rollout'):
        clock.t += 40.0
    times.iteration_done(30)
    first = times.report()
    assert first['iterations'] == 1 and not first['first_iteration_excluded']
    assert first['env_steps_per_s'] == pytest.approx(30 / 40)
    for _ in range(2):  # per iteration: 6 s rollout, 2 s update, 1 s saving, 1 s not timed
        with times.part('rollout'):
            clock.t += 6.0
        with times.part('update'):
            clock.t += 2.0
        with times.part('saving'):
            clock.t += 1.0
        clock.t += 1.0
        times.iteration_done(30)
    r = times.report()
    assert r['first_iteration_excluded']
    assert r['iterations'] == 2 and r['env_steps'] == 60 and r['wall_s'] == pytest.approx(20.0)
    assert r['env_steps_per_s'] == pytest.approx(3.0)
    assert r['share']['rollout'] == pytest.approx(0.6) and r['share']['update'] == 0.2
    assert r['share']['evaluation'] == 0.0
    assert r['share']['other'] == pytest.approx(0.1)  # the untimed second of each iteration
    assert sum(r['share'].values()) == pytest.approx(1.0)
    line = throughput_line(r)
    assert '3.00 env steps/s over 2 iterations' in line and 'rollout 60%' in line
    assert 'first iteration excluded' in line
    # overlapped, collection runs during the update: the main loop only waits for it
    overlapped = throughput_line(r, overlapped=True)
    assert 'waiting for rollout 60%, update 20%' in overlapped
    # start-up before the first iteration is not counted
    late = PartTimes(clock)
    clock.t += 50.0
    with late.part('rollout'):
        clock.t += 4.0
    late.iteration_done(8)
    assert late.report()['env_steps_per_s'] == pytest.approx(2.0)


def test_no_iteration_no_rate_and_unknown_parts_are_refused():
    times = PartTimes(Clock())
    assert times.report()['env_steps_per_s'] is None
    assert throughput_line(times.report()).endswith('no full iteration in this launch')
    with pytest.raises(ValueError, match="unknown part 'render'"):
        with times.part('render'):
            pass
