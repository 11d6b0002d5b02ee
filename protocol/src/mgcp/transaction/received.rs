//! Commands we received, by peer and then by transaction id. A call agent
//! remembers hundreds of thousands of them for the 30 s history, from a
//! few thousand peers: one tree keyed by address and id compared 36-byte
//! keys over a dozen cache misses a lookup. Per peer, a lookup is a short
//! walk of the (few, hot) peers and then of 4-byte ids, and a `K:` range is
//! a range of one peer's tree.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use core::net::SocketAddr;
use core::ops::RangeInclusive;

use super::TransactionId;

pub(super) struct Received<T> {
    /// Values boxed: a peer with one command (a flood from spoofed
    /// addresses, say) then costs a small tree node, not one sized for
    /// eleven values.
    peers: BTreeMap<SocketAddr, BTreeMap<TransactionId, Box<T>>>,
    len: usize,
}

impl<T> Default for Received<T> {
    fn default() -> Self {
        Received {
            peers: BTreeMap::new(),
            len: 0,
        }
    }
}

impl<T> Received<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn get(&self, from: SocketAddr, tid: TransactionId) -> Option<&T> {
        self.peers.get(&from)?.get(&tid).map(|v| &**v)
    }

    pub fn get_mut(&mut self, from: SocketAddr, tid: TransactionId) -> Option<&mut T> {
        self.peers.get_mut(&from)?.get_mut(&tid).map(|v| &mut **v)
    }

    /// Adds or replaces `from`'s `tid`.
    pub fn insert(&mut self, from: SocketAddr, tid: TransactionId, value: T) {
        let ids = self.peers.entry(from).or_default();
        if ids.insert(tid, Box::new(value)).is_none() {
            self.len += 1;
        }
    }

    /// Removes `from`'s `tid`, and the peer once it has none left.
    pub fn remove(&mut self, from: SocketAddr, tid: TransactionId) -> Option<T> {
        let ids = self.peers.get_mut(&from)?;
        let value = ids.remove(&tid)?;
        self.len -= 1;
        if ids.is_empty() {
            self.peers.remove(&from);
        }
        Some(*value)
    }

    /// `from`'s entries with ids in `ids`, in id order.
    pub fn range_mut(
        &mut self,
        from: SocketAddr,
        ids: RangeInclusive<TransactionId>,
    ) -> impl Iterator<Item = &mut T> {
        let peer = self
            .peers
            .get_mut(&from)
            .filter(|_| ids.start() <= ids.end());
        peer.into_iter()
            .flat_map(move |m| m.range_mut(ids.clone()).map(|(_, v)| &mut **v))
    }

    /// Every entry, by peer and then by id.
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, TransactionId, &T)> {
        let by_peer = self.peers.iter();
        by_peer.flat_map(|(&from, ids)| ids.iter().map(move |(&tid, v)| (from, tid, &**v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, i], 2427))
    }

    #[test]
    fn a_peer_goes_with_its_last_entry() {
        let mut r = Received::default();
        r.insert(addr(1), TransactionId(7), 'a');
        r.insert(addr(1), TransactionId(7), 'b');
        r.insert(addr(2), TransactionId(7), 'c');
        assert_eq!(r.len(), 2);
        assert_eq!(r.get(addr(1), TransactionId(7)), Some(&'b'));
        assert_eq!(r.remove(addr(1), TransactionId(7)), Some('b'));
        assert_eq!(r.remove(addr(1), TransactionId(7)), None);
        assert!(!r.peers.contains_key(&addr(1)));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn a_backwards_range_is_empty() {
        let mut r = Received::default();
        r.insert(addr(1), TransactionId(5), ());
        let ids = TransactionId(9)..=TransactionId(1);
        assert_eq!(r.range_mut(addr(1), ids).count(), 0);
    }

    proptest! {
        /// Random operations give what one map keyed by (peer, id) gives.
        #[test]
        fn behaves_like_one_map(ops in proptest::collection::vec((0u8..4, 1u8..4, 1u32..40, 1u32..40), 1..400)) {
            let mut r = Received::default();
            let mut m = BTreeMap::new();
            for (op, peer, a, b) in ops {
                let (from, tid) = (addr(peer), TransactionId(a));
                match op {
                    0 | 1 => {
                        r.insert(from, tid, b);
                        m.insert((from, tid), b);
                    }
                    2 => prop_assert_eq!(r.remove(from, tid), m.remove(&(from, tid))),
                    _ => {
                        let ids = TransactionId(a)..=TransactionId(b);
                        for v in r.range_mut(from, ids) {
                            *v += 1000;
                        }
                        if a <= b {
                            let range = (from, TransactionId(a))..=(from, TransactionId(b));
                            for (_, v) in m.range_mut(range) {
                                *v += 1000;
                            }
                        }
                    }
                }
                prop_assert_eq!(r.len(), m.len());
                prop_assert_eq!(r.get(from, tid), m.get(&(from, tid)));
            }
            let all: Vec<_> = r.iter().map(|(f, t, v)| ((f, t), *v)).collect();
            let want: Vec<_> = m.into_iter().collect();
            prop_assert_eq!(all, want);
        }
    }
}
