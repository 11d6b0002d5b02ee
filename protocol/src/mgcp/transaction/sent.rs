//! Our commands by transaction id. Ids are handed out in sequence and
//! forgotten in about that order (a fixed history after the answer), so
//! the remembered ones fill a window of the sequence: a ring of slots
//! indexed by distance from the oldest, O(1) a lookup where a tree of a
//! call agent's hundreds of thousands took a dozen comparisons and cache
//! misses. One that outlives the window (kept by endless provisional
//! responses) moves to a small ordered map, so the ring stays bounded.

use alloc::collections::{BTreeMap, VecDeque};

use super::TransactionId;

pub(super) struct Sent<T> {
    /// The id of `ring[0]`.
    first: TransactionId,
    ring: VecDeque<Option<T>>,
    /// Entries older than the ring's window.
    old: BTreeMap<TransactionId, T>,
    len: usize,
    /// Most slots the ring spans.
    span: usize,
}

impl<T> Sent<T> {
    /// A ring spanning at most `span` ids (at least one).
    pub fn new(span: usize) -> Self {
        Sent {
            first: TransactionId(1),
            ring: VecDeque::new(),
            old: BTreeMap::new(),
            len: 0,
            span: span.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// How many ids after the window's first `tid` is (an older one is
    /// nearly the whole id space away).
    fn distance(&self, tid: TransactionId) -> usize {
        let (t, f) = (tid.0, self.first.0);
        let d = if t >= f {
            t - f
        } else {
            t + TransactionId::MAX - f
        };
        d as usize
    }

    /// Where `tid` is in the ring's window, if it is.
    fn slot(&self, tid: TransactionId) -> Option<usize> {
        let i = self.distance(tid);
        (i < self.ring.len()).then_some(i)
    }

    // An id in `old` can fall inside the window again once it has moved
    // on: an empty slot is looked up there too.

    pub fn get(&self, tid: TransactionId) -> Option<&T> {
        match self.slot(tid).and_then(|i| self.ring[i].as_ref()) {
            Some(v) => Some(v),
            None => self.old.get(&tid),
        }
    }

    pub fn get_mut(&mut self, tid: TransactionId) -> Option<&mut T> {
        match self.slot(tid) {
            Some(i) if self.ring[i].is_some() => self.ring[i].as_mut(),
            _ => self.old.get_mut(&tid),
        }
    }

    pub fn contains(&self, tid: TransactionId) -> bool {
        self.get(tid).is_some()
    }

    /// Adds `tid`, not remembered (ids in sequence go to the ring's end).
    pub fn insert(&mut self, tid: TransactionId, value: T) {
        if self.ring.is_empty() {
            self.first = tid;
        }
        self.len += 1;
        let (end, at) = (self.ring.len(), self.distance(tid));
        if at < end {
            self.ring[at] = Some(value);
        } else if at - end < self.span {
            self.ring.extend((end..at).map(|_| None));
            self.ring.push_back(Some(value));
        } else {
            // Behind the window, or far ahead of it.
            self.old.insert(tid, value);
            return;
        }
        while self.ring.len() > self.span {
            if let Some(Some(v)) = self.ring.pop_front() {
                self.old.insert(self.first, v);
            }
            self.first = self.first.next();
        }
        self.trim();
    }

    pub fn remove(&mut self, tid: TransactionId) -> Option<T> {
        let v = match self.slot(tid) {
            Some(i) if self.ring[i].is_some() => self.ring[i].take(),
            _ => self.old.remove(&tid),
        }?;
        self.len -= 1;
        self.trim();
        Some(v)
    }

    /// Drops forgotten slots from the front, so the window starts at a
    /// remembered id.
    fn trim(&mut self) {
        while let Some(None) = self.ring.front() {
            self.ring.pop_front();
            self.first = self.first.next();
        }
        if self.ring.is_empty() && self.ring.capacity() > 64 {
            self.ring = VecDeque::new();
        }
    }

    /// Every entry with its id: those past the window, then the window's
    /// in the order they were sent.
    pub fn iter(&self) -> impl Iterator<Item = (TransactionId, &T)> {
        let mut tid = self.first;
        let ring = self.ring.iter().filter_map(move |slot| {
            let here = tid;
            tid = tid.next();
            slot.as_ref().map(|v| (here, v))
        });
        self.old.iter().map(|(&t, v)| (t, v)).chain(ring)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (TransactionId, &mut T)> {
        let mut tid = self.first;
        let ring = self.ring.iter_mut().filter_map(move |slot| {
            let here = tid;
            tid = tid.next();
            slot.as_mut().map(|v| (here, v))
        });
        self.old.iter_mut().map(|(&t, v)| (t, v)).chain(ring)
    }
}

#[cfg(test)]
mod tests {
    use alloc::collections::btree_map::Entry;
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;

    use super::*;

    fn ids(s: &Sent<u32>) -> Vec<u32> {
        s.iter().map(|(t, _)| t.0).collect()
    }

    #[test]
    fn ids_in_sequence_live_in_the_ring_and_wrap() {
        let mut s = Sent::new(8);
        let mut tid = TransactionId(TransactionId::MAX - 2);
        for v in 0..5 {
            s.insert(tid, v);
            tid = tid.next();
        }
        assert_eq!(ids(&s), [999_999_997, 999_999_998, 999_999_999, 1, 2]);
        assert_eq!(s.get(TransactionId(1)), Some(&3));
        assert_eq!(s.remove(TransactionId(999_999_998)), Some(1));
        assert_eq!(s.remove(TransactionId(999_999_997)), Some(0));
        // The window now starts at the oldest remembered id.
        assert_eq!(s.first, TransactionId(999_999_999));
        assert_eq!((s.len(), s.ring.len()), (3, 3));
        assert!(s.old.is_empty());
        assert_eq!(s.remove(TransactionId(7)), None);
    }

    #[test]
    fn one_that_outlives_the_window_moves_aside() {
        let mut s = Sent::new(4);
        for t in 1..=10 {
            s.insert(TransactionId(t), t);
            if t > 1 {
                // Everything but id 1 is forgotten at once.
                s.remove(TransactionId(t));
            }
        }
        assert_eq!(s.ring.len(), 0);
        assert_eq!(s.old.len(), 1);
        assert_eq!(s.get(TransactionId(1)), Some(&1));
        assert_eq!(s.len(), 1);
        s.insert(TransactionId(11), 11);
        *s.get_mut(TransactionId(1)).unwrap() = 100;
        assert_eq!(
            s.iter().map(|(t, v)| (t.0, *v)).collect::<Vec<_>>(),
            [(1, 100), (11, 11)]
        );
    }

    /// Random inserts (mostly in sequence) and removals against a plain map.
    #[test]
    fn behaves_like_a_map() {
        let mut s = Sent::new(16);
        let mut model = BTreeMap::new();
        let mut next = TransactionId(TransactionId::MAX - 40);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 10 {
                0..=4 => {
                    let tid = if x % 97 == 0 {
                        TransactionId(1 + (x >> 40) as u32 % 1000)
                    } else {
                        next
                    };
                    if let Entry::Vacant(e) = model.entry(tid.0) {
                        s.insert(tid, tid.0);
                        e.insert(tid.0);
                    }
                    next = next.next();
                }
                _ => {
                    let keys: Vec<u32> = model.keys().copied().collect();
                    if let Some(&k) = keys.get((x >> 20) as usize % keys.len().max(1)) {
                        assert_eq!(s.remove(TransactionId(k)), model.remove(&k));
                    }
                }
            }
            assert_eq!(s.len(), model.len());
            assert!(s.ring.len() <= 16);
        }
        let mut got: Vec<u32> = ids(&s);
        got.sort_unstable();
        assert_eq!(got, model.keys().copied().collect::<Vec<_>>());
        for k in model.keys() {
            assert_eq!(s.get(TransactionId(*k)), Some(k));
        }
    }
}
