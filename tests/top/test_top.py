"""`ribflow top`: window arithmetic, rendering, and a one-frame snapshot of records we produce."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from ribflow.top.render import bar, human_bytes, render, sparkline
from ribflow.top.window import SlidingWindow
from tests.fixtures.kafka import TopicFactory


def rec(as_dst: int, nbytes: int, path: str = "65010_65020", nh: str = "192.0.2.1",
        peer: int = 65010) -> dict[str, Any]:
    return {"as_dst": as_dst, "as_path": path, "peer_ip_dst": nh, "peer_as_dst": peer,
            "bytes": nbytes, "packets": 1, "peer_ip_src": "127.0.0.1"}


def test_sparkline_and_bar() -> None:
    assert sparkline([0, 1, 2, 4, 8]) == " ▂▃▅█"
    assert sparkline([0, 0]) == "  "
    assert bar(0.5, 4) == "██  "
    assert bar(1 / 32, 4) == "▏   "
    assert bar(1.0, 3) == "███"
    assert bar(2.0, 2) == "██"  # clipped


def test_human_units() -> None:
    assert human_bytes(999) == "999 B"
    assert human_bytes(1234) == "1.23 kB"
    assert human_bytes(45_600_000) == "45.6 MB"


def test_window_ranks_by_bytes_and_forgets_old_records() -> None:
    w = SlidingWindow(window=60, buckets=6)
    now = 1_000_000.0
    assert w.add(rec(64500, 100), now - 5, now)
    assert w.add(rec(64501, 300, path="65030_64501", nh="192.0.2.3", peer=65030), now - 15, now)
    assert w.add(rec(64500, 150), now - 45, now)
    assert not w.add(rec(64502, 999), now - 55, now)  # before the first of the 6 buckets
    snap = w.snapshot(now, top=5)
    assert (snap.totals.bytes, snap.totals.flows) == (550, 3)
    dst = dict(snap.panels)[w.dimensions[0]]
    assert [(r.key, r.bytes) for r in dst] == [("64501", 300), ("64500", 250)]
    assert dst[1].series == (150, 0, 0, 0, 100, 0)  # oldest bucket first, `now` last
    assert dst[0].series == (0, 0, 0, 300, 0, 0)
    paths = dict(snap.panels)[w.dimensions[1]]
    assert paths[0].key == "65030 64501"
    # 10 s later the oldest bucket (the 45 s old record) has left the window
    later = w.snapshot(now + 10, top=5)
    assert later.totals.bytes == 400


def test_unrouted_and_empty_keys() -> None:
    w = SlidingWindow(60, 4)
    now = 2_000_000.0
    w.add(rec(0, 40, path="", nh="0.0.0.0", peer=0), now - 1, now)
    w.add(rec(64500, 60), now - 1, now)
    snap = w.snapshot(now)
    assert snap.unrouted_bytes == 40
    dst = dict(snap.panels)[w.dimensions[0]]
    assert {r.key for r in dst} == {"0 (unrouted)", "64500"}
    paths = dict(snap.panels)[w.dimensions[1]]
    assert [r.key for r in paths] == ["65010 65020"]  # an empty path is not a key
    hops = dict(snap.panels)[w.dimensions[2]]
    assert {r.key for r in hops} == {"(none)", "192.0.2.1"}


def test_render_plain_and_coloured() -> None:
    w = SlidingWindow(60, 10)
    now = 3_000_000.0
    for i in range(20):
        w.add(rec(64500 + i % 3, 1000 * (i + 1)), now - i, now)
    snap = w.snapshot(now, top=3)
    plain = render(snap, source="t @ b", width=100, top=3)
    assert "\x1b[" not in plain
    assert "Top destination ASes by bytes" in plain and "Top BGP next hops by bytes" in plain
    assert all(len(line) <= 100 for line in plain.splitlines())
    coloured = render(snap, source="t @ b", colour=True, width=100, top=3)
    assert "\x1b[" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def _parse_bytes(text: str) -> float:
    value, unit = text.split()
    return float(value) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[unit]


def _panel(frame: str, title: str) -> list[tuple[str, str, str]]:
    """(key, bytes, share) rows of one panel of a plain frame."""
    lines = frame.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(title))
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        m = re.match(r"^  (.+?)\s{2,}(\d[\d.]* [kMGT]?B)\s+([\d.]+)%", line)
        assert m, line
        rows.append((m.group(1).strip(), m.group(2), m.group(3)))
    return rows


@pytest.mark.integration
def test_top_once_shows_what_the_topic_holds(
    kafka_broker: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("top", partitions=4)
    rnd = random.Random(5)
    now = time.time()
    producer = Producer({"bootstrap.servers": kafka_broker})
    recent: list[dict[str, Any]] = []
    for _ in range(400):
        asn = rnd.choice([64500, 64501, 64502, 64503, 64504, 64505, 64506])
        r = rec(asn, rnd.randint(40, 1500) * (7 if asn == 64503 else 1),
                path=f"65010_{rnd.choice([3356, 174])}_{asn}", nh=f"192.0.2.{asn % 4}",
                peer=65010)
        recent.append(r)
        producer.produce(topic, orjson.dumps(r), key=b"127.0.0.3",
                         timestamp=int((now - rnd.uniform(1, 50)) * 1000))
    for _ in range(30):  # ten minutes old: outside the 60 s window, must not count
        producer.produce(topic, orjson.dumps(rec(64999, 10**6)), key=b"127.0.0.3",
                         timestamp=int((now - 600) * 1000))
    assert producer.flush(30) == 0
    out = subprocess.run(
        [sys.executable, "-m", "ribflow", "top", "--once", "--broker", kafka_broker,
         "--topic", topic, "--window", "60", "--top", "5", "--width", "120"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    frame = out.stdout
    assert "\x1b[" not in frame

    by_as: dict[str, int] = defaultdict(int)
    by_path: dict[str, int] = defaultdict(int)
    for r in recent:
        by_as[str(r["as_dst"])] += r["bytes"]
        by_path[r["as_path"].replace("_", " ")] += r["bytes"]
    total = sum(by_as.values())
    assert f"flows {len(recent)}" in frame
    assert "64999" not in frame

    for title, sums in (("Top destination ASes", by_as), ("Top AS paths", by_path)):
        rows = _panel(frame, title)
        want = sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        assert [k for k, _, _ in rows] == [k for k, _ in want]
        for (_, shown, share), (_, exact) in zip(rows, want, strict=True):
            assert abs(_parse_bytes(shown) - exact) <= exact * 0.006
            assert abs(float(share) - exact / total * 100) < 0.06


@pytest.mark.integration
def test_live_mode_redraws_until_interrupted(
    kafka_broker: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("toplive", partitions=1)
    producer = Producer({"bootstrap.servers": kafka_broker})
    producer.produce(topic, orjson.dumps(rec(64500, 1234)), timestamp=int(time.time() * 1000))
    assert producer.flush(30) == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "ribflow", "top", "--broker", kafka_broker, "--topic", topic,
         "--refresh", "0.5", "--color", "always"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(6)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    frames = out.count("Top destination ASes")
    assert frames >= 2, out
    assert "64500" in out and "\x1b[" in out
