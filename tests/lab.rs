//! `cablekey lab` end to end: the controller, its escrow store and
//! simulated CTAs with SRTP media, as the operator runs them. After each
//! run the store is opened as the CALEA side would: exactly one record per
//! call, each opening (LE private key) to the key both CTAs used. Every run
//! also places two calls with the telephone network through the POTS
//! gateway (`--pstn-calls 2`, the default): one out from a CTA, one in.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use base64::Engine;
use cablekey_protocol::secret::SecretBytes;

struct Run {
    ok: bool,
    stdout: String,
    /// stdout and stderr (the logs) together.
    all: String,
}

fn lab(dir: &Path, ip: u8, extra: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_cablekey"))
        .args(["lab", "--ctas", "4", "--talk", "1"])
        .arg("--controller")
        .arg(format!("127.0.0.{ip}:2727"))
        .arg("--cta-base")
        .arg(format!("127.0.0.{}", ip + 1))
        .arg("--data")
        .arg(dir.join("data"))
        .arg("--dir")
        .arg(dir.join("lab"))
        .args(extra)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    Run {
        ok: out.status.success(),
        all: format!("{stdout}\n{stderr}"),
        stdout,
    }
}

/// Runs the lab, which must pass every call; returns the run and the key
/// fingerprints of its table.
fn passing_lab(dir: &Path, ip: u8, extra: &[&str], calls: usize) -> (Run, Vec<String>) {
    let run = lab(dir, ip, extra);
    assert!(run.ok, "{}", run.all);
    assert!(
        run.stdout.contains("lab: all calls passed"),
        "{}",
        run.stdout
    );
    let table = table_keys(&run.stdout);
    assert_eq!(table.len(), calls, "{}", run.stdout);
    (run, table)
}

/// The key fingerprints of the table's passing rows.
fn table_keys(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.ends_with("  ok"))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("fp:")))
        .map(str::to_string)
        .collect()
}

fn escrowed_keys(dir: &Path) -> Vec<(String, SecretBytes)> {
    escrow_records(dir)
        .into_iter()
        .map(|(id, _, key)| (id, key))
        .collect()
}

/// Every record in the store: call id, calling endpoint, opened key.
fn escrow_records(dir: &Path) -> Vec<(String, String, SecretBytes)> {
    common::escrowed_keys(&dir.join("data"), &dir.join("lab/le-private.key"))
        .into_iter()
        .map(|(meta, key)| (meta.call_id, meta.caller.endpoint, key))
        .collect()
}

/// The ways a key could be written into a log.
fn encodings(key: &[u8]) -> Vec<String> {
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        base64::engine::general_purpose::STANDARD.encode(key),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(key),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key),
        hex.to_uppercase(),
        hex,
        format!("{key:?}"),
    ]
}

#[test]
fn each_call_is_escrowed_once_with_the_key_both_ends_used_and_no_log_shows_it() {
    let dir = common::scratch_dir("lab-random");
    let (run, table) = passing_lab(&dir, 100, &["--calls", "4"], 6);
    let rows = |route: &str| {
        run.stdout
            .lines()
            .filter(|l| l.ends_with("  ok") && l.contains(route))
            .count()
    };
    assert_eq!(rows("->PSTN "), 1, "a call to the network: {}", run.stdout);
    assert_eq!(
        rows(" PSTN->"),
        1,
        "a call from the network: {}",
        run.stdout
    );

    let escrowed = escrowed_keys(&dir);
    assert_eq!(escrowed.len(), 6, "exactly one record per call");
    let ids: BTreeSet<_> = escrowed.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids.len(), 6, "six distinct calls");
    let fps: BTreeSet<_> = escrowed
        .iter()
        .map(|(_, k)| k.fingerprint().to_string())
        .collect();
    assert_eq!(
        fps,
        table.into_iter().collect(),
        "the escrow opens to the keys the CTAs used"
    );

    // Trace-level logs of the controller and all CTAs.
    assert!(run.all.lines().count() > 200, "trace logs were captured");
    for (id, key) in &escrowed {
        for enc in encodings(key.expose()) {
            assert!(
                !run.all.contains(&enc),
                "call {id}: its key appears in the output"
            );
        }
    }
}

#[test]
fn calls_complete_with_ten_percent_signaling_loss_and_duplication() {
    let dir = common::scratch_dir("lab-lossy");
    let run = lab(
        &dir,
        110,
        &[
            "--calls",
            "6",
            "--signaling-loss",
            "0.1",
            "--signaling-dup",
            "0.1",
        ],
    );
    assert!(run.ok, "{}", run.all);
    assert_eq!(table_keys(&run.stdout).len(), 8, "{}", run.stdout);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("signaling impaired:"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    let count = |what: &str| -> u64 {
        let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
        let i = words.iter().position(|w| *w == what).unwrap();
        words[i - 1].parse().unwrap()
    };
    assert!(count("dropped") > 0 && count("duplicated") > 0, "{line}");
    // At-most-once: duplicated commands made no second call or record.
    assert_eq!(escrowed_keys(&dir).len(), 8);
}

#[test]
fn derived_keys_the_caller_derives_k_the_escrow_holds_it_and_no_log_shows_any_key() {
    let dir = common::scratch_dir("lab-derived");
    let (run, table) = passing_lab(&dir, 130, &["--calls", "4", "--keys", "derived"], 6);
    // Each caller's CTA derived K itself: it was never sent to it. The
    // call from the network (a trunk has no session key) has a random K.
    let derived_rows = run
        .stdout
        .lines()
        .filter(|l| l.ends_with("  ok") && l.contains(" derived "))
        .count();
    assert_eq!(derived_rows, 5, "{}", run.stdout);

    // The session keys the lab gave the controller and each CTA.
    let session = |endpoint: &str| {
        let domain = endpoint.rsplit('@').next().unwrap();
        let path = dir.join(format!("lab/session-keys/{domain}.session"));
        cablekey_keyfile::load_session_key(&path).unwrap()
    };
    let records = escrow_records(&dir);
    assert_eq!(records.len(), 6, "exactly one record per call");
    let ids: BTreeSet<_> = records.iter().map(|(id, _, _)| id.clone()).collect();
    assert_eq!(ids.len(), 6, "six distinct calls");
    let fps: BTreeSet<_> = records
        .iter()
        .map(|(_, _, k)| k.fingerprint().to_string())
        .collect();
    assert_eq!(
        fps,
        table.into_iter().collect(),
        "the escrow opens to the keys the CTAs used"
    );
    let mut secrets = Vec::new();
    for (id, caller, key) in &records {
        if caller.starts_with("ds/") {
            secrets.push((format!("call {id} key"), key.duplicate()));
            continue;
        }
        let s = session(caller);
        let want = cablekey_protocol::callkey::derive(&s, id).unwrap();
        assert!(
            key.ct_eq(&want),
            "call {id}: K is derived from {caller}'s session key"
        );
        secrets.push((format!("call {id} key"), key.duplicate()));
        secrets.push((format!("{caller} session key"), s));
    }

    assert!(run.all.lines().count() > 200, "trace logs were captured");
    for (what, secret) in &secrets {
        for enc in encodings(secret.expose()) {
            assert!(!run.all.contains(&enc), "{what} appears in the output");
        }
    }
}

/// The lab's warrant (127.0.3.40-44): a CALEA server in the lab's process
/// provisions a task for 2001 over the LI API with a CA made for the run;
/// the target's calls are delivered under `lab/cases/<case id>/` with both
/// parties' tones, the other calls are not. A warrant whose target makes
/// no call fails the run (exit 1).
#[test]
fn the_warrant_intercepts_the_targets_calls_and_delivers_the_case() {
    let dir = common::scratch_dir("lab-warrant");
    let lab = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cablekey"))
            .arg("lab")
            .args(args)
            .args(["--controller", "127.0.3.40:2727"])
            .args(["--cta-base", "127.0.3.41"])
            .arg("--data")
            .arg(dir.join("data"))
            .arg("--dir")
            .arg(dir.join("lab"))
            .output()
            .unwrap()
    };
    let run = lab(&["--ctas", "4", "--talk", "1", "--calls", "4"]);
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let all = format!("{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "{all}");
    assert!(stdout.contains("warrant: interception passed"), "{stdout}");

    // The target's calls with four CTAs: 2001->2002, 2002->2001 and the
    // lab's call from 2001 to the telephone network.
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("left (caller)"))
        .collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    assert!(rows.iter().any(|r| r.contains("2001->PSTN")), "{stdout}");
    for row in &rows {
        assert!(row.contains("2001") && row.ends_with("  ok"), "{row}");
        let margins: Vec<f64> = row
            .split(" dB")
            .filter_map(|p| p.rsplit(' ').next()?.parse().ok())
            .collect();
        assert_eq!(margins.len(), 2, "{row}");
        assert!(margins.iter().all(|m| *m >= 20.0), "{row}");
    }
    let cases: Vec<_> = std::fs::read_dir(dir.join("lab/cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cases.len(), 1, "{cases:?}");
    let case = &cases[0];
    for f in [
        "manifest.json",
        "calls.jsonl",
        "decrypted.pcap",
        "report.json",
    ] {
        assert!(case.join(f).is_file(), "{f} in {}", case.display());
    }
    let wavs = std::fs::read_dir(case)
        .unwrap()
        .filter(|e| {
            let p = e.as_ref().unwrap().path();
            p.extension().is_some_and(|x| x == "wav")
        })
        .count();
    assert_eq!(wavs, 3);
    // Only the target's calls are in the call records.
    let records = std::fs::read_to_string(case.join("calls.jsonl")).unwrap();
    assert_eq!(records.lines().count(), 3, "{records}");
    assert!(records.lines().all(|l| l.contains("\"2001\"")), "{records}");
    // The LI API audited it all; the chain verifies.
    common::cli_ok(&dir, &["audit", "verify", "lab/li/audit.log"]);

    // A target that makes no call: nothing intercepted, the run fails.
    let run = lab(&[
        "--ctas",
        "2",
        "--talk",
        "0.5",
        "--calls",
        "1",
        "--warrant-target",
        "9999",
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("nothing was intercepted"), "{stdout}");
    assert!(stdout.contains("lab: FAILED"), "{stdout}");
}
