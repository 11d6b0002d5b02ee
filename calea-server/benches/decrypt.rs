//! Offline decryption of a one-hour two-way call: 360,000 SRTP packets
//! (20 ms G.711, AEAD_AES_128_GCM, 180,000 each way) in a pcap, with one
//! other call's packets interleaved so stream matching does real work.
//! Run: `cargo bench -p cablekey-calea-server --bench decrypt`.
//!
//! - `capture_to_delivery`: what `cablekey calea decrypt` does — read the
//!   pcap, match and decrypt, write the decrypted pcap, the stereo WAV,
//!   call records, report and manifest (hashing every file).
//! - `packets_only`: the per-packet path alone, on payloads in memory.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cablekey_calea_server::decrypt::{Decryptor, Outcome};
use cablekey_calea_server::keys::open_calls;
use cablekey_calea_server::net::{self, Link};
use cablekey_calea_server::offline::{decrypt_capture, Request};
use cablekey_calea_server::records::RecordStore;
use cablekey_calea_server::synth::{self, Call, End};
use cablekey_calea_server::warrant::{Mode, Warrant, WarrantBook};
use cablekey_protocol::escrow::{EpochPolicy, EpochSealer};
use cablekey_protocol::srtp::Suite;
use criterion::{criterion_group, criterion_main, Criterion};

const PACKETS_EACH_WAY: u32 = 180_000;
const T0: u64 = 1_790_000_000_000;

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
    key: PathBuf,
    pcap: PathBuf,
    packets: Vec<synth::Packet>,
}

fn end(number: &str, ip: &str, tone: f64, ssrc: u32) -> End {
    End {
        number: number.into(),
        media: ip.parse().unwrap(),
        tone,
        ssrc,
    }
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let (key, public) = (root.join("le.key"), root.join("le.pub"));
    cablekey_keyfile::generate_keypair(&key, &public).unwrap();
    let le = cablekey_keyfile::load_public_key(&public).unwrap();
    let mut sealer = EpochSealer::new(le, EpochPolicy::default());
    let data = root.join("calea-data");
    let store = RecordStore::open(&data).unwrap();
    let call = Call {
        call_id: "A3C47F21456789F0".into(),
        caller: end("5550001", "10.0.0.1:16384", 1000.0, 1),
        callee: end("5550002", "10.0.0.2:16386", 440.0, 2),
        start_unix_ms: T0,
        packets: PACKETS_EACH_WAY,
        suite: Suite::AeadAes128Gcm,
        first_seq: 1,
    };
    let other = Call {
        call_id: "B3C47F21456789F0".into(),
        caller: end("5550003", "10.0.0.3:16388", 300.0, 3),
        callee: end("5550004", "10.0.0.4:16390", 700.0, 4),
        packets: 500,
        ..call.clone()
    };
    let mut packets = Vec::new();
    for c in [&call, &other] {
        let k = synth::call_key().unwrap();
        let (epoch, record) = synth::escrow(&mut sealer, c, &k).unwrap();
        if let Some(e) = epoch {
            store.put_epoch(&e).unwrap();
        }
        store.put(&record).unwrap();
        packets.extend(synth::media(c, &k).unwrap());
    }
    packets.sort_by_key(|p| p.time);
    let pcap = root.join("hour.pcap");
    synth::write_pcap(&pcap, Link::Ethernet, &packets).unwrap();
    WarrantBook::load(&data)
        .unwrap()
        .add(Warrant {
            case_id: "BENCH".into(),
            target: "5550001".into(),
            start_unix_ms: T0 - 1000,
            end_unix_ms: T0 + 2 * 3_600_000,
            modes: vec![Mode::Historical],
            collector: "127.0.0.1:5000".parse().unwrap(),
            cci: None,
            revoked_unix_ms: None,
        })
        .unwrap();
    Setup {
        _dir: dir,
        root,
        data,
        key,
        pcap,
        packets,
    }
}

/// CPU time of this process so far, all threads (user + system, from
/// `/proc/self/stat`, 10 ms ticks): a figure the machine's load moves less
/// than wall-clock time.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
    let ticks: u64 = rest
        .split_ascii_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let sk = cablekey_keyfile::load_private_key(&s.key).unwrap();
    let mut g = c.benchmark_group("calea_decrypt_one_hour_call");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    let mut run = 0u32;
    g.bench_function("capture_to_delivery", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                run += 1;
                let out = s.root.join(format!("out-{run}"));
                let (t, cpu) = (Instant::now(), cpu_time());
                let summary = decrypt_capture(&Request {
                    data_dir: &s.data,
                    case_id: "BENCH",
                    capture: &s.pcap,
                    le_key: &sk,
                    out: out.clone(),
                })
                .unwrap();
                total += t.elapsed();
                let cpu = cpu_time().saturating_sub(cpu);
                assert_eq!(
                    summary.report.counts.rtp_decrypted,
                    u64::from(PACKETS_EACH_WAY) * 2
                );
                let p = summary.timings;
                eprintln!(
                    "phases: read+decrypt+pcap {:?}, wav {:?}, sync+hash+manifest {:?}; \
                     CPU (all threads) {:?}",
                    p.decrypt, p.audio, p.seal, cpu
                );
                std::fs::remove_dir_all(&out).unwrap();
            }
            total
        })
    });

    let store = RecordStore::open(&s.data).unwrap();
    let udp: Vec<(u64, std::net::SocketAddr, std::net::SocketAddr, Vec<u8>)> = s
        .packets
        .iter()
        .map(|p| {
            let u = net::udp(&p.ip).unwrap();
            (p.time.as_millis() as u64, u.src, u.dst, u.payload.to_vec())
        })
        .collect();
    g.bench_function("packets_only", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (records, _) = store.for_target("5550001", 0, u64::MAX).unwrap();
                let (calls, _) = open_calls(&sk, &store, records);
                let mut dec = Decryptor::new(calls);
                let mut bufs: Vec<Vec<u8>> = udp.iter().map(|u| u.3.clone()).collect();
                let t = Instant::now();
                let mut n = 0u64;
                for (u, buf) in udp.iter().zip(bufs.iter_mut()) {
                    n += u64::from(matches!(
                        dec.packet(u.0, u.1, u.2, buf),
                        Outcome::Rtp { .. }
                    ));
                }
                total += t.elapsed();
                assert_eq!(n, u64::from(PACKETS_EACH_WAY) * 2);
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
