//! The family-independent longest-prefix-match index, generic over the address type.
//!
//! Layout: a multibit trie with a stride of 8 bits and popcount-compressed nodes (the idea of
//! the tree bitmap / poptrie / bart family, written from their public descriptions).
//!
//! * The node at depth `d` covers address bits `[8d, 8d + 8)`. A prefix of length `L` has its
//!   home in the node at depth `max(0, ceil(L / 8) - 1)` with a relative length `r = L - 8d` in
//!   `1..=8` (`0` only for the default route, in the root).
//! * Inside a node, a prefix is the index `(1 << r) | (octet >> (8 - r))` of a complete binary
//!   tree: `1` is the node's own root, `256..512` are the eight-bit prefixes. A 512-bit bitmap
//!   says which indexes hold a prefix; their values sit in a boxed slice in index order, so the
//!   value of index `i` is at the popcount of the bitmap below `i`.
//! * Below a node, each octet value has nothing, a child node, or a *leaf*: a prefix alone in
//!   that whole subtree, kept whole (network, length, value) instead of a chain of nodes that
//!   would hold only it (IPv6 prefixes and sparse tables would otherwise cost a node per
//!   octet). Two 256-bit bitmaps say which octets have a child and which a leaf; children and
//!   leaves sit in boxed slices addressed by popcount. A leaf is pushed down into a new child
//!   when another prefix arrives in its subtree, and a child holding a single prefix is pulled
//!   back up into a leaf when the other ones leave.
//! * A lookup walks down while a child exists for the address's octets (at most 4 nodes for
//!   IPv4, 16 for IPv6); a leaf where the walk stops is the answer if it covers the address
//!   (nothing below it can be longer). Otherwise it goes back up: in each node, the longest
//!   prefix covering the octet is the highest set bit of `bitmap & ancestors(octet)`, where
//!   `ancestors` is a precomputed table of the nine indexes on the octet's path.
//!
//! Slices grow by exactly one element per insert (no spare capacity), which keeps memory near
//! an 8-byte result pointer per prefix plus the nodes (176 bytes each, shared by every prefix
//! inside).

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
fn prefix_index(octet: u8, r: u32) -> usize {
    (1usize << r) | (usize::from(octet) >> (8 - r))
}

/// Relative length of prefix index `index`.
#[inline]
fn index_length(index: usize) -> u32 {
    usize::BITS - 1 - index.leading_zeros()
}

/// The first octet (at its node) of the prefix at `index`.
#[inline]
fn index_octet(index: usize) -> u8 {
    let r = index_length(index);
    ((index - (1usize << r)) << (8 - r)) as u8
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

#[inline]
fn set<const N: usize>(words: &mut [u64; N], bit: usize) {
    words[bit / 64] |= 1u64 << (bit % 64);
}

#[inline]
fn unset<const N: usize>(words: &mut [u64; N], bit: usize) {
    words[bit / 64] &= !(1u64 << (bit % 64));
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

/// A prefix kept whole below a node, alone in its subtree.
struct Leaf<K, V> {
    network: K,
    length: u8,
    value: V,
}

struct Node<K, V> {
    /// Bit `i` set when prefix index `i` (1..512) holds a value.
    prefixes: [u64; 8],
    /// Bit `o` set when there is a child node for octet `o`.
    kids: [u64; 4],
    /// Bit `o` set when there is a leaf for octet `o` (never with a child).
    leaf_bits: [u64; 4],
    values: Box<[V]>,
    children: Box<[Node<K, V>]>,
    leaves: Box<[Leaf<K, V>]>,
}

impl<K, V> Default for Node<K, V> {
    fn default() -> Self {
        Self {
            prefixes: [0; 8],
            kids: [0; 4],
            leaf_bits: [0; 4],
            values: Box::default(),
            children: Box::default(),
            leaves: Box::default(),
        }
    }
}

impl<K: Addr, V> Node<K, V> {
    #[inline(always)]
    fn child(&self, octet: u8) -> Option<&Node<K, V>> {
        let o = usize::from(octet);
        if test(&self.kids, o) {
            Some(&self.children[rank(&self.kids, o)])
        } else {
            None
        }
    }

    #[inline(always)]
    fn leaf(&self, octet: u8) -> Option<&Leaf<K, V>> {
        let o = usize::from(octet);
        if test(&self.leaf_bits, o) {
            Some(&self.leaves[rank(&self.leaf_bits, o)])
        } else {
            None
        }
    }

    fn add_leaf(&mut self, octet: u8, leaf: Leaf<K, V>) {
        let o = usize::from(octet);
        set(&mut self.leaf_bits, o);
        slice_insert(&mut self.leaves, rank(&self.leaf_bits, o), leaf);
    }

    fn take_leaf(&mut self, octet: u8) -> Leaf<K, V> {
        let o = usize::from(octet);
        let at = rank(&self.leaf_bits, o);
        unset(&mut self.leaf_bits, o);
        slice_remove(&mut self.leaves, at)
    }

    /// The child for `octet`, made (empty) if there is none; there must be no leaf there.
    fn child_mut_or_new(&mut self, octet: u8) -> &mut Node<K, V> {
        let o = usize::from(octet);
        let at = rank(&self.kids, o);
        if !test(&self.kids, o) {
            set(&mut self.kids, o);
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
        self.values.is_empty() && self.children.is_empty() && self.leaves.is_empty()
    }

    /// A node holding exactly one prefix and nothing else could be a leaf of its parent.
    fn is_single(&self) -> bool {
        self.children.is_empty() && self.values.len() + self.leaves.len() == 1
    }

    /// Every `(index, value)` of this node.
    fn entries(&self) -> impl Iterator<Item = (usize, &V)> {
        bits(&self.prefixes).zip(self.values.iter())
    }

    fn kids(&self) -> impl Iterator<Item = (u8, &Node<K, V>)> {
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

/// Depth of the node that is the home of prefixes of `length`, and their relative length.
#[inline]
fn home(length: u32) -> (u32, u32) {
    let depth = length.saturating_sub(1) / 8;
    (depth, length - 8 * depth)
}

/// Prefixes of one family mapped to values of type `V`.
pub struct Core<K: Addr, V> {
    root: Node<K, V>,
    len_counts: Vec<u32>,
    size: usize,
    nodes: usize,
    leaves: usize,
}

impl<K: Addr, V> Default for Core<K, V> {
    fn default() -> Self {
        Self {
            root: Node::default(),
            len_counts: vec![0; K::BITS as usize + 1],
            size: 0,
            nodes: 1,
            leaves: 0,
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

    /// Bytes held by the index itself (nodes, leaves and value slots; not what values point to).
    pub fn memory(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.nodes * std::mem::size_of::<Node<K, V>>()
            + self.leaves * std::mem::size_of::<Leaf<K, V>>()
            + (self.size - self.leaves) * std::mem::size_of::<V>()
            + self.len_counts.len() * 4
    }

    /// Set the value of `network/length`; returns the value it replaces.
    /// Host bits of `network` beyond `length` are ignored.
    pub fn insert(&mut self, network: K, length: u32, value: V) -> Option<V> {
        let network = network.mask(length);
        let (depth, r) = home(length);
        let mut node = &mut self.root;
        for d in 0..depth {
            let octet = network.octet(d);
            if let Some(leaf) = node.leaf(octet) {
                if leaf.network == network && u32::from(leaf.length) == length {
                    let at = rank(&node.leaf_bits, usize::from(octet));
                    return Some(std::mem::replace(&mut node.leaves[at].value, value));
                }
                // another prefix arrives in the leaf's subtree: push the leaf down a level
                let leaf = node.take_leaf(octet);
                let child = node.child_mut_or_new(octet);
                self.nodes += 1;
                if !Self::settle(child, d + 1, leaf) {
                    self.leaves -= 1;
                }
                node = child;
                continue;
            }
            if node.child(octet).is_none() {
                node.add_leaf(
                    octet,
                    Leaf {
                        network,
                        length: length as u8,
                        value,
                    },
                );
                self.leaves += 1;
                self.size += 1;
                self.len_counts[length as usize] += 1;
                return None;
            }
            node = node.child_mut_or_new(octet);
        }
        let index = prefix_index(network.octet(depth), r);
        let at = rank(&node.prefixes, index);
        if test(&node.prefixes, index) {
            return Some(std::mem::replace(&mut node.values[at], value));
        }
        set(&mut node.prefixes, index);
        slice_insert(&mut node.values, at, value);
        self.size += 1;
        self.len_counts[length as usize] += 1;
        None
    }

    /// Put a leaf pushed down from the parent into `node` (a fresh child, at `depth`);
    /// returns whether it is still a leaf (else it is at home there).
    fn settle(node: &mut Node<K, V>, depth: u32, leaf: Leaf<K, V>) -> bool {
        let (home_depth, r) = home(u32::from(leaf.length));
        if home_depth == depth {
            let index = prefix_index(leaf.network.octet(depth), r);
            set(&mut node.prefixes, index);
            slice_insert(&mut node.values, rank(&node.prefixes, index), leaf.value);
            false
        } else {
            node.add_leaf(leaf.network.octet(depth), leaf);
            true
        }
    }

    /// Delete `network/length`; returns the value it had.
    pub fn remove(&mut self, network: K, length: u32) -> Option<V> {
        let network = network.mask(length);
        let (depth, r) = home(length);
        let mut counts = (0usize, 0isize);
        let old = Self::remove_at(&mut self.root, network, length, 0, depth, r, &mut counts)?;
        self.nodes -= counts.0;
        self.leaves = self
            .leaves
            .checked_add_signed(counts.1)
            .expect("leaf count");
        self.size -= 1;
        self.len_counts[length as usize] -= 1;
        Some(old)
    }

    /// `counts`: (nodes removed, change in the number of leaves).
    fn remove_at(
        node: &mut Node<K, V>,
        network: K,
        length: u32,
        d: u32,
        depth: u32,
        r: u32,
        counts: &mut (usize, isize),
    ) -> Option<V> {
        let octet = network.octet(d);
        if d == depth {
            let index = prefix_index(octet, r);
            if !test(&node.prefixes, index) {
                return None;
            }
            let at = rank(&node.prefixes, index);
            unset(&mut node.prefixes, index);
            return Some(slice_remove(&mut node.values, at));
        }
        let o = usize::from(octet);
        if let Some(leaf) = node.leaf(octet) {
            if leaf.network != network || u32::from(leaf.length) != length {
                return None;
            }
            counts.1 -= 1;
            return Some(node.take_leaf(octet).value);
        }
        if !test(&node.kids, o) {
            return None;
        }
        let at = rank(&node.kids, o);
        let child = &mut node.children[at];
        let old = Self::remove_at(child, network, length, d + 1, depth, r, counts)?;
        if child.is_empty() || child.is_single() {
            let child = slice_remove(&mut node.children, at);
            unset(&mut node.kids, o);
            counts.0 += 1;
            if !child.is_empty() {
                // the one prefix left below: a leaf of this node (it may be one already)
                if child.leaves.is_empty() {
                    counts.1 += 1;
                }
                node.add_leaf(octet, Self::into_leaf(child, network, d + 1));
            }
        }
        Some(old)
    }

    /// The single prefix of `node` (at `depth`, below the first `depth` octets of `path`).
    fn into_leaf(node: Node<K, V>, path: K, depth: u32) -> Leaf<K, V> {
        if let Some(leaf) = node.leaves.into_vec().pop() {
            return leaf;
        }
        let index = bits(&node.prefixes).next().expect("one prefix");
        let r = index_length(index);
        let network = path.mask(8 * depth).or(K::place(index_octet(index), depth));
        Leaf {
            network,
            length: (8 * depth + r) as u8,
            value: node.values.into_vec().pop().expect("one value"),
        }
    }

    /// Value of exactly `network/length`.
    pub fn get(&self, network: K, length: u32) -> Option<&V> {
        let network = network.mask(length);
        let (depth, r) = home(length);
        let mut node = &self.root;
        for d in 0..depth {
            let octet = network.octet(d);
            if let Some(leaf) = node.leaf(octet) {
                let hit = leaf.network == network && u32::from(leaf.length) == length;
                return hit.then_some(&leaf.value);
            }
            node = node.child(octet)?;
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
            out.extend(node.leaves.into_vec().into_iter().map(|l| l.value));
            stack.extend(node.children.into_vec());
        }
        out
    }

    /// `(length, value)` of the longest prefix containing `address`.
    #[inline]
    pub fn lookup(&self, address: K) -> Option<(u32, &V)> {
        let levels = K::BITS / 8;
        let mut path: [&Node<K, V>; MAX_DEPTH] = [&self.root; MAX_DEPTH];
        let mut depth = 0u32;
        let mut node = &self.root;
        while depth + 1 < levels {
            let octet = address.octet(depth);
            match node.child(octet) {
                Some(child) => {
                    depth += 1;
                    path[depth as usize] = child;
                    node = child;
                }
                None => {
                    if let Some(leaf) = node.leaf(octet) {
                        let length = u32::from(leaf.length);
                        if leaf.network.same_prefix(address, length) {
                            return Some((length, &leaf.value));
                        }
                    }
                    break;
                }
            }
        }
        loop {
            let node = path[depth as usize];
            if let Some(index) = node.best(address.octet(depth)) {
                return Some((8 * depth + index_length(index), node.value(index)));
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

    fn walk<'a>(node: &'a Node<K, V>, base: K, depth: u32, out: &mut Vec<(K, u32, &'a V)>) {
        for (index, value) in node.entries() {
            let network = base.or(K::place(index_octet(index), depth));
            out.push((network, 8 * depth + index_length(index), value));
        }
        for leaf in node.leaves.iter() {
            out.push((leaf.network, u32::from(leaf.length), &leaf.value));
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

    /// (nodes, leaves) of a subtree, counted.
    fn count<K: Addr, V>(node: &Node<K, V>) -> (usize, usize) {
        node.children
            .iter()
            .fold((1, node.leaves.len()), |(n, l), c| {
                let (cn, cl) = count(c);
                (n + cn, l + cl)
            })
    }

    #[test]
    fn sparse_ipv6_prefixes_are_leaves() {
        let mut core: Core<u128, u32> = Core::default();
        let net = |i: u128| (0x2001 << 112) | (i << 96);
        for i in 0..1000u128 {
            core.insert(net(i), 64, i as u32);
        }
        // root, 2001::/8's node, 2001::/16's node, four /24 nodes; each /64 is a leaf below
        // those (without leaves: a chain of five nodes per /64)
        assert_eq!((core.nodes(), core.leaves), (7, 1000));
        assert_eq!(core.lookup(net(7) | 5), Some((64, &7)));
        assert_eq!(core.lookup(net(1000)), None);
        // a prefix in a leaf's subtree pushes it down to where their octets part
        core.insert(net(7), 56, 70_000);
        assert_eq!((core.nodes(), core.leaves), (10, 1000));
        assert_eq!(core.lookup(net(7) | 5), Some((64, &7)));
        assert_eq!(core.lookup(net(7) | (1 << 70)), Some((56, &70_000)));
        assert_eq!(core.remove(net(7), 56), Some(70_000));
        assert_eq!((core.nodes(), core.leaves), (7, 1000)); // pulled back up
        for i in 0..1000u128 {
            assert_eq!(core.remove(net(i), 64), Some(i as u32));
        }
        assert_eq!((core.nodes(), core.leaves, core.len()), (1, 0, 0));
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
        assert_eq!(core.nodes, count(&core.root).0, "node count");
        assert_eq!(core.leaves, count(&core.root).1, "leaf count");
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
        assert_eq!((core.len(), core.nodes(), core.leaves), (0, 1, 0));
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
