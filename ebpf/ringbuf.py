"""Reading a BPF ring buffer map from user space through its memory mapping (no library, no callback).

The kernel exposes the ring as: one read-write page holding the consumer position, then one read-only
page holding the producer position, then the data pages mapped twice in a row so a record that wraps
around the end can be read in one piece. Each record starts with an 8-byte header: a u32 length whose
top bits say "still being written" (BUSY) or "discarded", and a u32 page offset. Records are 8-byte
aligned. Reading is plain loads on x86-64 (loads are not reordered with other loads there).
"""

from __future__ import annotations

import mmap
import struct

BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
HEADER = 8
_POS = struct.Struct("<Q")
_LEN = struct.Struct("<I")


class RingBuffer:
    """The consumer side of one ring buffer map fd; ``size`` is the map's ``max_entries`` (bytes)."""

    def __init__(self, fd: int, size: int) -> None:
        if size <= 0 or size & (size - 1):
            raise ValueError(f"ring buffer size {size} is not a power of two")
        page = mmap.PAGESIZE
        self.size = size
        self._mask = size - 1
        self._consumer = mmap.mmap(fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self._producer = mmap.mmap(fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page)
        self._data = page  # where the data pages start in the producer mapping

    def consume(self, limit: int = 0) -> list[bytes]:
        """Every committed record (at most ``limit`` when non-zero), oldest first; frees their space."""
        records: list[bytes] = []
        consumer = _POS.unpack_from(self._consumer, 0)[0]
        producer = _POS.unpack_from(self._producer, 0)[0]
        view = self._producer
        base, mask = self._data, self._mask
        while consumer < producer:
            start = base + (consumer & mask)
            length = _LEN.unpack_from(view, start)[0]
            if length & BUSY_BIT:
                break
            size = length & ~(BUSY_BIT | DISCARD_BIT)
            if not length & DISCARD_BIT:
                records.append(view[start + HEADER : start + HEADER + size])
            consumer += (size + HEADER + 7) & ~7
            if limit and len(records) >= limit:
                break
        _POS.pack_into(self._consumer, 0, consumer)
        return records

    def pending(self) -> int:
        """Bytes written and not yet consumed."""
        return int(_POS.unpack_from(self._producer, 0)[0] - _POS.unpack_from(self._consumer, 0)[0])

    def close(self) -> None:
        self._consumer.close()
        self._producer.close()
