//! Secret bytes: fixed capacity, zeroized on drop, never printed.

use core::fmt;
use zeroize::Zeroize;

/// Largest secret we carry: an SRTP master key and salt for AES-256 (32 + 14),
/// rounded up.
pub const MAX_SECRET: usize = 64;

/// Key material. `Debug` shows only the length and a short fingerprint that
/// identifies the key without revealing it; there is no `Display`, `Clone`
/// or `PartialEq` (use [`SecretBytes::ct_eq`]).
pub struct SecretBytes {
    buf: [u8; MAX_SECRET],
    len: u8,
}

/// The secret is longer than [`MAX_SECRET`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("secret longer than {MAX_SECRET} bytes")]
pub struct TooLong;

/// Base64 text that is not a secret we can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Base64Error {
    #[error("not valid base64")]
    Invalid,
    #[error("decodes to more than {MAX_SECRET} bytes")]
    TooLong,
}

impl SecretBytes {
    pub fn new(bytes: &[u8]) -> Result<Self, TooLong> {
        let mut s = SecretBytes {
            buf: [0; MAX_SECRET],
            len: 0,
        };
        let dst = s.buf.get_mut(..bytes.len()).ok_or(TooLong)?;
        dst.copy_from_slice(bytes);
        s.len = bytes.len() as u8;
        Ok(s)
    }

    pub fn expose(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Decodes standard base64 (padding optional) straight into a secret,
    /// wiping the scratch buffer.
    pub fn from_base64(text: &str) -> Result<Self, Base64Error> {
        use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
        use base64::engine::DecodePaddingMode;
        use base64::Engine;
        const LENIENT: GeneralPurpose = GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
        );
        if text.len() > MAX_SECRET * 4 / 3 + 4 {
            return Err(Base64Error::TooLong);
        }
        let mut scratch = zeroize::Zeroizing::new([0u8; MAX_SECRET + 3]);
        let n = LENIENT
            .decode_slice(text, &mut scratch[..])
            .map_err(|_| Base64Error::Invalid)?;
        SecretBytes::new(&scratch[..n]).map_err(|_| Base64Error::TooLong)
    }

    /// Constant-time comparison.
    pub fn ct_eq(&self, other: &SecretBytes) -> bool {
        if self.len != other.len {
            return false;
        }
        let diff = self
            .expose()
            .iter()
            .zip(other.expose())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        diff == 0
    }

    /// A short, non-reversible tag naming this key in logs and consoles.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self.expose())
    }

    /// An explicit copy; secrets are not `Clone` so copies are visible in review.
    pub fn duplicate(&self) -> SecretBytes {
        SecretBytes {
            buf: self.buf,
            len: self.len,
        }
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.buf.zeroize();
        self.len = 0;
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({} bytes, {})", self.len, self.fingerprint())
    }
}

/// The first 8 bytes of SHA-256 over a domain-separated input.
///
/// A name for a key in logs, consoles and escrow checks: one-way, and too
/// short to confirm a guess faster than brute force over the key itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 8]);

impl Fingerprint {
    pub fn of(bytes: &[u8]) -> Fingerprint {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(b"cablekey key fingerprint v1\0")
            .chain_update(bytes)
            .finalize();
        let mut fp = [0u8; 8];
        fp.copy_from_slice(&digest[..8]);
        Fingerprint(fp)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fp:")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn debug_never_shows_bytes() {
        let k = SecretBytes::new(&[0xAB; 30]).unwrap();
        let s = format!("{k:?}");
        assert!(s.starts_with("Key(30 bytes, fp:"), "{s}");
        assert!(!s.to_lowercase().contains("abab"), "{s}");
        assert!(!s.contains("171"), "{s}");
    }

    #[test]
    fn too_long_is_refused() {
        assert_eq!(SecretBytes::new(&[0; MAX_SECRET + 1]).err(), Some(TooLong));
    }

    #[test]
    fn ct_eq_compares_content_and_length() {
        let a = SecretBytes::new(b"0123456789").unwrap();
        assert!(a.ct_eq(&SecretBytes::new(b"0123456789").unwrap()));
        assert!(!a.ct_eq(&SecretBytes::new(b"0123456788").unwrap()));
        assert!(!a.ct_eq(&SecretBytes::new(b"012345678").unwrap()));
    }
}
