"""ExaBGP's NLRI objects -> the ``nlri`` items of a bgp-updates event.

Plain prefixes (with an ADD-PATH path id) are the hot path. Labelled unicast (``nlri-mpls``) and
L3VPN (``mpls-vpn``) NLRIs are modelled: the prefix plus ``labels`` and, for VPNs, ``rd`` in
pmacct's text form (see rd.py). Families the bridge does not model (flowspec, EVPN, ...) and
anything of an unexpected shape travel ``raw``.
"""

from __future__ import annotations

import socket
from collections import Counter
from typing import Any

import orjson

from ribflow.bgp.events import Nlri
from ribflow.bgp.rd import RdReader

_MAX32 = 0xFFFFFFFF
_MAX_LABEL = 0xFFFFF
_NLRI_META = ("nlri", "path-information")
_VPN_KEYS = frozenset({"nlri", "label", "rd", "path-information"})


def _path_id(text: Any) -> int:
    """ADD-PATH path identifier: ExaBGP writes the 4 bytes dotted ('0.0.0.2')."""
    if type(text) is int:
        if not 0 <= text <= _MAX32:
            raise ValueError(f"path id {text} out of range")
        return text
    return int.from_bytes(socket.inet_aton(text), "big")


def _labels(value: Any) -> list[int] | None:
    """ExaBGP's label stack (``[[16], [17]]``; each entry the label, then its raw value when
    ExaBGP adds it) as a list of labels, or None."""
    if type(value) is not list:
        return None
    out = []
    for entry in value:
        label = entry[0] if type(entry) is list and entry else entry
        if type(label) is not int or not 0 <= label <= _MAX_LABEL:
            return None
        out.append(label)
    return out


class NlriReader:
    """Converts NLRI lists; counts into ``stats`` (the builder's tallies)."""

    def __init__(self, stats: Counter[str]) -> None:
        self.stats = stats
        self._path_ids: dict[str, int] = {}

    def _pid(self, text: Any) -> int:
        pid = self._path_ids.get(text) if type(text) is str else None
        if pid is None:
            pid = _path_id(text)
            if type(text) is str and len(self._path_ids) < 65536:
                self._path_ids[text] = pid
        return pid

    def nlris(self, items: list[Any], rds: RdReader) -> list[Nlri]:
        out: list[Nlri] = []
        append = out.append
        for item in items:
            if type(item) is dict:
                prefix = item.get("nlri")
                size = len(item)
                if type(prefix) is str:
                    if size == 1:
                        append({"prefix": prefix, "path_id": 0})
                        continue
                    if size == 2 and "path-information" in item:
                        append({"prefix": prefix, "path_id": self._pid(item["path-information"])})
                        continue
                    if "label" in item or "rd" in item:
                        labelled = self._labelled(prefix, item, rds)
                        if labelled is not None:
                            append(labelled)
                            continue
                append(self._raw_nlri(item))
            elif type(item) is str:  # ExaBGP's "compact" encoding
                append({"prefix": item, "path_id": 0})
            else:
                append(
                    {"prefix": orjson.dumps(item).decode(), "path_id": 0, "raw": {"value": item}}
                )
        return out

    def _labelled(self, prefix: str, item: dict[str, Any], rds: RdReader) -> Nlri | None:
        """A labelled-unicast (``nlri-mpls``) or L3VPN (``mpls-vpn``) NLRI: the prefix with its
        label stack and RD (pmacct's text form); None when its shape is not that."""
        if not set(item) <= _VPN_KEYS:
            return None
        nlri: Nlri = {"prefix": prefix, "path_id": 0}
        pid = item.get("path-information")
        if pid is not None:
            nlri["path_id"] = self._pid(pid)
        rd = item.get("rd")
        if rd is not None:
            if type(rd) is not str:
                return None
            try:
                nlri["rd"] = rds.pmacct(rd)
            except ValueError:
                return None
        label = item.get("label")
        if label is not None:
            labels = _labels(label)
            if labels is None:
                return None
            nlri["labels"] = labels
        self.stats["nlri:vpn" if rd is not None else "nlri:labelled"] += 1
        return nlri

    def _raw_nlri(self, item: dict[str, Any]) -> Nlri:
        """An NLRI of a family we do not model (VPN, labelled, flowspec, EVPN, ...): kept raw."""
        prefix = item.get("nlri")
        if type(prefix) is not str:
            prefix = item.get("string")
        if type(prefix) is not str:
            prefix = orjson.dumps(item, option=orjson.OPT_SORT_KEYS).decode()
        pid = item.get("path-information")
        self.stats["nlri:raw"] += 1
        return {
            "prefix": prefix,
            "path_id": 0 if pid is None else self._pid(pid),
            "raw": {k: v for k, v in item.items() if k not in _NLRI_META},
        }
