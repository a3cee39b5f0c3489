"""The summary a replay prints at the end (stderr), per router where something is worth saying."""

from __future__ import annotations

from ribflow.replay.runner import Outcome
from ribflow.replay.stats import RouterStats
from ribflow.replay.window import format_time


def router_lines(router: str, st: RouterStats) -> list[str]:
    """What to tell the operator about one router (nothing when all went as it should)."""
    out: list[str] = []
    if st.flows and st.no_history == st.flows:
        where = "no checkpoint entry and no bgp-updates before its flows"
        out.append(
            f"router {router}: no BGP history in window ({where}): {st.flows:,} flows written "
            "unenriched"
        )
    elif st.no_history:
        since = format_time(st.first_bgp_ms) if st.first_bgp_ms else "?"
        out.append(
            f"router {router}: no BGP history before {since}: {st.no_history:,} of {st.flows:,} "
            "flows written unenriched"
        )
    if st.empty_rib:
        out.append(
            f"router {router}: RIB empty (session down or not yet learnt) for {st.empty_rib:,} "
            "flows, written unenriched"
        )
    if st.unverified:
        why = []
        if st.late_flows:
            why.append(f"{st.late_flows:,} flows messages later than the lateness")
        if st.forced_bgp:
            why.append(f"{st.forced_bgp:,} BGP events applied early (pending limit)")
        if not st.history_complete:
            why.append("BGP history incomplete (no checkpoint, retention)")
        reasons = "; ".join(why) or "BGP events applied after the flows' time"
        out.append(
            f"router {router}: {st.unverified:,} flows not verified point-in-time ({reasons})"
        )
    if st.late_bgp:
        out.append(
            f"router {router}: {st.late_bgp:,} BGP events landed after flows stamped later "
            "had been written (they missed those flows)"
        )
    return out


def render(o: Outcome) -> str:
    t = o.totals
    rate = t.flows / o.seconds if o.seconds > 0 else 0.0
    lines = [
        f"replay {o.plan.window.describe()} -> {o.output} ({o.output_status}), group {o.group}",
        f"  {'complete' if o.complete else 'INCOMPLETE (stopped before the end of the window)'}"
        f" in {o.seconds:.1f}s: {t.flows:,} flows written ({rate:,.0f}/s) from {t.messages:,} "
        f"messages; {o.flow_messages_read:,} flows messages read, {t.outside_window:,} outside "
        "the window",
        f"  enriched {t.enriched:,}, unenriched: no BGP history {t.no_history:,}, empty RIB "
        f"{t.empty_rib:,}; BGP events applied {t.bgp_events:,}; dead letters {o.dead_letters:,}",
    ]
    if t.guarantee_held:
        lines.append("  point-in-time: every flow was enriched with its router's RIB at its time")
    else:
        lines.append(
            f"  point-in-time: NOT verified for {t.unverified:,} flows, {t.late_bgp:,} late BGP "
            "events (see below)"
        )
    lines += [f"  {p.describe()}" for p in o.plan.partitions if p.flow_messages]
    lines += [f"  {n}" for n in o.notes]
    for router, st in o.routers.items():
        lines += [f"  {line}" for line in router_lines(router, st)]
    if o.routers:
        lines.append(f"  {'router':<24} {'flows':>10} {'enriched':>10} {'unenriched':>10}")
        for router, st in o.routers.items():
            if st.messages:
                unenriched = st.no_history + st.empty_rib
                lines.append(f"  {router:<24} {st.flows:>10,} {st.enriched:>10,} {unenriched:>10,}")
    return "\n".join(lines)
