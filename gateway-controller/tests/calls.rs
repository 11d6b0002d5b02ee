//! Whole calls between real CTA firmware cores through the controller core,
//! on a virtual clock.

mod net;

use std::time::Duration;

use cablekey_cta_firmware::{Role, Signal, TerminalEvent};
use cablekey_gateway_controller::{Config, Event};
use net::*;

fn booted(n: usize) -> Net {
    let mut net = Net::new(n, Config::default(), 7);
    net.boot();
    assert!(net
        .events
        .iter()
        .any(|e| matches!(e, Event::Registered { endpoints } if endpoints.len() == 2)));
    net
}

/// Line 0 of CTA `a` calls line 0 of CTA `b` until `b` rings.
fn ring(net: &mut Net, a: usize, b: usize) {
    net.terminal(a, 0, TerminalEvent::OffHook);
    assert!(net.playing(a, 0, Signal::DialTone), "dial tone");
    net.dial(a, 0, &number(b, 0));
    assert!(net.playing(b, 0, Signal::Ringing), "ringing");
    assert!(net.playing(a, 0, Signal::RingBack), "ringback");
}

#[test]
fn a_calls_b_both_get_the_escrowed_key_and_hang_up_wipes_it() {
    let mut net = booted(2);
    ring(&mut net, 0, 1);
    assert!(net.keys_on(1).is_empty(), "no media key before the answer");
    net.terminal(1, 0, TerminalEvent::OffHook);
    assert_eq!(net.connected(), 1);
    assert!(!net.playing(0, 0, Signal::RingBack) && !net.playing(1, 0, Signal::Ringing));

    let (call, fp) = net.only_key();
    assert_eq!(net.keys_on(0), [fp]);
    assert_eq!(net.keys_on(1), [fp]);
    assert_eq!(net.sides[&line_name(0, 0)], ["caller"]);
    assert_eq!(net.sides[&line_name(1, 0)], ["callee"]);
    // Each media controller knows its side, so it derives the right
    // per-direction keys from K.
    assert_eq!(net.roles_on(0), [(Role::Caller, call.clone())]);
    assert_eq!(net.roles_on(1), [(Role::Callee, call.clone())]);
    assert_eq!(
        net.ctrl.call_state(&call),
        Some(cablekey_gateway_controller::call::State::Connected)
    );

    net.terminal(0, 0, TerminalEvent::OnHook);
    net.settle();
    assert!(net.no_key_anywhere());
    assert_eq!(net.ended(), ["CallerHungUp"]);
    assert_eq!(net.ctas[1].connections().count(), 0);
    net.terminal(1, 0, TerminalEvent::OnHook);
    net.settle();
    assert_eq!(net.ctrl.calls(), 0);

    // Both lines are idle again: B can call A.
    ring(&mut net, 1, 0);
    net.terminal(0, 0, TerminalEvent::OffHook);
    assert_eq!(net.connected(), 2);
    assert_eq!(net.sides[&line_name(1, 0)], ["callee", "caller"]);
}

#[test]
fn callee_hang_up_ends_the_call_and_the_caller_is_parked() {
    let mut net = booted(2);
    ring(&mut net, 0, 1);
    net.terminal(1, 0, TerminalEvent::OffHook);
    net.terminal(1, 0, TerminalEvent::OnHook);
    net.settle();
    assert_eq!(net.ended(), ["CalleeHungUp"]);
    assert!(net.no_key_anywhere());
    net.terminal(0, 0, TerminalEvent::OnHook);
    net.settle();
    // A is idle: off hook gives dial tone again.
    net.terminal(0, 0, TerminalEvent::OffHook);
    assert!(net.playing(0, 0, Signal::DialTone));
}

#[test]
fn busy_line_gets_busy_tone_and_no_key() {
    let mut net = booted(3);
    ring(&mut net, 0, 1);
    net.terminal(1, 0, TerminalEvent::OffHook);
    net.terminal(2, 0, TerminalEvent::OffHook);
    net.dial(2, 0, &number(1, 0));
    assert!(net.playing(2, 0, Signal::Busy));
    assert_eq!(net.refused(), ["Busy"]);
    assert_eq!(net.keys.len(), 1, "no key made for the refused call");
    net.terminal(2, 0, TerminalEvent::OnHook);
    net.settle();
    assert!(!net.playing(2, 0, Signal::Busy));
}

#[test]
fn no_answer_stops_ringing_and_wipes_keys() {
    let mut net = booted(2);
    ring(&mut net, 0, 1);
    net.advance(Duration::from_secs(61));
    assert_eq!(net.ended(), ["NoAnswer"]);
    assert!(!net.playing(1, 0, Signal::Ringing));
    assert!(net.playing(0, 0, Signal::Reorder));
    assert!(net.no_key_anywhere());
    assert_eq!(
        net.ctas[0].connections().count() + net.ctas[1].connections().count(),
        0
    );
}

#[test]
fn abandoned_call_stops_ringing() {
    let mut net = booted(2);
    ring(&mut net, 0, 1);
    net.terminal(0, 0, TerminalEvent::OnHook);
    net.settle();
    assert_eq!(net.ended(), ["Abandoned"]);
    assert!(!net.playing(1, 0, Signal::Ringing));
    assert!(net.no_key_anywhere());
    assert_eq!(net.ctrl.calls(), 0);
}

#[test]
fn unknown_number_gets_reorder_and_no_key() {
    let mut net = booted(2);
    net.terminal(0, 0, TerminalEvent::OffHook);
    net.dial(0, 0, "7777");
    assert!(net.playing(0, 0, Signal::Reorder));
    assert_eq!(net.refused(), ["UnknownNumber"]);
    assert!(net.keys.is_empty());
}

#[test]
fn escrow_failure_refuses_the_call_and_no_key_is_sent() {
    let mut net = booted(2);
    net.escrow = EscrowMode::Fail;
    net.terminal(0, 0, TerminalEvent::OffHook);
    net.dial(0, 0, &number(1, 0));
    assert!(net.playing(0, 0, Signal::Reorder));
    assert!(!net.playing(1, 0, Signal::Ringing));
    assert_eq!(net.refused().len(), 1);
    assert!(
        net.refused()[0].starts_with("EscrowFailed"),
        "{:?}",
        net.refused()
    );
    assert!(net.sides.is_empty(), "no CRCX went out");
    assert!(net.no_key_anywhere());
    assert_eq!(net.ctrl.calls(), 0);
}

#[test]
fn escrow_that_never_answers_times_out_and_refuses() {
    let mut net = booted(2);
    net.escrow = EscrowMode::Manual;
    net.terminal(0, 0, TerminalEvent::OffHook);
    net.dial(0, 0, &number(1, 0));
    net.advance(Duration::from_secs(6));
    assert_eq!(net.refused(), ["EscrowTimedOut"]);
    // The late confirmation changes nothing and sends nothing with the key.
    let (call, _) = net.escrow_queue.pop_front().unwrap();
    net.confirm(&call, true);
    net.settle();
    assert!(net.sides.is_empty());
    assert!(net.no_key_anywhere());
}

#[test]
fn calls_complete_with_loss_and_duplication() {
    for seed in 1..=8 {
        lossy_calls(Net::new(4, Config::default(), seed), seed);
    }
}

#[test]
fn debug_of_events_shows_no_key_bytes() {
    let mut net = booted(2);
    ring(&mut net, 0, 1);
    let text = format!("{:?}", net.events);
    for b64 in net.keys.values() {
        assert!(!text.contains(b64.as_str()));
    }
    assert!(text.contains("fp:"));
    assert!(
        !text.contains(&number(1, 0)),
        "numbers are left out: {text}"
    );
}

#[test]
fn a_side_refusing_its_media_ends_the_call_cleanly() {
    let mut net = booted(2);
    // The caller's media controller refuses the context: its CRCX fails.
    net.ctas[0].media_mut().refuse = true;
    net.terminal(0, 0, TerminalEvent::OffHook);
    net.dial(0, 0, &number(1, 0));
    net.settle();
    assert!(!net.playing(1, 0, Signal::Ringing));
    assert_eq!(net.ended().len(), 1);
    assert!(net.ended()[0].starts_with("Error("), "{:?}", net.ended());
    assert!(net.playing(0, 0, Signal::Reorder));
    assert!(net.no_key_anywhere());
    assert_eq!(net.ctas[0].connections().count(), 0);
    assert_eq!(net.ctas[1].connections().count(), 0);
}

#[test]
fn unreachable_callee_is_refused_after_the_transaction_times_out() {
    let mut net = booted(2);
    net.blackhole = Some(cta_addr(1));
    net.terminal(0, 0, TerminalEvent::OffHook);
    net.dial(0, 0, &number(1, 0));
    net.advance(Duration::from_secs(30));
    assert_eq!(net.refused(), ["CalleeUnreachable"]);
    assert!(net.playing(0, 0, Signal::Reorder));
    assert!(net.no_key_anywhere());
    // The callee's connection is deleted again for a while in case the CRCX
    // arrives late; then the controller stops.
    net.blackhole = None;
    net.advance(Duration::from_secs(120));
    assert!(net.ctrl.poll_timeout().is_none_or(|t| t > net.now));
}

#[test]
fn abandon_while_escrowing_then_a_late_confirmation_sends_nothing() {
    let mut net = booted(2);
    net.escrow = EscrowMode::Manual;
    net.terminal(0, 0, TerminalEvent::OffHook);
    net.dial(0, 0, &number(1, 0));
    net.terminal(0, 0, TerminalEvent::OnHook);
    assert_eq!(net.ended(), ["Abandoned"]);
    let (call, meta) = net.escrow_queue.pop_front().unwrap();
    assert_eq!(meta.caller.endpoint, line_name(0, 0));
    assert_eq!(meta.callee.number.as_deref(), Some(number(1, 0).as_str()));
    net.confirm(&call, true);
    net.settle();
    assert!(net.sides.is_empty(), "no CRCX for a call that is gone");
    assert!(net.no_key_anywhere());
}

fn wire_index(net: &Net, starts: &str) -> usize {
    net.wire
        .iter()
        .position(|(_, _, p, _)| p.starts_with(starts.as_bytes()))
        .unwrap_or_else(|| panic!("no {starts} in flight"))
}

#[test]
fn callee_answering_before_the_caller_connection_exists_still_connects() {
    let mut net = booted(2);
    net.escrow = EscrowMode::Manual;
    net.terminal(0, 0, TerminalEvent::OffHook);
    net.dial(0, 0, &number(1, 0));
    let (call, _) = net.escrow_queue.pop_front().unwrap();
    net.confirm(&call, true);
    // The callee's CRCX arrives and it rings; it answers at once, and its
    // NTFY overtakes its CRCX response.
    let i = wire_index(&net, "CRCX");
    net.deliver_at(i, 1);
    assert!(net.playing(1, 0, Signal::Ringing));
    net.press(1, 0, TerminalEvent::OffHook);
    let i = wire_index(&net, "NTFY");
    net.deliver_at(i, 1);
    net.flush();
    assert_eq!(net.connected(), 1);
    let fp = net.key_fps[&call];
    assert_eq!(net.keys_on(0), [fp]);
    assert_eq!(net.keys_on(1), [fp]);
}

#[test]
fn at_the_call_limit_a_new_caller_gets_reorder() {
    let config = Config {
        max_calls: 1,
        ..Config::default()
    };
    let mut net = Net::new(3, config, 5);
    net.boot();
    ring(&mut net, 0, 1);
    net.terminal(2, 0, TerminalEvent::OffHook);
    assert!(net.playing(2, 0, Signal::Reorder));
    assert!(!net.playing(2, 0, Signal::DialTone));
    assert_eq!(net.refused(), ["Overloaded"]);
    assert_eq!(net.ctrl.calls(), 1);
}

#[test]
fn a_line_whose_cta_never_registered_is_unreachable() {
    let mut net = Net::new(2, Config::default(), 9);
    // Only CTA 0 starts.
    net.ctas[0].restart(net.now);
    net.settle();
    net.terminal(0, 0, TerminalEvent::OffHook);
    net.dial(0, 0, &number(1, 0));
    assert_eq!(net.refused(), ["CalleeUnreachable"]);
    assert!(net.keys.is_empty(), "no key made");
    assert!(net.playing(0, 0, Signal::Reorder));
}

#[test]
fn record_meta_becomes_the_escrow_stores_call_meta() {
    let mut net = booted(2);
    net.escrow = EscrowMode::Manual;
    net.terminal(0, 0, TerminalEvent::OffHook);
    net.dial(0, 0, &number(1, 0));
    let (call, meta) = net.escrow_queue.pop_front().unwrap();
    let m = meta.to_call_meta(1_700_000_000_000);
    assert_eq!(m.call_id, call);
    assert_eq!(m.caller.number, number(0, 0));
    assert_eq!(m.caller.endpoint, line_name(0, 0));
    assert_eq!(m.callee.number, number(1, 0));
    assert_eq!(m.callee.endpoint, line_name(1, 0));
    assert_eq!(m.suite, "AEAD_AES_128_GCM");
    assert_eq!(m.start_unix_ms, 1_700_000_000_000);
}

#[test]
fn a_restarted_controller_with_configured_addresses_serves_calls_without_rsip() {
    let mut net = booted(2);
    net.restart_controller();
    net.settle();
    ring(&mut net, 0, 1);
    net.terminal(1, 0, TerminalEvent::OffHook);
    assert_eq!(net.connected(), 1);
}

/// A retransmitted NTFY whose first copy was lost can arrive late (say, an
/// on-hook from the last call, already learned from a 402, while the line
/// rings for the next). It is answered, and an on-hook for a line known to
/// be on hook changes nothing.
#[test]
fn a_late_on_hook_for_a_line_known_on_hook_changes_nothing() {
    let mut net = booted(2);
    ring(&mut net, 0, 1);
    let call = net.key_fps.keys().next().unwrap().clone();
    let ringing = Some(cablekey_gateway_controller::call::State::Ringing);
    assert_eq!(net.ctrl.call_state(&call), ringing);
    // No `X:`: what is tested is the hook state, not the request's age.
    late_on_hook(&mut net, 1, 99001, None);
    assert_eq!(
        net.ctrl.call_state(&call),
        ringing,
        "the stale on-hook was ignored"
    );

    net.terminal(1, 0, TerminalEvent::OffHook);
    assert_eq!(
        net.connected(),
        1,
        "the current request's events still count"
    );
}

/// The caller hangs up just as the callee does: the DLCX carrying the
/// caller's park request meets a phone on hook and is refused whole (402),
/// and the caller's on-hook NTFY arrives first. The controller asks for
/// off-hook and deletes again, one command of ours at a time per endpoint
/// (a late retransmission of an older request could otherwise replace a
/// newer one at the gateway).
#[test]
fn a_dlcx_refused_for_the_hook_is_repeated_alone_then_the_line_idles() {
    let mut net = booted(2);
    ring(&mut net, 0, 1);
    net.terminal(1, 0, TerminalEvent::OffHook);
    assert_eq!(net.connected(), 1);
    let from_to = |net: &Net, from: std::net::SocketAddr, to: std::net::SocketAddr| {
        net.wire
            .iter()
            .position(|(f, t, _, _)| *f == from && *t == to)
            .expect("a datagram in flight")
    };
    net.press(1, 0, TerminalEvent::OnHook);
    let ntfy = from_to(&net, cta_addr(1), CA);
    net.deliver_at(ntfy, 1);
    net.press(0, 0, TerminalEvent::OnHook);
    let dlcx = from_to(&net, CA, cta_addr(0));
    assert!(net.wire[dlcx].2.starts_with(b"DLCX "));
    net.deliver_at(dlcx, 1);
    let on_hook = from_to(&net, cta_addr(0), CA);
    assert!(net.wire[on_hook].2.starts_with(b"NTFY "));
    net.deliver_at(on_hook, 1);
    let refusal = wire_index(&net, "402 ");
    net.deliver_at(refusal, 1);
    // Commands on their way to the caller (an answer may share their datagram).
    let to_caller: Vec<String> = net
        .wire
        .iter()
        .filter(|(from, to, _, _)| *from == CA && *to == cta_addr(0))
        .flat_map(|(_, _, p, _)| cablekey_protocol::mgcp::parse_datagram(p))
        .filter_map(|m| match m {
            Ok(cablekey_protocol::mgcp::Message::Command(c)) => Some(c.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(to_caller.len(), 1, "one command at a time: {to_caller:?}");
    net.settle();
    assert_eq!(net.ctrl.calls(), 0, "the call was released");
    assert!(net.no_key_anywhere());
    for cta in &net.ctas {
        assert_eq!(cta.connections().count(), 0, "the connections are gone");
    }
    ring(&mut net, 0, 1);
    net.terminal(1, 0, TerminalEvent::OffHook);
    assert_eq!(net.connected(), 2, "the next call connects");
}

/// A NTFY retransmitted late, under a request the line has since replaced
/// (here: an on-hook lost, then the hook resynchronised by 401/402 and a
/// new call dialing), reports the past: it is answered and ignored.
#[test]
fn a_notification_under_a_superseded_request_changes_nothing() {
    let mut net = booted(2);
    net.terminal(0, 0, TerminalEvent::OffHook);
    assert_eq!(net.ctrl.calls(), 1, "dialing");
    late_on_hook(&mut net, 0, 99002, Some("1"));
    assert_eq!(net.ctrl.calls(), 1, "the late on-hook ended nothing");
}

/// CTA `cta`'s line 1 reports an on-hook (NTFY `tid`, under request `x`
/// if given); the controller answers 200 and acts on it.
fn late_on_hook(net: &mut Net, cta: usize, tid: u32, x: Option<&str>) {
    let x = x.map_or(String::new(), |x| format!("X: {x}\r\n"));
    let ntfy = format!(
        "NTFY {tid} {} MGCP 1.0\r\n{x}O: L/hu\r\n",
        line_name(cta, 0)
    );
    let now = net.now;
    net.ctrl
        .handle_datagram(now, cta_addr(cta), ntfy.as_bytes());
    let answer = net.ctrl.poll_transmit().expect("the NTFY is answered");
    let ok = format!("200 {tid} ");
    assert!(answer.payload.starts_with(ok.as_bytes()), "{answer:?}");
    net.flush();
}
