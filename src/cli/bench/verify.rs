//! After the run: every key a CTA received must be in the escrow store,
//! opening (with the LE private key, as the CALEA server would) to that key.
//! The store is reopened from disk, so what is checked is what survived.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::path::Path;

use cablekey_gateway_controller::escrow::{EscrowStore, Options, SledStore, TimeRange};
use cablekey_protocol::escrow::{open_epoch, open_record, EpochId, EpochKey, LePrivateKey};

use super::report::KeySeen;

#[derive(Debug, Default)]
pub struct Verdict {
    /// Keys looked up (all, or the sample).
    pub checked: usize,
    /// No record for the call id.
    pub missing: usize,
    /// A record that does not open, or opens to another key.
    pub wrong: usize,
    /// A few call ids at fault, for the report.
    pub examples: Vec<String>,
    /// Records and epochs the store holds.
    pub records: usize,
    pub epochs: usize,
}

impl Verdict {
    pub fn all_escrowed(&self) -> bool {
        self.missing == 0 && self.wrong == 0
    }

    fn fault(&mut self, call_id: &str, missing: bool) {
        if missing {
            self.missing += 1;
        } else {
            self.wrong += 1;
        }
        if self.examples.len() < 5 {
            self.examples.push(call_id.into());
        }
    }
}

/// Checks `keys`, or every `step`-th of them for a sample.
pub async fn check(
    store_dir: &Path,
    sk: &LePrivateKey,
    keys: &[KeySeen],
    sample: Option<usize>,
) -> anyhow::Result<Verdict> {
    let store = SledStore::open(store_dir, Options::default())?;
    let verdict = check_in(&store, sk, keys, sample).await;
    store.close();
    verdict
}

async fn check_in(
    store: &SledStore,
    sk: &LePrivateKey,
    keys: &[KeySeen],
    sample: Option<usize>,
) -> anyhow::Result<Verdict> {
    let step = match sample {
        Some(n) if n > 0 && n < keys.len() => keys.len().div_ceil(n),
        _ => 1,
    };
    let mut v = Verdict::default();
    let mut epochs: HashMap<EpochId, Option<EpochKey>> = HashMap::new();
    for k in keys.iter().step_by(step) {
        v.checked += 1;
        let Some(record) = store.get(&k.call_id).await? else {
            v.fault(&k.call_id, true);
            continue;
        };
        let id = record.sealed.epoch;
        if let Entry::Vacant(slot) = epochs.entry(id) {
            // One HPKE open per epoch; a record of an unopenable epoch is wrong.
            let opened = match store.epoch(id).await? {
                Some(e) => open_epoch(sk, &e).ok(),
                None => None,
            };
            slot.insert(opened);
        }
        let key = epochs
            .get(&id)
            .and_then(Option::as_ref)
            .and_then(|ek| open_record(ek, &record).ok());
        match key {
            Some(key) if u64::from_be_bytes(key.fingerprint().0) == k.fingerprint => {}
            _ => v.fault(&k.call_id, false),
        }
    }
    let all = store.by_time(TimeRange::ALL).await?;
    v.records = all.len();
    let mut ids: Vec<EpochId> = all.iter().map(|r| r.sealed.epoch).collect();
    ids.sort_unstable();
    ids.dedup();
    v.epochs = ids.len();
    Ok(v)
}
