//! `cablekey audit verify FILE`: checks the LI audit log's hash chain.

use std::path::Path;
use std::process::ExitCode;

use cablekey_gateway_controller::li::audit;

pub fn verify(file: &Path) -> ExitCode {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cablekey audit verify: {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    match audit::verify(&bytes) {
        Ok(head) => {
            // Compare the head with one kept outside the controller (the
            // CALEA server's `cablekey-audit-head`): the chain alone cannot
            // show entries cut off its end.
            println!(
                "{}: {} entries, chain intact; head {}:{}",
                file.display(),
                head.seq,
                head.seq,
                head.hash_hex()
            );
            ExitCode::SUCCESS
        }
        Err(bad) => {
            eprintln!(
                "{}: chain broken at {bad}; the {} entries before it verify (head {}:{})",
                file.display(),
                bad.good.seq,
                bad.good.seq,
                bad.good.hash_hex()
            );
            ExitCode::FAILURE
        }
    }
}
