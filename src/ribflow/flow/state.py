"""All the state a NetFlow v9 / IPFIX decoder keeps, in one object that can be saved and loaded.

``DecoderState`` bundles the template store, the sampling/boot-time store and the data held for
a template still to come. ``snapshot()`` / ``restore()`` round-trip templates and sampling (not
the held data: it is seconds old) as ``{str: bytes}``, the form the collector keeps in the
compacted ``flow-templates`` topic, so a restarted decoder decodes the first data packet at once.
"""

from __future__ import annotations

from ribflow.flow.exporter_info import ExporterInfoStore
from ribflow.flow.pending import PendingData, PendingLimits
from ribflow.flow.sampling import SamplingStore
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
    ) -> None:
        self.templates: TemplateStore = templates or MemoryTemplateStore(template_limits)
        self.sampling = sampling or SamplingStore()
        self.pending = pending or PendingData(pending_limits)
        self.info = ExporterInfoStore()  # VRF tables, interface names (re-sent periodically)

    def snapshot(self) -> dict[str, bytes]:
        """Everything worth persisting, keyed ``tpl|…``, ``smp|…`` and ``sys|…``."""
        out = self.templates.snapshot()
        out.update(self.sampling.snapshot())
        return out

    def restore(self, items: dict[str, bytes]) -> None:
        """Load a snapshot (or the compacted topic's latest values); unknown keys are ignored."""
        self.templates.restore({k: v for k, v in items.items() if k.startswith("tpl|")})
        self.sampling.restore({k: v for k, v in items.items() if not k.startswith("tpl|")})

    def drain_changes(self) -> dict[str, bytes | None]:
        """What changed since the last call (None = withdrawn: publish a tombstone)."""
        out = self.templates.drain_changes()
        out.update(self.sampling.drain_changes())
        return out
