# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Write ROS 2 bags (MCAP or sqlite3, with rosbag2's metadata.yaml) using rosbags only.

A bag is a folder: ``<name>/metadata.yaml`` plus ``<name>/<name>.mcap`` (or ``.db3``). rosbags
writes rosbag2 format version 9 by default (what Jazzy and Kilted write; ``ros2 bag info`` and
``ros2 bag play`` there read it); version 8 is available for Iron. Each topic gets its message
definition and RIHS01 type hash from the type store, so the bag is self-describing.

Messages are written as CDR bytes, either serialised already (a recorder's raw subscription, or
``rclpy.serialization.serialize_message``) or serialised here from rosbags message objects.
``close()`` always finishes the file (index, summary, metadata.yaml), also after an error, so
what was written before stays readable.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness, QosReliability,
                                QosTime)
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode

from tgrpo_ros import __version__
from tgrpo_ros.bags.typestore import ensure_type, project_typestore

STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
BAG_FORMAT_VERSIONS = (8, 9)
_ZERO = QosTime(0, 0)
_INFINITE = QosTime(2147483647, 4294967295)


def make_qos(reliable: bool = True, transient_local: bool = False, depth: int = 10) -> Qos:
    """Return a QoS profile as rosbag2 stores it for each topic (``offered_qos_profiles``)."""
    return Qos(QosHistory.KEEP_LAST, int(depth),
               QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
               QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
               _INFINITE, _INFINITE, QosLiveliness.AUTOMATIC, _INFINITE, False)


class BagWriter:
    """Write one bag folder; use as a context manager.

    path: the bag folder to create (must not exist).
    storage: ``'mcap'`` (default, one file, robust to crashes up to the last chunk) or
        ``'sqlite3'``.
    version: rosbag2 metadata format version (9: Jazzy/Kilted; 8: Iron).
    compress: zstd; for MCAP per chunk, for sqlite3 per message (rosbag2's modes).
    """

    def __init__(self, path: str | Path, storage: str = 'mcap', *, version: int = 9,
                 compress: bool = False, store=None) -> None:
        if storage not in STORAGES:
            raise ValueError(f'unknown storage {storage!r}; choose one of {sorted(STORAGES)}')
        if version not in BAG_FORMAT_VERSIONS:
            raise ValueError(f'rosbag2 format version {version} not supported '
                             f'(choose from {BAG_FORMAT_VERSIONS})')
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f'bag folder {self.path} already exists; choose a new name')
        self.storage = storage
        self.store = store or project_typestore()
        self._writer = Writer(self.path, version=version, storage_plugin=STORAGES[storage])
        if compress:
            mode = CompressionMode.STORAGE if storage == 'mcap' else CompressionMode.MESSAGE
            self._writer.set_compression(mode, CompressionFormat.ZSTD)
        # rosbag2 reads custom_data as a string map; an empty one would be written as null.
        self._writer.set_custom_data('tgrpo_ros.writer', f'tgrpo_ros {_package_version()} '
                                     f'(rosbags {_rosbags_version()})')
        self._connections: dict[str, Any] = {}
        self._types: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self._open = False

    # ---- lifecycle ---------------------------------------------------------------------------
    def open(self) -> BagWriter:
        self._writer.open()
        self._open = True
        return self

    def close(self) -> None:
        """Finish the bag (index, summary, metadata.yaml); safe to call twice."""
        if self._open:
            self._open = False
            self._writer.close()

    def __enter__(self) -> BagWriter:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- topics and messages -----------------------------------------------------------------
    def add_topic(self, topic: str, msgtype: str, qos: Qos | None = None) -> None:
        """Declare a topic (once); the type's definition must be known (see typestore)."""
        if not self._open:
            raise RuntimeError(f'bag {self.path} is not open')
        msgtype = ensure_type(msgtype, self.store)
        if topic in self._connections:
            if self._types[topic] != msgtype:
                raise ValueError(f'topic {topic} already recorded with type {self._types[topic]}, '
                                 f'not {msgtype}')
            return
        self._connections[topic] = self._writer.add_connection(
            topic, msgtype, typestore=self.store, offered_qos_profiles=[qos or make_qos()])
        self._types[topic] = msgtype
        self.counts[topic] = 0

    def topic_type(self, topic: str) -> str:
        """Return the full message type recorded on ``topic``."""
        return self._types[topic]

    def has_topic(self, topic: str) -> bool:
        return topic in self._connections

    def write(self, topic: str, timestamp_ns: int, data: bytes | memoryview) -> None:
        """Write one CDR-serialised message received (or stamped) at ``timestamp_ns``."""
        if topic not in self._connections:
            raise KeyError(f'topic {topic} was not added to bag {self.path}')
        if timestamp_ns < 0:
            raise ValueError(f'negative timestamp {timestamp_ns} on {topic}')
        self._writer.write(self._connections[topic], int(timestamp_ns), bytes(data))
        self.counts[topic] += 1

    def write_message(self, topic: str, timestamp_ns: int, message, msgtype: str | None = None,
                      ) -> None:
        """Serialise a rosbags message object and write it (adds the topic if needed)."""
        msgtype = normalize_msgtype(message, msgtype)
        if topic not in self._connections:
            self.add_topic(topic, msgtype)
        self.write(topic, timestamp_ns, self.store.serialize_cdr(message, msgtype))


def _package_version() -> str:
    return __version__


def _rosbags_version() -> str:
    return version('rosbags')


def normalize_msgtype(message, msgtype: str | None) -> str:
    name = msgtype or getattr(message, '__msgtype__', None)
    if not name:
        raise ValueError('message type unknown: pass msgtype')
    return name
