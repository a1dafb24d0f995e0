# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Generated initial states on a real LIBERO-Object task: sampled, stored, loaded, playable."""

from __future__ import annotations

import numpy as np
import pytest

from tgrpo_ros.commands import init_states as init_states_command
from tgrpo_ros.sim import init_states
from tgrpo_ros.sim.expert import ScriptedExpert
from tgrpo_ros.sim.libero_env import LiberoEnv

pytestmark = pytest.mark.libero

TASK = 'pick_up_the_alphabet_soup_and_place_it_in_the_basket'


@pytest.fixture(scope='module')
def made(tmp_path_factory):
    path = tmp_path_factory.mktemp('states') / 'gen.npz'
    assert init_states_command.main(['--task', '0', '--count', '2', '--seed', '500',
                                     '--out', str(path)]) == 0
    env = LiberoEnv('libero_object', TASK, cameras=(), init_states_file=path)
    yield path, env
    env.close()


def _placements(env) -> np.ndarray:
    return np.concatenate([o.pos for o in env.sim_state().objects.values()])


def test_file_holds_new_seeded_states_that_reset_loads(made):
    path, env = made
    with np.load(path) as f:
        states, seeds, task_id = f['states'], f['seeds'], str(f['task_id'])
    assert task_id == env.task_id and states.shape == (2, env.state_size)
    assert seeds.tolist() == [500, 501]
    assert env.num_init_states == 2
    with LiberoEnv('libero_object', TASK, cameras=()) as bench:
        assert bench.num_init_states == 50
        # sampled, not copied: no generated state is a benchmark one
        assert all(np.abs(s - b).max() > 1e-3 for s in states for b in bench.init_states)
        # the same seed samples the same placement again
        np.testing.assert_array_equal(bench.sample_init_state(501), states[1])
        bench.reset(0)
        benchmark_scene = _placements(bench)
    env.reset(0)
    first = _placements(env)
    env.reset(1)
    second = _placements(env)
    env.reset(0)
    np.testing.assert_array_equal(_placements(env), first)  # reproducible
    assert np.abs(first - second).max() > 1e-3
    assert np.abs(first - benchmark_scene).max() > 1e-3
    with pytest.raises(IndexError, match='out of range'):
        env.reset(2)


def test_the_expert_solves_a_generated_state(made):
    _, env = made
    env.reset(1)
    expert = ScriptedExpert()
    while not env.done:
        _, out = env.step(expert.act(env.sim_state()))
    assert out.success and out.done_reason == 'success'


def test_a_sample_equal_to_a_benchmark_state_is_skipped(made, monkeypatch):
    _, env = made
    with LiberoEnv('libero_object', TASK, cameras=()) as bench:
        real = bench.sample_init_state
        benchmark_state = np.asarray(bench.init_states[3], dtype=np.float64)
        monkeypatch.setattr(bench, 'sample_init_state',
                            lambda s: benchmark_state.copy() if s == 7 else real(s))
        states, seeds = init_states.generate_init_states(bench, 2, seed=7)
    assert seeds.tolist() == [8, 9]
    assert all(np.abs(s - benchmark_state).max() > 1e-3 for s in states)
    with pytest.raises(ValueError, match='without init_states_file'):
        init_states.generate_init_states(env, 1, seed=7)  # env reads the file's states


def test_bad_files_are_refused_with_the_reason(made, tmp_path):
    path, env = made
    size = env.state_size
    with pytest.raises(FileNotFoundError, match='does not exist'):
        init_states.load_init_states(tmp_path / 'none.npz', env.task_id, size)
    with np.load(path) as f:
        states, seeds = f['states'], f['seeds']
    other = init_states.save_init_states(tmp_path / 'other.npz', states, seeds,
                                         'libero_object/another_task')
    with pytest.raises(ValueError, match='another_task, not libero_object/pick_up'):
        init_states.load_init_states(other, env.task_id, size)
    with pytest.raises(ValueError, match=f'{size} values'):
        init_states.load_init_states(path, env.task_id, size + 1)
    bad = states.copy()
    bad[1, 4] = np.nan
    nan_file = init_states.save_init_states(tmp_path / 'nan.npz', bad, seeds, env.task_id)
    with pytest.raises(ValueError, match=r'states \[1\] have NaN'):
        init_states.load_init_states(nan_file, env.task_id, size)
    corrupt = tmp_path / 'corrupt.npz'
    corrupt.write_bytes(b'not a zip file')
    with pytest.raises(ValueError, match='not an initial-states file'):
        init_states.load_init_states(corrupt, env.task_id, size)
    bare = tmp_path / 'bare.npy'
    np.save(bare, states)
    with pytest.raises(ValueError, match='not an initial-states file.*single array'):
        init_states.load_init_states(bare, env.task_id, size)
    # the environment refuses it at construction, before any episode
    with pytest.raises(ValueError, match='another_task'):
        LiberoEnv('libero_object', TASK, cameras=(), init_states_file=other)
