"""HeapTrimmer: trims only after work and at most once per interval; on glibc the trim gives
freed heap pages back (RSS drops), which is what the enricher calls it for."""

from __future__ import annotations

import gc
import os
import platform

from ribflow.rib.heap import HeapTrimmer, malloc_trim


def test_trims_only_when_busy_and_due() -> None:
    calls: list[int] = []
    now = [100.0]
    trimmer = HeapTrimmer(10.0, clock=lambda: now[0], trim=lambda pad: calls.append(pad) or 1)
    assert not trimmer.tick()  # nothing done yet
    trimmer.busy = True
    assert trimmer.tick() and calls == [0]
    trimmer.busy = True
    now[0] += 5.0
    assert not trimmer.tick()  # not due
    now[0] += 5.0
    assert trimmer.tick() and calls == [0, 0]
    now[0] += 60.0
    assert not trimmer.tick()  # due but idle since
    assert trimmer.trims == 2


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_glibc_trim_returns_freed_heap_pages() -> None:
    if platform.libc_ver()[0] != "glibc":
        assert malloc_trim() is None or platform.system() == "Linux"
        return
    trimmer = HeapTrimmer(0.0)
    assert trimmer.available
    # 40 MB of 2 KB blocks (malloc, not pymalloc), every 16th kept: the freed ones are holes
    # below live blocks, which only a trim gives back
    blocks = [bytes(2048) for _ in range(20_000)]
    kept = blocks[::16]
    del blocks
    gc.collect()
    before = _rss()
    trimmer.busy = True
    assert trimmer.tick()
    after = _rss()
    assert before - after > 10 * 2**20, (before, after)
    assert len(kept) == 1250
