"""The disk spool: append, replay, commit, reopen, torn-tail repair and the size bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.store.spool import Spool

SEG = 4096


def lines_for(batch: int, n: int) -> list[str]:
    return [f"m,station=S{batch} v={i}i {batch * 1000 + i}" for i in range(n)]


def drain(spool: Spool, max_lines: int = 7) -> tuple[list[str], int]:
    """Everything in the spool, read and committed chunk by chunk."""
    out: list[str] = []
    readings = 0
    while (chunk := spool.read_chunk(max_lines)) is not None:
        out += chunk.lines
        readings += chunk.readings
        spool.commit(chunk)
    return out, readings


def test_append_read_commit_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, SEG)
    assert spool.empty and spool.readings == 0 and spool.read_chunk(10) is None
    expected: list[str] = []
    for b in range(50):
        batch = lines_for(b, 5)
        assert spool.append(batch, 5)
        expected += batch
    assert spool.readings == 250
    assert len(list(tmp_path.glob("*.seg"))) > 1, "50 batches should span several segments"
    out, readings = drain(spool)
    assert out == expected
    assert readings == 250
    assert spool.empty and spool.readings == 0 and spool.bytes == 0
    assert list(tmp_path.glob("*.seg")) == [], "drained segments are removed"


def test_chunks_hold_whole_records(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, SEG)
    spool.append(lines_for(0, 10), 10)
    spool.append(lines_for(1, 10), 4)  # readings need not equal lines (status lines, ...)
    chunk = spool.read_chunk(3)
    assert chunk is not None
    assert chunk.lines == lines_for(0, 10) and chunk.readings == 10
    spool.commit(chunk)
    chunk = spool.read_chunk(100)
    assert chunk is not None and chunk.lines == lines_for(1, 10) and chunk.readings == 4


def test_uncommitted_chunk_is_read_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, SEG)
    spool.append(lines_for(0, 3), 3)
    first = spool.read_chunk(10)
    again = spool.read_chunk(10)
    assert first == again
    # A crash before commit: the reopened spool hands out the same chunk (rewritten = same points).
    reopened = Spool(tmp_path, 1 << 20, SEG)
    assert reopened.read_chunk(10) == first
    assert reopened.readings == 3


def test_reopen_keeps_head_and_counts(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, SEG)
    expected: list[str] = []
    for b in range(40):
        spool.append(lines_for(b, 4), 4)
        expected += lines_for(b, 4)
    committed: list[str] = []
    for _ in range(5):
        chunk = spool.read_chunk(10)
        assert chunk is not None
        committed += chunk.lines
        spool.commit(chunk)
    before = (spool.bytes, spool.readings)
    reopened = Spool(tmp_path, 1 << 20, SEG)
    assert (reopened.bytes, reopened.readings) == before
    rest, readings = drain(reopened)
    assert committed + rest == expected
    assert readings == before[1]
    # Appends after a full drain and reopen continue to work.
    again = Spool(tmp_path, 1 << 20, SEG)
    assert again.empty
    assert again.append(["m v=1 1"], 1)
    assert Spool(tmp_path, 1 << 20, SEG).read_chunk(5) == again.read_chunk(5)


def _last_segment(directory: Path) -> Path:
    return sorted(directory.glob("*.seg"))[-1]


@pytest.mark.parametrize("cut", [1, 5, 13, 20])
def test_torn_tail_is_cut_and_the_rest_kept(tmp_path: Path, cut: int) -> None:
    spool = Spool(tmp_path, 1 << 20, 1 << 20)
    for b in range(3):
        spool.append(lines_for(b, 4), 4)
    seg = _last_segment(tmp_path)
    good_size = seg.stat().st_size
    spool.append(lines_for(3, 4), 4)
    # A crash mid-append leaves part of the last record: keep only `cut` bytes of it.
    with seg.open("r+b") as f:
        f.truncate(good_size + cut)
    reopened = Spool(tmp_path, 1 << 20, 1 << 20)
    assert seg.stat().st_size == good_size
    assert reopened.readings == 12
    out, readings = drain(reopened)
    assert out == lines_for(0, 4) + lines_for(1, 4) + lines_for(2, 4)
    assert readings == 12


def test_corrupted_last_record_is_cut(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, 1 << 20)
    spool.append(lines_for(0, 4), 4)
    seg = _last_segment(tmp_path)
    good_size = seg.stat().st_size
    spool.append(lines_for(1, 4), 4)
    data = bytearray(seg.read_bytes())
    data[-3] ^= 0xFF  # flipped bits in the body: the CRC no longer matches
    seg.write_bytes(bytes(data))
    reopened = Spool(tmp_path, 1 << 20, 1 << 20)
    assert seg.stat().st_size == good_size
    out, readings = drain(reopened)
    assert out == lines_for(0, 4) and readings == 4
    # The repaired spool takes new records after the cut.
    assert reopened.append(lines_for(2, 2), 2)
    assert drain(Spool(tmp_path, 1 << 20, 1 << 20)) == (lines_for(2, 2), 2)


def test_torn_tail_after_partial_replay(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, 1 << 20)
    for b in range(4):
        spool.append(lines_for(b, 2), 2)
    chunk = spool.read_chunk(2)
    assert chunk is not None
    spool.commit(chunk)
    seg = _last_segment(tmp_path)
    with seg.open("ab") as f:
        f.write(b"\x10\x00\x00\x00garbage")  # a header and a few bytes of a record, then a crash
    reopened = Spool(tmp_path, 1 << 20, 1 << 20)
    assert reopened.readings == 6
    assert drain(reopened) == (lines_for(1, 2) + lines_for(2, 2) + lines_for(3, 2), 6)


def test_full_spool_refuses_and_drops_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2048, 1024)
    accepted: list[str] = []
    refused = 0
    for b in range(100):
        batch = lines_for(b, 3)
        if spool.append(batch, 3):
            assert refused == 0, "once full, nothing is accepted until space is freed"
            accepted += batch
        else:
            refused += 1
    assert accepted and refused
    assert spool.bytes <= 2048
    assert spool.readings == len(accepted)
    # Replaying frees space; what was refused can then be appended, after what was held.
    chunk = spool.read_chunk(1000)
    assert chunk is not None
    spool.commit(chunk)
    late = lines_for(500, 3)
    assert spool.append(late, 3)
    out, _ = drain(spool)
    assert chunk.lines + out == [*accepted, *late]


def test_record_larger_than_the_bound_is_refused(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1024, 1024)
    assert not spool.append(["x" * 2000], 1)
    assert spool.empty and spool.readings == 0
