"""BGP collector: ExaBGP's JSON API stream -> normalised events on Kafka (topic bgp-updates).

Sans-I/O core: :mod:`~ribflow.bgp.parser` (lines -> events), :mod:`~ribflow.bgp.attrs`
(attribute normalisation), :mod:`~ribflow.bgp.wire` (AS-path segment types from raw UPDATEs),
:mod:`~ribflow.bgp.keys` (router keys and hot-router shards). I/O at the edges:
:mod:`~ribflow.bgp.bridge` (the stdin loop), :mod:`~ribflow.bgp.outbox` (Kafka with back-
pressure), :mod:`~ribflow.bgp.app` (``ribflow bridge``), :mod:`~ribflow.bgp.exabgp_config` and
:mod:`~ribflow.bgp.speaker` (ExaBGP configuration and processes). MRT tables for loading
routers in the lab and benchmarks: :mod:`ribflow.mrt`.
"""

from ribflow.bgp.errors import BadLine, BgpError
from ribflow.bgp.keys import RouterKeys, shard_keys
from ribflow.bgp.parser import EventBuilder

__all__ = ["BadLine", "BgpError", "EventBuilder", "RouterKeys", "shard_keys"]
