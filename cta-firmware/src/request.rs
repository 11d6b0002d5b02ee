//! Notification requests (RFC 3435 section 3.2.2.8 and 3.2.2.9): which
//! events to watch for and what to do when one happens, and which signals
//! to play. Parsed once from an RQNT into owned values, so a bad request is
//! refused with its code before anything changes.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use cablekey_protocol::mgcp::{EventItem, EventList, ReturnCode};

use crate::digitmap::{DigitMap, Symbol, SymbolSet};
use crate::ports::Signal;
use crate::signal::SignalSet;

/// Most requested events in one request.
pub const MAX_EVENTS: usize = 16;

/// An event the line observed, as reported in `O:`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Observed {
    #[default]
    HookDown,
    HookUp,
    Flash,
    Digit(Symbol),
    /// A time-out signal ran to its end.
    OperationComplete,
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Observed::HookDown => f.write_str("L/hd"),
            Observed::HookUp => f.write_str("L/hu"),
            Observed::Flash => f.write_str("L/hf"),
            Observed::Digit(s) => write!(f, "D/{}", s.as_char()),
            Observed::OperationComplete => f.write_str("L/oc"),
        }
    }
}

/// Which observed events a requested event names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spec {
    HookDown,
    HookUp,
    Flash,
    Digits(SymbolSet),
    OperationComplete,
    /// `L/of`: accepted, never observed here.
    OperationFailure,
}

impl Spec {
    fn matches(self, ev: Observed) -> bool {
        match (self, ev) {
            (Spec::HookDown, Observed::HookDown)
            | (Spec::HookUp, Observed::HookUp)
            | (Spec::Flash, Observed::Flash)
            | (Spec::OperationComplete, Observed::OperationComplete) => true,
            (Spec::Digits(set), Observed::Digit(s)) => set.contains(s),
            _ => false,
        }
    }
}

/// The actions of one requested event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Actions {
    pub notify: bool,
    pub accumulate: bool,
    /// Accumulate according to the digit map (`D`).
    pub digit_map: bool,
    pub swap_audio: bool,
    pub ignore: bool,
    pub keep_signals: bool,
}

/// An embedded notification request (`E(R(...),S(...),D(...))`): replaces
/// the current one when its event happens. One level deep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Embedded {
    pub events: Vec<Requested>,
    pub signals: Option<Signals>,
    pub digit_map: Option<DigitMap>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requested {
    spec: Spec,
    pub actions: Actions,
    pub embedded: Option<Box<Embedded>>,
}

impl Requested {
    pub fn matches(&self, ev: Observed) -> bool {
        self.spec.matches(ev)
    }

    pub fn is_hook_down(&self) -> bool {
        self.spec == Spec::HookDown
    }

    pub fn is_hook_up(&self) -> bool {
        self.spec == Spec::HookUp
    }
}

/// Signals asked for: time-out ones to play, brief ones to play once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signals {
    pub timed: SignalSet,
    pub brief: SignalSet,
}

/// Package and name of an event or signal item; no package means the line package.
fn split_name<'a>(item: &EventItem<'a>) -> Result<(Package, &'a str), ReturnCode> {
    let package = match item.package() {
        None => Package::Line,
        Some(p) if p.eq_ignore_ascii_case("L") => Package::Line,
        Some(p) if p.eq_ignore_ascii_case("D") => Package::Dtmf,
        Some(_) => return Err(ReturnCode::UNKNOWN_PACKAGE),
    };
    Ok((package, item.event()))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Package {
    Line,
    Dtmf,
}

fn parse_spec(item: &EventItem<'_>) -> Result<Spec, ReturnCode> {
    let (package, name) = split_name(item)?;
    if package == Package::Line {
        let named = [
            ("hd", Spec::HookDown),
            ("hu", Spec::HookUp),
            ("hf", Spec::Flash),
            ("oc", Spec::OperationComplete),
            ("of", Spec::OperationFailure),
        ];
        if let Some((_, s)) = named.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Ok(*s);
        }
    }
    match SymbolSet::parse_one(name) {
        Some((set, "")) => Ok(Spec::Digits(set)),
        _ => Err(ReturnCode::NO_SUCH_EVENT),
    }
}

fn parse_actions(args: &str, depth: u8) -> Result<(Actions, Option<Box<Embedded>>), ReturnCode> {
    let mut a = Actions::default();
    let mut embedded = None;
    for action in split_top(args).ok_or(ReturnCode::BAD_ACTION)? {
        let flag = match action {
            "N" | "n" => &mut a.notify,
            "A" | "a" => &mut a.accumulate,
            "D" | "d" => &mut a.digit_map,
            "S" | "s" => &mut a.swap_audio,
            "I" | "i" => &mut a.ignore,
            "K" | "k" => &mut a.keep_signals,
            e if e.len() > 2 && e[..2].eq_ignore_ascii_case("E(") && e.ends_with(')') => {
                if depth > 0 || embedded.is_some() {
                    return Err(ReturnCode::BAD_ACTION);
                }
                embedded = Some(Box::new(parse_embedded(&e[2..e.len() - 1])?));
                continue;
            }
            _ => return Err(ReturnCode::BAD_ACTION),
        };
        if *flag {
            return Err(ReturnCode::BAD_ACTION);
        }
        *flag = true;
    }
    let exclusive = [a.notify, a.accumulate, a.digit_map, a.ignore];
    if exclusive.iter().filter(|x| **x).count() > 1 || (a.ignore && embedded.is_some()) {
        return Err(ReturnCode::BAD_ACTION);
    }
    Ok((a, embedded))
}

fn parse_embedded(body: &str) -> Result<Embedded, ReturnCode> {
    let mut e = Embedded {
        events: Vec::new(),
        signals: None,
        digit_map: None,
    };
    for part in split_top(body).ok_or(ReturnCode::BAD_ACTION)? {
        let (tag, inner) = part
            .split_once('(')
            .and_then(|(t, rest)| Some((t.trim(), rest.strip_suffix(')')?)))
            .ok_or(ReturnCode::BAD_ACTION)?;
        let items = || event_items(inner).ok_or(ReturnCode::BAD_ACTION);
        match tag {
            "R" | "r" if e.events.is_empty() => e.events = parse_events_at(&items()?, 1)?,
            "S" | "s" if e.signals.is_none() => e.signals = Some(parse_signals(&items()?)?),
            "D" | "d" if e.digit_map.is_none() => {
                e.digit_map = Some(DigitMap::parse(inner).map_err(|_| ReturnCode::PROTOCOL_ERROR)?)
            }
            _ => return Err(ReturnCode::BAD_ACTION),
        }
    }
    Ok(e)
}

/// Parses a RequestedEvents list.
pub fn parse_events(items: &EventList<'_>) -> Result<Vec<Requested>, ReturnCode> {
    parse_events_at(items, 0)
}

fn parse_events_at(items: &EventList<'_>, depth: u8) -> Result<Vec<Requested>, ReturnCode> {
    if items.len() > MAX_EVENTS {
        return Err(ReturnCode::NO_RESOURCES);
    }
    items
        .iter()
        .map(|item| {
            let spec = parse_spec(&item)?;
            let (actions, embedded) = match item.args {
                Some(args) => parse_actions(args, depth)?,
                // No action given: notify (RFC 3435 section 3.2.2.8).
                None => (
                    Actions {
                        notify: true,
                        ..Actions::default()
                    },
                    None,
                ),
            };
            Ok(Requested {
                spec,
                actions,
                embedded,
            })
        })
        .collect()
}

/// Parses a SignalRequests list.
pub fn parse_signals(items: &EventList<'_>) -> Result<Signals, ReturnCode> {
    let mut s = Signals::default();
    for item in items {
        let (package, name) = split_name(&item)?;
        let signal = match package {
            Package::Line => Signal::from_code(name).ok_or(ReturnCode::NO_SUCH_EVENT)?,
            Package::Dtmf => return Err(ReturnCode::CANT_GENERATE_SIGNAL),
        };
        // Only caller id takes parameters here.
        if item.args.is_some() && signal != Signal::CallerId {
            return Err(ReturnCode::EVENT_PARAMETER_ERROR);
        }
        if signal.timeout().is_some() {
            s.timed.insert(signal);
        } else {
            s.brief.insert(signal);
        }
    }
    Ok(s)
}

/// `name(args)` items of an embedded list, split like the codec splits lines.
fn event_items(s: &str) -> Option<EventList<'_>> {
    split_top(s)?
        .into_iter()
        .map(|item| {
            let (name, args) = match item.find('(') {
                Some(open) => (&item[..open], Some(item[open + 1..].strip_suffix(')')?)),
                None => (item, None),
            };
            let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic());
            ok.then_some(EventItem { name, args })
        })
        .collect()
}

/// Splits at commas outside parentheses and brackets; `None` if unbalanced.
fn split_top(s: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0u32, 0);
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth = depth.checked_sub(1)?,
            b',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
        if out.len() > MAX_EVENTS {
            return None;
        }
    }
    if depth != 0 {
        return None;
    }
    let last = s[start..].trim();
    if !(last.is_empty() && out.is_empty()) {
        out.push(last);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(s: &str) -> EventList<'_> {
        event_items(s).unwrap()
    }

    #[test]
    fn the_usual_ncs_requests() {
        let r = parse_events(&items("L/hu(N), D/[0-9#*T](D), L/hf(S,N)")).unwrap();
        assert_eq!(r.len(), 3);
        assert!(r[0].is_hook_up() && r[0].actions.notify);
        let d = Symbol::from_char('7').unwrap();
        assert!(r[1].matches(Observed::Digit(d)) && r[1].actions.digit_map);
        assert!(r[2].actions.swap_audio && r[2].actions.notify);
        let r = parse_events(&items("hd")).unwrap();
        assert!(r[0].is_hook_down() && r[0].actions.notify);
    }

    #[test]
    fn embedded_request() {
        let r = parse_events(&items(
            "L/hd(E(S(L/dl),R(L/hu(N),D/[0-9#*T](D)),D((xxxx|9xxxxxxx))))",
        ))
        .unwrap();
        let e = r[0].embedded.as_ref().unwrap();
        assert_eq!(e.events.len(), 2);
        assert!(e.signals.unwrap().timed.contains(Signal::DialTone));
        assert!(e.digit_map.is_some());
        assert!(!r[0].actions.notify);
    }

    #[test]
    fn refusals_carry_their_codes() {
        let code = |s: &str| parse_events(&items(s)).unwrap_err();
        assert_eq!(code("X/zz"), ReturnCode::UNKNOWN_PACKAGE);
        assert_eq!(code("L/zz"), ReturnCode::NO_SUCH_EVENT);
        assert_eq!(code("L/hd(Q)"), ReturnCode::BAD_ACTION);
        assert_eq!(code("L/hd(N,A)"), ReturnCode::BAD_ACTION);
        assert_eq!(code("L/hd(N,N)"), ReturnCode::BAD_ACTION);
        assert_eq!(code("L/hd(E(R(L/hu(E(R(L/hd))))))"), ReturnCode::BAD_ACTION);
        let sig = |s: &str| parse_signals(&items(s)).unwrap_err();
        assert_eq!(sig("L/zz"), ReturnCode::NO_SUCH_EVENT);
        assert_eq!(sig("D/5"), ReturnCode::CANT_GENERATE_SIGNAL);
        assert_eq!(sig("Q/rg"), ReturnCode::UNKNOWN_PACKAGE);
    }

    #[test]
    fn observed_events_print_as_on_the_wire() {
        let d = Symbol::from_char('#').unwrap();
        assert_eq!(alloc::format!("{}", Observed::Digit(d)), "D/#");
        assert_eq!(alloc::format!("{}", Observed::HookDown), "L/hd");
    }
}
