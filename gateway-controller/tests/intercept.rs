//! Lawful intercept of media through MGCP, on the virtual clock: the
//! connections of a target's calls carry `es-ccd`/`es-cci` (in the CRCX, or
//! an MDCX when the task comes mid-call), and nothing else about the call
//! changes: same keys, same modes, no new SRTP context at either end.

mod net;

use std::net::SocketAddr;
use std::time::Duration;

use cablekey_cta_firmware::{Signal, Surveillance, TerminalEvent};
use cablekey_gateway_controller::call::State;
use cablekey_gateway_controller::{Cci, Config, Event, Intercept};
use net::*;

const CCI: u32 = 0x00C0_FFEE;

fn collector() -> SocketAddr {
    "10.0.9.9:5000".parse().unwrap()
}

fn task() -> Intercept {
    Intercept {
        cci: Cci(CCI),
        collector: collector(),
    }
}

fn expected() -> Option<Surveillance> {
    Some(Surveillance {
        collector: collector(),
        cci: CCI,
    })
}

fn booted() -> Net {
    let mut net = Net::new(3, Config::default(), 11);
    net.boot();
    net
}

/// Line 0 of CTA `a` calls line 0 of CTA `b`, `b` answers.
fn connect(net: &mut Net, a: usize, b: usize) -> String {
    net.terminal(a, 0, TerminalEvent::OffHook);
    net.dial(a, 0, &number(b, 0));
    assert!(net.playing(b, 0, Signal::Ringing));
    net.terminal(b, 0, TerminalEvent::OffHook);
    let call = net.key_fps.keys().last().unwrap().clone();
    assert_eq!(net.ctrl.call_state(&call), Some(State::Connected));
    call
}

/// What each end's connection and media context of the call carry.
fn taps(net: &Net, cta: usize) -> Vec<Option<Surveillance>> {
    let conns = net.ctas[cta].connections().map(|c| c.surveillance);
    let media = net.ctas[cta]
        .media()
        .contexts
        .keys()
        .map(|c| net.ctas[cta].media().taps.get(c).copied());
    conns.chain(media).collect()
}

fn tapped_events(net: &Net) -> Vec<(String, bool)> {
    net.events
        .iter()
        .filter_map(|e| match e {
            Event::Tapped {
                endpoint, active, ..
            } => Some((endpoint.clone(), *active)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_targets_call_has_both_ends_copy_from_the_crcx_on() {
    let mut net = booted();
    net.ctrl.set_intercept(net.now, &number(0, 0), task());
    let call = connect(&mut net, 0, 1);
    assert_eq!(taps(&net, 0), [expected(), expected()]);
    assert_eq!(taps(&net, 1), [expected(), expected()]);
    // Keys as in any call: one K, escrowed, on both ends.
    let fp = net.key_fps[&call];
    assert_eq!((net.keys_on(0), net.keys_on(1)), (vec![fp], vec![fp]));
    assert_eq!(
        tapped_events(&net),
        [(line_name(1, 0), true), (line_name(0, 0), true)]
    );
    net.terminal(0, 0, TerminalEvent::OnHook);
    net.terminal(1, 0, TerminalEvent::OnHook);
    net.settle();
    assert!(net.no_key_anywhere());
}

#[test]
fn the_callee_as_target_is_intercepted_too_and_plus_is_ignored() {
    let mut net = booted();
    net.ctrl
        .set_intercept(net.now, &format!("+{}", number(1, 0)), task());
    connect(&mut net, 0, 1);
    assert_eq!(taps(&net, 0), [expected(), expected()]);
    assert_eq!(taps(&net, 1), [expected(), expected()]);
}

#[test]
fn a_call_between_non_targets_carries_nothing() {
    let mut net = booted();
    net.ctrl.set_intercept(net.now, &number(2, 0), task());
    connect(&mut net, 0, 1);
    assert_eq!(taps(&net, 0), [None, None]);
    assert_eq!(taps(&net, 1), [None, None]);
    assert!(tapped_events(&net).is_empty());
}

#[test]
fn a_task_set_mid_call_reaches_both_ends_by_mdcx_and_clearing_stops_it() {
    let mut net = booted();
    let call = connect(&mut net, 0, 1);
    let installs = (
        net.ctas[0].media().installed.len(),
        net.ctas[1].media().installed.len(),
    );
    let sent = net.sent_by_ctrl;
    net.ctrl.set_intercept(net.now, &number(1, 0), task());
    net.flush();
    assert_eq!(net.sent_by_ctrl - sent, 2, "one MDCX to each end");
    assert_eq!(taps(&net, 0), [expected(), expected()]);
    assert_eq!(taps(&net, 1), [expected(), expected()]);
    // The streams were not touched: no new SRTP context at either end.
    let now = (
        net.ctas[0].media().installed.len(),
        net.ctas[1].media().installed.len(),
    );
    assert_eq!(now, installs);
    assert_eq!(net.ctrl.call_state(&call), Some(State::Connected));

    // Setting the same task again sends nothing.
    let sent = net.sent_by_ctrl;
    net.ctrl.set_intercept(net.now, &number(1, 0), task());
    net.flush();
    assert_eq!(net.sent_by_ctrl, sent);

    assert!(net.ctrl.clear_intercept(net.now, &number(1, 0)));
    net.flush();
    assert_eq!(taps(&net, 0), [None, None]);
    assert_eq!(taps(&net, 1), [None, None]);
    let now = (
        net.ctas[0].media().installed.len(),
        net.ctas[1].media().installed.len(),
    );
    assert_eq!(now, installs);
    assert_eq!(
        tapped_events(&net),
        [
            (line_name(1, 0), true),
            (line_name(0, 0), true),
            (line_name(1, 0), false),
            (line_name(0, 0), false),
        ]
    );
    assert!(!net.ctrl.clear_intercept(net.now, &number(1, 0)));
}

#[test]
fn a_task_set_during_escrow_goes_in_the_crcx() {
    let mut net = booted();
    net.escrow = EscrowMode::Manual;
    net.terminal(0, 0, TerminalEvent::OffHook);
    net.dial(0, 0, &number(1, 0));
    let (call, _) = net.escrow_queue.pop_front().unwrap();
    let sent = net.sent_by_ctrl;
    net.ctrl.set_intercept(net.now, &number(0, 0), task());
    net.flush();
    assert_eq!(
        net.sent_by_ctrl, sent,
        "no connection yet, nothing to modify"
    );
    net.confirm(&call, true);
    net.flush();
    net.terminal(1, 0, TerminalEvent::OffHook);
    assert_eq!(taps(&net, 0), [expected(), expected()]);
    assert_eq!(taps(&net, 1), [expected(), expected()]);
}

#[test]
fn a_task_set_while_the_callers_crcx_is_in_flight_follows_by_mdcx() {
    let mut net = booted();
    net.terminal(0, 0, TerminalEvent::OffHook);
    net.blackhole = Some(cta_addr(0));
    net.dial(0, 0, &number(1, 0));
    // The callee's connection exists; the caller's CRCX is lost so far.
    net.ctrl.set_intercept(net.now, &number(0, 0), task());
    net.blackhole = None;
    net.advance(Duration::from_secs(2));
    net.terminal(1, 0, TerminalEvent::OffHook);
    assert_eq!(taps(&net, 0), [expected(), expected()]);
    assert_eq!(taps(&net, 1), [expected(), expected()]);
}

#[test]
fn an_unanswered_tap_is_reported_and_the_call_goes_on() {
    let mut net = booted();
    let call = connect(&mut net, 0, 1);
    net.blackhole = Some(cta_addr(1));
    net.ctrl.set_intercept(net.now, &number(0, 0), task());
    net.advance(Duration::from_secs(40));
    assert_eq!(net.ctrl.call_state(&call), Some(State::Connected));
    let failed: Vec<_> = net
        .events
        .iter()
        .filter_map(|e| match e {
            Event::TapFailed { endpoint, code, .. } => Some((endpoint.clone(), *code)),
            _ => None,
        })
        .collect();
    assert_eq!(failed, [(line_name(1, 0), None)]);
    assert_eq!(taps(&net, 0), [expected(), expected()]);
}
