# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""LIBERO-MuJoCo simulation without ROS: environments, groups, dense rewards, a scripted expert.

Start here::

    from tgrpo_ros.sim import LiberoEnv, ScriptedExpert
    env = LiberoEnv('libero_object', task=0, cameras=('agentview',), image_size=128)
    obs = env.reset(init_state_index=0, seed=7)        # 10 wait steps done, images upright
    obs, outcome = env.step(ScriptedExpert().act(env.sim_state()))
    env.close()

Where each concept lives: ``libero_env.py`` (one environment, OpenVLA's protocol: max steps per
suite, the 10 wait steps), ``sim_state.py`` (the state rewards and the expert read),
``reward_spec.py`` (multi-stage dense rewards from ``config/rewards/*.yaml``; format in
``config/rewards/FORMAT.md``), ``reward_generation.py`` (those specs derived from each task's
BDDL goal), ``bddl_task.py`` (a task's BDDL read without a simulator), ``expert.py``
(scripted pick-and-place), ``env_group.py`` (N environments in worker processes),
``eval_sim.py`` (success rates), ``init_states.py`` (generated initial states),
``demonstrations.py`` (expert datasets), ``libero_config.py`` (LIBERO's config file). Their
commands live in ``tgrpo_ros.commands``. Importing this package does not import LIBERO.
"""

from tgrpo_ros.sim.env_group import EnvGroup, WorkerError
from tgrpo_ros.sim.expert import ScriptedExpert
from tgrpo_ros.sim.libero_env import (LiberoEnv, list_tasks, MAX_STEPS, NUM_WAIT_STEPS,
                                      STATE_NAMES, SUITES, WAIT_ACTION)
from tgrpo_ros.sim.reward_spec import (load_spec, MissingSpecError, parse_spec, RewardSpec,
                                       RewardSpecError, StagedReward)
from tgrpo_ros.sim.sim_state import Articulation, ObjectPose, Region, SimState

__all__ = [
    'Articulation', 'EnvGroup', 'LiberoEnv', 'MAX_STEPS', 'MissingSpecError', 'NUM_WAIT_STEPS',
    'ObjectPose', 'Region', 'RewardSpec', 'RewardSpecError', 'STATE_NAMES', 'SUITES',
    'ScriptedExpert', 'SimState', 'StagedReward', 'WAIT_ACTION', 'WorkerError', 'list_tasks',
    'load_spec', 'parse_spec',
]
