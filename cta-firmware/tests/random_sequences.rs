//! Random hook flashes, digits, timer jumps and MGCP commands (restarts
//! among them): the gateway never panics, and no key outlives its call.

mod common;

use cablekey_cta_firmware::line::Hook;
use cablekey_cta_firmware::{CallState, TerminalEvent};
use cablekey_protocol::secret::SecretBytes;
use common::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Hook(usize, u8),
    Digit(usize, char),
    Advance(u64),
    Restart,
    /// Answer (or drop) what the gateway sent.
    AnswerSent(u16),
    Rqnt(usize, u8, u8, u8),
    Crcx(usize, u8, bool, bool, u8),
    Mdcx(usize, usize, u8, bool, bool),
    Dlcx(usize, usize, u8),
    Audit(usize, usize),
    Garbage(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..3u8).prop_map(|(l, h)| Op::Hook(l, h)),
        4 => (0..2usize, prop::sample::select(vec!['0', '1', '5', '9', '#', '*', 'A', 'T', 'z'])).prop_map(|(l, c)| Op::Digit(l, c)),
        2 => prop_oneof![0..500u64, 0..40_000u64].prop_map(Op::Advance),
        1 => Just(Op::Restart),
        2 => prop::sample::select(vec![200u16, 400, 500, 0]).prop_map(Op::AnswerSent),
        3 => (0..3usize, 0..6u8, 0..5u8, 0..3u8).prop_map(|(l, r, s, d)| Op::Rqnt(l, r, s, d)),
        3 => (0..3usize, 0..4u8, any::<bool>(), any::<bool>(), 0..3u8).prop_map(|(l, c, k, sdp, m)| Op::Crcx(l, c, k, sdp, m)),
        3 => (0..2usize, 0..4usize, 0..3u8, any::<bool>(), any::<bool>()).prop_map(|(l, i, m, k, sdp)| Op::Mdcx(l, i, m, k, sdp)),
        3 => (0..3usize, 0..4usize, 0..4u8).prop_map(|(l, i, how)| Op::Dlcx(l, i, how)),
        1 => (0..3usize, 0..4usize).prop_map(|(l, i)| Op::Audit(l, i)),
        1 => prop::collection::vec(any::<u8>(), 0..80).prop_map(Op::Garbage),
    ]
}

const REQUESTS: [&str; 6] = [
    "",
    "R: L/hd(N)\n",
    "R: L/hu(N), D/[0-9#*T](D)\n",
    "R: L/hu(N), L/hf(S,N), D/[0-9#T](D)\n",
    "R: L/hd(A, E(S(L/dl),R(L/hu(N),D/[0-9#*T](D))))\n",
    "R: L/oc(N), L/hu(N)\n",
];
const SIGNALS: [&str; 5] = ["", "S: L/dl\n", "S: L/rg\n", "S: L/rt\n", "S: L/bz, L/wt\n"];
const MAPS: [&str; 3] = ["", "D: (0T|[1-7]xxx|9011x.T)\n", "D: x.T\n"];
const MODES: [&str; 3] = ["sendrecv", "recvonly", "inactive"];

fn ep(line: usize) -> String {
    // Line index 2 names an endpoint that does not exist.
    format!("aaln/{}@cta1.example", line + 1)
}

fn sdp(on: bool) -> &'static str {
    if on {
        "\nv=0\nc=IN IP4 10.7.7.7\nm=audio 41000 RTP/AVP 0\n"
    } else {
        ""
    }
}

fn conn_text(r: &Rig, i: usize) -> String {
    let ids: Vec<_> = r.gw.connections().map(|c| c.id).collect();
    match ids.get(i) {
        Some(id) => format!("{id}"),
        None => "DEADBEEF".into(),
    }
}

fn run(r: &mut Rig, op: &Op) {
    match op {
        Op::Hook(line, h) => {
            let ev = [
                TerminalEvent::OffHook,
                TerminalEvent::OnHook,
                TerminalEvent::Flash,
            ][usize::from(*h)];
            let was_off = r.gw.hook(*line) == Some(Hook::Off);
            r.terminal(*line, ev);
            if was_off && ev == TerminalEvent::OnHook {
                // Hang-up: nothing of this line's calls is left.
                for c in r.gw.connections() {
                    if c.line == *line {
                        assert!(!r.gw.security().holds_key(c.id), "key held after hang-up");
                        assert!(
                            !r.gw.media().contexts.contains_key(&c.id),
                            "context after hang-up"
                        );
                    }
                }
            }
        }
        Op::Digit(line, c) => {
            r.terminal(*line, TerminalEvent::Digit(*c));
        }
        Op::Advance(ms) => {
            r.advance(*ms);
        }
        Op::Restart => {
            r.gw.restart(r.now);
            r.drain();
            assert!(r.no_key_anywhere(), "key after restart");
        }
        Op::AnswerSent(code) => {
            let last = r
                .sent
                .iter()
                .rev()
                .find(|m| m.starts_with(char::is_alphabetic))
                .cloned();
            if let (Some(m), true) = (last, *code != 0) {
                r.answer(&m, *code);
                r.drain();
            }
        }
        Op::Rqnt(line, req, sig, map) => {
            let text = format!(
                "RQNT {{tid}} {} MGCP 1.0\nX: 7{req}\n{}{}{}",
                ep(*line),
                REQUESTS[usize::from(*req)],
                SIGNALS[usize::from(*sig)],
                MAPS[usize::from(*map)]
            );
            r.command(&text);
        }
        Op::Crcx(line, call, key, with_sdp, mode) => {
            // Odd calls ask for a derived key (refused 532 without a session key).
            let l = if *key && call % 2 == 1 {
                "L: x-key:derived, x-dir:callee\n".to_string()
            } else if *key {
                format!("L: k:base64:{KEY}, x-dir:callee\n")
            } else {
                String::new()
            };
            let text = format!(
                "CRCX {{tid}} {} MGCP 1.0\nC: C{call}\n{l}M: {}\n{}",
                ep(*line),
                MODES[usize::from(*mode)],
                sdp(*with_sdp)
            );
            r.command(&text);
        }
        Op::Mdcx(line, i, mode, key, with_sdp) => {
            let l = if *key && i % 2 == 1 {
                "L: x-key:derived\n".to_string()
            } else if *key {
                format!("L: k:base64:{KEY2}\n")
            } else {
                String::new()
            };
            let text = format!(
                "MDCX {{tid}} {} MGCP 1.0\nI: {}\n{l}M: {}\n{}",
                ep(*line),
                conn_text(r, *i),
                MODES[usize::from(*mode)],
                sdp(*with_sdp)
            );
            r.command(&text);
        }
        Op::Dlcx(line, i, how) => {
            let target = match how {
                0 => format!("I: {}\n", conn_text(r, *i)),
                1 => format!("C: C{i}\n"),
                _ => String::new(),
            };
            let endpoint = if *how == 3 {
                "aaln/*@cta1.example".into()
            } else {
                ep(*line)
            };
            let before: Vec<_> = r.gw.connections().map(|c| c.id).collect();
            let resp = r.command(&format!("DLCX {{tid}} {endpoint} MGCP 1.0\n{target}"));
            if resp.starts_with("250") {
                for id in before {
                    if r.gw.connections().all(|c| c.id != id) {
                        assert!(!r.gw.security().holds_key(id), "key after DLCX");
                        assert!(
                            !r.gw.media().contexts.contains_key(&id),
                            "context after DLCX"
                        );
                        assert!(
                            r.gw.media().wipes.contains(&id),
                            "no wipe for a deleted call"
                        );
                    }
                }
            }
        }
        Op::Audit(line, i) => {
            r.command(&format!(
                "AUEP {{tid}} {} MGCP 1.0\nF: R,S,D,X,N,I,ES\n",
                ep(*line)
            ));
            r.command(&format!(
                "AUCX {{tid}} {} MGCP 1.0\nI: {}\nF: C,M,L,LC,RC,P\n",
                ep(*line),
                conn_text(r, *i)
            ));
        }
        Op::Garbage(bytes) => {
            r.gw.handle_datagram(r.now, CA, bytes);
            r.drain();
        }
    }
}

/// Always: keys and contexts belong to live connections, a context exists
/// exactly for the authorized calls, and nothing leaks the key on the wire.
fn check(r: &Rig) {
    let live: Vec<_> = r.gw.connections().map(|c| c.id).collect();
    for id in r.gw.media().contexts.keys() {
        assert!(live.contains(id), "context for a connection that is gone");
        assert_eq!(r.gw.security().state(*id), CallState::Authorized);
    }
    for id in &live {
        if r.gw.security().state(*id) == CallState::Authorized {
            assert!(r.gw.media().contexts.contains_key(id));
        }
    }
    assert!(r.gw.security().keys_held() <= live.len());
    assert!(r.sent.iter().all(|m| !m.contains(KEY) && !m.contains(KEY2)));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_never_panic_or_keep_keys(ops in prop::collection::vec(op(), 1..60)) {
        let mut r = Rig::registered();
        // Half the runs can derive keys; the other half refuse to.
        if ops.len() % 2 == 1 {
            r.gw.set_session_key(Some(SecretBytes::new(&[0x33; 32]).unwrap()));
        }
        for op in &ops {
            run(&mut r, op);
            check(&r);
        }
        r.gw.restart(r.now);
        prop_assert!(r.no_key_anywhere());
    }
}
