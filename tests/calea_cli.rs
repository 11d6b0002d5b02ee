//! `cablekey calea`: warrants, record import and decryption through the
//! CLI with its defaults (`./calea-data`, `./cases/<case id>/`).

mod common;
#[path = "../calea-server/tests/support/mod.rs"]
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use cablekey_calea_server::net::Link;
use support::*;

fn calea(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cablekey"))
        .current_dir(dir)
        .arg("calea")
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: &Output, says: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains(says),
        "wanted {says:?}, got {err}"
    );
}

#[test]
fn warrant_import_decrypt_revoke() {
    common::require_tool("tshark");
    let dir = common::scratch_dir("calea-cli");
    let s = build(&dir, false, 100, false);
    let pcap = dir.join("capture.pcap");
    cablekey_calea_server::synth::write_pcap(&pcap, Link::Ethernet, &s.packets).unwrap();
    let (start, end) = window();
    let add = |case: &str, target: &str, start: &str, end: &str| {
        calea(
            &dir,
            &[
                "warrant",
                "add",
                "--case",
                case,
                "--target",
                target,
                "--start",
                start,
                "--end",
                end,
                "--modes",
                "historical,future",
                "--collector",
                "127.0.0.1:5000",
            ],
        )
    };
    ok(&add(CASE, TARGET, &start, &end));
    refused(&add(CASE, TARGET, &start, &end), "exists already");
    refused(&add("C-2", "555-0001", &start, &end), "target number");
    refused(&add("C-2", TARGET, &end, &start), "must be after the start");
    refused(&add("C-2", TARGET, "yesterday", &end), "RFC 3339");
    refused(&add("../x", TARGET, &start, &end), "case id");
    let list = ok(&calea(&dir, &["warrant", "list"]));
    assert!(
        list.contains(CASE) && list.contains("future,historical") && list.contains("active"),
        "{list}"
    );

    let imported = ok(&calea(
        &dir,
        &["records", "import", s.bundle.to_str().unwrap()],
    ));
    assert!(imported.contains("4 new"), "{imported}");
    let check = calea(&dir, &["records", "check", "--key", "le-private.key"]);
    assert!(
        !check.status.success(),
        "the tampered record fails the check"
    );
    assert!(String::from_utf8_lossy(&check.stderr).contains(TAMPERED));

    // A key file others can read stops decryption before anything is read.
    std::fs::set_permissions(&s.key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let decrypt = [
        "decrypt",
        "--capture",
        "capture.pcap",
        "--case",
        CASE,
        "--key",
        "le-private.key",
    ];
    refused(&calea(&dir, &decrypt), "le-private.key: mode 0644");
    assert!(!dir.join("cases").exists());
    std::fs::set_permissions(&s.key, std::fs::Permissions::from_mode(0o600)).unwrap();

    let said = ok(&calea(&dir, &decrypt));
    assert!(said.contains("1 calls with audio, 200 RTP"), "{said}");
    let case_dir = dir.join("cases").join(CASE);
    for f in [
        "decrypted.pcap",
        "calls.jsonl",
        "report.json",
        "manifest.json",
        "call-A3C47F21456789F0.wav",
    ] {
        assert!(case_dir.join(f).is_file(), "{f}");
    }
    let (rtp, malformed) = tshark_rtp(&case_dir.join("decrypted.pcap"), [16384, 16386]);
    assert_eq!((rtp, malformed), (200, 0));

    refused(
        &calea(&dir, &["warrant", "revoke", "--case", "nope"]),
        "no such warrant",
    );
    ok(&calea(&dir, &["warrant", "revoke", "--case", CASE]));
    let mut again = decrypt.to_vec();
    again.extend(["--out", "second"]);
    refused(&calea(&dir, &again), "revoked");
}
