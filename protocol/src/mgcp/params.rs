//! Parameter lines (RFC 3435 section 3.2.2) and their typed values.

use alloc::vec::Vec;
use core::fmt;

use super::events::EventList;
use super::lco::LocalConnectionOptions;
use super::list::write_list;
use super::message::{EndpointName, TransactionId};
use super::text::word_key;

/// The name of a parameter line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ParamName {
    ResponseAck,
    BearerInformation,
    CallId,
    ConnectionId,
    SecondConnectionId,
    NotifiedEntity,
    RequestIdentifier,
    LocalConnectionOptions,
    ConnectionMode,
    RequestedEvents,
    SignalRequests,
    DigitMap,
    ObservedEvents,
    ConnectionParameters,
    ReasonCode,
    SpecificEndpointId,
    SecondEndpointId,
    RequestedInfo,
    QuarantineHandling,
    DetectEvents,
    EventStates,
    RestartMethod,
    RestartDelay,
    Capabilities,
    PackageList,
    MaxMgcpDatagram,
    /// A vendor `X-` parameter.
    Extension,
}

impl ParamName {
    const CODES: [(&'static str, ParamName); 26] = [
        ("K", ParamName::ResponseAck),
        ("B", ParamName::BearerInformation),
        ("C", ParamName::CallId),
        ("I", ParamName::ConnectionId),
        ("I2", ParamName::SecondConnectionId),
        ("N", ParamName::NotifiedEntity),
        ("X", ParamName::RequestIdentifier),
        ("L", ParamName::LocalConnectionOptions),
        ("M", ParamName::ConnectionMode),
        ("R", ParamName::RequestedEvents),
        ("S", ParamName::SignalRequests),
        ("D", ParamName::DigitMap),
        ("O", ParamName::ObservedEvents),
        ("P", ParamName::ConnectionParameters),
        ("E", ParamName::ReasonCode),
        ("Z", ParamName::SpecificEndpointId),
        ("Z2", ParamName::SecondEndpointId),
        ("F", ParamName::RequestedInfo),
        ("Q", ParamName::QuarantineHandling),
        ("T", ParamName::DetectEvents),
        ("ES", ParamName::EventStates),
        ("RM", ParamName::RestartMethod),
        ("RD", ParamName::RestartDelay),
        ("A", ParamName::Capabilities),
        ("PL", ParamName::PackageList),
        ("MD", ParamName::MaxMgcpDatagram),
    ];

    /// The code used on the wire (`C`, `I2`, `ES`, ...); `X-` for extensions.
    pub fn code(self) -> &'static str {
        Self::CODES
            .iter()
            .find(|(_, n)| *n == self)
            .map_or("X-", |(c, _)| c)
    }

    /// The one-letter codes, by letter.
    const LETTERS: [Option<ParamName>; 26] = {
        let mut t = [None; 26];
        let mut i = 0;
        while i < Self::CODES.len() {
            let (code, name) = Self::CODES[i];
            if code.len() == 1 {
                t[(code.as_bytes()[0] - b'A') as usize] = Some(name);
            }
            i += 1;
        }
        t
    };

    /// Looks up a one-letter code, case-insensitively.
    pub(crate) fn from_letter(c: u8) -> Option<ParamName> {
        let i = c.to_ascii_uppercase().wrapping_sub(b'A');
        *Self::LETTERS.get(usize::from(i))?
    }

    /// Looks up a parameter code, case-insensitively. `X-` names are extensions.
    pub fn from_code(code: &str) -> Option<ParamName> {
        use ParamName::*;
        let b = code.as_bytes();
        if b.len() > 2 && b[..2].eq_ignore_ascii_case(b"X-") {
            return Some(Extension);
        }
        let up = |i: usize| b.get(i).map(u8::to_ascii_uppercase);
        Some(match (b.len(), up(0)?, up(1).unwrap_or(0)) {
            (1, b'K', _) => ResponseAck,
            (1, b'B', _) => BearerInformation,
            (1, b'C', _) => CallId,
            (1, b'I', _) => ConnectionId,
            (1, b'N', _) => NotifiedEntity,
            (1, b'X', _) => RequestIdentifier,
            (1, b'L', _) => LocalConnectionOptions,
            (1, b'M', _) => ConnectionMode,
            (1, b'R', _) => RequestedEvents,
            (1, b'S', _) => SignalRequests,
            (1, b'D', _) => DigitMap,
            (1, b'O', _) => ObservedEvents,
            (1, b'P', _) => ConnectionParameters,
            (1, b'E', _) => ReasonCode,
            (1, b'Z', _) => SpecificEndpointId,
            (1, b'F', _) => RequestedInfo,
            (1, b'Q', _) => QuarantineHandling,
            (1, b'T', _) => DetectEvents,
            (1, b'A', _) => Capabilities,
            (2, b'I', b'2') => SecondConnectionId,
            (2, b'Z', b'2') => SecondEndpointId,
            (2, b'E', b'S') => EventStates,
            (2, b'R', b'M') => RestartMethod,
            (2, b'R', b'D') => RestartDelay,
            (2, b'P', b'L') => PackageList,
            (2, b'M', b'D') => MaxMgcpDatagram,
            _ => return None,
        })
    }
}

/// A connection mode (section 3.2.2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum ConnectionMode {
    SendOnly,
    RecvOnly,
    SendRecv,
    Conference,
    Inactive,
    Loopback,
    ContinuityTest,
    NetworkLoop,
    NetworkTest,
}

impl ConnectionMode {
    const NAMES: [(&'static str, ConnectionMode); 9] = [
        ("sendonly", ConnectionMode::SendOnly),
        ("recvonly", ConnectionMode::RecvOnly),
        ("sendrecv", ConnectionMode::SendRecv),
        ("confrnce", ConnectionMode::Conference),
        ("inactive", ConnectionMode::Inactive),
        ("loopback", ConnectionMode::Loopback),
        ("conttest", ConnectionMode::ContinuityTest),
        ("netwloop", ConnectionMode::NetworkLoop),
        ("netwtest", ConnectionMode::NetworkTest),
    ];

    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("inactive", |(s, _)| s)
    }

    pub fn from_token(s: &str) -> Option<ConnectionMode> {
        // Every mode name is 8 lower-case letters: one word, case folded by
        // setting bit 5 (which maps only `A-Z` onto `a-z`).
        const fn k(i: usize) -> u64 {
            word_key(ConnectionMode::NAMES[i].0.as_bytes())
        }
        const KEYS: [u64; 9] = [k(0), k(1), k(2), k(3), k(4), k(5), k(6), k(7), k(8)];
        let word: [u8; 8] = s.as_bytes().try_into().ok()?;
        let key = u64::from_le_bytes(word) | u64::from_ne_bytes([0x20; 8]);
        let i = KEYS.iter().position(|&k| k == key)?;
        Some(Self::NAMES[i].1)
    }
}

/// A restart method (section 3.2.2.14); `X-` methods are kept by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "kebab-case")
)]
pub enum RestartMethod<'a> {
    Graceful,
    Forced,
    Restart,
    Disconnected,
    CancelGraceful,
    Extension(&'a str),
}

impl<'a> RestartMethod<'a> {
    pub fn as_str(&self) -> &'a str {
        match self {
            RestartMethod::Graceful => "graceful",
            RestartMethod::Forced => "forced",
            RestartMethod::Restart => "restart",
            RestartMethod::Disconnected => "disconnected",
            RestartMethod::CancelGraceful => "cancel-graceful",
            RestartMethod::Extension(s) => s,
        }
    }

    pub fn from_token(s: &'a str) -> Option<RestartMethod<'a>> {
        let known = [
            RestartMethod::Graceful,
            RestartMethod::Forced,
            RestartMethod::Restart,
            RestartMethod::Disconnected,
            RestartMethod::CancelGraceful,
        ];
        if let Some(m) = known
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
        {
            return Some(m);
        }
        // Bytes, not str: a multi-byte character may straddle index 2.
        let is_ext = s.len() > 2 && s.as_bytes()[..2].eq_ignore_ascii_case(b"x-");
        is_ext.then_some(RestartMethod::Extension(s))
    }
}

/// A range of transaction identifiers in a ResponseAck (`K:`) line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TidRange {
    pub first: TransactionId,
    pub last: TransactionId,
}

impl TidRange {
    pub fn contains(&self, tid: TransactionId) -> bool {
        (self.first.0..=self.last.0).contains(&tid.0)
    }
}

/// A reason code line: a three-digit code and optional text (`E: 900 Endpoint malfunctioning`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ReasonCode<'a> {
    pub code: u16,
    pub text: &'a str,
}

/// One statistic of a ConnectionParameters line (`PS=10`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ConnectionParameter<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

impl ConnectionParameter<'_> {
    /// The value as a number; RFC 3435 statistics are integers (packets lost may be negative).
    pub fn as_i64(&self) -> Option<i64> {
        self.value.parse().ok()
    }
}

/// A parameter line with its typed value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Param<'a> {
    /// `K:`; empty asks the peer to acknowledge this response with a 000.
    ResponseAck(Vec<TidRange>),
    BearerInformation(&'a str),
    CallId(&'a str),
    ConnectionId(&'a str),
    SecondConnectionId(&'a str),
    NotifiedEntity(&'a str),
    RequestIdentifier(&'a str),
    LocalConnectionOptions(LocalConnectionOptions<'a>),
    ConnectionMode(ConnectionMode),
    RequestedEvents(EventList<'a>),
    SignalRequests(EventList<'a>),
    DigitMap(&'a str),
    ObservedEvents(EventList<'a>),
    ConnectionParameters(Vec<ConnectionParameter<'a>>),
    ReasonCode(ReasonCode<'a>),
    SpecificEndpointId(EndpointName<'a>),
    SecondEndpointId(EndpointName<'a>),
    /// Codes of the requested information (`F: R,S,N`).
    RequestedInfo(Vec<&'a str>),
    QuarantineHandling(Vec<&'a str>),
    DetectEvents(EventList<'a>),
    EventStates(EventList<'a>),
    RestartMethod(RestartMethod<'a>),
    RestartDelay(u32),
    /// Capability items, LocalConnectionOptions syntax (`A: a:PCMU;G729, p:10-100, e:on;off`).
    Capabilities(LocalConnectionOptions<'a>),
    /// `PL: pkg:version, ...`
    PackageList(Vec<(&'a str, &'a str)>),
    MaxMgcpDatagram(u32),
    /// An `X-` parameter, name and value kept as sent.
    Extension {
        name: &'a str,
        value: &'a str,
    },
}

impl<'a> Param<'a> {
    pub fn name(&self) -> ParamName {
        match self {
            Param::ResponseAck(_) => ParamName::ResponseAck,
            Param::BearerInformation(_) => ParamName::BearerInformation,
            Param::CallId(_) => ParamName::CallId,
            Param::ConnectionId(_) => ParamName::ConnectionId,
            Param::SecondConnectionId(_) => ParamName::SecondConnectionId,
            Param::NotifiedEntity(_) => ParamName::NotifiedEntity,
            Param::RequestIdentifier(_) => ParamName::RequestIdentifier,
            Param::LocalConnectionOptions(_) => ParamName::LocalConnectionOptions,
            Param::ConnectionMode(_) => ParamName::ConnectionMode,
            Param::RequestedEvents(_) => ParamName::RequestedEvents,
            Param::SignalRequests(_) => ParamName::SignalRequests,
            Param::DigitMap(_) => ParamName::DigitMap,
            Param::ObservedEvents(_) => ParamName::ObservedEvents,
            Param::ConnectionParameters(_) => ParamName::ConnectionParameters,
            Param::ReasonCode(_) => ParamName::ReasonCode,
            Param::SpecificEndpointId(_) => ParamName::SpecificEndpointId,
            Param::SecondEndpointId(_) => ParamName::SecondEndpointId,
            Param::RequestedInfo(_) => ParamName::RequestedInfo,
            Param::QuarantineHandling(_) => ParamName::QuarantineHandling,
            Param::DetectEvents(_) => ParamName::DetectEvents,
            Param::EventStates(_) => ParamName::EventStates,
            Param::RestartMethod(_) => ParamName::RestartMethod,
            Param::RestartDelay(_) => ParamName::RestartDelay,
            Param::Capabilities(_) => ParamName::Capabilities,
            Param::PackageList(_) => ParamName::PackageList,
            Param::MaxMgcpDatagram(_) => ParamName::MaxMgcpDatagram,
            Param::Extension { .. } => ParamName::Extension,
        }
    }

    /// True if the value part of the line is empty.
    pub fn is_empty_value(&self) -> bool {
        match self {
            Param::ResponseAck(v) => v.is_empty(),
            Param::RequestedEvents(v)
            | Param::SignalRequests(v)
            | Param::ObservedEvents(v)
            | Param::DetectEvents(v)
            | Param::EventStates(v) => v.is_empty(),
            Param::ConnectionParameters(v) => v.is_empty(),
            Param::RequestedInfo(v) | Param::QuarantineHandling(v) => v.is_empty(),
            Param::PackageList(v) => v.is_empty(),
            Param::LocalConnectionOptions(l) | Param::Capabilities(l) => l.is_empty(),
            Param::DigitMap(s) | Param::BearerInformation(s) | Param::NotifiedEntity(s) => {
                s.is_empty()
            }
            Param::Extension { value, .. } => value.is_empty(),
            _ => false,
        }
    }

    /// The code written before the colon.
    pub fn code(&self) -> &'a str {
        match self {
            Param::Extension { name, .. } => name,
            p => p.name().code(),
        }
    }
}

impl fmt::Display for TidRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

impl fmt::Display for ConnectionParameter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)
    }
}

impl fmt::Display for Param<'_> {
    /// The value part of the line, after `code: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Param::ResponseAck(r) => write_list(f, r, ","),
            Param::BearerInformation(s)
            | Param::CallId(s)
            | Param::ConnectionId(s)
            | Param::SecondConnectionId(s)
            | Param::NotifiedEntity(s)
            | Param::RequestIdentifier(s)
            | Param::DigitMap(s) => f.write_str(s),
            Param::LocalConnectionOptions(l) | Param::Capabilities(l) => fmt::Display::fmt(l, f),
            Param::ConnectionMode(m) => f.write_str(m.as_str()),
            Param::RequestedEvents(e)
            | Param::SignalRequests(e)
            | Param::ObservedEvents(e)
            | Param::DetectEvents(e)
            | Param::EventStates(e) => write_list(f, e, ","),
            Param::ConnectionParameters(p) => write_list(f, p, ", "),
            Param::ReasonCode(r) if r.text.is_empty() => write!(f, "{:03}", r.code),
            Param::ReasonCode(r) => write!(f, "{:03} {}", r.code, r.text),
            Param::SpecificEndpointId(e) | Param::SecondEndpointId(e) => fmt::Display::fmt(e, f),
            Param::RequestedInfo(v) | Param::QuarantineHandling(v) => write_list(f, v, ","),
            Param::RestartMethod(m) => f.write_str(m.as_str()),
            Param::RestartDelay(n) | Param::MaxMgcpDatagram(n) => write!(f, "{n}"),
            Param::PackageList(v) => {
                for (i, (p, ver)) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{p}:{ver}")?;
                }
                Ok(())
            }
            Param::Extension { value, .. } => f.write_str(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_back_to_its_name() {
        for (code, name) in ParamName::CODES {
            assert_eq!(ParamName::from_code(code), Some(name));
            assert_eq!(ParamName::from_code(&code.to_ascii_lowercase()), Some(name));
            assert_eq!(name.code(), code);
        }
        assert_eq!(ParamName::from_code("X-Osmux"), Some(ParamName::Extension));
        assert_eq!(
            ParamName::from_code("X"),
            Some(ParamName::RequestIdentifier)
        );
        assert_eq!(ParamName::from_code("Q2"), None);
        assert_eq!(ParamName::from_code("X\u{e9}"), None);
        for c in 0..=255u8 {
            let code = [c];
            let via_code = core::str::from_utf8(&code)
                .ok()
                .and_then(ParamName::from_code);
            assert_eq!(ParamName::from_letter(c), via_code, "{c}");
        }
        assert_eq!(ParamName::from_code(""), None);
    }

    #[test]
    fn restart_method_with_a_wide_second_character_is_refused() {
        assert_eq!(RestartMethod::from_token("r\u{a0}estart"), None);
        assert_eq!(
            RestartMethod::from_token("X-Warm"),
            Some(RestartMethod::Extension("X-Warm"))
        );
    }
}
