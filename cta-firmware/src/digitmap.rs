//! Digit maps (RFC 3435 section 2.1.5): the dial plan a call agent hands the
//! gateway in `D:`, so digits are collected locally and sent in one NTFY.
//!
//! A map is `pattern` or `(pattern|pattern|...)`. A pattern is a sequence of
//! positions: a symbol (`0`-`9`, `*`, `#`, `A`-`D`, `T` for the inter-digit
//! timer), `x` (any digit) or a set in brackets (`[1-7]`, `[0-9#*T]`); a
//! position followed by `.` repeats zero or more times.
//!
//! Patterns compile to symbol masks and are matched by stepping a set of
//! positions (a small NFA), so matching never backtracks and never recurses.

use alloc::vec::Vec;

/// Longest `D:` value accepted.
pub const MAX_MAP_LEN: usize = 2048;
/// Most alternatives in one map.
pub const MAX_PATTERNS: usize = 64;
/// Most positions in one pattern (the NFA state is a `u128`).
pub const MAX_POSITIONS: usize = 127;

/// A symbol a dial string is made of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Symbol(u8);

impl Symbol {
    /// The inter-digit timer expired.
    pub const TIMER: Symbol = Symbol(16);

    /// `0`-`9`, `*`, `#`, `A`-`D` (either case) and `T`.
    pub fn from_char(c: char) -> Option<Symbol> {
        let i = match c.to_ascii_uppercase() {
            d @ '0'..='9' => d as u8 - b'0',
            '*' => 10,
            '#' => 11,
            l @ 'A'..='D' => 12 + (l as u8 - b'A'),
            'T' => 16,
            _ => return None,
        };
        Some(Symbol(i))
    }

    pub fn as_char(self) -> char {
        match self.0 {
            d @ 0..=9 => char::from(b'0' + d),
            10 => '*',
            11 => '#',
            l @ 12..=15 => char::from(b'A' + l - 12),
            _ => 'T',
        }
    }

    pub fn is_digit(self) -> bool {
        self.0 <= 9
    }

    fn bit(self) -> u32 {
        1 << self.0
    }
}

/// A set of symbols, as in `[0-9#*T]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SymbolSet(u32);

impl SymbolSet {
    pub const DIGITS: SymbolSet = SymbolSet(0x3ff);

    pub fn contains(self, s: Symbol) -> bool {
        self.0 & s.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn insert(&mut self, s: Symbol) {
        self.0 |= s.bit();
    }

    /// Reads `x`, one symbol or a bracketed set with ranges; returns the set
    /// and the rest of the text.
    pub fn parse_one(text: &str) -> Option<(SymbolSet, &str)> {
        let mut chars = text.chars();
        let first = chars.next()?;
        if first == 'x' || first == 'X' {
            return Some((SymbolSet::DIGITS, chars.as_str()));
        }
        if first != '[' {
            let mut set = SymbolSet::default();
            set.insert(Symbol::from_char(first)?);
            return Some((set, chars.as_str()));
        }
        let body_end = text.find(']')?;
        let body = &text[1..body_end];
        let mut set = SymbolSet::default();
        let mut it = body.chars().peekable();
        while let Some(c) = it.next() {
            if c == 'x' || c == 'X' {
                set.0 |= SymbolSet::DIGITS.0;
                continue;
            }
            let lo = Symbol::from_char(c)?;
            if it.peek() == Some(&'-') {
                it.next();
                let hi = Symbol::from_char(it.next()?)?;
                if !lo.is_digit() || !hi.is_digit() || hi.0 < lo.0 {
                    return None;
                }
                (lo.0..=hi.0).for_each(|d| set.insert(Symbol(d)));
            } else {
                set.insert(lo);
            }
        }
        (!set.is_empty()).then_some((set, &text[body_end + 1..]))
    }
}

/// One position of a pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Position {
    set: SymbolSet,
    /// Followed by `.`: zero or more.
    repeat: bool,
}

/// Which inter-digit timer to run while more digits may come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigitTimer {
    /// The string already matches, or the map expects a pause (`T`) next:
    /// a short wait (NCS Tcrit, 4 s).
    Critical,
    /// More digits are needed: a long wait (NCS Tpar, 16 s).
    Long,
}

/// The result of matching a dial string against a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// A pattern matches and no longer string could: notify now.
    Matched,
    /// More symbols could still match; wait this long for the next one.
    Partial(DigitTimer),
    /// No pattern can match this string, whatever follows.
    NoMatch,
}

/// Why a `D:` value was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigitMapError {
    TooLong,
    TooManyPatterns,
    PatternTooLong,
    Syntax,
}

/// A compiled digit map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigitMap {
    positions: Vec<Position>,
    /// End offsets into `positions`, one per pattern.
    ends: Vec<u16>,
}

impl DigitMap {
    pub fn parse(text: &str) -> Result<DigitMap, DigitMapError> {
        if text.len() > MAX_MAP_LEN {
            return Err(DigitMapError::TooLong);
        }
        let text = text.trim();
        let body = match text.strip_prefix('(') {
            Some(inner) => inner.strip_suffix(')').ok_or(DigitMapError::Syntax)?,
            None => text,
        };
        let mut map = DigitMap {
            positions: Vec::new(),
            ends: Vec::new(),
        };
        for pattern in body.split('|') {
            if map.ends.len() == MAX_PATTERNS {
                return Err(DigitMapError::TooManyPatterns);
            }
            map.push_pattern(pattern.trim())?;
        }
        map.positions.shrink_to_fit();
        map.ends.shrink_to_fit();
        Ok(map)
    }

    fn push_pattern(&mut self, mut rest: &str) -> Result<(), DigitMapError> {
        let start = self.positions.len();
        if rest.is_empty() {
            return Err(DigitMapError::Syntax);
        }
        while !rest.is_empty() {
            if self.positions.len() - start == MAX_POSITIONS {
                return Err(DigitMapError::PatternTooLong);
            }
            let (set, after) = SymbolSet::parse_one(rest).ok_or(DigitMapError::Syntax)?;
            let (repeat, after) = match after.strip_prefix('.') {
                Some(a) => (true, a),
                None => (false, after),
            };
            self.positions.push(Position { set, repeat });
            rest = after;
        }
        let end = u16::try_from(self.positions.len()).map_err(|_| DigitMapError::TooLong)?;
        self.ends.push(end);
        Ok(())
    }

    fn patterns(&self) -> impl Iterator<Item = &[Position]> {
        let mut start = 0usize;
        self.ends.iter().map(move |&end| {
            let p = &self.positions[start..usize::from(end)];
            start = usize::from(end);
            p
        })
    }

    /// Matches a dial string (including any `T` already appended).
    pub fn check(&self, dialed: &[Symbol]) -> Match {
        let (mut full, mut more, mut full_with_t) = (false, false, false);
        for p in self.patterns() {
            let state = run(p, dialed);
            full |= state & end_bit(p) != 0;
            more |= state & !end_bit(p) != 0;
            full_with_t |= step(p, state, Symbol::TIMER) & end_bit(p) != 0;
        }
        match (full, more) {
            (true, false) => Match::Matched,
            (_, true) if full || full_with_t => Match::Partial(DigitTimer::Critical),
            (_, true) => Match::Partial(DigitTimer::Long),
            (false, false) => Match::NoMatch,
        }
    }

    /// What to report when the inter-digit timer expires after `dialed`:
    /// the string with `T` appended matches, or the string as it is does.
    pub fn check_timeout(&self, dialed: &[Symbol]) -> bool {
        self.patterns().any(|p| {
            let state = run(p, dialed);
            (state | step(p, state, Symbol::TIMER)) & end_bit(p) != 0
        })
    }
}

fn end_bit(p: &[Position]) -> u128 {
    1u128 << p.len()
}

/// Adds the positions reachable by skipping repeated positions.
fn closure(p: &[Position], mut state: u128) -> u128 {
    for (i, pos) in p.iter().enumerate() {
        if pos.repeat && state & (1 << i) != 0 {
            state |= 1 << (i + 1);
        }
    }
    state
}

fn step(p: &[Position], state: u128, s: Symbol) -> u128 {
    let mut next = 0u128;
    for (i, pos) in p.iter().enumerate() {
        if state & (1 << i) != 0 && pos.set.contains(s) {
            next |= if pos.repeat { 1 << i } else { 1 << (i + 1) };
        }
    }
    closure(p, next)
}

fn run(p: &[Position], dialed: &[Symbol]) -> u128 {
    dialed
        .iter()
        .fold(closure(p, 1), |state, &s| step(p, state, s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn syms(s: &str) -> Vec<Symbol> {
        s.chars().map(|c| Symbol::from_char(c).unwrap()).collect()
    }

    const NCS_EXAMPLE: &str = "(0T|00T|[1-7]xxx|8xxxxxxx|#xxxxxxx|*xx|91xxxxxxxxxx|9011x.T)";

    #[test]
    fn rfc_example_map() {
        let map = DigitMap::parse(NCS_EXAMPLE).unwrap();
        assert_eq!(map.check(&syms("1234")), Match::Matched);
        assert_eq!(map.check(&syms("123")), Match::Partial(DigitTimer::Long));
        assert_eq!(map.check(&syms("0")), Match::Partial(DigitTimer::Critical));
        assert_eq!(map.check(&syms("0T")), Match::Matched);
        assert_eq!(map.check(&syms("00T")), Match::Matched);
        assert_eq!(map.check(&syms("*12")), Match::Matched);
        assert_eq!(map.check(&syms("912125551234")), Match::Matched);
        assert_eq!(map.check(&syms("8")), Match::Partial(DigitTimer::Long));
        assert_eq!(map.check(&syms("9")), Match::Partial(DigitTimer::Long));
        assert_eq!(
            map.check(&syms("9011")),
            Match::Partial(DigitTimer::Critical)
        );
        assert_eq!(
            map.check(&syms("9011442")),
            Match::Partial(DigitTimer::Critical)
        );
        assert_eq!(map.check(&syms("9011442T")), Match::Matched);
        assert_eq!(map.check(&syms("92")), Match::NoMatch);
        assert_eq!(map.check(&syms("A")), Match::NoMatch);
    }

    #[test]
    fn ranges_sets_and_repeat() {
        let map = DigitMap::parse("[2-4#]x.[*T]").unwrap();
        assert_eq!(map.check(&syms("3")), Match::Partial(DigitTimer::Critical));
        assert_eq!(
            map.check(&syms("3999")),
            Match::Partial(DigitTimer::Critical)
        );
        assert_eq!(map.check(&syms("3999*")), Match::Matched);
        assert_eq!(map.check(&syms("#T")), Match::Matched);
        assert_eq!(map.check(&syms("5")), Match::NoMatch);
        let map = DigitMap::parse("[2-4#]xx.").unwrap();
        assert_eq!(map.check(&syms("3")), Match::Partial(DigitTimer::Long));
    }

    #[test]
    fn a_match_that_could_grow_waits_with_the_critical_timer() {
        let map = DigitMap::parse("(11|111)").unwrap();
        assert_eq!(map.check(&syms("11")), Match::Partial(DigitTimer::Critical));
        assert!(map.check_timeout(&syms("11")));
        assert_eq!(map.check(&syms("111")), Match::Matched);
        assert!(!map.check_timeout(&syms("1")));
    }

    #[test]
    fn bad_maps_are_refused() {
        for bad in [
            "", "()", "(1|)", "[]", "[9-1]", "[1-", "1y", "(12", "[a-b]", "..", "1|",
        ] {
            assert!(DigitMap::parse(bad).is_err(), "{bad}");
        }
        let long = "x".repeat(MAX_POSITIONS + 1);
        assert_eq!(DigitMap::parse(&long), Err(DigitMapError::PatternTooLong));
        let many = alloc::format!("({})", ["1"; MAX_PATTERNS + 1].join("|"));
        assert_eq!(DigitMap::parse(&many), Err(DigitMapError::TooManyPatterns));
    }

    #[test]
    fn symbols_round_trip() {
        for c in "0123456789*#ABCDT".chars() {
            assert_eq!(Symbol::from_char(c).unwrap().as_char(), c);
        }
        assert_eq!(Symbol::from_char('E'), None);
    }
}
