//! A restarted controller reaches endpoints it knows only from an RSIP to
//! the previous process: the gateway book beside the store gives it their
//! addresses, so it audits them at start without waiting for a new RSIP.
//! Loopback addresses of this test's own (127.0.5.0/24).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use cablekey_gateway_controller::escrow::keyfile;
use cablekey_gateway_controller::registry::Kind;
use cablekey_gateway_controller::service::{self, gateways, Settings};
use tokio::net::UdpSocket;

const CONTROLLER: &str = "127.0.5.1:2727";
const GATEWAY: &str = "127.0.5.2:2427";
const LINE: &str = "aaln/1@cta1.book";
const WAIT: Duration = Duration::from_secs(5);

fn settings(dir: &std::path::Path) -> Settings {
    let mut s = Settings::new(
        CONTROLLER.parse().unwrap(),
        dir.join("data"),
        dir.join("le-public.key"),
    );
    // Configured without an address: only an RSIP tells where it is.
    s.registry
        .add(LINE, Kind::Line, Some("2001"), None)
        .unwrap();
    s
}

/// The next command the controller sends to the gateway (answers a 200 to
/// each, as a CTA would), its first line.
async fn next_command(sock: &UdpSocket) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    let (n, from) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    let first = text.lines().next()?.to_string();
    let mut words = first.split(' ');
    let (verb, tid) = (words.next()?, words.next()?);
    if verb.len() == 4 && verb.chars().all(|c| c.is_ascii_uppercase()) {
        let ok = format!("200 {tid} OK\r\n");
        sock.send_to(ok.as_bytes(), from).await.ok()?;
    }
    Some(first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_controller_audits_endpoints_known_from_an_earlier_rsip() {
    let dir = common::scratch_dir("gateway_book");
    keyfile::generate_keypair(&dir.join("le-private.key"), &dir.join("le-public.key")).unwrap();
    let gw = UdpSocket::bind(GATEWAY).await.unwrap();
    let ctrl: SocketAddr = CONTROLLER.parse().unwrap();

    let first = service::start(settings(&dir), Duration::from_secs(1))
        .await
        .unwrap();
    gw.send_to(b"RSIP 1 aaln/*@cta1.book MGCP 1.0\r\nRM: restart\r\n", ctrl)
        .await
        .unwrap();
    let book = dir.join("data").join(gateways::FILE);
    let mut booked = false;
    for _ in 0..50 {
        let _ = tokio::time::timeout(Duration::from_millis(100), next_command(&gw)).await;
        let entries = gateways::load(&book).unwrap();
        if entries
            .iter()
            .any(|e| e.name == LINE && e.addr.to_string() == GATEWAY)
        {
            booked = true;
            break;
        }
    }
    assert!(booked, "the RSIP's address reached the gateway book");
    first.shutdown(Duration::from_secs(1)).await;
    // Whatever the old process still had on its way is read and dropped.
    while tokio::time::timeout(Duration::from_millis(200), next_command(&gw))
        .await
        .is_ok_and(|c| c.is_some())
    {}

    // A new process, the same configuration (still no address), no RSIP.
    let second = service::start(settings(&dir), Duration::from_secs(1))
        .await
        .unwrap();
    let audit = next_command(&gw).await;
    second.shutdown(Duration::from_secs(1)).await;
    let audit = audit.expect("the new controller sent the gateway a command");
    assert!(
        audit.starts_with("AUEP ") && audit.contains(LINE),
        "an audit of the line, got {audit:?}"
    );
}
