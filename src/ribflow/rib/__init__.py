"""Per-router RIBs: interned attributes, longest-prefix match, applying bgp-updates events."""

from ribflow.rib.apply import ApplyResult, ChangeSink, RouterMeta, RouterState, apply_event, flush
from ribflow.rib.attrs import AttrPool, RouteAttrs
from ribflow.rib.errors import BadEvent, RibError
from ribflow.rib.events import Event, parse_event
from ribflow.rib.lpm import PrefixTable
from ribflow.rib.prefix import AFI_IP, AFI_IP6, format_prefix, parse_address, parse_prefix
from ribflow.rib.table import Route, RouterRib

__all__ = [
    "AFI_IP",
    "AFI_IP6",
    "ApplyResult",
    "AttrPool",
    "BadEvent",
    "ChangeSink",
    "Event",
    "PrefixTable",
    "RibError",
    "Route",
    "RouteAttrs",
    "RouterMeta",
    "RouterRib",
    "RouterState",
    "apply_event",
    "flush",
    "format_prefix",
    "parse_address",
    "parse_event",
    "parse_prefix",
]
