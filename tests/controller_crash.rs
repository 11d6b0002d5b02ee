//! The controller killed with SIGKILL in the middle of a load of calls,
//! then restarted: every key any CTA received is in the escrow store
//! (durable before it was sent), and calls go on after the restart.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cablekey_cta_firmware::line::Phase;
use cablekey_cta_firmware::sim::{self, Cta, Snapshot};
use cablekey_gateway_controller::escrow::keyfile;

const CONTROLLER: &str = "127.0.0.140:2727";
const FIRST_CTA: u8 = 141;
const CTAS: usize = 8;

fn number(i: usize) -> String {
    format!("{}", 3001 + i)
}

fn write_config(dir: &Path) -> PathBuf {
    let sections = format!(
        "[mgcp]\nlisten = \"{CONTROLLER}\"\n[escrow]\ndir = \"data\"\nle_public_key = \"le.pub\"\n[calls]\nno_answer_secs = 10\n[metrics]\nlisten = \"127.0.0.140:9427\"\n"
    );
    let lines: Vec<_> = (0..CTAS)
        .map(|i| {
            let addr = format!("127.0.0.{}:2427", FIRST_CTA as usize + i);
            (format!("aaln/1@cta{}.crash", i + 1), number(i), addr)
        })
        .collect();
    common::write_controller_config(dir, &sections, &lines)
}

/// One call from `a` to `b`, up to ringing with the key at both ends and
/// then hung up. Whatever happens, both end on hook.
async fn call(a: &Cta, b: &Cta, b_number: &str) -> bool {
    let step = Duration::from_secs(2);
    let phase = |p: Phase| move |s: &Snapshot| s.phases[0] == p;
    let ok = async {
        a.command("offhook").await;
        if !common::reached(a, step, phase(Phase::DialTone)).await {
            return false;
        }
        a.command(&format!("dial {b_number}")).await;
        if !common::reached(b, step, phase(Phase::Ringing)).await {
            return false;
        }
        b.command("offhook").await;
        let keyed = |s: &Snapshot| s.connections.iter().any(|c| c.key.is_some());
        common::reached(a, step, keyed).await && common::reached(b, step, keyed).await
    }
    .await;
    a.command("onhook").await;
    b.command("onhook").await;
    tokio::time::sleep(Duration::from_millis(if ok { 20 } else { 300 })).await;
    ok
}

fn escrowed_fingerprints(dir: &Path) -> BTreeSet<String> {
    common::escrowed_keys(&dir.join("data"), &dir.join("le.key"))
        .into_iter()
        .map(|(_, k)| k.fingerprint().to_string())
        .collect()
}

#[test]
fn sigkill_mid_load_loses_no_key_a_cta_received() {
    let dir = common::scratch_dir("controller-crash");
    keyfile::generate_keypair(&dir.join("le.key"), &dir.join("le.pub")).unwrap();
    let config = write_config(&dir);
    let mut controller = common::start_controller(&config);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (before, after, completed) = rt.block_on(async {
        let mut ctas = Vec::new();
        let base = format!("127.0.0.{FIRST_CTA}").parse().unwrap();
        for (i, addr) in sim::addresses(base, 2427, CTAS).into_iter().enumerate() {
            let mut c = sim::Config::new(
                &format!("cta{}.crash", i + 1),
                addr,
                CONTROLLER.parse().unwrap(),
            );
            c.console = false;
            ctas.push(Arc::new(Cta::start(c).await.unwrap()));
        }
        for cta in &ctas {
            assert!(common::reached(cta, Duration::from_secs(10), |s| s.registered).await);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let completed = Arc::new(AtomicUsize::new(0));
        let mut load = Vec::new();
        for p in 0..CTAS / 2 {
            let (a, b) = (ctas[2 * p].clone(), ctas[2 * p + 1].clone());
            let (stop, completed) = (stop.clone(), completed.clone());
            let b_number = number(2 * p + 1);
            load.push(tokio::spawn(async move {
                // Bounded: at most 400 calls per pair.
                for _ in 0..400 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if call(&a, &b, &b_number).await {
                        completed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        let keys = |ctas: &[Arc<Cta>]| -> BTreeSet<String> {
            ctas.iter()
                .flat_map(|c| c.keys_received())
                .map(|f| f.to_string())
                .collect()
        };
        tokio::time::sleep(Duration::from_secs(3)).await;
        controller.kill().unwrap(); // SIGKILL
        controller.wait().unwrap();
        let before = keys(&ctas);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let restarted = Instant::now();
        controller = common::start_controller(&config);
        // The new process audits every CTA (X-CA-Restart ends their wait
        // for NTFYs it never got) and deletes the old calls' connections;
        // give the load up to 20 s to resume, and say how long it took.
        let resumed = restarted + Duration::from_secs(20);
        let mut first = None;
        while keys(&ctas).len() < before.len() + 20 && Instant::now() < resumed {
            if first.is_none() && keys(&ctas).len() > before.len() {
                first = Some(restarted.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        eprintln!(
            "after the restart: first new key at a CTA in {first:?}, 20 in {:?}",
            restarted.elapsed()
        );
        stop.store(true, Ordering::Relaxed);
        for l in load {
            l.await.unwrap();
        }
        let after = keys(&ctas);
        for cta in ctas {
            if let Ok(cta) = Arc::try_unwrap(cta) {
                cta.stop().await;
            }
        }
        (before, after, completed.load(Ordering::Relaxed))
    });
    // The restarted controller's own view, as a Prometheus scraper sees it.
    let scrape = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect("127.0.0.140:9427").unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: c\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };
    let counter = |name: &str| -> u64 {
        let line = scrape
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{scrape}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(counter("cablekey_keys_escrowed_total ") > 0, "{scrape}");
    assert!(counter("cablekey_calls_ringing_total ") > 0, "{scrape}");
    Command::new("kill")
        .args(["-TERM", &controller.id().to_string()])
        .status()
        .unwrap();
    assert!(
        controller.wait().unwrap().success(),
        "graceful stop after SIGTERM"
    );

    assert!(
        before.len() >= 10,
        "load ran before the kill: {} keys",
        before.len()
    );
    assert!(
        after.len() > before.len(),
        "calls went on after the restart ({} then {} keys, {completed} calls)",
        before.len(),
        after.len()
    );
    let escrowed = escrowed_fingerprints(&dir);
    eprintln!(
        "keys received: {} before the kill, {} in all ({completed} calls); escrow records: {}",
        before.len(),
        after.len(),
        escrowed.len()
    );
    let missing: Vec<_> = after.difference(&escrowed).collect();
    assert!(
        missing.is_empty(),
        "{} of {} keys the CTAs received are not in the escrow: {missing:?}",
        missing.len(),
        after.len()
    );
}
