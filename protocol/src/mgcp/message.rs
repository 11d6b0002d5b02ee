//! The MGCP message model: commands, responses and the names in their first line.

use alloc::vec::Vec;
use core::fmt;

use super::code::ReturnCode;
use super::params::{Param, ParamName};
use super::text::{find_byte, is_graphic, key, word_key};
use crate::sdp::Redacted;

/// The nine RFC 3435 command verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "UPPERCASE")
)]
pub enum Verb {
    Epcf,
    Crcx,
    Mdcx,
    Dlcx,
    Rqnt,
    Ntfy,
    Auep,
    Aucx,
    Rsip,
}

impl Verb {
    pub const ALL: [Verb; 9] = [
        Verb::Epcf,
        Verb::Crcx,
        Verb::Mdcx,
        Verb::Dlcx,
        Verb::Rqnt,
        Verb::Ntfy,
        Verb::Auep,
        Verb::Aucx,
        Verb::Rsip,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Epcf => "EPCF",
            Verb::Crcx => "CRCX",
            Verb::Mdcx => "MDCX",
            Verb::Dlcx => "DLCX",
            Verb::Rqnt => "RQNT",
            Verb::Ntfy => "NTFY",
            Verb::Auep => "AUEP",
            Verb::Aucx => "AUCX",
            Verb::Rsip => "RSIP",
        }
    }

    /// Verbs compare case-insensitively (RFC 3435 section 3.2.1).
    pub fn from_token(token: &str) -> Option<Verb> {
        const EPCF: u64 = key("EPCF");
        const CRCX: u64 = key("CRCX");
        const MDCX: u64 = key("MDCX");
        const DLCX: u64 = key("DLCX");
        const RQNT: u64 = key("RQNT");
        const NTFY: u64 = key("NTFY");
        const AUEP: u64 = key("AUEP");
        const AUCX: u64 = key("AUCX");
        const RSIP: u64 = key("RSIP");
        Some(match word_key(token.as_bytes()) {
            EPCF => Verb::Epcf,
            CRCX => Verb::Crcx,
            MDCX => Verb::Mdcx,
            DLCX => Verb::Dlcx,
            RQNT => Verb::Rqnt,
            NTFY => Verb::Ntfy,
            AUEP => Verb::Auep,
            AUCX => Verb::Aucx,
            RSIP => Verb::Rsip,
            _ => return None,
        })
    }
}

impl Verb {
    /// Four letters in any case; bit 5 folds case because every verb is
    /// letters only.
    pub(crate) fn from_letters(b: [u8; 4]) -> Option<Verb> {
        const fn k(s: &str) -> u32 {
            (key(s) as u32) | 0x2020_2020
        }
        const KEYS: [u32; 9] = [
            k("EPCF"),
            k("CRCX"),
            k("MDCX"),
            k("DLCX"),
            k("RQNT"),
            k("NTFY"),
            k("AUEP"),
            k("AUCX"),
            k("RSIP"),
        ];
        let key = u32::from_le_bytes(b) | 0x2020_2020;
        let i = KEYS.iter().position(|&k| k == key)?;
        Verb::ALL.get(i).copied()
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transaction identifier: 1 to 999,999,999 in commands. Responses may
/// carry 0 when the command's own identifier could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct TransactionId(pub u32);

impl TransactionId {
    pub const MAX: u32 = 999_999_999;

    /// The identifier after this one, wrapping from MAX back to 1.
    pub fn next(self) -> TransactionId {
        if self.0 >= Self::MAX {
            TransactionId(1)
        } else {
            TransactionId(self.0 + 1)
        }
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An endpoint name, `local@domain` (RFC 3435 section 2.1.1). The local part
/// is `/`-separated terms, any of which may be the wildcard `*` (all) or `$`
/// (any one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EndpointName<'a> {
    pub local: &'a str,
    pub domain: &'a str,
}

impl<'a> EndpointName<'a> {
    pub const MAX_LEN: usize = 255;

    /// Checks the syntax of `local@domain`; `None` if it is not an endpoint name.
    pub fn parse(s: &'a str) -> Option<EndpointName<'a>> {
        if s.len() > Self::MAX_LEN {
            return None;
        }
        if let Some(name) = Self::parse_plain(s) {
            return Some(name);
        }
        // One pass: visible ASCII only, the last '@' splits, and no term is
        // empty (no leading, trailing or doubled '/').
        let b = s.as_bytes();
        let (mut at, mut prev) = (None, b'/');
        for (i, &c) in b.iter().enumerate() {
            if !c.is_ascii_graphic() {
                return None;
            }
            match c {
                b'@' => {
                    if prev == b'/' {
                        return None;
                    }
                    at = Some(i);
                }
                b'/' if prev == b'/' && at.is_none() => return None,
                _ => {}
            }
            prev = c;
        }
        let at = at?;
        if at + 1 == b.len() {
            return None;
        }
        Some(EndpointName {
            local: s.get(..at)?,
            domain: s.get(at + 1..)?,
        })
    }

    /// The usual shape, checked word-wise: visible ASCII with one `@`, and
    /// a local part of non-empty terms. `None` leaves the rest to [`Self::parse`].
    fn parse_plain(s: &'a str) -> Option<EndpointName<'a>> {
        if !is_graphic(s) {
            return None;
        }
        let at = find_byte(s.as_bytes(), b'@')?;
        let (local, domain) = (s.get(..at)?, s.get(at + 1..)?);
        let l = local.as_bytes();
        let terms_ok = l.first().is_some_and(|&c| c != b'/')
            && l.last().is_some_and(|&c| c != b'/')
            && !l
                .iter()
                .zip(l.get(1..).unwrap_or_default())
                .any(|(&a, &b)| a == b'/' && b == b'/');
        let plain = terms_ok && !domain.is_empty() && find_byte(domain.as_bytes(), b'@').is_none();
        plain.then_some(EndpointName { local, domain })
    }

    pub fn terms(&self) -> impl Iterator<Item = &'a str> {
        self.local.split('/')
    }

    /// True if any term is `*` or `$`.
    pub fn is_wildcard(&self) -> bool {
        self.terms().any(|t| t == "*" || t == "$")
    }

    /// True if `self` (possibly wildcarded) names `concrete`. `$` and `*`
    /// each match one term; a trailing `*` also matches any deeper terms.
    pub fn matches(&self, concrete: &EndpointName<'_>) -> bool {
        if !self.domain.eq_ignore_ascii_case(concrete.domain) {
            return false;
        }
        let mut pat = self.terms().peekable();
        let mut name = concrete.terms();
        loop {
            match (pat.next(), name.next()) {
                (None, None) => return true,
                (Some("*"), Some(_)) if pat.peek().is_none() => return true,
                (Some(p), Some(n)) if p == "*" || p == "$" || p.eq_ignore_ascii_case(n) => {}
                _ => return false,
            }
        }
    }
}

impl fmt::Display for EndpointName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// A command: verb, transaction, endpoint, protocol version, parameters and
/// an optional SDP session description. `Debug` and serde show the SDP with
/// its keys replaced by fingerprints.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Command<'a> {
    pub verb: Verb,
    pub tid: TransactionId,
    pub endpoint: EndpointName<'a>,
    /// The version string after the endpoint, such as `MGCP 1.0` or `MGCP 1.0 NCS 1.0`.
    pub version: &'a str,
    pub params: Vec<Param<'a>>,
    /// The session description after the empty line, as sent.
    #[cfg_attr(feature = "serde", serde(serialize_with = "redacted_sdp"))]
    pub sdp: Option<&'a str>,
}

/// A response: return code, transaction, optional package name (for
/// package-specific codes) and commentary, parameters and optional SDP
/// (shown without keys, as for [`Command`]).
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Response<'a> {
    pub code: ReturnCode,
    pub tid: TransactionId,
    pub package: Option<&'a str>,
    pub commentary: &'a str,
    pub params: Vec<Param<'a>>,
    #[cfg_attr(feature = "serde", serde(serialize_with = "redacted_sdp"))]
    pub sdp: Option<&'a str>,
}

#[cfg(feature = "serde")]
fn redacted_sdp<S: serde::Serializer>(sdp: &Option<&str>, s: S) -> Result<S::Ok, S::Error> {
    use serde::Serialize;
    sdp.map(Redacted).serialize(s)
}

impl fmt::Debug for Command<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("verb", &self.verb)
            .field("tid", &self.tid)
            .field("endpoint", &self.endpoint)
            .field("version", &self.version)
            .field("params", &self.params)
            .field("sdp", &self.sdp.map(Redacted))
            .finish()
    }
}

impl fmt::Debug for Response<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("code", &self.code)
            .field("tid", &self.tid)
            .field("package", &self.package)
            .field("commentary", &self.commentary)
            .field("params", &self.params)
            .field("sdp", &self.sdp.map(Redacted))
            .finish()
    }
}

/// One MGCP message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(tag = "kind", rename_all = "lowercase")
)]
pub enum Message<'a> {
    Command(Command<'a>),
    Response(Response<'a>),
}

pub const DEFAULT_VERSION: &str = "MGCP 1.0";

impl<'a> Command<'a> {
    pub fn new(verb: Verb, tid: TransactionId, endpoint: EndpointName<'a>) -> Self {
        Command {
            verb,
            tid,
            endpoint,
            version: DEFAULT_VERSION,
            params: Vec::new(),
            sdp: None,
        }
    }

    pub fn with(mut self, p: Param<'a>) -> Self {
        self.params.push(p);
        self
    }

    pub fn with_sdp(mut self, sdp: &'a str) -> Self {
        self.sdp = Some(sdp);
        self
    }

    pub fn param(&self, name: ParamName) -> Option<&Param<'a>> {
        find(&self.params, name)
    }
}

impl<'a> Response<'a> {
    pub fn new(code: ReturnCode, tid: TransactionId) -> Self {
        Response {
            code,
            tid,
            package: None,
            commentary: default_commentary(code),
            params: Vec::new(),
            sdp: None,
        }
    }

    pub fn with(mut self, p: Param<'a>) -> Self {
        self.params.push(p);
        self
    }

    pub fn with_sdp(mut self, sdp: &'a str) -> Self {
        self.sdp = Some(sdp);
        self
    }

    pub fn param(&self, name: ParamName) -> Option<&Param<'a>> {
        find(&self.params, name)
    }
}

impl<'a> Message<'a> {
    pub fn tid(&self) -> TransactionId {
        match self {
            Message::Command(c) => c.tid,
            Message::Response(r) => r.tid,
        }
    }

    pub fn params(&self) -> &[Param<'a>] {
        match self {
            Message::Command(c) => &c.params,
            Message::Response(r) => &r.params,
        }
    }

    pub fn sdp(&self) -> Option<&'a str> {
        match self {
            Message::Command(c) => c.sdp,
            Message::Response(r) => r.sdp,
        }
    }
}

fn find<'p, 'a>(params: &'p [Param<'a>], name: ParamName) -> Option<&'p Param<'a>> {
    params.iter().find(|p| p.name() == name)
}

fn default_commentary(code: ReturnCode) -> &'static str {
    match code.0 {
        0 => "",
        100..=199 => "Pending",
        200..=299 => "OK",
        _ => "FAIL",
    }
}
