"""ExaBGP's command line with ribflow's fixes for next hops ExaBGP 5.0.15 cannot take.

``python -m ribflow.bgp.exabgp_main <exabgp arguments>`` is ``python -m exabgp`` after one patch
of ExaBGP 5.0.15's MP_REACH_NLRI parser (``MPRNLRI.unpack`` in
exabgp/bgp/message/update/attribute/mprnlri.py), which mishandles next hops that carry a
link-local address besides the global one (RFC 4659 section 3.2.1.1, RFC 2545 section 3,
RFC 8950 section 3):

* a 48-byte VPN next hop (RD + global IPv6 + RD + link-local), legitimate for VPNv6 and, with
  extended next hop, for VPNv4: ExaBGP answers NOTIFICATION 3/9 ("next-hop length 48 expected 24
  or 40" / "unsupported family ... with extended next-hop") and the session goes down, again
  and again for as long as the router has such a route;
* a 32-byte unicast next hop (global + link-local): ExaBGP announces every prefix of the UPDATE
  twice, once per address, and whichever comes last (the link-local one) would win in a RIB.

The patch rewrites such an MP_REACH_NLRI to carry only the global address (with its RD for VPN
families) before ExaBGP parses it; the NLRI are untouched. pmacct keeps the global next hop too.
The raw UPDATE passed to the bridge (``consolidate``) is not changed.
"""

from __future__ import annotations

from typing import Any

_MPLS_VPN = 128
_RD = 8
_V6 = 16


def global_next_hop_only(data: bytes) -> bytes:
    """An MP_REACH_NLRI value whose next hop is global + link-local, rewritten with only the
    global address; any other value unchanged."""
    if len(data) < 5:
        return data
    safi, length = data[2], data[3]
    if safi == _MPLS_VPN and length == 2 * (_RD + _V6):
        keep = _RD + _V6
    elif safi != _MPLS_VPN and length == 2 * _V6:
        keep = _V6
    else:
        return data
    if len(data) < 4 + length + 1:
        return data  # truncated: ExaBGP's own checks report it
    return data[:3] + bytes((keep,)) + data[4 : 4 + keep] + data[4 + length :]


def patch_exabgp() -> None:
    """Install the rewrite in front of ExaBGP's ``MPRNLRI.unpack`` (idempotent)."""
    from exabgp.bgp.message.update.attribute.mprnlri import MPRNLRI

    original = MPRNLRI.unpack
    if getattr(original, "__ribflow__", False):
        return

    def unpack(cls: Any, data: bytes, direction: Any, negotiated: Any) -> Any:
        return original.__func__(cls, global_next_hop_only(data), direction, negotiated)

    unpack.__ribflow__ = True  # type: ignore[attr-defined]
    MPRNLRI.unpack = classmethod(unpack)  # type: ignore[method-assign,assignment]


def main() -> None:
    patch_exabgp()
    from exabgp.application.main import main as exabgp_main

    exabgp_main()


if __name__ == "__main__":
    main()
