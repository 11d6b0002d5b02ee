//! Event and signal lists (RequestedEvents, SignalRequests, ObservedEvents,
//! DetectEvents, EventStates): `name` or `name(args)` items.

use core::fmt;

use super::list::{each_item, item_end, List, ListItem, MAX_LIST_ITEMS};
use super::text::{is_graphic, skip_ws, trim_ws};

/// One item of an event or signal list: `name` or `name(args)`, where the
/// name may carry a package prefix (`L/hd`) and a connection (`L/rt@0A3F`),
/// and the parenthesised part holds actions, parameters or embedded requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EventItem<'a> {
    pub name: &'a str,
    pub args: Option<&'a str>,
}

impl<'a> EventItem<'a> {
    /// The package name, if the item has a `pkg/` prefix.
    pub fn package(&self) -> Option<&'a str> {
        self.name.split_once('/').map(|(p, _)| p)
    }

    /// The event or signal name without package or connection.
    pub fn event(&self) -> &'a str {
        let n = self.name.split_once('/').map_or(self.name, |(_, e)| e);
        n.split_once('@').map_or(n, |(e, _)| e)
    }

    /// The connection the item applies to (`@id`, `@$`, `@*`).
    pub fn connection(&self) -> Option<&'a str> {
        self.name.split_once('@').map(|(_, c)| c)
    }
}

impl fmt::Display for EventItem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        if let Some(a) = self.args {
            write!(f, "({a})")?;
        }
        Ok(())
    }
}

/// An event or signal list. Parsed ones are checked once and read again
/// from their text on each iteration.
pub type EventList<'a> = List<'a, EventItem<'a>>;

impl<'a> List<'a, EventItem<'a>> {
    /// Checks a list; an empty value is an empty list.
    pub fn parse(s: &'a str) -> Option<Self> {
        let len = match plain_count(s.as_bytes()) {
            Some(n) => n,
            None => each_item(s, |item| event_item(item).map(|_| ()))?,
        };
        Some(List::validated(s, len))
    }
}

impl<'a> ListItem<'a> for EventItem<'a> {
    fn split_first(text: &'a str) -> Option<(Self, &'a str)> {
        let end = item_end(text.as_bytes())?;
        let item = event_item(trim_ws(text.get(..end)?))?;
        Some((item, text.get(end + 1..).unwrap_or("")))
    }
}

impl fmt::Display for EventList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::list::write_list(f, self, ",")
    }
}

/// The item count of a list of the usual shape, read in one pass: names of
/// visible bytes (digit ranges such as `[0-9#*T]` included), each maybe
/// followed by `(args)`, commas between, no quotes. `None` for anything
/// else, which the general code then reads (it accepts all this accepts,
/// with the same count).
fn plain_count(b: &[u8]) -> Option<usize> {
    let mut i = skip_ws(b, 0);
    let mut n = 0;
    loop {
        let start = i;
        while let Some(&c) = b.get(i) {
            if PLAIN[usize::from(c)] {
                i += 1;
            } else if c == b'[' {
                i += 1 + b
                    .get(i + 1..)?
                    .iter()
                    .take_while(|&&c| PLAIN[usize::from(c)])
                    .count();
                if b.get(i) != Some(&b']') {
                    return None;
                }
                i += 1;
            } else {
                break;
            }
        }
        if i == start {
            return None;
        }
        if b.get(i) == Some(&b'(') {
            // To the `)` that closes it; commas inside do not split.
            let mut depth = 0u32;
            loop {
                let c = *b.get(i)?;
                i += 1;
                match c {
                    b'(' | b'[' => depth += 1,
                    b')' | b']' if depth == 1 => {
                        if c != b')' {
                            return None;
                        }
                        break;
                    }
                    b')' | b']' => depth -= 1,
                    b'"' => return None,
                    _ => {}
                }
            }
        }
        n += 1;
        if n > MAX_LIST_ITEMS {
            return None;
        }
        i = skip_ws(b, i);
        match b.get(i) {
            None => return Some(n),
            Some(b',') => i = skip_ws(b, i + 1),
            Some(_) => return None,
        }
    }
}

/// Visible bytes but the six that split lists (quotes, brackets, commas).
static PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = b'!';
    while c <= b'~' {
        t[c as usize] = !matches!(c, b'"' | b'(' | b')' | b'[' | b']' | b',');
        c += 1;
    }
    t
};

/// One trimmed item: a visible name, then optionally `(args)` to the end.
fn event_item(item: &str) -> Option<EventItem<'_>> {
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
            let args = item.get(open + 1..)?.strip_suffix(')')?;
            (trim_ws(item.get(..open)?), Some(args))
        }
        None => (item, None),
    };
    let ok = !name.is_empty() && is_graphic(name);
    ok.then_some(EventItem { name, args })
}
