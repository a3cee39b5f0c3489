"""The text of a generated decoder: its preamble, the record loop of a fixed-length template
(one ``struct`` format that skips unused bytes) or the walker of a variable-length one, and the
dict literal of each record (see ``ribflow.flow.codegen``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ribflow.flow import ies

if TYPE_CHECKING:
    from ribflow.flow.codegen import _Plan

# Every generated function starts by binding globals and per-call constants to locals (faster
# lookups in the record loop).
PREAMBLE = [
    "def decode(buf, out, exporter, domain, recv, tex, anchor, uptime, sysinit, rates, rate):",
    "    ap = out.append",
    "    _ip4, _ip6, _ntp, _int, _Z4, _Z6 = _g_ip4, _g_ip6, _g_ntp, _g_int, _g_Z4, _g_Z6",
    "    base = anchor - uptime",
    "    late = uptime + 0x80000000",
]


def dict_source(values: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k!r}: {v}" for k, v in values.items()) + "}"


def body_source(fwd: dict[str, str], pre: list[str], rev: str | None, indent: str) -> list[str]:
    lines = [indent + p for p in pre]
    lines.append(f"{indent}ap({dict_source(fwd)})")
    if rev is not None:
        lines.append(f"{indent}if r_packets or r_bytes:")
        lines.append(f"{indent}    ap({rev})")
    return lines


def fixed_source(plan: _Plan, body: list[str]) -> tuple[str, str]:
    fmt, pad = ["!"], 0
    names: list[str] = []
    for i, (_ie, length, _pen) in enumerate(plan.fields):
        u = plan.used.get(i)
        if u is None:
            pad += length
            continue
        if pad:
            fmt.append(f"{pad}x")
            pad = 0
        fmt.append(u.code)
        names.append(u.name)
    if pad:
        fmt.append(f"{pad}x")
    target = "_" if not names else ", ".join(names) + ("," if len(names) == 1 else "")
    head = [*PREAMBLE, f"    for {target} in _iter(buf):"]
    return "\n".join([*head, *body, "    return True"]), "".join(fmt)


def var_source(plan: _Plan, body: list[str], min_size: int) -> str:
    lines = [
        *PREAMBLE,
        "    n = len(buf)",
        "    o = 0",
        f"    while n - o >= {min_size}:",
    ]
    ind = "        "
    skip = 0  # unused fixed-length bytes not yet stepped over
    for i, (_ie, length, _pen) in enumerate(plan.fields):
        u = plan.used.get(i)
        if u is None and length != ies.VARLEN:
            skip += length
            continue
        if skip:
            lines.append(f"{ind}o += {skip}")
            skip = 0
        if length == ies.VARLEN:
            lines += [
                f"{ind}if o >= n:",
                f"{ind}    return False",
                f"{ind}ln = buf[o]",
                f"{ind}o += 1",
                f"{ind}if ln == 255:",
                f"{ind}    if o + 2 > n:",
                f"{ind}        return False",
                f"{ind}    ln = (buf[o] << 8) | buf[o + 1]",
                f"{ind}    o += 2",
            ]
            if u is not None:  # a variable-length value the record uses (kept as bytes)
                lines.append(f"{ind}{u.name} = buf[o:o + ln]")
            lines.append(f"{ind}o += ln")
            continue
        assert u is not None
        value = f"_int(buf[o:o + {length}])" if u.native else f"buf[o:o + {length}]"
        lines += [f"{ind}{u.name} = {value}", f"{ind}o += {length}"]
    if skip:
        lines.append(f"{ind}o += {skip}")
    lines += [f"{ind}if o > n:", f"{ind}    return False"]
    lines += body
    lines.append("    return True")
    return "\n".join(lines)
