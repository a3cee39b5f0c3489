"""Open windows in memory (windows.PartitionWindows): sums, closing, and the snapshot that a
restore turns back into the same windows (what the state topic carries between processes)."""

from __future__ import annotations

from ribflow.aggregate.windows import CHUNK_ROWS, MARK_KEY, PartitionWindows

W = 10_000


def test_sums_close_and_mark() -> None:
    pw = PartitionWindows(3)
    pw.add('["a"]', 0, 1, 2, 100)
    pw.add('["a"]', 0, 1, 3, 50)
    pw.add('["b"]', W, 1, 1, 10)
    assert pw.first_end(W) == W
    closed, gone = pw.close(W, W)
    assert closed == [(0, {'["a"]': [2, 5, 150]})] and gone == []
    assert pw.flushed == W and list(pw.open) == [W]
    assert pw.close(W, W) == ([], [])  # nothing more ends by then


def replay(log: list[tuple[bytes, bytes | None]]) -> PartitionWindows:
    return PartitionWindows.restore(3, iter(log), W)


def test_snapshot_restores_the_open_windows_and_deletes_written_ones() -> None:
    pw = PartitionWindows(3)
    log: list[tuple[bytes, bytes | None]] = []
    pw.add('["a",[1,2]]', 0, 1, 1, 1)  # an array inside the key (an AS path)
    pw.add('["b",[]]', W, 1, 1, 1)
    log += pw.snapshot()  # commit 1: both windows
    assert list(pw.snapshot()) == []  # nothing changed since
    pw.add('["b",[]]', W, 1, 4, 4)
    pw.add('["c",[]]', W, 1, 1, 1)
    log += pw.snapshot()  # commit 2: window W's changed keys only
    assert len(log) == 3
    closed, gone = pw.close(W, W)  # window 0 written: its snapshot is deleted
    assert [start for start, _ in closed] == [0]
    log += [(key, None) for key in gone]
    log += pw.snapshot()  # the mark
    assert log[-1][0] == MARK_KEY

    back = replay(log)
    assert back.flushed == W
    assert back.open == {W: {'["b",[]]': [2, 5, 5], '["c",[]]': [1, 1, 1]}}
    assert back.open == pw.open
    assert sorted(back.chunks[W]) == sorted(pw.chunks[W])
    # the restored process goes on: its chunks are deleted when its windows are written
    back.add('["b",[]]', W, 1, 1, 1)
    log += back.snapshot()
    _, gone = back.close(2 * W, W)
    assert len(gone) == 3
    log += [(key, None) for key in gone]
    log += back.snapshot()
    final = replay(log)
    assert final.open == {} and final.flushed == 2 * W


def test_large_windows_are_snapshotted_in_chunks() -> None:
    pw = PartitionWindows(0)
    for i in range(CHUNK_ROWS * 2 + 5):
        pw.add(f"[{i}]", 0, 1, 1, 1)
    log = list(pw.snapshot())
    assert len(log) == 3
    assert replay(log).open == pw.open
