//! Small byte-level helpers shared by the MGCP readers. MGCP fields are a
//! few bytes long, so plain loops beat calls into general-purpose searchers.

/// `s[start..end]` if both ends are char boundaries. Cut as two one-sided
/// ranges, which the compiler inlines (it calls out for a two-sided one).
#[inline]
pub(crate) fn slice(s: &str, start: usize, end: usize) -> Option<&str> {
    s.get(..end)?.get(start..)
}

/// Trims spaces and tabs, the only white space MGCP allows inside lines.
pub(crate) fn trim_ws(s: &str) -> &str {
    let b = s.as_bytes();
    let ws = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !ws(c)).map_or(start, |i| i + 1);
    // Both ends sit next to ASCII bytes, so they are char boundaries.
    slice(s, start, end).unwrap_or("")
}

/// The index of the first byte at or after `i` that is not a space or tab.
pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t') = b.get(i) {
        i += 1;
    }
    i
}

/// Splits at the first `sep` byte (an ASCII separator, so both halves are str).
pub(crate) fn split_byte(s: &str, sep: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|b| b == sep)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// Splits off the first white-space separated token.
pub(crate) fn token(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let ws = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !ws(c))?;
    let end = b[start..]
        .iter()
        .position(ws)
        .map_or(b.len(), |i| start + i);
    Some((slice(s, start, end)?, s.get(end..)?))
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

/// [`word_key`] of a keyword, for `const` lookup keys.
pub(crate) const fn key(s: &str) -> u64 {
    word_key(s.as_bytes())
}

/// The value of 1 to 9 ASCII digits (which cannot overflow a u32).
pub(crate) fn small_number(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 {
        return None;
    }
    s.bytes().try_fold(0u32, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

const ONES: u64 = u64::from_ne_bytes([1; 8]);
const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);

/// Eight bytes as one little-endian word (byte `i` in bits `8i..8i+8`).
fn word(chunk: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    u64::from_le_bytes(w)
}

/// True if `s` is all visible ASCII (`!` to `~`), eight bytes at a time.
pub(crate) fn is_graphic(s: &str) -> bool {
    let mut chunks = s.as_bytes().chunks_exact(8);
    for chunk in &mut chunks {
        let x = word(chunk);
        // No high bit, no byte below `!` (a borrow out of some byte), no DEL.
        let below = x.wrapping_sub(ONES * 0x21) & !x;
        if (x | below | x.wrapping_add(ONES)) & HIGH != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(u8::is_ascii_graphic)
}

/// The length of the visible-ASCII prefix of `b`, eight bytes at a time.
pub(crate) fn graphic_len(b: &[u8]) -> usize {
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let x = word(chunk);
        let below = x.wrapping_sub(ONES * 0x21) & !x;
        let bad = (x | below | x.wrapping_add(ONES)) & HIGH;
        if bad != 0 {
            // Borrows and carries only run upwards: the lowest flag is real.
            return at + (bad.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let tail = chunks.remainder();
    at + tail
        .iter()
        .position(|c| !c.is_ascii_graphic())
        .unwrap_or(tail.len())
}

/// True if `s` is empty or only white space, as `str::trim` counts it.
pub(crate) fn is_blank(s: &str) -> bool {
    // An ASCII byte decides at once; only non-ASCII white space needs `trim`.
    match s.bytes().find(|b| !matches!(b, b'\t'..=b'\r' | b' ')) {
        None => true,
        Some(b) if b.is_ascii() => false,
        Some(_) => s.trim().is_empty(),
    }
}

/// Index of the first `needle`, eight bytes at a time: cheaper than a
/// byte loop on lines, and without the set-up cost of a SIMD search.
pub(crate) fn find_byte(b: &[u8], needle: u8) -> Option<usize> {
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let x = word(chunk) ^ (ONES * u64::from(needle));
        // The lowest flagged byte is the first zero byte of x (borrows only
        // flag bytes above a real zero).
        let hit = x.wrapping_sub(ONES) & !x & HIGH;
        if hit != 0 {
            return Some(at + (hit.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = chunks.remainder().iter().position(|&c| c == needle)?;
    Some(at + tail)
}

/// Splits off the first line, `\r\n` or `\n` terminated, without its
/// terminator; the rest is `None` if the line had no `\n`.
#[inline]
pub(crate) fn next_line(s: &str) -> (&str, Option<&str>) {
    let (line, rest) = match find_byte(s.as_bytes(), b'\n') {
        // `\n` is ASCII, so both sides are char boundaries.
        Some(i) => (s.get(..i).unwrap_or(""), s.get(i + 1..)),
        None => (s, None),
    };
    let line = match line.as_bytes() {
        [.., b'\r'] => line.get(..line.len() - 1).unwrap_or(line),
        _ => line,
    };
    (line, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_line_finds_every_newline_position() {
        for len in 0..40 {
            for at in 0..=len {
                let mut s = alloc::string::String::from("x").repeat(len);
                if at < len {
                    s.replace_range(at..=at, "\n");
                }
                let (line, rest) = next_line(&s);
                if at < len {
                    assert_eq!((line.len(), rest.map(str::len)), (at, Some(len - at - 1)));
                } else {
                    assert_eq!((line, rest), (s.as_str(), None));
                }
            }
        }
        assert_eq!(next_line("a\r\nb"), ("a", Some("b")));
        assert_eq!(next_line("a\r\r\n"), ("a\r", Some("")));
        assert_eq!(next_line("\u{e9}\n\u{e9}"), ("\u{e9}", Some("\u{e9}")));
    }

    #[test]
    fn graphic_checks_every_byte() {
        for len in 0..20 {
            let ok = "a".repeat(len);
            assert!(is_graphic(&ok));
            for at in 0..len {
                for bad in [" ", "\t", "\x7f", "\x00", "\u{e9}", "\r"] {
                    let mut s = ok.clone();
                    s.replace_range(at..=at, bad);
                    assert!(!is_graphic(&s), "{s:?}");
                }
                for good in ["!", "~", "0", "Z"] {
                    let mut s = ok.clone();
                    s.replace_range(at..=at, good);
                    assert!(is_graphic(&s), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn graphic_len_stops_at_the_first_other_byte() {
        for len in 0..20 {
            let ok = "a".repeat(len);
            assert_eq!(graphic_len(ok.as_bytes()), len);
            for at in 0..len {
                for bad in [" ", "\t", "\x7f", "\x00", "\u{e9}", "\r", "\n"] {
                    let mut s = ok.clone();
                    s.replace_range(at..=at, bad);
                    assert_eq!(graphic_len(s.as_bytes()), at, "{s:?}");
                    // A second bad byte after the first changes nothing.
                    s.push_str(bad);
                    assert_eq!(graphic_len(s.as_bytes()), at, "{s:?}");
                }
            }
        }
    }

    #[test]
    fn blank_matches_trim() {
        for s in [
            "",
            " ",
            "\t\r\n",
            "\x0b\x0c",
            " x",
            "\u{a0}",
            " \u{2003}\n",
            "\u{a0}x",
            "\u{e9}",
        ] {
            assert_eq!(is_blank(s), s.trim().is_empty(), "{s:?}");
        }
    }

    #[test]
    fn small_numbers() {
        assert_eq!(small_number("0"), Some(0));
        assert_eq!(small_number("999999999"), Some(999_999_999));
        for bad in ["", "1000000000", "12a", "+1", "-1", " 1"] {
            assert_eq!(small_number(bad), None, "{bad:?}");
        }
    }
}
