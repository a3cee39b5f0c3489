//! The collector's record program (see collect.rs): the op kinds, one op as `DataCodec` compiled
//! it, and running a record's ops into its `flows` JSON.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::collect_text::{
    addr6, label_entry, mpls_stack, pm16, put_i128, uint, write_mac, write_rd, write_str,
};
use crate::text::{put_uint, write_v4, write_v6};

// Op kinds (ribflow.flow.codegen_native uses the same numbers).
pub const CONST: u8 = 0; // the prefix is the whole key and value
pub const EXPORTER: u8 = 1;
pub const DOMAIN: u8 = 2;
pub const RECV: u8 = 3;
pub const TEX: u8 = 4;
pub const UINT: u8 = 5; // (off, len, limit or -1): null above the limit
pub const ADDR4: u8 = 6; // (off)
pub const ADDR6: u8 = 7; // (off)
pub const ADDR46: u8 = 8; // (off4, off6): v6 when v4 is 0.0.0.0 and v6 is not ::
pub const MASK: u8 = 9; // (off a or -1, off b or -1): `a or b`, null above 128
pub const DIRECTION: u8 = 10; // (off): 0 ingress, 1 egress, else null
pub const TIME_RAW: u8 = 11; // (off, len)
pub const TIME_SEC: u8 = 12; // (off, len): v * 1000
pub const TIME_NTP: u8 = 13; // (off): 8-byte NTP time, null before 1970
pub const TIME_V9REL: u8 = 14; // (off, len): sysUpTime-relative, against anchor and uptime
pub const TIME_INIT: u8 = 15; // (off, len, init off, init len): init + v
pub const TIME_SYSINIT: u8 = 16; // (off, len): sysinit + v, null without sysinit
pub const TIME_DELTA: u8 = 17; // (off, len): anchor - v // 1000
pub const SAMP_INTERVAL: u8 = 18; // (off, len): v or rate
pub const SAMP_PACKET: u8 = 19; // (interval off, len, space off, len)
pub const SAMP_POPULATION: u8 = 20; // (size off, len, population off, len)
pub const SAMP_SAMPLER: u8 = 21; // (off, len): rates.get(v, rate)
pub const RATE: u8 = 22;
pub const MAC: u8 = 23; // (off): aa:bb:cc:dd:ee:ff
pub const RD: u8 = 24; // (off): pmacct's route distinguisher text, null when zero or unknown
pub const PM16: u8 = 25; // (off, len): the element's first two bytes (one byte: the high byte)
pub const VLAN_PM: u8 = 26; // (dir off, in off, in len, eg off, eg len): nfacctd's vlan, len 0 = 0
pub const MPLS_STACK: u8 = 27; // (k, off, k, off...): label stack entries, k = position 0..9
pub const MPLS_TOP: u8 = 28;
pub const MPLS_BOTTOM: u8 = 29;
pub const MPLS_DEPTH: u8 = 30;
pub const SRV6: u8 = 31; // (off, len): IPv6 segment list, null unless a non-empty multiple of 16

const NTP_UNIX_OFFSET: i128 = 2_208_988_800;

pub(crate) struct Op {
    pub(crate) prefix: Vec<u8>,
    pub(crate) kind: u8,
    pub(crate) a: usize,
    pub(crate) b: usize,
    pub(crate) c: usize,
    pub(crate) d: usize,
    pub(crate) e: usize,
    pub(crate) limit: Option<u64>,
    /// MPLS: (position in the stack 0..9, offset) of each label stack entry, in order
    pub(crate) labels: Vec<(usize, usize)>,
}

/// The per-call values every record shares.
pub(crate) struct Ctx<'a, 'py> {
    pub(crate) exporter: &'a [u8],
    pub(crate) domain: Option<i128>,
    pub(crate) recv: i128,
    pub(crate) tex: Option<i128>,
    pub(crate) anchor: i128,
    pub(crate) uptime: i128,
    pub(crate) sysinit: Option<i128>,
    pub(crate) rates: &'a Bound<'py, PyDict>,
    pub(crate) rate: i128,
}

enum Val {
    Null,
    Int(i128),
    Text(&'static [u8]),
}

/// The value of a computed op; None: one only Python may write.
fn value(op: &Op, rec: &[u8], cx: &Ctx<'_, '_>) -> PyResult<Option<Val>> {
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
pub(crate) fn record(
    ops: &[Op],
    rec: &[u8],
    cx: &Ctx<'_, '_>,
    out: &mut Vec<u8>,
) -> PyResult<Option<()>> {
    for op in ops {
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
                write_mac(out, &rec[op.a..op.a + 6]);
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
        match value(op, rec, cx)? {
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
