//! Records received from the controller's LI API: decoded, checked against
//! what was asked (the target is a party, the call started in the window,
//! the epoch record is the one the record names), then stored. A record
//! that fails a check is reported and not stored.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cablekey_protocol::escrow::{EpochRecord, EscrowRecord};
use cablekey_protocol::li::Delivery;

use crate::records::{RecordError, RecordStore, Stored};

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("call {call_id}: {what} is not base64 or not a valid record")]
    Format { call_id: String, what: &'static str },
    #[error("call {call_id}: the record does not match what was asked ({why})")]
    Mismatch { call_id: String, why: &'static str },
    #[error(transparent)]
    Store(#[from] RecordError),
}

/// A checked delivery.
pub struct Received {
    pub record: EscrowRecord,
    pub epoch: EpochRecord,
}

/// Decodes a delivery and checks it against the request: `target` is a
/// party and, if given, the call started in `[from, to)`.
pub fn check(
    d: &Delivery,
    target: &str,
    window: Option<(u64, u64)>,
) -> Result<Received, IntakeError> {
    let format = |what| IntakeError::Format {
        call_id: d.call_id.clone(),
        what,
    };
    let mismatch = |why| IntakeError::Mismatch {
        call_id: d.call_id.clone(),
        why,
    };
    let record = STANDARD
        .decode(&d.record)
        .ok()
        .and_then(|b| EscrowRecord::decode(&b).ok())
        .ok_or_else(|| format("the escrow record"))?;
    let epoch = STANDARD
        .decode(&d.epoch)
        .ok()
        .and_then(|b| EpochRecord::decode(&b).ok())
        .ok_or_else(|| format("the epoch record"))?;
    if record.meta.call_id != d.call_id {
        return Err(mismatch("another call id"));
    }
    if record.meta.caller.number != target && record.meta.callee.number != target {
        return Err(mismatch("the target is not a party"));
    }
    if let Some((from, to)) = window {
        if !(from..to).contains(&record.meta.start_unix_ms) {
            return Err(mismatch("started outside the window"));
        }
    }
    if record.sealed.epoch != epoch.id {
        return Err(mismatch("sealed under another epoch"));
    }
    Ok(Received { record, epoch })
}

/// Stores a checked delivery: the epoch record first.
pub fn store(store: &RecordStore, r: &Received) -> Result<Stored, IntakeError> {
    store.put_epoch(&r.epoch)?;
    Ok(store.put(&r.record)?)
}
