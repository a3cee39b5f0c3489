"""The enricher: Quix Streams app joining flows with per-router RIBs (pmacct-compatible output)."""

from ribflow.enrich.engine import Enricher, EnricherConfig, Topics
from ribflow.enrich.pmacct import FlowFormatter, FormatOptions
from ribflow.enrich.pmacct_dump import DumpFormatter
from ribflow.enrich.settings import EnricherSettings

__all__ = [
    "DumpFormatter",
    "Enricher",
    "EnricherConfig",
    "EnricherSettings",
    "FlowFormatter",
    "FormatOptions",
    "Topics",
]
