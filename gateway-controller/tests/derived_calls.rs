//! Derived call keys end to end between real CTA firmware cores and the
//! controller core, on a virtual clock: K comes from the caller's session
//! key, is escrowed first, goes to the callee in `k:`, and never to the
//! caller, which is sent `x-key:derived` and derives K itself. Every
//! transmit is checked by the network (`net`): no K and no marker before
//! escrow, no derived K to its caller.

mod net;

use cablekey_cta_firmware::{Role, Signal, TerminalEvent};
use cablekey_gateway_controller::call::State;
use cablekey_gateway_controller::keys::derived_key;
use cablekey_gateway_controller::{Config, KeyMode};
use cablekey_protocol::mgcp::ReturnCode;
use cablekey_protocol::secret::SecretBytes;
use net::*;

fn derived() -> Config {
    Config {
        key_mode: KeyMode::Derived,
        ..Config::default()
    }
}

fn session(byte: u8) -> SecretBytes {
    SecretBytes::new(&[byte; 32]).unwrap()
}

/// Line 0 of CTA `a` dials line 0 of CTA `b`.
fn dial(net: &mut Net, a: usize, b: usize) {
    net.terminal(a, 0, TerminalEvent::OffHook);
    assert!(net.playing(a, 0, Signal::DialTone), "dial tone");
    net.dial(a, 0, &number(b, 0));
}

#[test]
fn the_caller_derives_k_the_callee_gets_it_and_both_use_the_escrowed_key() {
    let mut net = Net::new(2, derived(), 11);
    let s = session(9);
    // Only the caller's device shares a session key: the callee needs none.
    net.provision(0, &s);
    net.boot();
    dial(&mut net, 0, 1);
    assert!(net.playing(1, 0, Signal::Ringing), "ringing");
    net.terminal(1, 0, TerminalEvent::OffHook);
    assert_eq!(net.connected(), 1);

    let (call, fp) = net.only_key();
    assert_eq!(fp, derived_key(&s, &call).unwrap().fingerprint());
    // The caller's CRCX had no `k:`, the callee's had.
    assert_eq!(net.key_items[&line_name(0, 0)], ["derived"]);
    assert_eq!(net.key_items[&line_name(1, 0)], ["k"]);
    assert_eq!(net.sides[&line_name(0, 0)], ["caller"]);
    assert_eq!(net.sides[&line_name(1, 0)], ["callee"]);
    // Both ends hold the escrowed key, each with its side.
    assert_eq!(net.keys_on(0), [fp]);
    assert_eq!(net.keys_on(1), [fp]);
    assert_eq!(net.roles_on(0), [(Role::Caller, call.clone())]);
    assert_eq!(net.roles_on(1), [(Role::Callee, call.clone())]);
    assert_eq!(net.ctrl.call_state(&call), Some(State::Connected));

    net.terminal(0, 0, TerminalEvent::OnHook);
    net.terminal(1, 0, TerminalEvent::OnHook);
    net.settle();
    assert!(net.no_key_anywhere());
    assert_eq!(net.ctrl.calls(), 0);

    // The callee's device has no session key: it cannot call in derived mode.
    dial(&mut net, 1, 0);
    assert_eq!(net.refused(), ["NoSessionKey"]);
    assert!(net.playing(1, 0, Signal::Reorder));
    assert_eq!(net.keys.len(), 1, "nothing made or escrowed for it");
}

#[test]
fn both_directions_with_a_session_key_each_give_different_keys() {
    let mut net = Net::new(2, derived(), 12);
    net.provision_all(&[0, 1], 12);
    net.boot();
    for (a, b) in [(0, 1), (1, 0)] {
        dial(&mut net, a, b);
        net.terminal(b, 0, TerminalEvent::OffHook);
        let fps = net.keys_on(a);
        assert_eq!(fps.len(), 1);
        assert_eq!(net.keys_on(b), fps, "same K at both ends");
        net.terminal(a, 0, TerminalEvent::OnHook);
        net.terminal(b, 0, TerminalEvent::OnHook);
        net.settle();
    }
    assert_eq!(net.connected(), 2);
    assert_eq!(net.key_items[&line_name(0, 0)], ["derived", "k"]);
    assert_eq!(net.key_items[&line_name(1, 0)], ["k", "derived"]);
    let fps: std::collections::BTreeSet<_> = net.key_fps.values().collect();
    assert_eq!(fps.len(), 2);
}

#[test]
fn a_caller_without_a_session_key_is_refused_before_any_key_is_made() {
    let mut net = Net::new(2, derived(), 13);
    net.boot();
    dial(&mut net, 0, 1);
    assert_eq!(net.refused(), ["NoSessionKey"]);
    assert!(net.playing(0, 0, Signal::Reorder));
    assert!(net.keys.is_empty() && net.escrow_queue.is_empty());
    assert!(net.key_items.is_empty(), "no CRCX sent");
    assert!(!net.heard(1, 0, Signal::Ringing));
    net.terminal(0, 0, TerminalEvent::OnHook);
    net.settle();
    assert_eq!(net.ctrl.calls(), 0);
}

#[test]
fn a_cta_without_the_session_key_refuses_532_and_the_call_ends_cleanly() {
    let mut net = Net::new(2, derived(), 14);
    // The controller has a session key for the caller; the device lost it.
    net.provision(0, &session(7));
    net.ctas[0].set_session_key(None);
    net.boot();
    dial(&mut net, 0, 1);
    net.settle();
    assert_eq!(
        net.ended(),
        [format!(
            "{:?}",
            cablekey_gateway_controller::EndReason::Error(ReturnCode::LCO_UNSUPPORTED_VALUE)
        )]
    );
    assert!(net.playing(0, 0, Signal::Reorder));
    assert!(!net.playing(1, 0, Signal::Ringing));
    // The callee got K (escrowed first), and its connection is deleted.
    assert_eq!(net.key_items[&line_name(1, 0)], ["k"]);
    assert_eq!(net.escrowed_ok.len(), 1);
    assert!(net.no_key_anywhere());
    assert_eq!(net.ctas[1].connections().count(), 0);
}

#[test]
fn derived_calls_complete_with_loss_and_duplication() {
    for seed in 1..=4 {
        let mut net = Net::new(4, derived(), seed);
        net.provision_all(&[0, 1, 2, 3], seed);
        lossy_calls(net, seed);
    }
}
