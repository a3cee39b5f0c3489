"""Render ExaBGP 5 configuration files from :class:`~ribflow.bgp.settings.BridgeSettings`.

The templates are the files in the repository's ``exabgp/templates/`` (``EXABGP_TEMPLATE_DIR``
overrides): ``exabgp.conf.tmpl`` (the API process + the neighbour blocks), ``neighbor.tmpl`` (one
full block per neighbour: no ExaBGP template inheritance, so what you read is what runs) and
``exabgp.env.tmpl``. ``string.Template`` placeholders only; values are validated before they
are put in (addresses parsed, passwords and descriptions without quoting hazards).

With ``EXABGP_PROCESSES=N`` there are N configuration files; process i peers with neighbours
i, i+N, i+2N, ... and runs the bridge with ``--instance i`` so the bridge knows its neighbours.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from ribflow.bgp.errors import NeighborConfigError
from ribflow.bgp.neighbors import NeighborSpec
from ribflow.bgp.settings import BridgeSettings

_SAFE_TEXT = re.compile(r'^[^"\\;{}\n\r]*$')


def template_dir() -> Path:
    env = os.environ.get("EXABGP_TEMPLATE_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "exabgp" / "templates"


def _template(name: str) -> Template:
    path = template_dir() / name
    try:
        return Template(path.read_text())
    except OSError as exc:
        raise NeighborConfigError(f"ExaBGP template {path} cannot be read: {exc}") from None


def _safe(text: str, what: str) -> str:
    if not _SAFE_TEXT.match(text):
        raise NeighborConfigError(
            f'{what} must not contain quotes, backslashes, ";", braces or newlines'
        )
    return text


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read: it may hold TCP-MD5 passwords."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its old mode otherwise
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


@dataclass(frozen=True)
class Rendered:
    """The files of one rendering: ``configs[i]`` is ExaBGP process i's configuration."""

    configs: list[str]
    env: str

    def write(self, directory: Path) -> list[Path]:
        """Write ``exabgp-<i>.conf`` (owner-only: MD5 passwords) and ``exabgp.env`` into
        ``directory``; returns the confs."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for i, text in enumerate(self.configs):
            path = directory / f"exabgp-{i}.conf"
            _write_private(path, text)
            paths.append(path)
        (directory / "exabgp.env").write_text(self.env)
        return paths


# the IPv4 families that may carry an IPv6 next hop (RFC 8950) in ExaBGP 5.0.15
_EXTENDED_NEXT_HOP_SAFIS = ("unicast", "multicast", "mpls-vpn", "nlri-mpls")


def extended_next_hop(families: list[str]) -> tuple[list[str], list[str]]:
    """(families, nexthop entries) of a neighbour negotiating RFC 8950 extended next hop.

    Each configured ``ipv4 <safi>`` gets an ``ipv4 <safi> ipv6`` entry. ExaBGP 5.0.15 silently
    drops an entry unless ``ipv6 <safi>`` is negotiated too (configuration/neighbor/__init__.py,
    ``_post_capa_nexthop``), so that family is added when it is missing: without it the
    capability is not sent and a router's IPv6 next hop tears the session down (3/9)."""
    out = list(families)
    entries = []
    for family in families:
        afi, _, safi = family.partition(" ")
        if afi == "ipv4" and safi in _EXTENDED_NEXT_HOP_SAFIS:
            entries.append(f"{family} ipv6")
            if f"ipv6 {safi}" not in out:
                out.append(f"ipv6 {safi}")
    return out, entries


def render_neighbor(settings: BridgeSettings, spec: NeighborSpec) -> str:
    """One ``neighbor { ... }`` block."""
    local = spec.local_address or settings.bgp_local_address
    families = spec.families or settings.families()
    enh = (
        settings.bgp_extended_next_hop if spec.extended_next_hop is None else spec.extended_next_hop
    )
    entries: list[str] = []
    if enh:
        families, entries = extended_next_hop(families)
    nexthop = (
        "    nexthop {\n" + "".join(f"        {e};\n" for e in entries) + "    }\n"
        if entries
        else ""
    )
    password = spec.md5_password if spec.md5_password is not None else settings.bgp_md5_password
    md5 = f'    md5-password "{_safe(password, "md5 password")}";\n' if password else ""
    add_path = settings.bgp_add_path if spec.add_path is None else spec.add_path
    passive = settings.bgp_passive if spec.passive is None else spec.passive
    grace = settings.bgp_graceful_restart
    description = _safe(spec.description or f"ribflow {spec.address}", "description")
    return _template("neighbor.tmpl").substitute(
        address=spec.address,
        description=description,
        router_id=settings.router_id(),
        local_address=local,
        local_as=settings.bgp_local_as,
        peer_as=spec.peer_as or settings.bgp_peer_as or settings.bgp_local_as,
        hold_time=spec.hold_time if spec.hold_time is not None else settings.bgp_hold_time,
        passive=_bool(passive),
        adj_rib_in=_bool(settings.exabgp_adj_rib_in),
        md5=md5,
        families="".join(f"        {f};\n" for f in families),
        nexthop=nexthop,
        extended_next_hop=_bool(bool(entries)),
        route_refresh="enable" if settings.bgp_route_refresh else "disable",
        graceful_restart=grace if grace else "disable",
        add_path="receive" if add_path else "disable",
        consolidate="            consolidate;\n" if settings.bgp_wire_aspath else "",
    )


def render_config(settings: BridgeSettings, instance: int = 0) -> str:
    """The configuration of ExaBGP process ``instance``."""
    neighbors = settings.neighbors_of(instance)
    command = settings.bridge_command()
    if settings.exabgp_processes > 1 and "--instance" not in command:
        command = f"{command} --instance {instance}"
    _safe(command, "EXABGP_BRIDGE_COMMAND")
    return _template("exabgp.conf.tmpl").substitute(
        instance=instance,
        instances=settings.exabgp_processes,
        count=len(neighbors),
        bridge_command=command,
        topic=settings.bgp_updates_topic,
        neighbors="".join(render_neighbor(settings, spec) for spec in neighbors),
    )


def render_env(settings: BridgeSettings) -> str:
    """ExaBGP's environment file (same for every process)."""
    listens = settings.bgp_passive or any(n.passive for n in settings.neighbors())
    if listens and settings.bgp_local_address == "auto":
        raise NeighborConfigError(
            "passive sessions need BGP_LOCAL_ADDRESS (the address to listen on)"
        )
    return _template("exabgp.env.tmpl").substitute(
        log_level=settings.log_level,
        bind=settings.bgp_local_address if listens else "",
        port=settings.bgp_listen_port,
    )


def render(settings: BridgeSettings) -> Rendered:
    """Every configuration file of the speaker."""
    if not settings.neighbors():
        raise NeighborConfigError("no neighbours: set BGP_NEIGHBORS or BGP_NEIGHBORS_FILE")
    configs = [render_config(settings, i) for i in range(settings.exabgp_processes)]
    return Rendered(configs=configs, env=render_env(settings))
