//! Derived call keys: a CRCX or MDCX with `x-key:derived` and no `k:` makes
//! the CTA compute K from its session key and the call id (docs/keys.md),
//! installed and wiped like a carried key; without a session key it is
//! refused (532) and nothing changes.

mod common;

use cablekey_cta_firmware::{Event, Role, WipeReason};
use cablekey_protocol::mgcp::{ReturnCode, Verb};
use cablekey_protocol::secret::SecretBytes;
use common::*;

/// docs/keys.md's test vector, written out here rather than computed.
const CALL_ID: &str = "A3C47F21456789F0";
const VECTOR_K: &str = "28803f3153158d3ff97405543966404cde3d82fc294c6b034889f05e1039d0cc";
const SDP: &str = "\nv=0\nc=IN IP4 10.1.1.1\nm=audio 4000 RTP/AVP 0\n";

fn vector_session() -> SecretBytes {
    SecretBytes::new(&(0u8..32).collect::<Vec<_>>()).unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn crcx(call: &str, lco: &str, body: &str) -> String {
    format!("CRCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: {call}\nL: p:20, a:PCMU, {lco}\nM: recvonly\n{body}")
}

fn with_session() -> Rig {
    let mut r = Rig::registered();
    r.gw.set_session_key(Some(vector_session()));
    assert!(r.gw.security().has_session_key());
    r
}

#[test]
fn a_derived_request_installs_the_key_of_the_vector() {
    let mut r = with_session();
    let resp = r.command(&crcx(CALL_ID, "x-key:derived, x-dir:caller", SDP));
    assert!(resp.starts_with("200"), "{resp}");
    let conn = Rig::conn_id(&resp);
    let contexts = &r.gw.media().contexts;
    assert_eq!(contexts.len(), 1);
    let (key, params) = contexts.values().next().unwrap();
    assert_eq!(hex(key.expose()), VECTOR_K);
    assert_eq!(params.role, Role::Caller);
    assert_eq!(params.call.as_str(), CALL_ID);
    let conn_id = *contexts.keys().next().unwrap();
    assert!(r.gw.security().key_derived(conn_id));
    let fp = key.fingerprint();
    assert!(r
        .events()
        .iter()
        .any(|e| matches!(e, Event::KeyInstalled { fingerprint, .. } if *fingerprint == fp)));

    // Deleted: wiped as any key.
    let resp = r.command(&format!(
        "DLCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: {CALL_ID}\nI: {conn}\n"
    ));
    assert!(resp.starts_with("250"), "{resp}");
    assert!(r.no_key_anywhere());
    assert!(r.events().iter().any(|e| matches!(
        e,
        Event::KeyWiped {
            reason: WipeReason::Deleted,
            ..
        }
    )));
}

#[test]
fn the_marker_is_read_case_insensitively_and_other_calls_get_other_keys() {
    let mut r = with_session();
    let resp = r.command(&crcx("1B", "X-KEY: Derived, x-dir:callee", SDP));
    assert!(resp.starts_with("200"), "{resp}");
    let resp = r.command(&crcx(CALL_ID, "x-key:derived, x-dir:callee", SDP));
    assert!(resp.starts_with("200"), "{resp}");
    let keys: Vec<String> =
        r.gw.media()
            .contexts
            .values()
            .map(|(k, _)| hex(k.expose()))
            .collect();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1]);
    assert!(keys.contains(&VECTOR_K.to_string()));
}

#[test]
fn an_mdcx_can_ask_for_the_derived_key() {
    let mut r = with_session();
    let resp = r.command(&crcx(
        CALL_ID,
        &format!("k:base64:{KEY}, x-dir:caller"),
        SDP,
    ));
    let conn = Rig::conn_id(&resp);
    let id = *r.gw.media().contexts.keys().next().unwrap();
    assert!(!r.gw.security().key_derived(id), "received in k:");
    let resp = r.command(&format!(
        "MDCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: {CALL_ID}\nI: {conn}\nL: x-key:derived\nM: sendrecv\n"
    ));
    assert!(resp.starts_with("200"), "{resp}");
    assert!(r.gw.security().key_derived(id));
    let (key, _) = r.gw.media().contexts.values().next().unwrap();
    assert_eq!(hex(key.expose()), VECTOR_K);
    assert_eq!(
        r.gw.security().keys_held(),
        1,
        "the carried key was replaced"
    );
}

#[test]
fn without_a_session_key_a_derived_request_is_refused_and_changes_nothing() {
    let mut r = Rig::registered();
    assert!(!r.gw.security().has_session_key());
    let cmd = crcx(CALL_ID, "x-key:derived, x-dir:caller", SDP);
    assert_eq!(r.code(&cmd), 532);
    assert!(r.no_key_anywhere());
    assert_eq!(r.gw.connections().count(), 0);
    assert!(r.events().iter().any(|e| matches!(
        e,
        Event::Refused { verb: Verb::Crcx, code } if *code == ReturnCode::LCO_UNSUPPORTED_VALUE
    )));

    // A carried key still works on the same endpoint (hence 532, not 501).
    let resp = r.command(&crcx("1C", &format!("k:base64:{KEY}, x-dir:caller"), SDP));
    assert!(resp.starts_with("200"), "{resp}");
    let conn = Rig::conn_id(&resp);
    // ... and an MDCX asking to derive is refused without touching it.
    let mdcx = format!(
        "MDCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: 1C\nI: {conn}\nL: x-key:derived\nM: sendrecv\n"
    );
    assert_eq!(r.code(&mdcx), 532);
    assert_eq!(r.gw.security().keys_held(), 1);
    assert_eq!(r.gw.media().contexts.len(), 1);

    // A session key provisioned and then forgot: refused again.
    r.gw.set_session_key(Some(vector_session()));
    r.gw.set_session_key(None);
    assert_eq!(r.code(&crcx("1D", "x-key:derived, x-dir:caller", SDP)), 532);
}

#[test]
fn contradictory_or_unknown_key_requests_get_their_codes() {
    let mut r = with_session();
    let cases = [
        // A key carried and derived at once.
        (format!("k:base64:{KEY}, x-key:derived, x-dir:caller"), 524),
        ("x-key:random, x-dir:caller".to_string(), 532),
        ("x-key:, x-dir:caller".to_string(), 532),
        (
            "x-key:derived, x-key:derived, x-dir:caller".to_string(),
            524,
        ),
        // Derived, but the side is still stated, never guessed.
        ("x-key:derived".to_string(), 541),
    ];
    for (lco, want) in cases {
        assert_eq!(r.code(&crcx("1E", &lco, "")), want, "{lco}");
    }
    assert!(r.no_key_anywhere());
    assert_eq!(r.gw.connections().count(), 0);
}

#[test]
fn restart_wipes_call_keys_and_keeps_the_session_key() {
    let mut r = with_session();
    let resp = r.command(&crcx(CALL_ID, "x-key:derived, x-dir:caller", SDP));
    assert!(resp.starts_with("200"), "{resp}");
    r.gw.restart(r.now);
    assert!(r.no_key_anywhere());
    assert!(r.gw.security().has_session_key());
}
