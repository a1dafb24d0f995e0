# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Resume state on disk without pickle: tensors in safetensors, everything else in JSON.

A state is a nested structure of dicts, lists, tuples, str/int/float/bool/None and tensors --
what ``optimizer.state_dict()``, ``torch.Generator.get_state()``, a numpy bit generator's
``state`` and a module's ``state_dict()`` are made of. ``save_state(stem, state)`` writes

    <stem>.safetensors   every tensor, under the key its place in the structure was given
    <stem>.json          the structure, tensors replaced by {"__tensor__": key}, and the
                         SHA-256 of the .safetensors file

Neither format can run code when read (a pickle can), so a run folder someone hands over is
safe to resume. Each file is written to a temporary name, fsynced, renamed over the old one,
and the folder fsynced: after a crash a file is either the old one or the new one, whole.

A full disk (ENOSPC, or a quota: EDQUOT) raises ``DiskFullError``, whose message names the file
and says the disk is full; the temporary file is removed and the old file is left as it was.
"""

from __future__ import annotations

from contextlib import contextmanager
import errno
import hashlib
import json
import os
from pathlib import Path
import shutil
from typing import Any, Callable, Iterator

from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
import torch

FORMAT = 'tgrpo_ros.state'
FORMAT_VERSION = 1
TENSORS_SUFFIX = '.safetensors'
JSON_SUFFIX = '.json'

Step = Callable[[], None]


def _nothing() -> None:
    pass


# --- a full disk ------------------------------------------------------------------------------
_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(OSError):
    """No space left for a save; the message names the file, the free space and what is kept."""

    def __init__(self, path: Path, cause: BaseException, kept: str = '') -> None:
        path = Path(path)
        folder = next((p for p in (path, *path.parents) if p.exists()), path.parent)
        try:
            free = f'{shutil.disk_usage(folder).free / 2**20:.1f} MiB free'
        except OSError:
            free = 'free space unknown'
        self.message = (f'cannot save {path}: the disk is full ({_reason(cause)}; {free} on the '
                        f'filesystem of {folder}).' + (f' {kept}' if kept else ''))
        super().__init__(errno.ENOSPC, self.message, str(path))

    def __str__(self) -> str:
        return self.message


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def is_disk_full(exc: BaseException | None) -> bool:
    """Return True if ``exc`` (or what caused it) is a full disk or an exhausted quota."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _FULL:
            return True
        # Rust writers (safetensors) report it only in their text: '(os error 28)'
        text = str(exc)
        if f'os error {errno.ENOSPC}' in text or 'No space left on device' in text:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@contextmanager
def naming_a_full_disk(path: Path, kept: str = '') -> Iterator[None]:
    """Turn a full disk while saving ``path`` into a ``DiskFullError`` that says ``kept``."""
    try:
        yield
    except DiskFullError as exc:
        if kept and kept not in exc.message:
            exc.message += f' {kept}'
        raise
    except Exception as exc:  # noqa: BLE001 - only a full disk is translated; the rest re-raised
        if is_disk_full(exc):
            raise DiskFullError(path, exc, kept) from exc
        raise


# --- durable writes ---------------------------------------------------------------------------
def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` survive a power cut (the entry is metadata)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes, step: Step = _nothing) -> None:
    """Replace ``path`` by ``data`` atomically and durably: temp file + fsync, rename, fsync dir.

    step: called between the two file operations (write the temporary file; rename it);
        the run folder's crash test kills the process there.
    """
    path = Path(path)
    tmp = path.with_name(path.name + '.tmp')
    try:
        with open(tmp, 'wb') as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        tmp.unlink(missing_ok=True)  # a partial file would only hold on to the little space left
        if exc.errno in _FULL:
            raise DiskFullError(path, exc) from exc
        raise
    step()
    os.replace(tmp, path)
    fsync_dir(path.parent)
    step()


# --- encoding ---------------------------------------------------------------------------------
def _encode(value: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        if key in tensors:  # keys holding '.' could collide with nested ones
            raise ValueError(f'two tensors at {key!r} in one state')
        tensors[key] = value.detach().to('cpu').contiguous().clone()
        return {'__tensor__': key}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith('__') for k in value):
            return {k: _encode(v, f'{key}.{k}', tensors) for k, v in value.items()}
        # optimiser states are keyed by parameter index (int): keep the keys' types
        return {'__items__': [[_encode_key(k), _encode(v, f'{key}.{k}', tensors)]
                              for k, v in value.items()]}
    if isinstance(value, tuple):
        return {'__tuple__': [_encode(v, f'{key}.{i}', tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f'{key}.{i}', tensors) for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, 'item') and getattr(value, 'shape', None) == ():  # numpy scalars
        return value.item()
    raise TypeError(f'cannot store {type(value).__name__} at {key!r} in a state file')


def _encode_key(k: Any) -> Any:
    if isinstance(k, (bool, int, str)):
        return k
    raise TypeError(f'cannot store a dict key of type {type(k).__name__} in a state file')


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if '__tensor__' in value:
        return tensors[value['__tensor__']]
    if '__tuple__' in value:
        return tuple(_decode(v, tensors) for v in value['__tuple__'])
    if '__items__' in value:
        return {k: _decode(v, tensors) for k, v in value['__items__']}
    return {k: _decode(v, tensors) for k, v in value.items()}


def encode_state(state: dict) -> tuple[bytes, bytes]:
    """Return the (.safetensors, .json) file contents of ``state``."""
    tensors: dict[str, torch.Tensor] = {}
    structure = _encode(state, 'state', tensors)
    blob = save_tensors(tensors)
    doc = {'format': FORMAT, 'format_version': FORMAT_VERSION,
           'tensors_sha256': hashlib.sha256(blob).hexdigest(), 'state': structure}
    # allow_nan: a NaN statistic is a valid state (Python's json reads it back)
    return blob, json.dumps(doc, allow_nan=True).encode()


# --- files ------------------------------------------------------------------------------------
def state_paths(stem: Path) -> tuple[Path, Path]:
    stem = Path(stem)
    return (stem.with_name(stem.name + TENSORS_SUFFIX), stem.with_name(stem.name + JSON_SUFFIX))


def save_state(stem: Path, state: dict, step: Step = _nothing) -> None:
    """Write ``state`` as <stem>.safetensors, then <stem>.json (which names its SHA-256)."""
    blob, doc = encode_state(state)
    tensors_path, json_path = state_paths(stem)
    write_durably(tensors_path, blob, step)
    write_durably(json_path, doc, step)


def load_state(stem: Path) -> dict:
    """Read what ``save_state`` wrote; a file of any other kind (e.g. a pickle) is refused.

    Raises ValueError naming the file when it is not a state file or the pair does not match.
    """
    tensors_path, json_path = state_paths(stem)
    try:
        doc = json.loads(json_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f'{json_path} is not a state file (JSON): {exc}') from None
    if not isinstance(doc, dict) or doc.get('format') != FORMAT:
        raise ValueError(f'{json_path} is not a {FORMAT} file')
    if doc.get('format_version') != FORMAT_VERSION:
        raise ValueError(f'{json_path}: format version {doc.get("format_version")}, this '
                         f'package reads {FORMAT_VERSION}')
    blob = tensors_path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != doc['tensors_sha256']:
        raise ValueError(f'{tensors_path} does not match {json_path.name} (SHA-256 differs): '
                         'not the tensors that state was written with')
    try:
        tensors = load_tensors(blob)
    except Exception as exc:  # safetensors raises its own error type for a malformed file
        raise ValueError(f'{tensors_path} is not a safetensors file: {exc}') from None
    return _decode(doc['state'], tensors)
