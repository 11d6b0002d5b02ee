//! The call core driven with the real escrow store: the key both CTAs use
//! is the one the LE private key opens from the store.

mod net;

use cablekey_cta_firmware::{Signal, TerminalEvent};
use cablekey_gateway_controller::escrow::{unix_ms, Escrow, EscrowStore, Options, SledStore};
use cablekey_gateway_controller::{Config, EscrowFailure};
use cablekey_protocol::escrow::{open, EpochPolicy, LePrivateKey};
use cablekey_protocol::secret::SecretBytes;
use getrandom::rand_core::UnwrapErr;
use getrandom::SysRng;
use net::*;

#[tokio::test]
async fn the_key_both_ends_use_is_the_one_escrowed() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let sk = LePrivateKey::generate(&mut UnwrapErr(SysRng));
    let store = SledStore::open(dir.path(), Options::default()).unwrap();
    let escrow = Escrow::new(store, sk.public().clone(), EpochPolicy::default());

    let mut net = Net::new(2, Config::default(), 21);
    net.escrow = EscrowMode::Manual;
    net.boot();
    net.terminal(0, 0, TerminalEvent::OffHook);
    net.dial(0, 0, &number(1, 0));
    let (call, meta) = net.escrow_queue.pop_front().expect("an escrow request");
    assert!(
        net.sides.is_empty(),
        "nothing sent before the store answers"
    );

    // What a driver does with Event::Escrow.
    let key = SecretBytes::from_base64(&net.keys[&call]).unwrap();
    let result = escrow.escrow(meta.to_call_meta(unix_ms()), &key).await;
    let result = result.map(|_| ()).map_err(|e| EscrowFailure::from(&e));
    assert_eq!(result, Ok(()));
    net.confirm(&call, true);
    net.flush();
    assert!(net.playing(1, 0, Signal::Ringing));
    net.terminal(1, 0, TerminalEvent::OffHook);
    assert_eq!(net.connected(), 1);

    let rec = escrow.store().get(&call).await.unwrap().expect("stored");
    let epoch = escrow
        .store()
        .epoch(rec.sealed.epoch)
        .await
        .unwrap()
        .expect("epoch");
    let opened = open(&sk, &epoch, &rec).unwrap();
    assert_eq!(net.keys_on(0), [opened.fingerprint()]);
    assert_eq!(net.keys_on(1), [opened.fingerprint()]);
    assert_eq!(rec.meta.caller.endpoint, line_name(0, 0));
    assert_eq!(rec.meta.callee.number, number(1, 0));
}
