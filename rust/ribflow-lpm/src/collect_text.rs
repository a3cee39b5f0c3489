//! The collector's element readers (big-endian integers, addresses, MPLS label stacks out of
//! a record's bytes) and the JSON text of its values, for collect_ops.rs.

use crate::text::{put_int, put_uint, write_v4};

#[inline]
pub(crate) fn uint(rec: &[u8], off: usize, len: usize) -> i128 {
    let mut v: u64 = 0;
    for &b in &rec[off..off + len] {
        v = v << 8 | u64::from(b);
    }
    i128::from(v)
}

#[inline]
pub(crate) fn put_i128(out: &mut Vec<u8>, v: i128) -> Option<()> {
    if let Ok(small) = i64::try_from(v) {
        put_int(out, small);
    } else if let Ok(big) = u64::try_from(v) {
        put_uint(out, big);
    } else {
        return None; // orjson refuses integers beyond 64 bits: Python decides
    }
    Some(())
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The element's first two bytes as pmacct reads a VLAN (`memcpy(.., MIN(len, 2)); ntohs()`).
#[inline]
pub(crate) fn pm16(rec: &[u8], off: usize, len: usize) -> i128 {
    if len == 1 {
        uint(rec, off, 1) << 8
    } else {
        uint(rec, off, 2)
    }
}

#[inline]
pub(crate) fn label_entry(rec: &[u8], off: usize) -> u32 {
    u32::from(rec[off]) << 16 | u32::from(rec[off + 1]) << 8 | u32::from(rec[off + 2])
}

/// pmacct's label stack (codegen_extra.mpls): labels top first, to the bottom-of-stack bit.
pub(crate) fn mpls_stack(rec: &[u8], labels: &[(usize, usize)]) -> Vec<u32> {
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
pub(crate) fn write_rd(out: &mut Vec<u8>, raw: &[u8]) {
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
pub(crate) fn addr6(rec: &[u8], off: usize) -> u128 {
    let mut raw = [0u8; 16];
    raw.copy_from_slice(&rec[off..off + 16]);
    u128::from_be_bytes(raw)
}

#[inline]
pub(crate) fn write_str(out: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) {
    out.push(b'"');
    f(out);
    out.push(b'"');
}

/// A MAC address as `aa:bb:cc:dd:ee:ff`, quoted.
#[inline]
pub(crate) fn write_mac(out: &mut Vec<u8>, raw: &[u8]) {
    write_str(out, |o| {
        for (i, b) in raw.iter().enumerate() {
            if i > 0 {
                o.push(b':');
            }
            o.push(HEX[usize::from(b >> 4)]);
            o.push(HEX[usize::from(b & 15)]);
        }
    });
}
