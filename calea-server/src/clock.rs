//! Wall-clock times as the escrow records carry them (Unix milliseconds),
//! read and shown as RFC 3339.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, UTC.
pub type UnixMs = u64;

/// A time on the command line that is not RFC 3339 (or is before 1970).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an RFC 3339 time after 1970 (e.g. 2026-01-31T12:00:00Z)")]
pub struct BadTime(pub String);

pub fn parse_rfc3339(text: &str) -> Result<UnixMs, BadTime> {
    let t = OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|_| BadTime(text.to_string()))?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    UnixMs::try_from(ms).map_err(|_| BadTime(text.to_string()))
}

/// RFC 3339 in UTC with milliseconds; out-of-range values print as numbers.
pub fn rfc3339(ms: UnixMs) -> String {
    i128::from(ms)
        .checked_mul(1_000_000)
        .and_then(|ns| OffsetDateTime::from_unix_timestamp_nanos(ns).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms after 1970"))
}

pub fn now() -> UnixMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_offsets() {
        let ms = parse_rfc3339("2026-01-31T12:00:00.250Z").unwrap();
        assert_eq!(rfc3339(ms), "2026-01-31T12:00:00.25Z");
        assert_eq!(parse_rfc3339("2026-01-31T14:00:00.250+02:00"), Ok(ms));
        assert!(parse_rfc3339("2026-01-31").is_err());
        assert!(parse_rfc3339("1969-12-31T23:59:59Z").is_err());
    }
}
