//! Parameter lines: the name before the colon and the typed value after it.

use alloc::vec::Vec;

use super::error::ErrorKind;
use super::events::EventList;
use super::header::parse_tid;
use super::lco::{LcoError, LocalConnectionOptions};
use super::list::each_item;
use super::message::EndpointName;
use super::params::{
    ConnectionMode, ConnectionParameter, Param, ParamName, ReasonCode, RestartMethod, TidRange,
};
use super::parse::MAX_ID_LEN;
use super::text::{
    graphic_len, is_graphic, next_line, skip_ws, slice, small_number, split_byte, token, trim_ws,
};

pub(crate) fn parse_param(line: &str) -> Result<Param<'_>, ErrorKind> {
    let (name, value) = param_name(line).ok_or(ErrorKind::BadParamLine)?;
    typed_value(ParamName::from_code(name), name, trim_ws(value), false)
}

/// The parameter line at the start of `text`, if it has the usual shape
/// (`C:` or `ES:`), with the text after it (`None` after the last line).
/// The value's line end is found by the same scan that checks it is
/// visible ASCII, the usual case for identifiers. `None` leaves the line
/// to [`parse_param`].
pub(crate) fn quick_param(text: &str) -> Option<(Result<Param<'_>, ErrorKind>, Option<&str>)> {
    let b = text.as_bytes();
    let colon = match b {
        [a, b':', ..] if a.is_ascii_alphabetic() => 1,
        [a, b, b':', ..] if a.is_ascii_alphabetic() && b.is_ascii_alphanumeric() => 2,
        _ => return None,
    };
    let start = skip_ws(b, colon + 1);
    let end = start + graphic_len(b.get(start..)?);
    let (value, graphic, rest) = match (b.get(end), b.get(end + 1)) {
        (None, _) => (slice(text, start, end)?, true, None),
        (Some(b'\n'), _) => (slice(text, start, end)?, true, text.get(end + 1..)),
        (Some(b'\r'), Some(b'\n')) => (slice(text, start, end)?, true, text.get(end + 2..)),
        (Some(b'\r'), None) => (slice(text, start, end)?, true, None),
        _ => {
            // White space or other bytes inside: the line ends further on.
            let (line, rest) = next_line(text.get(end..)?);
            let line_end = end + line.len();
            (trim_ws(text.get(start..line_end)?), false, rest)
        }
    };
    let name = text.get(..colon)?;
    let kind = match colon {
        1 => b.first().and_then(|&c| ParamName::from_letter(c)),
        _ => ParamName::from_code(name),
    };
    Some((typed_value(kind, name, value, graphic), rest))
}

/// The typed value of a parameter named `name` (`kind` if known);
/// `graphic` if the value is already known to be visible ASCII.
fn typed_value<'a>(
    kind: Option<ParamName>,
    name: &'a str,
    value: &'a str,
    graphic: bool,
) -> Result<Param<'a>, ErrorKind> {
    let kind = kind.ok_or(ErrorKind::UnknownParam)?;
    let bad = ErrorKind::BadValue(kind);
    let id = |v: &str| {
        let ok = !v.is_empty() && v.len() <= MAX_ID_LEN && (graphic || is_graphic(v));
        if ok {
            Ok(())
        } else {
            Err(bad)
        }
    };
    let nonempty = |v: &str| if v.is_empty() { Err(bad) } else { Ok(()) };
    let number = |v: &str| small_number(v).ok_or(bad);
    let events = |v| EventList::parse(v).ok_or(bad);
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

/// Items of a list, none of them empty.
fn word_list<'a, T>(s: &'a str, mut item: impl FnMut(&'a str) -> Option<T>) -> Option<Vec<T>> {
    let mut out = Vec::new();
    each_item(s, |w| {
        out.push(if w.is_empty() { None } else { item(w) }?);
        Some(())
    })?;
    Some(out)
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
