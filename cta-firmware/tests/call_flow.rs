//! Whole calls driven from the call agent's side on a virtual clock.

mod common;

use cablekey_cta_firmware::line::Phase;
use cablekey_cta_firmware::{
    CallState, ConnId, Event, Registration, Signal, TerminalEvent, WipeReason,
};
use common::*;

const DIGIT_MAP: &str = "(0T|00T|[1-7]xxx|8xxxxxxx|#xxxxxxx|*xx|91xxxxxxxxxx|9011x.T)";

/// RSIP, off-hook, dial tone, digits by the digit map; ends off hook with
/// digits reported and the line waiting for the next request.
fn originate(r: &mut Rig, number: &str) -> Vec<String> {
    let resp = r.command("RQNT {tid} aaln/1@cta1.example MGCP 1.0 NCS 1.0\nX: 10\nR: L/hd(N)\n");
    assert!(resp.starts_with("200"), "{resp}");
    let out = r.terminal(0, TerminalEvent::OffHook);
    assert_eq!(out.len(), 1);
    assert!(out[0].starts_with("NTFY "), "{}", out[0]);
    assert!(
        out[0].contains("X: 10") && out[0].contains("O: L/hd"),
        "{}",
        out[0]
    );
    r.answer(&out[0].clone(), 200);

    let resp = r.command(&format!(
        "RQNT {{tid}} aaln/1@cta1.example MGCP 1.0\nX: 11\nR: L/hu(N), D/[0-9#*T](D)\nS: L/dl\nD: {DIGIT_MAP}\n"
    ));
    assert!(resp.starts_with("200"), "{resp}");
    assert_eq!(r.gw.phase(0), Some(Phase::DialTone));
    assert!(r.gw.terminal().playing.contains(&(0, Signal::DialTone)));
    let out = r.dial(0, number);
    if !number.is_empty() {
        let playing = &r.gw.terminal().playing;
        assert!(
            !playing.contains(&(0, Signal::DialTone)),
            "first digit stops dial tone"
        );
    }
    out
}

#[test]
fn a_whole_originating_call_leaves_no_key_behind() {
    let mut r = Rig::registered();
    let out = originate(&mut r, "1234");
    assert_eq!(out.len(), 1, "one NTFY for the whole number");
    assert!(out[0].contains("O: D/1,D/2,D/3,D/4"), "{}", out[0]);
    assert!(out[0].contains("X: 11"));
    r.answer(&out[0].clone(), 200);

    // The controller has escrowed the key; it creates the connection with it.
    let resp = r.command(&format!(
        "CRCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: A3C47F21456789F0\nL: p:20, a:PCMU, k:base64:{KEY}, x-dir:caller\nM: recvonly\nX: 12\nR: L/hu(N)\nS: L/rt\n"
    ));
    assert!(resp.starts_with("200"), "{resp}");
    assert!(resp.contains("m=audio 16384 RTP/AVP 0"), "{resp}");
    assert!(!resp.contains(KEY), "a response never carries the key");
    let conn = Rig::conn_id(&resp);
    let id = ConnId::parse(&conn).unwrap();
    // No remote address yet: the key waits, nothing is installed.
    assert_eq!(
        r.gw.security().state(id),
        CallState::WaitingForAuthorization
    );
    assert!(r.gw.media().contexts.is_empty());
    assert_eq!(r.gw.phase(0), Some(Phase::RingBack));

    // The far end answered.
    let resp = r.command(&format!(
        "MDCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: A3C47F21456789F0\nI: {conn}\nM: sendrecv\nX: 13\nR: L/hu(N)\nS:\n\nv=0\nc=IN IP4 10.9.9.9\nm=audio 40000 RTP/AVP 0\n"
    ));
    assert!(resp.starts_with("200"), "{resp}");
    assert_eq!(r.gw.security().state(id), CallState::Authorized);
    let (_, params) = &r.gw.media().contexts[&id];
    assert_eq!(params.remote, "10.9.9.9:40000".parse().unwrap());
    // What the media controller needs to derive each direction's key.
    assert_eq!(params.role, cablekey_cta_firmware::Role::Caller);
    assert_eq!(params.call.as_str(), "A3C47F21456789F0");
    assert_eq!(r.gw.phase(0), Some(Phase::Connected));
    let installed = r.events().into_iter().find_map(|e| match e {
        Event::KeyInstalled { conn, fingerprint } => Some((conn, fingerprint)),
        _ => None,
    });
    let (c, fp) = installed.expect("key installed event");
    assert_eq!(c, id);
    let key = cablekey_protocol::secret::SecretBytes::from_base64(KEY).unwrap();
    assert_eq!(fp, key.fingerprint());

    // The call agent tears the call down.
    let resp = r.command(&format!(
        "DLCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: A3C47F21456789F0\nI: {conn}\n"
    ));
    assert!(resp.starts_with("250"), "{resp}");
    assert!(r.gw.media().wipes.contains(&id));
    assert!(r.no_key_anywhere());
    assert_eq!(r.gw.security().state(id), CallState::Idle);
    assert!(r.events().contains(&Event::KeyWiped {
        conn: id,
        reason: WipeReason::Deleted
    }));
    assert!(r.sent.iter().all(|m| !m.contains(KEY)));
}

#[test]
fn terminating_call_rings_then_connects_and_hang_up_wipes_before_dlcx() {
    let mut r = Rig::registered();
    let resp = r.command(&format!(
        "CRCX {{tid}} aaln/2@cta1.example MGCP 1.0\nC: 99\nL: k:base64:{KEY}, sc-rtp:AEAD_AES_256_GCM, x-dir:callee\nM: sendrecv\nX: 20\nR: L/hd(N)\nS: L/rg\n\nv=0\nc=IN IP4 10.9.9.8\nm=audio 40002 RTP/AVP 0\n"
    ));
    assert!(resp.starts_with("200"), "{resp}");
    let id = ConnId::parse(&Rig::conn_id(&resp)).unwrap();
    assert_eq!(r.gw.phase(1), Some(Phase::Ringing));
    assert_eq!(r.gw.security().state(id), CallState::Authorized);
    assert_eq!(
        r.gw.media().contexts[&id].1.suite,
        cablekey_cta_firmware::Suite::AeadAes256Gcm
    );
    assert_eq!(
        r.gw.media().contexts[&id].1.role,
        cablekey_cta_firmware::Role::Callee
    );

    let out = r.terminal(1, TerminalEvent::OffHook);
    assert!(
        out[0].starts_with("NTFY ") && out[0].contains("aaln/2@") && out[0].contains("O: L/hd")
    );
    r.answer(&out[0].clone(), 200);
    assert!(
        r.gw.terminal().playing.is_empty(),
        "answering stops ringing"
    );
    assert_eq!(r.gw.phase(1), Some(Phase::Connected));

    let resp = r.command("RQNT {tid} aaln/2@cta1.example MGCP 1.0\nX: 21\nR: L/hu(N)\n");
    assert!(resp.starts_with("200"), "{resp}");
    let out = r.terminal(1, TerminalEvent::OnHook);
    assert!(out[0].contains("O: L/hu"));
    // Gone at the hang-up, before the call agent's DLCX.
    assert!(r.no_key_anywhere());
    assert!(r.gw.media().wipes.contains(&id));
    assert_eq!(
        r.gw.security().state(id),
        CallState::WaitingForAuthorization
    );
    let resp = r.command("DLCX {tid} aaln/2@cta1.example MGCP 1.0\nC: 99\n");
    assert!(resp.starts_with("250"), "{resp}");
    assert_eq!(r.gw.connections().count(), 0);
}

#[test]
fn restart_wipes_every_key_and_announces_itself() {
    let mut r = Rig::registered();
    for (line, call) in [(1, "A1"), (2, "B2")] {
        let resp = r.command(&format!(
            "CRCX {{tid}} aaln/{line}@cta1.example MGCP 1.0\nC: {call}\nL: k:base64:{KEY}, x-dir:caller\nM: sendrecv\n\nv=0\nc=IN IP4 10.9.9.8\nm=audio 4000{line} RTP/AVP 0\n"
        ));
        assert!(resp.starts_with("200"), "{resp}");
    }
    assert_eq!(r.gw.security().keys_held(), 2);
    assert_eq!(r.gw.media().contexts.len(), 2);
    r.gw.restart(r.now);
    assert!(r.no_key_anywhere());
    assert_eq!(r.gw.media().wipes.len(), 2);
    assert_eq!(r.gw.connections().count(), 0);
    let out = r.drain();
    assert!(out[0].starts_with("RSIP ") && out[0].contains("aaln/*@cta1.example"));
}

#[test]
fn digit_map_timers_run_on_the_clock() {
    let mut r = Rig::registered();
    // "0" waits for the critical timer (4 s), then reports 0 and T.
    let out = originate(&mut r, "0");
    assert!(out.is_empty());
    assert!(r.advance(3_900).is_empty());
    let out = r.advance(200);
    assert_eq!(out.len(), 1);
    assert!(out[0].contains("O: D/0,D/T"), "{}", out[0]);
}

#[test]
fn no_digit_at_all_times_out_after_the_long_timer() {
    let mut r = Rig::registered();
    let out = originate(&mut r, "");
    assert!(out.is_empty());
    assert!(r.advance(15_900).is_empty());
    let out = r.advance(200);
    assert!(out.iter().any(|m| m.contains("O: D/T")), "{out:?}");
}

#[test]
fn a_number_that_cannot_match_is_reported_at_once() {
    let mut r = Rig::registered();
    let out = originate(&mut r, "92");
    assert!(out[0].contains("O: D/9,D/2"), "{out:?}");
}

#[test]
fn embedded_request_gives_dial_tone_without_a_round_trip() {
    let mut r = Rig::registered();
    let resp = r.command(
        "RQNT {tid} aaln/1@cta1.example MGCP 1.0\nX: 30\nR: L/hd(A, E(S(L/dl),R(L/hu(N),D/[0-9#*T](D))))\nD: (xxxx)\n",
    );
    assert!(resp.starts_with("200"), "{resp}");
    let out = r.terminal(0, TerminalEvent::OffHook);
    assert!(out.is_empty(), "accumulated, not notified");
    assert!(r.gw.terminal().playing.contains(&(0, Signal::DialTone)));
    let out = r.dial(0, "5551");
    assert!(out[0].contains("O: L/hd,D/5,D/5,D/5,D/1"), "{out:?}");
}

#[test]
fn events_after_a_notification_wait_in_quarantine() {
    let mut r = Rig::registered();
    r.command("RQNT {tid} aaln/1@cta1.example MGCP 1.0\nX: 40\nR: L/hd(N)\n");
    let out = r.terminal(0, TerminalEvent::OffHook);
    r.answer(&out[0].clone(), 200);
    // Hung up before the next request arrived.
    assert!(r.terminal(0, TerminalEvent::OnHook).is_empty());
    let resp = r.command("RQNT {tid} aaln/1@cta1.example MGCP 1.0\nX: 41\nR: L/hf(N), L/hd(N)\n");
    assert!(resp.starts_with("200"), "{resp}");
    // Processed against the new request: hu was not asked for, so nothing goes out.
    assert!(r.drain().is_empty());
}

#[test]
fn lost_call_agent_means_disconnected_then_rsip_again() {
    let mut r = Rig::registered();
    r.command("RQNT {tid} aaln/1@cta1.example MGCP 1.0\nX: 50\nR: L/hd(N)\n");
    let out = r.terminal(0, TerminalEvent::OffHook);
    assert_eq!(out.len(), 1);
    // Nobody answers the NTFY: retransmissions, then the give-up.
    let out = r.advance(25_000);
    assert!(out.iter().all(|m| m.starts_with("NTFY ")), "{out:?}");
    assert!(r.events().contains(&Event::Disconnected));
    assert!(matches!(
        r.gw.registration(),
        Registration::Disconnected { .. }
    ));
    let out = r.advance(16_000);
    let rsip = out
        .iter()
        .find(|m| m.starts_with("RSIP "))
        .expect("RSIP again");
    assert!(rsip.contains("RM: disconnected"), "{rsip}");
    r.answer(&rsip.clone(), 200);
    assert_eq!(r.gw.registration(), Registration::Registered);
}

#[test]
fn rekey_by_mdcx_replaces_and_wipes_the_old_key() {
    let mut r = Rig::registered();
    let resp = r.command(&format!(
        "CRCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: 77\nL: k:base64:{KEY}, x-dir:caller\nM: sendrecv\n\nv=0\nc=IN IP4 10.9.9.8\nm=audio 40000 RTP/AVP 0\n"
    ));
    let conn = Rig::conn_id(&resp);
    let id = ConnId::parse(&conn).unwrap();
    r.events();
    let resp = r.command(&format!(
        "MDCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: 77\nI: {conn}\nL: k:base64:{KEY2}\n"
    ));
    assert!(resp.starts_with("200"), "{resp}");
    let ev = r.events();
    assert!(
        ev.contains(&Event::KeyWiped {
            conn: id,
            reason: WipeReason::Replaced
        }),
        "{ev:?}"
    );
    let new = cablekey_protocol::secret::SecretBytes::from_base64(KEY2).unwrap();
    assert!(r.gw.media().contexts[&id].0.ct_eq(&new));
    assert_eq!(r.gw.security().keys_held(), 1);
}

#[test]
fn audits_answer_without_keys() {
    let mut r = Rig::registered();
    let resp = r.command(&format!(
        "CRCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: 55\nL: k:base64:{KEY}, x-dir:caller\nM: recvonly\nN: ca@[10.0.0.1]:2727\nX: 60\nR: L/hd(N)\nD: (xxxx)\n"
    ));
    let conn = Rig::conn_id(&resp);
    let resp = r.command("AUEP {tid} aaln/1@cta1.example MGCP 1.0\nF: R,D,S,X,N,I,ES,A\n");
    assert!(resp.starts_with("200"), "{resp}");
    for want in [
        "R: L/hd(N)",
        "D: (xxxx)",
        "X: 60",
        "N: ca@[10.0.0.1]:2727",
        &format!("I: {conn}"),
        "ES: L/hu",
        "sc-rtp:",
    ] {
        assert!(resp.contains(want), "{want} in {resp}");
    }
    let resp = r.command("AUEP {tid} aaln/*@cta1.example MGCP 1.0\n");
    assert!(
        resp.contains("Z: aaln/1@cta1.example") && resp.contains("Z: aaln/2@cta1.example"),
        "{resp}"
    );
    let resp = r.command(&format!(
        "AUCX {{tid}} aaln/1@cta1.example MGCP 1.0\nI: {conn}\nF: C,M,L,LC\n"
    ));
    assert!(resp.starts_with("200"), "{resp}");
    assert!(
        resp.contains("C: 55")
            && resp.contains("M: recvonly")
            && resp.contains("m=audio")
            && resp.contains("x-dir:caller"),
        "{resp}"
    );
    assert!(!resp.contains(KEY) && !resp.contains("k:"), "{resp}");
}

#[test]
fn challenges_are_answered_through_the_security_application() {
    let mut r = Rig::registered();
    let resp = r.command("AUEP {tid} aaln/1@cta1.example MGCP 1.0\nX-Challenge: AAECAw==\n");
    assert!(resp.contains("X-Authenticator: WltYWQ=="), "{resp}");
}

#[test]
fn debug_output_never_shows_key_bytes() {
    let mut r = Rig::registered();
    r.command(&format!(
        "CRCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: 56\nL: k:base64:{KEY}, x-dir:caller\nM: sendrecv\n\nv=0\nc=IN IP4 10.9.9.8\nm=audio 40000 RTP/AVP 0\n"
    ));
    let text = format!("{:?}", r.events());
    assert!(
        !text.contains(KEY) && !text.contains("0, 1, 2, 3"),
        "{text}"
    );
    assert!(text.contains("fp:"), "{text}");
}

/// RFC 3435 lockstep: while a NTFY is unanswered (its response lost), the
/// next one waits, so the call agent never sees an off-hook before the
/// on-hook that preceded it.
#[test]
fn a_notify_waits_for_the_previous_one_to_be_answered() {
    let mut r = Rig::registered();
    let resp = r.command("RQNT {tid} aaln/1@cta1.example MGCP 1.0\nX: 20\nR: L/hd(N)\n");
    assert!(resp.starts_with("200"), "{resp}");
    let off = r.terminal(0, TerminalEvent::OffHook);
    r.answer(&off[0].clone(), 200);
    let resp = r.command("RQNT {tid} aaln/1@cta1.example MGCP 1.0\nX: 21\nR: L/hu(N)\n");
    assert!(resp.starts_with("200"), "{resp}");
    let on = r.terminal(0, TerminalEvent::OnHook);
    assert!(on[0].contains("O: L/hu"), "{}", on[0]);
    // Its response is lost. The call agent's next request still arrives.
    let resp = r.command("RQNT {tid} aaln/1@cta1.example MGCP 1.0\nX: 22\nR: L/hd(N)\n");
    assert!(resp.starts_with("200"), "{resp}");
    let held = r.terminal(0, TerminalEvent::OffHook);
    assert!(
        held.is_empty(),
        "sent before the on-hook was answered: {held:?}"
    );
    // Retransmissions of the on-hook only, until it is answered.
    let again = r.advance(1000);
    assert!(
        !again.is_empty() && again.iter().all(|m| m.contains("O: L/hu")),
        "{again:?}"
    );
    r.answer(&on[0].clone(), 200);
    let next = r.drain();
    assert_eq!(next.len(), 1, "{next:?}");
    assert!(
        next[0].contains("O: L/hd") && next[0].contains("X: 22"),
        "{}",
        next[0]
    );
}

/// A restarted call agent's audit (`X-CA-Restart`) ends the wait for a NTFY
/// it never received: the next events go out at once. Only the lines it
/// names; without the marker lockstep holds (above).
#[test]
fn a_restarted_call_agents_audit_releases_events_held_behind_an_unanswered_notify() {
    let mut r = Rig::registered();
    let resp = r.command("RQNT {tid} aaln/1@cta1.example MGCP 1.0\nX: 30\nR: L/hd(N)\n");
    assert!(resp.starts_with("200"), "{resp}");
    let off = r.terminal(0, TerminalEvent::OffHook);
    assert!(off[0].contains("O: L/hd"), "{off:?}");
    // The call agent dies; a new one asks for the digits, which wait.
    let resp = r.command(
        "RQNT {tid} aaln/1@cta1.example MGCP 1.0\nX: 31\nR: L/hu(N), D/[0-9](D)\nD: (xxxx)\n",
    );
    assert!(resp.starts_with("200"), "{resp}");
    assert!(
        r.dial(0, "2001").is_empty(),
        "held behind the unanswered NTFY"
    );
    // An audit of another line changes nothing for this one.
    let mark = r.sent.len();
    let resp = r.command("AUEP {tid} aaln/2@cta1.example MGCP 1.0\nX-CA-Restart: 1\n");
    assert!(resp.starts_with("200"), "{resp}");
    let notifies = |r: &Rig, from: usize| -> Vec<String> {
        r.sent[from..]
            .iter()
            .filter(|m| m.starts_with("NTFY"))
            .cloned()
            .collect()
    };
    assert!(notifies(&r, mark).is_empty());
    let mark = r.sent.len();
    let resp = r.command("AUEP {tid} aaln/1@cta1.example MGCP 1.0\nF: ES\nX-CA-Restart: 1\n");
    assert!(
        resp.starts_with("200") && resp.contains("ES: L/hd"),
        "{resp}"
    );
    let out = notifies(&r, mark);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        out[0].contains("X: 31") && out[0].contains("D/2,D/0,D/0,D/1"),
        "{}",
        out[0]
    );
}

/// A trunk gateway is the same core with another endpoint prefix.
#[test]
fn trunk_endpoints_are_named_by_their_prefix() {
    let mut config = common::config();
    config.endpoint_prefix = "ds/ds1-1".into();
    config.lines = 3;
    let mut r = Rig::with(cablekey_cta_firmware::Gateway::new(
        config,
        FakeMedia::default(),
        FakeTerminal::default(),
        FakeApp::default(),
    ));
    r.gw.restart(r.now);
    let out = r.drain();
    assert!(out[0].contains(" ds/ds1-1/*@cta1.example "), "{}", out[0]);
    r.answer(&out[0].clone(), 200);
    let resp = r.command("AUEP {tid} ds/ds1-1/*@cta1.example MGCP 1.0\n");
    assert!(resp.contains("Z: ds/ds1-1/3@cta1.example"), "{resp}");
    assert_eq!(r.code("AUEP {tid} DS/DS1-1/2@cta1.example MGCP 1.0\n"), 200);
    for other in [
        "aaln/1",
        "ds/ds1-2/1",
        "ds/ds1-1/4",
        "ds/ds1-1",
        "ds/ds1-1/1/1",
    ] {
        let text = format!("AUEP {{tid}} {other}@cta1.example MGCP 1.0\n");
        assert_eq!(r.code(&text), 500, "{other}");
    }
}
