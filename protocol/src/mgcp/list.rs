//! Lists inside one parameter line (LocalConnectionOptions, event lists).
//!
//! A parsed list keeps its text, checked once by the parser, and splits it
//! again on each iteration: parsing allocates nothing for it. A list built
//! in code holds its items.

use alloc::vec::Vec;
use core::fmt;

use super::text::trim_ws;

/// An item type the parser can split off validated list text.
pub trait ListItem<'a>: Copy {
    /// The first item of `text` and the rest; `None` at the end. Only ever
    /// given text the parser accepted.
    fn split_first(text: &'a str) -> Option<(Self, &'a str)>;
}

/// A list of `T`, from the wire or built in code; compared by its items.
#[derive(Clone)]
pub struct List<'a, T> {
    repr: Repr<'a, T>,
}

#[derive(Clone)]
enum Repr<'a, T> {
    Text { text: &'a str, len: usize },
    Items(Vec<T>),
}

impl<'a, T> List<'a, T> {
    /// Text the parser accepted, holding `len` items.
    pub(crate) fn validated(text: &'a str, len: usize) -> Self {
        List {
            repr: Repr::Text { text, len },
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Text { len, .. } => *len,
            Repr::Items(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a, T: ListItem<'a>> List<'a, T> {
    pub fn iter(&self) -> ListIter<'_, 'a, T> {
        ListIter {
            repr: match &self.repr {
                Repr::Text { text, len } => IterRepr::Text {
                    rest: text,
                    left: *len,
                },
                Repr::Items(v) => IterRepr::Items(v.iter()),
            },
        }
    }
}

/// The items of a [`List`], by value.
pub struct ListIter<'l, 'a, T> {
    repr: IterRepr<'l, 'a, T>,
}

enum IterRepr<'l, 'a, T> {
    Text { rest: &'a str, left: usize },
    Items(core::slice::Iter<'l, T>),
}

impl<'a, T: ListItem<'a>> Iterator for ListIter<'_, 'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match &mut self.repr {
            IterRepr::Text { rest, left } => {
                if *left == 0 {
                    return None;
                }
                let (item, after) = T::split_first(rest)?;
                *rest = after;
                *left -= 1;
                Some(item)
            }
            IterRepr::Items(it) => it.next().copied(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.repr {
            IterRepr::Text { left, .. } => (0, Some(*left)),
            IterRepr::Items(it) => it.size_hint(),
        }
    }
}

impl<'l, 'a, T: ListItem<'a>> IntoIterator for &'l List<'a, T> {
    type Item = T;
    type IntoIter = ListIter<'l, 'a, T>;

    fn into_iter(self) -> ListIter<'l, 'a, T> {
        self.iter()
    }
}

impl<T> Default for List<'_, T> {
    fn default() -> Self {
        List {
            repr: Repr::Items(Vec::new()),
        }
    }
}

impl<T> From<Vec<T>> for List<'_, T> {
    fn from(items: Vec<T>) -> Self {
        List {
            repr: Repr::Items(items),
        }
    }
}

impl<T> FromIterator<T> for List<'_, T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        Vec::from_iter(items).into()
    }
}

impl<'a, T: ListItem<'a> + PartialEq> PartialEq for List<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<'a, T: ListItem<'a> + Eq> Eq for List<'a, T> {}

/// The items, never the raw text (which may hold a key).
impl<'a, T: ListItem<'a> + fmt::Debug> fmt::Debug for List<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(feature = "serde")]
impl<'a, T: ListItem<'a> + serde::Serialize> serde::Serialize for List<'a, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// Writes items joined by `sep`.
pub(crate) fn write_list<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: impl IntoIterator<Item = T>,
    sep: &str,
) -> fmt::Result {
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        fmt::Display::fmt(&item, f)?;
    }
    Ok(())
}

/// The end of the first item of a comma-separated list: the index of the
/// first comma outside parentheses, brackets and quotes, or the length.
/// `None` if a bracket closes that never opened, or one is left open.
pub(crate) fn item_end(b: &[u8]) -> Option<usize> {
    let (mut depth, mut quoted) = (0u32, false);
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
            _ => return Some(i),
        }
    }
    (depth == 0 && !quoted).then_some(b.len())
}

/// The bytes [`item_end`] acts on.
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

/// Most items a list line may hold.
pub(crate) const MAX_LIST_ITEMS: usize = 64;

/// Calls `item` on each trimmed item of a list in turn (nothing for an
/// empty list) and returns how many there were; `None` if the brackets do
/// not balance, there are too many, or `item` refuses one.
pub(crate) fn each_item<'a>(
    s: &'a str,
    mut item: impl FnMut(&'a str) -> Option<()>,
) -> Option<usize> {
    let mut rest = s;
    let mut n = 0;
    loop {
        let end = item_end(rest.as_bytes())?;
        // A comma is ASCII, so both cuts are on char boundaries.
        let piece = trim_ws(rest.get(..end)?);
        let last = end == rest.len();
        if last && n == 0 && piece.is_empty() {
            return Some(0);
        }
        if n == MAX_LIST_ITEMS {
            return None;
        }
        item(piece)?;
        n += 1;
        if last {
            return Some(n);
        }
        rest = rest.get(end + 1..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::super::{EventItem, EventList, LcoItem, LocalConnectionOptions};
    use alloc::format;
    use alloc::vec;

    #[test]
    fn parsed_and_built_lists_compare_by_items() {
        let parsed = LocalConnectionOptions::parse("p:20 , e:ON,x-dir: caller ").unwrap();
        let built = LocalConnectionOptions::from(vec![
            LcoItem::PacketizationPeriod("20"),
            LcoItem::EchoCancellation(true),
            LcoItem::Other {
                name: "x-dir",
                value: "caller",
            },
        ]);
        assert_eq!(parsed, built);
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed.iter().size_hint(), (0, Some(3)));
        assert_eq!(format!("{parsed}"), "p:20, e:on, x-dir:caller");
        let events = EventList::parse("L/hu(N), D/[0-9#*T](D) ,T/ft").unwrap();
        let names: vec::Vec<_> = events.iter().map(|e: EventItem| e.name).collect();
        assert_eq!(names, ["L/hu", "D/[0-9#*T]", "T/ft"]);
        assert_eq!(EventList::parse(" ").unwrap(), EventList::default());
    }

    #[test]
    fn a_parsed_key_never_shows_in_debug() {
        let lco = LocalConnectionOptions::parse("k:base64:q83vASNFZ4mrze8BI0VniQ==").unwrap();
        assert!(!format!("{lco:?}").contains("q83v"));
    }
}
