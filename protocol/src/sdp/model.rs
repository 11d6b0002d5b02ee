//! The session description model, with builders for the descriptions we send.

use alloc::vec::Vec;
use core::net::IpAddr;

use super::crypto::CryptoAttr;
use crate::mgcp::EncryptionKey;

/// A session description. Fields borrow from the parsed text; lines we do
/// not model are kept raw so that writing it back loses nothing.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Sdp<'a> {
    pub origin: Origin<'a>,
    pub session_name: &'a str,
    pub connection: Option<Connection<'a>>,
    /// At least one `t=` line, each with its `r=` lines.
    pub times: Vec<Timing<'a>>,
    /// The obsolete `k=` field; secret, so it prints as a fingerprint.
    pub key: Option<EncryptionKey<'a>>,
    pub attributes: Vec<Attribute<'a>>,
    /// `i= u= e= p= b= z=` lines, as sent, in RFC 4566 order.
    pub other: Vec<RawLine<'a>>,
    pub media: Vec<Media<'a>>,
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Origin<'a> {
    pub username: &'a str,
    pub session_id: u64,
    /// Raised by one each time the owner changes the description.
    pub session_version: u64,
    pub net_type: &'a str,
    pub addr_type: &'a str,
    pub address: &'a str,
}

/// `c=<nettype> <addrtype> <address>`. Besides `IN IP4`/`IN IP6`, MGCP
/// gateways may use other network types (`LOCAL`, `ATM`), kept as sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Connection<'a> {
    pub net_type: &'a str,
    pub addr_type: &'a str,
    /// The address, with any multicast `/ttl` and `/count` suffixes.
    pub address: &'a str,
}

/// `t=<start> <stop>` in NTP seconds (`0 0`: unbounded), with its `r=` lines.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Timing<'a> {
    pub start: u64,
    pub stop: u64,
    pub repeats: Vec<&'a str>,
}

/// One `m=` section.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Media<'a> {
    /// `audio`, `video`, `image`, ...
    pub kind: &'a str,
    pub port: u16,
    /// The `/count` after the port (several consecutive port pairs).
    pub port_count: Option<u16>,
    /// `RTP/AVP`, `RTP/SAVP`, ...
    pub proto: &'a str,
    /// Payload types for RTP protocols.
    pub formats: Vec<&'a str>,
    pub connection: Option<Connection<'a>>,
    pub key: Option<EncryptionKey<'a>>,
    pub attributes: Vec<Attribute<'a>>,
    /// `i= b=` lines, as sent, in RFC 4566 order.
    pub other: Vec<RawLine<'a>>,
}

/// A line we keep but do not interpret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RawLine<'a> {
    pub kind: char,
    pub value: &'a str,
}

/// An `a=` line.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum Attribute<'a> {
    Rtpmap(Rtpmap<'a>),
    Fmtp(Fmtp<'a>),
    /// `a=ptime:` in milliseconds.
    Ptime(u32),
    Direction(Direction),
    Crypto(CryptoAttr<'a>),
    /// Any other attribute: `a=name` (no value) or `a=name:value`.
    Other {
        name: &'a str,
        value: Option<&'a str>,
    },
}

/// `a=rtpmap:<payload type> <encoding>/<clock rate>[/<params>]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Rtpmap<'a> {
    pub payload_type: u8,
    pub encoding: &'a str,
    pub clock_rate: u32,
    /// For audio, the channel count.
    pub params: Option<&'a str>,
}

impl Rtpmap<'static> {
    /// G.711 mu-law, static payload type 0.
    pub const PCMU: Rtpmap<'static> = Rtpmap::new(0, "PCMU", 8000);
    /// G.711 A-law, static payload type 8.
    pub const PCMA: Rtpmap<'static> = Rtpmap::new(8, "PCMA", 8000);
}

impl<'a> Rtpmap<'a> {
    pub const fn new(payload_type: u8, encoding: &'a str, clock_rate: u32) -> Self {
        Rtpmap {
            payload_type,
            encoding,
            clock_rate,
            params: None,
        }
    }
}

/// `a=fmtp:<format> <parameters>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Fmtp<'a> {
    pub format: &'a str,
    pub params: &'a str,
}

/// Media direction attributes (RFC 4566 section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub const ALL: [Direction; 4] = [
        Direction::SendRecv,
        Direction::SendOnly,
        Direction::RecvOnly,
        Direction::Inactive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    pub fn from_name(name: &str) -> Option<Direction> {
        Direction::ALL.into_iter().find(|d| d.as_str() == name)
    }

    /// The direction an answer takes towards this offer.
    pub fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
}

impl<'a> Origin<'a> {
    /// An origin whose address is `at` (the same triple as a `c=` line).
    pub fn new(
        username: &'a str,
        session_id: u64,
        session_version: u64,
        at: Connection<'a>,
    ) -> Self {
        Origin {
            username,
            session_id,
            session_version,
            net_type: at.net_type,
            addr_type: at.addr_type,
            address: at.address,
        }
    }
}

impl<'a> Connection<'a> {
    pub fn ip4(address: &'a str) -> Self {
        Connection {
            net_type: "IN",
            addr_type: "IP4",
            address,
        }
    }

    pub fn ip6(address: &'a str) -> Self {
        Connection {
            net_type: "IN",
            addr_type: "IP6",
            address,
        }
    }

    /// The IP address for `IN IP4` / `IN IP6` with a literal address
    /// (`None` for host names and other network types).
    pub fn ip(&self) -> Option<IpAddr> {
        if !self.net_type.eq_ignore_ascii_case("IN") {
            return None;
        }
        let host = self.address.split('/').next()?;
        let ip: IpAddr = host.parse().ok()?;
        let family_ok = match ip {
            IpAddr::V4(_) => self.addr_type.eq_ignore_ascii_case("IP4"),
            IpAddr::V6(_) => self.addr_type.eq_ignore_ascii_case("IP6"),
        };
        family_ok.then_some(ip)
    }
}

impl Timing<'_> {
    /// `t=0 0`, the usual value for telephony.
    pub fn unbounded() -> Self {
        Timing {
            start: 0,
            stop: 0,
            repeats: Vec::new(),
        }
    }
}

impl<'a> Sdp<'a> {
    /// A description with `t=0 0` and nothing else.
    pub fn new(origin: Origin<'a>, session_name: &'a str) -> Self {
        Sdp {
            origin,
            session_name,
            connection: None,
            times: alloc::vec![Timing::unbounded()],
            key: None,
            attributes: Vec::new(),
            other: Vec::new(),
            media: Vec::new(),
        }
    }

    pub fn with_connection(mut self, c: Connection<'a>) -> Self {
        self.connection = Some(c);
        self
    }

    pub fn with_attribute(mut self, a: Attribute<'a>) -> Self {
        self.attributes.push(a);
        self
    }

    pub fn with_media(mut self, m: Media<'a>) -> Self {
        self.media.push(m);
        self
    }

    /// The session-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// The direction in force for `media`: its own, else the session's,
    /// else `sendrecv`.
    pub fn media_direction(&self, media: &Media<'_>) -> Direction {
        media
            .direction()
            .or(self.direction())
            .unwrap_or(Direction::SendRecv)
    }

    /// The connection in force for `media`: its own, else the session's.
    pub fn media_connection(&self, media: &Media<'a>) -> Option<Connection<'a>> {
        media.connection.or(self.connection)
    }
}

impl<'a> Media<'a> {
    pub fn new(kind: &'a str, port: u16, proto: &'a str) -> Self {
        Media {
            kind,
            port,
            port_count: None,
            proto,
            formats: Vec::new(),
            connection: None,
            key: None,
            attributes: Vec::new(),
            other: Vec::new(),
        }
    }

    pub fn with_format(mut self, format: &'a str) -> Self {
        self.formats.push(format);
        self
    }

    pub fn with_connection(mut self, c: Connection<'a>) -> Self {
        self.connection = Some(c);
        self
    }

    pub fn with_attribute(mut self, a: Attribute<'a>) -> Self {
        self.attributes.push(a);
        self
    }

    pub fn with_rtpmap(self, map: Rtpmap<'a>) -> Self {
        self.with_attribute(Attribute::Rtpmap(map))
    }

    pub fn with_ptime(self, ms: u32) -> Self {
        self.with_attribute(Attribute::Ptime(ms))
    }

    pub fn with_direction(self, d: Direction) -> Self {
        self.with_attribute(Attribute::Direction(d))
    }

    pub fn with_crypto(self, c: CryptoAttr<'a>) -> Self {
        self.with_attribute(Attribute::Crypto(c))
    }

    /// True for the secure RTP profiles (`RTP/SAVP`, `RTP/SAVPF`, ...).
    pub fn is_srtp(&self) -> bool {
        self.proto
            .split('/')
            .any(|p| p.eq_ignore_ascii_case("SAVP") || p.eq_ignore_ascii_case("SAVPF"))
    }

    pub fn crypto(&self) -> impl Iterator<Item = &CryptoAttr<'a>> {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::Crypto(c) => Some(c),
            _ => None,
        })
    }

    pub fn crypto_tag(&self, tag: u32) -> Option<&CryptoAttr<'a>> {
        self.crypto().find(|c| c.tag == tag)
    }

    pub fn rtpmap(&self, payload_type: u8) -> Option<&Rtpmap<'a>> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Rtpmap(m) if m.payload_type == payload_type => Some(m),
            _ => None,
        })
    }

    pub fn fmtp(&self, format: &str) -> Option<&Fmtp<'a>> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Fmtp(p) if p.format == format => Some(p),
            _ => None,
        })
    }

    pub fn ptime(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Ptime(ms) => Some(*ms),
            _ => None,
        })
    }

    /// This section's own direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// The formats that are RTP payload type numbers.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| f.parse().ok())
    }
}

fn direction_of(attributes: &[Attribute<'_>]) -> Option<Direction> {
    attributes.iter().find_map(|a| match a {
        Attribute::Direction(d) => Some(*d),
        _ => None,
    })
}
