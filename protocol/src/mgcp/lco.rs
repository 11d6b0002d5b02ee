//! LocalConnectionOptions (RFC 3435 section 3.2.2.10) with the PacketCable
//! NCS security (`sc-rtp`, `sc-rtcp`) and electronic-surveillance
//! (`es-ccd`, `es-cci`) options.

use alloc::vec::Vec;
use core::fmt;

use super::text::{find_byte, skip_ws, split_byte, trim_ws, word_key};
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
        if v.eq_ignore_ascii_case("prompt") {
            return Some(EncryptionKey::Prompt);
        }
        let (method, key) = split_byte(v, b':')?;
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

    pub fn method(&self) -> &'static str {
        match self {
            EncryptionKey::Clear(_) => "clear",
            EncryptionKey::Base64(_) => "base64",
            EncryptionKey::Uri(_) => "uri",
            EncryptionKey::Prompt => "prompt",
        }
    }

    fn text(&self) -> &'a str {
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

/// One LocalConnectionOptions item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum LcoItem<'a> {
    /// `p:` packetization period in ms, a value or a range (`20`, `10-30`).
    PacketizationPeriod(&'a str),
    /// `a:` compression algorithms, `;`-separated alternatives.
    Compression(&'a str),
    /// `b:` bandwidth in kbit/s, a value or range.
    Bandwidth(&'a str),
    /// `e:on|off` echo cancellation.
    EchoCancellation(bool),
    /// `gc:` gain control, `auto` or a number.
    GainControl(&'a str),
    /// `s:on|off` silence suppression.
    SilenceSuppression(bool),
    /// `t:` type of service, two hex digits.
    TypeOfService(&'a str),
    /// `r:` resource reservation.
    ResourceReservation(&'a str),
    /// `k:` encryption key.
    EncryptionKey(EncryptionKey<'a>),
    /// `nt:` type of network (`IN`, `ATM`, `LOCAL`).
    TypeOfNetwork(&'a str),
    /// `sc-rtp:` NCS RTP security: ciphersuites offered (`62/51`).
    RtpSecurity(&'a str),
    /// `sc-rtcp:` NCS RTCP security ciphersuites.
    RtcpSecurity(&'a str),
    /// `es-ccd:` where copies of the call content go (NCS electronic surveillance).
    SurveillanceDestination(&'a str),
    /// `es-cci:` the call-content identifier that tags each copy.
    SurveillanceId(&'a str),
    /// Any other item (vendor `x-` items, package items), name and value as sent.
    Other { name: &'a str, value: &'a str },
}

/// Why LocalConnectionOptions were refused; each maps to its RFC 3435 code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LcoError {
    /// Not `name:value` items (541).
    Syntax,
    /// A value the option does not take, such as `e:maybe` (532).
    Value,
    /// The same option twice (524).
    Duplicate,
}

/// Parsed LocalConnectionOptions, in the order sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct LocalConnectionOptions<'a> {
    pub items: Vec<LcoItem<'a>>,
}

impl<'a> LocalConnectionOptions<'a> {
    pub const MAX_ITEMS: usize = 32;

    pub fn parse(s: &'a str) -> Result<Self, LcoError> {
        let mut items: Vec<LcoItem<'a>> = Vec::new();
        let b = s.as_bytes();
        let mut i = skip_ws(b, 0);
        if i == b.len() {
            return Ok(LocalConnectionOptions { items });
        }
        items.reserve(8);
        // One bit per known option, for the duplicate check.
        let mut seen = 0u32;
        loop {
            // One pass over each byte: the name (visible, folded into its
            // lookup key as it goes), its colon, then the value up to a comma.
            let name_start = i;
            let mut key = 0u64;
            while let Some(&c) = b.get(i) {
                if !c.is_ascii_graphic() || c == b':' || c == b',' {
                    break;
                }
                if i - name_start < 8 {
                    key |= u64::from(c.to_ascii_lowercase()) << (8 * (i - name_start));
                }
                i += 1;
            }
            let name_end = i;
            i = skip_ws(b, i);
            // Anything but a colon here is a malformed item (a name with white
            // space or control bytes in it, or no colon before the comma).
            if name_end == name_start || b.get(i) != Some(&b':') {
                return Err(LcoError::Syntax);
            }
            if items.len() == Self::MAX_ITEMS {
                return Err(LcoError::Syntax);
            }
            let value_start = i + 1;
            let end = find_byte(&b[value_start..], b',').map_or(b.len(), |n| value_start + n);
            // Every cut is next to an ASCII byte, so on a char boundary.
            let name = &s[name_start..name_end];
            let value = trim_ws(&s[value_start..end]);
            let key = if name_end - name_start > 8 { 0 } else { key };
            let (bit, item) = LcoItem::parse(key, name, value)?;
            let dup = if bit == 0 {
                items.iter().any(|i| i.name().eq_ignore_ascii_case(name))
            } else {
                seen & bit != 0
            };
            if dup {
                return Err(LcoError::Duplicate);
            }
            seen |= bit;
            items.push(item);
            if end == b.len() {
                return Ok(LocalConnectionOptions { items });
            }
            i = skip_ws(b, end + 1);
        }
    }

    pub fn encryption_key(&self) -> Option<&EncryptionKey<'a>> {
        self.items.iter().find_map(|i| match i {
            LcoItem::EncryptionKey(k) => Some(k),
            _ => None,
        })
    }

    pub fn find(&self, name: &str) -> Option<&LcoItem<'a>> {
        self.items
            .iter()
            .find(|i| i.name().eq_ignore_ascii_case(name))
    }
}

fn on_off(v: &str) -> Result<bool, LcoError> {
    if v.eq_ignore_ascii_case("on") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("off") {
        Ok(false)
    } else {
        Err(LcoError::Value)
    }
}

impl<'a> LcoItem<'a> {
    /// The item and its bit for the duplicate check (0 for `Other`).
    /// `key` is the name's [`word_key`].
    fn parse(key: u64, name: &'a str, value: &'a str) -> Result<(u32, LcoItem<'a>), LcoError> {
        const fn k(s: &str) -> u64 {
            word_key(s.as_bytes())
        }
        const P: u64 = k("p");
        const A: u64 = k("a");
        const B: u64 = k("b");
        const E: u64 = k("e");
        const GC: u64 = k("gc");
        const S: u64 = k("s");
        const T: u64 = k("t");
        const R: u64 = k("r");
        const K: u64 = k("k");
        const NT: u64 = k("nt");
        const SC_RTP: u64 = k("sc-rtp");
        const SC_RTCP: u64 = k("sc-rtcp");
        const ES_CCD: u64 = k("es-ccd");
        const ES_CCI: u64 = k("es-cci");
        // Text options need a value; the constructor is chosen per arm so
        // it is inlined rather than called through a pointer.
        let text = |n: u32, item: fn(&'a str) -> LcoItem<'a>| {
            if value.is_empty() {
                Err(LcoError::Value)
            } else {
                Ok((1 << n, item(value)))
            }
        };
        match key {
            P => text(0, LcoItem::PacketizationPeriod),
            A => text(1, LcoItem::Compression),
            B => text(2, LcoItem::Bandwidth),
            E => Ok((1 << 3, LcoItem::EchoCancellation(on_off(value)?))),
            GC => text(4, LcoItem::GainControl),
            S => Ok((1 << 5, LcoItem::SilenceSuppression(on_off(value)?))),
            T => text(6, LcoItem::TypeOfService),
            R => text(7, LcoItem::ResourceReservation),
            K => {
                let key = EncryptionKey::parse(value).ok_or(LcoError::Value)?;
                Ok((1 << 8, LcoItem::EncryptionKey(key)))
            }
            NT => text(9, LcoItem::TypeOfNetwork),
            SC_RTP => text(10, LcoItem::RtpSecurity),
            SC_RTCP => text(11, LcoItem::RtcpSecurity),
            ES_CCD => text(12, LcoItem::SurveillanceDestination),
            ES_CCI => text(13, LcoItem::SurveillanceId),
            _ => Ok((0, LcoItem::Other { name, value })),
        }
    }

    pub fn name(&self) -> &'a str {
        match self {
            LcoItem::PacketizationPeriod(_) => "p",
            LcoItem::Compression(_) => "a",
            LcoItem::Bandwidth(_) => "b",
            LcoItem::EchoCancellation(_) => "e",
            LcoItem::GainControl(_) => "gc",
            LcoItem::SilenceSuppression(_) => "s",
            LcoItem::TypeOfService(_) => "t",
            LcoItem::ResourceReservation(_) => "r",
            LcoItem::EncryptionKey(_) => "k",
            LcoItem::TypeOfNetwork(_) => "nt",
            LcoItem::RtpSecurity(_) => "sc-rtp",
            LcoItem::RtcpSecurity(_) => "sc-rtcp",
            LcoItem::SurveillanceDestination(_) => "es-ccd",
            LcoItem::SurveillanceId(_) => "es-cci",
            LcoItem::Other { name, .. } => name,
        }
    }
}

impl fmt::Display for LcoItem<'_> {
    /// The wire form, key included: this is what goes on the network.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.name())?;
        match self {
            LcoItem::EchoCancellation(b) | LcoItem::SilenceSuppression(b) => {
                f.write_str(if *b { "on" } else { "off" })
            }
            LcoItem::EncryptionKey(EncryptionKey::Prompt) => f.write_str("prompt"),
            LcoItem::EncryptionKey(k) => write!(f, "{}:{}", k.method(), k.text()),
            LcoItem::PacketizationPeriod(v)
            | LcoItem::Compression(v)
            | LcoItem::Bandwidth(v)
            | LcoItem::GainControl(v)
            | LcoItem::TypeOfService(v)
            | LcoItem::ResourceReservation(v)
            | LcoItem::TypeOfNetwork(v)
            | LcoItem::RtpSecurity(v)
            | LcoItem::RtcpSecurity(v)
            | LcoItem::SurveillanceDestination(v)
            | LcoItem::SurveillanceId(v)
            | LcoItem::Other { value: v, .. } => f.write_str(v),
        }
    }
}

impl fmt::Display for LocalConnectionOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::params::write_list(f, &self.items, ", ")
    }
}
