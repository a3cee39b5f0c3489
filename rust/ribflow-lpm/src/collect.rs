//! `DataCodec`: the collector's per-record work for one fixed-length data template (NetFlow v5,
//! v9, IPFIX), compiled: the records of a data set straight to their `flows` JSON.
//!
//! Python (`ribflow.flow.codegen_native`) decides, from the template, which element feeds which
//! record key, exactly as its generated Python decoder does, and hands over a program: one op per
//! record key, in the record's key order, each with the JSON text that precedes its value
//! (`{"exporter":`, `,"version":9`...) and the offsets/lengths of the elements it reads. Here
//! each record of the data set runs that program and is written as orjson writes the Python
//! record (no spaces, integers in decimal, `null`, addresses as `inet_ntop` writes them); records
//! are joined with `,`. A value orjson could not write (an integer beyond 64 bits) or a sampling
//! table entry that is not an integer gives `None`: the caller then decodes the set in Python,
//! which does whatever it always did.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::text::{put_int, put_uint, write_v4, write_v6};

// Op kinds (ribflow.flow.codegen_native uses the same numbers).
const CONST: u8 = 0; // the prefix is the whole key and value
const EXPORTER: u8 = 1;
const DOMAIN: u8 = 2;
const RECV: u8 = 3;
const TEX: u8 = 4;
const UINT: u8 = 5; // (off, len, limit or -1): null above the limit
const ADDR4: u8 = 6; // (off)
const ADDR6: u8 = 7; // (off)
const ADDR46: u8 = 8; // (off4, off6): v6 when v4 is 0.0.0.0 and v6 is not ::
const MASK: u8 = 9; // (off a or -1, off b or -1): `a or b`, null above 128
const DIRECTION: u8 = 10; // (off): 0 ingress, 1 egress, else null
const TIME_RAW: u8 = 11; // (off, len)
const TIME_SEC: u8 = 12; // (off, len): v * 1000
const TIME_NTP: u8 = 13; // (off): 8-byte NTP time, null before 1970
const TIME_V9REL: u8 = 14; // (off, len): sysUpTime-relative, against anchor and uptime
const TIME_INIT: u8 = 15; // (off, len, init off, init len): init + v
const TIME_SYSINIT: u8 = 16; // (off, len): sysinit + v, null without sysinit
const TIME_DELTA: u8 = 17; // (off, len): anchor - v // 1000
const SAMP_INTERVAL: u8 = 18; // (off, len): v or rate
const SAMP_PACKET: u8 = 19; // (interval off, len, space off, len)
const SAMP_POPULATION: u8 = 20; // (size off, len, population off, len)
const SAMP_SAMPLER: u8 = 21; // (off, len): rates.get(v, rate)
const RATE: u8 = 22;
const MAC: u8 = 23; // (off): aa:bb:cc:dd:ee:ff
const RD: u8 = 24; // (off): pmacct's route distinguisher text, null when zero or unknown
const PM16: u8 = 25; // (off, len): the element's first two bytes (one byte: the high byte)
const VLAN_PM: u8 = 26; // (dir off, in off, in len, eg off, eg len): nfacctd's vlan, len 0 = 0
const MPLS_STACK: u8 = 27; // (k, off, k, off...): label stack entries, k = position 0..9
const MPLS_TOP: u8 = 28;
const MPLS_BOTTOM: u8 = 29;
const MPLS_DEPTH: u8 = 30;
const SRV6: u8 = 31; // (off, len): IPv6 segment list, null unless a non-empty multiple of 16

const NTP_UNIX_OFFSET: i128 = 2_208_988_800;

struct Op {
    prefix: Vec<u8>,
    kind: u8,
    a: usize,
    b: usize,
    c: usize,
    d: usize,
    e: usize,
    limit: Option<u64>,
    /// MPLS: (position in the stack 0..9, offset) of each label stack entry, in order
    labels: Vec<(usize, usize)>,
}

/// One compiled data template: records of `size` bytes to `flows` JSON.
#[pyclass(module = "ribflow_lpm", frozen)]
pub struct DataCodec {
    size: usize,
    ops: Vec<Op>,
}

/// The per-call values every record shares.
struct Ctx<'a, 'py> {
    exporter: &'a [u8],
    domain: Option<i128>,
    recv: i128,
    tex: Option<i128>,
    anchor: i128,
    uptime: i128,
    sysinit: Option<i128>,
    rates: &'a Bound<'py, PyDict>,
    rate: i128,
}

enum Val {
    Null,
    Int(i128),
    Text(&'static [u8]),
}

#[inline]
fn uint(rec: &[u8], off: usize, len: usize) -> i128 {
    let mut v: u64 = 0;
    for &b in &rec[off..off + len] {
        v = v << 8 | u64::from(b);
    }
    i128::from(v)
}

#[inline]
fn put_i128(out: &mut Vec<u8>, v: i128) -> Option<()> {
    if let Ok(small) = i64::try_from(v) {
        put_int(out, small);
    } else if let Ok(big) = u64::try_from(v) {
        put_uint(out, big);
    } else {
        return None; // orjson refuses integers beyond 64 bits: Python decides
    }
    Some(())
}

impl DataCodec {
    fn value(&self, op: &Op, rec: &[u8], cx: &Ctx<'_, '_>) -> PyResult<Option<Val>> {
        let (a, b, c, d) = (op.a, op.b, op.c, op.d);
        Ok(Some(match op.kind {
            DOMAIN => cx.domain.map_or(Val::Null, Val::Int),
            RECV => Val::Int(cx.recv),
            TEX => cx.tex.map_or(Val::Null, Val::Int),
            UINT => {
                let v = uint(rec, a, b);
                match op.limit {
                    Some(limit) if v > i128::from(limit) => Val::Null,
                    _ => Val::Int(v),
                }
            }
            MASK => {
                let mut v = if a != usize::MAX { uint(rec, a, 1) } else { 0 };
                if v == 0 && b != usize::MAX {
                    v = uint(rec, b, 1);
                }
                if v <= 128 {
                    Val::Int(v)
                } else {
                    Val::Null
                }
            }
            DIRECTION => match rec[a] {
                0 => Val::Text(b"\"ingress\""),
                1 => Val::Text(b"\"egress\""),
                _ => Val::Null,
            },
            TIME_RAW => Val::Int(uint(rec, a, b)),
            TIME_SEC => Val::Int(uint(rec, a, b) * 1000),
            TIME_NTP => {
                let v = uint(rec, a, 8);
                let ms = ((v >> 32) - NTP_UNIX_OFFSET) * 1000 + (((v & 0xFFFF_FFFF) * 1000) >> 32);
                if ms >= 0 {
                    Val::Int(ms)
                } else {
                    Val::Null
                }
            }
            TIME_V9REL => {
                let v = uint(rec, a, b);
                let late = cx.uptime + 0x8000_0000;
                let wrap = if v > late { 0x1_0000_0000 } else { 0 };
                Val::Int(cx.anchor - cx.uptime + v - wrap)
            }
            TIME_INIT => Val::Int(uint(rec, c, d) + uint(rec, a, b)),
            TIME_SYSINIT => cx
                .sysinit
                .map_or(Val::Null, |s| Val::Int(s + uint(rec, a, b))),
            TIME_DELTA => Val::Int(cx.anchor - uint(rec, a, b) / 1000),
            SAMP_INTERVAL => {
                let v = uint(rec, a, b);
                Val::Int(if v != 0 { v } else { cx.rate })
            }
            SAMP_PACKET => {
                let (i, s) = (uint(rec, a, b), uint(rec, c, d));
                Val::Int(if i != 0 { (i + s) / i } else { cx.rate })
            }
            SAMP_POPULATION => {
                let (n, p) = (uint(rec, a, b), uint(rec, c, d));
                Val::Int(if n != 0 && p >= n { p / n } else { cx.rate })
            }
            SAMP_SAMPLER => {
                let v = uint(rec, a, b);
                match cx.rates.get_item(v)? {
                    None => Val::Int(cx.rate),
                    Some(got) => match got.extract::<i128>() {
                        Ok(r) if got.is_exact_instance_of::<pyo3::types::PyInt>() => Val::Int(r),
                        _ => return Ok(None),
                    },
                }
            }
            RATE => Val::Int(cx.rate),
            PM16 => Val::Int(pm16(rec, a, b)),
            VLAN_PM => {
                let (in_off, in_len, eg_off, eg_len) = (op.b, op.c, op.d, op.e);
                Val::Int(match rec[a] {
                    0 if in_len != 0 => pm16(rec, in_off, in_len),
                    1 if eg_len != 0 => pm16(rec, eg_off, eg_len),
                    _ => 0,
                })
            }
            MPLS_TOP => Val::Int(match op.labels.first() {
                Some(&(0, off)) => i128::from(label_entry(rec, off) >> 4),
                _ => 0,
            }),
            MPLS_BOTTOM | MPLS_DEPTH => {
                let (mut bottom, mut depth, mut last, mut bos) = (0u32, 0i128, 0u32, false);
                for &(_, off) in &op.labels {
                    let v = label_entry(rec, off);
                    depth += 1;
                    last = v >> 4;
                    if v & 1 != 0 {
                        (bottom, bos) = (last, true);
                        break;
                    }
                }
                if op.kind == MPLS_BOTTOM {
                    Val::Int(i128::from(bottom))
                } else {
                    Val::Int(if last != 0 || bos { depth } else { 0 })
                }
            }
            _ => Val::Null,
        }))
    }

    /// One record's JSON onto `out`; None: a value only Python may write.
    fn record(&self, rec: &[u8], cx: &Ctx<'_, '_>, out: &mut Vec<u8>) -> PyResult<Option<()>> {
        for op in &self.ops {
            out.extend_from_slice(&op.prefix);
            match op.kind {
                CONST => continue,
                EXPORTER => {
                    out.extend_from_slice(cx.exporter);
                    continue;
                }
                ADDR4 => {
                    write_str(out, |o| write_v4(o, uint(rec, op.a, 4) as u32));
                    continue;
                }
                ADDR6 => {
                    write_str(out, |o| write_v6(o, addr6(rec, op.a)));
                    continue;
                }
                MAC => {
                    write_str(out, |o| {
                        for (i, b) in rec[op.a..op.a + 6].iter().enumerate() {
                            if i > 0 {
                                o.push(b':');
                            }
                            o.push(HEX[usize::from(b >> 4)]);
                            o.push(HEX[usize::from(b & 15)]);
                        }
                    });
                    continue;
                }
                RD => {
                    write_rd(out, &rec[op.a..op.a + 8]);
                    continue;
                }
                SRV6 => {
                    let raw = &rec[op.a..op.a + op.b];
                    if raw.is_empty() || raw.len() % 16 != 0 {
                        out.extend_from_slice(b"null");
                    } else {
                        out.push(b'[');
                        for (i, chunk) in raw.chunks_exact(16).enumerate() {
                            if i > 0 {
                                out.push(b',');
                            }
                            write_str(out, |o| write_v6(o, addr6(chunk, 0)));
                        }
                        out.push(b']');
                    }
                    continue;
                }
                MPLS_STACK => {
                    out.push(b'[');
                    for (i, label) in mpls_stack(rec, &op.labels).iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        put_uint(out, u64::from(*label));
                    }
                    out.push(b']');
                    continue;
                }
                ADDR46 => {
                    let v4 = uint(rec, op.a, 4) as u32;
                    let v6 = addr6(rec, op.b);
                    if v4 == 0 && v6 != 0 {
                        write_str(out, |o| write_v6(o, v6));
                    } else {
                        write_str(out, |o| write_v4(o, v4));
                    }
                    continue;
                }
                _ => {}
            }
            match self.value(op, rec, cx)? {
                None => return Ok(None),
                Some(Val::Null) => out.extend_from_slice(b"null"),
                Some(Val::Text(t)) => out.extend_from_slice(t),
                Some(Val::Int(v)) => {
                    if put_i128(out, v).is_none() {
                        return Ok(None);
                    }
                }
            }
        }
        out.push(b'}');
        Ok(Some(()))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The element's first two bytes as pmacct reads a VLAN (`memcpy(.., MIN(len, 2)); ntohs()`).
#[inline]
fn pm16(rec: &[u8], off: usize, len: usize) -> i128 {
    if len == 1 {
        uint(rec, off, 1) << 8
    } else {
        uint(rec, off, 2)
    }
}

#[inline]
fn label_entry(rec: &[u8], off: usize) -> u32 {
    u32::from(rec[off]) << 16 | u32::from(rec[off + 1]) << 8 | u32::from(rec[off + 2])
}

/// pmacct's label stack (codegen_extra.mpls): labels top first, to the bottom-of-stack bit.
fn mpls_stack(rec: &[u8], labels: &[(usize, usize)]) -> Vec<u32> {
    let mut stack = Vec::new();
    for (i, &(k, off)) in labels.iter().enumerate() {
        let v = label_entry(rec, off);
        let label = v >> 4;
        if label != 0 {
            stack.push(label);
            if v & 1 != 0 {
                break;
            }
        } else if k == 0 {
            if v & 1 != 0 {
                stack.push(0);
                break;
            }
            if let Some(&(1, next)) = labels.get(i + 1) {
                if label_entry(rec, next) >> 4 != 0 {
                    stack.push(0);
                }
            }
        } else {
            break;
        }
    }
    stack
}

/// pmacct's text of an 8-byte route distinguisher, or null (zero, unknown type).
fn write_rd(out: &mut Vec<u8>, raw: &[u8]) {
    let be = |r: &[u8]| r.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
    let kind = be(&raw[..2]);
    if raw.iter().all(|&b| b == 0) || kind > 2 {
        out.extend_from_slice(b"null");
        return;
    }
    write_str(out, |o| {
        put_uint(o, kind);
        o.push(b':');
        match kind {
            0 => {
                put_uint(o, be(&raw[2..4]));
                o.push(b':');
                put_uint(o, be(&raw[4..]));
            }
            1 => {
                write_v4(o, be(&raw[2..6]) as u32);
                o.push(b':');
                put_uint(o, be(&raw[6..]));
            }
            _ => {
                put_uint(o, be(&raw[2..6]));
                o.push(b':');
                put_uint(o, be(&raw[6..]));
            }
        }
    });
}

#[inline]
fn addr6(rec: &[u8], off: usize) -> u128 {
    let mut raw = [0u8; 16];
    raw.copy_from_slice(&rec[off..off + 16]);
    u128::from_be_bytes(raw)
}

#[inline]
fn write_str(out: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) {
    out.push(b'"');
    f(out);
    out.push(b'"');
}

fn index(v: i64, size: usize, len: usize, what: &str) -> PyResult<usize> {
    if v < 0 {
        return Ok(usize::MAX);
    }
    let off = usize::try_from(v).unwrap_or(usize::MAX);
    if off.checked_add(len).map_or(true, |end| end > size) {
        return Err(PyValueError::new_err(format!(
            "{what}: offset {v} + {len} > record size {size}"
        )));
    }
    Ok(off)
}

fn opt_int(ob: &Bound<'_, PyAny>) -> PyResult<Option<i128>> {
    if ob.is_none() {
        Ok(None)
    } else {
        ob.extract::<i128>().map(Some)
    }
}

#[pymethods]
impl DataCodec {
    /// `DataCodec(size, ops)`: ops are `(prefix, kind, args)` (see the kinds above); for UINT
    /// the third argument is the limit (-1: none); an offset of -1 (MASK) is an absent element.
    #[new]
    fn new(size: usize, ops: Vec<(Vec<u8>, u8, Vec<i64>)>) -> PyResult<Self> {
        if size == 0 {
            return Err(PyValueError::new_err("record size 0"));
        }
        let mut out = Vec::with_capacity(ops.len());
        for (prefix, kind, args) in ops {
            let arg = |i: usize| args.get(i).copied().unwrap_or(0);
            let len = |i: usize| usize::try_from(arg(i)).unwrap_or(0);
            let (a, b, c) = (arg(0), arg(1), arg(2));
            let (len_b, len_d) = (len(1), len(3));
            let needs_int = |len: usize| -> PyResult<()> {
                if (1..=8).contains(&len) {
                    Ok(())
                } else {
                    Err(PyValueError::new_err(format!("integer length {len}")))
                }
            };
            let mut op = Op {
                prefix,
                kind,
                a: 0,
                b: 0,
                c: 0,
                d: 0,
                e: 0,
                limit: None,
                labels: Vec::new(),
            };
            match kind {
                CONST | EXPORTER | DOMAIN | RECV | TEX | RATE => {}
                UINT => {
                    needs_int(len_b)?;
                    op.a = index(a, size, len_b, "uint")?;
                    op.b = len_b;
                    op.limit = u64::try_from(c).ok();
                }
                ADDR4 => op.a = index(a, size, 4, "ipv4")?,
                ADDR6 => op.a = index(a, size, 16, "ipv6")?,
                ADDR46 => {
                    op.a = index(a, size, 4, "ipv4")?;
                    op.b = index(b, size, 16, "ipv6")?;
                }
                MASK => {
                    op.a = index(a, size, 1, "mask")?;
                    op.b = index(b, size, 1, "mask")?;
                }
                DIRECTION => op.a = index(a, size, 1, "direction")?,
                TIME_NTP => op.a = index(a, size, 8, "ntp")?,
                MAC => op.a = index(a, size, 6, "mac")?,
                RD => op.a = index(a, size, 8, "rd")?,
                TIME_RAW | TIME_SEC | TIME_V9REL | TIME_SYSINIT | TIME_DELTA | SAMP_INTERVAL
                | SAMP_SAMPLER | PM16 => {
                    needs_int(len_b)?;
                    op.a = index(a, size, len_b, "int")?;
                    op.b = len_b;
                }
                TIME_INIT | SAMP_PACKET | SAMP_POPULATION => {
                    needs_int(len_b)?;
                    needs_int(len_d)?;
                    op.a = index(a, size, len_b, "int")?;
                    op.b = len_b;
                    op.c = index(c, size, len_d, "int")?;
                    op.d = len_d;
                }
                VLAN_PM => {
                    op.a = index(a, size, 1, "direction")?;
                    for (o, l) in [(1usize, 2usize), (3, 4)] {
                        if len(l) != 0 {
                            needs_int(len(l))?;
                            index(arg(o), size, len(l), "vlan")?;
                        }
                    }
                    (op.b, op.c, op.d, op.e) = (len(1), len(2), len(3), len(4));
                }
                MPLS_STACK | MPLS_TOP | MPLS_BOTTOM | MPLS_DEPTH => {
                    if args.len() % 2 != 0 || args.len() > 20 {
                        return Err(PyValueError::new_err("mpls: (position, offset) pairs"));
                    }
                    for pair in args.chunks_exact(2) {
                        let k = usize::try_from(pair[0]).unwrap_or(usize::MAX);
                        if k > 9 || op.labels.last().is_some_and(|&(last, _)| last >= k) {
                            return Err(PyValueError::new_err("mpls: positions 0..9, ascending"));
                        }
                        op.labels.push((k, index(pair[1], size, 3, "mpls")?));
                    }
                }
                SRV6 => {
                    op.a = index(a, size, len_b, "srv6")?;
                    op.b = len_b;
                }
                _ => return Err(PyValueError::new_err(format!("unknown op kind {kind}"))),
            }
            if op.a == usize::MAX && kind != MASK {
                return Err(PyValueError::new_err("offset -1"));
            }
            out.push(op);
        }
        Ok(DataCodec { size, ops: out })
    }

    /// Record length in bytes.
    #[getter]
    fn size(&self) -> usize {
        self.size
    }

    /// `(json, count)` of the whole records in `buf` (records joined by `,`, no brackets), or
    /// None when a value is one only Python may write. Bytes after the last whole record are
    /// ignored (padding).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (buf, exporter, domain, recv, tex, anchor, uptime, sysinit, rates, rate))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        buf: &[u8],
        exporter: &[u8],
        domain: &Bound<'py, PyAny>,
        recv: &Bound<'py, PyAny>,
        tex: &Bound<'py, PyAny>,
        anchor: &Bound<'py, PyAny>,
        uptime: &Bound<'py, PyAny>,
        sysinit: &Bound<'py, PyAny>,
        rates: &Bound<'py, PyDict>,
        rate: &Bound<'py, PyAny>,
    ) -> PyResult<Option<(Bound<'py, PyBytes>, usize)>> {
        let ints = (|| -> PyResult<_> {
            Ok((
                opt_int(domain)?,
                recv.extract::<i128>()?,
                opt_int(tex)?,
                anchor.extract::<i128>()?,
                uptime.extract::<i128>()?,
                opt_int(sysinit)?,
                rate.extract::<i128>()?,
            ))
        })();
        let Ok((domain, recv, tex, anchor, uptime, sysinit, rate)) = ints else {
            return Ok(None);
        };
        let cx = Ctx {
            exporter,
            domain,
            recv,
            tex,
            anchor,
            uptime,
            sysinit,
            rates,
            rate,
        };
        let count = buf.len() / self.size;
        let mut out = Vec::with_capacity(count * 480);
        for (i, rec) in buf.chunks_exact(self.size).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if self.record(rec, &cx, &mut out)?.is_none() {
                return Ok(None);
            }
        }
        Ok(Some((PyBytes::new(py, &out), count)))
    }
}
