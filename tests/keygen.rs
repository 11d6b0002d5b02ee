//! `cablekey keygen`: a key pair the controller and the CALEA server load,
//! the private half readable by its owner only, nothing overwritten.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use cablekey_keyfile as keyfile;

#[test]
fn keygen_writes_a_pair_that_loads_and_refuses_to_overwrite() {
    let dir = common::scratch_dir("keygen");
    let (private, public) = (dir.join("le.key"), dir.join("le.pub"));
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_cablekey"))
            .arg("keygen")
            .arg("--private")
            .arg(&private)
            .arg("--public")
            .arg(&public)
            .output()
            .unwrap()
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap();
    assert!(id.trim().starts_with("le:"), "{id}");

    let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let sk = keyfile::load_private_key(&private).unwrap();
    let pk = keyfile::load_public_key(&public).unwrap();
    assert_eq!(sk.public().key_id(), pk.key_id());
    assert_eq!(format!("{}\n", pk.key_id()), id);

    let before = std::fs::read(&private).unwrap();
    let again = run();
    assert!(
        !again.status.success(),
        "a second keygen must not overwrite"
    );
    assert_eq!(std::fs::read(&private).unwrap(), before);
}
