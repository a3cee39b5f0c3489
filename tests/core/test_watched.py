"""ribflow.watched.WatchedFile, the one reload-on-change mechanism (agent map, allowlist)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ribflow.errors import ConfigError
from ribflow.metrics import BAD_INPUT
from ribflow.watched import WatchedFile


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def load(path: Path) -> int:
    text = path.read_text().strip()
    if not text.isdigit():
        raise ConfigError(f"{path}: {text!r} is not a number")
    return int(text)


def write(path: Path, text: str, bump_s: int) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump_s * 1_000_000_000))


def bad() -> float:
    return float(BAD_INPUT.labels(component="test", reason="bad_number")._value.get())


def test_reload_on_change_keep_last_good_and_report_each_broken_version_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "n.txt"
    write(path, "1", 0)
    clock = Clock()
    w = WatchedFile.open(path, load, what="number file", component="test", reason="bad_number",
                         reload_interval=2.0, clock=clock)  # fmt: skip
    assert (w.current(), w.version) == (1, 0)
    write(path, "2", 1)
    assert w.current() == 1 and not w.due()  # not due before the interval
    clock.now = 2.0
    assert (w.current(), w.version) == (2, 1)
    before = bad()
    write(path, "two", 2)
    for step in (4.0, 6.0, 8.0):
        clock.now = step
        assert w.current() == 2
    assert bad() == before + 1
    write(path, "3", 3)
    clock.now = 10.0
    assert (w.current(), w.version) == (3, 2)


def test_missing_at_start_is_an_error_and_interval_zero_never_looks_again(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read number file"):
        WatchedFile.open(tmp_path / "none", load, what="number file", component="test",
                         reason="bad_number")  # fmt: skip
    path = tmp_path / "n.txt"
    write(path, "5", 0)
    clock = Clock()
    frozen = WatchedFile.open(path, load, what="number file", component="test",
                              reason="bad_number", reload_interval=0, clock=clock)  # fmt: skip
    write(path, "6", 1)
    clock.now = 1e9
    assert frozen.current() == 5 and not frozen.due()
