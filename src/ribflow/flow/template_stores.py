"""What a template store does beyond keeping templates, as wrappers around any TemplateStore.

* :class:`PersistentTemplateStore` — persistence. It logs every change (new or changed template:
  its encoded value; withdrawn: ``None``, a tombstone) for ``drain_changes``, and exchanges
  ``{key text: value}`` snapshots with ``snapshot``/``restore``: the form the collector keeps in
  the compacted ``flow-templates`` topic (``ribflow.flow.templates_topic``).
* :class:`ExpiringTemplateStore` — expiry. A template its exporter has not sent again for
  ``max_age`` seconds is withdrawn by ``expire()`` (RFC 7011 8.4: a collector may age out
  templates over UDP; an exporter refreshes them every few minutes), or by ``tick()``, which
  expires at most every ``check_every`` seconds (the collector's TEMPLATE_TIMEOUT_S: ticked
  with each ``DecoderState.drain_changes``). Wrapped around the persistent store, an expired
  template is a tombstone in the topic as well.

The decoders see only the TemplateStore interface; ``DecoderState`` composes the wrappers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.templates import (
    Template,
    TemplateKey,
    TemplateStore,
    key_text,
    parse_key_text,
)


class PersistentTemplateStore:
    """A TemplateStore that logs its changes and saves/loads snapshots of ``inner``."""

    def __init__(self, inner: TemplateStore) -> None:
        self.inner = inner
        self.get = inner.get  # the hot path reads the inner store directly
        self._changes: dict[str, bytes | None] = {}

    def put(self, key: TemplateKey, template: Template) -> bool:
        if not self.inner.put(key, template):
            return False
        self._changes[key_text(key)] = template.encode()
        return True

    def withdraw(self, key: TemplateKey) -> bool:
        if not self.inner.withdraw(key):
            return False
        self._changes[key_text(key)] = None
        return True

    def items(self) -> Iterator[tuple[TemplateKey, Template]]:
        return self.inner.items()

    def snapshot(self) -> dict[str, bytes]:
        """Every template, as ``{key text: encoded template}``."""
        return {key_text(k): t.encode() for k, t in self.inner.items()}

    def restore(self, items: dict[str, bytes]) -> None:
        """Load templates saved by ``snapshot`` (foreign keys are ignored, junk skipped).

        Restored state is already persisted: it is not a change to publish again.
        """
        for text, raw in items.items():
            key = parse_key_text(text)
            if key is None or raw is None:
                continue
            try:
                tpl = Template.decode(raw)
                if (tpl.version, tpl.template_id) != (key[1], key[3]):
                    continue
                self.inner.put(key, tpl)
            except FlowDecodeError:
                continue

    def drain_changes(self) -> dict[str, bytes | None]:
        """What changed since the last call (None = withdrawn: publish a tombstone)."""
        changes, self._changes = self._changes, {}
        return changes


class ExpiringTemplateStore:
    """A TemplateStore whose templates last ``max_age`` seconds after their exporter last sent
    them; ``expire()`` (called now and then, not per packet) withdraws the older ones.

    ``expire_restored`` False: templates restored from a snapshot and never sent to this
    process are kept. One of several collector workers restores every exporter's templates but
    is sent only its own exporters' packets: expiring the others would tombstone the templates
    another worker is using.
    """

    def __init__(
        self,
        inner: TemplateStore,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
        check_every: float = 1.0,
        expire_restored: bool = True,
    ) -> None:
        if max_age <= 0:
            raise ValueError("max_age must be > 0")
        self.inner = inner
        self.max_age = max_age
        self.check_every = check_every
        self.expired = 0  # since start
        self._clock = clock
        self._next_check = clock() + check_every
        self.get = inner.get  # the hot path reads the inner store directly
        self._seen: dict[TemplateKey, float] = {}
        self._expire_restored = expire_restored
        self._sent: set[TemplateKey] = set()  # keys this process was sent (put), not restored

    def put(self, key: TemplateKey, template: Template) -> bool:
        changed = self.inner.put(key, template)  # raises when full: then nothing is stamped
        self._seen[key] = self._clock()
        self._sent.add(key)
        return changed

    def withdraw(self, key: TemplateKey) -> bool:
        self._seen.pop(key, None)
        self._sent.discard(key)
        return self.inner.withdraw(key)

    def items(self) -> Iterator[tuple[TemplateKey, Template]]:
        return self.inner.items()

    def expire(self) -> int:
        """Withdraw the templates not sent for ``max_age`` seconds; returns how many.

        A template this wrapper has not seen put (restored from a snapshot) counts from the
        first ``expire`` that finds it (and is kept when ``expire_restored`` is False).
        """
        now = self._clock()
        limit = now - self.max_age
        seen, sent, every = self._seen, self._sent, self._expire_restored
        stale = [
            key
            for key, _ in self.inner.items()
            if (every or key in sent) and seen.setdefault(key, now) < limit
        ]
        for key in stale:
            self.withdraw(key)
        self.expired += len(stale)
        return len(stale)

    def tick(self) -> int:
        """``expire()`` when ``check_every`` seconds have passed since the last check (cheap to
        call often: it scans the templates only then); returns how many were withdrawn."""
        now = self._clock()
        if now < self._next_check:
            return 0
        self._next_check = now + self.check_every
        return self.expire()
