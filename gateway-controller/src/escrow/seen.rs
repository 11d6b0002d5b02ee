//! Which call ids the store may hold: a scalable Bloom filter, so that the
//! duplicate check of a new call id (almost always new) costs a few hash
//! probes instead of a sled lookup (measured at 8 to 37 µs under load, on
//! the commit path). "Maybe" is answered by sled; "no" is certain.
//!
//! About 10 bits per call id (1.25 bytes), 7 probes, under 1 % false
//! "maybe". When a filter is full a twice larger one is added, so the
//! filter never needs rebuilding.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

const BITS_PER_ID: usize = 10;
const PROBES: u64 = 7;
const FIRST_CAPACITY: usize = 1 << 20;

struct Filter {
    bits: Vec<u64>,
    /// Number of bits, a multiple of 64.
    m: u64,
    count: usize,
    capacity: usize,
}

impl Filter {
    fn new(capacity: usize) -> Filter {
        let words = (capacity * BITS_PER_ID).div_ceil(64).max(1);
        Filter {
            bits: vec![0; words],
            m: words as u64 * 64,
            count: 0,
            capacity,
        }
    }

    /// Double hashing: probe i is bit `h1 + i * h2` (h2 odd).
    fn probe(&self, h: u64, i: u64) -> (usize, u64) {
        let (h1, h2) = (h & 0xFFFF_FFFF, (h >> 32) | 1);
        let bit = h1.wrapping_add(i.wrapping_mul(h2)) % self.m;
        ((bit / 64) as usize, 1 << (bit % 64))
    }

    fn insert(&mut self, h: u64) {
        for i in 0..PROBES {
            let (word, mask) = self.probe(h, i);
            self.bits[word] |= mask;
        }
        self.count += 1;
    }

    fn may_contain(&self, h: u64) -> bool {
        (0..PROBES).all(|i| {
            let (word, mask) = self.probe(h, i);
            self.bits[word] & mask != 0
        })
    }
}

pub(crate) struct Seen {
    /// Keyed per process: ids chosen by others cannot aim at collisions.
    hasher: RandomState,
    filters: Vec<Filter>,
}

impl Seen {
    /// A filter sized for `expected` ids (it grows beyond that).
    pub(crate) fn with_capacity(expected: usize) -> Seen {
        Seen {
            hasher: RandomState::new(),
            filters: vec![Filter::new(expected.max(FIRST_CAPACITY))],
        }
    }

    pub(crate) fn insert(&mut self, call_id: &[u8]) {
        let h = self.hasher.hash_one(call_id);
        let last = self.filters.last().map_or(0, |f| f.capacity);
        if self.filters.last().is_none_or(|f| f.count >= f.capacity) {
            self.filters.push(Filter::new(last.max(FIRST_CAPACITY) * 2));
        }
        if let Some(f) = self.filters.last_mut() {
            f.insert(h);
        }
    }

    /// False only if `call_id` was never inserted.
    pub(crate) fn may_contain(&self, call_id: &[u8]) -> bool {
        let h = self.hasher.hash_one(call_id);
        self.filters.iter().any(|f| f.may_contain(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut seen = Seen::with_capacity(0);
        let n = 3 * FIRST_CAPACITY as u64; // forces a second, larger filter
        for i in 0..n {
            seen.insert(format!("in{i}").as_bytes());
        }
        assert!(seen.filters.len() >= 2);
        assert!((0..n).all(|i| seen.may_contain(format!("in{i}").as_bytes())));
        let fp = (0..100_000u64)
            .filter(|i| seen.may_contain(format!("out{i}").as_bytes()))
            .count();
        assert!(fp < 3_000, "{fp} false positives in 100,000");
    }
}
