//! Writing SDP text: CRLF line ends, RFC 4566 line order, keys included.
//!
//! Raw lines are written in the slot RFC 4566 gives their type, so a
//! description parsed and written back means the same.

use core::fmt;

use super::model::{Attribute, Connection, Fmtp, Media, Origin, RawLine, Rtpmap, Sdp, Timing};
use crate::mgcp::EncryptionKey;

fn raw(f: &mut fmt::Formatter<'_>, lines: &[RawLine<'_>], kind: char) -> fmt::Result {
    lines
        .iter()
        .filter(|l| l.kind == kind)
        .try_for_each(|l| write!(f, "{}={}\r\n", l.kind, l.value))
}

fn key(f: &mut fmt::Formatter<'_>, k: Option<&EncryptionKey<'_>>) -> fmt::Result {
    match k {
        None => Ok(()),
        Some(EncryptionKey::Prompt) => f.write_str("k=prompt\r\n"),
        Some(k @ (EncryptionKey::Clear(t) | EncryptionKey::Base64(t) | EncryptionKey::Uri(t))) => {
            write!(f, "k={}:{t}\r\n", k.method())
        }
    }
}

fn attributes(f: &mut fmt::Formatter<'_>, attrs: &[Attribute<'_>]) -> fmt::Result {
    attrs.iter().try_for_each(|a| write!(f, "a={a}\r\n"))
}

impl fmt::Display for Sdp<'_> {
    /// The wire form, keys included: never log it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v=0\r\no={}\r\ns={}\r\n", self.origin, self.session_name)?;
        for kind in ['i', 'u', 'e', 'p'] {
            raw(f, &self.other, kind)?;
        }
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        raw(f, &self.other, 'b')?;
        self.times.iter().try_for_each(|t| write!(f, "{t}"))?;
        raw(f, &self.other, 'z')?;
        key(f, self.key.as_ref())?;
        attributes(f, &self.attributes)?;
        self.media.iter().try_for_each(|m| write!(f, "{m}"))
    }
}

impl fmt::Display for Media<'_> {
    /// The `m=` section, CRLF-terminated lines, keys included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.kind, self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.proto)?;
        self.formats.iter().try_for_each(|x| write!(f, " {x}"))?;
        f.write_str("\r\n")?;
        raw(f, &self.other, 'i')?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        raw(f, &self.other, 'b')?;
        key(f, self.key.as_ref())?;
        attributes(f, &self.attributes)
    }
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.session_version,
            self.net_type,
            self.addr_type,
            self.address
        )
    }
}

impl fmt::Display for Connection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

impl fmt::Display for Timing<'_> {
    /// The `t=` line and its `r=` lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={} {}\r\n", self.start, self.stop)?;
        self.repeats.iter().try_for_each(|r| write!(f, "r={r}\r\n"))
    }
}

impl fmt::Display for Rtpmap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.payload_type, self.encoding, self.clock_rate
        )?;
        match self.params {
            Some(p) => write!(f, "/{p}"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Fmtp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.format)?;
        if !self.params.is_empty() {
            write!(f, " {}", self.params)?;
        }
        Ok(())
    }
}

impl fmt::Display for Attribute<'_> {
    /// What follows `a=`; an `a=crypto` key is written in full.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::Rtpmap(m) => write!(f, "rtpmap:{m}"),
            Attribute::Fmtp(p) => write!(f, "fmtp:{p}"),
            Attribute::Ptime(ms) => write!(f, "ptime:{ms}"),
            Attribute::Direction(d) => f.write_str(d.as_str()),
            Attribute::Crypto(c) => write!(f, "crypto:{c}"),
            Attribute::Other { name, value: None } => f.write_str(name),
            Attribute::Other {
                name,
                value: Some(v),
            } => write!(f, "{name}:{v}"),
        }
    }
}
