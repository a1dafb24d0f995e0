# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""LIBERO-Spatial, -Goal and -10 load and step through the same adapter, with their dense specs."""

import numpy as np
import pytest

from tgrpo_ros.sim.libero_env import LiberoEnv, list_tasks, MAX_STEPS

pytestmark = pytest.mark.libero


@pytest.mark.parametrize('suite, max_steps', [
    ('libero_spatial', 220), ('libero_goal', 300), ('libero_10', 520)])
def test_suite_loads_and_steps(suite, max_steps):
    assert MAX_STEPS[suite] == max_steps
    assert len(list_tasks(suite)) == 10
    env = LiberoEnv(suite, 0, cameras=('agentview',), image_size=32)
    try:
        assert env.max_steps == max_steps
        obs = env.reset(0)
        assert obs.instruction and obs.task.startswith(f'{suite}/')
        assert obs.images['agentview'].shape == (32, 32, 3)
        k = env.reward.num_stages
        assert k >= 3  # every suite's tasks have a dense spec (generated or hand-written)
        eef0 = env.sim_state().eef_pos.copy()
        for _ in range(5):
            obs, out = env.step([0, 0, 0.5, 0, 0, 0, -1])
        assert out.num_stages == k and 0 <= out.reward < k + 1 and not out.done
        assert env.sim_state().eef_pos[2] > eef0[2] + 0.02  # the arm rose
        assert env.sim_state().goal  # LIBERO's parsed goal is exposed
        assert np.all(np.isfinite(obs.state))
    finally:
        env.close()
