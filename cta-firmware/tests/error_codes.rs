//! Bad requests get the RFC 3435 code they deserve and change nothing.

mod common;

use cablekey_cta_firmware::{Enrollment, Gateway, TerminalEvent};
use common::*;

fn crcx(extra: &str) -> String {
    format!(
        "CRCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: 1A\nL: k:base64:{KEY}, x-dir:caller\nM: sendrecv\n{extra}"
    )
}

#[test]
fn codes_for_bad_commands() {
    let mut r = Rig::registered();
    let resp = r.command(&crcx(""));
    let conn = Rig::conn_id(&resp);
    let cases: Vec<(String, u16)> = vec![
        ("RQNT {tid} aaln/9@cta1.example MGCP 1.0\nX: 1\n".into(), 500),
        ("RQNT {tid} aaln/1@other.example MGCP 1.0\nX: 1\n".into(), 500),
        ("RQNT {tid} line/1@cta1.example MGCP 1.0\nX: 1\n".into(), 500),
        ("RQNT {tid} aaln/$@cta1.example MGCP 1.0\nX: 1\n".into(), 503),
        ("RQNT {tid} aaln/1@cta1.example MGCP 1.0\nR: L/hd(N)\n".into(), 510),
        ("NTFY {tid} aaln/1@cta1.example MGCP 1.0\nX: 1\nO: L/hd\n".into(), 504),
        ("MDCX {tid} aaln/1@cta1.example MGCP 1.0\nI: FFFF0000\nM: sendrecv\n".into(), 515),
        (format!("MDCX {{tid}} aaln/2@cta1.example MGCP 1.0\nI: {conn}\n"), 515),
        (format!("MDCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: 2B\nI: {conn}\n"), 516),
        (format!("MDCX {{tid}} aaln/1@cta1.example MGCP 1.0\nI: {conn}\nM: confrnce\n"), 517),
        (format!("MDCX {{tid}} aaln/1@cta1.example MGCP 1.0\nI: {conn}\nM: bogus\n"), 517),
        (format!("MDCX {{tid}} aaln/1@cta1.example MGCP 1.0\nI: {conn}\nL: x-dir:callee\n"), 524),
        ("DLCX {tid} aaln/1@cta1.example MGCP 1.0\nI: 0BADBAD0\n".into(), 515),
        ("DLCX {tid} aaln/1@cta1.example MGCP 1.0\nC: 2B\n".into(), 516),
        (format!("DLCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: 2B\nI: {conn}\n"), 516),
        ("AUCX {tid} aaln/1@cta1.example MGCP 1.0\nI: 1234ABCD\nF: C\n".into(), 515),
        ("CRCX {tid} aaln/1@cta1.example MGCP 1.0\nC: 1B\nM: sendrecv\n".into(), 541),
        ("CRCX {tid} aaln/1@cta1.example MGCP 1.0\nC: 1B\nL: p:20\nM: sendrecv\n".into(), 541),
        ("CRCX {tid} aaln/1@cta1.example MGCP 1.0\nC: 1B\nL: k:base64:@@@@\nM: sendrecv\n".into(), 532),
        ("CRCX {tid} aaln/1@cta1.example MGCP 1.0\nC: 1B\nL: k:base64:AAEC\nM: sendrecv\n".into(), 532),
        ("CRCX {tid} aaln/1@cta1.example MGCP 1.0\nC: 1B\nL: k:uri:http://x\nM: sendrecv\n".into(), 532),
        (format!("CRCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: 1B\nL: k:base64:{KEY}, sc-rtp:NULL_CIPHER\nM: sendrecv\n"), 532),
        ("CRCX {tid} aaln/1@cta1.example MGCP 1.0\nC: 1B\nL: e:maybe\nM: sendrecv\n".into(), 532),
        ("CRCX {tid} aaln/1@cta1.example MGCP 1.0\nC: 1B\nL: nocolon\nM: sendrecv\n".into(), 541),
        (format!("CRCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: 1B\nL: k:base64:{KEY}\n"), 517),
        // The side of the call is stated, never guessed; only two values.
        (format!("CRCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: 1B\nL: k:base64:{KEY}\nM: sendrecv\n"), 541),
        (format!("CRCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: 1B\nL: k:base64:{KEY}, x-dir:both\nM: sendrecv\n"), 532),
        (format!("CRCX {{tid}} aaln/1@cta1.example MGCP 1.0\nL: k:base64:{KEY}\nM: sendrecv\n"), 510),
        (crcx("\nv=0\nm=audio 4000 RTP/AVP 0\n"), 509),
        (crcx("X: 5\nR: L/zz(N)\n"), 522),
        (crcx("X: 5\nR: Q/hd(N)\n"), 518),
        (crcx("X: 5\nR: L/hd(N,A)\n"), 523),
        (crcx("X: 5\nR: L/hu(N)\n"), 402),
        ("RQNT {tid} aaln/1@cta1.example MGCP 1.0\nX: 2\nS: L/zz\n".into(), 522),
        ("RQNT {tid} aaln/1@cta1.example MGCP 1.0\nX: 2\nR: D/[0-9](D)\n".into(), 519),
        ("RQNT {tid} aaln/1@cta1.example MGCP 1.0\nX: 2\nS: L/dl\n".into(), 402),
        ("RQNT {tid} aaln/1@cta1.example MGCP 1.0\nX: 2\nQ: sideways\n".into(), 508),
        ("RQNT {tid} aaln/1@cta1.example MGCP 1.0\nX: 2\nD: (12|[9-1])\n".into(), 510),
        ("AUEP {tid} aaln/1@cta1.example MGCP 1.0\nF: ZZ\n".into(), 539),
        ("RQNT {tid} aaln/1@cta1.example MGCP 2.0\nX: 2\n".into(), 528),
    ];
    for (cmd, want) in cases {
        let got = r.code(&cmd);
        assert_eq!(got, want, "{cmd}");
    }
    // The one good connection is untouched, and no refused CRCX left a key.
    assert_eq!(r.gw.connections().count(), 1);
    assert_eq!(r.gw.security().keys_held(), 1);
}

#[test]
fn hook_state_conflicts() {
    let mut r = Rig::registered();
    r.terminal(0, TerminalEvent::OffHook);
    assert_eq!(
        r.code("RQNT {tid} aaln/1@cta1.example MGCP 1.0\nX: 3\nR: L/hd(N)\n"),
        401
    );
    assert_eq!(
        r.code("RQNT {tid} aaln/1@cta1.example MGCP 1.0\nX: 3\nS: L/rg\n"),
        401
    );
    assert_eq!(
        r.code("RQNT {tid} aaln/1@cta1.example MGCP 1.0\nX: 3\nR: L/hu(N)\nS: L/dl\n"),
        200
    );
}

#[test]
fn connection_limit_per_line() {
    let mut r = Rig::registered();
    assert_eq!(r.code(&crcx("")), 200);
    assert_eq!(r.code(&crcx("")), 200);
    assert_eq!(r.code(&crcx("")), 540);
    // Held for their calls, not installed: no remote address yet.
    assert_eq!(r.gw.security().keys_held(), 2);
    assert!(r.gw.media().contexts.is_empty());
}

#[test]
fn a_device_without_credentials_takes_no_key() {
    let app = FakeApp {
        enrollment: Enrollment::Pending,
    };
    let gw = Gateway::new(config(), FakeMedia::default(), FakeTerminal::default(), app);
    let mut r = Rig::with(gw);
    assert_eq!(r.code(&crcx("")), 501);
    assert!(r.no_key_anywhere());
}

#[test]
fn a_refusing_media_controller_leaves_no_key() {
    let mut r = Rig::registered();
    r.gw.media_mut().refuse = true;
    assert_eq!(
        r.code(&crcx("\nv=0\nc=IN IP4 10.1.1.1\nm=audio 4000 RTP/AVP 0\n")),
        403
    );
    assert!(r.no_key_anywhere());
    assert_eq!(r.gw.connections().count(), 0);
}

#[test]
fn a_repeated_command_is_answered_from_history_not_run_again() {
    let mut r = Rig::registered();
    let text = crcx("").replace("{tid}", "4242").replace('\n', "\r\n");
    r.gw.handle_datagram(r.now, CA, text.as_bytes());
    let first = r.drain();
    r.gw.handle_datagram(r.now, CA, text.as_bytes());
    let again = r.drain();
    assert_eq!(first, again);
    assert_eq!(r.gw.connections().count(), 1);
}
