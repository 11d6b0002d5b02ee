//! LocalConnectionOptions (RFC 3435 section 3.2.2.10) with the PacketCable
//! NCS security (`sc-rtp`, `sc-rtcp`) and electronic-surveillance
//! (`es-ccd`, `es-cci`) options.

use core::fmt;
use core::ops::Range;

use super::list::{List, ListItem};
use super::text::{find_byte, key, skip_ws, word_key};
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

/// LocalConnectionOptions, in the order sent. Parsed ones are checked
/// once and read again from their text on each iteration.
pub type LocalConnectionOptions<'a> = List<'a, LcoItem<'a>>;

impl<'a> List<'a, LcoItem<'a>> {
    pub const MAX_ITEMS: usize = 32;

    pub fn parse(s: &'a str) -> Result<Self, LcoError> {
        let b = s.as_bytes();
        let start = skip_ws(b, 0);
        let text = s.get(start..).unwrap_or("");
        let mut at = start;
        let mut len = 0;
        // One bit per known option, for the duplicate check.
        let mut seen = 0u32;
        while at < b.len() {
            let raw = split_item(b, at)?;
            if len == Self::MAX_ITEMS {
                return Err(LcoError::Syntax);
            }
            let bit = raw.check(s)?;
            let dup = if bit == 0 {
                // Rare: compare with the earlier items' names.
                let name = s.get(at..raw.name_end).unwrap_or("");
                List::<LcoItem>::validated(text, len)
                    .iter()
                    .any(|i| i.name().eq_ignore_ascii_case(name))
            } else {
                seen & bit != 0
            };
            if dup {
                return Err(LcoError::Duplicate);
            }
            seen |= bit;
            len += 1;
            match raw.next {
                // A comma with nothing after it.
                Some(next) if next == b.len() => return Err(LcoError::Syntax),
                Some(next) => at = next,
                None => break,
            }
        }
        Ok(List::validated(text, len))
    }

    pub fn encryption_key(&self) -> Option<EncryptionKey<'a>> {
        self.iter().find_map(|i| match i {
            LcoItem::EncryptionKey(k) => Some(k),
            _ => None,
        })
    }

    pub fn find(&self, name: &str) -> Option<LcoItem<'a>> {
        self.iter().find(|i| i.name().eq_ignore_ascii_case(name))
    }
}

impl<'a> ListItem<'a> for LcoItem<'a> {
    fn split_first(text: &'a str) -> Option<(Self, &'a str)> {
        let raw = split_item(text.as_bytes(), 0).ok()?;
        let value = text.get(raw.value.clone())?;
        let item = match raw.option {
            Some(option) => option.item(value)?,
            None => LcoItem::Other {
                name: text.get(..raw.name_end)?,
                value,
            },
        };
        let rest = raw.next.and_then(|n| text.get(n..)).unwrap_or("");
        Some((item, rest))
    }
}

/// One item split off (byte positions), its value not yet checked.
struct RawItem {
    option: Option<Known>,
    name_end: usize,
    /// Trimmed.
    value: Range<usize>,
    /// Where the next item starts (after the comma and white space);
    /// `None` after the last item.
    next: Option<usize>,
}

impl RawItem {
    /// Checks the value; the option's bit for the duplicate check, 0 for
    /// an option we do not know.
    #[inline(always)]
    fn check(&self, s: &str) -> Result<u32, LcoError> {
        let Some(option) = self.option else {
            return Ok(0);
        };
        let value = s.as_bytes().get(self.value.clone()).unwrap_or_default();
        let ok = match option.value_kind() {
            ValueKind::Text => !value.is_empty(),
            ValueKind::OnOff => on_off(value).is_ok(),
            ValueKind::Key => s
                .get(self.value.clone())
                .and_then(EncryptionKey::parse)
                .is_some(),
        };
        if ok {
            Ok(1 << option as u32)
        } else {
            Err(LcoError::Value)
        }
    }
}

/// Splits off the item starting at `at` (not white space).
#[inline(always)]
fn split_item(b: &[u8], at: usize) -> Result<RawItem, LcoError> {
    // One pass over each byte: the name (visible, folded into its lookup
    // key as it goes), its colon, then the value up to a comma.
    let (key, name_end, colon) = match (b.get(at), b.get(at + 1)) {
        // Most names are one letter, right before the colon.
        (Some(&c), Some(b':')) if c.is_ascii_alphabetic() => {
            (u64::from(c.to_ascii_lowercase()), at + 1, at + 1)
        }
        _ => {
            let mut key = 0u64;
            let mut i = at;
            while let Some(&c) = b.get(i) {
                if !c.is_ascii_graphic() || c == b':' || c == b',' {
                    break;
                }
                if i - at < 8 {
                    key |= u64::from(c.to_ascii_lowercase()) << (8 * (i - at));
                }
                i += 1;
            }
            (key, i, skip_ws(b, i))
        }
    };
    // Anything but a colon here is a malformed item (a name with white
    // space or control bytes in it, or no colon before the comma).
    if name_end == at || b.get(colon) != Some(&b':') {
        return Err(LcoError::Syntax);
    }
    let value_start = skip_ws(b, colon + 1);
    let tail = b.get(value_start..).unwrap_or_default();
    let (mut end, next) = match find_byte(tail, b',') {
        Some(n) => (value_start + n, Some(skip_ws(b, value_start + n + 1))),
        None => (b.len(), None),
    };
    while end > value_start && matches!(b.get(end - 1), Some(b' ' | b'\t')) {
        end -= 1;
    }
    let option = if name_end - at > 8 {
        None
    } else {
        Known::from_key(key)
    };
    Ok(RawItem {
        option,
        name_end,
        value: value_start..end,
        next,
    })
}

/// The options with their own [`LcoItem`]; the discriminant is the
/// option's bit in the duplicate check.
#[derive(Clone, Copy)]
enum Known {
    P,
    A,
    B,
    E,
    Gc,
    S,
    T,
    R,
    K,
    Nt,
    ScRtp,
    ScRtcp,
    EsCcd,
    EsCci,
}

enum ValueKind {
    /// Any text but nothing.
    Text,
    OnOff,
    Key,
}

impl Known {
    /// From a name's [`word_key`].
    fn from_key(name_key: u64) -> Option<Known> {
        const P: u64 = key("p");
        const A: u64 = key("a");
        const B: u64 = key("b");
        const E: u64 = key("e");
        const GC: u64 = key("gc");
        const S: u64 = key("s");
        const T: u64 = key("t");
        const R: u64 = key("r");
        const K: u64 = key("k");
        const NT: u64 = key("nt");
        const SC_RTP: u64 = key("sc-rtp");
        const SC_RTCP: u64 = key("sc-rtcp");
        const ES_CCD: u64 = key("es-ccd");
        const ES_CCI: u64 = key("es-cci");
        Some(match name_key {
            P => Known::P,
            A => Known::A,
            B => Known::B,
            E => Known::E,
            GC => Known::Gc,
            S => Known::S,
            T => Known::T,
            R => Known::R,
            K => Known::K,
            NT => Known::Nt,
            SC_RTP => Known::ScRtp,
            SC_RTCP => Known::ScRtcp,
            ES_CCD => Known::EsCcd,
            ES_CCI => Known::EsCci,
            _ => return None,
        })
    }

    fn value_kind(self) -> ValueKind {
        match self {
            Known::E | Known::S => ValueKind::OnOff,
            Known::K => ValueKind::Key,
            _ => ValueKind::Text,
        }
    }

    /// The item for a value [`RawItem::check`] accepted.
    fn item(self, v: &str) -> Option<LcoItem<'_>> {
        Some(match self {
            Known::P => LcoItem::PacketizationPeriod(v),
            Known::A => LcoItem::Compression(v),
            Known::B => LcoItem::Bandwidth(v),
            Known::E => LcoItem::EchoCancellation(on_off(v.as_bytes()).ok()?),
            Known::Gc => LcoItem::GainControl(v),
            Known::S => LcoItem::SilenceSuppression(on_off(v.as_bytes()).ok()?),
            Known::T => LcoItem::TypeOfService(v),
            Known::R => LcoItem::ResourceReservation(v),
            Known::K => LcoItem::EncryptionKey(EncryptionKey::parse(v)?),
            Known::Nt => LcoItem::TypeOfNetwork(v),
            Known::ScRtp => LcoItem::RtpSecurity(v),
            Known::ScRtcp => LcoItem::RtcpSecurity(v),
            Known::EsCcd => LcoItem::SurveillanceDestination(v),
            Known::EsCci => LcoItem::SurveillanceId(v),
        })
    }
}

fn on_off(v: &[u8]) -> Result<bool, LcoError> {
    const ON: u64 = word_key(b"on");
    const OFF: u64 = word_key(b"off");
    match (v.len(), word_key(v)) {
        (2, ON) => Ok(true),
        (3, OFF) => Ok(false),
        _ => Err(LcoError::Value),
    }
}

impl<'a> LcoItem<'a> {
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
        super::list::write_list(f, self, ", ")
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
