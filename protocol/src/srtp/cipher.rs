//! One direction's session keys for SRTP or SRTCP, and the transforms.
//!
//! Callers pass the packet already split: `aad` (authenticated, clear),
//! `body` (encrypted in place), and where the tag goes. Layout, MKI and
//! index handling live in the context.

use aes::cipher::{InnerIvInit, KeyInit, StreamCipher};
use aes::Aes128Enc;
use aes_gcm::aead::AeadInOut;
use aes_gcm::AesGcm;
use chacha20poly1305::ChaCha20Poly1305;
use ctr::Ctr128BE;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::kdf::{derive, Label};
use super::{SrtpError, Suite};

/// AES-GCM with encrypt-only key schedules (GCM never runs AES backwards).
type Aes128Gcm = AesGcm<Aes128Enc, U12>;
type Aes256Gcm = AesGcm<aes::Aes256Enc, U12>;

/// HMAC-SHA1 tag length of `AES_CM_128_HMAC_SHA1_80`.
pub(crate) const HMAC_TAG: usize = 10;

/// A session salt; wiped on drop like the keys it goes with.
pub(crate) struct Salt<const N: usize>([u8; N]);

impl<const N: usize> Drop for Salt<N> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Session keys of one of SRTP or SRTCP for one direction. No `Debug`
/// or `Clone`: every member wipes itself on drop.
#[allow(clippy::large_enum_variant)] // one per context, long-lived: no box
pub(crate) enum SessionCipher {
    AesCmHmac {
        aes: Aes128Enc,
        salt: Salt<14>,
        /// Keyed once; cloned per packet (the inner/outer midstates).
        mac: Hmac<Sha1>,
    },
    Aes128Gcm {
        aead: Aes128Gcm,
        salt: Salt<12>,
    },
    Aes256Gcm {
        aead: Aes256Gcm,
        salt: Salt<12>,
    },
    ChaCha {
        aead: ChaCha20Poly1305,
        salt: Salt<12>,
    },
}

/// Whether the context builds ciphers for SRTP or SRTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layer {
    Rtp,
    Rtcp,
}

impl SessionCipher {
    /// Derives session keys from the master key and salt (RFC 3711 §4.3).
    pub(crate) fn derive(
        suite: Suite,
        master_key: &[u8],
        master_salt: &[u8],
        layer: Layer,
    ) -> Result<SessionCipher, SrtpError> {
        if master_key.len() != suite.master_key_len()
            || master_salt.len() != suite.master_salt_len()
        {
            return Err(SrtpError::BadKeyLength);
        }
        let (kl, al, sl) = match layer {
            Layer::Rtp => (Label::RtpKey, Label::RtpAuth, Label::RtpSalt),
            Layer::Rtcp => (Label::RtcpKey, Label::RtcpAuth, Label::RtcpSalt),
        };
        let mut key = Zeroizing::new([0u8; 32]);
        let mut auth = Zeroizing::new([0u8; 20]);
        let mut salt = Zeroizing::new([0u8; 14]);
        let key = &mut key[..suite.session_key_len()];
        let salt = &mut salt[..suite.session_salt_len()];
        derive(master_key, master_salt, kl, key)?;
        derive(master_key, master_salt, sl, salt)?;
        if !suite.is_aead() {
            derive(master_key, master_salt, al, &mut auth[..])?;
        }
        SessionCipher::from_session_keys(suite, key, salt, &auth[..])
    }

    /// Builds the cipher from session keys directly (test vectors, or keys
    /// derived elsewhere). `auth` is ignored for AEAD suites.
    pub(crate) fn from_session_keys(
        suite: Suite,
        key: &[u8],
        salt: &[u8],
        auth: &[u8],
    ) -> Result<SessionCipher, SrtpError> {
        let bad = |_| SrtpError::BadKeyLength;
        if key.len() != suite.session_key_len() || salt.len() != suite.session_salt_len() {
            return Err(SrtpError::BadKeyLength);
        }
        Ok(match suite {
            Suite::AesCm128HmacSha1_80 => {
                if auth.len() != 20 {
                    return Err(SrtpError::BadKeyLength);
                }
                SessionCipher::AesCmHmac {
                    aes: Aes128Enc::new_from_slice(key).map_err(bad)?,
                    salt: Salt(salt.try_into().map_err(|_| SrtpError::BadKeyLength)?),
                    mac: <Hmac<Sha1> as KeyInit>::new_from_slice(auth).map_err(bad)?,
                }
            }
            Suite::AeadAes128Gcm => SessionCipher::Aes128Gcm {
                aead: Aes128Gcm::new_from_slice(key).map_err(bad)?,
                salt: Salt(salt12(salt)?),
            },
            Suite::AeadAes256Gcm => SessionCipher::Aes256Gcm {
                aead: Aes256Gcm::new_from_slice(key).map_err(bad)?,
                salt: Salt(salt12(salt)?),
            },
            Suite::AeadChaCha20Poly1305 => SessionCipher::ChaCha {
                aead: ChaCha20Poly1305::new_from_slice(key).map_err(bad)?,
                salt: Salt(salt12(salt)?),
            },
        })
    }

    /// Encrypts `body` in place and writes the tag to `tag`.
    ///
    /// `index` names the packet: the 48-bit SRTP index or the 31-bit SRTCP
    /// index. HMAC covers `aad || body || mac_suffix` (the suffix is the
    /// ROC for SRTP, the E-flag and index word for SRTCP); AEAD suites take
    /// everything authenticated in `aad` and ignore `mac_suffix`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn seal(
        &self,
        ssrc: u32,
        index: u64,
        aad: &[u8],
        body: &mut [u8],
        mac_suffix: &[u8],
        tag: &mut [u8],
    ) -> Result<(), SrtpError> {
        match self {
            SessionCipher::AesCmHmac { aes, salt, mac } => {
                ctr_apply(aes, &salt.0, ssrc, index, body);
                let t = hmac_tag(mac, aad, body, mac_suffix);
                tag.copy_from_slice(&t[..HMAC_TAG]);
                Ok(())
            }
            SessionCipher::Aes128Gcm { aead, salt } => {
                seal_aead(aead, aead_nonce(salt, ssrc, index), aad, body, tag)
            }
            SessionCipher::Aes256Gcm { aead, salt } => {
                seal_aead(aead, aead_nonce(salt, ssrc, index), aad, body, tag)
            }
            SessionCipher::ChaCha { aead, salt } => {
                seal_aead(aead, aead_nonce(salt, ssrc, index), aad, body, tag)
            }
        }
    }

    /// Checks `tag` in constant time, then (if `decrypt`) decrypts `body`
    /// in place. Without `decrypt`, `body` must be empty for AEAD suites
    /// (everything is in `aad`). On failure `body` is left as it was.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn open(
        &self,
        ssrc: u32,
        index: u64,
        aad: &[u8],
        body: &mut [u8],
        mac_suffix: &[u8],
        tag: &[u8],
        decrypt: bool,
    ) -> Result<(), SrtpError> {
        match self {
            SessionCipher::AesCmHmac { aes, salt, mac } => {
                let t = hmac_tag(mac, aad, body, mac_suffix);
                if !bool::from(t[..HMAC_TAG].ct_eq(tag)) {
                    return Err(SrtpError::AuthFailed);
                }
                if decrypt {
                    ctr_apply(aes, &salt.0, ssrc, index, body);
                }
                Ok(())
            }
            SessionCipher::Aes128Gcm { aead, salt } => {
                open_aead(aead, aead_nonce(salt, ssrc, index), aad, body, tag)
            }
            SessionCipher::Aes256Gcm { aead, salt } => {
                open_aead(aead, aead_nonce(salt, ssrc, index), aad, body, tag)
            }
            SessionCipher::ChaCha { aead, salt } => {
                open_aead(aead, aead_nonce(salt, ssrc, index), aad, body, tag)
            }
        }
    }
}

fn salt12(salt: &[u8]) -> Result<[u8; 12], SrtpError> {
    salt.try_into().map_err(|_| SrtpError::BadKeyLength)
}

/// AES-CM (RFC 3711 §4.1.1): IV = (salt·2^16) ⊕ (SSRC·2^64) ⊕ (index·2^16).
fn ctr_apply(aes: &Aes128Enc, salt: &[u8; 14], ssrc: u32, index: u64, body: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
        *b ^= s;
    }
    for (b, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
        *b ^= s;
    }
    let core = ctr::CtrCore::<&Aes128Enc, ctr::flavors::Ctr128BE>::inner_iv_init(aes, &iv.into());
    let mut ctr = Ctr128BE::from_core(core);
    ctr.apply_keystream(body);
    iv.zeroize();
}

/// HMAC-SHA1 over the authenticated portion and the suffix.
fn hmac_tag(mac: &Hmac<Sha1>, aad: &[u8], body: &[u8], suffix: &[u8]) -> [u8; 20] {
    let mut m = mac.clone();
    m.update(aad);
    m.update(body);
    m.update(suffix);
    m.finalize().into_bytes().into()
}

/// RFC 7714 §8.1 and §9.1: the nonce is `00 00 | SSRC | 48-bit index`
/// XOR the salt. For SRTP the index is ROC || SEQ; for SRTCP it is
/// `00 00 | 0 | 31-bit SRTCP index`, the same bytes since the index < 2^31.
fn aead_nonce(salt: &Salt<12>, ssrc: u32, index: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[6..12].copy_from_slice(&index.to_be_bytes()[2..]);
    for (b, s) in iv.iter_mut().zip(salt.0) {
        *b ^= s;
    }
    iv
}

type U12 = aes_gcm::aead::consts::U12;
type U16 = aes_gcm::aead::consts::U16;

fn seal_aead<A: AeadInOut<TagSize = U16, NonceSize = U12>>(
    aead: &A,
    nonce: [u8; 12],
    aad: &[u8],
    body: &mut [u8],
    tag: &mut [u8],
) -> Result<(), SrtpError> {
    // Fails only past the AEAD's length limits (GiB); the context caps
    // packets at 64 KiB long before that.
    let t = aead
        .encrypt_inout_detached(&nonce.into(), aad, body.into())
        .map_err(|_| SrtpError::TooLong)?;
    tag.copy_from_slice(&t);
    Ok(())
}

fn open_aead<A: AeadInOut<TagSize = U16, NonceSize = U12>>(
    aead: &A,
    nonce: [u8; 12],
    aad: &[u8],
    body: &mut [u8],
    tag: &[u8],
) -> Result<(), SrtpError> {
    let tag: [u8; 16] = tag.try_into().map_err(|_| SrtpError::AuthFailed)?;
    aead.decrypt_inout_detached(&nonce.into(), aad, body.into(), &tag.into())
        .map_err(|_| SrtpError::AuthFailed)
}
