"""Render a :class:`~ribflow.top.window.Snapshot` as a text frame (ANSI colours optional).

Each panel lists the top keys by bytes with their share as a bar and their traffic over the
window as a sparkline, so a shift of traffic (a route change) is visible at a glance. Without
colour the frame is plain text, the form `ribflow top --once` prints for tests and the README.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from ribflow.top.window import Row, Snapshot

SPARKS = "▁▂▃▄▅▆▇█"
EIGHTHS = " ▏▎▍▌▋▊▉"
PANEL_COLOURS = ("32", "36", "33", "35")  # green, cyan, yellow, magenta


@dataclass(frozen=True)
class Style:
    colour: bool = False

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour and text else text


def human_bytes(n: float) -> str:
    """SI units, three significant figures: 987 B, 1.23 kB, 45.6 MB."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"  # pragma: no cover - the loop always returns


def human_count(n: float) -> str:
    for unit in ("", "k", "M", "G"):
        if abs(n) < 1000 or unit == "G":
            return f"{n:.0f}" if unit == "" else f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.3g}T"  # pragma: no cover


def human_rate(bits_per_s: float) -> str:
    for unit in ("bit/s", "kbit/s", "Mbit/s", "Gbit/s"):
        if abs(bits_per_s) < 1000 or unit == "Gbit/s":
            return f"{bits_per_s:.3g} {unit}"
        bits_per_s /= 1000
    return f"{bits_per_s:.3g} Tbit/s"  # pragma: no cover


def sparkline(series: Sequence[int]) -> str:
    """One character per value; empty buckets are blank, the largest value is a full block."""
    top = max(series, default=0)
    if top <= 0:
        return " " * len(series)
    out = []
    for v in series:
        if v <= 0:
            out.append(" ")
        else:
            out.append(SPARKS[min(len(SPARKS) - 1, int(v / top * (len(SPARKS) - 1) + 0.5))])
    return "".join(out)


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of ``width`` cells with eighth-cell resolution."""
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (EIGHTHS[part] if part else "")
    return text.ljust(width)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render(
    snap: Snapshot,
    *,
    source: str = "",
    colour: bool = False,
    width: int = 100,
    top: int = 10,
) -> str:
    """The whole frame as one string (lines end with newlines)."""
    st = Style(colour)
    t = snap.totals
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(snap.now))
    lines = [
        st(_clip(f"ribflow top — {source}", width - 32), "1")
        + f"   window {snap.window:.0f}s   {stamp}".rjust(max(0, width - len(source) - 16)),
    ]
    rate = t.bytes * 8 / snap.window if snap.window else 0.0
    unrouted = snap.unrouted_bytes / t.bytes * 100 if t.bytes else 0.0
    lines.append(
        f"flows {human_count(t.flows)}   packets {human_count(t.packets)}   "
        f"bytes {human_bytes(t.bytes)}   avg {human_rate(rate)}   "
        f"exporters {snap.routers}   unrouted {unrouted:.1f}%"
    )
    lines.append(st(f"all traffic  {sparkline(snap.series)}".rstrip(), "2"))
    spark_w = len(snap.series)
    bar_w = 16
    fixed = 2 + 1 + 10 + 1 + 6 + 1 + bar_w + 2 + spark_w  # indent, bytes, share, bar, spark
    key_w = max(12, width - fixed)
    for i, (dim, rows) in enumerate(snap.panels):
        colour_code = PANEL_COLOURS[i % len(PANEL_COLOURS)]
        lines.append("")
        lines.append(st(dim.title + " by bytes", "1;" + colour_code))
        head = (
            f"  {dim.column:<{key_w}} {'bytes':>10} {'share':>6} {'':<{bar_w}}  "
            f"{'last ' + str(int(snap.window)) + 's':<{spark_w}}"
        )
        lines.append(st(head.rstrip(), "2"))
        if not rows:
            lines.append("  (no flows in the window)")
        for row in rows[:top]:
            lines.append(_row(row, key_w, bar_w, st, colour_code))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _row(row: Row, key_w: int, bar_w: int, st: Style, colour_code: str) -> str:
    return (
        f"  {_clip(row.key, key_w):<{key_w}} {human_bytes(row.bytes):>10} "
        f"{row.share * 100:>5.1f}% {st(bar(row.share, bar_w), colour_code)}  "
        f"{st(sparkline(row.series).rstrip(), colour_code)}"
    )
