//! Event and signal lists (RequestedEvents, SignalRequests, ObservedEvents,
//! DetectEvents, EventStates): `name` or `name(args)` items.

use core::fmt;

use super::list::{each_item, item_end, List, ListItem};
use super::text::{is_graphic, trim_ws};

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
        let len = each_item(s, |item| event_item(item).map(|_| ()))?;
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
