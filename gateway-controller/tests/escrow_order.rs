//! The escrow invariant under random interleavings: datagrams delivered in
//! any order, lost or duplicated, escrow answers (success or failure) at
//! any moment, hooks and digits at any time, clock jumps. No datagram may
//! carry a key whose escrow was not confirmed (checked on every transmit
//! by the network in `net`). In derived-key mode the same holds for the
//! `x-key:derived` that stands for K, and a derived K never goes to the
//! caller whose session key made it.

mod net;

use std::time::Duration;

use cablekey_cta_firmware::TerminalEvent;
use cablekey_gateway_controller::{Cci, Config, Intercept, KeyMode};
use net::*;
use proptest::prelude::*;

const CTAS: usize = 3;

fn act(net: &mut Net, op: u8, a: u8, b: u8) {
    let cta = usize::from(a) % CTAS;
    let line = usize::from(a / 16) % 2;
    match op % 10 {
        0..=2 => {
            if !net.wire.is_empty() {
                let i = usize::from(b) % net.wire.len();
                // Mostly delivered once; sometimes lost or duplicated.
                let copies = match b % 8 {
                    0 => 0,
                    1 => 2,
                    _ => 1,
                };
                net.deliver_at(i, copies);
            }
        }
        3 => {
            if !net.escrow_queue.is_empty() {
                let i = usize::from(b) % net.escrow_queue.len();
                if let Some((call, _)) = net.escrow_queue.remove(i) {
                    net.confirm(&call, b % 3 != 0);
                }
            }
        }
        4 => net.press(cta, line, TerminalEvent::OffHook),
        5 => net.press(cta, line, TerminalEvent::OnHook),
        6 | 7 => {
            let to = usize::from(b) % CTAS;
            for d in number(to, usize::from(b / 128)).chars() {
                net.press(cta, line, TerminalEvent::Digit(d));
            }
        }
        8 => net.tick(Duration::from_millis(u64::from(b) * 40)),
        _ => net.flush(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn no_key_leaves_before_its_escrow_is_confirmed(
        seed in any::<u64>(),
        ops in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 0..300),
    ) {
        let net = run(seed, &ops);
        prop_assert_eq!(net.ctrl.calls(), 0);
        prop_assert!(net.no_key_anywhere());
    }

    /// The same with media anchored at a (fake) media gateway, which also
    /// never gets any key (checked on every transmit to it).
    #[test]
    fn no_key_leaves_early_or_reaches_the_media_gateway(
        seed in any::<u64>(),
        ops in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 0..300),
    ) {
        let config = Config { anchor: Some(anchor()), ..Config::default() };
        let net = run_with(config, seed, &ops);
        prop_assert_eq!(net.ctrl.calls(), 0);
        prop_assert!(net.no_key_anywhere());
    }

    /// Derived keys: CTAs 0 and 1 share a session key with the controller,
    /// CTA 2 does not (its calls are refused, or its CTA would refuse 532).
    #[test]
    fn no_derived_key_or_marker_leaves_before_its_escrow_is_confirmed(
        seed in any::<u64>(),
        ops in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 0..300),
    ) {
        let net = run_derived(seed, &ops);
        prop_assert_eq!(net.ctrl.calls(), 0);
        prop_assert!(net.no_key_anywhere());
    }
}

fn derived() -> Config {
    Config {
        key_mode: KeyMode::Derived,
        ..Config::default()
    }
}

fn run_derived(seed: u64, ops: &[(u8, u8, u8)]) -> Net {
    run_setup(derived(), seed, ops, |net| net.provision_all(&[0, 1], seed))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// The same with intercept tasks set and cleared at any moment: the
    /// CRCX and tap MDCX that carry `es-ccd`/`es-cci` change nothing about
    /// when keys leave, and every connection is gone at the end.
    #[test]
    fn no_key_leaves_early_with_intercepts_set_and_cleared(
        seed in any::<u64>(),
        ops in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 0..300),
    ) {
        let net = run_tapped(seed, &ops);
        prop_assert_eq!(net.ctrl.calls(), 0);
        prop_assert!(net.no_key_anywhere());
    }
}

/// Ops from 240 up set (even `b`) or clear an intercept of a random line.
fn run_tapped(seed: u64, ops: &[(u8, u8, u8)]) -> Net {
    let mut net = Net::new(CTAS, Config::default(), seed);
    net.escrow = EscrowMode::Manual;
    net.boot();
    for &(op, a, b) in ops {
        if op >= 240 {
            let target = number(usize::from(a) % CTAS, usize::from(a / 16) % 2);
            if b % 2 == 0 {
                let collector = "10.0.9.9:5000".parse().unwrap();
                let tap = Intercept {
                    cci: Cci(u32::from(b)),
                    collector,
                };
                net.ctrl.set_intercept(net.now, &target, tap);
            } else {
                net.ctrl.clear_intercept(net.now, &target);
            }
        } else {
            act(&mut net, op, a, b);
        }
    }
    finish(&mut net);
    net
}

/// Runs one sequence and the same clean-up as the property.
fn run(seed: u64, ops: &[(u8, u8, u8)]) -> Net {
    run_with(Config::default(), seed, ops)
}

fn run_with(config: Config, seed: u64, ops: &[(u8, u8, u8)]) -> Net {
    run_setup(config, seed, ops, |_| {})
}

fn run_setup(config: Config, seed: u64, ops: &[(u8, u8, u8)], setup: impl Fn(&mut Net)) -> Net {
    let mut net = Net::new(CTAS, config, seed);
    setup(&mut net);
    net.escrow = EscrowMode::Manual;
    net.boot();
    for &(op, a, b) in ops {
        act(&mut net, op, a, b);
    }
    finish(&mut net);
    net
}

/// Answers the escrows left, lets every timer run, hangs up every line.
fn finish(net: &mut Net) {
    let left: Vec<_> = net.escrow_queue.drain(..).collect();
    for (i, (call, _)) in left.iter().enumerate() {
        net.confirm(call, i % 2 == 0);
    }
    net.advance(Duration::from_secs(120));
    for c in 0..CTAS {
        for l in 0..2 {
            net.press(c, l, TerminalEvent::OnHook);
        }
    }
    net.advance(Duration::from_secs(120));
}

// Regressions found by the property above.

#[test]
fn lost_notify_then_restart_of_a_ringing_callee() {
    // The CTAs gave up on lost NTFYs and re-registered (`RM: disconnected`,
    // connections kept) while a call rang: the connections must still go.
    let ops = [
        (194, 232, 0),
        (0, 0, 0),
        (144, 117, 0),
        (69, 0, 0),
        (0, 0, 0),
        (0, 0, 0),
        (215, 210, 0),
        (0, 0, 0),
        (0, 0, 0),
        (0, 0, 0),
        (188, 0, 38),
        (38, 0, 250),
        (48, 0, 212),
        (104, 17, 0),
        (206, 100, 54),
        (0, 0, 0),
        (49, 0, 0),
    ];
    let net = run(0, &ops);
    assert_eq!(net.ctrl.calls(), 0);
    assert!(net.no_key_anywhere());
}

#[test]
fn crcx_delivered_after_its_dlcx_is_deleted_again() {
    // The callee's CRCX outlived its transaction: the DLCX got 516, the
    // CRCX then made a connection with the key; the repeated DLCX removes it.
    let ops = [
        (254, 90, 0),
        (156, 213, 45),
        (49, 0, 0),
        (163, 0, 100),
        (68, 0, 76),
        (28, 0, 250),
        (198, 0, 121),
        (28, 0, 53),
        (8, 0, 5),
        (143, 0, 0),
        (108, 0, 10),
        (74, 16, 0),
        (110, 0, 25),
        (0, 0, 0),
        (0, 0, 0),
        (0, 0, 0),
    ];
    let net = run(0, &ops);
    assert!(net.no_key_anywhere());
}

/// 300 random operations, as the property draws them.
fn random_ops(seed: u64) -> Vec<(u8, u8, u8)> {
    let mut rng = Rng(seed);
    (0..300)
        .map(|_| (rng.next() as u8, rng.next() as u8, rng.next() as u8))
        .collect()
}

/// The property is not vacuous: the same kind of random runs do escrow
/// keys, send them after confirmation, and connect calls.
#[test]
fn random_runs_reach_keys_sent_and_calls_connected() {
    let (mut escrowed, mut sent, mut connected) = (0, 0, 0);
    for seed in 1..=100u64 {
        let ops = random_ops(seed);
        let net = run(seed, &ops);
        assert!(net.no_key_anywhere(), "seed {seed}");
        escrowed += net.keys.len();
        sent += net.sides.values().map(Vec::len).sum::<usize>();
        connected += net.connected();
    }
    eprintln!("escrowed {escrowed}, key sends {sent}, connected {connected}");
    assert!(
        escrowed > 50 && sent > 50 && connected > 5,
        "{escrowed} {sent} {connected}"
    );
}

/// Nor is the anchored one: calls get through the media gateway.
#[test]
fn anchored_random_runs_reach_the_gateway_and_connect() {
    let (mut sent, mut connected, mut mgw) = (0, 0, 0);
    for seed in 1..=50u64 {
        let ops = random_ops(seed);
        let config = Config {
            anchor: Some(anchor()),
            ..Config::default()
        };
        let net = run_with(config, seed, &ops);
        assert!(net.no_key_anywhere(), "seed {seed}");
        sent += net.sides.values().map(Vec::len).sum::<usize>();
        connected += net.connected();
        mgw += net.mgw.log.len();
    }
    eprintln!("key sends {sent}, connected {connected}, gateway commands {mgw}");
    assert!(
        sent > 20 && connected > 2 && mgw > 50,
        "{sent} {connected} {mgw}"
    );
}

/// Nor is the derived one: callers are sent the marker, callees K, and
/// calls connect.
#[test]
fn derived_random_runs_send_markers_and_connect() {
    let (mut markers, mut carried, mut connected) = (0, 0, 0);
    for seed in 1..=100u64 {
        let ops = random_ops(seed);
        let net = run_derived(seed, &ops);
        assert!(net.no_key_anywhere(), "seed {seed}");
        let items = net.key_items.values().flatten();
        let (m, k): (Vec<_>, Vec<_>) = items.partition(|i| *i == "derived");
        markers += m.len();
        carried += k.iter().filter(|i| **i == "k").count();
        connected += net.connected();
    }
    eprintln!("markers {markers}, keys carried {carried}, connected {connected}");
    assert!(
        markers > 20 && carried > 20 && connected > 2,
        "{markers} {carried} {connected}"
    );
}

#[test]
fn a_callee_off_hook_as_its_crcx_arrives_keeps_no_key() {
    // The called line went off hook as its CRCX arrived (401); the caller
    // gets busy tone and every retransmitted copy is answered from history.
    let ops = [
        (114, 90, 0),
        (56, 210, 79),
        (0, 0, 49),
        (69, 0, 0),
        (73, 0, 0),
        (214, 8, 0),
        (0, 0, 1),
        (226, 35, 108),
        (249, 0, 0),
        (143, 0, 1),
        (118, 0, 5),
        (134, 192, 0),
        (130, 0, 123),
        (158, 0, 156),
        (10, 0, 115),
        (130, 0, 77),
        (158, 0, 147),
        (10, 0, 122),
        (48, 0, 166),
        (105, 162, 0),
        (108, 0, 165),
        (138, 0, 116),
        (0, 0, 0),
    ];
    let net = run(0, &ops);
    assert!(net.no_key_anywhere());
}
