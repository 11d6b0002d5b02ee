//! Writing MGCP text: CRLF line ends, short parameter codes, the SDP body as given.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use super::message::{Command, Message, Response};
use super::params::Param;

fn write_params(f: &mut impl Write, params: &[Param<'_>], sdp: Option<&str>) -> fmt::Result {
    for p in params {
        // An empty value (`K:` asking for a 000, an empty event list) is written without a space.
        if p.is_empty_value() {
            write!(f, "{}:\r\n", p.code())?;
        } else {
            write!(f, "{}: {p}\r\n", p.code())?;
        }
    }
    if let Some(sdp) = sdp {
        f.write_str("\r\n")?;
        f.write_str(sdp)?;
    }
    Ok(())
}

impl fmt::Display for Command<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}\r\n",
            self.verb, self.tid, self.endpoint, self.version
        )?;
        write_params(f, &self.params, self.sdp)
    }
}

impl fmt::Display for Response<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.tid)?;
        if let Some(p) = self.package {
            write!(f, " /{p}")?;
        }
        if !self.commentary.is_empty() {
            write!(f, " {}", self.commentary)?;
        }
        f.write_str("\r\n")?;
        write_params(f, &self.params, self.sdp)
    }
}

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Command(c) => c.fmt(f),
            Message::Response(r) => r.fmt(f),
        }
    }
}

impl Message<'_> {
    /// The wire bytes of this message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::with_capacity(256 + self.sdp().map_or(0, str::len));
        // Writing into a String cannot fail.
        let _ = write!(out, "{self}");
        out.into_bytes()
    }
}

/// Piggy-backs messages into one datagram, separated by `.` lines.
pub fn encode_datagram<'m, 'a: 'm>(messages: impl IntoIterator<Item = &'m Message<'a>>) -> Vec<u8> {
    let mut out = String::new();
    for (i, m) in messages.into_iter().enumerate() {
        if i > 0 {
            if !out.ends_with('\n') {
                out.push_str("\r\n");
            }
            out.push_str(".\r\n");
        }
        // Writing into a String cannot fail.
        let _ = write!(out, "{m}");
    }
    out.into_bytes()
}
