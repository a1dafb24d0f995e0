# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A disk that fills up while an iteration is saved: a clear error, the previous one intact.

The run trains (tiny policy on ``FakeEnv``) in a size-limited tmpfs, mounted in a private mount
namespace (``unshare``: as root, or unprivileged through a user namespace), so nothing outside
the test sees it. Iteration 1 is committed; the resumed run fills the filesystem during
iteration 2's rollout, leaving ``slack`` bytes, so the save of the adapter (no slack) or of the
trainer state (slack for the adapter) hits ENOSPC. The error must name the file and say the disk
is full and which iteration is kept; the folder must still hold iteration 1 whole and nothing
partial; with space freed the run resumes and ends exactly as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys

from helpers import child_env, REPO_ROOT
import pytest
import torch
from training_fakes import FakeGroups

from tgrpo_ros.training.driver import train_in_process
from tgrpo_ros.training.settings import SimTrainSettings
from tgrpo_ros.versioning import sha256_file

TEST_DIR = Path(__file__).resolve().parent
TMPFS_SIZE = '48m'
PAGE = 4096

# Runs inside the namespace, with the tmpfs mounted at argv[1].
CHILD = r"""
import glob, json, os, sys
from training_fakes import FakeGroups
from tgrpo_ros.training.driver import train_in_process
from tgrpo_ros.training.settings import SimTrainSettings
from tgrpo_ros.versioning import sha256_file

mnt, flat, scenario = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
run = os.path.join(mnt, 'run')
filler = os.path.join(mnt, 'filler')


def settings(iterations, resume):
    return SimTrainSettings.from_flat(dict(flat, **{'run.output_dir': run,
        'run.iterations': iterations, 'run.resume': resume}))


def du(folder):
    return sum(-(-os.path.getsize(os.path.join(d, f)) // 4096) * 4096
               for d, _, fs in os.walk(folder) for f in fs)


def fill(slack):
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    block = b'\0' * 65536
    try:
        while True:
            os.write(fd, block)
    except OSError:
        pass
    try:
        while True:
            os.write(fd, block[:4096])
    except OSError:
        pass
    os.ftruncate(fd, max(0, os.fstat(fd).st_size - slack))
    os.close(fd)


class FillingGroups(FakeGroups):
    # the environments of the resumed run: the disk fills when iteration 2's rollout starts
    def __init__(self, slack):
        super().__init__()
        self.slack, self.filled = slack, False

    def __call__(self, task, num_envs):
        group = super().__call__(task, num_envs)
        for env in group.envs:
            env.reset = self._filling(env.reset)
        return group

    def _filling(self, reset):
        def wrapped(*args):
            if not self.filled:
                self.filled = True
                fill(self.slack)
            return reset(*args)
        return wrapped


out = {}
train_in_process(settings(1, False), make_envs=FakeGroups(), log=lambda s: None)
adapter_bytes = du(os.path.join(run, 'adapters', 'iter_0001'))
slack = 0 if scenario == 'adapter' else adapter_bytes + 2 * 4096
try:
    train_in_process(settings(2, True), make_envs=FillingGroups(slack), log=lambda s: None)
    out['error'] = None
except Exception as exc:
    out['error'], out['type'] = str(exc), type(exc).__name__
    out['errno'] = getattr(exc, 'errno', None)
with open(os.path.join(run, 'state', 'last_complete.json')) as f:
    out['committed'] = json.load(f)['iteration']
with open(os.path.join(run, 'metrics.csv')) as f:
    out['rows'] = [line.split(',')[0] for line in f.read().splitlines()]
out['leftovers'] = sorted(os.path.relpath(p, run) for p in
                          glob.glob(run + '/**/*.tmp*', recursive=True)
                          + glob.glob(run + '/**/.iter_*', recursive=True))
out['adapters'] = sorted(os.listdir(os.path.join(run, 'adapters')))
out['state'] = sorted(os.listdir(os.path.join(run, 'state')))
os.remove(filler)
train_in_process(settings(2, True), make_envs=FakeGroups(), log=lambda s: None)
with open(os.path.join(run, 'metrics.csv')) as f:
    out['rows_after'] = [line.split(',')[0] for line in f.read().splitlines()]
out['sha_after'] = sha256_file(os.path.join(run, 'adapters', 'iter_0002',
                                            'adapter_model.safetensors'))
print('RESULT ' + json.dumps(out))
"""


def _flat() -> dict:
    return {'policy.model': 'tiny:test', 'policy.lora_rank': 4, 'env.max_steps': 6,
            'env.image_size': 32, 'env.init_states': [0, 1], 'eval.every': 0,
            'policy.torch_threads': 1, 'algo.group_size': 2, 'algo.lr': 1e-3,
            'algo.minibatch_size': 4}


def _namespace_prefix(mnt: Path) -> list[str]:
    """Return a command prefix running the rest with a private tmpfs at ``mnt`` (or fail).

    Unprivileged: a user namespace maps us to root in it, which may mount a tmpfs. As root a
    mount namespace alone does. Neither available (no unshare, user namespaces disabled, a
    container without CAP_SYS_ADMIN): the test fails loudly rather than skip.
    """
    mount = f'mount -t tmpfs -o size={TMPFS_SIZE} tmpfs "$0" && exec "$@"'
    tried = []
    candidates = [['unshare', '--user', '--map-root-user', '--mount']]
    if os.geteuid() == 0:
        candidates.insert(0, ['unshare', '--mount'])
    for c in candidates:
        prefix = c + ['sh', '-c', mount, str(mnt)]
        try:
            probe = subprocess.run(prefix + ['sh', '-c', 'df -k "$0" | tail -1', str(mnt)],
                                   capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            tried.append(f'{" ".join(c)}: {exc}')
            continue
        if probe.returncode == 0 and 'tmpfs' in probe.stdout:
            return prefix
        tried.append(f'{" ".join(c)}: {probe.stderr.strip() or probe.stdout.strip()}')
    pytest.fail('cannot mount a size-limited tmpfs for the disk-full test; tried: '
                + '; '.join(tried) + ' (needs util-linux unshare with user namespaces enabled, '
                'or root)')


@pytest.fixture
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory) -> str:
    """Return the adapter SHA-256 of iteration 2 of a run that never ran out of space."""
    threads = torch.get_num_threads()
    out = tmp_path_factory.mktemp('uninterrupted') / 'run'
    flat = dict(_flat(), **{'run.output_dir': str(out), 'run.iterations': 2})
    try:
        train_in_process(SimTrainSettings.from_flat(flat), make_envs=FakeGroups(),
                         log=lambda s: None)
    finally:
        torch.set_num_threads(threads)
    return sha256_file(out / 'adapters' / 'iter_0002' / 'adapter_model.safetensors')


@pytest.mark.parametrize('scenario,path', [('adapter', 'adapters/iter_0002'),
                                           ('state', 'state/iter_0002')])
def test_disk_full_while_saving_names_the_file_and_keeps_the_last_iteration(
        tmp_path, scenario, path, uninterrupted):
    mnt = tmp_path / 'mnt'
    mnt.mkdir()
    cmd = _namespace_prefix(mnt) + [sys.executable, '-c', CHILD, str(mnt), json.dumps(_flat()),
                                    scenario]
    env = child_env({'PYTHONPATH': os.pathsep.join([str(TEST_DIR),
                                                    child_env()['PYTHONPATH']])})
    proc = subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=600)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')), None)
    assert proc.returncode == 0 and line, proc.stdout + proc.stderr
    got = json.loads(line[len('RESULT '):])
    # a clear error: the file, that the disk is full, what is kept and how to go on
    assert got['type'] == 'DiskFullError' and got['errno'] == 28, got
    assert f'cannot save {mnt}/run/{path}' in got['error']
    assert 'the disk is full' in got['error'], got['error']
    assert 'iteration 1, the last committed one, is intact' in got['error']
    assert '--resume' in got['error']
    # the previous iteration intact, nothing partial left behind
    assert got['committed'] == 1 and got['rows'] == ['iteration', '1'], got
    assert got['leftovers'] == [], got['leftovers']
    assert got['state'] == ['iter_0001.json', 'iter_0001.safetensors', 'last_complete.json']
    # iteration 2's adapter, if saved before the state ran out of space, is uncommitted: the
    # resume drops it
    assert got['adapters'] == (['iter_0001'] if scenario == 'adapter' else
                               ['iter_0001', 'iter_0002'])
    # space freed: the run resumes and ends as if the disk had never filled up
    assert got['rows_after'] == ['iteration', '1', '2']
    assert got['sha_after'] == uninterrupted
