//! Key layout of the sled store: one tree, so a group commit is one atomic
//! batch. Integers are big-endian so byte order is time order.
//!
//! | key | value |
//! | --- | --- |
//! | `r` call id | encoded [`EscrowRecord`](cablekey_protocol::escrow::EscrowRecord) |
//! | `e` epoch id (16) | encoded [`EpochRecord`](cablekey_protocol::escrow::EpochRecord) |
//! | `p` len number start(8) call id | the record, then its epoch record (one per party) |
//! | `t` start(8) call id | empty |
//! | `v` | layout version (one byte) |
//!
//! A party's entries carry copies of the records (and of the epoch records
//! that open them), so a target's calls in a window are one range read of
//! adjacent keys, not two random point reads per call: on 10 million
//! records the point reads missed sled's cache and cost a p99 of 29 ms per
//! month-long query (`BENCHMARKS.md`, "Escrow lookup"). Every write of a
//! record rewrites its party entries too, so the copies never go stale.
//! The party entries of closed days then move out of sled into archive
//! files (`archive`), which a query reads after sled.

use cablekey_protocol::escrow::{CallMeta, EpochId, EPOCH_RECORD_LEN};

use super::store::StoreError;

pub(crate) const RECORD: u8 = b'r';
pub(crate) const EPOCH: u8 = b'e';
pub(crate) const PARTY: u8 = b'p';
pub(crate) const TIME: u8 = b't';
const VERSION_KEY: &[u8] = b"v";
/// 3: the party entries of closed days move to archive files (`archive`).
/// 2: party entries carry the record and its epoch record (1: empty).
const VERSION: u8 = 3;
/// A layout this build upgrades at open: 2 is 3 with nothing archived yet.
const UPGRADES: u8 = 2;

/// Marks a new store with this layout; refuses a store written in another.
pub(crate) fn check_version(db: &sled::Db) -> Result<(), StoreError> {
    let err = |e: sled::Error| StoreError::Db(format!("reading the layout version: {e}"));
    match db.get(VERSION_KEY).map_err(err)? {
        Some(v) if v[..] == [VERSION] => Ok(()),
        Some(v) if v[..] == [UPGRADES] => {
            db.insert(VERSION_KEY, &[VERSION]).map_err(err)?;
            Ok(())
        }
        None if db.is_empty() => {
            db.insert(VERSION_KEY, &[VERSION]).map_err(err)?;
            Ok(())
        }
        found => Err(StoreError::Db(format!(
            "the store has layout {}, this build reads layout {VERSION}: \
             export it with the build that wrote it, or start a new store",
            found.map_or_else(|| "1".to_string(), |v| format!("{v:?}"))
        ))),
    }
}

pub(crate) fn record_key(call_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + call_id.len());
    k.push(RECORD);
    k.extend_from_slice(call_id.as_bytes());
    k
}

pub(crate) fn epoch_key(id: &EpochId) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = EPOCH;
    k[1..].copy_from_slice(&id.0);
    k
}

/// `p len number` then `start`: numbers are length-prefixed so one
/// number is never a prefix of another's range.
pub(crate) fn party_prefix(number: &str, start_ms: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + number.len() + 8 + 32);
    k.push(PARTY);
    k.push(number.len() as u8);
    k.extend_from_slice(number.as_bytes());
    k.extend_from_slice(&start_ms.to_be_bytes());
    k
}

pub(crate) fn time_prefix(start_ms: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + 32);
    k.push(TIME);
    k.extend_from_slice(&start_ms.to_be_bytes());
    k
}

/// The time index key of a record.
pub(crate) fn time_key(meta: &CallMeta) -> Vec<u8> {
    let mut t = time_prefix(meta.start_unix_ms);
    t.extend_from_slice(meta.call_id.as_bytes());
    t
}

/// The party index keys of a record (the callee's is skipped if it is the
/// same number).
pub(crate) fn party_keys(meta: &CallMeta) -> Vec<Vec<u8>> {
    let mut keys = Vec::with_capacity(2);
    for (i, p) in [&meta.caller, &meta.callee].into_iter().enumerate() {
        if i == 1 && meta.callee.number == meta.caller.number {
            break;
        }
        let mut k = party_prefix(&p.number, meta.start_unix_ms);
        k.extend_from_slice(meta.call_id.as_bytes());
        keys.push(k);
    }
    keys
}

/// A party key's number, start time and call id.
pub(crate) fn split_party_key(k: &[u8]) -> Option<(&[u8], u64, &[u8])> {
    let (&tag, rest) = k.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let (number, rest) = rest.split_at_checked(usize::from(len))?;
    let (start, call_id) = rest.split_at_checked(8)?;
    let start = u64::from_be_bytes(start.try_into().ok()?);
    (tag == PARTY).then_some((number, start, call_id))
}

/// A party entry's value: the encoded record, then its epoch record.
pub(crate) fn party_value(record: &[u8], epoch: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(record.len() + epoch.len());
    v.extend_from_slice(record);
    v.extend_from_slice(epoch);
    v
}

/// Splits a party entry's value into the record and the epoch record.
pub(crate) fn split_party_value(v: &[u8]) -> Option<(&[u8], &[u8])> {
    v.len()
        .checked_sub(EPOCH_RECORD_LEN)
        .filter(|&n| n > 0)
        .map(|n| v.split_at(n))
}

/// The call id at the end of an index key whose prefix is `prefix_len` long.
pub(crate) fn call_id_of(index_key: &[u8], prefix_len: usize) -> Option<&[u8]> {
    index_key.get(prefix_len..)
}
