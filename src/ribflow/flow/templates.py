"""Templates and where they live: the template store interface and its in-memory implementation.

A template is known per (exporter address, NetFlow version, source id / observation domain,
template id), so exporters and observation domains never share one. ``TemplateStore`` is the
interface (get, put, withdraw, items); ``MemoryTemplateStore`` keeps templates in a dict and
bounds how many templates one exporter and all exporters may define, so a template flood costs a
counter, not memory. What more a store does is a wrapper around one
(:mod:`ribflow.flow.template_stores`): persistence (the change log and snapshots the collector
keeps in the compacted ``flow-templates`` topic) and expiry (templates an exporter stopped
refreshing are withdrawn).

Persisted keys are strings such as ``tpl|192.0.2.1|10|0|256`` (:func:`key_text`), values small
JSON (:meth:`Template.encode`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import orjson

from ribflow.flow.codegen import Codec, FieldSpec, codec_for
from ribflow.flow.errors import FlowDecodeError

# (exporter, version, domain, template id)
TemplateKey = tuple[str, int, int, int]
KEY_PREFIX = "tpl"
# More fields than any real exporter uses (~100 at most seen); bounds compile time and memory.
MAX_FIELDS = 1024


class Template:
    """A data or options template as the exporter defined it, plus its compiled codec."""

    __slots__ = ("_codec", "fields", "options", "scope_count", "template_id", "version")

    def __init__(
        self, version: int, template_id: int, fields: tuple[FieldSpec, ...],
        scope_count: int = 0, options: bool = False,
    ) -> None:
        self.version = version
        self.template_id = template_id
        self.fields = fields
        self.scope_count = scope_count
        self.options = options
        self._codec: Codec | None = None

    @property
    def codec(self) -> Codec:
        """The compiled record decoder (data templates), built on first use and shared."""
        if self._codec is None:
            self._codec = codec_for(self.version, self.fields)
        return self._codec

    @property
    def min_record(self) -> int:
        """Length of the shortest record this template can describe."""
        return sum(1 if ln == 0xFFFF else ln for _ie, ln, _pen in self.fields)

    def same_as(self, other: Template) -> bool:
        return (self.fields, self.scope_count, self.options) == (
            other.fields, other.scope_count, other.options,
        )

    def encode(self) -> bytes:
        """Compact JSON for the template topic (readable with kcat)."""
        return orjson.dumps(
            {"id": self.template_id, "v": self.version, "options": self.options,
             "scope": self.scope_count, "fields": [list(f) for f in self.fields]}
        )

    @classmethod
    def decode(cls, raw: bytes) -> Template:
        """Inverse of ``encode``; raises FlowDecodeError('bad-template-state') on junk."""
        try:
            d = orjson.loads(raw)
            fields = tuple((int(a), int(b), int(c)) for a, b, c in d["fields"])
            tpl = cls(int(d["v"]), int(d["id"]), fields, int(d["scope"]), bool(d["options"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise FlowDecodeError("bad-template-state", str(exc)) from None
        if not 0 < len(fields) <= MAX_FIELDS or not all(
            0 <= ie < 1 << 16 and 0 <= ln < 1 << 16 and 0 <= pen < 1 << 32
            for ie, ln, pen in fields
        ):
            raise FlowDecodeError("bad-template-state", "fields out of range")
        if tpl.min_record == 0:
            raise FlowDecodeError("bad-template-state", "records of length 0")
        return tpl

    def __repr__(self) -> str:
        kind = "options" if self.options else "data"
        return f"Template({kind} v{self.version} id={self.template_id} {len(self.fields)} fields)"


def key_text(key: TemplateKey) -> str:
    exporter, version, domain, tid = key
    return f"{KEY_PREFIX}|{exporter}|{version}|{domain}|{tid}"


def parse_key_text(text: str) -> TemplateKey | None:
    parts = text.split("|")
    if len(parts) != 5 or parts[0] != KEY_PREFIX:
        return None
    try:
        return parts[1], int(parts[2]), int(parts[3]), int(parts[4])
    except ValueError:
        return None


class TemplateStore(Protocol):
    """Where templates are kept. Implementations must bound their size."""

    def get(self, key: TemplateKey) -> Template | None: ...

    def put(self, key: TemplateKey, template: Template) -> bool:
        """Store (or refresh) a template; True when it is new or changed.

        Raises FlowDecodeError('template-limit') when the exporter or the store is full.
        """
        ...

    def withdraw(self, key: TemplateKey) -> bool: ...

    def items(self) -> Iterator[tuple[TemplateKey, Template]]: ...


def withdraw_all(
    store: TemplateStore, exporter: str, version: int, domain: int, options: bool
) -> int:
    """Withdraw every data (or options) template of one exporter's domain; returns how many."""
    doomed = [
        k for k, t in store.items()
        if k[0] == exporter and k[1] == version and k[2] == domain and t.options == options
    ]  # fmt: skip
    for k in doomed:
        store.withdraw(k)
    return len(doomed)


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    """Bounds of one store (defaults fit large deployments; tests shrink them)."""

    per_exporter: int = 4096
    total: int = 200_000


class MemoryTemplateStore:
    """The in-memory TemplateStore: a dict plus a per-exporter count."""

    def __init__(self, limits: TemplateLimits | None = None) -> None:
        self.limits = limits or TemplateLimits()
        self._templates: dict[TemplateKey, Template] = {}
        self._per_exporter: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._templates)

    def get(self, key: TemplateKey) -> Template | None:
        return self._templates.get(key)

    def put(self, key: TemplateKey, template: Template) -> bool:
        old = self._templates.get(key)
        if old is not None:
            if old.same_as(template):
                return False
        else:
            count = self._per_exporter.get(key[0], 0)
            if count >= self.limits.per_exporter or len(self._templates) >= self.limits.total:
                raise FlowDecodeError("template-limit", f"{key[0]} has {count} templates")
            self._per_exporter[key[0]] = count + 1
        self._templates[key] = template
        return True

    def withdraw(self, key: TemplateKey) -> bool:
        if self._templates.pop(key, None) is None:
            return False
        left = self._per_exporter[key[0]] - 1
        if left:
            self._per_exporter[key[0]] = left
        else:
            del self._per_exporter[key[0]]
        return True

    def items(self) -> Iterator[tuple[TemplateKey, Template]]:
        return iter(list(self._templates.items()))
