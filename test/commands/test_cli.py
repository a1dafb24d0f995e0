# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros``: every subcommand answers --help with examples, through the real entry script."""

from __future__ import annotations

import subprocess
import sys

from helpers import child_env, REPO_ROOT
import pytest

from tgrpo_ros.commands.cli import SUBCOMMANDS

SCRIPT = REPO_ROOT / 'scripts' / 'tgrpo-ros'


def _run(*args: str, code: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, '-c', code] if code else [sys.executable, str(SCRIPT), *args]
    return subprocess.run(cmd, env=child_env(), cwd=str(REPO_ROOT), capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize('name', ['init-states', 'demonstrations'])
def test_new_subcommands_answer_help_with_examples(name):
    out = _run(name, '--help')
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f'usage: tgrpo-ros {name}')
    assert 'examples:\n  # ' in out.stdout and f'tgrpo-ros {name} --' in out.stdout


def test_every_subcommand_has_help_with_examples():
    # one interpreter for all of them: each --help imports its command's module
    code = (
        'import contextlib, importlib, io\n'
        'from tgrpo_ros.commands.cli import SUBCOMMANDS\n'
        'for name, (module, _) in SUBCOMMANDS.items():\n'
        '    text = io.StringIO()\n'
        '    with contextlib.redirect_stdout(text):\n'
        '        try:\n'
        "            importlib.import_module(module).main(['--help'])\n"
        '        except SystemExit as stop:\n'
        '            assert stop.code == 0, (name, stop.code)\n'
        "    assert 'examples:' in text.getvalue(), name\n"
        "    print(name, 'ok')\n")
    out = _run(code=code)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == [w for name in SUBCOMMANDS for w in (name, 'ok')]


def test_top_level_help_lists_every_subcommand_and_imports_none():
    out = _run('--help')
    assert out.returncode == 0, out.stderr
    listed = [line.split()[0] for line in out.stdout.splitlines() if line.startswith('  ')]
    assert listed == list(SUBCOMMANDS)
    # dispatch by name: --help stays instant because no command (torch, rclpy) is imported
    code = ('import sys\nfrom tgrpo_ros.commands import cli\ncli.main(["--help"])\n'
            "heavy = sorted(m for m in ('torch', 'rclpy', 'libero', 'transformers') "
            'if m in sys.modules)\n'
            "assert not heavy, heavy\n")
    out = _run(code=code)
    assert out.returncode == 0, out.stderr


def test_unknown_subcommand_names_the_known_ones():
    out = _run('no-such-command')
    assert out.returncode == 2
    assert "unknown subcommand 'no-such-command'" in out.stderr and 'init-states' in out.stderr


@pytest.mark.parametrize('order', ['args after --resume', 'args before --resume'])
def test_launch_resume_takes_launch_arguments_on_either_side(tmp_path, capsys, order):
    """``tgrpo-ros launch sim_train --resume RUN iterations:=30`` extends a run.

    It was refused: argparse took no positional arguments after the option.
    """
    from tgrpo_ros.commands.launch import main
    run = tmp_path / 'run'
    run.mkdir()
    (run / 'launch_args.yaml').write_text('iterations: 4\ngroup_size: 2\n')
    rest = ['iterations:=30', 'max_steps:=7']
    argv = (['sim_train', '--resume', str(run), *rest, '--show-args'] if order.startswith('args a')
            else ['sim_train', *rest, '--resume', str(run), '--show-args'])
    assert main(argv) == 0
    shown = capsys.readouterr().out
    for name, value in (('iterations', '30'), ('max_steps', '7'), ('group_size', '2'),
                        ('resume', 'true'), ('output_dir', str(run.resolve()))):
        assert f"{name}:='{value}'" in shown, (name, shown)
