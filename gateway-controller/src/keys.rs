//! Call keys: random, or derived from the signaling session key the
//! controller shares with the calling device. `docs/keys.md` is the
//! normative description, with a test vector.

use cablekey_protocol::callkey::{self, DeriveError};
use cablekey_protocol::secret::SecretBytes;
use zeroize::Zeroizing;

/// Length of a call key K.
pub use cablekey_protocol::callkey::CALL_KEY_LEN;

/// How the controller makes K.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMode {
    /// Fresh bytes from the key source for every call.
    Random,
    /// HKDF from the calling endpoint's session key and the call id.
    Derived,
}

/// Where random key bytes come from: an OS generator in production, a
/// seeded one in tests. Never a process-wide default.
pub trait KeySource {
    fn fill(&mut self, out: &mut [u8]);
}

impl<F: FnMut(&mut [u8])> KeySource for F {
    fn fill(&mut self, out: &mut [u8]) {
        self(out)
    }
}

/// Why a key could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the calling endpoint has no signaling session key")]
    NoSessionKey,
    #[error("a call id is 1 to 255 bytes")]
    BadCallId,
}

pub fn random_key(source: &mut impl KeySource) -> SecretBytes {
    let mut buf = Zeroizing::new([0u8; CALL_KEY_LEN]);
    source.fill(&mut buf[..]);
    // 32 bytes always fit a SecretBytes.
    SecretBytes::new(&buf[..]).unwrap_or_else(|_| unreachable!())
}

/// K from the calling device's session key and the call id: the
/// protocol crate's derivation, the one the CTA firmware runs too.
pub fn derived_key(session: &SecretBytes, call_id: &str) -> Result<SecretBytes, KeyError> {
    callkey::derive(session, call_id).map_err(|e| match e {
        DeriveError::NoSessionKey => KeyError::NoSessionKey,
        DeriveError::BadCallId => KeyError::BadCallId,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frozen vector (protocol::callkey, docs/keys.md) through the wrapper.
    #[test]
    fn derived_key_is_the_protocol_derivation() {
        let session: Vec<u8> = (0u8..32).collect();
        let session = SecretBytes::new(&session).unwrap();
        let k = derived_key(&session, "A3C47F21456789F0").unwrap();
        let hex: String = k.expose().iter().map(|x| format!("{x:02x}")).collect();
        assert_eq!(
            hex,
            "28803f3153158d3ff97405543966404cde3d82fc294c6b034889f05e1039d0cc"
        );
    }

    #[test]
    fn derivation_errors_keep_their_meaning() {
        let s = SecretBytes::new(&[1; 32]).unwrap();
        assert_eq!(derived_key(&s, "").err(), Some(KeyError::BadCallId));
        let empty = SecretBytes::new(&[]).unwrap();
        assert_eq!(derived_key(&empty, "1").err(), Some(KeyError::NoSessionKey));
    }

    #[test]
    fn random_keys_come_from_the_source() {
        let mut n = 0u8;
        let mut src = |out: &mut [u8]| {
            for b in out {
                n = n.wrapping_add(1);
                *b = n;
            }
        };
        let a = random_key(&mut src);
        let b = random_key(&mut src);
        assert_eq!(a.len(), CALL_KEY_LEN);
        assert!(!a.ct_eq(&b));
    }
}
