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
//! Arrays grow by size classes (see `node::class`), not one element per insert:
//! reallocating an array on every insert left the heap fragmented (a full table's trie took
//! twice its size in RSS), while size classes reuse freed blocks and leave at most 25% spare.

pub use crate::node::Addr;
use crate::node::{
    bits, home, index_length, index_octet, prefix_index, rank, set, slice_insert, slice_remove,
    test, unset, Leaf, Node,
};

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
    fn into_leaf(mut node: Node<K, V>, path: K, depth: u32) -> Leaf<K, V> {
        if let Some(leaf) = node.leaves.pop() {
            return leaf;
        }
        let index = bits(&node.prefixes).next().expect("one prefix");
        let r = index_length(index);
        let network = path.mask(8 * depth).or(K::place(index_octet(index), depth));
        Leaf {
            network,
            length: (8 * depth + r) as u8,
            value: node.values.pop().expect("one value"),
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

    #[cfg(test)]
    /// Every value, the table left empty.
    pub fn into_values(self) -> Vec<V> {
        let mut out = Vec::with_capacity(self.size);
        let mut stack = vec![self.root];
        while let Some(node) = stack.pop() {
            out.extend(node.values);
            out.extend(node.leaves.into_iter().map(|l| l.value));
            stack.extend(node.children);
        }
        out
    }

    #[cfg(test)]
    /// `(length, value)` of the longest prefix containing `address`.
    #[inline]
    pub fn lookup(&self, address: K) -> Option<(u32, &V)> {
        self.lookup_by(address, |_| true)
    }

    /// `(length, value)` of the longest prefix containing `address` whose value `ok` accepts
    /// (a table shared by several owners, each asking for the longest prefix it has).
    #[inline]
    pub fn lookup_by(&self, address: K, mut ok: impl FnMut(&V) -> bool) -> Option<(u32, &V)> {
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
                        if leaf.network.same_prefix(address, length) && ok(&leaf.value) {
                            return Some((length, &leaf.value));
                        }
                    }
                    break;
                }
            }
        }
        loop {
            let node = path[depth as usize];
            if let Some(index) = node.best_by(address.octet(depth), &mut ok) {
                return Some((8 * depth + index_length(index), node.value(index)));
            }
            if depth == 0 {
                return None;
            }
            depth -= 1;
        }
    }

    #[cfg(test)]
    /// Prefix lengths present, longest first.
    pub fn lengths(&self) -> Vec<u32> {
        (0..=K::BITS)
            .rev()
            .filter(|&n| self.len_counts[n as usize] != 0)
            .collect()
    }

    #[cfg(test)]
    /// Every `(network, length, value)` in address order, shorter prefixes before the longer
    /// prefixes they contain (network, then length, ascending).
    pub fn sorted_items(&self) -> Vec<(K, u32, &V)> {
        let mut out = Vec::with_capacity(self.size);
        Self::walk(&self.root, K::zero(), 0, &mut out);
        out.sort_unstable_by_key(|e| (e.0, e.1));
        out
    }

    #[cfg(test)]
    /// Every `(network, length, value)`, grouped by length (shortest first).
    pub fn items(&self) -> Vec<(K, u32, &V)> {
        let mut out = Vec::with_capacity(self.size);
        Self::walk(&self.root, K::zero(), 0, &mut out);
        out.sort_by_key(|e| e.1);
        out
    }

    /// Every `(network, length, value)`, in no particular order.
    pub fn entries(&self) -> Vec<(K, u32, &V)> {
        let mut out = Vec::with_capacity(self.size);
        Self::walk(&self.root, K::zero(), 0, &mut out);
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
#[path = "core_tests.rs"]
mod tests;
