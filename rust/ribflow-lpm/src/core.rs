//! The family-independent longest-prefix-match index, generic over the address type.
//!
//! Layout: a multibit trie with a stride of 8 bits and popcount-compressed nodes (the idea of
//! the tree bitmap / poptrie / bart family, written from their public descriptions).
//!
//! * The node at depth `d` covers address bits `[8d, 8d + 8)`. A prefix of length `L` lives in
//!   the node at depth `max(0, ceil(L / 8) - 1)` with a relative length `r = L - 8d` in
//!   `1..=8` (`0` only for the default route, in the root).
//! * Inside a node, a prefix is the index `(1 << r) | (octet >> (8 - r))` of a complete binary
//!   tree: `1` is the node's own root, `256..512` are the eight-bit prefixes. A 512-bit bitmap
//!   says which indexes hold a prefix; their values sit in a boxed slice in index order, so the
//!   value of index `i` is at the popcount of the bitmap below `i`.
//! * Children are one per octet value: a 256-bit bitmap and a boxed slice of nodes, again
//!   addressed by popcount.
//! * A lookup walks down while a child exists for the address's octets (at most 4 nodes for
//!   IPv4, 16 for IPv6), then goes back up: in each node, the longest prefix covering the octet
//!   is the highest set bit of `bitmap & ancestors(octet)`, where `ancestors` is a precomputed
//!   table of the nine indexes on the octet's path from the node's root.
//!
//! Slices grow by exactly one element per insert (no spare capacity), which keeps memory near
//! 8 bytes per value plus the nodes (128 bytes each, shared by every prefix inside).

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
}

impl Addr for u32 {
    const BITS: u32 = 32;
    #[inline(always)]
    fn octet(self, depth: u32) -> u8 {
        (self >> (24 - 8 * depth)) as u8
    }
    #[inline]
    fn place(octet: u8, depth: u32) -> Self {
        u32::from(octet) << (24 - 8 * depth)
    }
    #[inline]
    fn or(self, other: Self) -> Self {
        self | other
    }
    #[inline]
    fn zero() -> Self {
        0
    }
}

impl Addr for u128 {
    const BITS: u32 = 128;
    #[inline(always)]
    fn octet(self, depth: u32) -> u8 {
        (self >> (120 - 8 * depth)) as u8
    }
    #[inline]
    fn place(octet: u8, depth: u32) -> Self {
        u128::from(octet) << (120 - 8 * depth)
    }
    #[inline]
    fn or(self, other: Self) -> Self {
        self | other
    }
    #[inline]
    fn zero() -> Self {
        0
    }
}

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
fn prefix_index(octet: u8, r: u32) -> usize {
    (1usize << r) | (usize::from(octet) >> (8 - r))
}

/// Number of set bits of `words` below bit `bit`.
#[inline(always)]
fn rank<const N: usize>(words: &[u64; N], bit: usize) -> usize {
    let (w, b) = (bit / 64, bit % 64);
    let mut n = 0;
    for word in &words[..w] {
        n += word.count_ones() as usize;
    }
    n + (words[w] & ((1u64 << b) - 1)).count_ones() as usize
}

#[inline(always)]
fn test<const N: usize>(words: &[u64; N], bit: usize) -> bool {
    words[bit / 64] >> (bit % 64) & 1 != 0
}

/// Insert `item` at `at`, growing the slice by exactly one.
fn slice_insert<T>(slice: &mut Box<[T]>, at: usize, item: T) {
    let mut v = std::mem::take(slice).into_vec();
    v.reserve_exact(1);
    v.insert(at, item);
    *slice = v.into_boxed_slice();
}

/// Remove and return the item at `at`, shrinking the slice by exactly one.
fn slice_remove<T>(slice: &mut Box<[T]>, at: usize) -> T {
    let mut v = std::mem::take(slice).into_vec();
    let item = v.remove(at);
    *slice = v.into_boxed_slice();
    item
}

#[repr(C, align(64))]
struct Node<V> {
    /// Bit `i` set when prefix index `i` (1..512) holds a value.
    prefixes: [u64; 8],
    /// Bit `o` set when there is a child for octet `o`.
    kids: [u64; 4],
    values: Box<[V]>,
    children: Box<[Node<V>]>,
}

impl<V> Default for Node<V> {
    fn default() -> Self {
        Self {
            prefixes: [0; 8],
            kids: [0; 4],
            values: Box::default(),
            children: Box::default(),
        }
    }
}

impl<V> Node<V> {
    #[inline(always)]
    fn child(&self, octet: u8) -> Option<&Node<V>> {
        let o = usize::from(octet);
        if test(&self.kids, o) {
            Some(&self.children[rank(&self.kids, o)])
        } else {
            None
        }
    }

    fn child_mut_or_new(&mut self, octet: u8) -> &mut Node<V> {
        let o = usize::from(octet);
        let at = rank(&self.kids, o);
        if !test(&self.kids, o) {
            self.kids[o / 64] |= 1u64 << (o % 64);
            slice_insert(&mut self.children, at, Node::default());
        }
        &mut self.children[at]
    }

    /// The longest prefix of this node covering `octet`: its index.
    #[inline(always)]
    fn best(&self, octet: u8) -> Option<usize> {
        let full = 256 + usize::from(octet);
        if test(&self.prefixes, full) {
            return Some(full);
        }
        let anc = &ANCESTORS[usize::from(octet)];
        for w in (0..4).rev() {
            let m = self.prefixes[w] & anc[w];
            if m != 0 {
                return Some(w * 64 + 63 - m.leading_zeros() as usize);
            }
        }
        None
    }

    #[inline(always)]
    fn value(&self, index: usize) -> &V {
        &self.values[rank(&self.prefixes, index)]
    }

    fn is_empty(&self) -> bool {
        self.values.is_empty() && self.children.is_empty()
    }

    /// Every `(index, value)` of this node and `(octet, child)` of its children.
    fn entries(&self) -> impl Iterator<Item = (usize, &V)> {
        bits(&self.prefixes).zip(self.values.iter())
    }

    fn kids(&self) -> impl Iterator<Item = (u8, &Node<V>)> {
        bits(&self.kids).map(|o| o as u8).zip(self.children.iter())
    }
}

/// The set bits of `words`, ascending.
fn bits<const N: usize>(words: &[u64; N]) -> impl Iterator<Item = usize> + '_ {
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

/// Depth of the node holding prefixes of `length`, and their relative length there.
#[inline]
fn home(length: u32) -> (u32, u32) {
    let depth = length.saturating_sub(1) / 8;
    (depth, length - 8 * depth)
}

/// Prefixes of one family mapped to values of type `V`.
pub struct Core<K: Addr, V> {
    root: Node<V>,
    len_counts: Vec<u32>,
    size: usize,
    nodes: usize,
    _family: std::marker::PhantomData<K>,
}

impl<K: Addr, V> Default for Core<K, V> {
    fn default() -> Self {
        Self {
            root: Node::default(),
            len_counts: vec![0; K::BITS as usize + 1],
            size: 0,
            nodes: 1,
            _family: std::marker::PhantomData,
        }
    }
}

/// Deepest possible node path (IPv6: 16 octets).
const MAX_DEPTH: usize = 16;

impl<K: Addr, V> Core<K, V> {
    pub fn len(&self) -> usize {
        self.size
    }

    /// Number of trie nodes (the root included).
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// Bytes held by the index itself (nodes and value slots; not what the values point to).
    pub fn memory(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.nodes * std::mem::size_of::<Node<V>>()
            + self.size * std::mem::size_of::<V>()
            + self.len_counts.len() * 4
    }

    /// Set the value of `network/length`; returns the value it replaces.
    /// Host bits of `network` beyond `length` are ignored.
    pub fn insert(&mut self, network: K, length: u32, value: V) -> Option<V> {
        let (depth, r) = home(length);
        let mut node = &mut self.root;
        let mut created = 0;
        for d in 0..depth {
            let octet = network.octet(d);
            if !test(&node.kids, usize::from(octet)) {
                created += 1;
            }
            node = node.child_mut_or_new(octet);
        }
        self.nodes += created;
        let index = prefix_index(network.octet(depth), r);
        let at = rank(&node.prefixes, index);
        if test(&node.prefixes, index) {
            return Some(std::mem::replace(&mut node.values[at], value));
        }
        node.prefixes[index / 64] |= 1u64 << (index % 64);
        slice_insert(&mut node.values, at, value);
        self.size += 1;
        self.len_counts[length as usize] += 1;
        None
    }

    /// Delete `network/length`; returns the value it had.
    pub fn remove(&mut self, network: K, length: u32) -> Option<V> {
        let (depth, r) = home(length);
        let mut removed_nodes = 0;
        let old = Self::remove_at(&mut self.root, network, 0, depth, r, &mut removed_nodes)?;
        self.nodes -= removed_nodes;
        self.size -= 1;
        self.len_counts[length as usize] -= 1;
        Some(old)
    }

    fn remove_at(
        node: &mut Node<V>,
        network: K,
        d: u32,
        depth: u32,
        r: u32,
        removed_nodes: &mut usize,
    ) -> Option<V> {
        let octet = network.octet(d);
        if d == depth {
            let index = prefix_index(octet, r);
            if !test(&node.prefixes, index) {
                return None;
            }
            let at = rank(&node.prefixes, index);
            node.prefixes[index / 64] &= !(1u64 << (index % 64));
            return Some(slice_remove(&mut node.values, at));
        }
        let o = usize::from(octet);
        if !test(&node.kids, o) {
            return None;
        }
        let at = rank(&node.kids, o);
        let old = Self::remove_at(
            &mut node.children[at],
            network,
            d + 1,
            depth,
            r,
            removed_nodes,
        )?;
        if node.children[at].is_empty() {
            slice_remove(&mut node.children, at);
            node.kids[o / 64] &= !(1u64 << (o % 64));
            *removed_nodes += 1;
        }
        Some(old)
    }

    /// Value of exactly `network/length`.
    pub fn get(&self, network: K, length: u32) -> Option<&V> {
        let (depth, r) = home(length);
        let mut node = &self.root;
        for d in 0..depth {
            node = node.child(network.octet(d))?;
        }
        let index = prefix_index(network.octet(depth), r);
        test(&node.prefixes, index).then(|| node.value(index))
    }

    /// Every value, the table left empty.
    pub fn into_values(self) -> Vec<V> {
        let mut out = Vec::with_capacity(self.size);
        let mut stack = vec![self.root];
        while let Some(node) = stack.pop() {
            out.extend(node.values.into_vec());
            stack.extend(node.children.into_vec());
        }
        out
    }

    /// `(length, value)` of the longest prefix containing `address`.
    #[inline]
    pub fn lookup(&self, address: K) -> Option<(u32, &V)> {
        let levels = K::BITS / 8;
        let mut path: [&Node<V>; MAX_DEPTH] = [&self.root; MAX_DEPTH];
        let mut depth = 0u32;
        let mut node = &self.root;
        while depth + 1 < levels {
            match node.child(address.octet(depth)) {
                Some(child) => {
                    depth += 1;
                    path[depth as usize] = child;
                    node = child;
                }
                None => break,
            }
        }
        loop {
            let node = path[depth as usize];
            let octet = address.octet(depth);
            if let Some(index) = node.best(octet) {
                let r = usize::BITS - 1 - index.leading_zeros();
                return Some((8 * depth + r, node.value(index)));
            }
            if depth == 0 {
                return None;
            }
            depth -= 1;
        }
    }

    /// Prefix lengths present, longest first.
    pub fn lengths(&self) -> Vec<u32> {
        (0..=K::BITS)
            .rev()
            .filter(|&n| self.len_counts[n as usize] != 0)
            .collect()
    }

    /// Every `(network, length, value)` in address order, shorter prefixes before the longer
    /// prefixes they contain (network, then length, ascending).
    pub fn sorted_items(&self) -> Vec<(K, u32, &V)> {
        let mut out = Vec::with_capacity(self.size);
        Self::walk(&self.root, K::zero(), 0, &mut out);
        out.sort_unstable_by_key(|e| (e.0, e.1));
        out
    }

    /// Every `(network, length, value)`, grouped by length (shortest first).
    pub fn items(&self) -> Vec<(K, u32, &V)> {
        let mut out = Vec::with_capacity(self.size);
        Self::walk(&self.root, K::zero(), 0, &mut out);
        out.sort_by_key(|e| e.1);
        out
    }

    fn walk<'a>(node: &'a Node<V>, base: K, depth: u32, out: &mut Vec<(K, u32, &'a V)>) {
        for (index, value) in node.entries() {
            let r = usize::BITS - 1 - index.leading_zeros();
            let high = (index - (1usize << r)) << (8 - r);
            out.push((base.or(K::place(high as u8, depth)), 8 * depth + r, value));
        }
        for (octet, child) in node.kids() {
            Self::walk(child, base.or(K::place(octet, depth)), depth + 1, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask<K: Addr + std::ops::Shr<u32, Output = K> + std::ops::Shl<u32, Output = K>>(
        a: K,
        len: u32,
    ) -> K {
        if len == 0 {
            K::zero()
        } else {
            (a >> (K::BITS - len)) << (K::BITS - len)
        }
    }

    /// The bits of `a` after the first `len` (a host part under a prefix of `len`).
    fn host<K: Addr + std::ops::Shr<u32, Output = K> + std::ops::Shl<u32, Output = K>>(
        a: K,
        len: u32,
    ) -> K {
        if len == K::BITS {
            K::zero()
        } else {
            (a << len) >> len
        }
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn check<K>(lengths: &[u32], wide: impl Fn(&mut Rng) -> K)
    where
        K: Addr + std::fmt::Debug + std::ops::Shr<u32, Output = K> + std::ops::Shl<u32, Output = K>,
    {
        let mut rng = Rng(12345);
        let mut core: Core<K, u32> = Core::default();
        let mut routes: Vec<(K, u32, u32)> = Vec::new();
        let brute = |routes: &[(K, u32, u32)], address: K| {
            routes
                .iter()
                .filter(|(net, len, _)| mask(address, *len) == *net)
                .max_by_key(|(_, len, _)| *len)
                .map(|(_, len, v)| (*len, *v))
        };
        for i in 0..3000u32 {
            let length = lengths[(rng.next() % lengths.len() as u64) as usize];
            let base = if !routes.is_empty() && rng.next().is_multiple_of(3) {
                let (n, l, _) = routes[(rng.next() as usize) % routes.len()];
                n.or(host(wide(&mut rng), l))
            } else {
                wide(&mut rng)
            };
            let net = mask(base, length);
            let replaced = routes
                .iter()
                .position(|(n, l, _)| *n == net && *l == length);
            let old = replaced.map(|p| routes.swap_remove(p).2);
            routes.push((net, length, i));
            assert_eq!(core.insert(net, length, i), old);
            if i % 5 == 0 {
                let (n, l, v) = routes.swap_remove((rng.next() as usize) % routes.len());
                assert_eq!(core.remove(n, l), Some(v));
                assert_eq!(core.remove(n, l), None);
            }
        }
        assert_eq!(core.len(), routes.len());
        let mut expected: Vec<_> = routes.iter().map(|&(n, l, v)| (n, l, v)).collect();
        expected.sort_unstable_by_key(|e| (e.0, e.1));
        let got: Vec<_> = core
            .sorted_items()
            .into_iter()
            .map(|(n, l, v)| (n, l, *v))
            .collect();
        assert_eq!(got, expected);
        for &(n, l, v) in &routes {
            assert_eq!(core.get(n, l), Some(&v));
        }
        for _ in 0..20000 {
            let address = if rng.next().is_multiple_of(2) {
                let (n, l, _) = routes[(rng.next() as usize) % routes.len()];
                n.or(host(wide(&mut rng), l))
            } else {
                wide(&mut rng)
            };
            let got = core.lookup(address).map(|(l, v)| (l, *v));
            assert_eq!(got, brute(&routes, address), "{address:?}");
        }
        let all: Vec<_> = routes.clone();
        for (n, l, _) in all {
            assert!(core.remove(n, l).is_some());
        }
        assert_eq!(core.len(), 0);
        assert_eq!(core.nodes(), 1);
    }

    #[test]
    fn ipv4_matches_brute_force() {
        check::<u32>(
            &[0, 1, 7, 8, 9, 12, 16, 17, 20, 24, 24, 25, 28, 31, 32],
            |r| r.next() as u32,
        );
    }

    #[test]
    fn ipv6_matches_brute_force() {
        check::<u128>(&[0, 3, 8, 16, 29, 32, 33, 48, 56, 64, 96, 127, 128], |r| {
            u128::from(r.next()) << 64 | u128::from(r.next())
        });
    }
}
