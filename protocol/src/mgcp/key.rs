//! The `k:` / `k=` encryption key of LocalConnectionOptions and SDP.

use core::fmt;

use super::text::key;
use crate::secret::{Base64Error, Fingerprint, SecretBytes};

/// The `k:` encryption key (RFC 3435 section 3.2.2.10, after RFC 2327's `k=`).
/// The text is secret: `Debug` and serde show only the method and a fingerprint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum EncryptionKey<'a> {
    Clear(&'a str),
    Base64(&'a str),
    Uri(&'a str),
    /// `k:prompt` (no key material).
    Prompt,
}

/// A `k:` value that does not decode to key bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key is not valid base64")]
    BadBase64,
    #[error("key is longer than a key may be")]
    TooLong,
    #[error("key method carries no key bytes")]
    NoBytes,
}

impl<'a> EncryptionKey<'a> {
    /// The `method:key` forms of RFC 4566 section 5.12, shared by MGCP's
    /// `k:` and SDP's `k=`.
    pub(crate) fn parse(v: &'a str) -> Option<EncryptionKey<'a>> {
        const CLEAR: u64 = key("clear");
        const BASE64: u64 = key("base64");
        const URI: u64 = key("uri");
        const PROMPT: u64 = key("prompt");
        // The usual form, in lower case: one comparison.
        if let Some(text) = v.strip_prefix("base64:") {
            return Some(EncryptionKey::Base64(text));
        }
        // Every method name is at most 6 bytes: look for the colon in the
        // first 7, folding the method into its lookup key on the way.
        let b = v.as_bytes();
        let mut method = 0u64;
        for (i, &c) in b.iter().take(7).enumerate() {
            if c == b':' {
                let text = v.get(i + 1..)?;
                // The length too: a NUL byte adds nothing to the key.
                return match (i, method) {
                    (5, CLEAR) => Some(EncryptionKey::Clear(text)),
                    (6, BASE64) => Some(EncryptionKey::Base64(text)),
                    (3, URI) => Some(EncryptionKey::Uri(text)),
                    _ => None,
                };
            }
            method |= u64::from(c.to_ascii_lowercase()) << (8 * i);
        }
        (b.len() == 6 && method == PROMPT).then_some(EncryptionKey::Prompt)
    }

    pub fn method(&self) -> &'static str {
        match self {
            EncryptionKey::Clear(_) => "clear",
            EncryptionKey::Base64(_) => "base64",
            EncryptionKey::Uri(_) => "uri",
            EncryptionKey::Prompt => "prompt",
        }
    }

    pub(crate) fn text(&self) -> &'a str {
        match self {
            EncryptionKey::Clear(k) | EncryptionKey::Base64(k) | EncryptionKey::Uri(k) => k,
            EncryptionKey::Prompt => "",
        }
    }

    /// The key bytes for `clear:` and `base64:` keys.
    pub fn decode(&self) -> Result<SecretBytes, KeyError> {
        match self {
            EncryptionKey::Clear(k) => {
                SecretBytes::new(k.as_bytes()).map_err(|_| KeyError::TooLong)
            }
            EncryptionKey::Base64(k) => SecretBytes::from_base64(k).map_err(|e| match e {
                Base64Error::TooLong => KeyError::TooLong,
                Base64Error::Invalid => KeyError::BadBase64,
            }),
            EncryptionKey::Uri(_) | EncryptionKey::Prompt => Err(KeyError::NoBytes),
        }
    }

    /// Names the key text without revealing it.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self.text().as_bytes())
    }
}

impl fmt::Debug for EncryptionKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncryptionKey::Prompt => f.write_str("EncryptionKey(prompt)"),
            k => write!(f, "EncryptionKey({}, {})", k.method(), k.fingerprint()),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for EncryptionKey<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("EncryptionKey", 2)?;
        st.serialize_field("method", self.method())?;
        let fp = alloc::format!("{}", self.fingerprint());
        st.serialize_field("fingerprint", &fp)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    /// The plain reading of RFC 4566's `method:key`.
    fn reference(v: &str) -> Option<EncryptionKey<'_>> {
        if v.eq_ignore_ascii_case("prompt") {
            return Some(EncryptionKey::Prompt);
        }
        let (method, key) = v.split_once(':')?;
        let is = |m: &str| method.eq_ignore_ascii_case(m);
        if is("clear") {
            Some(EncryptionKey::Clear(key))
        } else if is("base64") {
            Some(EncryptionKey::Base64(key))
        } else if is("uri") {
            Some(EncryptionKey::Uri(key))
        } else {
            None
        }
    }

    #[test]
    fn key_methods_read_as_the_rfc_says() {
        let methods = [
            "",
            "clear",
            "CLEAR",
            "Clear",
            "clear\0",
            "clea",
            "base64",
            "BASE64",
            "Base64",
            "base6",
            "base644",
            "uri",
            "URI",
            "ur",
            "prompt",
            "PROMPT",
            "promp",
            "promptx",
            "x",
            "\u{e9}",
            "cl\u{e9}ar",
        ];
        for m in methods {
            for rest in ["", ":", ":abc", ":a:b", "::", ":\u{e9}"] {
                let v = format!("{m}{rest}");
                assert_eq!(EncryptionKey::parse(&v), reference(&v), "{v:?}");
            }
        }
    }
}
