//! The flow renderer's copy of the attribute sets' pmacct fragments, by object address.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use pyo3::prelude::*;

/// One attribute set's fragments, copied from the formatter's cache on the set: (dst run,
/// src run, as, peer as) and its next hop. The entry holds the set, so its address (the key)
/// cannot be reused by another object while the entry exists.
pub struct Frag {
    #[allow(dead_code)] // held, never read: it pins the address the entry is keyed by
    pub attrs: Py<PyAny>,
    pub parts: [String; 5],
}

/// Attribute sets by address; cleared when it reaches [`FRAGS_MAX`] sets.
pub type Frags = HashMap<usize, Arc<Frag>, BuildHasherDefault<PtrHasher>>;
pub const FRAGS_MAX: usize = 1 << 18;

/// A hasher for object addresses (one multiply).
#[derive(Default)]
pub struct PtrHasher(u64);

impl Hasher for PtrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}
