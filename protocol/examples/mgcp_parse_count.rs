//! Parses a benchmark message N times, for instruction counts that do not
//! depend on machine load: run under callgrind with N and with 0, subtract,
//! divide by N.
//!
//! `cargo build --release -p cablekey-protocol --example mgcp_parse_count`
//! `valgrind --tool=callgrind target/release/examples/mgcp_parse_count crcx 10000`

use cablekey_protocol::mgcp;
use std::hint::black_box;

#[path = "../benches/support/mgcp_messages.rs"]
mod messages;

fn main() {
    let mut args = std::env::args().skip(1);
    let bytes = match args.next().as_deref() {
        Some("response") => messages::RESPONSE,
        _ => messages::CRCX,
    };
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let mut params = 0;
    for _ in 0..n {
        params += mgcp::parse(black_box(bytes)).map_or(0, |m| m.params().len());
    }
    black_box(params);
}
