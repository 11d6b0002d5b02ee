//! Opening received records with the LE private key, and deriving each
//! direction's SRTP master key exactly as the CTAs do (docs/srtp.md).
//!
//! One HPKE open per epoch, one AES-GCM open per record. A record that
//! does not open is reported with its call id and why; the others open
//! as usual.

use std::collections::HashMap;

use cablekey_protocol::escrow::{
    open_epoch, open_record, EpochId, EpochKey, EscrowRecord, LePrivateKey, OpenError,
};
use cablekey_protocol::srtp::derive::{master_key, Direction, MasterKey};
use cablekey_protocol::srtp::{SrtpError, Suite};

use crate::records::{RecordError, RecordStore};

/// Both directions' keys of one call. Secrets stay in `MasterKey`
/// (zeroized on drop, `Debug` shows fingerprints only).
#[derive(Debug)]
pub struct CallKeys {
    pub record: EscrowRecord,
    pub suite: Suite,
    /// Indexed by [`dir_index`].
    pub keys: [MasterKey; 2],
}

/// 0 for caller→callee (left channel), 1 for callee→caller (right).
pub fn dir_index(dir: Direction) -> usize {
    match dir {
        Direction::CallerToCallee => 0,
        Direction::CalleeToCaller => 1,
    }
}

pub const DIRECTIONS: [Direction; 2] = [Direction::CallerToCallee, Direction::CalleeToCaller];

impl CallKeys {
    pub fn key(&self, dir: Direction) -> &MasterKey {
        &self.keys[dir_index(dir)]
    }
}

/// Why one record gave no keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("epoch record {0} was never received")]
    NoEpoch(EpochId),
    #[error("epoch record: {0}")]
    Epoch(String),
    #[error("{0}")]
    Open(#[from] OpenError),
    #[error("suite {0:?}: {1}")]
    Suite(String, SrtpError),
    #[error("deriving SRTP keys: {0}")]
    Derive(SrtpError),
}

/// A record that did not open.
#[derive(Debug)]
pub struct KeyFailure {
    pub call_id: String,
    pub error: KeyError,
}

/// Opens every record it can; epoch keys are opened once and dropped
/// (wiped) when this returns.
pub fn open_calls(
    sk: &LePrivateKey,
    store: &RecordStore,
    records: Vec<EscrowRecord>,
) -> (Vec<CallKeys>, Vec<KeyFailure>) {
    let mut epochs: HashMap<EpochId, Result<EpochKey, String>> = HashMap::new();
    let (mut calls, mut failures) = (Vec::new(), Vec::new());
    for record in records {
        let id = record.sealed.epoch;
        let epoch = epochs.entry(id).or_insert_with(|| match store.epoch(&id) {
            Ok(Some(e)) => open_epoch(sk, &e).map_err(|e| e.to_string()),
            Ok(None) => Err(KeyError::NoEpoch(id).to_string()),
            Err(RecordError::Format { source, .. }) => Err(format!("epoch record {id}: {source}")),
            Err(e) => Err(e.to_string()),
        });
        let keys = match epoch {
            Ok(k) => derive(k, &record),
            Err(why) => Err(KeyError::Epoch(why.clone())),
        };
        match keys {
            Ok((suite, keys)) => calls.push(CallKeys {
                record,
                suite,
                keys,
            }),
            Err(error) => {
                tracing::warn!(call_id = %record.meta.call_id, %error, "escrow record does not open");
                failures.push(KeyFailure {
                    call_id: record.meta.call_id.clone(),
                    error,
                })
            }
        }
    }
    (calls, failures)
}

fn derive(epoch: &EpochKey, record: &EscrowRecord) -> Result<(Suite, [MasterKey; 2]), KeyError> {
    let call_key = open_record(epoch, record)?;
    let suite = Suite::from_name(&record.meta.suite)
        .map_err(|e| KeyError::Suite(record.meta.suite.clone(), e))?;
    let id = record.meta.call_id.as_bytes();
    let one = |dir| master_key(&call_key, id, suite, dir).map_err(KeyError::Derive);
    Ok((suite, [one(DIRECTIONS[0])?, one(DIRECTIONS[1])?]))
}
