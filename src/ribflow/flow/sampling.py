"""Sampling rates and exporter clocks learnt from options data, per exporter and domain.

Exporters announce sampling in options records: a sampler (IE 48 samplerId / 302 selectorId,
several per exporter on Cisco NCS) with its rate (IE 34 samplingInterval, 50
samplerRandomInterval, 305/306 packet interval/space, 309/310 size/population). A data record
names its sampler with IE 48/302; a rate announced without a sampler id is the default of the
whole (exporter, domain). IPFIX exporters that send flowStart/EndSysUpTime (21/22) announce the
boot time they are relative to (IE 160 systemInitTimeMilliseconds) the same way.

State is per (exporter, version, domain), bounded, and snapshot/restore-able like templates
(keys ``smp|exporter|version|domain|sampler`` with ``*`` for the default, ``sys|...`` for 160).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ribflow.flow import ies
from ribflow.flow.domains import DomainKey, DomainTables, state_key
from ribflow.flow.errors import FlowDecodeError

DEFAULT_SAMPLER = "*"


@dataclass(slots=True)
class DomainSampling:
    """What one (exporter, version, domain) told us: rates by sampler id, default, boot time."""

    rates: dict[int, int] = field(default_factory=dict)
    default: int = 1
    sysinit_ms: int | None = None


def rate_from_values(values: dict[int, int]) -> int | None:
    """The sampling rate (>= 1) that options or data values announce, or None if they don't."""
    for ie in (ies.SAMPLING_INTERVAL, ies.SAMPLER_RANDOM_INTERVAL):
        v = values.get(ie)
        if v:
            return v
    interval = values.get(ies.SAMPLING_PACKET_INTERVAL)
    space = values.get(ies.SAMPLING_PACKET_SPACE)
    if interval and space is not None:
        return (interval + space) // interval
    size, population = values.get(ies.SAMPLING_SIZE), values.get(ies.SAMPLING_POPULATION)
    if size and population and population >= size:
        return population // size
    return None


def sampler_from_values(values: dict[int, int]) -> int | None:
    for ie in (ies.SAMPLER_ID, ies.SELECTOR_ID):
        if ie in values:
            return values[ie]
    return None


class SamplingStore(DomainTables[DomainSampling]):
    """Sampling and boot-time state of every exporter domain (in memory, bounded)."""

    EMPTY = DomainSampling()
    limit_reason = "sampling-limit"

    def __init__(self, max_domains: int = 100_000, max_samplers: int = 1024) -> None:
        super().__init__(DomainSampling, max_domains)
        self.max_samplers = max_samplers

    def get(self, key: DomainKey) -> DomainSampling:
        """State of a domain (a shared empty one when nothing is known: do not mutate it)."""
        return self._domains.get(key, self.EMPTY)

    def set_rate(self, key: DomainKey, sampler: int | None, rate: int) -> None:
        if rate < 1:
            return
        dom = self._domain(key)
        if sampler is None:
            if dom.default == rate:
                return
            dom.default = rate
        else:
            if dom.rates.get(sampler) == rate:
                return
            if sampler not in dom.rates and len(dom.rates) >= self.max_samplers:
                raise FlowDecodeError(self.limit_reason, "too many samplers")
            dom.rates[sampler] = rate
        name = DEFAULT_SAMPLER if sampler is None else str(sampler)
        self._changes[state_key("smp", key, name)] = str(rate).encode()

    def set_sysinit(self, key: DomainKey, sysinit_ms: int) -> None:
        dom = self._domain(key)
        if dom.sysinit_ms != sysinit_ms:
            dom.sysinit_ms = sysinit_ms
            self._changes[state_key("sys", key)] = str(sysinit_ms).encode()

    def learn(self, key: DomainKey, values: dict[int, int]) -> None:
        """Take what an options record says (IANA element -> unsigned value)."""
        rate = rate_from_values(values)
        if rate is not None:
            self.set_rate(key, sampler_from_values(values), rate)
        sysinit = values.get(ies.SYSTEM_INIT_MS)
        if sysinit:
            self.set_sysinit(key, sysinit)

    def snapshot(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for key, dom in self._domains.items():
            if dom.default != 1:
                out[state_key("smp", key, DEFAULT_SAMPLER)] = str(dom.default).encode()
            for sampler, rate in dom.rates.items():
                out[state_key("smp", key, str(sampler))] = str(rate).encode()
            if dom.sysinit_ms is not None:
                out[state_key("sys", key)] = str(dom.sysinit_ms).encode()
        return out

    def restore(self, items: dict[str, bytes]) -> None:
        """Load what ``snapshot`` gave (foreign and malformed entries are skipped)."""
        for text, raw in items.items():
            parts = text.split("|")
            if raw is None or parts[0] not in ("smp", "sys"):
                continue
            try:
                key = (parts[1], int(parts[2]), int(parts[3]))
                value = int(raw)
                if parts[0] == "sys" and len(parts) == 4:
                    self.set_sysinit(key, value)
                elif parts[0] == "smp" and len(parts) == 5:
                    sampler = None if parts[4] == DEFAULT_SAMPLER else int(parts[4])
                    self.set_rate(key, sampler, value)
            except (IndexError, ValueError, FlowDecodeError):
                continue
            self._changes.pop(text, None)
