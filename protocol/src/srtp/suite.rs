use super::SrtpError;

/// The SRTP protection suites cablekey speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    /// RFC 3711 / RFC 4568 `AES_CM_128_HMAC_SHA1_80`, for older CTAs.
    AesCm128HmacSha1_80,
    /// RFC 7714 `AEAD_AES_128_GCM` (16-byte tag).
    AeadAes128Gcm,
    /// RFC 7714 `AEAD_AES_256_GCM` (16-byte tag).
    AeadAes256Gcm,
    /// ChaCha20-Poly1305 in RFC 7714 framing, for CPUs without AES
    /// instructions. Not an IANA-registered suite: see `docs/srtp.md`.
    AeadChaCha20Poly1305,
}

/// Suite names from the SRTP registries that we recognise and refuse.
const UNSUPPORTED: &[&str] = &[
    "AES_CM_128_HMAC_SHA1_32",
    "AES_192_CM_HMAC_SHA1_80",
    "AES_192_CM_HMAC_SHA1_32",
    "AES_256_CM_HMAC_SHA1_80",
    "AES_256_CM_HMAC_SHA1_32",
    "F8_128_HMAC_SHA1_80",
    "F8_128_HMAC_SHA1_32",
    "NULL_HMAC_SHA1_80",
    "NULL_HMAC_SHA1_32",
    "AEAD_AES_128_GCM_8",
    "AEAD_AES_256_GCM_8",
    "AEAD_AES_128_CCM",
    "AEAD_AES_256_CCM",
    "SEED_CTR_128_HMAC_SHA1_80",
    "SEED_128_CCM_80",
    "SEED_128_GCM_96",
];

impl Suite {
    pub const ALL: [Suite; 4] = [
        Suite::AesCm128HmacSha1_80,
        Suite::AeadAes128Gcm,
        Suite::AeadAes256Gcm,
        Suite::AeadChaCha20Poly1305,
    ];

    /// The name used in SDP `a=crypto` and in the per-call derivation.
    pub const fn name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AeadAes128Gcm => "AEAD_AES_128_GCM",
            Suite::AeadAes256Gcm => "AEAD_AES_256_GCM",
            Suite::AeadChaCha20Poly1305 => "AEAD_CHACHA20_POLY1305",
        }
    }

    /// Parses a suite name; a known suite we do not implement is
    /// [`SrtpError::UnsupportedSuite`], anything else [`SrtpError::UnknownSuite`].
    pub fn from_name(name: &str) -> Result<Suite, SrtpError> {
        if let Some(s) = Suite::ALL.iter().find(|s| s.name() == name) {
            return Ok(*s);
        }
        if UNSUPPORTED.contains(&name) {
            Err(SrtpError::UnsupportedSuite)
        } else {
            Err(SrtpError::UnknownSuite)
        }
    }

    pub const fn master_key_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 | Suite::AeadAes128Gcm => 16,
            Suite::AeadAes256Gcm | Suite::AeadChaCha20Poly1305 => 32,
        }
    }

    pub const fn master_salt_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => 14,
            _ => 12,
        }
    }

    /// Session encryption key length (equal to the master key length).
    pub const fn session_key_len(self) -> usize {
        self.master_key_len()
    }

    /// Session salt length (equal to the master salt length).
    pub const fn session_salt_len(self) -> usize {
        self.master_salt_len()
    }

    /// Authentication tag length, SRTP and SRTCP alike.
    pub const fn tag_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => 10,
            _ => 16,
        }
    }

    pub const fn is_aead(self) -> bool {
        !matches!(self, Suite::AesCm128HmacSha1_80)
    }
}

impl core::fmt::Display for Suite {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}
