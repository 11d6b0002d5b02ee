//! The derived call key: K from the signaling session key a device shares
//! with its controller, and the call id. One implementation for both ends
//! (the controller escrows K, the CTA computes it itself); `docs/keys.md`
//! is the normative description, with the test vector frozen below.
//!
//! ```text
//! PRK  = HKDF-Extract(salt = "cablekey call key v1", IKM = session key)
//! info = "cablekey call key" 0x00 || u8(len(call id)) || call id
//! K    = HKDF-Expand(PRK, info, 32)
//! ```

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::secret::SecretBytes;

/// Length of a call key K.
pub const CALL_KEY_LEN: usize = 32;

/// The LocalConnectionOptions item that asks a device to derive K itself
/// (`x-key:derived`, with no `k:`): a vendor `x-` item, so other codecs and
/// dissectors read it as an ordinary extension.
pub const DERIVED_ITEM: &str = "x-key";
pub const DERIVED_VALUE: &str = "derived";

const EXTRACT_SALT: &[u8] = b"cablekey call key v1";
const INFO_LABEL: &[u8] = b"cablekey call key\0";

/// Why K could not be derived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeriveError {
    #[error("no signaling session key")]
    NoSessionKey,
    #[error("a call id is 1 to 255 bytes")]
    BadCallId,
}

/// K for `call_id` (the MGCP CallId as sent in `C:`) under `session`.
pub fn derive(session: &SecretBytes, call_id: &str) -> Result<SecretBytes, DeriveError> {
    let id = call_id.as_bytes();
    let len = u8::try_from(id.len()).map_err(|_| DeriveError::BadCallId)?;
    if len == 0 {
        return Err(DeriveError::BadCallId);
    }
    if session.is_empty() {
        return Err(DeriveError::NoSessionKey);
    }
    let hk = Hkdf::<Sha256>::new(Some(EXTRACT_SALT), session.expose());
    let mut okm = Zeroizing::new([0u8; CALL_KEY_LEN]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit: never fails.
    hk.expand_multi_info(&[INFO_LABEL, &[len], id], &mut okm[..])
        .map_err(|_| DeriveError::BadCallId)?;
    SecretBytes::new(&okm[..]).map_err(|_| DeriveError::BadCallId)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec::Vec;
    use core::fmt::Write;

    fn hex(b: &[u8]) -> String {
        b.iter().fold(String::new(), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
    }

    /// Frozen; computed independently with Python's hmac/hashlib (docs/keys.md).
    const VECTOR: &str = "28803f3153158d3ff97405543966404cde3d82fc294c6b034889f05e1039d0cc";

    #[test]
    fn derived_key_vector() {
        let session: Vec<u8> = (0u8..32).collect();
        let session = SecretBytes::new(&session).unwrap();
        let k = derive(&session, "A3C47F21456789F0").unwrap();
        assert_eq!(hex(k.expose()), VECTOR);
    }

    #[test]
    fn keys_differ_by_call_and_session() {
        let s1 = SecretBytes::new(&[1; 32]).unwrap();
        let s2 = SecretBytes::new(&[2; 32]).unwrap();
        let a = derive(&s1, "1").unwrap();
        assert!(!a.ct_eq(&derive(&s1, "2").unwrap()));
        assert!(!a.ct_eq(&derive(&s2, "1").unwrap()));
        assert!(a.ct_eq(&derive(&s1, "1").unwrap()));
    }

    #[test]
    fn bad_inputs_are_refused() {
        let s = SecretBytes::new(&[1; 32]).unwrap();
        assert_eq!(derive(&s, "").err(), Some(DeriveError::BadCallId));
        let long: String = core::iter::repeat_n('x', 256).collect();
        assert_eq!(derive(&s, &long).err(), Some(DeriveError::BadCallId));
        assert!(derive(&s, &long[..255]).is_ok());
        let empty = SecretBytes::new(&[]).unwrap();
        assert_eq!(derive(&empty, "1").err(), Some(DeriveError::NoSessionKey));
    }
}
