//! The records of a `flows` message, read by [`crate::json::Reader`] for the flow renderer:
//! the base record's keys (ribflow.flow.record.RECORD_KEYS), each at most once, scalar values.

use crate::json::{Reader, Val};
use crate::table::Address;
use crate::text::{parse_v4, parse_v6};

/// ribflow.flow.record.RECORD_KEYS, in order (the base record every decoder writes).
pub const KEYS: usize = 28;
pub const EXPORTER: usize = 0;
pub const VERSION: usize = 1;
pub const TIME_RECEIVED: usize = 3;
pub const TIME_EXPORT: usize = 4;
pub const START: usize = 5;
pub const END: usize = 6;
pub const SRC_ADDR: usize = 7;
pub const DST_ADDR: usize = 8;
pub const SRC_PORT: usize = 9;
pub const DST_PORT: usize = 10;
pub const PROTO: usize = 11;
pub const TOS: usize = 12;
pub const TCP_FLAGS: usize = 13;
pub const IN_IF: usize = 14;
pub const OUT_IF: usize = 15;
pub const BGP_NEXT_HOP: usize = 18;
pub const PACKETS: usize = 23;
pub const BYTES: usize = 24;
pub const SAMPLING_RATE: usize = 25;

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

pub type Record<'a> = [Option<Val<'a>>; KEYS];

/// One record object of the base keys, each at most once, scalar values only.
pub fn record<'a>(r: &mut Reader<'a>) -> Option<Record<'a>> {
    let mut rec: Record<'a> = [None; KEYS];
    r.expect(b'{')?;
    r.members(b'}', |r| {
        let i = key_index(r.string()?)?;
        r.expect(b':')?;
        if rec[i].is_some() {
            return None; // a repeated key: orjson keeps the last, leave it to Python
        }
        rec[i] = Some(r.scalar()?);
        Some(())
    })?;
    Some(rec)
}

/// The records of a `flows` message (`{"records": [...], ...}`), or None.
pub fn message(text: &str) -> Option<Vec<Record<'_>>> {
    let mut r = Reader::new(text);
    let mut records: Option<Vec<Record<'_>>> = None;
    r.expect(b'{')?;
    r.members(b'}', |r| {
        let key = r.string()?;
        r.expect(b':')?;
        if key != "records" {
            return r.skip(0);
        }
        if records.is_some() {
            return None;
        }
        let mut out = Vec::with_capacity(32);
        r.expect(b'[')?;
        r.members(b']', |r| {
            out.push(record(r)?);
            Some(())
        })?;
        records = Some(out);
        Some(())
    })?;
    if !r.at_end() {
        return None;
    }
    records
}

/// An integer field's value with Python's `rec.get(k) or default`; None: not an int.
#[inline]
pub fn int_or(v: Option<Val<'_>>, default: i64) -> Option<i64> {
    match v {
        None | Some(Val::Null) => Some(default),
        Some(Val::Int(0)) => Some(default),
        Some(Val::Int(n)) => Some(n),
        _ => None,
    }
}

/// A record's address: parsed (as `inet_pton` would) and its text; None: not one here.
pub fn address(v: Option<Val<'_>>) -> Option<(Address, &str)> {
    let Some(Val::Str(s)) = v else { return None };
    if s.contains(':') {
        parse_v6(s).map(|a| (Address::V6(a), s))
    } else {
        parse_v4(s).map(|a| (Address::V4(a), s))
    }
}
