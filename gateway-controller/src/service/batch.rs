//! Batched UDP I/O: on Linux one `recvmmsg` takes the datagrams already
//! queued (up to [`BATCH`]) and one `sendmmsg` sends a turn's output, so
//! the per-datagram syscall cost is paid once per batch. Elsewhere the
//! same interface loops over single receives and sends. Used by the
//! controller's driver and by `cablekey bench load-gen`.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

use cablekey_protocol::mgcp::transaction::Transmit;
use tokio::net::UdpSocket;

/// Most datagrams taken or sent in one call.
pub const BATCH: usize = 64;
/// Fewest datagrams one receive asks for.
const MIN_BATCH: usize = 4;

/// Receive buffers for one batch, reused across turns.
///
/// Each receive asks for about twice as many datagrams as the last one
/// got (from [`MIN_BATCH`] to [`BATCH`]): its headers are made and zeroed
/// per call, which for 64 of them, when a socket mostly holds one or two
/// datagrams, cost more than the receive (measured in the load generator).
pub struct RecvBatch {
    bufs: Vec<Vec<u8>>,
    got: Vec<(usize, SocketAddr)>,
    size: usize,
    full: bool,
}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch::new()
    }
}

impl RecvBatch {
    pub fn new() -> RecvBatch {
        RecvBatch {
            bufs: (0..BATCH).map(|_| vec![0u8; 65_536]).collect(),
            got: Vec::with_capacity(BATCH),
            size: MIN_BATCH,
            full: false,
        }
    }

    /// The last receive took all it asked for: the socket may hold more.
    pub fn more(&self) -> bool {
        self.full
    }

    /// The datagrams of the last receive.
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.got
            .iter()
            .zip(&self.bufs)
            .map(|(&(n, from), buf)| (from, &buf[..n]))
    }

    /// Waits until the socket is readable, then takes up to [`BATCH`]
    /// datagrams without waiting again.
    pub async fn recv(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        loop {
            sock.readable().await?;
            match sock.try_io(tokio::io::Interest::READABLE, || self.recv_from(sock)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return r,
            }
        }
    }

    /// Takes up to [`BATCH`] datagrams queued on a non-blocking socket;
    /// `WouldBlock` if none. Returns how many were read; unless
    /// [`more`](Self::more), the socket is now empty. A datagram longer
    /// than 65,536 bytes is read and dropped.
    pub fn recv_from(&mut self, sock: &impl AsFd) -> io::Result<usize> {
        self.got.clear();
        let asked = self.size;
        let n = sys::recv(sock, &mut self.bufs[..asked], &mut self.got)?;
        self.full = n == asked;
        self.size = (2 * n).clamp(MIN_BATCH, BATCH);
        Ok(n)
    }
}

/// Sends a turn's output, [`BATCH`] datagrams per syscall; returns how
/// many went. `failed` hears of each that did not (the rest still go).
pub async fn send_all(
    sock: &UdpSocket,
    out: &[Transmit],
    mut failed: impl FnMut(&Transmit, io::Error),
) -> usize {
    let mut sent = 0;
    let mut rest = out;
    while let Some(first) = rest.first() {
        let chunk = &rest[..rest.len().min(BATCH)];
        match sock.try_io(tokio::io::Interest::WRITABLE, || sys::send(sock, chunk)) {
            Ok(n) => {
                sent += n;
                rest = &rest[n.max(1).min(rest.len())..];
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Err(e) = sock.writable().await {
                    failed(first, e);
                    rest = &rest[1..];
                }
            }
            Err(e) => {
                // Only the first datagram's own error is reported;
                // skip it and go on.
                failed(first, e);
                rest = &rest[1..];
            }
        }
    }
    sent
}

#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd"
))]
mod sys {
    use std::io;
    use std::io::{IoSlice, IoSliceMut};
    use std::net::SocketAddr;
    use std::os::fd::{AsFd, AsRawFd};

    use cablekey_protocol::mgcp::transaction::Transmit;
    use nix::sys::socket::{
        recvmmsg, sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage,
    };

    use super::BATCH;

    fn to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
        if let Some(v4) = a.as_sockaddr_in() {
            return Some(SocketAddr::V4((*v4).into()));
        }
        a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
    }

    /// One `recvmmsg`, non-blocking (`MultiHeaders` is not `Send`, so
    /// each call makes its own). Truncated datagrams and those
    /// from other address families are counted, not put in `got`.
    pub fn recv(
        sock: &impl AsFd,
        bufs: &mut [Vec<u8>],
        got: &mut Vec<(usize, SocketAddr)>,
    ) -> io::Result<usize> {
        let mut hdrs = MultiHeaders::<SockaddrStorage>::preallocate(bufs.len(), None);
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
            bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
        let res = recvmmsg(
            sock.as_fd().as_raw_fd(),
            &mut hdrs,
            iovs.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        )?;
        let mut n = 0;
        for m in res {
            n += 1;
            if m.flags.contains(MsgFlags::MSG_TRUNC) {
                continue;
            }
            if let Some(from) = m.address.as_ref().and_then(to_std) {
                got.push((m.bytes, from));
            }
        }
        Ok(n)
    }

    /// One `sendmmsg`, non-blocking: how many of `out` went (at least
    /// one), or the first one's error.
    pub fn send(sock: &impl AsFd, out: &[Transmit]) -> io::Result<usize> {
        let out = &out[..out.len().min(BATCH)];
        let mut hdrs = MultiHeaders::<SockaddrStorage>::preallocate(out.len(), None);
        let addrs: Vec<Option<SockaddrStorage>> = out
            .iter()
            .map(|t| Some(SockaddrStorage::from(t.to)))
            .collect();
        let iovs: Vec<[IoSlice<'_>; 1]> = out.iter().map(|t| [IoSlice::new(&t.payload)]).collect();
        let none: [ControlMessage<'_>; 0] = [];
        let res = sendmmsg(
            sock.as_fd().as_raw_fd(),
            &mut hdrs,
            &iovs,
            &addrs,
            none,
            MsgFlags::MSG_DONTWAIT,
        )?;
        Ok(res.count())
    }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd"
)))]
mod sys {
    use std::io;
    use std::net::{SocketAddr, UdpSocket};
    use std::os::fd::AsFd;

    use cablekey_protocol::mgcp::transaction::Transmit;

    /// The caller's socket, as a std one (a duplicate descriptor).
    fn std_socket(sock: &impl AsFd) -> io::Result<UdpSocket> {
        Ok(UdpSocket::from(sock.as_fd().try_clone_to_owned()?))
    }

    pub fn recv(
        sock: &impl AsFd,
        bufs: &mut [Vec<u8>],
        got: &mut Vec<(usize, SocketAddr)>,
    ) -> io::Result<usize> {
        let sock = std_socket(sock)?;
        for buf in bufs.iter_mut() {
            match sock.recv_from(buf) {
                Ok(r) => got.push(r),
                Err(e) if got.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        Ok(got.len())
    }

    pub fn send(sock: &impl AsFd, out: &[Transmit]) -> io::Result<usize> {
        let sock = std_socket(sock)?;
        let mut sent = 0;
        for t in out {
            match sock.send_to(&t.payload, t.to) {
                Ok(_) => sent += 1,
                Err(e) if sent == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(sent)
    }
}
