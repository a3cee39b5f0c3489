//! The trie's node: bitmaps, popcount-addressed slices, leaves; the address types.
//! See `core.rs` for the layout.

/// An unsigned address type: `u32` for IPv4, `u128` for IPv6.
pub trait Addr: Copy + Eq + Ord {
    /// Address width in bits (a multiple of 8).
    const BITS: u32;
    /// The octet of the address at `depth` (bits `[8 * depth, 8 * depth + 8)`).
    fn octet(self, depth: u32) -> u8;
    /// The address whose only non-zero octet is `octet` at `depth`.
    fn place(octet: u8, depth: u32) -> Self;
    /// Bitwise or.
    fn or(self, other: Self) -> Self;
    /// The all-zero address.
    fn zero() -> Self;
    /// The first `length` bits of the address, the others zero.
    fn mask(self, length: u32) -> Self;
    /// Whether `self` and `other` agree on their first `length` bits.
    fn same_prefix(self, other: Self, length: u32) -> bool;
}

macro_rules! addr_impl {
    ($t:ty) => {
        impl Addr for $t {
            const BITS: u32 = <$t>::BITS;
            #[inline(always)]
            fn octet(self, depth: u32) -> u8 {
                (self >> (Self::BITS - 8 - 8 * depth)) as u8
            }
            #[inline]
            fn place(octet: u8, depth: u32) -> Self {
                <$t>::from(octet) << (Self::BITS - 8 - 8 * depth)
            }
            #[inline]
            fn or(self, other: Self) -> Self {
                self | other
            }
            #[inline]
            fn zero() -> Self {
                0
            }
            #[inline]
            fn mask(self, length: u32) -> Self {
                self.checked_shr(Self::BITS - length)
                    .unwrap_or(0)
                    .checked_shl(Self::BITS - length)
                    .unwrap_or(0)
            }
            #[inline(always)]
            fn same_prefix(self, other: Self, length: u32) -> bool {
                (self ^ other).checked_shr(Self::BITS - length).unwrap_or(0) == 0
            }
        }
    };
}

addr_impl!(u32);
addr_impl!(u128);

/// `ANCESTORS[o]`: the indexes `1..256` (relative lengths 0..=7) on the path to octet `o`.
/// The eighth index, `256 + o`, is tested on its own.
static ANCESTORS: [[u64; 4]; 256] = ancestors();

const fn ancestors() -> [[u64; 4]; 256] {
    let mut table = [[0u64; 4]; 256];
    let mut octet = 0;
    while octet < 256 {
        let mut r = 0;
        while r < 8 {
            let index = (1usize << r) | (octet >> (8 - r));
            table[octet][index / 64] |= 1u64 << (index % 64);
            r += 1;
        }
        octet += 1;
    }
    table
}

/// Index of a prefix of relative length `r` (0..=8) whose first octet (at its node) is `octet`.
#[inline]
pub(crate) fn prefix_index(octet: u8, r: u32) -> usize {
    (1usize << r) | (usize::from(octet) >> (8 - r))
}

/// Relative length of prefix index `index`.
#[inline]
pub(crate) fn index_length(index: usize) -> u32 {
    usize::BITS - 1 - index.leading_zeros()
}

/// The first octet (at its node) of the prefix at `index`.
#[inline]
pub(crate) fn index_octet(index: usize) -> u8 {
    let r = index_length(index);
    ((index - (1usize << r)) << (8 - r)) as u8
}

/// Number of set bits of `words` below bit `bit`.
#[inline(always)]
pub(crate) fn rank<const N: usize>(words: &[u64; N], bit: usize) -> usize {
    let (w, b) = (bit / 64, bit % 64);
    let mut n = 0;
    for word in &words[..w] {
        n += word.count_ones() as usize;
    }
    n + (words[w] & ((1u64 << b) - 1)).count_ones() as usize
}

#[inline(always)]
pub(crate) fn test<const N: usize>(words: &[u64; N], bit: usize) -> bool {
    words[bit / 64] >> (bit % 64) & 1 != 0
}

/// The item of `items` for bit `bit` of `words` (items are addressed by the popcount below
/// their bit), or None when the bit is clear.
#[inline(always)]
fn present<'a, T, const N: usize>(words: &[u64; N], items: &'a [T], bit: usize) -> Option<&'a T> {
    if test(words, bit) {
        Some(&items[rank(words, bit)])
    } else {
        None
    }
}

#[inline]
pub(crate) fn set<const N: usize>(words: &mut [u64; N], bit: usize) {
    words[bit / 64] |= 1u64 << (bit % 64);
}

#[inline]
pub(crate) fn unset<const N: usize>(words: &mut [u64; N], bit: usize) {
    words[bit / 64] &= !(1u64 << (bit % 64));
}

/// Capacity for `len` items: size classes of four steps per power of two (1, 2, 3, 4, 5, 6,
/// 7, 8, 10, 12, 14, 16, 20, 24, ...; at most 25% spare, 12% on average).
#[inline]
pub(crate) fn class(len: usize) -> usize {
    if len <= 8 {
        return len;
    }
    let p = 1usize << (usize::BITS - 1 - (len - 1).leading_zeros()); // largest power of 2 < len
    let step = p / 4;
    len.div_ceil(step) * step
}

/// Insert `item` at `at`, growing the array to the next size class when full.
pub(crate) fn slice_insert<T>(v: &mut Vec<T>, at: usize, item: T) {
    if v.len() == v.capacity() {
        v.reserve_exact(class(v.len() + 1) - v.len());
    }
    v.insert(at, item);
}

/// Remove and return the item at `at`, shrinking the array when under half its class.
pub(crate) fn slice_remove<T>(v: &mut Vec<T>, at: usize) -> T {
    let item = v.remove(at);
    if v.capacity() > 2 * class(v.len()) {
        v.shrink_to(class(v.len()));
    }
    item
}

/// A prefix kept whole below a node, alone in its subtree.
pub(crate) struct Leaf<K, V> {
    pub(crate) network: K,
    pub(crate) length: u8,
    pub(crate) value: V,
}

pub(crate) struct Node<K, V> {
    /// Bit `i` set when prefix index `i` (1..512) holds a value.
    pub(crate) prefixes: [u64; 8],
    /// Bit `o` set when there is a child node for octet `o`.
    pub(crate) kids: [u64; 4],
    /// Bit `o` set when there is a leaf for octet `o` (never with a child).
    pub(crate) leaf_bits: [u64; 4],
    pub(crate) values: Vec<V>,
    pub(crate) children: Vec<Node<K, V>>,
    pub(crate) leaves: Vec<Leaf<K, V>>,
}

impl<K, V> Default for Node<K, V> {
    fn default() -> Self {
        Self {
            prefixes: [0; 8],
            kids: [0; 4],
            leaf_bits: [0; 4],
            values: Vec::new(),
            children: Vec::new(),
            leaves: Vec::new(),
        }
    }
}

impl<K: Addr, V> Node<K, V> {
    #[inline(always)]
    pub(crate) fn child(&self, octet: u8) -> Option<&Node<K, V>> {
        present(&self.kids, &self.children, usize::from(octet))
    }

    #[inline(always)]
    pub(crate) fn leaf(&self, octet: u8) -> Option<&Leaf<K, V>> {
        present(&self.leaf_bits, &self.leaves, usize::from(octet))
    }

    pub(crate) fn add_leaf(&mut self, octet: u8, leaf: Leaf<K, V>) {
        let o = usize::from(octet);
        set(&mut self.leaf_bits, o);
        slice_insert(&mut self.leaves, rank(&self.leaf_bits, o), leaf);
    }

    pub(crate) fn take_leaf(&mut self, octet: u8) -> Leaf<K, V> {
        let o = usize::from(octet);
        let at = rank(&self.leaf_bits, o);
        unset(&mut self.leaf_bits, o);
        slice_remove(&mut self.leaves, at)
    }

    /// The child for `octet`, made (empty) if there is none; there must be no leaf there.
    pub(crate) fn child_mut_or_new(&mut self, octet: u8) -> &mut Node<K, V> {
        let o = usize::from(octet);
        let at = rank(&self.kids, o);
        if !test(&self.kids, o) {
            set(&mut self.kids, o);
            slice_insert(&mut self.children, at, Node::default());
        }
        &mut self.children[at]
    }

    /// The longest prefix of this node covering `octet` whose value `ok` accepts: its index.
    #[inline(always)]
    pub(crate) fn best_by(&self, octet: u8, mut ok: impl FnMut(&V) -> bool) -> Option<usize> {
        let full = 256 + usize::from(octet);
        if test(&self.prefixes, full) && ok(self.value(full)) {
            return Some(full);
        }
        let anc = &ANCESTORS[usize::from(octet)];
        for w in (0..4).rev() {
            let mut m = self.prefixes[w] & anc[w];
            while m != 0 {
                let bit = 63 - m.leading_zeros() as usize;
                let index = w * 64 + bit;
                if ok(self.value(index)) {
                    return Some(index);
                }
                m &= !(1u64 << bit);
            }
        }
        None
    }

    #[inline(always)]
    pub(crate) fn value(&self, index: usize) -> &V {
        &self.values[rank(&self.prefixes, index)]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty() && self.children.is_empty() && self.leaves.is_empty()
    }

    /// A node holding exactly one prefix and nothing else could be a leaf of its parent.
    pub(crate) fn is_single(&self) -> bool {
        self.children.is_empty() && self.values.len() + self.leaves.len() == 1
    }

    /// Every `(index, value)` of this node.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (usize, &V)> {
        bits(&self.prefixes).zip(self.values.iter())
    }

    pub(crate) fn kids(&self) -> impl Iterator<Item = (u8, &Node<K, V>)> {
        bits(&self.kids).map(|o| o as u8).zip(self.children.iter())
    }
}

/// The set bits of `words`, ascending.
pub(crate) fn bits<const N: usize>(words: &[u64; N]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(w, &word)| {
        let mut m = word;
        std::iter::from_fn(move || {
            if m == 0 {
                return None;
            }
            let b = m.trailing_zeros() as usize;
            m &= m - 1;
            Some(w * 64 + b)
        })
    })
}

/// Depth of the node that is the home of prefixes of `length`, and their relative length.
#[inline]
pub(crate) fn home(length: u32) -> (u32, u32) {
    let depth = length.saturating_sub(1) / 8;
    (depth, length - 8 * depth)
}
