//! Calls routed to POTS-gateway trunks by prefix, on a virtual clock: the
//! trunk gateway is the CTA core with the `ds/ds1-1` prefix (as in
//! `cablekey-pots-gateway`).

mod net;

use cablekey_cta_firmware::{Gateway, Signal, TerminalEvent};
use cablekey_gateway_controller::{Config, Kind};
use net::*;

const PSTN_NUMBER: &str = "915551234567";

/// Two CTAs (2 lines each) and, as the third gateway, two trunks with the
/// route `9`.
fn net_with_trunks() -> Net {
    let mut net = Net::new(2, Config::default(), 5);
    let mut cfg = cablekey_cta_firmware::Config::new("gw.example", CA, cta_addr(2).ip());
    cfg.endpoint_prefix = "ds/ds1-1".into();
    cfg.lines = 2;
    cfg.first_connection_id = 3 << 16;
    cfg.transaction.first_tid = cablekey_protocol::mgcp::TransactionId(3000);
    net.ctas
        .push(Gateway::new(cfg, Media::default(), Phone::default(), App));
    let reg = net.ctrl.registry_mut();
    for t in 1..=2 {
        reg.add(&format!("ds/ds1-1/{t}@gw.example"), Kind::Trunk, None, None)
            .unwrap();
    }
    reg.add_trunk_route("9", &["ds/ds1-1/1@gw.example", "ds/ds1-1/2@gw.example"])
        .unwrap();
    net.boot();
    net
}

#[test]
fn numbers_of_a_trunk_route_take_the_first_free_trunk_then_get_busy_tone() {
    let mut net = net_with_trunks();
    net.terminal(0, 0, TerminalEvent::OffHook);
    net.dial(0, 0, PSTN_NUMBER);
    assert!(net.playing(2, 0, Signal::Ringing), "trunk 1 alerted");
    net.terminal(1, 0, TerminalEvent::OffHook);
    net.dial(1, 0, PSTN_NUMBER);
    assert!(net.playing(2, 1, Signal::Ringing), "trunk 2 alerted");
    // Both trunks in calls: busy tone, no key made.
    let keys = net.key_fps.len();
    net.terminal(0, 1, TerminalEvent::OffHook);
    net.dial(0, 1, PSTN_NUMBER);
    assert!(net.playing(0, 1, Signal::Busy), "{:?}", net.refused());
    assert_eq!(net.key_fps.len(), keys);
    // The network answers on trunk 1: connected, one key at both ends.
    net.terminal(2, 0, TerminalEvent::OffHook);
    assert_eq!(net.connected(), 1);
    let on_trunks = net.keys_on(2);
    assert!(net.keys_on(0).iter().all(|k| on_trunks.contains(k)));
    assert_eq!(net.keys_on(0).len(), 1);
}

#[test]
fn a_call_from_a_trunk_reaches_a_line() {
    let mut net = net_with_trunks();
    // Seizure, proceed-to-send (dial tone), the number outpulsed.
    net.terminal(2, 1, TerminalEvent::OffHook);
    assert!(net.playing(2, 1, Signal::DialTone));
    net.dial(2, 1, &number(1, 0));
    assert!(net.playing(1, 0, Signal::Ringing));
    net.terminal(1, 0, TerminalEvent::OffHook);
    assert_eq!(net.connected(), 1);
    let (_, fp) = net.only_key();
    assert_eq!(net.keys_on(2), [fp]);
    assert_eq!(net.keys_on(1), [fp]);
}
