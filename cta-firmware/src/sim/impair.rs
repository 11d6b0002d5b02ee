//! A lossy path for tests and the lab: a seeded generator and a UDP proxy
//! that drops, duplicates and reorders datagrams between gateways and
//! their call agent.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::vec;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// What happens to datagrams, as shares from 0 to 1.
#[derive(Clone, Copy, Debug)]
pub struct Impairment {
    pub loss: f64,
    /// Sent twice.
    pub duplicate: f64,
    /// Held back and sent after the next datagram.
    pub reorder: f64,
    pub seed: u64,
}

impl Impairment {
    pub const NONE: Impairment = Impairment {
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        seed: 1,
    };
}

/// splitmix64: tiny, seeded, reproducible; not for keys.
pub struct Rng(pub u64);

impl Rng {
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What a proxy did, both directions together.
#[derive(Debug, Default)]
pub struct Tally {
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
    pub duplicated: AtomicU64,
    pub reordered: AtomicU64,
}

impl Tally {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Stands between one gateway and its call agent: the gateway sends to
/// [`Proxy::addr`], the call agent sees the proxy as the gateway.
pub struct Proxy {
    pub addr: SocketAddr,
    pub tally: Arc<Tally>,
    task: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(
        bind: SocketAddr,
        upstream: SocketAddr,
        imp: Impairment,
    ) -> io::Result<Proxy> {
        let sock = UdpSocket::bind(bind).await?;
        let addr = sock.local_addr()?;
        let tally = Arc::new(Tally::default());
        let t = tally.clone();
        let task = tokio::spawn(async move {
            let mut rng = Rng(imp.seed);
            let mut buf = vec![0u8; 65_536];
            let mut gateway: Option<SocketAddr> = None;
            let mut held: Option<(vec::Vec<u8>, SocketAddr)> = None;
            while let Ok((n, from)) = sock.recv_from(&mut buf).await {
                let to = if from == upstream {
                    match gateway {
                        Some(g) => g,
                        None => continue,
                    }
                } else {
                    gateway = Some(from);
                    upstream
                };
                let r = rng.uniform();
                if r < imp.loss {
                    t.dropped.fetch_add(1, Ordering::Relaxed);
                } else if r < imp.loss + imp.reorder && held.is_none() {
                    held = Some((buf[..n].to_vec(), to));
                    t.reordered.fetch_add(1, Ordering::Relaxed);
                    continue;
                } else {
                    let copies = if rng.uniform() < imp.duplicate { 2 } else { 1 };
                    for _ in 0..copies {
                        let _ = sock.send_to(&buf[..n], to).await;
                    }
                    t.forwarded.fetch_add(1, Ordering::Relaxed);
                    if copies == 2 {
                        t.duplicated.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if let Some((p, to)) = held.take() {
                    let _ = sock.send_to(&p, to).await;
                    t.forwarded.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ok(Proxy { addr, tally, task })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
