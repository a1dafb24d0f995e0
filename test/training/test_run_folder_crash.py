# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A run killed (SIGKILL) anywhere in an iteration's commit resumes as if it never was.

The child process trains with the tiny policy on ``FakeEnv`` (training_fakes.py) and kills
itself through run_folder's test hook (``TGRPO_ROS_TEST_KILL_AT``) at every commit point of
iteration 2; each killed folder is resumed here and must equal an uninterrupted run. Also: the
resume settings check, and that nothing is ever unpickled.
"""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path
import pickle
import signal
import subprocess
import sys

from helpers import child_env, REPO_ROOT
import pytest
from safetensors.torch import load_file
import torch
from training_fakes import FakeGroups

from tgrpo_ros.training.driver import train_in_process
from tgrpo_ros.training.run_folder import KILL_HOOK_VARIABLE, RunFolder
from tgrpo_ros.training.settings import SimTrainSettings
from tgrpo_ros.versioning import sha256_file

QUIET = {'log': lambda s: None}
ITERATIONS = 2
# The child: imports the slow libraries once, then forks one training run per line of stdin
# (a kill point and the settings), each reading the kill hook when it imports run_folder, and
# prints its exit code. Saves importing torch/transformers/peft for every kill point.
CHILD = """
import json, os, sys, traceback
import peft, torch, transformers
for line in sys.stdin:
    point, settings = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            os.environ[%r] = '%d:' + str(point)
            from training_fakes import FakeGroups
            from tgrpo_ros.training.driver import train_in_process
            from tgrpo_ros.training.settings import SimTrainSettings
            train_in_process(SimTrainSettings.from_flat(settings), make_envs=FakeGroups(),
                             log=lambda s: None)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
""" % (KILL_HOOK_VARIABLE, ITERATIONS)


def _flat(out: Path, resume: bool = False, **kw) -> dict:
    # evaluation at 0 and 2: iteration 2's commit writes an evaluation row too
    base = {'policy.model': 'tiny:test', 'policy.lora_rank': 4, 'run.iterations': ITERATIONS,
            'env.max_steps': 6, 'env.image_size': 32, 'run.output_dir': str(out),
            'run.resume': resume, 'env.init_states': [0, 1], 'eval.init_states': [7],
            'eval.every': 2, 'eval.episodes': 2, 'policy.torch_threads': 1,
            'algo.group_size': 2, 'algo.lr': 1e-3, 'algo.minibatch_size': 4}
    base.update(kw)
    return base


def _settings(out: Path, resume: bool = False, **kw) -> SimTrainSettings:
    return SimTrainSettings.from_flat(_flat(out, resume, **kw))


@pytest.fixture
def keep_threads():
    """train_in_process sets torch's thread count (policy.torch_threads); restore it after."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _rows(path: Path, drop: set[str]) -> list[dict]:
    with open(path, newline='') as f:
        return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(f)]


def _kill_children(tmp_path: Path, points: int) -> list[Path]:
    """Train in child processes that kill themselves at each point of iteration 2's commit."""
    env = child_env()
    env['PYTHONPATH'] = str(Path(__file__).parent) + ':' + env['PYTHONPATH']
    outs = [tmp_path / f'killed_{point}' for point in range(points)]
    lines = ''.join(json.dumps([point, _flat(out)]) + '\n' for point, out in enumerate(outs))
    proc = subprocess.run([sys.executable, '-c', CHILD], input=lines, env=env,
                          cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    codes = [int(x) for x in proc.stdout.split()]
    assert codes == [-signal.SIGKILL] * points, proc.stderr[-2000:]
    return outs


def _assert_consistent(out: Path, committed: int) -> None:
    """Check that the resume point is whole: its adapter and state files exist and match."""
    run = RunFolder(out, ITERATIONS)
    last = run.last_complete()
    assert last['iteration'] == committed
    state = run.load_trainer_state()  # verifies the tensors against the JSON's SHA-256
    assert set(state) == {'optimizer', 'generator'}
    assert sha256_file(Path(last['adapter']) / 'adapter_model.safetensors') == last['sha256']


def test_a_kill_at_any_commit_point_resumes_to_the_uninterrupted_run(tmp_path, keep_threads):
    whole = tmp_path / 'whole'
    train_in_process(_settings(whole), make_envs=FakeGroups(), **QUIET)
    whole_state = RunFolder(whole, ITERATIONS).load_trainer_state()
    whole_adapter = load_file(str(whole / 'adapters' / 'iter_0002' / 'adapter_model.safetensors'))
    timing = {'rollout_time_s', 'update_time_s', 'time_s'}
    points = RunFolder.commit_points(evaluation=True)
    assert points == 10
    for point, out in enumerate(_kill_children(tmp_path, points)):
        # last_complete.json is replaced by the operation ending at point 8
        _assert_consistent(out, committed=2 if point >= 8 else 1)
        train_in_process(_settings(out, resume=True), make_envs=FakeGroups(), **QUIET)

        assert _rows(out / 'metrics.csv', timing) == _rows(whole / 'metrics.csv', timing), point
        assert _rows(out / 'evaluation.csv', timing) == \
            _rows(whole / 'evaluation.csv', timing), point
        assert [int(r['iteration']) for r in _rows(out / 'evaluation.csv', set())] == [0, 2]
        # nothing partial or stale: one resume point, the adapters of committed iterations
        assert sorted(p.name for p in (out / 'state').iterdir()) == \
            ['iter_0002.json', 'iter_0002.safetensors', 'last_complete.json'], point
        assert sorted(p.name for p in (out / 'adapters').iterdir()) == \
            ['iter_0001', 'iter_0002'], point
        assert not [p for p in out.rglob('*') if '.tmp' in p.name], point
        assert not list(out.glob('config_resume_*')), point  # same settings: nothing to record
        # the same weights, optimiser and shuffle generator as the uninterrupted run
        adapter = load_file(str(out / 'adapters' / 'iter_0002' / 'adapter_model.safetensors'))
        assert adapter.keys() == whole_adapter.keys()
        assert all(torch.equal(adapter[k], whole_adapter[k]) for k in adapter), point
        state = RunFolder(out, ITERATIONS).load_trainer_state()
        assert torch.equal(state['generator'], whole_state['generator']), point
        assert state['optimizer']['param_groups'] == whole_state['optimizer']['param_groups']
        for i, s in whole_state['optimizer']['state'].items():
            assert all(torch.equal(state['optimizer']['state'][i][k], v) for k, v in s.items())


def test_a_resume_refuses_changed_settings_and_records_allowed_changes(tmp_path, keep_threads):
    out = tmp_path / 'run'
    train_in_process(_settings(out, **{'run.iterations': 1}), make_envs=FakeGroups(), **QUIET)
    config = (out / 'config.yaml').read_text()
    with pytest.raises(ValueError, match=r'algo.lr 0.001 -> 0.002'):
        train_in_process(_settings(out, resume=True, **{'run.iterations': 2, 'algo.lr': 2e-3}),
                         make_envs=FakeGroups(), **QUIET)
    train_in_process(_settings(out, resume=True, **{'run.iterations': 2}),
                     make_envs=FakeGroups(), **QUIET)
    assert (out / 'config.yaml').read_text() == config  # written once, at the start
    assert 'iterations: 2' in (out / 'config_resume_0001.yaml').read_text()


class _Payload:
    """Unpickling this creates ``marker``: proof that a pickle was executed."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), 'w'))


def test_a_pickle_in_the_run_folder_is_refused_not_executed(tmp_path, keep_threads):
    out = tmp_path / 'run'
    train_in_process(_settings(out, **{'run.iterations': 1, 'eval.every': 0}),
                     make_envs=FakeGroups(), **QUIET)
    marker = tmp_path / 'executed'
    payload = pickle.dumps(_Payload(marker))
    # no file the run wrote is a pickle (torch.save writes a zip holding data.pkl, or a bare
    # pickle starting with the PROTO opcode 0x80)
    for f in out.rglob('*'):
        if f.is_file() and f.suffix != '.safetensors':
            head = f.read_bytes()[:2]
            assert not head.startswith(b'PK') and head[:1] != b'\x80', f
    resume = _settings(out, resume=True, **{'run.iterations': 2, 'eval.every': 0})
    for name in ('iter_0001.safetensors', 'iter_0001.json'):
        f = out / 'state' / name
        original = f.read_bytes()
        f.write_bytes(payload)
        with pytest.raises(ValueError, match=name.split('.')[0]):
            train_in_process(resume, make_envs=FakeGroups(), **QUIET)
        assert not marker.exists()
        f.write_bytes(original)
    # a folder of an older version (a pickled trainer_state.pt) is refused, and kept
    last = json.loads((out / 'state' / 'last_complete.json').read_text())
    del last['state']
    (out / 'state' / 'last_complete.json').write_text(json.dumps(last))
    (out / 'state' / 'trainer_state.pt').write_bytes(payload)
    with pytest.raises(ValueError, match='pickle'):
        train_in_process(resume, make_envs=FakeGroups(), **QUIET)
    assert not marker.exists() and (out / 'state' / 'trainer_state.pt').is_file()


def test_the_package_never_unpickles():
    """No torch.load / torch.save, pickle-family imports or np.load(allow_pickle=True)."""
    offenders = []
    for path in sorted((REPO_ROOT / 'tgrpo_ros').rglob('*.py')):
        rel = path.relative_to(REPO_ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, 'module', None) or '']
                if any(n.split('.')[0] in {'pickle', 'dill', 'cloudpickle', 'joblib'}
                       for n in names):
                    offenders.append(f'{rel}:{node.lineno} imports a pickle library')
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                if isinstance(owner, ast.Name) and owner.id == 'torch' \
                        and node.func.attr in ('load', 'save'):
                    offenders.append(f'{rel}:{node.lineno} calls torch.{node.func.attr}')
                if any(k.arg == 'allow_pickle' and not (isinstance(k.value, ast.Constant)
                                                        and k.value.value is False)
                       for k in node.keywords):
                    offenders.append(f'{rel}:{node.lineno} allows pickle')
    assert not offenders, offenders
