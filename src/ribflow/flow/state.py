"""All the state a NetFlow v9 / IPFIX decoder keeps, in one object that can be saved and loaded.

``DecoderState`` bundles the template store, the sampling/boot-time store, the exporters' VRF
and interface tables and the data held for a template still to come. The template store is a
``MemoryTemplateStore`` (or the one given) wrapped for persistence, and for expiry when
``template_max_age`` is set (:mod:`ribflow.flow.template_stores`; the collector's
TEMPLATE_TIMEOUT_S): expired templates are withdrawn as ``drain_changes`` is called, so their
tombstones go out with the other changes. ``snapshot()`` /
``restore()`` round-trip templates, sampling and tables (not the held data: it is seconds old)
as ``{str: bytes}``, the form the collector keeps in the compacted ``flow-templates`` topic, so
a restarted decoder decodes the first data packet at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ribflow.flow.exporter_info import ExporterInfoStore
from ribflow.flow.pending import PendingData, PendingLimits
from ribflow.flow.sampling import SamplingStore
from ribflow.flow.template_stores import ExpiringTemplateStore, PersistentTemplateStore
from ribflow.flow.templates import MemoryTemplateStore, TemplateLimits, TemplateStore


class DecoderState:
    """Templates, sampling, VRF/interface tables and held data of every exporter seen."""

    def __init__(
        self,
        templates: TemplateStore | None = None,
        sampling: SamplingStore | None = None,
        pending: PendingData | None = None,
        template_limits: TemplateLimits | None = None,
        pending_limits: PendingLimits | None = None,
        template_max_age: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        expire_restored: bool = True,
    ) -> None:
        self.persisted = PersistentTemplateStore(templates or MemoryTemplateStore(template_limits))
        self.expiring = (
            ExpiringTemplateStore(
                self.persisted, template_max_age, clock, expire_restored=expire_restored
            )
            if template_max_age
            else None
        )
        self.templates: TemplateStore = self.expiring or self.persisted
        self.sampling = sampling or SamplingStore()
        self.pending = pending or PendingData(pending_limits)
        self.info = ExporterInfoStore()  # VRF tables, interface names (re-sent periodically)

    def snapshot(self) -> dict[str, bytes]:
        """Everything worth persisting, keyed ``tpl|…``, ``smp|…``, ``sys|…``, ``vrf|…``, ``ifn|…``.

        (VRF and interface tables: ``ribflow.flow.exporter_info``.)
        """
        out = self.persisted.snapshot()
        out.update(self.sampling.snapshot())
        out.update(self.info.snapshot())
        return out

    def restore(self, items: dict[str, bytes]) -> None:
        """Load a snapshot (or the compacted topic's latest values); unknown keys are ignored."""
        self.persisted.restore({k: v for k, v in items.items() if k.startswith("tpl|")})
        self.sampling.restore({k: v for k, v in items.items() if k.startswith(("smp|", "sys|"))})
        self.info.restore({k: v for k, v in items.items() if k.startswith(("vrf|", "ifn|"))})

    @property
    def templates_expired(self) -> int:
        """Templates withdrawn for age since start (0 without ``template_max_age``)."""
        return self.expiring.expired if self.expiring is not None else 0

    def drain_changes(self) -> dict[str, bytes | None]:
        """What changed since the last call (None = withdrawn: publish a tombstone), templates
        expired since included."""
        if self.expiring is not None:
            self.expiring.tick()
        out = self.persisted.drain_changes()
        out.update(self.sampling.drain_changes())
        out.update(self.info.drain_changes())
        return out
