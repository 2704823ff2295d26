"""``KeyTable``: a read-only hash map from non-zero ``uint64`` keys to column numbers.

Looks up a whole array of keys in a few numpy passes. ``np.searchsorted`` over a sorted
key array does the same job, but its binary search jumps around tens of thousands of
keys for every query; here a query usually reads one slot (linear probing in a table
kept at most a quarter full), which ``make bench``'s batch figures reflect.

>>> table = KeyTable.build(np.array([7, 42, 1 << 60], dtype=np.uint64), np.array([0, 1, 2]))
>>> table.lookup(np.array([42, 5, 7, 1 << 60], dtype=np.uint64)).tolist()
[1, -1, 0, 2]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["KeyTable"]

_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: 2**64 / golden ratio
_EMPTY = np.uint64(0)  # keys are never 0, so 0 marks a free slot


@dataclass(frozen=True)
class KeyTable:
    """Open addressing with linear probing; ``lookup`` gives -1 for a missing key."""

    keys: np.ndarray  # uint64 per slot, 0 = empty
    values: np.ndarray  # int32 per slot
    shift: np.uint64  # 64 - log2(number of slots)
    size: int  # number of keys stored

    @classmethod
    def build(cls, keys: np.ndarray, values: np.ndarray) -> KeyTable:
        """A table of distinct, non-zero ``keys`` (uint64) mapping to ``values``."""
        keys = np.asarray(keys, dtype=np.uint64)
        if keys.size and (keys == _EMPTY).any():
            raise ValueError("keys must be non-zero")
        bits = max(int(keys.size * 4).bit_length(), 4)
        slots = 1 << bits
        shift = np.uint64(64 - bits)
        table_keys = np.zeros(slots, dtype=np.uint64)
        table_values = np.full(slots, -1, dtype=np.int32)
        slot = ((keys * _MULTIPLIER) >> shift).astype(np.intp)
        pending = np.arange(keys.size)
        while pending.size:
            # each round, every free slot takes the first pending key aiming at it
            aimed = slot[pending]
            free = table_keys[aimed] == _EMPTY
            _, first = np.unique(aimed[free], return_index=True)
            placed = pending[free][first]
            table_keys[slot[placed]] = keys[placed]
            table_values[slot[placed]] = values[placed]
            waiting = np.ones(keys.size, dtype=bool)
            waiting[placed] = False
            pending = pending[waiting[pending]]
            # equal keys share every probe, so a repeat now faces its twin (no sort needed)
            if (table_keys[slot[pending]] == keys[pending]).any():
                raise ValueError("keys must be distinct")
            slot[pending] = (slot[pending] + 1) & (slots - 1)
        return cls(table_keys, table_values, shift, int(keys.size))

    def lookup(self, queries: np.ndarray) -> np.ndarray:
        """The value of every query key, -1 where it is not in the table."""
        queries = np.asarray(queries, dtype=np.uint64)
        last = self.keys.size - 1
        slot = ((queries * _MULTIPLIER) >> self.shift).astype(np.intp)
        seen = self.keys[slot]
        hit = seen == queries
        found = np.where(hit, self.values[slot], np.int32(-1))  # most queries end here
        pending = np.flatnonzero(~hit & (seen != _EMPTY))
        slot = (slot[pending] + 1) & last
        while pending.size:
            seen = self.keys[slot]
            hit = seen == queries[pending]
            found[pending[hit]] = self.values[slot[hit]]
            probing = ~hit & (seen != _EMPTY)
            pending = pending[probing]
            slot = (slot[probing] + 1) & last
        return found
