//! Reading MGCP text: one message, or a datagram of piggy-backed messages.
//!
//! The parser borrows from the input, never recurses, and caps every count
//! (size, lines, parameters, messages) before it allocates.

use alloc::vec::Vec;

use super::error::{ErrorKind, ParseError};
use super::header::{parse_header, Header};
use super::message::{Command, Message, Response, TransactionId};
use super::params::{Param, ParamName};
use super::text::{is_blank, next_line};
use super::values::{parse_param, quick_param};

/// Largest message or datagram we read (the largest UDP payload).
pub const MAX_DATAGRAM: usize = 65_507;
pub const MAX_LINES: usize = 512;
pub const MAX_PARAMS: usize = 64;
pub const MAX_PIGGYBACKED: usize = 16;
/// CallId, ConnectionId and RequestIdentifier are at most 32 characters.
pub const MAX_ID_LEN: usize = 32;

/// Splits a datagram into its piggy-backed messages (RFC 3435 section
/// 3.5.5): a line holding only `.` separates them. At most
/// [`MAX_PIGGYBACKED`] pieces; the last holds any excess and fails to parse.
pub fn split_datagram(datagram: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    while pos < datagram.len() {
        let end = datagram[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(datagram.len(), |i| pos + i + 1);
        let line = &datagram[pos..end];
        let trimmed = line.strip_suffix(b"\n").unwrap_or(line);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        if trimmed == b"." && out.len() + 1 < MAX_PIGGYBACKED {
            out.push(&datagram[start..pos]);
            start = end;
        }
        pos = end;
    }
    if start < datagram.len() || out.is_empty() {
        out.push(&datagram[start..]);
    }
    out
}

/// Parses every message of a datagram; one bad message does not hide the others.
pub fn parse_datagram(datagram: &[u8]) -> Vec<Result<Message<'_>, ParseError>> {
    if datagram.len() > MAX_DATAGRAM {
        return alloc::vec![Err(error(ErrorKind::TooLarge, None, 0, false))];
    }
    split_datagram(datagram).into_iter().map(parse).collect()
}

pub(crate) fn error(
    kind: ErrorKind,
    tid: Option<TransactionId>,
    line: usize,
    is_command: bool,
) -> ParseError {
    ParseError {
        kind,
        tid,
        line: u16::try_from(line).unwrap_or(u16::MAX),
        is_command,
    }
}

/// Adds a parsed parameter; `seen` has one bit per [`ParamName`], as a
/// parameter line may appear once.
#[inline(always)]
fn push_param<'a>(
    params: &mut Vec<Param<'a>>,
    seen: &mut u32,
    param: Result<Param<'a>, ErrorKind>,
) -> Result<(), ErrorKind> {
    let param = param?;
    let name = param.name();
    let bit = 1u32 << (name as u32);
    if name != ParamName::Extension && *seen & bit != 0 {
        return Err(ErrorKind::DuplicateParam(name));
    }
    *seen |= bit;
    params.push(param);
    Ok(())
}

/// Parses one message.
pub fn parse(bytes: &[u8]) -> Result<Message<'_>, ParseError> {
    if bytes.len() > MAX_DATAGRAM {
        return Err(error(ErrorKind::TooLarge, None, 0, false));
    }
    let text =
        core::str::from_utf8(bytes).map_err(|_| error(ErrorKind::NotText, None, 0, false))?;
    if is_blank(text) {
        return Err(error(ErrorKind::Empty, None, 1, false));
    }
    let (first, mut rest) = next_line(text);
    let header = parse_header(first)?;
    let is_command = matches!(header, Header::Command { .. });
    let fail = |kind, line| error(kind, Some(header.tid()), line + 1, is_command);

    let mut params = Vec::with_capacity(8);
    let mut sdp = None;
    let mut seen = 0u32;
    let mut n = 0;
    while let Some(text) = rest {
        n += 1;
        if n >= MAX_LINES {
            return Err(fail(ErrorKind::TooManyLines, n));
        }
        // A line starting with a letter is a parameter line; most have the
        // usual shape and are read in one pass.
        if text.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
            if params.len() == MAX_PARAMS {
                return Err(fail(ErrorKind::TooManyParams, n));
            }
            if let Some((param, after)) = quick_param(text) {
                rest = after;
                push_param(&mut params, &mut seen, param).map_err(|k| fail(k, n))?;
                continue;
            }
        }
        let (line, after) = next_line(text);
        rest = after;
        if line.is_empty() {
            // The empty line before the session description (or the end).
            sdp = after.filter(|body| !is_blank(body));
            break;
        }
        if line.bytes().all(|b| b == b' ' || b == b'\t') {
            continue;
        }
        if params.len() == MAX_PARAMS {
            return Err(fail(ErrorKind::TooManyParams, n));
        }
        push_param(&mut params, &mut seen, parse_param(line)).map_err(|k| fail(k, n))?;
    }

    Ok(match header {
        Header::Command {
            verb,
            tid,
            endpoint,
            version,
        } => Message::Command(Command {
            verb,
            tid,
            endpoint,
            version,
            params,
            sdp,
        }),
        Header::Response {
            code,
            tid,
            package,
            commentary,
        } => Message::Response(Response {
            code,
            tid,
            package,
            commentary,
            params,
            sdp,
        }),
    })
}
