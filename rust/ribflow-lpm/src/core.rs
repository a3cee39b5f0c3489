//! The family-independent longest-prefix-match index, generic over the address type.
//!
//! Layout (the same idea as the pure-Python `ribflow.rib.lpm.PrefixTable`, so both give the
//! same answers): one hash map per prefix length, keyed by `network >> (bits - length)`. The
//! address space is cut into blocks (the top 16 bits for IPv4, 32 for IPv6):
//!
//! * lengths longer than the block: every block keeps a bitmask of the long lengths that occur
//!   inside it (maintained with per-(block, length) counters), so a lookup probes only those
//!   lengths, longest first;
//! * lengths up to the block size give the same answer for every address of a block, so the
//!   matched length is cached per block; any change to a short prefix bumps a generation number
//!   that invalidates the whole cache (short prefixes are few and change rarely).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A small, fast hasher for integer keys: a folded 64x64->128 multiply per word.
///
/// The keys are addresses and counters we build ourselves, not attacker-chosen strings that
/// would need SipHash's flooding resistance; lookups spend most of their time hashing, so this
/// matters.
#[derive(Default, Clone, Copy)]
pub struct MulFoldHasher(u64);

const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

impl MulFoldHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        let m = u128::from(self.0.rotate_left(23) ^ word) * u128::from(MUL);
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}

impl Hasher for MulFoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
    }
    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.mix(u64::from(v));
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }
    #[inline]
    fn write_u128(&mut self, v: u128) {
        self.mix(v as u64);
        self.mix((v >> 64) as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<MulFoldHasher>>;

/// An unsigned address type: `u32` for IPv4, `u128` for IPv6.
pub trait Addr: Copy + Eq + Hash + Ord {
    /// Address width in bits.
    const BITS: u32;
    /// Width of a block (the top bits of an address); at most 32.
    const BLOCK_BITS: u32;
    /// `self >> n`, with `n == BITS` giving 0.
    fn shr(self, n: u32) -> Self;
    /// `self << n`, with `n == BITS` giving 0.
    fn shl(self, n: u32) -> Self;
    /// The block an address belongs to.
    fn block(self) -> u32;
}

impl Addr for u32 {
    const BITS: u32 = 32;
    const BLOCK_BITS: u32 = 16;
    #[inline]
    fn shr(self, n: u32) -> Self {
        self.checked_shr(n).unwrap_or(0)
    }
    #[inline]
    fn shl(self, n: u32) -> Self {
        self.checked_shl(n).unwrap_or(0)
    }
    #[inline]
    fn block(self) -> u32 {
        self >> (32 - Self::BLOCK_BITS)
    }
}

impl Addr for u128 {
    const BITS: u32 = 128;
    const BLOCK_BITS: u32 = 32;
    #[inline]
    fn shr(self, n: u32) -> Self {
        self.checked_shr(n).unwrap_or(0)
    }
    #[inline]
    fn shl(self, n: u32) -> Self {
        self.checked_shl(n).unwrap_or(0)
    }
    #[inline]
    fn block(self) -> u32 {
        (self >> (128 - Self::BLOCK_BITS)) as u32
    }
}

/// Cached short-prefix answer of a block: (generation, matched length or `NO_MATCH`).
type ShortSlot = (u64, u8);
const NO_MATCH: u8 = u8::MAX;
/// The short-prefix cache is emptied when it reaches this many blocks (bounds its memory).
const SHORT_CACHE_MAX: usize = 1 << 17;

/// Prefixes of one family mapped to values of type `V`.
pub struct Core<K: Addr, V> {
    maps: Vec<FastMap<K, V>>,
    len_counts: Vec<u32>,
    /// Bit `n` set when some prefix of length `n <= BLOCK_BITS` exists.
    short_mask: u64,
    /// Block -> bitmask of the long lengths inside it (bit `n - BLOCK_BITS - 1`).
    block_masks: FastMap<u32, u128>,
    /// `block << 8 | length` -> number of prefixes of that long length inside the block.
    counts: FastMap<u64, u32>,
    short_cache: FastMap<u32, ShortSlot>,
    generation: u64,
    size: usize,
}

impl<K: Addr, V> Default for Core<K, V> {
    fn default() -> Self {
        Self {
            maps: (0..=K::BITS).map(|_| FastMap::default()).collect(),
            len_counts: vec![0; K::BITS as usize + 1],
            short_mask: 0,
            block_masks: FastMap::default(),
            counts: FastMap::default(),
            short_cache: FastMap::default(),
            generation: 0,
            size: 0,
        }
    }
}

impl<K: Addr, V> Core<K, V> {
    pub fn len(&self) -> usize {
        self.size
    }

    #[inline]
    fn key(network: K, length: u32) -> K {
        network.shr(K::BITS - length)
    }

    /// Set the value of `network/length`; returns the value it replaces.
    pub fn insert(&mut self, network: K, length: u32, value: V) -> Option<V> {
        let old = self.maps[length as usize].insert(Self::key(network, length), value);
        if length <= K::BLOCK_BITS {
            self.generation += 1;
        }
        if old.is_none() {
            self.size += 1;
            self.len_counts[length as usize] += 1;
            if length > K::BLOCK_BITS {
                let block = network.block();
                let count = self
                    .counts
                    .entry(u64::from(block) << 8 | u64::from(length))
                    .or_insert(0);
                *count += 1;
                if *count == 1 {
                    *self.block_masks.entry(block).or_insert(0) |=
                        1u128 << (length - K::BLOCK_BITS - 1);
                }
            } else {
                self.short_mask |= 1u64 << length;
            }
        }
        old
    }

    /// Delete `network/length`; returns the value it had.
    pub fn remove(&mut self, network: K, length: u32) -> Option<V> {
        let old = self.maps[length as usize].remove(&Self::key(network, length))?;
        self.size -= 1;
        self.len_counts[length as usize] -= 1;
        if length > K::BLOCK_BITS {
            let block = network.block();
            let ck = u64::from(block) << 8 | u64::from(length);
            let left = self.counts.get_mut(&ck).map(|c| {
                *c -= 1;
                *c
            });
            if left == Some(0) {
                self.counts.remove(&ck);
                if let Some(mask) = self.block_masks.get_mut(&block) {
                    *mask &= !(1u128 << (length - K::BLOCK_BITS - 1));
                    if *mask == 0 {
                        self.block_masks.remove(&block);
                    }
                }
            }
        } else {
            self.generation += 1;
            if self.len_counts[length as usize] == 0 {
                self.short_mask &= !(1u64 << length);
            }
        }
        Some(old)
    }

    /// Value of exactly `network/length`.
    pub fn get(&self, network: K, length: u32) -> Option<&V> {
        self.maps[length as usize].get(&Self::key(network, length))
    }

    /// Remove every entry (values are dropped).
    pub fn clear(&mut self) {
        for map in &mut self.maps {
            *map = FastMap::default();
        }
        self.len_counts.iter_mut().for_each(|c| *c = 0);
        self.short_mask = 0;
        self.block_masks = FastMap::default();
        self.counts = FastMap::default();
        self.short_cache = FastMap::default();
        self.generation += 1;
        self.size = 0;
    }

    /// `(length, f(value))` of the longest prefix containing `address`.
    ///
    /// `f` turns the borrowed value into what the caller keeps (a new reference, a copy).
    #[inline]
    pub fn lookup<R>(&mut self, address: K, f: impl Fn(&V) -> R) -> Option<(u32, R)> {
        let block = address.block();
        if let Some(&mask) = self.block_masks.get(&block) {
            let mut m = mask;
            while m != 0 {
                let bit = 127 - m.leading_zeros();
                let length = bit + K::BLOCK_BITS + 1;
                if let Some(value) = self.maps[length as usize].get(&Self::key(address, length)) {
                    return Some((length, f(value)));
                }
                m &= !(1u128 << bit);
            }
        }
        if self.short_mask == 0 {
            return None;
        }
        let length = match self.short_cache.get(&block) {
            Some(&(gen, length)) if gen == self.generation => length,
            _ => self.fill_short(address, block),
        };
        if length == NO_MATCH {
            return None;
        }
        let length = u32::from(length);
        self.maps[length as usize]
            .get(&Self::key(address, length))
            .map(|v| (length, f(v)))
    }

    fn fill_short(&mut self, address: K, block: u32) -> u8 {
        let mut found = NO_MATCH;
        let mut m = self.short_mask;
        while m != 0 {
            let length = 63 - m.leading_zeros();
            if self.maps[length as usize].contains_key(&Self::key(address, length)) {
                found = length as u8;
                break;
            }
            m &= !(1u64 << length);
        }
        if self.short_cache.len() >= SHORT_CACHE_MAX {
            self.short_cache.clear();
        }
        self.short_cache.insert(block, (self.generation, found));
        found
    }

    /// Prefix lengths present, longest first.
    pub fn lengths(&self) -> Vec<u32> {
        (0..=K::BITS)
            .rev()
            .filter(|&n| self.len_counts[n as usize] != 0)
            .collect()
    }

    /// Every `(network, length, value)`, grouped by length.
    pub fn items(&self) -> impl Iterator<Item = (K, u32, &V)> {
        self.maps.iter().enumerate().flat_map(|(length, map)| {
            let length = length as u32;
            map.iter()
                .map(move |(key, value)| (key.shl(K::BITS - length), length, value))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(routes: &[(u32, u32, u32)], address: u32) -> Option<(u32, u32)> {
        routes
            .iter()
            .filter(|(net, len, _)| address.shr(32 - len) == net.shr(32 - len))
            .max_by_key(|(_, len, _)| *len)
            .map(|(_, len, v)| (*len, *v))
    }

    #[test]
    fn matches_brute_force() {
        let mut seed = 12345u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut core: Core<u32, u32> = Core::default();
        let mut routes: Vec<(u32, u32, u32)> = Vec::new();
        for i in 0..2000u32 {
            let length = [0, 8, 12, 16, 17, 20, 24, 24, 28, 32][(next() % 10) as usize];
            let net = (next() as u32 & 0xff00_0000 | (next() as u32 & 0x00ff_ffff))
                .shr(32 - length)
                .shl(32 - length);
            routes.retain(|(n, l, _)| !(*n == net && *l == length));
            routes.push((net, length, i));
            core.insert(net, length, i);
            if i % 7 == 0 {
                let (n, l, _) = routes.swap_remove((next() as usize) % routes.len());
                assert!(core.remove(n, l).is_some());
            }
        }
        assert_eq!(core.len(), routes.len());
        for _ in 0..20000 {
            let address = if next() % 2 == 0 {
                let (n, l, _) = routes[(next() as usize) % routes.len()];
                n | ((next() as u32).shr(l))
            } else {
                next() as u32
            };
            assert_eq!(core.lookup(address, |v| *v), brute(&routes, address));
        }
    }
}
