//! A strict reader of the `flows` message JSON for the renderer's fast path.
//!
//! It accepts a subset of JSON and says `None` for anything outside it (escapes in strings,
//! nested values inside a record, numbers it cannot hold, invalid syntax): the caller then
//! leaves the whole message to the Python implementation, which decides (renders, or
//! dead-letters) exactly as it always did. Never accepting what `orjson.loads` rejects is what
//! matters; rejecting some valid JSON only costs speed.

/// One value of a flow record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// A number with a fraction or an exponent (a float for Python).
    Float,
    /// A string without escapes: its raw bytes are its UTF-8 text.
    Str(&'a str),
}

pub struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(text: &'a str) -> Self {
        Reader {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.bytes.get(self.pos) {
            if c == b' ' || c == b'\n' || c == b'\r' || c == b'\t' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// The next non-blank byte (not consumed).
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    pub fn expect(&mut self, c: u8) -> Option<()> {
        if self.peek()? == c {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    /// Only blanks remain.
    pub fn at_end(&mut self) -> bool {
        self.ws();
        self.pos == self.bytes.len()
    }

    /// A string without escapes or control characters.
    pub fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.pos;
        loop {
            let c = *self.bytes.get(self.pos)?;
            if c == b'"' {
                break;
            }
            if c == b'\\' || c < 0x20 {
                return None;
            }
            self.pos += 1;
        }
        let s = &self.text[start..self.pos]; // quotes are ASCII: char boundaries
        self.pos += 1;
        Some(s)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Some(())
        } else {
            None
        }
    }

    /// A number by JSON's grammar: `Int` when it has no fraction/exponent and fits an i64.
    fn number(&mut self) -> Option<Val<'a>> {
        let b = self.bytes;
        let start = self.pos;
        let mut p = self.pos;
        if b.get(p) == Some(&b'-') {
            p += 1;
        }
        match b.get(p)? {
            b'0' => p += 1,
            b'1'..=b'9' => {
                p = skip_digits(b, p);
            }
            _ => return None,
        }
        let mut float = false;
        if b.get(p) == Some(&b'.') {
            p += 1;
            if !b.get(p)?.is_ascii_digit() {
                return None;
            }
            p = skip_digits(b, p);
            float = true;
        }
        if matches!(b.get(p), Some(b'e' | b'E')) {
            p += 1;
            if matches!(b.get(p), Some(b'+' | b'-')) {
                p += 1;
            }
            if !b.get(p)?.is_ascii_digit() {
                return None;
            }
            p = skip_digits(b, p);
            float = true;
        }
        self.pos = p;
        if float {
            return Some(Val::Float);
        }
        self.text[start..p].parse::<i64>().ok().map(Val::Int)
    }

    /// A scalar value (null, true, false, a number, a string without escapes).
    pub fn scalar(&mut self) -> Option<Val<'a>> {
        match self.peek()? {
            b'n' => self.literal(b"null").map(|_| Val::Null),
            b't' => self.literal(b"true").map(|_| Val::Bool(true)),
            b'f' => self.literal(b"false").map(|_| Val::Bool(false)),
            b'"' => self.string().map(Val::Str),
            _ => self.number(),
        }
    }

    /// Skip any value (nested ones included, depth-limited).
    pub fn skip(&mut self, depth: u32) -> Option<()> {
        if depth > 64 {
            return None;
        }
        match self.peek()? {
            b'{' => {
                self.pos += 1;
                self.members(b'}', |r| {
                    r.string()?;
                    r.expect(b':')?;
                    r.skip(depth + 1)
                })
            }
            b'[' => {
                self.pos += 1;
                self.members(b']', |r| r.skip(depth + 1))
            }
            _ => self.scalar().map(|_| ()),
        }
    }

    /// The members of an array or object whose opening bracket is read: `member` reads each,
    /// they are separated by `,`, and `close` (read too) ends them.
    #[inline]
    pub fn members(
        &mut self,
        close: u8,
        mut member: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        if self.peek()? == close {
            self.pos += 1;
            return Some(());
        }
        loop {
            member(self)?;
            match self.peek()? {
                b',' => self.pos += 1,
                c if c == close => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// The position after the run of ASCII digits that starts at `p` (`p` itself when there is none).
fn skip_digits(b: &[u8], mut p: usize) -> usize {
    while b.get(p).is_some_and(u8::is_ascii_digit) {
        p += 1;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars() {
        let mut r = Reader::new(r#"[null, true, -0, 12, 1.5, 1e3, "a b", 99999999999999999999]"#);
        r.expect(b'[').unwrap();
        let mut got = vec![];
        loop {
            got.push(r.scalar());
            if r.peek() == Some(b']') {
                break;
            }
            r.expect(b',').unwrap();
        }
        assert_eq!(
            got,
            vec![
                Some(Val::Null),
                Some(Val::Bool(true)),
                Some(Val::Int(0)),
                Some(Val::Int(12)),
                Some(Val::Float),
                Some(Val::Float),
                Some(Val::Str("a b")),
                None
            ]
        );
    }

    #[test]
    fn rejects() {
        for bad in [r#""a\"b""#, "01", "-", "1.", "1e", "nul", "\"a\u{1}\""] {
            assert!(
                Reader::new(bad).scalar().is_none() || !Reader::new(bad).at_end(),
                "{bad}"
            );
        }
        assert!(Reader::new("0").scalar().is_some());
        assert!(Reader::new(r#"{"a":[1,{"b":null}],"c":"d"}"#)
            .skip(0)
            .is_some());
        assert!(Reader::new(r#"{"a":[1,}"#).skip(0).is_none());
    }
}
