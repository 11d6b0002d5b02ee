//! `cablekey bench calls` with a tiny bounded load: it completes, reports,
//! and every key the simulated CTAs received was found in the escrow store
//! (opened with the run's LE private key). Its own loopback addresses.
//! Also `cablekey bench core`, the same calls through the cores alone.

mod common;

use std::process::Command;

#[test]
fn a_small_run_sets_up_every_call_and_escrows_every_key() {
    let dir = common::scratch_dir("bench-calls");
    let out = Command::new(env!("CARGO_BIN_EXE_cablekey"))
        // Enough calls that each escrow thread runs for some clock ticks
        // (10 ms each) in a release build too: with 200, the indexer
        // sometimes had none and was missing from the split by thread.
        .args(["bench", "calls", "--calls", "1000", "--ctas", "10"])
        .args(["--concurrency", "10", "--answer-percent", "20"])
        .args(["--duration", "30", "--step-limit", "5"])
        .args(["--controller", "127.0.1.101:2727"])
        .args(["--cta-ip", "127.0.1.102", "--cta-port", "21000"])
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let has = |s: &str| stdout.contains(s);
    assert!(
        has("calls started 1000  set up 1000  answered 200"),
        "{stdout}"
    );
    assert!(has("setups/s "), "{stdout}");
    assert!(has("setup latency at the CTAs (last digit"), "{stdout}");
    assert!(has("failures: none"), "{stdout}");
    assert!(
        has("keys at the CTAs 1000 | checked 1000 against the store: missing 0 wrong 0"),
        "{stdout}"
    );
    assert!(has("every key checked was escrowed"), "{stdout}");
    // The CPU of each process is measured and reported, the controller's
    // also by thread.
    assert!(
        has("CPU: controller ") && has("load generator "),
        "{stdout}"
    );
    assert!(
        has("controller CPU per setup by thread: ") && has("mgcp-driver ") && has("escrow-index "),
        "{stdout}"
    );
    // A few seconds are not the steady state, and the report says so.
    assert!(
        has("less than the 30 s transaction history: a burst, not the steady state"),
        "{stdout}"
    );
    // The temporary files stay where asked, with a store in them.
    assert!(dir.join("store").is_dir());
}

#[test]
fn bench_core_sets_up_and_releases_every_call_in_memory() {
    let out = Command::new(env!("CARGO_BIN_EXE_cablekey"))
        .args(["bench", "core", "--calls", "300", "--ctas", "10"])
        .args(["--concurrency", "10", "--answer-percent", "20"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("calls started 300  set up 300  released 300  escrow requests 300"),
        "{stdout}"
    );
    assert!(stdout.contains("per setup: controller core "), "{stdout}");
    assert!(stdout.contains("a burst, not the steady state"), "{stdout}");

    // More calls in flight than the lines allow is refused, not run.
    let out = Command::new(env!("CARGO_BIN_EXE_cablekey"))
        .args([
            "bench",
            "core",
            "--calls",
            "10",
            "--ctas",
            "2",
            "--concurrency",
            "5",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--concurrency 5 needs 10 lines"));
}
