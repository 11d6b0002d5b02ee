//! Two simulated CTAs on loopback, SRTP set up by hand: the test is the
//! call agent (real UDP MGCP) and sits in the media path as a relay.

mod sim_common;

use std::time::Duration;

use cablekey_cta_firmware::sim::tone::{dominance_db, power, rms};
use cablekey_cta_firmware::sim::{wav, Cta};
use cablekey_protocol::secret::SecretBytes;
use cablekey_protocol::srtp::derive::{master_key, Direction};
use cablekey_protocol::srtp::Suite;
use sim_common::*;

struct Call {
    a: Cta,
    b: Cta,
    agent: Agent,
    /// A -> B and B -> A.
    relays: (Relay, Relay),
    dir: std::path::PathBuf,
}

/// A (the caller) plays 1 kHz, B 440 Hz; both record. CRCX to A, CRCX to
/// B with A's relay address, MDCX to A with B's relay address.
async fn call(name: &str, ips: (&str, &str), imp: Impairment) -> Call {
    let dir = scratch(name);
    let mut agent = Agent::bind().await;
    let a = start_cta(&mut agent, &format!("a.{name}.lab"), ips.0, false).await;
    let b = start_cta(&mut agent, &format!("b.{name}.lab"), ips.1, false).await;
    for (cta, hz, file) in [(&a, 1000, "a.wav"), (&b, 440, "b.wav")] {
        let ok = cta.command(&format!("play tone {hz} 0.5")).await;
        assert!(ok.starts_with("ok"), "{ok}");
        let path = dir.join(file);
        let ok = cta.command(&format!("record {}", path.display())).await;
        assert!(ok.starts_with("ok"), "{ok}");
    }
    let resp = agent
        .command(
            a.mgcp,
            &format!("CRCX {{tid}} aaln/1@{} MGCP 1.0\nC: {CALL}\nL: p:20, a:PCMU, k:base64:{KEY}, x-dir:caller\nM: recvonly\n", a.domain),
        )
        .await;
    assert!(resp.starts_with("200"), "{resp}");
    let a_rtp = media_addr(&resp);
    let b_to_a = Relay::start(
        a_rtp,
        Impairment {
            seed: imp.seed + 1,
            ..imp
        },
    )
    .await;
    let resp = agent
        .command(
            b.mgcp,
            &format!(
                "CRCX {{tid}} aaln/1@{} MGCP 1.0\nC: {CALL}\nL: p:20, a:PCMU, k:base64:{KEY}, x-dir:callee\nM: sendrecv\n\n{}",
                b.domain,
                sdp_for(b_to_a.addr)
            ),
        )
        .await;
    assert!(resp.starts_with("200"), "{resp}");
    assert!(!resp.contains(KEY), "{resp}");
    let a_to_b = Relay::start(media_addr(&resp), imp).await;
    let conn_a = resp_conn(&agent, &a).await;
    let resp = agent
        .command(
            a.mgcp,
            &format!(
                "MDCX {{tid}} aaln/1@{} MGCP 1.0\nC: {CALL}\nI: {conn_a}\nM: sendrecv\n\n{}",
                a.domain,
                sdp_for(a_to_b.addr)
            ),
        )
        .await;
    assert!(resp.starts_with("200"), "{resp}");
    Call {
        a,
        b,
        agent,
        relays: (a_to_b, b_to_a),
        dir,
    }
}

/// A's connection id, from its status.
async fn resp_conn(_agent: &Agent, cta: &Cta) -> String {
    let status = cta.command("status").await;
    status
        .lines()
        .find_map(|l| l.strip_prefix("conn "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no connection in {status}"))
        .to_string()
}

/// Lets the tones flow, stops both recordings and reads them back.
async fn talk(c: &Call, secs: f64) -> (Vec<i16>, Vec<i16>) {
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    for cta in [&c.a, &c.b] {
        let ok = cta.command("record stop").await;
        assert!(ok.starts_with("ok"), "{ok}");
    }
    (
        wav::read(&c.dir.join("a.wav")).unwrap(),
        wav::read(&c.dir.join("b.wav")).unwrap(),
    )
}

/// Each side hears the other's tone and not its own.
fn assert_hears(rec: &[i16], want: f64, own: f64, who: &str) {
    // Skip the first 200 ms (setup, jitter buffer filling).
    assert!(
        rec.len() > 8000,
        "{who} recorded only {} samples",
        rec.len()
    );
    let rec = &rec[1600..];
    let db = dominance_db(rec, want, own);
    assert!(db >= 20.0, "{who}: {want} Hz only {db:.1} dB over {own} Hz");
    let rms = rms(rec);
    assert!(rms > 3000.0, "{who}: the tone is too weak (rms {rms:.0})");
    eprintln!("{who}: {want} Hz is {db:.1} dB over {own} Hz, rms {rms:.0}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ctas_exchange_tones_over_srtp() {
    let c = call("tones", ("127.0.0.21", "127.0.0.22"), Impairment::NONE).await;
    let (a_heard, b_heard) = talk(&c, 2.0).await;
    assert_hears(&a_heard, 440.0, 1000.0, "A");
    assert_hears(&b_heard, 1000.0, 440.0, "B");

    // On the wire: SRTP under the keys derived from K, not plain µ-law.
    let k = SecretBytes::from_base64(KEY).unwrap();
    let sample = c.relays.0.tally.lock().unwrap().sample.clone();
    assert!(sample.len() >= 20);
    let mut rx = master_key(
        &k,
        CALL.as_bytes(),
        Suite::AeadAes128Gcm,
        Direction::CallerToCallee,
    )
    .unwrap()
    .context()
    .unwrap();
    let mut wrong = master_key(
        &k,
        CALL.as_bytes(),
        Suite::AeadAes128Gcm,
        Direction::CalleeToCaller,
    )
    .unwrap()
    .context()
    .unwrap();
    for wire in &sample {
        assert_eq!(
            wire.len(),
            12 + 160 + 16,
            "RTP header, G.711 frame, GCM tag"
        );
        assert_eq!((wire[0] >> 6, wire[1] & 0x7f), (2, 0), "RTP v2, PCMU");
        let mut p = wire.clone();
        assert!(
            wrong.unprotect(&mut p).is_err(),
            "the other direction's key must not open it"
        );
        let mut p = wire.clone();
        let n = rx
            .unprotect(&mut p)
            .expect("SRTP under caller-to-callee from K");
        assert_eq!(n, 172);
        assert_ne!(&wire[12..172], &p[12..172], "the payload travels encrypted");
    }
    // What travels is noise, not the tone: read as µ-law, the ciphertext's
    // 1 kHz bin holds about its share of the energy (a spectral line would
    // hold thousands of times that), while the decrypted payload is the tone.
    let line_ratio = |pcm: &[i16]| {
        let energy: f64 = pcm.iter().map(|&x| f64::from(x).powi(2)).sum();
        power(pcm, 1000.0) / energy
    };
    let decode = |bytes: &[u8]| -> Vec<i16> {
        bytes
            .iter()
            .map(|&b| cablekey_cta_firmware::sim::g711::decode(b))
            .collect()
    };
    let wire: Vec<u8> = sample.iter().flat_map(|w| w[12..172].to_vec()).collect();
    let mut clear = Vec::new();
    let mut rx = master_key(
        &k,
        CALL.as_bytes(),
        Suite::AeadAes128Gcm,
        Direction::CallerToCallee,
    )
    .unwrap()
    .context()
    .unwrap();
    for w in &sample {
        let mut p = w.clone();
        rx.unprotect(&mut p).unwrap();
        clear.extend_from_slice(&p[12..172]);
    }
    let (on_wire, in_clear) = (line_ratio(&decode(&wire)), line_ratio(&decode(&clear)));
    eprintln!("1 kHz line / energy: wire {on_wire:.1}, decrypted {in_clear:.1}");
    assert!(on_wire < 30.0, "the wire carries the tone: {on_wire}");
    assert!(
        in_clear > 1000.0,
        "the decrypted payload is the tone: {in_clear}"
    );

    for cta in [c.a, c.b] {
        cta.stop().await;
    }
    drop(c.agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tones_survive_five_percent_loss_and_reordering() {
    let imp = Impairment {
        loss: 0.05,
        reorder: 0.05,
        seed: 42,
        ..Impairment::NONE
    };
    let c = call("impaired", ("127.0.0.23", "127.0.0.24"), imp).await;
    let (a_heard, b_heard) = talk(&c, 2.5).await;
    for (name, relay) in [("A->B", &c.relays.0), ("B->A", &c.relays.1)] {
        let t = relay.tally.lock().unwrap();
        assert!(
            t.dropped > 0 && t.reordered > 0,
            "{name}: dropped {} reordered {}",
            t.dropped,
            t.reordered
        );
        eprintln!(
            "{name}: forwarded {} dropped {} reordered {}",
            t.forwarded, t.dropped, t.reordered
        );
    }
    assert_hears(&a_heard, 440.0, 1000.0, "A");
    assert_hears(&b_heard, 1000.0, 440.0, "B");
    // Loss shows as concealed frames, reordering does not.
    let status = c.b.command("status").await;
    assert!(status.contains(" concealed "), "{status}");
    for cta in [c.a, c.b] {
        cta.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_up_and_dlcx_wipe_the_srtp_contexts() {
    let mut c = call("wipe", ("127.0.0.26", "127.0.0.27"), Impairment::NONE).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!((c.a.srtp_sessions(), c.b.srtp_sessions()), (1, 1));
    let status = c.a.command("status").await;
    assert!(
        status.contains("Authorized") && status.contains("srtp sessions: 1"),
        "{status}"
    );

    // DLCX: the response reports the packets, and A holds no context after.
    let conn_a = resp_conn(&c.agent, &c.a).await;
    let resp = c
        .agent
        .command(
            c.a.mgcp,
            &format!(
                "DLCX {{tid}} aaln/1@{} MGCP 1.0\nC: {CALL}\nI: {conn_a}\n",
                c.a.domain
            ),
        )
        .await;
    assert!(resp.starts_with("250") && resp.contains("P: PS="), "{resp}");
    assert_eq!(c.a.srtp_sessions(), 0);
    let status = c.a.command("status").await;
    assert!(
        status.contains("srtp sessions: 0") && !status.contains("conn "),
        "{status}"
    );

    // B's subscriber hangs up: the keys go at once, before any DLCX.
    assert!(c.b.command("offhook").await.starts_with("ok"));
    assert!(c.b.command("onhook").await.starts_with("ok"));
    assert_eq!(c.b.srtp_sessions(), 0);
    let log = c.b.command("log").await;
    assert!(log.contains("keys wiped (HangUp)"), "{log}");
    let resp = c
        .agent
        .command(
            c.b.mgcp,
            &format!("DLCX {{tid}} aaln/1@{} MGCP 1.0\nC: {CALL}\n", c.b.domain),
        )
        .await;
    assert!(resp.starts_with("250"), "{resp}");
    assert_eq!(c.b.srtp_sessions(), 0);
    for cta in [c.a, c.b] {
        cta.stop().await;
    }
}
