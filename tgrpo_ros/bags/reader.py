# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Read ROS 2 bags (MCAP or sqlite3) with rosbags, with errors that name the problem.

``BagReader`` opens a bag folder (with metadata.yaml) or a single ``.mcap`` / ``.db3`` file,
registers the message definitions stored in the bag, and yields ``(topic, timestamp_ns,
message)`` in time order. Problems come out as ``BagError`` whose text names the bag and what is
wrong: the path does not exist, it is not a bag, the file is truncated or corrupt (recording
interrupted), a type has no definition. A bag that breaks while being read raises ``BagError``
from the iterator, after the messages before the damage were yielded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import sqlite3
from typing import Iterable, Iterator

from rosbags.interfaces import MessageDefinitionFormat
from rosbags.rosbag2 import Reader
from rosbags.rosbag2.errors import ReaderError

from tgrpo_ros.bags.salvage import SalvagedBag
from tgrpo_ros.bags.typestore import project_typestore, register_definitions


class BagError(RuntimeError):
    """A bag cannot be read (or stops being readable); the message names bag and cause."""


@dataclass(frozen=True)
class TopicInfo:
    topic: str
    msgtype: str
    count: int


def _explain(path: Path, exc: BaseException) -> str:
    text = str(exc)
    low = text.lower()
    if 'magic' in low or 'footer' in low or 'summary' in low or 'read_exact' in low or \
            'unexpected end' in low or 'not enough' in low or isinstance(exc, EOFError):
        return (f'bag {path}: the file is truncated or incomplete ({text}); the recording was '
                'probably interrupted before the bag was closed')
    if isinstance(exc, sqlite3.DatabaseError) or 'database' in low or 'malformed' in low:
        return (f'bag {path}: the sqlite3 database is truncated or corrupt ({text}); the '
                'recording was probably interrupted')
    if isinstance(exc, FileNotFoundError) and 'metadata' in low:
        return (f'bag {path}: no metadata.yaml in the folder; pass the .mcap or .db3 file '
                'itself, or a complete bag folder')
    return f'bag {path}: cannot be read: {text}'


class BagReader:
    """An open bag; iterate messages of chosen topics, deserialised, in time order."""

    def __init__(self, path: str | Path, store=None) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f'bag {self.path} does not exist')
        if self.path.is_dir() and not (self.path / 'metadata.yaml').exists():
            files = sorted(self.path.glob('*.mcap')) + sorted(self.path.glob('*.db3'))
            if len(files) == 1:
                self.path = files[0]
            elif not files:
                raise BagError(f'{self.path} is not a ROS 2 bag: no metadata.yaml, .mcap or '
                               '.db3 file in it')
            else:
                raise BagError(f'bag {self.path} has no metadata.yaml and several storage files '
                               f'{[f.name for f in files]}: pass one of them')
        self.store = store or project_typestore()
        self.truncated_note = ''
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except (ReaderError, OSError, EOFError, sqlite3.DatabaseError, ValueError,
                KeyError, AssertionError) as exc:
            explanation = _explain(self.path, exc)
            self._reader = self._salvage(explanation)
            if self._reader is None:
                raise BagError(explanation) from exc
        defs = {}
        for c in self._reader.connections:
            if c.msgdef.format == MessageDefinitionFormat.MSG:
                defs[c.msgtype] = ('msg', c.msgdef.data)
            elif c.msgdef.format == MessageDefinitionFormat.IDL:
                defs[c.msgtype] = ('idl', c.msgdef.data)
        try:
            register_definitions(self.store, defs)
        except Exception as exc:  # noqa: BLE001 - a broken definition is reported, not fatal
            self.definition_error = str(exc)
        else:
            self.definition_error = ''

    def _salvage(self, explanation: str):
        """Open the complete part of a truncated MCAP file, or return None."""
        if 'truncated' not in explanation:
            return None
        files = [self.path] if self.path.suffix == '.mcap' else (
            sorted(self.path.glob('*.mcap')) if self.path.is_dir() else [])
        if len(files) != 1:
            return None
        try:
            bag = SalvagedBag(files[0])
        except Exception:  # noqa: BLE001 - nothing salvageable: the original error stands
            return None
        st = bag.storage
        if not st.metadata.message_count:
            bag.close()
            return None
        self.truncated_note = (
            f'bag {self.path}: the file is truncated (recording interrupted before the bag was '
            f'closed); read the {st.metadata.message_count} complete messages in the first '
            f'{st.prefix} of {st.file_size} bytes, the rest is lost')
        return bag

    # ---- metadata ----------------------------------------------------------------------------
    @property
    def topics(self) -> dict[str, TopicInfo]:
        out: dict[str, TopicInfo] = {}
        for c in self._reader.connections:
            prev = out.get(c.topic)
            out[c.topic] = TopicInfo(c.topic, c.msgtype, c.msgcount + (prev.count if prev else 0))
        return out

    @property
    def start_ns(self) -> int:
        return int(self._reader.start_time)

    @property
    def end_ns(self) -> int:
        return int(self._reader.end_time)

    @property
    def storage(self) -> str:
        name = self._reader.path.name if self._reader.path.is_file() else ''
        if name.endswith('.mcap'):
            return 'mcap'
        if name.endswith('.db3'):
            return 'sqlite3'
        files = [p.suffix for p in self.path.iterdir()] if self.path.is_dir() else []
        return 'mcap' if '.mcap' in files else 'sqlite3'

    def count(self, topics: Iterable[str]) -> int:
        info = self.topics
        return sum(info[t].count for t in set(topics) if t in info)

    # ---- messages ----------------------------------------------------------------------------
    def raw_messages(self, topics: Iterable[str]) -> Iterator[tuple[str, int, str, bytes]]:
        """Yield ``(topic, timestamp_ns, msgtype, cdr_bytes)`` in time order."""
        wanted = set(topics)
        conns = [c for c in self._reader.connections if c.topic in wanted]
        if not conns:
            return
        it = self._reader.messages(connections=conns)
        while True:
            try:
                conn, ts, data = next(it)
            except StopIteration:
                return
            except (ReaderError, OSError, EOFError, sqlite3.DatabaseError, ValueError,
                    AssertionError) as exc:
                raise BagError(_explain(self.path, exc)) from exc
            yield conn.topic, int(ts), conn.msgtype, data

    def messages(self, topics: Iterable[str]) -> Iterator[tuple[str, int, object]]:
        """Yield ``(topic, timestamp_ns, message)``; messages are rosbags dataclasses."""
        for topic, ts, msgtype, data in self.raw_messages(topics):
            if msgtype not in self.store.fielddefs:
                raise BagError(f'bag {self.path}: no definition for type {msgtype} of topic '
                               f'{topic} (the bag stores none and it is not a known type'
                               f'{"; " + self.definition_error if self.definition_error else ""})')
            try:
                msg = self.store.deserialize_cdr(data, msgtype)
            except Exception as exc:  # noqa: BLE001 - corrupt payloads name the message
                raise BagError(f'bag {self.path}: message on {topic} at {ts} ns cannot be '
                               f'deserialised as {msgtype}: {exc}') from exc
            yield topic, ts, msg

    def close(self) -> None:
        try:
            self._reader.close()
        except Exception:  # noqa: BLE001 - closing a broken bag must not hide the first error
            pass

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_bag(path: str | Path) -> BagReader:
    return BagReader(path)
