//! Per-call key derivation: one call key K, a master key and salt per
//! direction, so the two directions never share a keystream.
//!
//! ```text
//! PRK  = HKDF-Extract(salt = "cablekey srtp v1", IKM = K)          (SHA-256)
//! info = "cablekey srtp master" || 0x00
//!        || u8(len(suite))     || suite name      e.g. "AEAD_AES_128_GCM"
//!        || u8(len(direction)) || direction       "caller-to-callee" | "callee-to-caller"
//!        || u8(len(call id))   || call id         the MGCP CallId bytes, 1..=255
//! OKM  = HKDF-Expand(PRK, info, master_key_len + master_salt_len)
//! master key = OKM[..master_key_len], master salt = the rest
//! ```
//! `docs/srtp.md` has the same with a test vector.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{SrtpContext, SrtpError, Suite};
use crate::secret::SecretBytes;

/// Call key length.
pub const CALL_KEY_LEN: usize = 32;

const EXTRACT_SALT: &[u8] = b"cablekey srtp v1";
const INFO_LABEL: &[u8] = b"cablekey srtp master\0";

/// Which way media flows, named from the call's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    CallerToCallee,
    CalleeToCaller,
}

impl Direction {
    pub const fn label(self) -> &'static str {
        match self {
            Direction::CallerToCallee => "caller-to-callee",
            Direction::CalleeToCaller => "callee-to-caller",
        }
    }

    pub const fn reverse(self) -> Direction {
        match self {
            Direction::CallerToCallee => Direction::CalleeToCaller,
            Direction::CalleeToCaller => Direction::CallerToCallee,
        }
    }
}

/// One direction's master key and salt. No `Clone`; `Debug` shows the
/// suite and the key's fingerprint only.
pub struct MasterKey {
    pub suite: Suite,
    pub key: SecretBytes,
    pub salt: SecretBytes,
}

impl core::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MasterKey({}, {})", self.suite, self.key.fingerprint())
    }
}

impl MasterKey {
    /// The SRTP context for this direction (send or receive).
    pub fn context(&self) -> Result<SrtpContext, SrtpError> {
        SrtpContext::new(self.suite, self.key.expose(), self.salt.expose())
    }
}

/// Derives the master key and salt of one direction of a call.
pub fn master_key(
    call_key: &SecretBytes,
    call_id: &[u8],
    suite: Suite,
    direction: Direction,
) -> Result<MasterKey, SrtpError> {
    if call_key.len() != CALL_KEY_LEN {
        return Err(SrtpError::BadKeyLength);
    }
    let id_len = u8::try_from(call_id.len()).map_err(|_| SrtpError::BadCallId)?;
    if id_len == 0 {
        return Err(SrtpError::BadCallId);
    }
    let suite_name = suite.name().as_bytes();
    let dir = direction.label().as_bytes();
    // Names are short constants; the casts cannot truncate.
    let info: [&[u8]; 7] = [
        INFO_LABEL,
        &[suite_name.len() as u8],
        suite_name,
        &[dir.len() as u8],
        dir,
        &[id_len],
        call_id,
    ];
    let (kl, sl) = (suite.master_key_len(), suite.master_salt_len());
    let mut okm = Zeroizing::new([0u8; 64]);
    Hkdf::<Sha256>::new(Some(EXTRACT_SALT), call_key.expose())
        .expand_multi_info(&info, &mut okm[..kl + sl])
        .map_err(|_| SrtpError::BadKeyLength)?;
    Ok(MasterKey {
        suite,
        key: SecretBytes::new(&okm[..kl]).map_err(|_| SrtpError::BadKeyLength)?,
        salt: SecretBytes::new(&okm[kl..kl + sl]).map_err(|_| SrtpError::BadKeyLength)?,
    })
}
