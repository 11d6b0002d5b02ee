//! Calls anchored at a media gateway (a fake that answers like osmo-mgw),
//! on the virtual network: the gateway's two connections are created,
//! modified and deleted, the CTAs send to them, the gateway never sees a
//! key, and its failures refuse or end calls cleanly.

mod net;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use cablekey_cta_firmware::{Signal, TerminalEvent};
use cablekey_gateway_controller::call::State;
use cablekey_gateway_controller::Config;
use net::*;

fn anchored(n: usize, seed: u64) -> Net {
    let config = Config {
        anchor: Some(anchor()),
        ..Config::default()
    };
    let mut net = Net::new(n, config, seed);
    net.boot();
    net
}

/// Line 0 of CTA 0 calls line 0 of CTA 1.
fn dial(net: &mut Net) {
    net.terminal(0, 0, TerminalEvent::OffHook);
    net.dial(0, 0, &number(1, 0));
}

/// Where a CTA's media context sends.
fn remotes(net: &Net, cta: usize) -> Vec<SocketAddr> {
    let contexts = &net.ctas[cta].media().contexts;
    contexts.values().map(|(_, p)| p.remote).collect()
}

/// Every transaction id the gateway saw names one command (repeats of a
/// command are the same text).
fn tids_unique(net: &Net) {
    let mut seen = BTreeMap::new();
    for text in &net.mgw.received {
        let tid = text.split(' ').nth(1).unwrap();
        let first = seen.entry(tid).or_insert(text);
        assert_eq!(*first, text, "transaction id {tid} reused");
    }
}

#[test]
fn anchored_call_bridges_the_ctas_through_the_gateway_and_deletes_its_legs() {
    let mut net = anchored(2, 7);
    dial(&mut net);
    assert!(net.playing(1, 0, Signal::Ringing) && net.playing(0, 0, Signal::RingBack));
    let crcx = net.mgw.verbs("CRCX");
    assert_eq!(
        crcx,
        [
            ("rtpbridge/*@mgw".to_string(), 200),
            ("rtpbridge/1@mgw".to_string(), 200)
        ]
    );
    let bridge = &net.mgw.bridges[&1];
    assert_eq!(bridge.conns.len(), 2);
    assert!(bridge.conns.values().all(|c| c.mode == "recvonly"));
    // First connection faces the callee, second the caller.
    let ports: Vec<u16> = bridge.conns.values().map(|c| c.port).collect();

    net.terminal(1, 0, TerminalEvent::OffHook);
    assert_eq!(net.connected(), 1);
    let call = net.key_fps.keys().next().unwrap().clone();
    assert_eq!(net.ctrl.call_state(&call), Some(State::Connected));
    assert_eq!(net.mgw.verbs("MDCX").len(), 2);
    let at = |port| SocketAddr::new(MGW.ip(), port);
    assert_eq!(remotes(&net, 1), [at(ports[0])], "callee sends to the MGW");
    assert_eq!(remotes(&net, 0), [at(ports[1])], "caller sends to the MGW");
    // Each gateway connection sends to its CTA, with no key in sight.
    let conns: Vec<Conn> = net.mgw.bridges[&1].conns.values().cloned().collect();
    assert!(conns.iter().all(|c| c.mode == "sendrecv"));
    let cta_ip = |c: usize| format!("c=IN IP4 {}", cta_addr(c).ip());
    assert!(conns[0].remote.as_ref().unwrap().contains(&cta_ip(1)));
    assert!(conns[1].remote.as_ref().unwrap().contains(&cta_ip(0)));
    let key_on = net.keys_on(0);
    assert_eq!(key_on.len(), 1);
    assert_eq!(net.keys_on(1), key_on, "same K at both ends");
    for (c, p) in [(0, ports[1]), (1, ports[0])] {
        let theirs = &net.ctas[c].media().contexts;
        assert!(theirs.values().all(|(_, m)| m.remote.port() == p));
    }

    net.terminal(0, 0, TerminalEvent::OnHook);
    net.terminal(1, 0, TerminalEvent::OnHook);
    net.settle();
    assert_eq!(net.ended(), ["CallerHungUp"]);
    assert_eq!(net.mgw.conns(), 0, "both gateway connections deleted");
    let dlcx = net.mgw.verbs("DLCX");
    assert_eq!(
        dlcx,
        [
            ("rtpbridge/1@mgw".into(), 250),
            ("rtpbridge/1@mgw".into(), 250)
        ]
    );
    assert!(net.no_key_anywhere());
    tids_unique(&net);

    // The next call finds the endpoint free again.
    dial(&mut net);
    net.terminal(1, 0, TerminalEvent::OffHook);
    assert_eq!(net.connected(), 2);
    assert_eq!(net.mgw.conns(), 2);
}

#[test]
fn gateway_refusing_the_first_crcx_refuses_the_call_before_any_key_leaves() {
    let mut net = anchored(2, 3);
    net.mgw.refuse_crcx = Some((0, 403));
    dial(&mut net);
    assert_eq!(net.refused().len(), 1);
    assert!(net.refused()[0].starts_with("MediaGatewayRefused(403 "));
    assert!(net.playing(0, 0, Signal::Reorder));
    assert!(!net.playing(1, 0, Signal::Ringing));
    assert!(net.sides.is_empty(), "no CRCX with the key went to a CTA");
    assert_eq!(net.keys.len(), 1, "escrowed, never sent");
    assert_eq!(net.ctrl.calls(), 0);
    net.terminal(0, 0, TerminalEvent::OnHook);
    net.settle();
    assert!(net.no_key_anywhere() && net.mgw.conns() == 0);
}

#[test]
fn gateway_refusing_the_second_leg_deletes_the_first() {
    let mut net = anchored(2, 4);
    net.mgw.refuse_crcx = Some((1, 502));
    dial(&mut net);
    net.settle();
    assert_eq!(net.refused().len(), 1);
    assert!(net.refused()[0].starts_with("MediaGatewayRefused(502 "));
    assert!(net.sides.is_empty());
    assert_eq!(net.mgw.verbs("DLCX"), [("rtpbridge/1@mgw".into(), 250)]);
    assert_eq!(net.mgw.conns(), 0);
}

#[test]
fn silent_gateway_times_out_and_refuses_cleanly() {
    let mut net = anchored(2, 5);
    net.blackhole = Some(MGW);
    dial(&mut net);
    net.advance(Duration::from_secs(30));
    assert_eq!(net.refused(), ["MediaGatewayUnreachable"]);
    assert!(net.playing(0, 0, Signal::Reorder));
    assert!(net.sides.is_empty() && net.no_key_anywhere());
    assert_eq!(net.ctrl.calls(), 0);
    // The wildcard CRCX cannot be undone by name: nothing is retried at
    // the gateway, and nothing is left outstanding.
    net.advance(Duration::from_secs(120));
    assert_eq!(net.ctrl.transactions().outstanding(), 0);
    assert!(net.mgw.received.is_empty());

    // The gateway comes back: the next call works.
    net.blackhole = None;
    net.terminal(0, 0, TerminalEvent::OnHook);
    net.settle();
    dial(&mut net);
    net.terminal(1, 0, TerminalEvent::OffHook);
    assert_eq!(net.connected(), 1);
}

#[test]
fn gateway_failing_at_the_answer_ends_the_call_and_deletes_everything() {
    let mut net = anchored(2, 6);
    net.mgw.refuse_mdcx = Some(500);
    dial(&mut net);
    net.terminal(1, 0, TerminalEvent::OffHook);
    net.settle();
    assert_eq!(net.connected(), 0);
    assert_eq!(net.ended().len(), 1);
    assert!(net.ended()[0].starts_with("Error(500 "));
    assert_eq!(net.mgw.conns(), 0);
    assert!(net.no_key_anywhere());
    assert_eq!(
        net.ctas[0].connections().count() + net.ctas[1].connections().count(),
        0
    );
}

#[test]
fn caller_abandoning_while_the_gateway_works_leaves_nothing() {
    let mut net = anchored(2, 8);
    net.escrow = EscrowMode::Manual;
    dial(&mut net);
    let (call, _) = net.escrow_queue.pop_front().unwrap();
    net.confirm(&call, true);
    // The first gateway CRCX is executed; its answer comes only after the
    // caller has hung up.
    let i = net.wire.iter().position(|w| w.1 == MGW).expect("a CRCX");
    net.deliver_at(i, 1);
    let i = net
        .wire
        .iter()
        .position(|w| w.0 == MGW)
        .expect("the answer");
    let answer = net.wire.remove(i).unwrap();
    net.press(0, 0, TerminalEvent::OnHook);
    net.wire.push_back(answer);
    net.settle();
    assert_eq!(net.ended(), ["Abandoned"]);
    assert_eq!(net.ctrl.calls(), 0);
    assert_eq!(
        net.mgw.verbs("CRCX").len(),
        1,
        "no second leg for a gone call"
    );
    assert_eq!(net.mgw.verbs("DLCX"), [("rtpbridge/1@mgw".into(), 250)]);
    assert_eq!(net.mgw.conns(), 0, "the late connection is deleted");
    assert!(net.no_key_anywhere() && net.sides.is_empty());
}

#[test]
fn anchored_calls_complete_with_loss_and_duplication() {
    for seed in 1..=4 {
        let mut net = anchored(2, seed);
        net.loss = 10;
        net.dup = 10;
        net.settle();
        for round in 0..3 {
            let (a, b) = if round % 2 == 0 { (0, 1) } else { (1, 0) };
            net.terminal(a, 0, TerminalEvent::OffHook);
            net.settle();
            net.dial(a, 0, &number(b, 0));
            net.settle();
            assert!(
                net.playing(b, 0, Signal::Ringing),
                "seed {seed} round {round}"
            );
            net.terminal(b, 0, TerminalEvent::OffHook);
            net.settle();
            assert_eq!(net.connected(), round + 1, "seed {seed} round {round}");
            assert_eq!(net.keys_on(a), net.keys_on(b));
            net.terminal(a, 0, TerminalEvent::OnHook);
            net.terminal(b, 0, TerminalEvent::OnHook);
            net.settle();
            assert!(net.no_key_anywhere(), "seed {seed} round {round}");
        }
        tids_unique(&net);
    }
}

#[test]
fn callee_picking_up_while_the_gateway_works_makes_the_caller_busy() {
    let mut net = anchored(2, 9);
    net.blackhole = Some(MGW);
    dial(&mut net);
    net.terminal(1, 0, TerminalEvent::OffHook);
    assert_eq!(net.refused(), ["Busy"]);
    assert!(net.playing(0, 0, Signal::Busy));
    assert!(net.sides.is_empty() && net.no_key_anywhere());
}
