//! The simulator's media controller: real SRTP over UDP, one socket per
//! connection port, 20 ms G.711 µ-law frames each way.
//!
//! The core installs and wipes contexts synchronously; each port has a
//! tokio task that sends and receives while a session is installed in its
//! slot. Wiping takes the session out of the slot and drops it at once, so
//! its SRTP contexts are zeroized before `wipe` returns.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, SocketAddr};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use std::vec::Vec;

use cablekey_protocol::ccc;
use cablekey_protocol::mgcp::ConnectionMode;
use cablekey_protocol::secret::{Fingerprint, SecretBytes};
use cablekey_protocol::srtp::{derive, RtpHeader, SrtpContext, MAX_PACKET};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::audio::LineAudio;
use super::g711;
use super::jitter::{JitterBuffer, Playout, FRAME};
use crate::ports::{ConnId, MediaController, MediaError, MediaParams, MediaStats, Surveillance};

/// Frames held before playout (60 ms).
const JITTER_DEPTH: usize = 3;
const PTIME: Duration = Duration::from_millis(20);
const RTP_HEADER: usize = 12;
const PCMU: u8 = 0;

/// Locks, and carries on past a panicked holder: the data is plain state.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The lines' audio, shared by the console and the media tasks.
pub type Lines = Arc<[Mutex<LineAudio>]>;

/// What one installed connection holds. Dropping it wipes its keys.
struct Session {
    conn: ConnId,
    line: usize,
    /// Of the call key K, for the console; the key itself is not kept.
    fingerprint: Fingerprint,
    tx: SrtpContext,
    rx: SrtpContext,
    remote: SocketAddr,
    mode: ConnectionMode,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    jitter: JitterBuffer,
    stats: MediaStats,
    rejected: u64,
    /// Lawful intercept: where copies of what we send go, and their tag.
    tap: Option<Surveillance>,
    /// Copies sent (console, tests).
    copies: u64,
    _live: Live,
}

/// Counts sessions alive anywhere (tests check it falls to zero).
struct Live(Arc<AtomicUsize>);

impl Live {
    fn new(count: &Arc<AtomicUsize>) -> Live {
        count.fetch_add(1, Ordering::SeqCst);
        Live(count.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn sends(mode: ConnectionMode) -> bool {
    matches!(mode, ConnectionMode::SendRecv | ConnectionMode::SendOnly)
}

fn receives(mode: ConnectionMode) -> bool {
    matches!(mode, ConnectionMode::SendRecv | ConnectionMode::RecvOnly)
}

impl Session {
    /// Builds the next protected packet into `out`; returns its length.
    fn next_packet(&mut self, audio: &Mutex<LineAudio>, out: &mut [u8]) -> Option<usize> {
        let mut pcm = [0i16; FRAME];
        lock(audio).source.fill(&mut pcm);
        if !sends(self.mode) {
            return None;
        }
        let header = out.get_mut(..RTP_HEADER)?;
        header[0] = 0x80;
        header[1] = PCMU
            | if self.stats.packets_sent == 0 {
                0x80
            } else {
                0
            };
        header[2..4].copy_from_slice(&self.seq.to_be_bytes());
        header[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        header[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let body = out.get_mut(RTP_HEADER..RTP_HEADER + FRAME)?;
        for (b, s) in body.iter_mut().zip(pcm) {
            *b = g711::encode(s);
        }
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(FRAME as u32);
        let n = self.tx.protect(out, RTP_HEADER + FRAME).ok()?;
        self.stats.packets_sent += 1;
        self.stats.octets_sent += FRAME as u64;
        Some(n)
    }

    /// Frames the copy of a packet just protected for the collector, if
    /// this connection is intercepted (`docs/calea.md`, "Media copies").
    fn copy(&mut self, packet: &[u8], out: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let tap = self.tap?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let n = ccc::write(tap.cci, ccc::ntp_from_unix_nanos(nanos), packet, out)?;
        self.copies += 1;
        Some((n, tap.collector))
    }

    /// Plays one frame out of the jitter buffer into the line's recorder.
    fn play_out(&mut self, audio: &Mutex<LineAudio>) {
        if !receives(self.mode) {
            return;
        }
        let mut pcm = [0i16; FRAME];
        match self.jitter.pop() {
            Playout::Waiting => return,
            Playout::Frame(f) => {
                for (s, b) in pcm.iter_mut().zip(f) {
                    *s = g711::decode(*b);
                }
            }
            // Silence stands in for a lost frame.
            Playout::Lost => {}
        }
        if let Some((_, rec)) = lock(audio).recorder.as_mut() {
            rec.write(&pcm);
        }
    }

    /// Takes one datagram. Keep-alives (osmo-mgw sends a single 0x23),
    /// RTCP and anything else that is not our SRTP is dropped quietly.
    fn receive(&mut self, packet: &mut [u8]) {
        if packet.len() < RTP_HEADER || packet[0] >> 6 != 2 || (192..=223).contains(&packet[1]) {
            return;
        }
        if !receives(self.mode) {
            return;
        }
        let Ok(len) = self.rx.unprotect(packet) else {
            self.rejected += 1;
            return;
        };
        let Ok(header) = RtpHeader::parse(&packet[..len]) else {
            return;
        };
        let payload = &packet[header.len..len];
        self.stats.packets_received += 1;
        self.stats.octets_received += payload.len() as u64;
        if packet[1] & 0x7f != PCMU {
            return;
        }
        if let Ok(frame) = <&[u8; FRAME]>::try_from(payload) {
            self.jitter.push(header.seq, frame);
        }
    }
}

/// One RTP port: its socket's task and the session installed there.
struct Port {
    slot: Arc<Mutex<Option<Session>>>,
    task: JoinHandle<()>,
}

/// A connection as the console shows it.
#[derive(Clone, Debug)]
pub struct ConnView {
    pub conn: ConnId,
    pub fingerprint: Fingerprint,
    pub remote: SocketAddr,
    pub stats: MediaStats,
    pub rejected: u64,
    pub concealed: u64,
    /// Lawful-intercept copies sent to a collector.
    pub copies: u64,
}

pub struct SimMedia {
    ip: IpAddr,
    lines: Lines,
    ports: HashMap<u16, Port>,
    conns: HashMap<ConnId, u16>,
    live: Arc<AtomicUsize>,
    random: RandomState,
}

impl SimMedia {
    pub fn new(ip: IpAddr, lines: Lines) -> SimMedia {
        SimMedia {
            ip,
            lines,
            ports: HashMap::new(),
            conns: HashMap::new(),
            live: Arc::new(AtomicUsize::new(0)),
            random: RandomState::new(),
        }
    }

    /// Live SRTP sessions (each holds a send and a receive context).
    pub fn live(&self) -> Arc<AtomicUsize> {
        self.live.clone()
    }

    pub fn connections(&self) -> Vec<ConnView> {
        let mut out: Vec<ConnView> = self
            .conns
            .values()
            .filter_map(|port| {
                let slot = lock(&self.ports.get(port)?.slot);
                let s = slot.as_ref()?;
                Some(ConnView {
                    conn: s.conn,
                    fingerprint: s.fingerprint,
                    remote: s.remote,
                    stats: s.stats,
                    rejected: s.rejected,
                    concealed: s.jitter.concealed,
                    copies: s.copies,
                })
            })
            .collect();
        out.sort_by_key(|c| c.conn);
        out
    }

    fn port(&mut self, local_port: u16) -> Result<&Port, MediaError> {
        if !self.ports.contains_key(&local_port) {
            let std_sock = std::net::UdpSocket::bind((self.ip, local_port))
                .map_err(|_| MediaError::NoResources)?;
            std_sock
                .set_nonblocking(true)
                .map_err(|_| MediaError::NoResources)?;
            let sock = UdpSocket::from_std(std_sock).map_err(|_| MediaError::NoResources)?;
            let slot = Arc::new(Mutex::new(None));
            let task = tokio::spawn(run_port(sock, slot.clone(), self.lines.clone()));
            self.ports.insert(local_port, Port { slot, task });
        }
        self.ports.get(&local_port).ok_or(MediaError::NoResources)
    }
}

impl MediaController for SimMedia {
    fn install(
        &mut self,
        conn: ConnId,
        key: &SecretBytes,
        p: &MediaParams,
    ) -> Result<(), MediaError> {
        if p.line >= self.lines.len() {
            return Err(MediaError::NoResources);
        }
        let call = p.call.as_str().as_bytes();
        let context = |dir| {
            derive::master_key(key, call, p.suite, dir)
                .and_then(|m| m.context())
                .map_err(|_| MediaError::BadKey)
        };
        let (tx, rx) = (context(p.role.sends())?, context(p.role.receives())?);
        let random = self.random.hash_one((conn, p.local_port));
        let session = Session {
            conn,
            line: p.line,
            fingerprint: key.fingerprint(),
            tx,
            rx,
            remote: p.remote,
            mode: p.mode,
            ssrc: random as u32,
            seq: (random >> 32) as u16 & 0x7fff,
            timestamp: (random >> 16) as u32,
            jitter: JitterBuffer::new(JITTER_DEPTH),
            stats: MediaStats::default(),
            rejected: 0,
            tap: None,
            copies: 0,
            _live: Live::new(&self.live),
        };
        // A new key or address replaces the old session (its keys go with it).
        if let Some(old) = self.conns.insert(conn, p.local_port) {
            if old != p.local_port {
                if let Some(port) = self.ports.get(&old) {
                    lock(&port.slot).take();
                }
            }
        }
        let port = self.port(p.local_port)?;
        *lock(&port.slot) = Some(session);
        Ok(())
    }

    fn wipe(&mut self, conn: ConnId) {
        if let Some(port) = self.conns.remove(&conn).and_then(|p| self.ports.get(&p)) {
            lock(&port.slot).take();
        }
    }

    fn surveil(&mut self, conn: ConnId, surveillance: Option<Surveillance>) {
        let Some(port) = self.conns.get(&conn).and_then(|p| self.ports.get(p)) else {
            return;
        };
        if let Some(s) = lock(&port.slot).as_mut() {
            s.tap = surveillance;
        }
    }

    fn stats(&self, conn: ConnId) -> Option<MediaStats> {
        let port = self.ports.get(self.conns.get(&conn)?)?;
        let slot = lock(&port.slot);
        slot.as_ref().map(|s| s.stats)
    }
}

impl Drop for SimMedia {
    fn drop(&mut self) {
        for port in self.ports.values() {
            lock(&port.slot).take();
            port.task.abort();
        }
    }
}

/// Sends a frame every 20 ms and takes what arrives, while a session is
/// installed. Buffers live on this task's stack: nothing is allocated per packet.
async fn run_port(sock: UdpSocket, slot: Arc<Mutex<Option<Session>>>, lines: Lines) {
    let mut tick = tokio::time::interval(PTIME);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rx_buf = [0u8; MAX_PACKET];
    let mut tx_buf = [0u8; 256];
    let mut copy_buf = [0u8; 256 + ccc::HEADER];
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let send = {
                    let mut guard = lock(&slot);
                    let Some(s) = guard.as_mut() else { continue };
                    let audio = &lines[s.line];
                    s.play_out(audio);
                    s.next_packet(audio, &mut tx_buf).map(|n| (n, s.remote, s.copy(&tx_buf[..n], &mut copy_buf)))
                };
                if let Some((n, to, copy)) = send {
                    // Lost datagrams are part of life on UDP.
                    let _ = sock.send_to(&tx_buf[..n], to).await;
                    // The copy goes after the packet, so the packet is never held up for it.
                    if let Some((len, collector)) = copy {
                        let _ = sock.send_to(&copy_buf[..len], collector).await;
                    }
                }
            }
            r = sock.recv_from(&mut rx_buf) => {
                let Ok((n, _from)) = r else { continue };
                if let Some(s) = lock(&slot).as_mut() {
                    s.receive(&mut rx_buf[..n]);
                }
            }
        }
    }
}
