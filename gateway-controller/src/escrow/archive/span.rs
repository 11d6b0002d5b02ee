//! Which days an archive file holds. Days are UTC days since the Unix
//! epoch, grouped in aligned periods of [`PERIOD`] days; the folded days of
//! a period are held in files whose lengths are the binary digits of their
//! count (13 folded days: 8, 4 and 1), so folding one more day rewrites only
//! the small files it completes and each day is rewritten at most five
//! times, while a window of a month or less touches at most six files.

pub(crate) const DAY_MS: u64 = 86_400_000;
pub(crate) const PERIOD: u32 = 32;

/// Days `[first, first + days)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Span {
    pub(crate) first: u32,
    pub(crate) days: u32,
}

impl Span {
    pub(crate) fn end(&self) -> u32 {
        self.first + self.days
    }

    pub(crate) fn holds(&self, day: u32) -> bool {
        self.first <= day && day < self.end()
    }

    pub(crate) fn within(&self, outer: &Span) -> bool {
        outer.first <= self.first && self.end() <= outer.end()
    }

    /// Whether it holds a start time in `[from_ms, to_ms)`.
    pub(crate) fn meets(&self, from_ms: u64, to_ms: u64) -> bool {
        let (a, b) = (
            u64::from(self.first) * DAY_MS,
            u64::from(self.end()) * DAY_MS,
        );
        a < to_ms && from_ms < b
    }
}

/// The day of a start time (days past `u32::MAX` are clamped; no call
/// starts eleven million years from now).
pub(crate) fn day_of(unix_ms: u64) -> u32 {
    u32::try_from(unix_ms / DAY_MS).unwrap_or(u32::MAX)
}

/// The files of period `p` once every day before `through` is folded.
fn period_spans(p: u32, through: u32) -> Vec<Span> {
    let start = p * PERIOD;
    let folded = through.saturating_sub(start).min(PERIOD);
    let mut spans = Vec::new();
    let mut first = start;
    for bit in (0..=5).rev() {
        let days = 1u32 << bit;
        if folded & days != 0 {
            spans.push(Span { first, days });
            first += days;
        }
    }
    spans
}

/// The spans to write when the folded days grow from `[.., old)` to
/// `[.., new)`: those in the new layout and not the old one.
pub(crate) fn rebuilt(old: u32, new: u32) -> Vec<Span> {
    if new <= old {
        return Vec::new();
    }
    let mut out = Vec::new();
    for p in old / PERIOD..=(new - 1) / PERIOD {
        let before = period_spans(p, old);
        out.extend(
            period_spans(p, new)
                .into_iter()
                .filter(|s| !before.contains(s)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_held_in_its_binary_digits() {
        let s = |first, days| Span { first, days };
        assert_eq!(period_spans(1, 32 + 13), [s(32, 8), s(40, 4), s(44, 1)]);
        assert_eq!(period_spans(1, 100), [s(32, 32)]);
        assert_eq!(period_spans(1, 32), []);
        assert_eq!(rebuilt(32 + 13, 32 + 14), [s(44, 2)]);
        assert_eq!(rebuilt(32 + 15, 32 + 16), [s(32, 16)]);
        assert_eq!(rebuilt(32 + 31, 64 + 3), [s(32, 32), s(64, 2), s(66, 1)]);
        assert_eq!(rebuilt(5, 5), []);
        // Every day before the new end is in exactly one file of the layout.
        for (old, new) in [(0, 70), (33, 34), (40, 97)] {
            let layout: Vec<Span> = (0..=(new - 1) / PERIOD)
                .flat_map(|p| period_spans(p, new))
                .collect();
            for day in 0..new {
                assert_eq!(layout.iter().filter(|s| s.holds(day)).count(), 1);
            }
            let spans = rebuilt(old, new);
            for s in &spans {
                assert!(layout.contains(s));
            }
            assert!(
                spans.windows(2).all(|w| w[0].end() <= w[1].first),
                "in day order"
            );
        }
    }
}
