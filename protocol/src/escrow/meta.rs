//! Call metadata: what the escrow record says about a call, stored in clear
//! for search and bound to the sealed key as AAD.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::codec::{put_short, put_u64, Reader};
use super::{Field, FormatError};

/// MGCP call ids are at most 32 hex digits (RFC 3435 section 3.2.2.4).
pub const MAX_CALL_ID: usize = 32;
/// E.164 allows 15 digits; room for prefixes and dial-plan forms.
pub const MAX_NUMBER: usize = 32;
/// Endpoint names such as `aaln/1@cta-17.example.net`.
pub const MAX_ENDPOINT: usize = 255;
/// SRTP suite names such as `AEAD_AES_128_GCM`.
pub const MAX_SUITE: usize = 64;

/// One end of a call.
#[derive(Clone, PartialEq, Eq)]
pub struct Party {
    /// Subscriber number (or the PSTN number at a POTS gateway).
    pub number: String,
    /// MGCP endpoint name.
    pub endpoint: String,
}

/// The metadata of an escrowed call known when its key is created.
///
/// The end time is not here: it is learnt later, so it cannot be bound into
/// the seal and is kept beside the record (see
/// [`EscrowRecord::ended_unix_ms`](super::EscrowRecord::ended_unix_ms)).
#[derive(Clone, PartialEq, Eq)]
pub struct CallMeta {
    pub call_id: String,
    pub caller: Party,
    pub callee: Party,
    /// Wall-clock time the key was created, milliseconds since the Unix epoch.
    pub start_unix_ms: u64,
    /// SRTP suite the key is for.
    pub suite: String,
}

fn check(field: Field, value: &str, max: usize) -> Result<(), FormatError> {
    if value.is_empty() {
        return Err(FormatError::Empty(field));
    }
    if value.len() > max {
        return Err(FormatError::TooLong(field));
    }
    // Printable ASCII without spaces: unambiguous in logs and in index keys.
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FormatError::BadText(field));
    }
    Ok(())
}

fn text(r: &mut Reader<'_>, field: Field, max: usize) -> Result<String, FormatError> {
    let bytes = r.short()?;
    let s = core::str::from_utf8(bytes).map_err(|_| FormatError::BadText(field))?;
    check(field, s, max)?;
    Ok(String::from(s))
}

/// Checks a subscriber number as used in index keys and queries.
pub fn check_number(number: &str) -> Result<(), FormatError> {
    check(Field::Number, number, MAX_NUMBER)
}

impl CallMeta {
    /// Whether `number` is the caller or the callee.
    pub fn has_party(&self, number: &str) -> bool {
        self.caller.number == number || self.callee.number == number
    }

    pub fn validate(&self) -> Result<(), FormatError> {
        check(Field::CallId, &self.call_id, MAX_CALL_ID)?;
        for p in [&self.caller, &self.callee] {
            check(Field::Number, &p.number, MAX_NUMBER)?;
            check(Field::Endpoint, &p.endpoint, MAX_ENDPOINT)?;
        }
        check(Field::Suite, &self.suite, MAX_SUITE)
    }

    /// Canonical encoding: every field length-prefixed in a fixed order, so
    /// two different metadata values never encode to the same bytes.
    /// Callers must have validated (lengths fit their prefixes).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        put_short(out, self.call_id.as_bytes());
        for p in [&self.caller, &self.callee] {
            put_short(out, p.number.as_bytes());
            put_short(out, p.endpoint.as_bytes());
        }
        put_u64(out, self.start_unix_ms);
        put_short(out, self.suite.as_bytes());
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<CallMeta, FormatError> {
        let call_id = text(r, Field::CallId, MAX_CALL_ID)?;
        let mut party = || -> Result<Party, FormatError> {
            Ok(Party {
                number: text(r, Field::Number, MAX_NUMBER)?,
                endpoint: text(r, Field::Endpoint, MAX_ENDPOINT)?,
            })
        };
        let caller = party()?;
        let callee = party()?;
        let start_unix_ms = r.u64()?;
        let suite = text(r, Field::Suite, MAX_SUITE)?;
        Ok(CallMeta {
            call_id,
            caller,
            callee,
            start_unix_ms,
            suite,
        })
    }
}

// Numbers and endpoints are personal data in an LI system: Debug shows only
// their length, so records can be logged by call id.
impl fmt::Debug for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Party(<{} digits>@<{} chars>)",
            self.number.len(),
            self.endpoint.len()
        )
    }
}

impl fmt::Debug for CallMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallMeta")
            .field("call_id", &self.call_id)
            .field("caller", &self.caller)
            .field("callee", &self.callee)
            .field("start_unix_ms", &self.start_unix_ms)
            .field("suite", &self.suite)
            .finish()
    }
}
