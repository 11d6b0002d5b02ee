//! Any stored bytes: the escrow decoders never panic, and whatever decodes
//! re-encodes to the same bytes (one encoding per value).
#![no_main]

use cablekey_protocol::escrow::{EpochRecord, EscrowRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(rec) = EscrowRecord::decode(data) {
        assert_eq!(rec.encode(), data);
    }
    if let Ok(epoch) = EpochRecord::decode(data) {
        assert_eq!(epoch.encode(), data);
    }
});
