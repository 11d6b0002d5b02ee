//! Key layout of the sled store: one tree, so a group commit is one atomic
//! batch. Integers are big-endian so byte order is time order.
//!
//! | key | value |
//! | --- | --- |
//! | `r` call id | encoded [`EscrowRecord`](cablekey_protocol::escrow::EscrowRecord) |
//! | `e` epoch id (16) | encoded [`EpochRecord`](cablekey_protocol::escrow::EpochRecord) |
//! | `p` len number start(8) call id | empty (one per party) |
//! | `t` start(8) call id | empty |

use cablekey_protocol::escrow::{CallMeta, EpochId};

pub(crate) const RECORD: u8 = b'r';
pub(crate) const EPOCH: u8 = b'e';
pub(crate) const PARTY: u8 = b'p';
pub(crate) const TIME: u8 = b't';

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

/// The index keys of a record (the callee's is skipped if it is the same number).
pub(crate) fn index_keys(meta: &CallMeta) -> Vec<Vec<u8>> {
    let mut keys = Vec::with_capacity(3);
    let mut t = time_prefix(meta.start_unix_ms);
    t.extend_from_slice(meta.call_id.as_bytes());
    keys.push(t);
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

/// The call id at the end of an index key whose prefix is `prefix_len` long.
pub(crate) fn call_id_of(index_key: &[u8], prefix_len: usize) -> Option<&[u8]> {
    index_key.get(prefix_len..)
}
