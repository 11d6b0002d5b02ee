//! Calls between a CTA and the telephone network through a POTS gateway,
//! end to end on loopback addresses of this test's own (127.0.2.0/24): the
//! controller service with its escrow store, one simulated CTA and a POTS
//! gateway with two trunks and the PSTN model behind them.
//!
//! 1. CTA -> PSTN: the CTA dials a number no endpoint owns; the trunk
//!    route sends it to a free trunk, which gets the key in its CRCX, the
//!    network answers, both ends hear each other's tone; the CTA hangs up
//!    and the network is cleared back.
//! 2. PSTN -> CTA (reverse origination): the network seizes a trunk and
//!    outpulses the CTA's number; the CTA rings, answers, tones both ways;
//!    the network hangs up.
//!
//! Then the store is opened as the CALEA side would: exactly one record per
//! call, each opening (LE private key) to the key both ends installed, with
//! the parties as routed.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use cablekey_cta_firmware::line::Phase;
use cablekey_cta_firmware::sim::{tone, wav, Cta, Snapshot};
use cablekey_gateway_controller::escrow::keyfile;
use cablekey_gateway_controller::registry::Kind;
use cablekey_gateway_controller::service::{self, Settings};
use cablekey_pots_gateway::pstn;
use cablekey_pots_gateway::sim::{Config as GwConfig, PotsGateway};
use cablekey_protocol::secret::Fingerprint;
use common::{say, start_cta, wait_for};

const CONTROLLER: &str = "127.0.2.1:2727";
const CTA: &str = "127.0.2.2:2427";
const GATEWAY: &str = "127.0.2.3:2427";
const CTA_NUMBER: &str = "2001";
/// Matches the default digit map's `91xxxxxxxxxx`; the trunk route is `9`.
const PSTN_NUMBER: &str = "915551234567";

const CTA_HZ: f64 = 1000.0;
const PSTN_HZ: f64 = 440.0;
const MIN_DOMINANCE_DB: f64 = 20.0;
const TALK: Duration = Duration::from_millis(1500);
const STEP: Duration = Duration::from_secs(5);

fn trunk(i: usize) -> String {
    cablekey_pots_gateway::trunk_name("gw1.pots", i)
}

/// How far `want` stands above `own` in a recording, after 300 ms.
fn heard(path: &Path, want: f64, own: f64) -> f64 {
    let pcm = wav::read(path).unwrap();
    assert!(
        pcm.len() > 8000,
        "{}: under a second recorded",
        path.display()
    );
    tone::dominance_db(&pcm[2400..], want, own)
}

/// The first connection's call id and key fingerprint.
fn keyed(s: &Snapshot, line: usize) -> Option<(String, Fingerprint)> {
    s.connections
        .iter()
        .filter(|c| c.line == line)
        .find_map(|c| Some((c.call_id.clone(), c.key?)))
}

fn connected(line: usize) -> impl Fn(&Snapshot) -> bool {
    move |s| s.phases[line] == Phase::Connected && keyed(s, line).is_some()
}

fn released(line: usize) -> impl Fn(&Snapshot) -> bool {
    move |s| s.phases[line] == Phase::Idle && s.connections.iter().all(|c| c.line != line)
}

struct Leg {
    call_id: String,
    cta_key: Fingerprint,
    trunk_key: Fingerprint,
    cta_hears: f64,
    pstn_hears: f64,
    trunk: usize,
}

/// Tones and recorders on the CTA's line and on every trunk's network side.
async fn audio(cta: &Cta, gw: &PotsGateway, dir: &Path, call: &str) {
    say(cta, &format!("play tone {CTA_HZ} 0.5")).await;
    let rec = dir.join(format!("{call}-cta-hears.wav"));
    say(cta, &format!("record {}", rec.display())).await;
    for t in 1..=2 {
        say(gw.cta(), &format!("play tone {PSTN_HZ} 0.5 line {t}")).await;
        let rec = dir.join(format!("{call}-trunk{t}-hears.wav"));
        say(gw.cta(), &format!("record {} line {t}", rec.display())).await;
    }
}

async fn stop_audio(cta: &Cta, gw: &PotsGateway) {
    say(cta, "record stop").await;
    for t in 1..=2 {
        say(gw.cta(), &format!("record stop line {t}")).await;
    }
}

/// After a call on trunk `t`: recordings closed, the keys and call ids the
/// snapshots (CTA, gateway) showed, what each side heard.
async fn finish(
    cta: &Cta,
    gw: &PotsGateway,
    dir: &Path,
    call: &str,
    (sc, sg): (&Snapshot, &Snapshot),
    t: usize,
) -> Leg {
    stop_audio(cta, gw).await;
    let (call_id, cta_key) = keyed(sc, 0).unwrap();
    let (trunk_call, trunk_key) = keyed(sg, t).unwrap();
    assert_eq!(call_id, trunk_call, "one call at both ends");
    let trunk_rec = dir.join(format!("{call}-trunk{}-hears.wav", t + 1));
    Leg {
        call_id,
        cta_key,
        trunk_key,
        cta_hears: heard(&dir.join(format!("{call}-cta-hears.wav")), PSTN_HZ, CTA_HZ),
        pstn_hears: heard(&trunk_rec, CTA_HZ, PSTN_HZ),
        trunk: t,
    }
}

async fn call_to_pstn(cta: &Cta, gw: &PotsGateway, dir: &Path) -> Leg {
    audio(cta, gw, dir, "out").await;
    say(cta, "offhook").await;
    wait_for(cta, STEP, |s| s.phases[0] == Phase::DialTone).await;
    say(cta, &format!("dial {PSTN_NUMBER}")).await;
    // The first free trunk of the route; the network answers by itself.
    let t = 0;
    let sg = wait_for(gw.cta(), STEP, connected(t)).await;
    let sc = wait_for(cta, STEP, connected(0)).await;
    tokio::time::sleep(TALK).await;
    say(cta, "onhook").await;
    // Clear-back: the trunk's connection is deleted, the network releases.
    wait_for(gw.cta(), STEP, released(t)).await;
    wait_for(cta, STEP, released(0)).await;
    finish(cta, gw, dir, "out", (&sc, &sg), t).await
}

async fn call_from_pstn(cta: &Cta, gw: &PotsGateway, dir: &Path) -> Leg {
    audio(cta, gw, dir, "in").await;
    let t = gw.call(CTA_NUMBER).await.unwrap();
    wait_for(cta, STEP, |s| s.phases[0] == Phase::Ringing).await;
    say(cta, "offhook").await;
    let sc = wait_for(cta, STEP, connected(0)).await;
    let sg = wait_for(gw.cta(), STEP, connected(t)).await;
    tokio::time::sleep(TALK).await;
    gw.hang_up(t).await.unwrap();
    wait_for(gw.cta(), STEP, released(t)).await;
    // The CTA's connection is deleted; it is parked until it hangs up.
    wait_for(cta, STEP, |s| s.connections.is_empty()).await;
    say(cta, "onhook").await;
    wait_for(cta, STEP, released(0)).await;
    finish(cta, gw, dir, "in", (&sc, &sg), t).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_and_from_the_telephone_network_are_keyed_escrowed_and_heard() {
    let dir = common::scratch_dir("pots");
    let (private, public) = (dir.join("le-private.key"), dir.join("le-public.key"));
    keyfile::generate_keypair(&private, &public).unwrap();
    let mut settings = Settings::new(CONTROLLER.parse().unwrap(), dir.join("data"), public);
    let r = &mut settings.registry;
    r.add("aaln/1@cta1.pots", Kind::Line, Some(CTA_NUMBER), None)
        .unwrap();
    for i in 0..2 {
        r.add(&trunk(i), Kind::Trunk, None, None).unwrap();
    }
    r.add_trunk_route("9", &[&trunk(0), &trunk(1)]).unwrap();
    let ctrl = service::start(settings, Duration::from_secs(2))
        .await
        .unwrap();
    let cta = start_cta("cta1.pots", CTA, ctrl.addr).await;
    let mut gc = GwConfig::new("gw1.pots", GATEWAY.parse().unwrap(), ctrl.addr);
    gc.trunks = 2;
    gc.pstn = pstn::Config {
        answer_after: Some(Duration::from_millis(200)),
        ..pstn::Config::default()
    };
    let gw = PotsGateway::start(gc).await.unwrap();
    assert!(
        gw.registered(STEP).await,
        "the gateway registered its trunks"
    );

    let started = Instant::now();
    let out = call_to_pstn(&cta, &gw, &dir).await;
    let inbound = call_from_pstn(&cta, &gw, &dir).await;
    eprintln!("two calls in {:?}", started.elapsed());

    let (gw_keys, cta_keys) = (gw.keys_received(), cta.keys_received());
    gw.stop().await;
    cta.stop().await;
    ctrl.shutdown(Duration::from_secs(2)).await;

    for (what, leg) in [("to the PSTN", &out), ("from the PSTN", &inbound)] {
        assert_eq!(leg.cta_key, leg.trunk_key, "{what}: one key at both ends");
        assert!(
            leg.cta_hears >= MIN_DOMINANCE_DB,
            "{what}: the CTA hears the network ({:.1} dB)",
            leg.cta_hears
        );
        assert!(
            leg.pstn_hears >= MIN_DOMINANCE_DB,
            "{what}: the network hears the CTA ({:.1} dB)",
            leg.pstn_hears
        );
    }
    assert_ne!(out.cta_key, inbound.cta_key, "a fresh key per call");

    let (store, sk) = (dir.join("data"), private.clone());
    let records = tokio::task::spawn_blocking(move || common::escrowed_keys(&store, &sk))
        .await
        .unwrap();
    assert_eq!(records.len(), 2, "exactly one record per call");
    let record = |leg: &Leg| {
        records
            .iter()
            .find(|(m, _)| m.call_id == leg.call_id)
            .unwrap_or_else(|| panic!("no record for call {}", leg.call_id))
    };
    let (meta, key) = record(&out);
    assert_eq!(
        key.fingerprint(),
        out.cta_key,
        "escrow opens to the key used"
    );
    assert_eq!(meta.caller.endpoint, "aaln/1@cta1.pots");
    assert_eq!(meta.caller.number, CTA_NUMBER);
    assert_eq!(meta.callee.endpoint, trunk(out.trunk));
    assert_eq!(meta.callee.number, PSTN_NUMBER, "the number dialed");
    let (meta, key) = record(&inbound);
    assert_eq!(
        key.fingerprint(),
        inbound.cta_key,
        "escrow opens to the key used"
    );
    assert_eq!(meta.caller.endpoint, trunk(inbound.trunk));
    assert_eq!(meta.callee.endpoint, "aaln/1@cta1.pots");
    assert_eq!(meta.callee.number, CTA_NUMBER);
    // The gateway and the CTA installed exactly the keys of these calls.
    let both = vec![out.cta_key, inbound.cta_key];
    assert_eq!(gw_keys, both);
    assert_eq!(cta_keys, both);
}
