//! One prefix index per address family for the whole process, and each table a view of it.
//!
//! Every router announces mostly the same prefixes, so the trie is built once: the process-wide
//! [`Index`] maps each prefix any table holds to a small id (a `Core<K, u32>`), with the number
//! of tables holding each id (the prefix leaves the trie with the last one).
//! A table ([`View`]) keeps only its own results per id: a `Vec` indexed by id (8 bytes per
//! prefix of the process) once it holds a fair share of the ids, a hash map before (a VRF
//! table with a few routes does not pay for the whole table; it keeps its prefixes too, while
//! a dense table lists its prefixes by walking the shared trie). A lookup walks the shared trie
//! and takes the longest covering prefix that the table holds; when every table holds the
//! same prefixes, that is the first one tried.
//!
//! The indexes are process-wide and used only with the GIL held, like the shared results
//! (`shared.rs`).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::core::Core;
use crate::node::Addr;
use crate::shared::{GilCell, TupleRef};

/// The prefixes of one family held by any table of the process.
pub struct Index<K: Addr> {
    core: Core<K, u32>,
    /// id -> number of tables holding the prefix (0: a free id)
    refs: Vec<u32>,
    free: Vec<u32>,
}

impl<K: Addr> Default for Index<K> {
    fn default() -> Self {
        Self {
            core: Core::default(),
            refs: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<K: Addr> Index<K> {
    /// The id of `network/length` (masked), if some table holds it.
    #[inline]
    pub fn id(&self, network: K, length: u32) -> Option<u32> {
        self.core.get(network, length).copied()
    }

    /// One more table holds `network/length`: its id (a new one for a new prefix).
    fn acquire(&mut self, network: K, length: u32) -> u32 {
        if let Some(&id) = self.core.get(network, length) {
            self.refs[id as usize] += 1;
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.refs[id as usize] = 1;
                id
            }
            None => {
                let id = u32::try_from(self.refs.len()).expect("fewer than 2**32 prefixes");
                self.refs.push(1);
                id
            }
        };
        self.core.insert(network, length, id);
        id
    }

    /// One table less holds prefix `id` (`network/length`); the last one takes it out of the
    /// trie.
    fn release(&mut self, id: u32, network: K, length: u32) {
        let refs = &mut self.refs[id as usize];
        *refs -= 1;
        if *refs == 0 {
            self.core.remove(network, length);
            self.free.push(id);
        }
    }

    /// Ids handed out so far (live or free): the size of a dense view.
    fn bound(&self) -> usize {
        self.refs.len()
    }

    /// Distinct prefixes held.
    pub fn len(&self) -> usize {
        self.core.len()
    }

    pub fn nodes(&self) -> usize {
        self.core.nodes()
    }

    /// Bytes of the index: the trie and the per-id arrays.
    pub fn memory(&self) -> usize {
        self.core.memory() + (self.refs.capacity() + self.free.capacity()) * 4
    }
}

/// The address types with a process-wide index.
pub trait Family: Addr + Send + 'static {
    fn index() -> &'static GilCell<Option<Index<Self>>>;
}

static INDEX4: GilCell<Option<Index<u32>>> = GilCell::new(None);
static INDEX6: GilCell<Option<Index<u128>>> = GilCell::new(None);

impl Family for u32 {
    #[inline]
    fn index() -> &'static GilCell<Option<Index<Self>>> {
        &INDEX4
    }
}

impl Family for u128 {
    #[inline]
    fn index() -> &'static GilCell<Option<Index<Self>>> {
        &INDEX6
    }
}

/// A hasher for prefix ids: one multiplication (SipHash cost more than the trie walk).
#[derive(Default)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    #[inline]
    fn write_u32(&mut self, id: u32) {
        self.0 = (u64::from(id) ^ self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A sparse table's result of one prefix, with the prefix (a dense table finds its prefixes
/// by walking the shared trie; a sparse one must not walk it for a few routes).
#[derive(Clone, Copy)]
struct Held<K> {
    result: TupleRef,
    network: K,
    length: u8,
}

type Sparse<K> = HashMap<u32, Held<K>, BuildHasherDefault<IdHasher>>;

/// A table's results by prefix id.
enum Slots<K> {
    Sparse(Sparse<K>),
    Dense(Vec<Option<TupleRef>>),
}

/// A sparse view turns dense once it holds at least this many prefixes and a quarter of the
/// ids (then the `Vec` costs at most 32 bytes per prefix held, about what the map costs).
const DENSE_MIN: usize = 64;

impl<K: Family> Slots<K> {
    #[inline]
    fn get(&self, id: u32) -> Option<&TupleRef> {
        match self {
            Slots::Dense(v) => v.get(id as usize).and_then(Option::as_ref),
            Slots::Sparse(m) => m.get(&id).map(|h| &h.result),
        }
    }

    fn set(&mut self, id: u32, held: Held<K>, bound: usize) -> Option<TupleRef> {
        match self {
            Slots::Dense(v) => {
                if v.len() <= id as usize {
                    v.resize(bound.max(id as usize + 1), None);
                }
                v[id as usize].replace(held.result)
            }
            Slots::Sparse(m) => {
                let old = m.insert(id, held).map(|h| h.result);
                if m.len() >= DENSE_MIN && m.len() * 4 >= bound {
                    let mut v = vec![None; bound.max(id as usize + 1)];
                    for (&i, h) in m.iter() {
                        v[i as usize] = Some(h.result);
                    }
                    *self = Slots::Dense(v);
                }
                old
            }
        }
    }

    fn take(&mut self, id: u32) -> Option<TupleRef> {
        match self {
            Slots::Dense(v) => v.get_mut(id as usize).and_then(Option::take),
            Slots::Sparse(m) => m.remove(&id).map(|h| h.result),
        }
    }

    /// Every `(network, length, id, result)` held.
    fn entries(&self, index: Option<&Index<K>>) -> Vec<(K, u32, u32, TupleRef)> {
        match self {
            Slots::Sparse(m) => m
                .iter()
                .map(|(&id, h)| (h.network, u32::from(h.length), id, h.result))
                .collect(),
            Slots::Dense(v) => index.map_or_else(Vec::new, |index| {
                index
                    .core
                    .entries()
                    .into_iter()
                    .filter_map(|(network, length, &id)| {
                        v.get(id as usize)
                            .copied()
                            .flatten()
                            .map(|t| (network, length, id, t))
                    })
                    .collect()
            }),
        }
    }

    fn memory(&self) -> usize {
        match self {
            Slots::Dense(v) => v.capacity() * std::mem::size_of::<Option<TupleRef>>(),
            Slots::Sparse(m) => m.capacity() * (std::mem::size_of::<(u32, Held<K>)>() + 1),
        }
    }
}

/// One table of one family: its results for the prefixes of the shared index it holds.
pub struct View<K: Family> {
    slots: Slots<K>,
    len_counts: Vec<u32>,
    size: usize,
}

impl<K: Family> Default for View<K> {
    fn default() -> Self {
        Self {
            slots: Slots::Sparse(Sparse::default()),
            len_counts: vec![0; K::BITS as usize + 1],
            size: 0,
        }
    }
}

impl<K: Family> View<K> {
    pub fn len(&self) -> usize {
        self.size
    }

    /// Set the result of `network/length`; returns the one it replaces. GIL held.
    pub fn insert(&mut self, network: K, length: u32, value: TupleRef) -> Option<TupleRef> {
        let mut guard = K::index().borrow_mut_held();
        let index = guard.get_or_insert_with(Index::default);
        let held = Held {
            result: value,
            network: network.mask(length),
            length: length as u8,
        };
        if let Some(id) = index.id(network, length) {
            if self.slots.get(id).is_some() {
                return self.slots.set(id, held, index.bound());
            }
        }
        let id = index.acquire(network, length);
        self.slots.set(id, held, index.bound());
        self.size += 1;
        self.len_counts[length as usize] += 1;
        None
    }

    /// Delete `network/length`; returns its result. GIL held.
    pub fn remove(&mut self, network: K, length: u32) -> Option<TupleRef> {
        let mut guard = K::index().borrow_mut_held();
        let index = guard.as_mut()?;
        let id = index.id(network, length)?;
        let old = self.slots.take(id)?;
        index.release(id, network, length);
        self.size -= 1;
        self.len_counts[length as usize] -= 1;
        Some(old)
    }

    /// Result of exactly `network/length`. GIL held.
    pub fn get(&self, network: K, length: u32) -> Option<&TupleRef> {
        let guard = K::index().borrow_held();
        let id = guard.as_ref()?.id(network, length)?;
        self.slots.get(id)
    }

    /// `(length, result)` of the longest prefix containing `address` that this table holds.
    /// GIL held.
    #[inline]
    pub fn lookup(&self, address: K) -> Option<(u32, &TupleRef)> {
        if self.size == 0 {
            return None;
        }
        let guard = K::index().borrow_held();
        let slots = &self.slots;
        let (length, &id) = guard
            .as_ref()?
            .core
            .lookup_by(address, |&id| slots.get(id).is_some())?;
        slots.get(id).map(|t| (length, t))
    }

    /// Prefix lengths present, longest first.
    pub fn lengths(&self) -> Vec<u32> {
        (0..=K::BITS)
            .rev()
            .filter(|&n| self.len_counts[n as usize] != 0)
            .collect()
    }

    /// Every `(network, length, result)`, in no particular order. GIL held.
    fn entries(&self) -> Vec<(K, u32, TupleRef)> {
        let guard = K::index().borrow_held();
        let entries = self.slots.entries(guard.as_ref());
        entries.into_iter().map(|(n, l, _, t)| (n, l, t)).collect()
    }

    /// Every entry by network then length. GIL held.
    pub fn sorted_items(&self) -> Vec<(K, u32, TupleRef)> {
        let mut out = self.entries();
        out.sort_unstable_by_key(|e| (e.0, e.1));
        out
    }

    /// Every entry grouped by length, shortest first (by network inside). GIL held.
    pub fn items(&self) -> Vec<(K, u32, TupleRef)> {
        let mut out = self.entries();
        out.sort_unstable_by_key(|e| (e.1, e.0));
        out
    }

    /// Every result, the table left empty (its prefixes released from the index). GIL held.
    pub fn into_values(mut self) -> Vec<TupleRef> {
        let mut guard = K::index().borrow_mut_held();
        let entries = self.slots.entries(guard.as_ref());
        if let Some(index) = guard.as_mut() {
            for &(network, length, id, _) in &entries {
                index.release(id, network, length);
            }
        }
        self.size = 0;
        entries.into_iter().map(|(_, _, _, t)| t).collect()
    }

    /// Bytes of this table's own part (results by id, counters); the index is shared.
    pub fn memory(&self) -> usize {
        std::mem::size_of::<Self>() + self.slots.memory() + self.len_counts.len() * 4
    }
}

/// Read the family's index (GIL held).
pub fn with_index<K: Family, R>(f: impl FnOnce(Option<&Index<K>>) -> R) -> R {
    f(K::index().borrow_held().as_ref())
}
