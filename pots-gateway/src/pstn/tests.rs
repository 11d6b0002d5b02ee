use super::*;
use cablekey_cta_firmware::signal::SignalSet;

fn view(hook: Hook, signals: &[Signal], connections: usize) -> LineView {
    let mut playing = SignalSet::default();
    for s in signals {
        playing.insert(*s);
    }
    LineView {
        hook,
        playing,
        connections,
        connected: false,
    }
}

fn at(ms: u64) -> Instant {
    Instant::from_micros(ms * 1000)
}

fn idle() -> LineView {
    view(Hook::On, &[], 0)
}

fn events(p: &mut Pstn) -> Vec<PstnEvent> {
    core::iter::from_fn(|| p.poll_event()).collect()
}

#[test]
fn a_call_to_the_network_is_answered_after_the_delay_and_cleared_back() {
    let mut p = Pstn::new(Config::default(), 2);
    let mut out = Vec::new();
    let ringing = [view(Hook::On, &[Signal::Ringing], 1), idle()];
    p.step(at(0), &ringing, &mut out);
    assert!(out.is_empty());
    assert_eq!(p.poll_timeout(), Some(at(300)));
    p.step(at(299), &ringing, &mut out);
    assert!(out.is_empty(), "not before the delay");
    p.step(at(300), &ringing, &mut out);
    assert_eq!(out, [(0, TerminalEvent::OffHook)]);
    out.clear();
    let talking = [view(Hook::Off, &[], 1), idle()];
    p.step(at(310), &talking, &mut out);
    assert!(out.is_empty());
    // The call agent deleted the connection: the network releases.
    p.step(at(900), &[view(Hook::Off, &[], 0), idle()], &mut out);
    assert_eq!(out, [(0, TerminalEvent::OnHook)]);
    assert_eq!(
        events(&mut p),
        [
            PstnEvent::Alerted { trunk: 0 },
            PstnEvent::Answered { trunk: 0 },
            PstnEvent::Through { trunk: 0 },
            PstnEvent::Released {
                trunk: 0,
                why: Release::ClearBack
            }
        ]
    );
}

#[test]
fn alerting_that_stops_before_the_answer_is_an_abandon() {
    let mut p = Pstn::new(Config::default(), 1);
    let mut out = Vec::new();
    p.step(at(0), &[view(Hook::On, &[Signal::Ringing], 1)], &mut out);
    p.step(at(100), &[idle()], &mut out);
    p.step(at(1000), &[idle()], &mut out);
    assert!(out.is_empty(), "never answered");
    assert_eq!(p.poll_timeout(), None);
    assert!(events(&mut p).contains(&PstnEvent::Released {
        trunk: 0,
        why: Release::Abandoned
    }));
}

#[test]
fn manual_answer_waits_to_be_told() {
    let config = Config {
        answer_after: None,
        ..Config::default()
    };
    let mut p = Pstn::new(config, 1);
    let mut out = Vec::new();
    let ringing = [view(Hook::On, &[Signal::Ringing], 1)];
    p.step(at(0), &ringing, &mut out);
    p.step(at(60_000), &ringing, &mut out);
    assert!(out.is_empty());
    assert_eq!(p.answer(1), Err(PstnError::NoSuchTrunk(1)));
    p.answer(0).unwrap();
    p.step(at(60_001), &ringing, &mut out);
    assert_eq!(out, [(0, TerminalEvent::OffHook)]);
}

#[test]
fn a_call_from_the_network_seizes_waits_for_proceed_to_send_then_outpulses() {
    let mut p = Pstn::new(Config::default(), 2);
    let mut out = Vec::new();
    // Trunk 1 is busy at the gateway (a connection): trunk 2 is taken.
    let lines = [view(Hook::On, &[], 1), idle()];
    assert_eq!(p.call("2001", &lines), Ok(1));
    p.step(at(0), &lines, &mut out);
    assert_eq!(out, [(1, TerminalEvent::OffHook)]);
    out.clear();
    let seized = [lines[0], view(Hook::Off, &[], 0)];
    p.step(at(10), &seized, &mut out);
    assert!(out.is_empty(), "no digits before proceed-to-send");
    p.step(
        at(20),
        &[lines[0], view(Hook::Off, &[Signal::DialTone], 0)],
        &mut out,
    );
    let digits: Vec<_> = "2001"
        .chars()
        .map(|c| (1, TerminalEvent::Digit(c)))
        .collect();
    assert_eq!(out, digits);
    out.clear();
    // Ring-back, then the connection with the key; then the network hangs up.
    p.step(
        at(30),
        &[lines[0], view(Hook::Off, &[Signal::RingBack], 1)],
        &mut out,
    );
    p.hang_up(1).unwrap();
    p.step(at(40), &[lines[0], view(Hook::Off, &[], 1)], &mut out);
    assert_eq!(out, [(1, TerminalEvent::OnHook)]);
    assert_eq!(
        events(&mut p),
        [
            PstnEvent::Seized { trunk: 1 },
            PstnEvent::Outpulsed { trunk: 1 },
            PstnEvent::Through { trunk: 1 },
            PstnEvent::Released {
                trunk: 1,
                why: Release::Network
            }
        ]
    );
}

#[test]
fn refusals_and_missing_proceed_release_the_trunk() {
    let mut p = Pstn::new(Config::default(), 1);
    let mut out = Vec::new();
    p.call("9", &[idle()]).unwrap();
    p.step(at(0), &[idle()], &mut out);
    let seized = [view(Hook::Off, &[], 0)];
    p.step(at(4_999), &seized, &mut out);
    assert_eq!(out.len(), 1);
    p.step(at(5_000), &seized, &mut out);
    assert_eq!(out[1], (0, TerminalEvent::OnHook));
    out.clear();
    p.call("2009", &[idle()]).unwrap();
    p.step(at(6_000), &[idle()], &mut out);
    p.step(
        at(6_001),
        &[view(Hook::Off, &[Signal::DialTone], 0)],
        &mut out,
    );
    out.clear();
    // The number is not in the dial plan: reorder tone.
    p.step(
        at(6_100),
        &[view(Hook::Off, &[Signal::Reorder], 0)],
        &mut out,
    );
    assert_eq!(out, [(0, TerminalEvent::OnHook)]);
    let why: Vec<_> = events(&mut p)
        .into_iter()
        .filter_map(|e| match e {
            PstnEvent::Released { why, .. } => Some(why),
            _ => None,
        })
        .collect();
    assert_eq!(why, [Release::NoProceed, Release::Refused]);
}

#[test]
fn bad_requests_are_refused_with_their_reason() {
    let mut p = Pstn::new(Config::default(), 1);
    assert_eq!(p.call("", &[idle()]), Err(PstnError::BadNumber));
    assert_eq!(p.call("12a", &[idle()]), Err(PstnError::BadNumber));
    assert_eq!(
        p.call(&"1".repeat(33), &[idle()]),
        Err(PstnError::BadNumber)
    );
    assert_eq!(
        p.call("2001", &[view(Hook::Off, &[], 0)]),
        Err(PstnError::AllTrunksBusy)
    );
    assert_eq!(p.call("2001", &[]), Err(PstnError::AllTrunksBusy));
    assert_eq!(p.hang_up(0), Err(PstnError::NotInCall(0)));
    assert_eq!(p.hang_up(7), Err(PstnError::NoSuchTrunk(7)));
    assert_eq!(p.answer(0), Err(PstnError::NotAlerted(0)));
}

#[test]
fn debug_shows_no_number() {
    let mut p = Pstn::new(Config::default(), 1);
    p.call("5551234", &[idle()]).unwrap();
    let text = format!("{p:?}");
    assert!(
        !text.contains("5551234") && text.contains("Seizing"),
        "{text}"
    );
}
