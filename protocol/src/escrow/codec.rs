//! Bounded binary reader and writer for escrow records: every length is
//! checked before use, so a corrupt store value is an error, never a panic.

use alloc::vec::Vec;

use super::FormatError;

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if self.buf.len() < n {
            return Err(FormatError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A byte-length-prefixed field.
    pub(crate) fn short(&mut self) -> Result<&'a [u8], FormatError> {
        let n = self.u8()?;
        self.bytes(usize::from(n))
    }

    pub(crate) fn finish(self) -> Result<(), FormatError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(FormatError::TrailingBytes)
        }
    }
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Writes a byte-length-prefixed field; callers validate lengths first.
pub(crate) fn put_short(out: &mut Vec<u8>, field: &[u8]) {
    debug_assert!(field.len() <= 255);
    out.push(field.len() as u8);
    out.extend_from_slice(field);
}
