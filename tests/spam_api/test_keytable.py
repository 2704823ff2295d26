"""``KeyTable`` answers exactly what a dict would, whatever the keys collide on."""

from __future__ import annotations

import numpy as np
import pytest
from chalicelib.keytable import KeyTable
from hypothesis import given, settings
from hypothesis import strategies as st

keys_strategy = st.lists(st.integers(1, 2**64 - 1), unique=True, max_size=300)


@settings(max_examples=80, deadline=None)
@given(keys=keys_strategy, misses=st.lists(st.integers(1, 2**64 - 1), max_size=100))
def test_lookup_matches_a_dict(keys, misses) -> None:
    values = np.arange(len(keys))
    table = KeyTable.build(np.array(keys, dtype=np.uint64), values)
    expected = dict(zip(keys, values.tolist(), strict=True))
    queries = keys[::-1] + misses
    found = table.lookup(np.array(queries, dtype=np.uint64)).tolist()
    assert found == [expected.get(q, -1) for q in queries]


def test_keys_that_share_a_home_slot_probe_past_each_other() -> None:
    """5,000 keys in 32,768 slots: hundreds share a home slot, and all are found."""
    keys = np.random.default_rng(7).choice(2**62, size=5000, replace=False).astype(np.uint64)
    keys += np.uint64(1)
    table = KeyTable.build(keys, np.arange(keys.size))
    home = (keys * np.uint64(0x9E3779B97F4A7C15)) >> table.shift
    assert np.unique(home).size < keys.size - 100  # collisions did happen
    assert table.lookup(keys).tolist() == list(range(keys.size))
    assert (table.lookup(keys + np.uint64(2**62)) == -1).all()
    assert table.size == keys.size and table.keys.size >= 4 * keys.size


def test_empty_table_finds_nothing() -> None:
    table = KeyTable.build(np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.intp))
    assert table.lookup(np.array([1, 2], dtype=np.uint64)).tolist() == [-1, -1]


@pytest.mark.parametrize("keys", [[0, 5], [3, 3]])
def test_refuses_zero_and_repeated_keys(keys) -> None:
    with pytest.raises(ValueError, match=r"non-zero|distinct"):
        KeyTable.build(np.array(keys, dtype=np.uint64), np.arange(len(keys)))
