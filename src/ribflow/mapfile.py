"""The line syntax of pmacct's map files (bgp_agent_map, flow_to_rd_map): ``key=value`` pairs.

One rule per line, pairs separated by white space, ``!`` starts a comment line. Each map checks
its own keys and values; what they share is the splitting and the "whose line is broken" errors.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from ribflow.errors import ConfigError


def map_lines(
    text: str,
    source: str,
    error: type[ConfigError],
    *,
    what: str,
    known: Collection[str],
    unsupported: Collection[str] = (),
    known_hint: str = "",
) -> Iterator[tuple[int, str, dict[str, str]]]:
    """``(line number, "source:line", {key: value})`` for every rule line of ``text``.

    Raises ``error`` naming the line for a token that is not ``key=value``, a key given twice, a
    key pmacct has but ribflow's ``what`` does not evaluate, or an unknown key.
    """
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("!"):
            continue
        where = f"{source}:{number}"
        fields: dict[str, str] = {}
        for token in line.split():
            key, sep, value = token.partition("=")
            if not sep or not key or not value:
                raise error(f"{where}: expected key=value, got {token!r}")
            if key in fields:
                raise error(f"{where}: {key} given twice")
            if key in unsupported:
                raise error(f"{where}: {key}= is not supported by ribflow's {what}")
            if key not in known:
                raise error(f"{where}: unknown key {key!r}{known_hint}")
            fields[key] = value
        yield number, where, fields
