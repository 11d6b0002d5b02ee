//! Reading MGCP text: one message, or a datagram of piggy-backed messages.
//!
//! The parser borrows from the input, never recurses, and caps every count
//! (size, lines, parameters, messages) before it allocates.

use alloc::vec::Vec;

use super::code::ReturnCode;
use super::error::{ErrorKind, ParseError};
use super::lco::{LcoError, LocalConnectionOptions};
use super::message::{Command, EndpointName, Message, Response, TransactionId, Verb};
use super::params::{
    ConnectionMode, ConnectionParameter, EventItem, Param, ParamName, ReasonCode, RestartMethod,
    TidRange,
};

/// Largest message or datagram we read (the largest UDP payload).
pub const MAX_DATAGRAM: usize = 65_507;
pub const MAX_LINES: usize = 512;
pub const MAX_PARAMS: usize = 64;
pub const MAX_PIGGYBACKED: usize = 16;
/// CallId, ConnectionId and RequestIdentifier are at most 32 characters.
pub const MAX_ID_LEN: usize = 32;
const MAX_LIST_ITEMS: usize = 64;

/// Trims spaces and tabs, the only white space MGCP allows inside lines.
pub(crate) fn trim_ws(s: &str) -> &str {
    let b = s.as_bytes();
    let ws = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !ws(c)).map_or(start, |i| i + 1);
    // Both ends sit next to ASCII bytes, so they are char boundaries.
    s.get(start..end).unwrap_or("")
}

/// Splits at the first `sep` byte (an ASCII separator, so both halves are str).
/// A plain loop: MGCP fields are short, where a memchr call costs more.
pub(crate) fn split_byte(s: &str, sep: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|b| b == sep)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// A short ASCII word folded to lower case and packed into a number, so
/// keyword lookups are one integer `match`; 0 for words longer than 8 bytes.
pub(crate) const fn word_key(s: &[u8]) -> u64 {
    if s.len() > 8 {
        return 0;
    }
    let mut key = 0u64;
    let mut i = 0;
    while i < s.len() {
        key |= (s[i].to_ascii_lowercase() as u64) << (8 * i);
        i += 1;
    }
    key
}

/// Lines of a message, `\r\n` or `\n` terminated, with the terminator
/// removed. memchr here: lines are long enough for its SIMD to pay.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    core::iter::from_fn(move || {
        let s = rest?;
        let (line, tail) = match memchr::memchr(b'\n', s.as_bytes()) {
            Some(i) => (s.get(..i)?, s.get(i + 1..)),
            None => (s, None),
        };
        rest = tail;
        Some(line.strip_suffix('\r').unwrap_or(line))
    })
}

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

fn error(kind: ErrorKind, tid: Option<TransactionId>, line: usize, is_command: bool) -> ParseError {
    ParseError {
        kind,
        tid,
        line: u16::try_from(line).unwrap_or(u16::MAX),
        is_command,
    }
}

/// Parses one message.
pub fn parse(bytes: &[u8]) -> Result<Message<'_>, ParseError> {
    if bytes.len() > MAX_DATAGRAM {
        return Err(error(ErrorKind::TooLarge, None, 0, false));
    }
    let text =
        core::str::from_utf8(bytes).map_err(|_| error(ErrorKind::NotText, None, 0, false))?;
    if text.trim().is_empty() {
        return Err(error(ErrorKind::Empty, None, 1, false));
    }
    let (head, sdp) = split_body(text);
    let mut lines = lines(head).enumerate();
    let (_, first) = lines
        .next()
        .ok_or(error(ErrorKind::Empty, None, 1, false))?;
    let header = parse_header(first)?;
    let (tid, is_command) = match &header {
        Header::Command { tid, .. } => (Some(*tid), true),
        Header::Response { tid, .. } => (Some(*tid), false),
    };
    let fail = |kind, line| error(kind, tid, line + 1, is_command);

    let mut params = Vec::with_capacity(8);
    // One bit per ParamName: a parameter line may appear once.
    let mut seen = 0u32;
    for (n, line) in lines {
        if n >= MAX_LINES {
            return Err(fail(ErrorKind::TooManyLines, n));
        }
        if trim_ws(line).is_empty() {
            continue;
        }
        if params.len() == MAX_PARAMS {
            return Err(fail(ErrorKind::TooManyParams, n));
        }
        let param = parse_param(line).map_err(|k| fail(k, n))?;
        let name = param.name();
        let bit = 1u32 << (name as u32);
        if name != ParamName::Extension && seen & bit != 0 {
            return Err(fail(ErrorKind::DuplicateParam(name), n));
        }
        seen |= bit;
        params.push(param);
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

/// Splits at the first empty line: header and parameters before, the
/// session description after (absent if nothing but white space follows).
fn split_body(text: &str) -> (&str, Option<&str>) {
    let b = text.as_bytes();
    for nl in memchr::memchr_iter(b'\n', b) {
        let at = match &b[nl + 1..] {
            [b'\n', ..] => nl + 2,
            [b'\r', b'\n', ..] => nl + 3,
            _ => continue,
        };
        let body = &text[at..];
        return (&text[..=nl], (!body.trim().is_empty()).then_some(body));
    }
    (text, None)
}

enum Header<'a> {
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

/// Splits off the first white-space separated token.
fn token(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let ws = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !ws(c))?;
    let end = b[start..]
        .iter()
        .position(ws)
        .map_or(b.len(), |i| start + i);
    Some((s.get(start..end)?, s.get(end..)?))
}

fn parse_tid(s: &str, allow_zero: bool) -> Option<TransactionId> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = s.parse().ok()?;
    (n > 0 || allow_zero).then_some(TransactionId(n))
}

fn parse_header(line: &str) -> Result<Header<'_>, ParseError> {
    let bad = |kind, tid, cmd| error(kind, tid, 1, cmd);
    let (first, rest) = token(line).ok_or(bad(ErrorKind::BadHeader, None, false))?;

    if first.len() == 3 && first.bytes().all(|b| b.is_ascii_digit()) {
        let code = ReturnCode(
            first
                .parse()
                .map_err(|_| bad(ErrorKind::BadReturnCode, None, false))?,
        );
        let (tid, rest) = token(rest).ok_or(bad(ErrorKind::BadHeader, None, false))?;
        let tid = parse_tid(tid, true).ok_or(bad(ErrorKind::BadTransactionId, None, false))?;
        let rest = trim_ws(rest);
        let (package, commentary) = match token(rest) {
            Some((p, c)) if p.len() > 1 && p.starts_with('/') => (Some(&p[1..]), trim_ws(c)),
            _ => (None, rest),
        };
        return Ok(Header::Response {
            code,
            tid,
            package,
            commentary,
        });
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
    let (proto, after) = token(version).ok_or(bad(ErrorKind::MissingVersion, Some(tid), true))?;
    if !proto.eq_ignore_ascii_case("MGCP") {
        return Err(bad(ErrorKind::MissingVersion, Some(tid), true));
    }
    let (number, _profile) = token(after).ok_or(bad(ErrorKind::MissingVersion, Some(tid), true))?;
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

fn parse_param(line: &str) -> Result<Param<'_>, ErrorKind> {
    let (name, value) = split_byte(line, b':').ok_or(ErrorKind::BadParamLine)?;
    let name = trim_ws(name);
    let value = trim_ws(value);
    if name.is_empty() || name.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(ErrorKind::BadParamLine);
    }
    let kind = ParamName::from_code(name).ok_or(ErrorKind::UnknownParam)?;
    let bad = ErrorKind::BadValue(kind);
    let id = |v: &str| {
        let ok = !v.is_empty() && v.len() <= MAX_ID_LEN && v.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(())
        } else {
            Err(bad)
        }
    };
    let nonempty = |v: &str| if v.is_empty() { Err(bad) } else { Ok(()) };
    let number = |v: &str| {
        if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad);
        }
        v.parse::<u32>().map_err(|_| bad)
    };
    let events = |v| event_list(v).ok_or(bad);
    let lco = |v| {
        LocalConnectionOptions::parse(v).map_err(|e| match e {
            LcoError::Syntax => ErrorKind::LcoSyntax,
            LcoError::Value => ErrorKind::LcoValue,
            LcoError::Duplicate => ErrorKind::LcoDuplicate,
        })
    };
    Ok(match kind {
        ParamName::ResponseAck => Param::ResponseAck(tid_ranges(value).ok_or(bad)?),
        ParamName::BearerInformation => Param::BearerInformation(nonempty(value).map(|_| value)?),
        ParamName::CallId => Param::CallId(id(value).map(|_| value)?),
        ParamName::ConnectionId => Param::ConnectionId(id(value).map(|_| value)?),
        ParamName::SecondConnectionId => Param::SecondConnectionId(id(value).map(|_| value)?),
        ParamName::NotifiedEntity => Param::NotifiedEntity(nonempty(value).map(|_| value)?),
        ParamName::RequestIdentifier => Param::RequestIdentifier(id(value).map(|_| value)?),
        ParamName::LocalConnectionOptions => Param::LocalConnectionOptions(lco(value)?),
        ParamName::ConnectionMode => {
            Param::ConnectionMode(ConnectionMode::from_token(value).ok_or(ErrorKind::BadMode)?)
        }
        ParamName::RequestedEvents => Param::RequestedEvents(events(value)?),
        ParamName::SignalRequests => Param::SignalRequests(events(value)?),
        ParamName::DigitMap => Param::DigitMap(value),
        ParamName::ObservedEvents => Param::ObservedEvents(events(value)?),
        ParamName::ConnectionParameters => {
            Param::ConnectionParameters(connection_parameters(value).ok_or(bad)?)
        }
        ParamName::ReasonCode => Param::ReasonCode(reason_code(value).ok_or(bad)?),
        ParamName::SpecificEndpointId => {
            Param::SpecificEndpointId(EndpointName::parse(value).ok_or(bad)?)
        }
        ParamName::SecondEndpointId => {
            Param::SecondEndpointId(EndpointName::parse(value).ok_or(bad)?)
        }
        ParamName::RequestedInfo => Param::RequestedInfo(word_list(value, Some).ok_or(bad)?),
        ParamName::QuarantineHandling => {
            Param::QuarantineHandling(word_list(value, Some).ok_or(bad)?)
        }
        ParamName::DetectEvents => Param::DetectEvents(events(value)?),
        ParamName::EventStates => Param::EventStates(events(value)?),
        ParamName::RestartMethod => Param::RestartMethod(
            RestartMethod::from_token(value).ok_or(ErrorKind::BadRestartMethod)?,
        ),
        ParamName::RestartDelay => Param::RestartDelay(number(value)?),
        ParamName::Capabilities => Param::Capabilities(lco(value)?),
        ParamName::PackageList => Param::PackageList(package_list(value).ok_or(bad)?),
        ParamName::MaxMgcpDatagram => Param::MaxMgcpDatagram(number(value)?),
        ParamName::Extension => Param::Extension { name, value },
    })
}

/// Splits at commas outside parentheses, brackets and quotes, mapping each
/// trimmed item straight into the result (no intermediate list).
fn split_top_level<'a, T>(
    s: &'a str,
    mut item: impl FnMut(&'a str) -> Option<T>,
) -> Option<Vec<T>> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0u32, false, 0);
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'(' | b'[' if !quoted => depth += 1,
            b')' | b']' if !quoted => depth = depth.checked_sub(1)?,
            b',' if !quoted && depth == 0 => {
                if out.len() == MAX_LIST_ITEMS {
                    return None;
                }
                out.push(item(trim_ws(&s[start..i]))?);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 || quoted || out.len() == MAX_LIST_ITEMS {
        return None;
    }
    let last = trim_ws(&s[start..]);
    if !(last.is_empty() && out.is_empty()) {
        out.push(item(last)?);
    }
    Some(out)
}

/// `name` or `name(args)` items; an empty value is an empty list.
fn event_list(s: &str) -> Option<Vec<EventItem<'_>>> {
    split_top_level(s, |item| {
        let (name, args) = match item.bytes().position(|c| c == b'(') {
            Some(open) => {
                let args = item[open + 1..].strip_suffix(')')?;
                (trim_ws(&item[..open]), Some(args))
            }
            None => (item, None),
        };
        let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic());
        ok.then_some(EventItem { name, args })
    })
}

/// Items of a list, none of them empty.
fn word_list<'a, T>(s: &'a str, mut item: impl FnMut(&'a str) -> Option<T>) -> Option<Vec<T>> {
    split_top_level(s, |w| if w.is_empty() { None } else { item(w) })
}

fn tid_ranges(s: &str) -> Option<Vec<TidRange>> {
    word_list(s, |r| {
        let (a, b) = split_byte(r, b'-').unwrap_or((r, r));
        let first = parse_tid(trim_ws(a), false)?;
        let last = parse_tid(trim_ws(b), false)?;
        (first <= last).then_some(TidRange { first, last })
    })
}

fn connection_parameters(s: &str) -> Option<Vec<ConnectionParameter<'_>>> {
    word_list(s, |p| {
        let (name, value) = split_byte(p, b'=')?;
        let (name, value) = (trim_ws(name), trim_ws(value));
        (!name.is_empty()).then_some(ConnectionParameter { name, value })
    })
}

fn reason_code(s: &str) -> Option<ReasonCode<'_>> {
    let (code, text) = token(s)?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(ReasonCode {
        code: code.parse().ok()?,
        text: trim_ws(text),
    })
}

fn package_list(s: &str) -> Option<Vec<(&str, &str)>> {
    word_list(s, |p| {
        let (name, version) = split_byte(p, b':')?;
        Some((trim_ws(name), trim_ws(version)))
    })
}
