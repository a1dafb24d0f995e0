# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Give a new venv the non-ROS packages of another venv as hard links (no second copy on disk).

Usage: python share_packages.py SOURCE_VENV DEST_VENV

The Jazzy venv pins the same torch, LIBERO, robosuite ... as the Kilted one: installed twice they
took ~2.5 GB more, and a CI machine ran out of disk installing the second copy. Each package of
SOURCE_VENV whose name does not start with ``ros-`` is linked file by file (its RECORD) into
DEST_VENV, so pip then finds it installed at the pinned version and skips it; a package at another
pin is replaced by pip as usual (pip deletes and writes files, never edits them in place, so the
other venv keeps its copy). Scripts in ``bin/`` are copied with their ``#!`` line pointed at
DEST_VENV's python. A package with a file outside the venv is left to pip. Prints how many
packages and megabytes were shared; exits 1 (sharing nothing) where the two venvs are on different
file systems, and setup then installs copies.
"""

from __future__ import annotations

from importlib.metadata import PathDistribution
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob('lib/python3*/site-packages'))
    if len(found) != 1:
        raise SystemExit(f'share_packages: expected one site-packages in {venv}, found {found}')
    return found[0]


def dists(site: Path) -> list[PathDistribution]:
    """Return the installed distributions of ``site`` (its *.dist-info folders), sorted."""
    return [PathDistribution(d) for d in sorted(site.glob('*.dist-info'))]


def dist_name(dist: PathDistribution) -> str:
    """Return the distribution's normalised name ('' when its metadata has none)."""
    return re.sub(r'[-_.]+', '-', dist.metadata.get('Name') or '').lower()


def versions(site: Path) -> dict[str, str]:
    return {dist_name(d): d.version for d in dists(site)}


def plan(src_venv: Path, dist: PathDistribution,
         present: set[str]) -> list[tuple[Path, Path]] | None:
    """Return (source file, path relative to the venv) for each file, or None to skip it."""
    name = dist_name(dist)
    # A package the new venv has already (pip, setuptools from `python -m venv`) stays pip's:
    # linking another version's files over it would leave two half-installations.
    if not name or name in present or name.startswith('ros-') or dist.files is None:
        return None
    files = []
    for record in dist.files:
        path = Path(dist.locate_file(record)).resolve()
        try:
            rel = path.relative_to(src_venv.resolve())
        except ValueError:
            return None  # a file outside the venv: pip's business
        if path.is_file():
            files.append((path, rel))
    return files


def share(src_venv: Path, dst_venv: Path) -> tuple[int, float]:
    src_site, dst_site = site_packages(src_venv), site_packages(dst_venv)
    probe = dst_site / '.tgrpo-link-probe'  # same file system? (else nothing is touched)
    try:
        os.link(next(src_site.glob('*.dist-info/RECORD')), probe)
    except OSError as exc:
        raise SystemExit(f'share_packages: cannot hard-link {src_venv} -> {dst_venv} ({exc})')
    finally:
        probe.unlink(missing_ok=True)
    old_python = str(src_venv / 'bin' / 'python').encode()
    new_python = str(dst_venv / 'bin' / 'python').encode()
    # A fresh venv brings its own setuptools, older than the pinned one: pip would otherwise
    # upgrade it past colcon-core's limit (setuptools<80) while resolving torch, and complain.
    # Hand the new venv the first one's instead (pip itself stays).
    src_versions, dst_versions = versions(src_site), versions(dst_site)
    older = [name for name, version in dst_versions.items()
             if name in src_versions and src_versions[name] != version
             and name != 'pip' and not name.startswith('ros-')]
    for name in sorted(older):
        subprocess.run([str(dst_venv / 'bin' / 'python'), '-m', 'pip', 'uninstall', '-y', '-q',
                        name], check=True)
    present = {dist_name(d) for d in dists(dst_site)}
    count, size = 0, 0
    for dist in dists(src_site):
        files = plan(src_venv, dist, present)
        if files is None:
            continue
        # The dist-info last: pip sees the package only once all its files are there.
        files.sort(key=lambda f: any(part.endswith('.dist-info') for part in f[1].parts))
        for src, rel in files:
            dst = dst_venv / rel
            if dst.exists():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            head = src.read_bytes()[:2] if rel.parts[0] == 'bin' else b''
            if head == b'#!':
                data = src.read_bytes()
                first, _, rest = data.partition(b'\n')
                dst.write_bytes(first.replace(old_python, new_python) + b'\n' + rest)
                shutil.copymode(src, dst)
            else:
                os.link(src, dst)
            size += src.stat().st_size
        count += 1
    return count, size / 2**20


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.split('\n\n')[1], file=sys.stderr)
        return 2
    count, megabytes = share(Path(sys.argv[1]).absolute(), Path(sys.argv[2]).absolute())
    print(f'[setup] {count} packages ({megabytes:.0f} MB) shared by hard link')
    return 0


if __name__ == '__main__':
    sys.exit(main())
