# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Read the complete part of a truncated MCAP file (a recording that was cut off).

An MCAP file is written front to back: magic, header, data records (schemas, channels, chunks of
messages, their indexes), then a summary and a footer at close. A recorder that crashes, is
killed or loses power leaves a file that ends mid-record and has no footer; rosbags refuses it.
``open_truncated_mcap`` finds the last complete record, presents the file up to there followed
by a synthetic DataEnd + Footer (no summary) to rosbags' own MCAP reader, which then scans the
records in order. Every message in a complete chunk is read; the partial record is not.

MCAP lets a writer put messages in any log-time order (rosbag2 writes them as they arrive).
Without the summary, rosbags reads the records front to back and refuses the first message older
than the one before. So the salvage indexes the complete chunks itself (``chunk_index``: each
chunk's offset and time range, read from its header) and hands rosbags that index: it then sorts
each chunk's messages and merges the chunks by time, as for a complete file. Messages written
outside chunks (an unchunked file) are read in file order and sorted in memory.
"""

from __future__ import annotations

import io
from pathlib import Path
import struct

from rosbags.rosbag2.storage_mcap import ChunkInfo, McapReader

MAGIC = b'\x89MCAP0\r\n'
_DATA_END = 0x0F
_FOOTER = 0x02
_MESSAGE = 0x05
_CHUNK = 0x06


def complete_prefix(path: Path) -> int:
    """Byte offset just after the last complete record (0 if not even the header is whole)."""
    size = path.stat().st_size
    with open(path, 'rb') as f:
        if f.read(8) != MAGIC:
            return 0
        pos = 8
        while pos + 9 <= size:
            f.seek(pos)
            op, length = struct.unpack('<BQ', f.read(9))
            end = pos + 9 + length
            if end > size or op in (_DATA_END, _FOOTER) or op == 0:
                break
            pos = end
        return pos


def chunk_index(path: Path, prefix: int, channel_ids) -> tuple[list[ChunkInfo], int]:
    """Index the chunks in the first ``prefix`` bytes from their headers; count loose messages.

    Returns rosbags' ``ChunkInfo`` per chunk (what a summary would list: time range, offset,
    sizes, compression) and the number of message records outside any chunk. A chunk's channel
    counts are not in its header: every channel is listed, so no chunk is skipped.
    """
    chunks, loose = [], 0
    counts = {int(c): 1 for c in channel_ids}
    with open(path, 'rb') as f:
        pos = 8
        while pos + 9 <= prefix:
            f.seek(pos)
            op, length = struct.unpack('<BQ', f.read(9))
            if pos + 9 + length > prefix:
                break
            if op == _MESSAGE:
                loose += 1
            elif op == _CHUNK:
                start, end, uncompressed, _crc = struct.unpack('<QQQI', f.read(28))
                (n,) = struct.unpack('<I', f.read(4))
                compression = f.read(n).decode()
                (compressed,) = struct.unpack('<Q', f.read(8))
                chunks.append(ChunkInfo(start, end, pos, 9 + length, {}, 0, compression,
                                        compressed, uncompressed, dict(counts)))
            pos += 9 + length
    return chunks, loose


class _PatchedFile(io.RawIOBase):
    """The first ``prefix`` bytes of a file followed by ``tail`` bytes, read-only and seekable."""

    def __init__(self, path: Path, prefix: int, tail: bytes) -> None:
        self._f = open(path, 'rb')
        self._prefix, self._tail = prefix, tail
        self._size = prefix + len(tail)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self._size - self._pos
        n = max(0, min(n, self._size - self._pos))
        out = b''
        if self._pos < self._prefix:
            self._f.seek(self._pos)
            out = self._f.read(min(n, self._prefix - self._pos))
        rest = n - len(out)
        if rest:
            start = self._pos + len(out) - self._prefix
            out += self._tail[start:start + rest]
        self._pos += len(out)
        return out

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._f.close()
        super().close()


class TruncatedMcapReader(McapReader):
    """rosbags' MCAP reader over the complete prefix of a truncated file."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.prefix = complete_prefix(path)
        self.file_size = path.stat().st_size

    def open(self) -> None:
        if self.prefix <= 8:
            raise ValueError(f'{self.path}: not even the MCAP header is complete')
        data_end = struct.pack('<BQI', _DATA_END, 4, 0)
        footer = struct.pack('<BQQQI', _FOOTER, 20, 0, 0, 0) + MAGIC
        self.bio = _PatchedFile(self.path, self.prefix, data_end + footer)
        try:
            self._open()
        except BaseException:
            self.close()
            raise


class SalvagedBag:
    """The few things BagReader uses of a rosbags Reader, over a TruncatedMcapReader."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.storage = TruncatedMcapReader(path)
        self.storage.open()
        # rosbags reads an index-less file in file order and refuses out-of-order messages;
        # with the chunks indexed it sorts and merges them by time (module docstring).
        chunks, self.loose_messages = chunk_index(path, self.storage.prefix,
                                                  self.storage.channels)
        if not self.loose_messages:
            self.storage.chunks = chunks

    @property
    def connections(self):
        return self.storage.connections

    @property
    def start_time(self) -> int:
        return int(self.storage.metadata.start_time)

    @property
    def end_time(self) -> int:
        return int(self.storage.metadata.end_time)

    def messages(self, connections):
        if not self.loose_messages:
            return self.storage.messages(connections)
        # Messages outside chunks: file order, sorted here (stable: equal times keep it).
        return iter(sorted(self.storage.messages_scan(connections), key=lambda m: m[1]))

    def close(self) -> None:
        self.storage.close()
