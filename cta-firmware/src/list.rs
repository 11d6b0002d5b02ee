//! A list with a fixed capacity and no heap, for per-line buffers whose size
//! must not depend on what the network or the subscriber does.

#[derive(Clone, Copy, Debug)]
pub struct List<T: Copy + Default, const N: usize> {
    items: [T; N],
    len: usize,
}

impl<T: Copy + Default, const N: usize> Default for List<T, N> {
    fn default() -> Self {
        List {
            items: [T::default(); N],
            len: 0,
        }
    }
}

impl<T: Copy + Default, const N: usize> List<T, N> {
    /// Appends `item`; `false` (and nothing stored) when full.
    pub fn push(&mut self, item: T) -> bool {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = item;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    pub fn as_slice(&self) -> &[T] {
        &self.items[..self.len]
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len == N
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_capacity() {
        let mut l: List<u8, 2> = List::default();
        assert!(l.push(1) && l.push(2) && !l.push(3));
        assert_eq!(l.as_slice(), [1, 2]);
        assert!(l.is_full());
        l.clear();
        assert!(l.is_empty());
    }
}
