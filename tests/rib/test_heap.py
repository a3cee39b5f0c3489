"""HeapTrimmer: trims only after the RSS grew and at most once per interval; on glibc the trim
gives freed heap pages back (RSS drops), which is what the enricher calls it for."""

from __future__ import annotations

import gc
import platform

from ribflow.rib.heap import HeapTrimmer, malloc_trim, rss_bytes

MB = 1 << 20


def test_trims_after_growth_at_most_once_per_interval() -> None:
    calls: list[int] = []
    now, rss = [100.0], [50 * MB]

    def trim(pad: int) -> int:
        calls.append(pad)
        rss[0] -= 10 * MB  # what the trim gave back
        return 1

    trimmer = HeapTrimmer(10.0, 16 * MB, clock=lambda: now[0], trim=trim, rss=lambda: rss[0])
    assert not trimmer.tick()  # no growth
    rss[0] += 8 * MB
    now[0] += 1.0
    assert not trimmer.tick()  # not enough growth
    rss[0] += 8 * MB
    assert not trimmer.tick()  # sampled less than a second ago
    now[0] += 1.0
    assert trimmer.tick() and calls == [0]  # 16 MB more than at the start
    rss[0] += 40 * MB
    now[0] += 5.0
    assert not trimmer.tick()  # grown, but the interval has not passed
    now[0] += 5.0
    assert trimmer.tick() and calls == [0, 0]
    now[0] += 60.0
    assert not trimmer.tick()  # steady since: nothing to do
    assert trimmer.trims == 2


def test_glibc_trim_returns_freed_heap_pages() -> None:
    if platform.libc_ver()[0] != "glibc":
        assert malloc_trim() is None or platform.system() == "Linux"
        return
    trim = malloc_trim()
    assert trim is not None
    trim(0)  # earlier tests' freed pages go first, so the blocks below fault in new ones
    trimmer = HeapTrimmer(0.0, MB)
    assert trimmer.available
    # 40 MB of 2 KB blocks (malloc, not pymalloc), every 16th kept: the freed ones are holes
    # below live blocks, which only a trim gives back
    blocks = [bytes(2048) for _ in range(20_000)]
    kept = blocks[::16]
    del blocks
    gc.collect()
    before = rss_bytes()
    assert trimmer.tick()
    after = rss_bytes()
    assert before - after > 10 * MB, (before, after)
    assert len(kept) == 1250
