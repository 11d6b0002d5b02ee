//! Parse and serialize a typical CRCX with SDP and its 200 response.
//!
//! `cargo bench -p cablekey-protocol --bench mgcp`

use cablekey_protocol::mgcp;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

#[path = "support/mgcp_messages.rs"]
mod messages;
use messages::{CRCX, RESPONSE};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("mgcp");
    g.throughput(Throughput::Elements(1));
    for (name, bytes) in [("crcx_sdp", CRCX), ("response_200_sdp", RESPONSE)] {
        g.bench_with_input(BenchmarkId::new("parse", name), bytes, |b, bytes| {
            b.iter(|| mgcp::parse(black_box(bytes)).unwrap())
        });
        let msg = mgcp::parse(bytes).unwrap();
        g.bench_with_input(BenchmarkId::new("encode", name), &msg, |b, msg| {
            b.iter(|| black_box(msg).encode())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
