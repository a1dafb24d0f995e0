# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Message types for reading and writing bags with rosbags (no ROS install needed).

The store starts from rosbags' ROS 2 Kilted types (std_msgs, sensor_msgs, geometry_msgs, ...),
adds this package's interfaces from its ``.msg`` files (the installed
``share/tgrpo_ros/msg`` or the source ``msg/`` folder), and can add any other type whose
``.msg`` file is found under ``share/<package>/msg`` of a prefix in ``AMENT_PREFIX_PATH``.
Types found in a bag (MCAP and rosbag2 >= 8 store their definitions) are added when it is read.
"""

from __future__ import annotations

import os
from pathlib import Path
import re
import threading

from rosbags.typesys import get_types_from_idl, get_types_from_msg, get_typestore, Stores
from rosbags.typesys.store import Typestore

PACKAGE = 'tgrpo_ros'
_LOCK = threading.Lock()
_STORE: Typestore | None = None


class UnknownMessageType(LookupError):
    """A message type whose definition is in neither the store nor any ``.msg`` file found."""


def normalize_type(name: str) -> str:
    """Return ``pkg/msg/Type`` for ``pkg/msg/Type`` or ``pkg/Type``."""
    parts = name.strip().split('/')
    if len(parts) == 2:
        return f'{parts[0]}/msg/{parts[1]}'
    if len(parts) == 3 and parts[1] == 'msg':
        return name.strip()
    raise ValueError(f'not a ROS 2 message type name: {name!r} (expected pkg/msg/Type)')


def package_msg_dir() -> Path:
    """Folder holding this package's ``.msg`` files (installed share first, then the source)."""
    for prefix in _prefixes():
        candidate = prefix / 'share' / PACKAGE / 'msg'
        if candidate.is_dir() and any(candidate.glob('*.msg')):
            return candidate
    source = Path(__file__).resolve().parents[2] / 'msg'
    if source.is_dir():
        return source
    raise FileNotFoundError(f'cannot find the {PACKAGE} .msg files (neither share/{PACKAGE}/msg '
                            'in AMENT_PREFIX_PATH nor the source msg/ folder)')


def _prefixes() -> list[Path]:
    return [Path(p) for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]


def project_typestore() -> Typestore:
    """Return the shared store: ROS 2 Kilted types plus this package's messages."""
    global _STORE
    with _LOCK:
        if _STORE is None:
            store = get_typestore(Stores.ROS2_KILTED)
            types = {}
            for path in sorted(package_msg_dir().glob('*.msg')):
                types.update(get_types_from_msg(path.read_text(), f'{PACKAGE}/msg/{path.stem}'))
            store.register(types)
            _STORE = store
        return _STORE


def _find_msg_file(msgtype: str) -> Path | None:
    pkg, _, name = msgtype.split('/')
    for prefix in _prefixes():
        candidate = prefix / 'share' / pkg / 'msg' / f'{name}.msg'
        if candidate.is_file():
            return candidate
    return None


_FIELD_TYPE = re.compile(r'^\s*([A-Za-z][\w/]*)(\[[^\]]*\])?\s+\w+')
_PRIMITIVES = {'bool', 'byte', 'char', 'float32', 'float64', 'int8', 'uint8', 'int16', 'uint16',
               'int32', 'uint32', 'int64', 'uint64', 'string', 'wstring'}


def ensure_type(msgtype: str, store: Typestore | None = None) -> str:
    """Make sure ``msgtype`` (and the types it uses) are in the store; return its full name.

    Looks for ``share/<pkg>/msg/<Type>.msg`` in ``AMENT_PREFIX_PATH``; raises
    ``UnknownMessageType`` naming the type when no definition can be found.
    """
    store = store or project_typestore()
    msgtype = normalize_type(msgtype)
    with _LOCK:
        _ensure(msgtype, store, set())
    return msgtype


def _ensure(msgtype: str, store: Typestore, seen: set[str]) -> None:
    if msgtype in store.fielddefs or msgtype in seen:
        return
    seen.add(msgtype)
    path = _find_msg_file(msgtype)
    if path is None:
        raise UnknownMessageType(
            f'no definition for message type {msgtype!r}: it is not a standard ROS 2 type and '
            f'no share/{msgtype.split("/")[0]}/msg/{msgtype.split("/")[2]}.msg was found in '
            'AMENT_PREFIX_PATH (source the workspace that defines it)')
    text = path.read_text()
    pkg = msgtype.split('/')[0]
    for line in text.splitlines():
        line = line.split('#', 1)[0]
        m = _FIELD_TYPE.match(line)
        if not m:
            continue
        ftype = m.group(1)
        if ftype in _PRIMITIVES or ftype.startswith(('string<', 'wstring<')):
            continue
        dep = ftype if '/' in ftype else f'{pkg}/{ftype}'
        if dep == 'Header':
            dep = 'std_msgs/Header'
        _ensure(normalize_type(dep), store, seen)
    store.register(get_types_from_msg(text, msgtype))


def register_definitions(store: Typestore, definitions: dict[str, tuple[str, str]]) -> None:
    """Register types from bag-stored definitions: ``{type: (format, text)}``, 'msg' only.

    Types already known are kept (the store's definition wins).
    """
    types = {}
    for msgtype, (fmt, text) in definitions.items():
        if msgtype in store.fielddefs or not text:
            continue
        if fmt == 'idl':
            types.update(get_types_from_idl(text))
        else:
            types.update(_types_from_concatenated_msg(text, msgtype))
    if types:
        with _LOCK:
            store.register({k: v for k, v in types.items() if k not in store.fielddefs})


def _types_from_concatenated_msg(text: str, msgtype: str) -> dict:
    """Split a bag's concatenated ``ros2msg`` definition (``===``-separated ``MSG: type``)."""
    sep = '=' * 80
    blocks = text.split(sep)
    out = dict(get_types_from_msg(blocks[0], msgtype))
    for block in blocks[1:]:
        block = block.strip('\n')
        header, _, body = block.partition('\n')
        if header.startswith('MSG: '):
            out.update(get_types_from_msg(body, normalize_type(header[5:].strip())))
    return out
