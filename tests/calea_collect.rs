//! Lawful intercept of media, end to end on loopback addresses of this
//! test's own (127.0.0.170-174): the controller service, two simulated CTAs
//! with SRTP and tones, and the CALEA live collector. Three calls:
//!
//! 1. nobody is a target: no copy is sent anywhere (the baseline);
//! 2. the caller is a target before the call: both ends copy their SRTP,
//!    tagged with the case's CCI, and the collector decrypts it to a WAV
//!    with each party's tone on its channel; the callee sees exactly what
//!    it saw in call 1;
//! 3. a task set mid-call (MDCX): audio from then on.
//!
//! tshark captures everything: MGCP with es-ccd/es-cci decodes, nothing is
//! malformed, every copy carries a case's CCI and none was sent in call 1.

mod common;

use common::{say, start_cta, wait_for};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cablekey_calea_server::collect::{self, CaseSummary};
use cablekey_calea_server::records::RecordStore;
use cablekey_calea_server::warrant::{Mode, Warrant, WarrantBook};
use cablekey_cta_firmware::line::Phase;
use cablekey_cta_firmware::sim::{self, tone, wav, Cta, Snapshot};
use cablekey_gateway_controller::escrow::{keyfile, EscrowStore, TimeRange};
use cablekey_gateway_controller::registry::Kind;
use cablekey_gateway_controller::service::{self, InterceptCommand, Running, Settings};
use cablekey_gateway_controller::{Cci, Intercept};

const NET: &str = "127.0.0.168/29";
const PROBE_IP: &str = "127.0.0.174";
const CONTROLLER: &str = "127.0.0.170:2727";
const CTA_A: &str = "127.0.0.171:2427";
const CTA_B: &str = "127.0.0.172:2427";
const COLLECTOR: &str = "127.0.0.173:5000";
const A_NUMBER: &str = "3001";
const B_NUMBER: &str = "3002";
/// The cases' call-content identifiers: before the call, and mid-call.
const CCI_FUTURE: u32 = 0x00C0_FFEE;
const CCI_CURRENT: u32 = 0x0000_0BEE;

const CALLER_HZ: f64 = 1000.0;
const CALLEE_HZ: f64 = 440.0;
const MIN_DOMINANCE_DB: f64 = 20.0;
const TALK: Duration = Duration::from_millis(2000);
const STEP: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intercepted_calls_are_copied_decrypted_and_delivered() {
    let dir = common::scratch_dir("calea_collect");
    let pcap = dir.join("collect.pcapng");
    let mut capture = common::Capture::start(&format!("net {NET}"), PROBE_IP, &pcap);
    let (private, public) = (dir.join("le-private.key"), dir.join("le-public.key"));
    keyfile::generate_keypair(&private, &public).unwrap();
    let calea = dir.join("calea-data");
    add_warrants(&calea);

    let mut settings = Settings::new(CONTROLLER.parse().unwrap(), dir.join("data"), public);
    for (name, number) in [
        ("aaln/1@ctaa.collect", A_NUMBER),
        ("aaln/1@ctab.collect", B_NUMBER),
    ] {
        settings
            .registry
            .add(name, Kind::Line, Some(number), None)
            .unwrap();
    }
    let ctrl = service::start(settings, Duration::from_secs(2))
        .await
        .unwrap();
    let feeding = feed_records(&ctrl, &calea);
    let (stop, collector) = start_collector(COLLECTOR, &calea, &private, &dir.join("cases"), None);
    let a = start_cta("ctaa.collect", CTA_A, ctrl.addr).await;
    let b = start_cta("ctab.collect", CTA_B, ctrl.addr).await;
    let intercepts = ctrl.intercepts();
    let task = |cci| Intercept {
        cci: Cci(cci),
        collector: COLLECTOR.parse().unwrap(),
    };

    // 1. Nobody intercepted.
    let (a1, b1) = call(&a, &b, B_NUMBER, &dir, "1", || {}).await;
    let call1_end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // 2. The caller is a target before the call.
    intercepts
        .send(InterceptCommand::Set(A_NUMBER.into(), task(CCI_FUTURE)))
        .unwrap();
    let (a2, b2) = call(&a, &b, B_NUMBER, &dir, "2", || {}).await;
    // 3. Mid-call: the task comes ~0.8 s into the conversation.
    intercepts
        .send(InterceptCommand::Clear(A_NUMBER.into()))
        .unwrap();
    let mid = || {
        let tx = intercepts.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            tx.send(InterceptCommand::Set(A_NUMBER.into(), task(CCI_CURRENT)))
                .unwrap();
        });
    };
    let (a3, b3) = call(&a, &b, B_NUMBER, &dir, "3", mid).await;

    tokio::time::sleep(Duration::from_millis(600)).await;
    stop.store(true, Ordering::SeqCst);
    let cases = collector.join().unwrap();
    feeding.abort();
    a.stop().await;
    b.stop().await;
    ctrl.shutdown(Duration::from_secs(2)).await;
    capture.stop();

    // 1: no copies; 2 and 3: the sender side's copies, one per packet sent.
    assert_eq!((a1.copies_sent, b1.copies_sent), (0, 0));
    assert!(a2.copies_sent > 60 && b2.copies_sent > 60, "{a2:?} {b2:?}");
    assert!(a3.copies_sent > 30 && b3.copies_sent > 30, "{a3:?} {b3:?}");
    assert!(a3.copies_sent < a3.packets_sent - 20, "mid-call: {a3:?}");
    // The callee sees the same as in an un-intercepted call.
    for (who, plain, tapped) in [("callee", &b1, &b2), ("caller", &a1, &a2)] {
        assert_eq!(tapped.rejected, 0, "{who}: {tapped:?}");
        let (p, t) = (
            plain.packets_received as f64,
            tapped.packets_received as f64,
        );
        assert!((t - p).abs() <= p * 0.1, "{who} received {t} vs {p}");
    }

    let future = case(&cases, "C-FUTURE");
    let current = case(&cases, "C-CURRENT");
    for (c, min_packets) in [(future, 80), (current, 30)] {
        let n = &c.report.counts;
        assert_eq!((n.rejected, n.outside_warrant), (0, 0), "{:?}", c.report);
        assert!(n.rtp_decrypted >= 2 * min_packets, "{:?}", c.report);
        assert_eq!(c.calls_with_audio, 1, "{:?}", c.files);
        for f in [
            "decrypted.pcap",
            "calls.jsonl",
            "report.json",
            "manifest.json",
        ] {
            assert!(c.out.join(f).is_file(), "{f} in {}", c.out.display());
        }
        let wav_file = c.files.iter().find(|f| f.ends_with(".wav")).unwrap();
        let (left, right) = channels(&c.out.join(wav_file));
        let l = tone::dominance_db(&left, CALLER_HZ, CALLEE_HZ);
        let r = tone::dominance_db(&right, CALLEE_HZ, CALLER_HZ);
        eprintln!(
            "{}: caller channel 1 kHz by {l:.1} dB, callee channel 440 Hz by {r:.1} dB",
            c.report.case_id
        );
        assert!(l >= MIN_DOMINANCE_DB && r >= MIN_DOMINANCE_DB);
    }
    // Mid-call: audio from the task on, not the whole call.
    assert!(current.report.counts.rtp_decrypted < future.report.counts.rtp_decrypted - 40);

    check_capture(&pcap, call1_end);
}

/// The LI API alone arranges the intercept (127.0.3.1-6): the CALEA
/// server's CLI adds a warrant and pushes it over mutual TLS, `calea
/// follow` brings the records, and the controller taps the target from the
/// task's provisioning on with the CCI it assigned. A call of two others
/// while the task is in force is not copied; the target's call is, and
/// decrypts to both parties' tones; after `warrant withdraw` the target's
/// next call is not copied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_provisioned_over_the_li_api_taps_its_target_until_revoked() {
    const IP: &str = "127.0.3.1";
    const LI_COLLECTOR: &str = "127.0.3.5:5000";
    let dir = common::scratch_dir("calea_collect_li");
    common::li_certs(&dir, IP);
    let mut text = format!(
        "[mgcp]\nlisten = \"{IP}:2727\"\n[escrow]\ndir = \"data\"\nle_public_key = \"le.pub\"\n\
         [li]\nlisten = \"{IP}:7443\"\nca_cert = \"ca/ca.crt\"\ncert = \"ca/controller.crt\"\n\
         key = \"ca/controller.key\"\naudit_log = \"li-audit.log\"\n"
    );
    for (name, number, ip) in [("a", "3201", 2), ("b", "3202", 3), ("c", "3203", 4)] {
        text += &format!(
            "[[endpoint]]\nname = \"aaln/1@cta{name}.lic\"\nnumber = \"{number}\"\naddr = \"127.0.3.{ip}:2427\"\n"
        );
    }
    let settings = Settings::parse(&dir.join("controller.toml"), &text).unwrap();
    let ctrl = service::start(settings, Duration::from_secs(2))
        .await
        .unwrap();
    let cli = |args: &[&str]| {
        let dir = dir.clone();
        let mut v: Vec<String> = ["calea", "--data-dir", "calea-data"]
            .iter()
            .chain(args)
            .map(|s| s.to_string())
            .collect();
        if matches!(args[0], "follow" | "warrant") && args.len() > 1 && args[1] != "add" {
            v.extend(["--controller".into(), format!("{IP}:7443")]);
        }
        async move {
            tokio::task::spawn_blocking(move || {
                let a: Vec<&str> = v.iter().map(String::as_str).collect();
                common::cli_ok(&dir, &a)
            })
            .await
            .unwrap()
        }
    };
    let now = cablekey_calea_server::clock::now();
    let rfc = cablekey_calea_server::clock::rfc3339;
    cli(&[
        "warrant",
        "add",
        "--case",
        "C-LI",
        "--target",
        "3201",
        "--start",
        &rfc(now - 60_000),
        "--end",
        &rfc(now + 3_600_000),
        "--modes",
        "future,current",
        "--collector",
        LI_COLLECTOR,
    ])
    .await;
    let pushed = cli(&["warrant", "push", "--case", "C-LI"]).await;
    assert!(pushed.contains("es-cci "), "{pushed}");
    let calea = dir.join("calea-data");
    let cci = WarrantBook::load(&calea).unwrap().get("C-LI").unwrap().cci;
    assert!(cci.is_some(), "the task's CCI is in the warrant book");
    let mut follow = std::process::Command::new(env!("CARGO_BIN_EXE_cablekey"))
        .current_dir(&dir)
        .args([
            "calea",
            "--data-dir",
            "calea-data",
            "follow",
            "--case",
            "C-LI",
        ])
        .args(["--controller", &format!("{IP}:7443")])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (stop, collector) = start_collector(
        LI_COLLECTOR,
        &calea,
        &dir.join("le.key"),
        &dir.join("cases"),
        Some(Duration::from_millis(500)),
    );
    let a = start_cta("ctaa.lic", "127.0.3.2:2427", ctrl.addr).await;
    let b = start_cta("ctab.lic", "127.0.3.3:2427", ctrl.addr).await;
    let c = start_cta("ctac.lic", "127.0.3.4:2427", ctrl.addr).await;

    let (b1, c1) = call(&b, &c, "3203", &dir, "li-1", || {}).await;
    // While the target's call runs, the live view already holds its audio.
    let live = dir.join("cases/C-LI/live");
    let seen_live = Arc::new(std::sync::Mutex::new(None));
    let look = || {
        let (live, seen) = (live.clone(), seen_live.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            *seen.lock().unwrap() = Some(live_margins(&live));
        });
    };
    let (a2, b2) = call(&a, &b, "3202", &dir, "li-2", look).await;
    cli(&["warrant", "withdraw", "--case", "C-LI"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (a3, b3) = call(&a, &b, "3202", &dir, "li-3", || {}).await;

    tokio::time::sleep(Duration::from_millis(600)).await;
    stop.store(true, Ordering::SeqCst);
    let cases = collector.join().unwrap();
    let _ = follow.kill();
    let _ = follow.wait();
    for cta in [a, b, c] {
        cta.stop().await;
    }
    ctrl.shutdown(Duration::from_secs(2)).await;

    assert_eq!((b1.copies_sent, c1.copies_sent), (0, 0), "non-targets");
    let seen = seen_live.lock().unwrap().take();
    let (calls, l, r) = seen.expect("the live view was looked at").unwrap();
    eprintln!("live view mid-call: {calls} call(s), {l:.1} dB / {r:.1} dB");
    assert!(calls.contains("\"3201\""), "{calls}");
    assert!(l >= MIN_DOMINANCE_DB && r >= MIN_DOMINANCE_DB);
    assert!(!live.exists(), "the delivery replaces the live view");
    assert!(a2.copies_sent > 60 && b2.copies_sent > 60, "{a2:?} {b2:?}");
    assert_eq!((a3.copies_sent, b3.copies_sent), (0, 0), "after revocation");
    let li = case(&cases, "C-LI");
    let n = &li.report.counts;
    assert_eq!((n.rejected, n.outside_warrant), (0, 0), "{:?}", li.report);
    assert!(n.rtp_decrypted >= 160, "{:?}", li.report);
    assert_eq!(li.calls_with_audio, 1, "{:?}", li.files);
    let wav_file = li.files.iter().find(|f| f.ends_with(".wav")).unwrap();
    let (left, right) = channels(&li.out.join(wav_file));
    let l = tone::dominance_db(&left, CALLER_HZ, CALLEE_HZ);
    let r = tone::dominance_db(&right, CALLEE_HZ, CALLER_HZ);
    eprintln!("C-LI: caller channel 1 kHz by {l:.1} dB, callee channel 440 Hz by {r:.1} dB");
    assert!(l >= MIN_DOMINANCE_DB && r >= MIN_DOMINANCE_DB);
    // The media side is audited: on at provisioning, off at revocation.
    let log = std::fs::read_to_string(dir.join("li-audit.log")).unwrap();
    let ops: Vec<String> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["case"] == "C-LI")
        .map(|e| e["op"].as_str().unwrap().to_string())
        .collect();
    let on = ops.iter().position(|o| o == "media-on");
    let off = ops.iter().position(|o| o == "media-off");
    assert!(on.is_some() && on < off, "{ops:?}");
}

/// The live view's call records and its one WAV's channel margins.
fn live_margins(live: &Path) -> Result<(String, f64, f64), String> {
    let calls = std::fs::read_to_string(live.join("calls.jsonl")).map_err(|e| e.to_string())?;
    let wav = std::fs::read_dir(live)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "wav"))
        .ok_or("no WAV in the live view")?;
    let (left, right) = channels(&wav);
    Ok((
        calls,
        tone::dominance_db(&left, CALLER_HZ, CALLEE_HZ),
        tone::dominance_db(&right, CALLEE_HZ, CALLER_HZ),
    ))
}

fn case<'a>(cases: &'a [CaseSummary], id: &str) -> &'a CaseSummary {
    cases.iter().find(|c| c.report.case_id == id).unwrap()
}

fn add_warrants(calea: &Path) {
    let mut book = WarrantBook::load(calea).unwrap();
    let now = cablekey_calea_server::clock::now();
    for (case, cci) in [("C-FUTURE", CCI_FUTURE), ("C-CURRENT", CCI_CURRENT)] {
        book.add(Warrant {
            case_id: case.into(),
            target: A_NUMBER.into(),
            start_unix_ms: now - 60_000,
            end_unix_ms: now + 3_600_000,
            modes: vec![Mode::Future, Mode::Current],
            collector: COLLECTOR.parse().unwrap(),
            cci: Some(cci),
            revoked_unix_ms: None,
        })
        .unwrap();
    }
}

/// What the LI client will do: bring the controller's escrow records to
/// the CALEA record store as they are made (here: every 100 ms).
fn feed_records(ctrl: &Running, calea: &Path) -> tokio::task::JoinHandle<()> {
    let escrow = ctrl.escrow.clone();
    let store = RecordStore::open(calea).unwrap();
    tokio::spawn(async move {
        loop {
            for record in escrow.store().by_time(TimeRange::ALL).await.unwrap() {
                if let Some(epoch) = escrow.store().epoch(record.sealed.epoch).await.unwrap() {
                    store.put_epoch(&epoch).unwrap();
                }
                store.put(&record).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

fn start_collector(
    listen: &str,
    calea: &Path,
    private: &Path,
    out_root: &Path,
    live_every: Option<Duration>,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<Vec<CaseSummary>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (calea, private, out_root) = (
        calea.to_path_buf(),
        private.to_path_buf(),
        out_root.to_path_buf(),
    );
    let flag = stop.clone();
    let sock = std::net::UdpSocket::bind(listen).unwrap();
    let listen = listen.parse().unwrap();
    let handle = std::thread::spawn(move || {
        let sk = cablekey_keyfile::load_private_key(&private).unwrap();
        let mut collector = collect::Collector::open(&collect::Request {
            data_dir: &calea,
            case_id: None,
            le_key: &sk,
            out_root,
            listen,
        })
        .unwrap();
        collector.live_every = live_every;
        // A bound on the whole test, whatever happens to it.
        let until = Instant::now() + Duration::from_secs(90);
        collect::run(&sock, collector, &flag, Some(until)).unwrap()
    });
    (stop, handle)
}

/// A calls B, both play tones for [`TALK`], both hang up; `during` runs
/// once they are connected. Each side's connection as it was before the
/// hang-up.
async fn call(
    a: &Cta,
    b: &Cta,
    b_number: &str,
    dir: &Path,
    tag: &str,
    during: impl FnOnce(),
) -> (sim::ConnSnapshot, sim::ConnSnapshot) {
    say(a, &format!("play tone {CALLER_HZ} 0.5")).await;
    say(b, &format!("play tone {CALLEE_HZ} 0.5")).await;
    let heard: [PathBuf; 2] = [
        dir.join(format!("a-hears-{tag}.wav")),
        dir.join(format!("b-hears-{tag}.wav")),
    ];
    say(a, &format!("record {}", heard[0].display())).await;
    say(b, &format!("record {}", heard[1].display())).await;
    let phase = |p: Phase| move |s: &Snapshot| s.phases[0] == p;
    say(a, "offhook").await;
    wait_for(a, STEP, phase(Phase::DialTone)).await;
    say(a, &format!("dial {b_number}")).await;
    wait_for(b, STEP, phase(Phase::Ringing)).await;
    say(b, "offhook").await;
    let keyed = |s: &Snapshot| {
        s.phases[0] == Phase::Connected && s.connections.iter().any(|c| c.key.is_some())
    };
    wait_for(a, STEP, keyed).await;
    wait_for(b, STEP, keyed).await;
    during();
    tokio::time::sleep(TALK).await;
    let snap_a = a.snapshot().await.unwrap().connections[0].clone();
    let snap_b = b.snapshot().await.unwrap().connections[0].clone();
    for cta in [a, b] {
        say(cta, "onhook").await;
    }
    for cta in [a, b] {
        say(cta, "record stop").await;
        say(cta, "play stop").await;
    }
    let idle = |s: &Snapshot| s.phases[0] == Phase::Idle && s.connections.is_empty();
    wait_for(a, STEP, idle).await;
    wait_for(b, STEP, idle).await;
    // The parties heard each other as in any call.
    let pcm = wav::read(&heard[1]).unwrap();
    let b_hears = tone::dominance_db(&pcm[2400.min(pcm.len())..], CALLER_HZ, CALLEE_HZ);
    assert!(
        b_hears >= MIN_DOMINANCE_DB,
        "call {tag}: callee hears {b_hears:.1} dB"
    );
    (snap_a, snap_b)
}

/// Both channels of a delivered stereo WAV, after the first 300 ms.
fn channels(path: &Path) -> (Vec<i16>, Vec<i16>) {
    let (l, r) = wav::read_stereo(path).unwrap();
    let skip = 2400.min(l.len());
    (l[skip..].to_vec(), r[skip..].to_vec())
}

fn tshark(pcap: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-n", "-d", "udp.port==5000,pkt_ccc"])
        .args(args)
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// MGCP carries es-ccd/es-cci as Wireshark reads them; nothing is
/// malformed; every copy to the collector carries a case's CCI, comes from
/// a CTA, and none was sent during call 1.
fn check_capture(pcap: &Path, call1_end: f64) {
    let fields = |filter: &str, names: &[&str]| {
        let mut args = vec!["-Y", filter, "-T", "fields", "-E", "separator=,"];
        for n in names {
            args.extend(["-e", n]);
        }
        tshark(pcap, &args)
    };
    let es = fields(
        "mgcp.param.localconnectionoptions.escci",
        &[
            "mgcp.req.verb",
            "mgcp.param.localconnectionoptions.esccd",
            "mgcp.param.localconnectionoptions.escci",
        ],
    );
    let lines: Vec<&str> = es.lines().collect();
    let crcx = format!("CRCX,{COLLECTOR},{CCI_FUTURE:08X}");
    let mdcx = format!("MDCX,{COLLECTOR},{CCI_CURRENT:08X}");
    assert_eq!(lines.iter().filter(|l| **l == crcx).count(), 2, "{es}");
    assert!(lines.iter().filter(|l| **l == mdcx).count() >= 2, "{es}");
    let malformed = tshark(
        pcap,
        &["-Y", "_ws.malformed || _ws.expert.severity >= error"],
    );
    assert!(malformed.trim().is_empty(), "malformed:\n{malformed}");

    let copies = fields(
        "pkt_ccc && udp.dstport == 5000",
        &["frame.time_epoch", "ip.src", "pkt_ccc.ccc_id"],
    );
    let mut n = 0;
    for l in copies.lines() {
        let f: Vec<&str> = l.split(',').collect();
        let cci: u32 = f[2].parse().unwrap();
        assert!(cci == CCI_FUTURE || cci == CCI_CURRENT, "{l}");
        assert!(f[1] == "127.0.0.171" || f[1] == "127.0.0.172", "{l}");
        n += 1;
    }
    assert!(n > 200, "{n} copies");
    // The capture ran through call 1: its first copy is from after it.
    let first_copy: f64 = copies
        .lines()
        .next()
        .and_then(|l| l.split(',').next())
        .and_then(|t| t.parse().ok())
        .unwrap();
    assert!(
        first_copy > call1_end,
        "a copy at {first_copy}, during call 1 (to {call1_end})"
    );
}
