//! The first line of a message: `VERB tid endpoint MGCP 1.0 [profile]` or
//! `code tid [/package] [commentary]`.

use super::code::ReturnCode;
use super::error::{ErrorKind, ParseError};
use super::message::{EndpointName, TransactionId, Verb};
use super::parse::error;
use super::text::{find_byte, slice, small_number, token, trim_ws};

pub(crate) enum Header<'a> {
    Command {
        verb: Verb,
        tid: TransactionId,
        endpoint: EndpointName<'a>,
        version: &'a str,
    },
    Response {
        code: ReturnCode,
        tid: TransactionId,
        package: Option<&'a str>,
        commentary: &'a str,
    },
}

impl Header<'_> {
    pub(crate) fn tid(&self) -> TransactionId {
        match self {
            Header::Command { tid, .. } | Header::Response { tid, .. } => *tid,
        }
    }
}

pub(crate) fn parse_tid(s: &str, allow_zero: bool) -> Option<TransactionId> {
    let n = small_number(s)?;
    (n > 0 || allow_zero).then_some(TransactionId(n))
}

pub(crate) fn parse_header(line: &str) -> Result<Header<'_>, ParseError> {
    if let Some(header) = plain_command(line) {
        return Ok(header);
    }
    let bad = |kind, tid, cmd| error(kind, tid, 1, cmd);
    let (first, rest) = token(line).ok_or(bad(ErrorKind::BadHeader, None, false))?;

    if first.len() == 3 {
        if let Some(code) = small_number(first) {
            return response(code as u16, rest);
        }
    }
    if first.bytes().any(|b| b.is_ascii_digit()) {
        return Err(bad(ErrorKind::BadReturnCode, None, false));
    }

    let verb = Verb::from_token(first);
    let (tid_tok, rest) = token(rest).ok_or(bad(ErrorKind::BadHeader, None, true))?;
    let tid = parse_tid(tid_tok, false).ok_or(bad(ErrorKind::BadTransactionId, None, true))?;
    let verb = verb.ok_or(bad(ErrorKind::UnknownVerb, Some(tid), true))?;
    let (ep, rest) = token(rest).ok_or(bad(ErrorKind::BadHeader, Some(tid), true))?;
    let endpoint = EndpointName::parse(ep).ok_or(bad(ErrorKind::BadEndpoint, Some(tid), true))?;
    let version = trim_ws(rest);
    if is_plain_version(version.as_bytes()) {
        return Ok(Header::Command {
            verb,
            tid,
            endpoint,
            version,
        });
    }
    let missing = bad(ErrorKind::MissingVersion, Some(tid), true);
    let (proto, after) = token(version).ok_or(missing)?;
    if !proto.eq_ignore_ascii_case("MGCP") {
        return Err(missing);
    }
    let (number, _profile) = token(after).ok_or(missing)?;
    // 1.0 is RFC 3435; some PacketCable NCS devices still send 0.1.
    if number != "1.0" && number != "0.1" {
        return Err(bad(ErrorKind::UnsupportedVersion, Some(tid), true));
    }
    Ok(Header::Command {
        verb,
        tid,
        endpoint,
        version,
    })
}

/// The usual command line, `VERB tid endpoint MGCP 1.0 [profile]` with
/// single spaces, read without splitting tokens; `None` leaves anything
/// else (errors included) to the general code, which gives the same result.
fn plain_command(line: &str) -> Option<Header<'_>> {
    let b = line.as_bytes();
    let verb: [u8; 4] = b.get(..4)?.try_into().ok()?;
    if b.get(4) != Some(&b' ') {
        return None;
    }
    let verb = Verb::from_letters(verb)?;
    let mut tid = 0u32;
    let mut i = 5;
    // At most 9 digits, so no overflow.
    while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
        if i == 5 + 9 {
            return None;
        }
        tid = tid * 10 + u32::from(c - b'0');
        i += 1;
    }
    if i == 5 || tid == 0 || b.get(i) != Some(&b' ') {
        return None;
    }
    let ep_start = i + 1;
    let ep_end = ep_start + find_byte(b.get(ep_start..)?, b' ')?;
    let endpoint = EndpointName::parse(slice(line, ep_start, ep_end)?)?;
    let version = trim_ws(line.get(ep_end + 1..)?);
    is_plain_version(version.as_bytes()).then_some(Header::Command {
        verb,
        tid: TransactionId(tid),
        endpoint,
        version,
    })
}

/// `MGCP 1.0` or `MGCP 0.1` with one space, then nothing or a profile after
/// white space: the usual case, checked without splitting tokens.
fn is_plain_version(v: &[u8]) -> bool {
    const V10: u64 = u64::from_le_bytes(*b"mgcp 1.0");
    const V01: u64 = u64::from_le_bytes(*b"mgcp 0.1");
    let Some(word) = v.get(..8).and_then(|w| <[u8; 8]>::try_from(w).ok()) else {
        return false;
    };
    // Bit 5 folds the case of the four letters (and maps nothing else onto them).
    let folded = u64::from_le_bytes(word) | 0x2020_2020;
    (folded == V10 || folded == V01) && matches!(v.get(8), None | Some(b' ' | b'\t'))
}

/// The rest of a response line after its three-digit code.
fn response(code: u16, rest: &str) -> Result<Header<'_>, ParseError> {
    let bad = |kind| error(kind, None, 1, false);
    let (tid, rest) = token(rest).ok_or(bad(ErrorKind::BadHeader))?;
    let tid = parse_tid(tid, true).ok_or(bad(ErrorKind::BadTransactionId))?;
    let rest = trim_ws(rest);
    let (package, commentary) = match token(rest) {
        Some((p, c)) if p.len() > 1 && p.starts_with('/') => (Some(&p[1..]), trim_ws(c)),
        _ => (None, rest),
    };
    Ok(Header::Response {
        code: ReturnCode(code),
        tid,
        package,
        commentary,
    })
}
