//! Address and time text as the C library writes and reads it (what Python's `socket` and
//! `time` modules call), for the flow renderer: `inet_pton`/`inet_ntop` and UTC dates.

use std::io::Write;

use crate::json::Val;

/// `inet_pton(AF_INET)`: four decimal octets, no leading zeros.
pub fn parse_v4(s: &str) -> Option<u32> {
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
pub fn parse_v6(s: &str) -> Option<u128> {
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

/// `text` (a JSON key and what goes before the number) and then `n`.
#[inline]
pub fn put_field(out: &mut Vec<u8>, text: &[u8], n: i64) {
    out.extend_from_slice(text);
    put_int(out, n);
}

/// Decimal text of `n` (what Python's `%d` writes).
#[inline]
pub fn put_int(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    put_uint(out, n.unsigned_abs());
}

/// Decimal text of `n`.
#[inline]
pub fn put_uint(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Decimal text of `n` zero-padded to `width` digits.
#[inline]
pub fn put_padded(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    while n > 0 || buf.len() - i < width {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&buf[i..]);
}

pub fn write_v4(out: &mut Vec<u8>, a: u32) {
    for (i, b) in a.to_be_bytes().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        put_uint(out, u64::from(b));
    }
}

/// glibc's `inet_ntop(AF_INET6)` (what Python's `socket.inet_ntop` calls).
pub fn write_v6(out: &mut Vec<u8>, a: u128) {
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
pub fn civil(days: i64) -> (i64, u32, u32) {
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
pub const MAX_MS: i64 = 253_402_300_799_999;

/// A record's epoch-ms time as the enricher's options write it (Python's `Timestamps`);
/// None: a value it leaves to Python.
pub fn put_timestamp(out: &mut Vec<u8>, v: Option<Val<'_>>, epoch: bool, usec: bool) -> Option<()> {
    let ms = match v {
        None | Some(Val::Null) | Some(Val::Int(0)) => 0,
        Some(Val::Int(n)) if (1..=MAX_MS).contains(&n) => n,
        _ => return None,
    };
    if ms == 0 {
        out.extend_from_slice(match (epoch, usec) {
            (true, true) => b"0.000000",
            (true, false) => b"0",
            (false, true) => b"0000-00-00 00:00:00.000000",
            (false, false) => b"0000-00-00 00:00:00",
        });
        return Some(());
    }
    let (sec, rem) = (ms / 1000, ms % 1000);
    if epoch {
        put_int(out, sec);
    } else {
        let (days, s) = (sec.div_euclid(86_400), sec.rem_euclid(86_400));
        let (y, m, d) = civil(days);
        put_padded(out, y as u64, 4);
        out.push(b'-');
        put_padded(out, u64::from(m), 2);
        out.push(b'-');
        put_padded(out, u64::from(d), 2);
        out.push(b' ');
        put_padded(out, (s / 3600) as u64, 2);
        out.push(b':');
        put_padded(out, (s / 60 % 60) as u64, 2);
        out.push(b':');
        put_padded(out, (s % 60) as u64, 2);
    }
    if usec {
        out.push(b'.');
        put_padded(out, (rem * 1000) as u64, 6);
    }
    Some(())
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
    fn numbers() {
        let mut out = vec![];
        put_int(&mut out, i64::MIN);
        out.push(b' ');
        put_int(&mut out, 0);
        out.push(b' ');
        put_padded(&mut out, 7, 6);
        out.push(b' ');
        put_padded(&mut out, 2024, 4);
        out.push(b' ');
        write_v4(&mut out, 0x0a00_00ff);
        assert_eq!(out, b"-9223372036854775808 0 000007 2024 10.0.0.255");
    }

    #[test]
    fn dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_723), (2024, 1, 1));
        assert_eq!(civil(2_932_896), (9999, 12, 31));
    }
}
