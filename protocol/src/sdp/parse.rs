//! Reading SDP text line by line (CRLF or LF).
//!
//! Fields borrow from the input; the parser never recurses and caps every
//! count before it grows a vector. `v=`, `o=` and `s=` must open the
//! description in that order (RFC 4566 section 5); other session lines
//! may come in any order, since real gateways do not all keep it.

use alloc::vec::Vec;

use super::crypto::{digits, CryptoAttr, CryptoError};
use super::error::{ErrorKind, ParseError};
use super::model::{
    Attribute, Connection, Direction, Fmtp, Media, Origin, RawLine, Rtpmap, Sdp, Timing,
};
use crate::mgcp::EncryptionKey;

/// Largest description we read; telephony SDP is well under 2 KiB.
pub const MAX_LEN: usize = 16 * 1024;
pub const MAX_LINES: usize = 256;
pub const MAX_MEDIA: usize = 8;
/// Per section (session level or one `m=`).
pub const MAX_ATTRIBUTES: usize = 64;
pub const MAX_FORMATS: usize = 32;
pub const MAX_TIMES: usize = 8;

fn fail(kind: ErrorKind, line: usize) -> ParseError {
    ParseError {
        kind,
        line: u16::try_from(line).unwrap_or(u16::MAX),
    }
}

/// Numbered `<type>=<value>` lines, blank lines skipped.
struct Lines<'a> {
    inner: core::iter::Enumerate<core::str::Split<'a, char>>,
    last: usize,
}

type Line<'a> = (usize, char, &'a str);

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines {
            inner: text.split('\n').enumerate(),
            last: 0,
        }
    }

    /// Where a line that never came would have been.
    fn end(&self) -> usize {
        self.last + 1
    }

    fn next_line(&mut self) -> Result<Option<Line<'a>>, ParseError> {
        for (i, raw) in self.inner.by_ref() {
            let n = i + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                continue;
            }
            if n > MAX_LINES {
                return Err(fail(ErrorKind::TooManyLines, n));
            }
            self.last = n;
            let b = line.as_bytes();
            let well_formed = b.len() >= 2 && b[0].is_ascii_lowercase() && b[1] == b'=';
            if !well_formed || line.contains(['\0', '\r']) {
                return Err(fail(ErrorKind::BadLine, n));
            }
            return Ok(Some((n, char::from(b[0]), &line[2..])));
        }
        Ok(None)
    }
}

impl<'a> Sdp<'a> {
    /// Parses a full session description.
    pub fn parse(text: &'a str) -> Result<Sdp<'a>, ParseError> {
        parse(text)
    }
}

/// Parses a full session description.
pub fn parse(text: &str) -> Result<Sdp<'_>, ParseError> {
    if text.len() > MAX_LEN {
        return Err(fail(ErrorKind::TooLarge, 0));
    }
    let mut lines = Lines::new(text);
    let (n, kind, v) = lines.next_line()?.ok_or(fail(ErrorKind::Empty, 0))?;
    if kind != 'v' {
        return Err(fail(ErrorKind::MissingVersion, n));
    }
    if v != "0" {
        return Err(fail(ErrorKind::UnsupportedVersion, n));
    }
    let origin = match lines.next_line()? {
        Some((n, 'o', v)) => parse_origin(v).ok_or(fail(ErrorKind::BadOrigin, n))?,
        Some((n, ..)) => return Err(fail(ErrorKind::MissingOrigin, n)),
        None => return Err(fail(ErrorKind::MissingOrigin, lines.end())),
    };
    let session_name = match lines.next_line()? {
        Some((_, 's', v)) => v,
        Some((n, ..)) => return Err(fail(ErrorKind::MissingSessionName, n)),
        None => return Err(fail(ErrorKind::MissingSessionName, lines.end())),
    };
    let mut sdp = Sdp::new(origin, session_name);
    sdp.times.clear();

    let mut pending = lines.next_line()?;
    while let Some((n, kind, v)) = pending {
        if kind == 'm' {
            break;
        }
        session_line(&mut sdp, kind, v).map_err(|k| fail(k, n))?;
        pending = lines.next_line()?;
    }
    if sdp.times.is_empty() {
        let at = pending.map_or(lines.end(), |p| p.0);
        return Err(fail(ErrorKind::MissingTiming, at));
    }

    // Here `pending`, if any, is an m= line.
    while let Some((n, _, v)) = pending {
        if sdp.media.len() == MAX_MEDIA {
            return Err(fail(ErrorKind::TooManyMedia, n));
        }
        let mut media = parse_media(v).map_err(|k| fail(k, n))?;
        pending = lines.next_line()?;
        while let Some((n, kind, v)) = pending {
            if kind == 'm' {
                break;
            }
            media_line(&mut media, kind, v).map_err(|k| fail(k, n))?;
            pending = lines.next_line()?;
        }
        sdp.media.push(media);
    }
    Ok(sdp)
}

fn session_line<'a>(sdp: &mut Sdp<'a>, kind: char, v: &'a str) -> Result<(), ErrorKind> {
    match kind {
        'v' | 'o' | 's' => Err(ErrorKind::Duplicate(kind)),
        'i' | 'u' | 'e' | 'p' | 'b' | 'z' => {
            keep_raw(&mut sdp.other, RawLine { kind, value: v }, "iuepbz");
            Ok(())
        }
        'c' => set_once(&mut sdp.connection, kind, || {
            parse_connection(v).ok_or(ErrorKind::BadConnection)
        }),
        'k' => set_once(&mut sdp.key, kind, || {
            EncryptionKey::parse(v).ok_or(ErrorKind::BadKeyField)
        }),
        't' => {
            if sdp.times.len() == MAX_TIMES {
                return Err(ErrorKind::TooManyTimes);
            }
            sdp.times.push(parse_timing(v).ok_or(ErrorKind::BadTiming)?);
            Ok(())
        }
        'r' => {
            let t = sdp.times.last_mut().ok_or(ErrorKind::OutOfPlace(kind))?;
            t.repeats.push(v);
            Ok(())
        }
        'a' => push_attribute(&mut sdp.attributes, v),
        _ => Err(ErrorKind::UnknownType(kind)),
    }
}

fn media_line<'a>(media: &mut Media<'a>, kind: char, v: &'a str) -> Result<(), ErrorKind> {
    match kind {
        'i' | 'b' => {
            keep_raw(&mut media.other, RawLine { kind, value: v }, "ib");
            Ok(())
        }
        'c' => set_once(&mut media.connection, kind, || {
            parse_connection(v).ok_or(ErrorKind::BadConnection)
        }),
        'k' => set_once(&mut media.key, kind, || {
            EncryptionKey::parse(v).ok_or(ErrorKind::BadKeyField)
        }),
        'a' => push_attribute(&mut media.attributes, v),
        'v' | 'o' | 's' | 'u' | 'e' | 'p' | 't' | 'r' | 'z' => Err(ErrorKind::OutOfPlace(kind)),
        _ => Err(ErrorKind::UnknownType(kind)),
    }
}

/// Keeps raw lines in the order they are written back (`order`), so a
/// description that arrived out of RFC order still equals its rewrite.
fn keep_raw<'a>(lines: &mut Vec<RawLine<'a>>, line: RawLine<'a>, order: &str) {
    let rank = |k: char| order.find(k).unwrap_or(usize::MAX);
    let at = lines
        .iter()
        .rposition(|l| rank(l.kind) <= rank(line.kind))
        .map_or(0, |i| i + 1);
    lines.insert(at, line);
}

fn set_once<T>(
    slot: &mut Option<T>,
    kind: char,
    make: impl FnOnce() -> Result<T, ErrorKind>,
) -> Result<(), ErrorKind> {
    if slot.is_some() {
        return Err(ErrorKind::Duplicate(kind));
    }
    *slot = Some(make()?);
    Ok(())
}

fn push_attribute<'a>(attrs: &mut Vec<Attribute<'a>>, v: &'a str) -> Result<(), ErrorKind> {
    if attrs.len() == MAX_ATTRIBUTES {
        return Err(ErrorKind::TooManyAttributes);
    }
    let a = Attribute::parse(v)?;
    match &a {
        Attribute::Direction(_) if attrs.iter().any(|b| matches!(b, Attribute::Direction(_))) => {
            return Err(ErrorKind::ConflictingDirection);
        }
        Attribute::Crypto(c)
            if attrs
                .iter()
                .any(|b| matches!(b, Attribute::Crypto(d) if d.tag == c.tag)) =>
        {
            return Err(ErrorKind::DuplicateCryptoTag);
        }
        _ => {}
    }
    attrs.push(a);
    Ok(())
}

/// Space- or tab-separated words.
fn words(v: &str) -> impl Iterator<Item = &str> {
    v.split([' ', '\t']).filter(|w| !w.is_empty())
}

/// A non-empty word without control characters (bytes over 0x7F allowed,
/// as in RFC 4566's `non-ws-string`).
fn word_ok(w: &str) -> bool {
    !w.is_empty() && w.bytes().all(|b| b > b' ' && b != 0x7f)
}

/// `IN` takes only `IP4` and `IP6`; other network types are kept as sent.
fn address_ok(net: &str, addr_type: &str, address: &str) -> bool {
    let family_ok = !net.eq_ignore_ascii_case("IN")
        || addr_type.eq_ignore_ascii_case("IP4")
        || addr_type.eq_ignore_ascii_case("IP6");
    family_ok && [net, addr_type, address].into_iter().all(word_ok)
}

/// Exactly `N` words, or `None`.
fn exactly<const N: usize>(v: &str) -> Option<[&str; N]> {
    let mut out = [""; N];
    let mut it = words(v);
    for slot in out.iter_mut() {
        *slot = it.next()?;
    }
    it.next().is_none().then_some(out)
}

fn parse_origin(v: &str) -> Option<Origin<'_>> {
    let [username, id, version, net_type, addr_type, address] = exactly::<6>(v)?;
    if !word_ok(username) || !address_ok(net_type, addr_type, address) {
        return None;
    }
    Some(Origin {
        username,
        session_id: digits(id, 20)?,
        session_version: digits(version, 20)?,
        net_type,
        addr_type,
        address,
    })
}

fn parse_connection(v: &str) -> Option<Connection<'_>> {
    let [net_type, addr_type, address] = exactly::<3>(v)?;
    address_ok(net_type, addr_type, address).then_some(Connection {
        net_type,
        addr_type,
        address,
    })
}

fn parse_timing(v: &str) -> Option<Timing<'_>> {
    let [start, stop] = exactly::<2>(v)?;
    Some(Timing {
        start: digits(start, 20)?,
        stop: digits(stop, 20)?,
        repeats: Vec::new(),
    })
}

fn parse_media(v: &str) -> Result<Media<'_>, ErrorKind> {
    let bad = ErrorKind::BadMedia;
    let mut it = words(v);
    let kind = it.next().filter(|w| word_ok(w)).ok_or(bad)?;
    let ports = it.next().ok_or(bad)?;
    let proto = it.next().filter(|w| word_ok(w)).ok_or(bad)?;
    let (port, count) = match ports.split_once('/') {
        Some((p, c)) => (p, Some(c)),
        None => (ports, None),
    };
    let port16 = |s: &str| digits(s, 5).and_then(|n| u16::try_from(n).ok());
    let mut media = Media::new(kind, port16(port).ok_or(bad)?, proto);
    media.port_count = match count {
        Some(c) => Some(port16(c).filter(|&n| n > 0).ok_or(bad)?),
        None => None,
    };
    for f in it {
        if media.formats.len() == MAX_FORMATS {
            return Err(ErrorKind::TooManyFormats);
        }
        if !word_ok(f) {
            return Err(bad);
        }
        media.formats.push(f);
    }
    if media.formats.is_empty() {
        return Err(bad);
    }
    Ok(media)
}

impl<'a> Attribute<'a> {
    /// Parses what follows `a=`: `name` or `name:value`.
    pub fn parse(text: &'a str) -> Result<Attribute<'a>, ErrorKind> {
        let (name, value) = match text.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (text, None),
        };
        if !word_ok(name) {
            return Err(ErrorKind::BadAttribute);
        }
        Ok(match (name, value) {
            ("rtpmap", Some(v)) => Attribute::Rtpmap(parse_rtpmap(v).ok_or(ErrorKind::BadRtpmap)?),
            ("rtpmap", None) => return Err(ErrorKind::BadRtpmap),
            ("fmtp", Some(v)) => Attribute::Fmtp(parse_fmtp(v).ok_or(ErrorKind::BadFmtp)?),
            ("fmtp", None) => return Err(ErrorKind::BadFmtp),
            ("ptime", v) => {
                let ms = v.and_then(|v| digits(v.trim(), 9)).filter(|&ms| ms > 0);
                Attribute::Ptime(ms.ok_or(ErrorKind::BadPtime)? as u32)
            }
            ("crypto", v) => Attribute::Crypto(CryptoAttr::parse(v.ok_or(CryptoError::Syntax)?)?),
            (name, value) => match Direction::from_name(name) {
                Some(_) if value.is_some() => return Err(ErrorKind::BadDirection),
                Some(d) => Attribute::Direction(d),
                None => Attribute::Other { name, value },
            },
        })
    }
}

fn parse_rtpmap(v: &str) -> Option<Rtpmap<'_>> {
    let [pt, mapping] = exactly::<2>(v)?;
    let payload_type = digits(pt, 3).filter(|&n| n <= 127)? as u8;
    let mut parts = mapping.splitn(3, '/');
    let encoding = parts.next().filter(|e| word_ok(e))?;
    let clock_rate = u32::try_from(digits(parts.next()?, 10)?).ok()?;
    let params = match parts.next() {
        Some(p) if !word_ok(p) => return None,
        p => p,
    };
    Some(Rtpmap {
        payload_type,
        encoding,
        clock_rate,
        params,
    })
}

fn parse_fmtp(v: &str) -> Option<Fmtp<'_>> {
    let v = v.trim_matches([' ', '\t']);
    let (format, params) = v.split_once([' ', '\t']).unwrap_or((v, ""));
    word_ok(format).then_some(Fmtp {
        format,
        params: params.trim_matches([' ', '\t']),
    })
}
