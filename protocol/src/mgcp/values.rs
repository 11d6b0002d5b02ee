//! Parameter lines: the name before the colon and the typed value after it.

use alloc::vec::Vec;

use super::error::ErrorKind;
use super::header::parse_tid;
use super::lco::{LcoError, LocalConnectionOptions};
use super::message::EndpointName;
use super::params::{
    ConnectionMode, ConnectionParameter, EventItem, Param, ParamName, ReasonCode, RestartMethod,
    TidRange,
};
use super::parse::MAX_ID_LEN;
use super::text::{is_graphic, small_number, split_byte, token, trim_ws};

const MAX_LIST_ITEMS: usize = 64;

pub(crate) fn parse_param(line: &str) -> Result<Param<'_>, ErrorKind> {
    let (name, value) = param_name(line).ok_or(ErrorKind::BadParamLine)?;
    let value = trim_ws(value);
    let kind = ParamName::from_code(name).ok_or(ErrorKind::UnknownParam)?;
    let bad = ErrorKind::BadValue(kind);
    let id = |v: &str| {
        let ok = !v.is_empty() && v.len() <= MAX_ID_LEN && is_graphic(v);
        if ok {
            Ok(())
        } else {
            Err(bad)
        }
    };
    let nonempty = |v: &str| if v.is_empty() { Err(bad) } else { Ok(()) };
    let number = |v: &str| small_number(v).ok_or(bad);
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

/// The trimmed name before the first colon (visible ASCII, not empty) and
/// the untrimmed rest.
fn param_name(line: &str) -> Option<(&str, &str)> {
    // Nearly every line starts `C:` or `ES:`: no trimming or scanning needed.
    let colon = match line.as_bytes() {
        [a, b':', ..] if a.is_ascii_alphabetic() => 1,
        [a, b, b':', ..] if a.is_ascii_alphabetic() && b.is_ascii_alphanumeric() => 2,
        _ => {
            let (name, value) = split_byte(line, b':')?;
            let name = trim_ws(name);
            return (!name.is_empty() && is_graphic(name)).then_some((name, value));
        }
    };
    Some((line.get(..colon)?, line.get(colon + 1..)?))
}

/// Splits at commas outside parentheses, brackets and quotes, mapping each
/// trimmed item straight into the result (no intermediate list).
fn split_top_level<'a, T>(
    s: &'a str,
    mut item: impl FnMut(&'a str) -> Option<T>,
) -> Option<Vec<T>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    if !b.is_empty() {
        out.reserve(4);
    }
    let (mut depth, mut quoted, mut start) = (0u32, false, 0);
    for (i, &c) in b.iter().enumerate() {
        // Most bytes are none of the six that matter: one test skips them.
        if !SPECIAL[usize::from(c)] {
            continue;
        }
        match c {
            b'"' => quoted = !quoted,
            _ if quoted => {}
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth = depth.checked_sub(1)?,
            _ if depth > 0 => {}
            _ => {
                // A top-level comma; ASCII, so the slices are on char boundaries.
                if out.len() == MAX_LIST_ITEMS {
                    return None;
                }
                out.push(item(trim_ws(s.get(start..i)?))?);
                start = i + 1;
            }
        }
    }
    if depth != 0 || quoted || out.len() == MAX_LIST_ITEMS {
        return None;
    }
    let last = trim_ws(s.get(start..)?);
    if !(last.is_empty() && out.is_empty()) {
        out.push(item(last)?);
    }
    Some(out)
}

/// The bytes [`split_top_level`] acts on.
static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    let special = b"\"()[],";
    while i < special.len() {
        t[special[i] as usize] = true;
        i += 1;
    }
    t
};

/// `name` or `name(args)` items; an empty value is an empty list.
fn event_list(s: &str) -> Option<Vec<EventItem<'_>>> {
    split_top_level(s, |item| {
        // Usually one pass: visible bytes up to `(` or the end.
        let b = item.as_bytes();
        let open = b.iter().position(|&c| c == b'(' || !c.is_ascii_graphic());
        match open {
            None if !b.is_empty() => {
                return Some(EventItem {
                    name: item,
                    args: None,
                })
            }
            Some(i) if i > 0 && b[i] == b'(' => {
                let args = item.get(i + 1..)?.strip_suffix(')')?;
                return Some(EventItem {
                    name: item.get(..i)?,
                    args: Some(args),
                });
            }
            _ => {}
        }
        let (name, args) = match item.bytes().position(|c| c == b'(') {
            Some(open) => {
                let args = item[open + 1..].strip_suffix(')')?;
                (trim_ws(&item[..open]), Some(args))
            }
            None => (item, None),
        };
        let ok = !name.is_empty() && is_graphic(name);
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
