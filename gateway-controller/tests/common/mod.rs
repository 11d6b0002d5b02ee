//! Helpers shared by the escrow integration tests.
#![allow(dead_code)]

use cablekey_protocol::escrow::{CallMeta, LePrivateKey, Party};
use cablekey_protocol::secret::SecretBytes;
use getrandom::rand_core::UnwrapErr;
use getrandom::SysRng;

pub fn meta(call_id: &str, caller: &str, callee: &str, start_unix_ms: u64) -> CallMeta {
    CallMeta {
        call_id: call_id.to_owned(),
        caller: Party {
            number: caller.to_owned(),
            endpoint: format!("aaln/1@cta-{caller}.example.net"),
        },
        callee: Party {
            number: callee.to_owned(),
            endpoint: format!("aaln/1@cta-{callee}.example.net"),
        },
        start_unix_ms,
        suite: "AEAD_AES_128_GCM".to_owned(),
    }
}

/// A call key both a writer and a checker can compute from the call's number.
pub fn key_for(n: u64) -> SecretBytes {
    let mut k = [0u8; 30];
    for (i, b) in k.iter_mut().enumerate() {
        *b = (n.wrapping_mul(0x9E37_79B9).wrapping_add(i as u64 * 31) >> 3) as u8;
    }
    k[..8].copy_from_slice(&n.to_be_bytes());
    SecretBytes::new(&k).unwrap()
}

pub fn le_key() -> LePrivateKey {
    LePrivateKey::generate(&mut UnwrapErr(SysRng))
}

/// A temp directory on the same disk as the build (not tmpfs), so syncs are real.
pub fn store_dir() -> tempfile::TempDir {
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    tempfile::tempdir_in(base).unwrap()
}
