//! SRTP protect/unprotect, ours next to the system libsrtp2, one core:
//! a 12-byte RTP header and a 160-byte G.711 payload (20 ms), replay
//! checking on. Run: `cargo bench -p cablekey-protocol --bench srtp`.
//!
//! Unprotect is timed in chunks: each chunk's packets are protected
//! untimed first, so every timed unprotect sees a fresh, in-order index
//! (the replay window does real work and never short-circuits).

use std::time::{Duration, Instant};

use cablekey_libsrtp_shim as libsrtp;
use cablekey_protocol::srtp::{SrtpContext, Suite};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const PAYLOAD: usize = 160;
const PACKET: usize = 12 + PAYLOAD;
const SSRC: u32 = 0x0bad_cafe;
const CHUNK: u64 = 2048;
/// Big enough for either library's trailer.
const ROOM: usize = PACKET + 160;

fn template() -> [u8; PACKET] {
    let mut p = [0x55u8; PACKET];
    p[0] = 0x80;
    p[1] = 0x00;
    p[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    p[8..12].copy_from_slice(&SSRC.to_be_bytes());
    p
}

/// What the benchmark needs from an SRTP implementation.
trait Srtp {
    fn protect(&mut self, buf: &mut [u8; ROOM], len: usize) -> usize;
    fn unprotect(&mut self, buf: &mut [u8]) -> usize;
}

impl Srtp for SrtpContext {
    fn protect(&mut self, buf: &mut [u8; ROOM], len: usize) -> usize {
        SrtpContext::protect(self, buf, len).unwrap()
    }
    fn unprotect(&mut self, buf: &mut [u8]) -> usize {
        SrtpContext::unprotect(self, buf).unwrap()
    }
}

impl Srtp for libsrtp::Session {
    fn protect(&mut self, buf: &mut [u8; ROOM], len: usize) -> usize {
        libsrtp::Session::protect(self, buf, len).unwrap()
    }
    fn unprotect(&mut self, buf: &mut [u8]) -> usize {
        libsrtp::Session::unprotect(self, buf).unwrap()
    }
}

/// Protects the next packet of the stream into `buf`.
fn next_packet<S: Srtp>(tx: &mut S, seq: &mut u16, buf: &mut [u8; ROOM]) -> usize {
    buf[..PACKET].copy_from_slice(&template());
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    *seq = seq.wrapping_add(1);
    tx.protect(buf, PACKET)
}

fn bench_pair<S: Srtp>(c: &mut Criterion, name: &str, mut make: impl FnMut(bool) -> S) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));

    let mut tx = make(true);
    let mut seq = 0u16;
    let mut buf = [0u8; ROOM];
    group.bench_function("protect", |b| {
        b.iter(|| next_packet(&mut tx, &mut seq, &mut buf));
    });

    let mut tx = make(true);
    let mut rx = make(false);
    let mut seq = 0u16;
    let mut ring = vec![([0u8; ROOM], 0usize); CHUNK as usize];
    group.bench_function("unprotect", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(CHUNK) as usize;
                for (p, len) in ring[..n].iter_mut() {
                    *len = next_packet(&mut tx, &mut seq, p);
                }
                let start = Instant::now();
                for (p, len) in ring[..n].iter_mut() {
                    std::hint::black_box(rx.unprotect(&mut p[..*len]));
                }
                spent += start.elapsed();
                left -= n as u64;
            }
            spent
        });
    });
    group.finish();
}

fn master(suite: Suite) -> (Vec<u8>, Vec<u8>) {
    let key: Vec<u8> = (0..suite.master_key_len() as u8)
        .map(|i| i.wrapping_mul(37))
        .collect();
    let salt: Vec<u8> = (0..suite.master_salt_len() as u8)
        .map(|i| i ^ 0xa5)
        .collect();
    (key, salt)
}

fn srtp(c: &mut Criterion) {
    eprintln!("libsrtp2: {}", libsrtp::version());
    let shared = [
        (Suite::AeadAes128Gcm, libsrtp::Suite::AeadAes128Gcm),
        (
            Suite::AesCm128HmacSha1_80,
            libsrtp::Suite::AesCm128HmacSha1_80,
        ),
        (Suite::AeadAes256Gcm, libsrtp::Suite::AeadAes256Gcm),
    ];
    for (suite, theirs) in shared {
        let (key, salt) = master(suite);
        bench_pair(c, &format!("srtp/{}/cablekey", suite.name()), |_| {
            SrtpContext::new(suite, &key, &salt).unwrap()
        });
        let both = [key.as_slice(), salt.as_slice()].concat();
        bench_pair(c, &format!("srtp/{}/libsrtp2", suite.name()), |out| {
            libsrtp::Session::new(theirs, out, &both).unwrap()
        });
    }
    let suite = Suite::AeadChaCha20Poly1305;
    let (key, salt) = master(suite);
    bench_pair(c, &format!("srtp/{}/cablekey", suite.name()), |_| {
        SrtpContext::new(suite, &key, &salt).unwrap()
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = srtp
}
criterion_main!(benches);
