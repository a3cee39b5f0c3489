//! Tests of the trie against a brute-force longest-prefix match.

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
