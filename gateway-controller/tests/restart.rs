//! A controller restarted while gateways hold connections and notifications
//! of the old process, on a virtual clock with real CTA cores.

mod net;

use std::time::Duration;

use cablekey_cta_firmware::{Signal, TerminalEvent};
use cablekey_gateway_controller::{Config, Event};
use net::*;

fn booted(n: usize) -> Net {
    let mut net = Net::new(n, Config::default(), 11);
    net.boot();
    net
}

/// Line 0 of CTA 0 in a call with line 0 of CTA 1; the call's id.
fn in_a_call() -> (Net, String) {
    let mut net = booted(2);
    net.terminal(0, 0, TerminalEvent::OffHook);
    net.dial(0, 0, &number(1, 0));
    net.terminal(1, 0, TerminalEvent::OffHook);
    assert_eq!(net.connected(), 1);
    let (call, _) = net.only_key();
    (net, call)
}

fn connections(net: &Net, cta: usize) -> Vec<String> {
    net.ctas[cta]
        .connections()
        .map(|c| c.call.as_str().to_string())
        .collect()
}

#[test]
fn a_restarted_controller_deletes_the_connections_of_the_old_processs_calls() {
    let (mut net, old_call) = in_a_call();
    assert_eq!(connections(&net, 0), std::slice::from_ref(&old_call));
    assert_eq!(connections(&net, 1), std::slice::from_ref(&old_call));

    net.restart_controller();
    // Everything at the current instant: no retransmission needed.
    net.flush();
    assert!(connections(&net, 0).is_empty() && connections(&net, 1).is_empty());
    assert!(
        net.no_key_anywhere(),
        "the old call's key is wiped at both ends"
    );
    let stale: Vec<_> = net
        .events
        .iter()
        .filter_map(|e| match e {
            Event::StaleConnection { endpoint, call_id } => {
                Some((endpoint.clone(), call_id.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        stale,
        [
            (line_name(0, 0), old_call.clone()),
            (line_name(1, 0), old_call.clone())
        ]
    );
    // Both handsets are still up: the audit's idle request got 401, so
    // each has dial tone from the new process.
    assert!(net.playing(0, 0, Signal::DialTone) && net.playing(1, 0, Signal::DialTone));
    // Idle lines were audited too and have nothing to delete.
    net.settle();
    assert_eq!(net.ctrl.calls(), 2, "two fresh calls dialing");

    // Calls go on as before.
    net.terminal(0, 0, TerminalEvent::OnHook);
    net.terminal(1, 0, TerminalEvent::OnHook);
    net.terminal(0, 0, TerminalEvent::OffHook);
    net.dial(0, 0, &number(1, 0));
    assert!(net.playing(1, 0, Signal::Ringing));
    net.terminal(1, 0, TerminalEvent::OffHook);
    assert_eq!(net.connected(), 2);
}

#[test]
fn a_line_whose_notification_the_old_process_never_answered_recovers_at_once() {
    let mut net = booted(2);
    // The controller is gone: the off-hook NTFY goes nowhere, and is
    // retransmitted (200 ms, 400 ms, ... up to 4 s apart).
    net.blackhole = Some(CA);
    net.press(0, 0, TerminalEvent::OffHook);
    net.advance(Duration::from_millis(1500));
    net.blackhole = None;

    net.restart_controller();
    let started = net.now;
    net.flush();
    assert!(net.playing(0, 0, Signal::DialTone), "dial tone at once");
    // The digits are not held behind the unanswered NTFY.
    net.dial(0, 0, &number(1, 0));
    assert!(net.playing(1, 0, Signal::Ringing), "rings at once");
    assert_eq!(net.now, started, "no virtual time passed");
    // The old NTFY's retransmission reaches the new process later and
    // changes nothing.
    net.settle();
    assert!(net.playing(1, 0, Signal::Ringing));
    net.terminal(1, 0, TerminalEvent::OffHook);
    assert_eq!(net.connected(), 1);
}

/// An address remembered from before (the gateway book, or configuration)
/// that is stale: the audit sent there is never answered. The gateway's
/// RSIP from where it is now ends that wait, so its lines are served at
/// once instead of after the audit gives up (seconds of retransmissions).
#[test]
fn an_rsip_from_a_new_address_ends_the_wait_for_an_audit_sent_to_the_old() {
    let mut net = Net::new(2, Config::default(), 13);
    let gone: std::net::SocketAddr = "10.0.9.9:2427".parse().unwrap();
    for line in 0..2 {
        assert!(net
            .ctrl
            .registry_mut()
            .remembered(&line_name(0, line), gone));
    }
    let now = net.now;
    net.ctrl.start(now);
    net.flush();
    assert!(
        net.ctrl.transactions().outstanding() >= 2,
        "the audits to the old address wait for answers"
    );
    // The CTA registers from its real address; no virtual time passes.
    net.ctas[0].restart(net.now);
    net.flush();
    net.terminal(0, 0, TerminalEvent::OffHook);
    assert!(
        net.playing(0, 0, Signal::DialTone),
        "served at once, not after the audit to the old address timed out"
    );
}

/// The other side of the rule above: an RSIP from the address the audit
/// went to (here `disconnected`, which keeps connections) does not end the
/// audit, whose answer finds the old process's call and deletes it.
#[test]
fn an_rsip_from_the_audited_address_keeps_the_audit_and_its_cleanup() {
    let (mut net, old_call) = in_a_call();
    net.restart_controller();
    // Before any audit arrives, CTA 0 reports itself back from where it was.
    let rsip = "RSIP 7001 aaln/*@cta0.example MGCP 1.0\r\nRM: disconnected\r\n";
    let now = net.now;
    net.ctrl.handle_datagram(now, cta_addr(0), rsip.as_bytes());
    net.flush();
    net.settle();
    assert!(
        !connections(&net, 0).contains(&old_call),
        "the old call's connection at CTA 0 was found and deleted"
    );
    assert!(net.no_key_anywhere());
}
