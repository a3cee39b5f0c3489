"""What NetFlow v9 and IPFIX share: sets of templates, options templates and data.

The two protocols differ in their header, their set ids (0/1 vs 2/3), IPFIX's enterprise bit
and withdrawals; the walk over sets, the template bookkeeping, holding data that came before its
template, and options data (sampling, boot time) are the same. ``TemplatedDecoder`` implements that
walk; ``netflow9`` and ``ipfix`` add their header and dialect.

Problems inside a packet never stop the good parts: each is appended to ``DecodeResult.errors``
as a short reason and the walk goes on where it safely can. Only a header we cannot read raises
FlowDecodeError.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache

import orjson

from ribflow.flow import ies
from ribflow.flow.codegen import FieldSpec, decode_records
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.exporter_info import RAW_OPTION_IES, complete
from ribflow.flow.pending import PacketContext
from ribflow.flow.state import DecoderState
from ribflow.flow.templates import MAX_FIELDS, Template, TemplateKey, withdraw_all
from ribflow.flow.types import DecodeResult, json_fragment

_HH = struct.Struct("!HH")
_HHH = struct.Struct("!HHH")
_I = struct.Struct("!I")

# Reasons (metric labels) used by the template-based decoders.
TRUNCATED = "truncated"
BAD_SET_LENGTH = "bad-set-length"
RESERVED_SET_ID = "reserved-set-id"
BAD_TEMPLATE = "bad-template"
TEMPLATE_ID_RESERVED = "template-id-reserved"
MISSING_TEMPLATE = "missing-template"
TRUNCATED_RECORD = "truncated-record"


@lru_cache(maxsize=4096)
def json_text(value: str) -> bytes:
    """``orjson.dumps`` of a string (an exporter address: few distinct, cached)."""
    return orjson.dumps(value)


@dataclass(frozen=True, slots=True)
class Dialect:
    version: int
    template_set: int
    options_set: int
    enterprise_bit: bool  # IPFIX: element ids >= 0x8000 are followed by a 4-byte PEN
    withdrawals: bool


class TemplatedDecoder:
    """The set walker shared by NetFlow v9 and IPFIX; subclasses parse the header."""

    dialect: Dialect

    def __init__(self, state: DecoderState | None = None) -> None:
        self.state = state or DecoderState()
        # records as JSON (DecodeResult.encoded), by the compiled codecs where they can
        self.encode = False

    # -- entry point ----------------------------------------------------------------------
    def decode(self, data: bytes, exporter: str, received_ms: int) -> DecodeResult:
        result = DecodeResult()
        ctx, start, end = self.header(data, 0, exporter, received_ms, result)
        dropped = self.state.pending.expire(received_ms)
        if dropped:
            result.errors.extend([MISSING_TEMPLATE] * dropped)
        self.walk_sets(data, start, end, ctx, result)
        # Several IPFIX messages in one datagram (seen in the wild; normal on TCP/SCTP).
        while self.dialect.withdrawals and len(data) - end >= 16 and data[end : end + 2] == (
            b"\x00\x0a"
        ):
            try:
                ctx, start, end = self.header(data, end, exporter, received_ms, result)
            except FlowDecodeError as exc:
                result.errors.append(exc.reason)
                break
            self.walk_sets(data, start, end, ctx, result)
        return result

    def header(
        self, data: bytes, off: int, exporter: str, received_ms: int, result: DecodeResult
    ) -> tuple[PacketContext, int, int]:
        """Parse the header at ``off``: packet context, offset of the first set, end of sets."""
        raise NotImplementedError

    # -- sets -----------------------------------------------------------------------------
    def walk_sets(
        self, data: bytes, off: int, end: int, ctx: PacketContext, result: DecodeResult
    ) -> None:
        d = self.dialect
        errors = result.errors
        while end - off >= 4:
            set_id, set_len = _HH.unpack_from(data, off)
            if set_len < 4:
                if any(data[off:end]):
                    errors.append(BAD_SET_LENGTH)
                return  # zero padding up to the end (Palo Alto) is not an error
            if off + set_len > end:
                errors.append(BAD_SET_LENGTH)
                return
            body = data[off + 4 : off + set_len]
            off += set_len
            if set_id >= 256:
                self.data_set(set_id, body, ctx, result)
            elif set_id == d.template_set:
                self.template_set(body, ctx, result, options=False)
            elif set_id == d.options_set:
                self.template_set(body, ctx, result, options=True)
            else:
                errors.append(RESERVED_SET_ID)

    def data_set(self, set_id: int, body: bytes, ctx: PacketContext, result: DecodeResult) -> None:
        key = (ctx.exporter, ctx.version, ctx.domain, set_id)
        tpl = self.state.templates.get(key)
        if tpl is None:
            dropped = self.state.pending.hold(key, body, ctx)
            if dropped:
                result.errors.extend([MISSING_TEMPLATE] * dropped)
            return
        if tpl.options:
            self.options_data(tpl, body, ctx, result)
            return
        dom = self.state.sampling.get((ctx.exporter, ctx.version, ctx.domain))
        codec = tpl.codec
        info = self.state.info.get((ctx.exporter, ctx.version, ctx.domain))
        if self.encode and codec.native is not None and info is None:
            got = codec.native.encode(
                body, json_text(ctx.exporter), ctx.domain, ctx.received_ms, ctx.export_ms,
                ctx.anchor_ms, ctx.uptime_ms, dom.sysinit_ms, dom.rates, dom.default,
            )
            if got is not None:  # whole records only: a fixed-length template is never cut
                result.add_encoded(got[0], got[1], ctx.export_ms, native=True)
                return
        records, ok = decode_records(
            codec, body, ctx.exporter, ctx.domain, ctx.received_ms, ctx.export_ms,
            ctx.anchor_ms, ctx.uptime_ms, dom.sysinit_ms, dom.rates, dom.default,
        )
        if info is not None or codec.vrf:
            complete(records, info)
        if self.encode:
            result.add_encoded(json_fragment(records), len(records), ctx.export_ms, False)
        else:
            result.records.extend(records)
        if not ok:
            result.errors.append(TRUNCATED_RECORD)

    # -- templates ------------------------------------------------------------------------
    def template_set(
        self, body: bytes, ctx: PacketContext, result: DecodeResult, options: bool
    ) -> None:
        defined: set[TemplateKey] = set()
        try:
            self._template_records(body, ctx, result, options, defined)
        finally:
            # Data that waited for these templates comes out in the order it arrived.
            if defined and len(self.state.pending):
                for held in self.state.pending.take(defined):
                    self.data_set(held.key[3], held.body, held.ctx, result)

    def _template_records(
        self, body: bytes, ctx: PacketContext, result: DecodeResult, options: bool,
        defined: set[TemplateKey],
    ) -> None:
        d = self.dialect
        n, o = len(body), 0
        while n - o >= 4:
            tid, count = _HH.unpack_from(body, o)
            if tid == 0 and count == 0 and not any(body[o:]):
                return  # padding
            scope_count = 0
            if options and d.version == 9:
                # v9 options template: id, scope length (bytes), option length (bytes)
                if n - o < 6:
                    result.errors.append(BAD_TEMPLATE)
                    return
                tid, scope_len, opt_len = _HHH.unpack_from(body, o)
                o += 6
                if scope_len % 4 or opt_len % 4 or scope_len + opt_len == 0:
                    result.errors.append(BAD_TEMPLATE)
                    return
                scope_count, count = scope_len // 4, (scope_len + opt_len) // 4
            else:
                o += 4
                if count == 0:
                    if d.withdrawals:
                        self.withdraw(tid, ctx, options, result)
                        continue
                    result.errors.append(BAD_TEMPLATE)
                    return
                if options:
                    if n - o < 2:
                        result.errors.append(BAD_TEMPLATE)
                        return
                    scope_count = (body[o] << 8) | body[o + 1]
                    o += 2
                    if scope_count > count:
                        result.errors.append(BAD_TEMPLATE)
                        return
            fields, o = self.parse_fields(body, o, count)
            if fields is None:
                result.errors.append(BAD_TEMPLATE)
                return
            if tid < 256:
                result.errors.append(TEMPLATE_ID_RESERVED)
                continue
            if not any(ln for _ie, ln, _pen in fields):
                result.errors.append(BAD_TEMPLATE)  # records of length 0: nothing to decode
                continue
            key = self.define(Template(d.version, tid, fields, scope_count, options), ctx, result)
            if key is not None:
                defined.add(key)

    def parse_fields(
        self, body: bytes, o: int, count: int
    ) -> tuple[tuple[FieldSpec, ...] | None, int]:
        """``count`` field specifiers at ``o``; (None, o) when they run past the set."""
        n = len(body)
        if count * 4 > n - o or count > MAX_FIELDS:
            return None, o
        out: list[FieldSpec] = []
        append = out.append
        if not self.dialect.enterprise_bit:
            for _ in range(count):
                ie, ln = _HH.unpack_from(body, o)
                o += 4
                append((ie, ln, 0))
            return tuple(out), o
        for _ in range(count):
            if n - o < 4:
                return None, o
            ie, ln = _HH.unpack_from(body, o)
            o += 4
            pen = 0
            if ie & 0x8000:
                if n - o < 4:
                    return None, o
                pen = _I.unpack_from(body, o)[0]
                o += 4
                ie &= 0x7FFF
            append((ie, ln, pen))
        return tuple(out), o

    def define(
        self, tpl: Template, ctx: PacketContext, result: DecodeResult
    ) -> TemplateKey | None:
        """Store a template; its key, or None when the store refused it."""
        key: TemplateKey = (ctx.exporter, ctx.version, ctx.domain, tpl.template_id)
        try:
            self.state.templates.put(key, tpl)
        except FlowDecodeError as exc:
            result.errors.append(exc.reason)
            return None
        return key

    def withdraw(self, tid: int, ctx: PacketContext, options: bool, result: DecodeResult) -> None:
        store = self.state.templates
        if (tid == self.dialect.template_set and not options) or (
            tid == self.dialect.options_set and options
        ):
            withdraw_all(store, ctx.exporter, ctx.version, ctx.domain, options)
        elif tid >= 256:
            store.withdraw((ctx.exporter, ctx.version, ctx.domain, tid))
        else:
            result.errors.append(TEMPLATE_ID_RESERVED)

    # -- options data ---------------------------------------------------------------------
    def options_data(
        self, tpl: Template, body: bytes, ctx: PacketContext, result: DecodeResult
    ) -> None:
        """Learn sampling, boot times, VRF tables and interface names from options records.

        Options records are not flows: nothing is emitted.
        """
        fields = tpl.fields
        # NetFlow v9 scope fields have their own type space (1 = system, 2 = interface…).
        first_option = tpl.scope_count if self.dialect.version == 9 else 0
        min_len = tpl.min_record
        n, o = len(body), 0
        key = (ctx.exporter, ctx.version, ctx.domain)
        while n - o >= min_len and min_len > 0:
            values: dict[int, int] = {}
            raws: dict[int, bytes] = {}
            for i, (ie, ln, pen) in enumerate(fields):
                if ln == ies.VARLEN:
                    if o >= n:
                        result.errors.append(TRUNCATED_RECORD)
                        return
                    ln = body[o]
                    o += 1
                    if ln == 255:
                        if o + 2 > n:
                            result.errors.append(TRUNCATED_RECORD)
                            return
                        ln = (body[o] << 8) | body[o + 1]
                        o += 2
                if i >= first_option and pen == 0:
                    if ie in RAW_OPTION_IES:
                        raws.setdefault(ie, body[o : o + ln])
                    elif 0 < ln <= 8:
                        values.setdefault(ie, int.from_bytes(body[o : o + ln], "big"))
                o += ln
            if o > n:
                result.errors.append(TRUNCATED_RECORD)
                return
            try:
                self.state.sampling.learn(key, values)
                self.state.info.learn(key, values, raws)
            except FlowDecodeError as exc:
                result.errors.append(exc.reason)
                return

    # -- end of input ---------------------------------------------------------------------
    def flush(self) -> list[str]:
        """Give up on every held data set (end of a capture); their reasons."""
        return [MISSING_TEMPLATE] * self.state.pending.drop_all()
