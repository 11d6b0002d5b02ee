//! The SDES `a=crypto` attribute (RFC 4568) for SRTP.
//!
//! Keys are decoded straight into [`SecretBytes`]; the base64 text is not
//! kept, so `Debug` and serde can only show a fingerprint. `Display` writes
//! the wire form, key included.

use alloc::vec::Vec;
use core::fmt;

use crate::secret::{Base64Error, SecretBytes, MAX_SECRET};
use crate::srtp::{self, SrtpError};

/// Longest crypto-suite name we accept; registered names are under 30.
pub const MAX_SUITE_LEN: usize = 64;
/// Most `inline:` keys in one attribute (or in one `FEC_KEY=`).
pub const MAX_KEYS: usize = 8;
pub const MAX_SESSION_PARAMS: usize = 16;
/// Tags are at most nine digits (RFC 4568 section 9.1).
pub const MAX_TAG: u32 = 999_999_999;

/// Why an `a=crypto` value was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("not `tag suite key-params [session-params]`")]
    Syntax,
    #[error("tag is not 1 to 9 digits")]
    BadTag,
    #[error("crypto-suite is not letters, digits and underscores")]
    BadSuite,
    #[error("crypto-suite name longer than {MAX_SUITE_LEN} characters")]
    SuiteTooLong,
    #[error("more than {MAX_KEYS} keys")]
    TooManyKeys,
    #[error("key method is not `inline:`")]
    BadKeyMethod,
    #[error("key is not base64")]
    BadKey,
    #[error("key and salt longer than {MAX_SECRET} bytes")]
    KeyTooLong,
    #[error("key and salt are {found} bytes, the suite needs {expected}")]
    KeyLength { expected: u8, found: u8 },
    #[error("lifetime is not 2^1..2^48 or a packet count up to 2^48")]
    BadLifetime,
    #[error("MKI is not `value:length` with a length of 1 to 128 bytes")]
    BadMki,
    #[error("several keys need distinct MKIs of one length")]
    MkiMismatch,
    #[error("malformed session parameter")]
    BadSessionParam,
    #[error("more than {MAX_SESSION_PARAMS} session parameters")]
    TooManySessionParams,
}

/// An SRTP crypto-suite. Names compare case-insensitively (they are ABNF
/// literals) and are written in their registered spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Suite<'a> {
    AesCm128HmacSha1_80,
    AesCm128HmacSha1_32,
    /// RFC 6188.
    Aes192CmHmacSha1_80,
    Aes192CmHmacSha1_32,
    Aes256CmHmacSha1_80,
    Aes256CmHmacSha1_32,
    F8_128HmacSha1_80,
    /// RFC 7714.
    AeadAes128Gcm,
    AeadAes256Gcm,
    /// `AEAD_CHACHA20_POLY1305`: cablekey's own suite, not registered with
    /// IANA (`docs/srtp.md`). ChaCha20-Poly1305 in the RFC 7714 AEAD framing
    /// with a 32-byte key and 12-byte salt, for CTAs without AES
    /// instructions. Only cablekey peers offer or accept it.
    AeadChaCha20Poly1305,
    /// Any other well-formed name, as sent; its key length is not checked.
    Other(&'a str),
}

/// Known suites: name, master key bytes, master salt bytes.
const KNOWN: [(Suite<'static>, &str, u8, u8); 10] = [
    (
        Suite::AesCm128HmacSha1_80,
        "AES_CM_128_HMAC_SHA1_80",
        16,
        14,
    ),
    (
        Suite::AesCm128HmacSha1_32,
        "AES_CM_128_HMAC_SHA1_32",
        16,
        14,
    ),
    (
        Suite::Aes192CmHmacSha1_80,
        "AES_192_CM_HMAC_SHA1_80",
        24,
        14,
    ),
    (
        Suite::Aes192CmHmacSha1_32,
        "AES_192_CM_HMAC_SHA1_32",
        24,
        14,
    ),
    (
        Suite::Aes256CmHmacSha1_80,
        "AES_256_CM_HMAC_SHA1_80",
        32,
        14,
    ),
    (
        Suite::Aes256CmHmacSha1_32,
        "AES_256_CM_HMAC_SHA1_32",
        32,
        14,
    ),
    (Suite::F8_128HmacSha1_80, "F8_128_HMAC_SHA1_80", 16, 14),
    (Suite::AeadAes128Gcm, "AEAD_AES_128_GCM", 16, 12),
    (Suite::AeadAes256Gcm, "AEAD_AES_256_GCM", 32, 12),
    (
        Suite::AeadChaCha20Poly1305,
        srtp::Suite::AeadChaCha20Poly1305.name(),
        32,
        12,
    ),
];

impl<'a> Suite<'a> {
    pub fn parse(name: &'a str) -> Result<Suite<'a>, CryptoError> {
        if name.len() > MAX_SUITE_LEN {
            return Err(CryptoError::SuiteTooLong);
        }
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(CryptoError::BadSuite);
        }
        Ok(KNOWN
            .iter()
            .find(|k| k.1.eq_ignore_ascii_case(name))
            .map_or(Suite::Other(name), |k| k.0))
    }

    fn known(&self) -> Option<&'static (Suite<'static>, &'static str, u8, u8)> {
        KNOWN.iter().find(|k| k.0 == *self)
    }

    pub fn name(&self) -> &'a str {
        match (self, self.known()) {
            (Suite::Other(n), _) => n,
            (_, Some(k)) => k.1,
            (_, None) => "",
        }
    }

    /// Master key length in bytes, if the suite is known.
    pub fn key_len(&self) -> Option<usize> {
        self.known().map(|k| usize::from(k.2))
    }

    /// Master salt length in bytes, if the suite is known.
    pub fn salt_len(&self) -> Option<usize> {
        self.known().map(|k| usize::from(k.3))
    }

    /// Length of the `inline:` key||salt, if the suite is known.
    pub fn key_salt_len(&self) -> Option<usize> {
        self.known().map(|k| usize::from(k.2) + usize::from(k.3))
    }
}

/// The suites SRTP implements; a name we know but do not implement is
/// [`SrtpError::UnsupportedSuite`], any other [`SrtpError::UnknownSuite`].
impl TryFrom<Suite<'_>> for srtp::Suite {
    type Error = SrtpError;

    fn try_from(s: Suite<'_>) -> Result<srtp::Suite, SrtpError> {
        match s {
            Suite::AesCm128HmacSha1_80 => Ok(srtp::Suite::AesCm128HmacSha1_80),
            Suite::AeadAes128Gcm => Ok(srtp::Suite::AeadAes128Gcm),
            Suite::AeadAes256Gcm => Ok(srtp::Suite::AeadAes256Gcm),
            Suite::AeadChaCha20Poly1305 => Ok(srtp::Suite::AeadChaCha20Poly1305),
            // Registered names we do not implement are `UnsupportedSuite`.
            Suite::Other(n) => Err(srtp::Suite::from_name(n)
                .err()
                .unwrap_or(SrtpError::UnknownSuite)),
            _ => Err(SrtpError::UnsupportedSuite),
        }
    }
}

impl From<srtp::Suite> for Suite<'static> {
    fn from(s: srtp::Suite) -> Suite<'static> {
        match s {
            srtp::Suite::AesCm128HmacSha1_80 => Suite::AesCm128HmacSha1_80,
            srtp::Suite::AeadAes128Gcm => Suite::AeadAes128Gcm,
            srtp::Suite::AeadAes256Gcm => Suite::AeadAes256Gcm,
            srtp::Suite::AeadChaCha20Poly1305 => Suite::AeadChaCha20Poly1305,
        }
    }
}

impl fmt::Display for Suite<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Suite<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// How many packets a master key may protect. Kept in the form sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum Lifetime {
    /// `2^N`.
    PowerOfTwo(u8),
    /// A decimal packet count.
    Packets(u64),
}

impl Lifetime {
    /// SRTP allows at most 2^48 packets per master key (RFC 3711).
    pub const MAX_EXPONENT: u8 = 48;

    pub fn packets(self) -> u64 {
        match self {
            Lifetime::PowerOfTwo(n) => 1u64 << n.min(Self::MAX_EXPONENT),
            Lifetime::Packets(n) => n,
        }
    }

    fn parse(s: &str) -> Result<Lifetime, CryptoError> {
        let bad = CryptoError::BadLifetime;
        match s.strip_prefix("2^") {
            Some(exp) => {
                let n = digits(exp, 2).ok_or(bad)?;
                if !(1..=u64::from(Self::MAX_EXPONENT)).contains(&n) {
                    return Err(bad);
                }
                Ok(Lifetime::PowerOfTwo(n as u8))
            }
            None => {
                let n = digits(s, 15).ok_or(bad)?;
                if n == 0 || n > 1u64 << Self::MAX_EXPONENT {
                    return Err(bad);
                }
                Ok(Lifetime::Packets(n))
            }
        }
    }
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lifetime::PowerOfTwo(n) => write!(f, "2^{n}"),
            Lifetime::Packets(n) => write!(f, "{n}"),
        }
    }
}

/// A master key identifier: its value and its length on the wire in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Mki {
    pub value: u64,
    pub length: u8,
}

impl Mki {
    pub const MAX_LENGTH: u8 = 128;

    fn parse(s: &str) -> Result<Mki, CryptoError> {
        let bad = CryptoError::BadMki;
        let (value, length) = s.split_once(':').ok_or(bad)?;
        let value = digits(value, 20).ok_or(bad)?;
        let length = digits(length, 3).ok_or(bad)?;
        if !(1..=u64::from(Self::MAX_LENGTH)).contains(&length) {
            return Err(bad);
        }
        // The value must fit in `length` bytes.
        if length < 8 && value >> (8 * length) != 0 {
            return Err(bad);
        }
        Ok(Mki {
            value,
            length: length as u8,
        })
    }
}

impl fmt::Display for Mki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.value, self.length)
    }
}

/// One `inline:key||salt[|lifetime][|mki:length]` key.
#[derive(Debug)]
pub struct KeyParam {
    /// Master key then master salt, as decoded.
    pub key: SecretBytes,
    pub lifetime: Option<Lifetime>,
    pub mki: Option<Mki>,
}

impl KeyParam {
    pub fn new(key: SecretBytes) -> KeyParam {
        KeyParam {
            key,
            lifetime: None,
            mki: None,
        }
    }

    pub fn with_lifetime(mut self, lifetime: Lifetime) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    pub fn with_mki(mut self, mki: Mki) -> Self {
        self.mki = Some(mki);
        self
    }

    /// The master key and master salt, if `suite` is known and the length fits.
    pub fn split(&self, suite: Suite<'_>) -> Option<(&[u8], &[u8])> {
        let (k, s) = (suite.key_len()?, suite.salt_len()?);
        let bytes = self.key.expose();
        (bytes.len() == k + s).then(|| bytes.split_at(k))
    }

    /// An explicit copy (keys are not `Clone`).
    pub fn duplicate(&self) -> KeyParam {
        KeyParam {
            key: self.key.duplicate(),
            lifetime: self.lifetime,
            mki: self.mki,
        }
    }

    fn parse(s: &str, suite: Suite<'_>) -> Result<KeyParam, CryptoError> {
        let (method, info) = s.split_once(':').ok_or(CryptoError::BadKeyMethod)?;
        if !method.eq_ignore_ascii_case("inline") {
            return Err(CryptoError::BadKeyMethod);
        }
        let mut parts = info.split('|');
        let text = parts.next().unwrap_or_default();
        let key = decode_key(text, suite)?;
        let (mut lifetime, mut mki) = (None, None);
        for (i, part) in parts.enumerate() {
            if i == 2 {
                return Err(CryptoError::Syntax);
            }
            // An MKI has a colon; a lifetime never does, and comes first.
            if part.contains(':') {
                if mki.is_some() {
                    return Err(CryptoError::BadMki);
                }
                mki = Some(Mki::parse(part)?);
            } else {
                if lifetime.is_some() || mki.is_some() {
                    return Err(CryptoError::BadLifetime);
                }
                lifetime = Some(Lifetime::parse(part)?);
            }
        }
        Ok(KeyParam { key, lifetime, mki })
    }
}

/// Constant-time on the key bytes.
impl PartialEq for KeyParam {
    fn eq(&self, other: &KeyParam) -> bool {
        let same_key = self.key.ct_eq(&other.key);
        same_key & (self.lifetime == other.lifetime) & (self.mki == other.mki)
    }
}

impl Eq for KeyParam {}

#[cfg(feature = "serde")]
impl serde::Serialize for KeyParam {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("KeyParam", 4)?;
        st.serialize_field("key_len", &self.key.len())?;
        let fp = alloc::format!("{}", self.key.fingerprint());
        st.serialize_field("key_fingerprint", &fp)?;
        st.serialize_field("lifetime", &self.lifetime)?;
        st.serialize_field("mki", &self.mki)?;
        st.end()
    }
}

impl fmt::Display for KeyParam {
    /// The wire form, key included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("inline:")?;
        write_base64(f, &self.key)?;
        if let Some(l) = self.lifetime {
            write!(f, "|{l}")?;
        }
        if let Some(m) = self.mki {
            write!(f, "|{m}")?;
        }
        Ok(())
    }
}

/// Writes the key as padded base64 through a scratch buffer that is wiped.
fn write_base64(f: &mut fmt::Formatter<'_>, key: &SecretBytes) -> fmt::Result {
    use base64::Engine;
    let mut buf = zeroize::Zeroizing::new([0u8; MAX_SECRET.div_ceil(3) * 4]);
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(key.expose(), &mut buf[..])
        .map_err(|_| fmt::Error)?;
    f.write_str(core::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
}

fn decode_key(text: &str, suite: Suite<'_>) -> Result<SecretBytes, CryptoError> {
    if text.is_empty() {
        return Err(CryptoError::BadKey);
    }
    let key = SecretBytes::from_base64(text).map_err(|e| match e {
        Base64Error::Invalid => CryptoError::BadKey,
        Base64Error::TooLong => CryptoError::KeyTooLong,
    })?;
    if key.is_empty() {
        return Err(CryptoError::BadKey);
    }
    match suite.key_salt_len() {
        Some(n) if key.len() != n => Err(CryptoError::KeyLength {
            expected: n as u8,
            found: key.len() as u8,
        }),
        _ => Ok(key),
    }
}

/// `key-params`: one or more keys separated by `;`. Several keys must
/// carry distinct MKIs of one length (RFC 4568 section 6.1), or a
/// receiver could not tell which key protects a packet.
fn parse_keys(s: &str, suite: Suite<'_>) -> Result<Vec<KeyParam>, CryptoError> {
    let mut keys: Vec<KeyParam> = Vec::new();
    for (i, k) in s.split(';').enumerate() {
        if i == MAX_KEYS {
            return Err(CryptoError::TooManyKeys);
        }
        let key = KeyParam::parse(k, suite)?;
        if !keys.is_empty() {
            let mki = key.mki.ok_or(CryptoError::MkiMismatch)?;
            let clash = keys.iter().any(|other| match other.mki {
                Some(o) => o.length != mki.length || o.value == mki.value,
                None => true,
            });
            if clash {
                return Err(CryptoError::MkiMismatch);
            }
        }
        keys.push(key);
    }
    Ok(keys)
}

fn write_keys(f: &mut fmt::Formatter<'_>, keys: &[KeyParam]) -> fmt::Result {
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            f.write_str(";")?;
        }
        write!(f, "{k}")?;
    }
    Ok(())
}

/// `FEC_ORDER=` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum FecOrder {
    /// `FEC_SRTP`: FEC applied before SRTP processing on send.
    FecSrtp,
    /// `SRTP_FEC`.
    SrtpFec,
}

/// An SRTP session parameter (RFC 4568 section 6.3).
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum SessionParam<'a> {
    /// `KDR=n`: key derivation rate 2^n, n from 0 to 24.
    Kdr(u8),
    UnencryptedSrtp,
    UnencryptedSrtcp,
    UnauthenticatedSrtp,
    FecOrder(FecOrder),
    /// `FEC_KEY=`: keys for the FEC stream; secret like the main keys.
    FecKey(Vec<KeyParam>),
    /// `WSH=n`: replay window size, at least 64.
    Wsh(u32),
    /// Any other parameter, as sent.
    Other(&'a str),
}

impl<'a> SessionParam<'a> {
    fn parse(word: &'a str, suite: Suite<'_>) -> Result<SessionParam<'a>, CryptoError> {
        let bad = CryptoError::BadSessionParam;
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (word, None),
        };
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        let flag = |p: SessionParam<'a>| if value.is_none() { Ok(p) } else { Err(bad) };
        if is("UNENCRYPTED_SRTP") {
            flag(SessionParam::UnencryptedSrtp)
        } else if is("UNENCRYPTED_SRTCP") {
            flag(SessionParam::UnencryptedSrtcp)
        } else if is("UNAUTHENTICATED_SRTP") {
            flag(SessionParam::UnauthenticatedSrtp)
        } else if is("KDR") {
            let n = value.and_then(|v| digits(v, 2)).ok_or(bad)?;
            if n > 24 {
                return Err(bad);
            }
            Ok(SessionParam::Kdr(n as u8))
        } else if is("WSH") {
            let n = value.and_then(|v| digits(v, 10)).ok_or(bad)?;
            let n = u32::try_from(n).map_err(|_| bad)?;
            if n < 64 {
                return Err(bad);
            }
            Ok(SessionParam::Wsh(n))
        } else if is("FEC_ORDER") {
            match value {
                Some(v) if v.eq_ignore_ascii_case("FEC_SRTP") => {
                    Ok(SessionParam::FecOrder(FecOrder::FecSrtp))
                }
                Some(v) if v.eq_ignore_ascii_case("SRTP_FEC") => {
                    Ok(SessionParam::FecOrder(FecOrder::SrtpFec))
                }
                _ => Err(bad),
            }
        } else if is("FEC_KEY") {
            Ok(SessionParam::FecKey(parse_keys(value.ok_or(bad)?, suite)?))
        } else if word.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(SessionParam::Other(word))
        } else {
            Err(bad)
        }
    }
}

impl fmt::Display for SessionParam<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionParam::Kdr(n) => write!(f, "KDR={n}"),
            SessionParam::UnencryptedSrtp => f.write_str("UNENCRYPTED_SRTP"),
            SessionParam::UnencryptedSrtcp => f.write_str("UNENCRYPTED_SRTCP"),
            SessionParam::UnauthenticatedSrtp => f.write_str("UNAUTHENTICATED_SRTP"),
            SessionParam::FecOrder(FecOrder::FecSrtp) => f.write_str("FEC_ORDER=FEC_SRTP"),
            SessionParam::FecOrder(FecOrder::SrtpFec) => f.write_str("FEC_ORDER=SRTP_FEC"),
            SessionParam::FecKey(keys) => {
                f.write_str("FEC_KEY=")?;
                write_keys(f, keys)
            }
            SessionParam::Wsh(n) => write!(f, "WSH={n}"),
            SessionParam::Other(w) => f.write_str(w),
        }
    }
}

/// One `a=crypto:` attribute value.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CryptoAttr<'a> {
    pub tag: u32,
    pub suite: Suite<'a>,
    /// At least one key.
    pub keys: Vec<KeyParam>,
    pub session_params: Vec<SessionParam<'a>>,
}

impl<'a> CryptoAttr<'a> {
    /// One key for `suite`, checked against the suite's key||salt length.
    pub fn new(tag: u32, suite: Suite<'a>, key: SecretBytes) -> Result<Self, CryptoError> {
        if tag > MAX_TAG {
            return Err(CryptoError::BadTag);
        }
        match suite.key_salt_len() {
            Some(n) if key.len() != n => Err(CryptoError::KeyLength {
                expected: n as u8,
                found: key.len() as u8,
            }),
            _ if key.is_empty() => Err(CryptoError::BadKey),
            _ => Ok(CryptoAttr {
                tag,
                suite,
                keys: alloc::vec![KeyParam::new(key)],
                session_params: Vec::new(),
            }),
        }
    }

    pub fn with_session_param(mut self, p: SessionParam<'a>) -> Self {
        self.session_params.push(p);
        self
    }

    /// Parses the value after `a=crypto:`.
    pub fn parse(value: &'a str) -> Result<CryptoAttr<'a>, CryptoError> {
        let mut words = value.split([' ', '\t']).filter(|w| !w.is_empty());
        let tag = words.next().ok_or(CryptoError::Syntax)?;
        let tag = digits(tag, 9).ok_or(CryptoError::BadTag)? as u32;
        let suite = Suite::parse(words.next().ok_or(CryptoError::Syntax)?)?;
        let keys = parse_keys(words.next().ok_or(CryptoError::Syntax)?, suite)?;
        let mut session_params = Vec::new();
        for w in words {
            if session_params.len() == MAX_SESSION_PARAMS {
                return Err(CryptoError::TooManySessionParams);
            }
            session_params.push(SessionParam::parse(w, suite)?);
        }
        Ok(CryptoAttr {
            tag,
            suite,
            keys,
            session_params,
        })
    }

    /// The first key (every parsed attribute has one).
    pub fn key(&self) -> Option<&KeyParam> {
        self.keys.first()
    }

    pub fn has(&self, p: &SessionParam<'_>) -> bool {
        self.session_params.iter().any(|q| q == p)
    }
}

impl fmt::Display for CryptoAttr<'_> {
    /// The value after `a=crypto:`, keys included: never log it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.tag, self.suite)?;
        write_keys(f, &self.keys)?;
        self.session_params
            .iter()
            .try_for_each(|p| write!(f, " {p}"))
    }
}

/// 1 to `max` ASCII digits as a number; `None` on overflow.
pub(super) fn digits(s: &str, max: usize) -> Option<u64> {
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| {
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}
