//! LocalConnectionOptions (RFC 3435 section 3.2.2.10) with the PacketCable
//! NCS security (`sc-rtp`, `sc-rtcp`) and electronic-surveillance
//! (`es-ccd`, `es-cci`) options.

use core::fmt;
use core::ops::Range;

use super::key::EncryptionKey;
use super::list::{List, ListItem};
use super::text::{find_byte, key, skip_ws, word_key};

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
