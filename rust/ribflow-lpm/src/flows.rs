//! `FlowRenderer`: one `flows` message in, its pmacct records out, in one call.
//!
//! The compiled twin of `ribflow.enrich.flows.enrich_records` + `FlowFormatter.flow_json` for
//! the common record shape: it parses the message's JSON, looks source and destination up in
//! the router's two `PrefixTable`s, chooses the ADD-PATH path by the record's BGP next hop,
//! and renders the records with the attribute sets' pre-rendered fragments (the formatter's
//! per-set cache, rendered once per set by Python). Anything it is not sure to render exactly
//! as Python does (a key outside the base record, escapes, floats, bad addresses, an ADD-PATH
//! choice needing the shorter-prefix walk, ...) makes it return `None` for the whole message,
//! and the caller renders that message in Python: output is byte-identical either way.

use std::io::Write;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple, PyType};

use crate::json::{Reader, Val};
use crate::{Address, Inner, PrefixTable};

/// ribflow.flow.record.RECORD_KEYS, in order (the base record every decoder writes).
const KEYS: usize = 28;
const EXPORTER: usize = 0;
const VERSION: usize = 1;
const TIME_RECEIVED: usize = 3;
const TIME_EXPORT: usize = 4;
const START: usize = 5;
const END: usize = 6;
const SRC_ADDR: usize = 7;
const DST_ADDR: usize = 8;
const SRC_PORT: usize = 9;
const DST_PORT: usize = 10;
const PROTO: usize = 11;
const TOS: usize = 12;
const TCP_FLAGS: usize = 13;
const IN_IF: usize = 14;
const OUT_IF: usize = 15;
const BGP_NEXT_HOP: usize = 18;
const PACKETS: usize = 23;
const BYTES: usize = 24;
const SAMPLING_RATE: usize = 25;

fn key_index(key: &str) -> Option<usize> {
    Some(match key {
        "exporter" => 0,
        "version" => 1,
        "domain" => 2,
        "time_received_ms" => 3,
        "time_export_ms" => 4,
        "start_ms" => 5,
        "end_ms" => 6,
        "src_addr" => 7,
        "dst_addr" => 8,
        "src_port" => 9,
        "dst_port" => 10,
        "proto" => 11,
        "tos" => 12,
        "tcp_flags" => 13,
        "in_if" => 14,
        "out_if" => 15,
        "vlan" => 16,
        "next_hop" => 17,
        "bgp_next_hop" => 18,
        "src_as" => 19,
        "dst_as" => 20,
        "src_mask" => 21,
        "dst_mask" => 22,
        "packets" => 23,
        "bytes" => 24,
        "sampling_rate" => 25,
        "direction" => 26,
        "flow_type" => 27,
        _ => return None,
    })
}

type Record<'a> = [Option<Val<'a>>; KEYS];

/// One record object of the base keys, each at most once, scalar values only.
fn record<'a>(r: &mut Reader<'a>) -> Option<Record<'a>> {
    let mut rec: Record<'a> = [None; KEYS];
    r.expect(b'{')?;
    if r.peek()? == b'}' {
        r.expect(b'}')?;
        return Some(rec);
    }
    loop {
        let i = key_index(r.string()?)?;
        r.expect(b':')?;
        if rec[i].is_some() {
            return None; // a repeated key: orjson keeps the last, leave it to Python
        }
        rec[i] = Some(r.scalar()?);
        match r.peek()? {
            b',' => r.expect(b',')?,
            b'}' => {
                r.expect(b'}')?;
                return Some(rec);
            }
            _ => return None,
        }
    }
}

/// The records of a `flows` message (`{"records": [...], ...}`), or None.
fn message(text: &str) -> Option<Vec<Record<'_>>> {
    let mut r = Reader::new(text);
    let mut records: Option<Vec<Record<'_>>> = None;
    r.expect(b'{')?;
    if r.peek()? != b'}' {
        loop {
            let key = r.string()?;
            r.expect(b':')?;
            if key == "records" {
                if records.is_some() {
                    return None;
                }
                let mut out = Vec::with_capacity(32);
                r.expect(b'[')?;
                if r.peek()? == b']' {
                    r.expect(b']')?;
                } else {
                    loop {
                        out.push(record(&mut r)?);
                        match r.peek()? {
                            b',' => r.expect(b',')?,
                            b']' => {
                                r.expect(b']')?;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                records = Some(out);
            } else {
                r.skip(0)?;
            }
            match r.peek()? {
                b',' => r.expect(b',')?,
                b'}' => break,
                _ => return None,
            }
        }
    }
    r.expect(b'}')?;
    if !r.at_end() {
        return None;
    }
    records
}

/// `inet_pton(AF_INET)`: four decimal octets, no leading zeros.
fn parse_v4(s: &str) -> Option<u32> {
    let mut value: u32 = 0;
    let mut parts = 0;
    for part in s.split('.') {
        let b = part.as_bytes();
        if b.is_empty() || b.len() > 3 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        if b.len() > 1 && b[0] == b'0' {
            return None;
        }
        let octet: u32 = part.parse().ok()?;
        if octet > 255 {
            return None;
        }
        value = value << 8 | octet;
        parts += 1;
    }
    (parts == 4).then_some(value)
}

/// `inet_pton(AF_INET6)` for the hex-groups form (no embedded IPv4: left to Python).
fn parse_v6(s: &str) -> Option<u128> {
    if s.len() > 39 || !s.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') {
        return None;
    }
    fn groups(part: &str) -> Option<Vec<u16>> {
        if part.is_empty() {
            return Some(vec![]);
        }
        part.split(':')
            .map(|g| {
                if g.is_empty() || g.len() > 4 {
                    None
                } else {
                    u16::from_str_radix(g, 16).ok()
                }
            })
            .collect()
    }
    let words: Vec<u16> = match s.find("::") {
        Some(at) => {
            let (head, tail) = (&s[..at], &s[at + 2..]);
            if tail.contains("::") {
                return None;
            }
            let (h, t) = (groups(head)?, groups(tail)?);
            if h.len() + t.len() > 7 {
                return None;
            }
            let mut w = h;
            w.resize(8 - t.len(), 0);
            w.extend(t);
            w
        }
        None => {
            let w = groups(s)?;
            if w.len() != 8 {
                return None;
            }
            w
        }
    };
    Some(
        words
            .iter()
            .fold(0u128, |acc, &w| acc << 16 | u128::from(w)),
    )
}

fn write_v4(out: &mut Vec<u8>, a: u32) {
    let b = a.to_be_bytes();
    let _ = write!(out, "{}.{}.{}.{}", b[0], b[1], b[2], b[3]);
}

/// glibc's `inet_ntop(AF_INET6)` (what Python's `socket.inet_ntop` calls).
fn write_v6(out: &mut Vec<u8>, a: u128) {
    let bytes = a.to_be_bytes();
    let words: Vec<u16> = (0..8)
        .map(|i| u16::from_be_bytes([bytes[2 * i], bytes[2 * i + 1]]))
        .collect();
    let (mut best, mut best_len) = (usize::MAX, 0usize);
    let (mut cur, mut cur_len) = (usize::MAX, 0usize);
    for (i, &w) in words.iter().enumerate() {
        if w == 0 {
            if cur == usize::MAX {
                cur = i;
                cur_len = 1;
            } else {
                cur_len += 1;
            }
        } else if cur != usize::MAX {
            if best == usize::MAX || cur_len > best_len {
                (best, best_len) = (cur, cur_len);
            }
            cur = usize::MAX;
        }
    }
    if cur != usize::MAX && (best == usize::MAX || cur_len > best_len) {
        (best, best_len) = (cur, cur_len);
    }
    if best != usize::MAX && best_len < 2 {
        best = usize::MAX;
    }
    for i in 0..8 {
        if best != usize::MAX && i >= best && i < best + best_len {
            if i == best {
                out.push(b':');
            }
            continue;
        }
        if i != 0 {
            out.push(b':');
        }
        if i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff)) {
            let _ = write!(
                out,
                "{}.{}.{}.{}",
                bytes[12], bytes[13], bytes[14], bytes[15]
            );
            return;
        }
        let _ = write!(out, "{:x}", words[i]);
    }
    if best != usize::MAX && best + best_len == 8 {
        out.push(b':');
    }
}

/// Days since 1970-01-01 to (year, month, day) (proleptic Gregorian).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Latest epoch-ms rendered here (9999-12-31 23:59:59.999 UTC); later ones go to Python.
const MAX_MS: i64 = 253_402_300_799_999;

/// An integer field's value with Python's `rec.get(k) or default`; None: not an int.
#[inline]
fn int_or(v: Option<Val<'_>>, default: i64) -> Option<i64> {
    match v {
        None | Some(Val::Null) => Some(default),
        Some(Val::Int(0)) => Some(default),
        Some(Val::Int(n)) => Some(n),
        _ => None,
    }
}

/// The pre-rendered fragments of one side: (as, dst run, src run, peer as) and the next hop.
struct Side<'py> {
    parts: Bound<'py, PyTuple>,
    next_hop: Bound<'py, PyString>,
    length: u32,
    network: u128,
}

#[pyclass(module = "ribflow_lpm", frozen)]
pub struct FlowRenderer {
    token: Py<PyAny>,
    cached: Py<PyAny>,
    attrs_type: Py<PyType>,
    no_route: [String; 4],
    tail: Vec<u8>,
    proto_text: Vec<String>,
    epoch: bool,
    usec: bool,
}

impl FlowRenderer {
    fn timestamp(&self, out: &mut Vec<u8>, v: Option<Val<'_>>) -> Option<()> {
        let ms = match v {
            None | Some(Val::Null) | Some(Val::Int(0)) => 0,
            Some(Val::Int(n)) if (1..=MAX_MS).contains(&n) => n,
            _ => return None,
        };
        if ms == 0 {
            out.extend_from_slice(match (self.epoch, self.usec) {
                (true, true) => b"0.000000",
                (true, false) => b"0",
                (false, true) => b"0000-00-00 00:00:00.000000",
                (false, false) => b"0000-00-00 00:00:00",
            });
            return Some(());
        }
        let (sec, rem) = (ms / 1000, ms % 1000);
        if self.epoch {
            let _ = write!(out, "{sec}");
        } else {
            let (days, s) = (sec.div_euclid(86_400), sec.rem_euclid(86_400));
            let (y, m, d) = civil(days);
            let _ = write!(
                out,
                "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
                s / 3600,
                s / 60 % 60,
                s % 60
            );
        }
        if self.usec {
            let _ = write!(out, ".{:06}", rem * 1000);
        }
        Some(())
    }

    /// The side's attribute set's fragments, from the formatter's cache on the set.
    fn side<'py>(
        &self,
        attrs: &Bound<'py, PyAny>,
        length: u32,
        network: u128,
    ) -> PyResult<Side<'py>> {
        let py = attrs.py();
        let mut cached = attrs.getattr(pyo3::intern!(py, "fmt_cache"))?;
        let fresh = match cached.cast::<PyTuple>() {
            Ok(t) => t.len() == 3 && t.get_item(0)?.is(self.token.bind(py)),
            Err(_) => false,
        };
        if !fresh {
            cached = self.cached.bind(py).call1((attrs,))?;
        }
        let parts = cached
            .cast::<PyTuple>()?
            .get_item(2)?
            .cast_into::<PyTuple>()?;
        let next_hop = attrs
            .getattr(pyo3::intern!(py, "next_hop"))?
            .cast_into::<PyString>()?;
        Ok(Side {
            parts,
            next_hop,
            length,
            network,
        })
    }

    /// The route of `address` in `table` for one side: `Ok(None)` unrouted, `Err(None)` not
    /// renderable here (leave the message to Python).
    fn route<'py>(
        &self,
        py: Python<'py>,
        table: Option<&Bound<'py, PrefixTable>>,
        address: Address,
        next_hop: Option<Option<Val<'_>>>,
    ) -> Result<Option<Side<'py>>, Option<PyErr>> {
        let Some(table) = table else {
            return Ok(None);
        };
        let hit = {
            let inner = table.get().inner.borrow(py);
            match (&*inner, address) {
                (Inner::V4(t), Address::V4(a)) => t.lookup(a).map(|(l, &id)| (l, id)),
                (Inner::V6(t), Address::V6(a)) => t.lookup(a).map(|(l, &id)| (l, id)),
                _ => return Err(None),
            }
            .map(|(l, id)| (l, id.tuple(py)))
        };
        let Some((length, tuple)) = hit else {
            return Ok(None);
        };
        let value = tuple.get_item(1).map_err(Some)?;
        let attrs = if value.get_type().is(self.attrs_type.bind(py)) {
            value
        } else {
            // ADD-PATH paths ((path_id, attrs), ...), best first
            let paths = value.cast_into::<PyTuple>().map_err(|e| Some(e.into()))?;
            let first = || -> PyResult<Bound<'py, PyAny>> { paths.get_item(0)?.get_item(1) };
            match next_hop {
                None => first().map_err(Some)?, // the source side: the best path
                Some(None | Some(Val::Null)) => first().map_err(Some)?,
                Some(Some(Val::Str(nh))) if nh.is_empty() || nh == "0.0.0.0" || nh == "::" => {
                    first().map_err(Some)?
                }
                Some(Some(Val::Str(nh))) => {
                    let mut found = None;
                    for path in paths.iter() {
                        let attrs = path.get_item(1).map_err(Some)?;
                        let hop = attrs.getattr(pyo3::intern!(py, "next_hop")).map_err(Some)?;
                        if hop
                            .cast::<PyString>()
                            .is_ok_and(|h| h.to_str().is_ok_and(|h| h == nh))
                        {
                            found = Some(attrs);
                            break;
                        }
                    }
                    found.ok_or(None)? // canonical spellings, shorter prefixes: Python
                }
                Some(Some(_)) => return Err(None),
            }
        };
        let network = match address {
            Address::V4(a) => u128::from(if length == 0 {
                0
            } else {
                a >> (32 - length) << (32 - length)
            }),
            Address::V6(a) => {
                if length == 0 {
                    0
                } else {
                    a >> (128 - length) << (128 - length)
                }
            }
        };
        self.side(&attrs, length, network).map(Some).map_err(Some)
    }
}

fn address(v: Option<Val<'_>>) -> Option<(Address, &str)> {
    let Some(Val::Str(s)) = v else { return None };
    if s.contains(':') {
        parse_v6(s).map(|a| (Address::V6(a), s))
    } else {
        parse_v4(s).map(|a| (Address::V4(a), s))
    }
}

#[pymethods]
impl FlowRenderer {
    /// `token`/`cached`: the formatter's cache token and its `_cached(attrs)`; `attrs_type`:
    /// RouteAttrs; `no_route`: the 4 fragments of an unrouted side; `tail`: the bytes that
    /// close a record; `proto_text`: the 256 protocol names.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        token: Py<PyAny>,
        cached: Py<PyAny>,
        attrs_type: Py<PyType>,
        no_route: (String, String, String, String),
        tail: Vec<u8>,
        proto_text: Vec<String>,
        epoch: bool,
        usec: bool,
    ) -> PyResult<Self> {
        if proto_text.len() != 256 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "256 protocol names",
            ));
        }
        Ok(Self {
            token,
            cached,
            attrs_type,
            no_route: [no_route.0, no_route.1, no_route.2, no_route.3],
            tail,
            proto_text,
            epoch,
            usec,
        })
    }

    /// `(outputs, source hits, destination hits)` of one `flows` message looked up in the
    /// router's tables (`None`: no routes, every record unrouted), or None when the message
    /// is not one this renders (then Python does, with the same result).
    fn render<'py>(
        &self,
        py: Python<'py>,
        raw: &[u8],
        v4: Option<Bound<'py, PrefixTable>>,
        v6: Option<Bound<'py, PrefixTable>>,
    ) -> PyResult<Option<(Bound<'py, PyList>, u64, u64)>> {
        let Ok(text) = std::str::from_utf8(raw) else {
            return Ok(None);
        };
        let Some(records) = message(text) else {
            return Ok(None);
        };
        let mut outputs = Vec::with_capacity(records.len());
        let (mut src_hits, mut dst_hits) = (0u64, 0u64);
        let mut buf: Vec<u8> = Vec::with_capacity(1024);
        for rec in &records {
            buf.clear();
            match self.one(py, rec, v4.as_ref(), v6.as_ref(), &mut buf) {
                Ok(Some((s, d))) => {
                    src_hits += u64::from(s);
                    dst_hits += u64::from(d);
                    outputs.push(PyBytes::new(py, &buf));
                }
                Ok(None) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok(Some((PyList::new(py, outputs)?, src_hits, dst_hits)))
    }
}

impl FlowRenderer {
    /// Render one record into `out`: `Some((source hit, destination hit))`, or None.
    fn one<'py>(
        &self,
        py: Python<'py>,
        rec: &Record<'_>,
        v4: Option<&Bound<'py, PrefixTable>>,
        v6: Option<&Bound<'py, PrefixTable>>,
        out: &mut Vec<u8>,
    ) -> PyResult<Option<(bool, bool)>> {
        let Some((dst, dst_text)) = address(rec[DST_ADDR]) else {
            return Ok(None);
        };
        let Some((src, src_text)) = address(rec[SRC_ADDR]) else {
            return Ok(None);
        };
        let v4_family = matches!(dst, Address::V4(_));
        if v4_family != matches!(src, Address::V4(_)) {
            return Ok(None); // mixed families: Python's formatting decides
        }
        let Some(Val::Str(exporter)) = rec[EXPORTER] else {
            return Ok(None);
        };
        let (Some(Val::Int(packets)), Some(Val::Int(bytes))) = (rec[PACKETS], rec[BYTES]) else {
            return Ok(None);
        };
        let ints = [IN_IF, OUT_IF, SRC_PORT, DST_PORT, TCP_FLAGS, TOS].map(|k| int_or(rec[k], 0));
        let [Some(in_if), Some(out_if), Some(sport), Some(dport), Some(flags), Some(tos)] = ints
        else {
            return Ok(None);
        };
        let Some(sampling) = int_or(rec[SAMPLING_RATE], 1) else {
            return Ok(None);
        };
        let Some(proto) = int_or(rec[PROTO], 0).filter(|p| (0..256).contains(p)) else {
            return Ok(None);
        };
        let Some(version) = int_or(rec[VERSION], 0) else {
            return Ok(None);
        };
        let version = match version {
            5 | 5005 => 5,
            9 => 9,
            10 => 10,
            _ => 0,
        };
        let table = if v4_family { v4 } else { v6 };
        let d = match self.route(py, table, dst, Some(rec[BGP_NEXT_HOP])) {
            Ok(side) => side,
            Err(Some(e)) => return Err(e),
            Err(None) => return Ok(None),
        };
        let s = match self.route(py, table, src, None) {
            Ok(side) => side,
            Err(Some(e)) => return Err(e),
            Err(None) => return Ok(None),
        };
        let zero: &[u8] = if v4_family { b"0.0.0.0" } else { b"::" };
        let texts = |side: &Option<Side<'py>>| -> PyResult<[String; 4]> {
            match side {
                Some(side) => {
                    let p = &side.parts;
                    Ok([
                        p.get_item(0)?.extract()?,
                        p.get_item(1)?.extract()?,
                        p.get_item(2)?.extract()?,
                        p.get_item(3)?.extract()?,
                    ])
                }
                None => Ok(self.no_route.clone()),
            }
        };
        // parts: (dst run, src run, as, peer as)
        let [d_dst, _, _, d_peer] = texts(&d)?;
        let [_, s_src, s_as, s_peer] = texts(&s)?;
        let net = |out: &mut Vec<u8>, side: &Option<Side<'py>>| match side {
            Some(side) if v4_family => write_v4(out, side.network as u32),
            Some(side) => write_v6(out, side.network),
            None => out.extend_from_slice(zero),
        };
        out.extend_from_slice(b"{\"event_type\":\"purge\",\"as_src\":");
        out.extend_from_slice(s_as.as_bytes());
        out.push(b',');
        out.extend_from_slice(d_dst.as_bytes());
        out.extend_from_slice(b",\"peer_as_src\":");
        out.extend_from_slice(s_peer.as_bytes());
        out.extend_from_slice(b",\"peer_as_dst\":");
        out.extend_from_slice(d_peer.as_bytes());
        out.extend_from_slice(b",\"peer_ip_src\":\"");
        out.extend_from_slice(exporter.as_bytes());
        out.extend_from_slice(b"\",\"peer_ip_dst\":\"");
        match &d {
            Some(side) if !side.next_hop.to_str()?.is_empty() => {
                out.extend_from_slice(side.next_hop.to_str()?.as_bytes())
            }
            _ => out.extend_from_slice(zero),
        }
        out.extend_from_slice(b"\",");
        out.extend_from_slice(s_src.as_bytes());
        let _ = write!(
            out,
            ",\"iface_in\":{in_if},\"iface_out\":{out_if},\"ip_src\":\"{src_text}\",\"net_src\":\""
        );
        net(out, &s);
        let _ = write!(out, "\",\"ip_dst\":\"{dst_text}\",\"net_dst\":\"");
        net(out, &d);
        let _ = write!(
            out,
            "\",\"mask_src\":{},\"mask_dst\":{},\"port_src\":{sport},\"port_dst\":{dport},\
             \"tcp_flags\":\"{flags}\",\"ip_proto\":\"{}\",\"tos\":{tos},\"sampling_rate\":{sampling},\
             \"timestamp_start\":\"",
            s.as_ref().map_or(0, |x| x.length),
            d.as_ref().map_or(0, |x| x.length),
            self.proto_text[proto as usize],
        );
        for (k, next) in [
            (START, "\",\"timestamp_end\":\""),
            (END, "\",\"timestamp_arrival\":\""),
            (TIME_RECEIVED, "\",\"timestamp_export\":\""),
            (TIME_EXPORT, "\","),
        ] {
            if self.timestamp(out, rec[k]).is_none() {
                return Ok(None);
            }
            out.extend_from_slice(next.as_bytes());
        }
        let _ = write!(
            out,
            "\"export_proto_version\":{version},\"flows\":1,\"packets\":{packets},\"bytes\":{bytes}"
        );
        out.extend_from_slice(&self.tail);
        Ok(Some((s.is_some(), d.is_some())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(a: u128) -> String {
        let mut out = vec![];
        write_v6(&mut out, a);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ntop6() {
        assert_eq!(v6(0), "::");
        assert_eq!(v6(1), "::1");
        assert_eq!(v6(0x2001_0db8 << 96), "2001:db8::");
        assert_eq!(v6(0xffff_0102_0304), "::ffff:1.2.3.4");
        assert_eq!(v6(0x0102_0304), "::1.2.3.4");
        assert_eq!(v6(parse_v6("1:0:0:2:0:0:0:3").unwrap()), "1:0:0:2::3");
        assert_eq!(v6(parse_v6("1:0:2:0:3:0:4:0").unwrap()), "1:0:2:0:3:0:4:0");
    }

    #[test]
    fn pton() {
        assert_eq!(parse_v4("1.2.3.4"), Some(0x0102_0304));
        assert_eq!(parse_v4("01.2.3.4"), None);
        assert_eq!(parse_v4("1.2.3"), None);
        assert_eq!(parse_v4("256.2.3.4"), None);
        assert_eq!(parse_v6("::"), Some(0));
        assert_eq!(
            parse_v6("1:2:3:4:5:6:7::"),
            Some(parse_v6("1:2:3:4:5:6:7:0").unwrap())
        );
        assert_eq!(parse_v6("1:2:3:4:5:6:7:8::"), None);
        assert_eq!(parse_v6(":1::"), None);
        assert_eq!(parse_v6("1:::2"), None);
        assert_eq!(parse_v6("12345::"), None);
    }

    #[test]
    fn dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_723), (2024, 1, 1));
        assert_eq!(civil(2_932_896), (9999, 12, 31));
    }
}
