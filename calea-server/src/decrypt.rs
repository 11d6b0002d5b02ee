//! The per-packet decryption path, shared by offline captures and (later)
//! the live collector: hand it each UDP payload with its addresses and
//! time, and it says which call and direction it was and decrypts it in
//! place.
//!
//! Streams are matched to calls by trial, not by port: the first packet of
//! a new stream (SSRC plus addresses) is tried under both directions' keys
//! of each candidate call (the case's calls whose time span covers the
//! packet), and the key whose AEAD tag or HMAC authenticates is kept for the
//! rest of the stream. A wrong key passes with probability 2^-80 at most.

use std::collections::HashMap;
use std::net::SocketAddr;

use cablekey_protocol::srtp::derive::Direction;
use cablekey_protocol::srtp::{RtpHeader, SrtpContext, SrtpError};

use crate::clock::UnixMs;
use crate::keys::{CallKeys, DIRECTIONS};

/// How far a packet may lie outside its call's recorded start and end
/// (clock differences between the controller and the capture, setup time).
pub const SLACK_MS: u64 = 5 * 60 * 1000;
/// Packets of a new stream tried before it is declared unmatched (a damaged
/// first packet must not lose the stream).
const MAX_TRIES: u32 = 16;
/// Packets per rollover of the 16-bit sequence number.
const ROLLOVER: u64 = 1 << 16;

/// What became of one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `buf[..len]` is now the plain RTP packet of `call` (index into the
    /// calls given to [`Decryptor::new`]).
    Rtp {
        call: usize,
        dir: Direction,
        len: usize,
    },
    /// `buf[..len]` is now the plain RTCP packet.
    Rtcp {
        call: usize,
        dir: Direction,
        len: usize,
    },
    /// Not RTP or RTCP (keep-alives, signaling, anything else): skipped.
    NotRtp,
    /// No candidate key opens this stream.
    NoKey,
    /// A copy of a packet already decrypted (a capture that saw it twice).
    Duplicate,
    /// The stream's key is known but this packet fails: damaged or forged.
    Rejected(SrtpError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    ssrc: u32,
    src: SocketAddr,
    dst: SocketAddr,
}

enum Flow {
    Matched {
        call: usize,
        dir: Direction,
        ctx: Box<SrtpContext>,
    },
    Trying {
        tries: u32,
    },
    NoKey,
}

/// A stream no candidate key opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unmatched {
    pub ssrc: u32,
    pub packets: u64,
}

/// Per-packet decryption for one case's calls.
pub struct Decryptor {
    calls: Vec<CallKeys>,
    flows: HashMap<FlowKey, Flow>,
    /// Packets seen per flow, for the report.
    counts: HashMap<FlowKey, u64>,
    /// Which flow an SSRC's SRTCP belongs to (RTCP comes from another port).
    by_ssrc: HashMap<u32, FlowKey>,
    scratch: Vec<u8>,
}

impl Decryptor {
    pub fn new(calls: Vec<CallKeys>) -> Decryptor {
        Decryptor {
            calls,
            flows: HashMap::new(),
            counts: HashMap::new(),
            by_ssrc: HashMap::new(),
            scratch: Vec::with_capacity(2048),
        }
    }

    pub fn calls(&self) -> &[CallKeys] {
        &self.calls
    }

    /// Adds calls whose records arrived after decryption began (the live
    /// collector): streams no key opened so far are tried again. Indexes
    /// of the calls already held do not change.
    pub fn add_calls(&mut self, calls: Vec<CallKeys>) {
        if calls.is_empty() {
            return;
        }
        self.calls.extend(calls);
        self.flows.retain(|_, f| matches!(f, Flow::Matched { .. }));
    }

    /// Decrypts one UDP payload in place. `time` is when it was captured.
    pub fn packet(
        &mut self,
        time: UnixMs,
        src: SocketAddr,
        dst: SocketAddr,
        buf: &mut [u8],
    ) -> Outcome {
        // RTP and RTCP are version 2; RTCP packet types 192..=223 (RFC 5761).
        let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
            return Outcome::NotRtp;
        };
        if b0 >> 6 != 2 {
            return Outcome::NotRtp;
        }
        if (192..=223).contains(&b1) {
            return self.rtcp(buf);
        }
        let Ok(header) = RtpHeader::parse(buf) else {
            return Outcome::NotRtp;
        };
        let key = FlowKey {
            ssrc: header.ssrc,
            src,
            dst,
        };
        *self.counts.entry(key).or_default() += 1;
        match self.flows.get_mut(&key) {
            Some(Flow::Matched { call, dir, ctx }) => match ctx.unprotect(buf) {
                Ok(len) => Outcome::Rtp {
                    call: *call,
                    dir: *dir,
                    len,
                },
                Err(SrtpError::Replayed) => Outcome::Duplicate,
                Err(e) => Outcome::Rejected(e),
            },
            Some(Flow::NoKey) => Outcome::NoKey,
            Some(Flow::Trying { tries }) if *tries >= MAX_TRIES => {
                self.flows.insert(key, Flow::NoKey);
                Outcome::NoKey
            }
            _ => self.try_keys(key, header.seq, time, buf),
        }
    }

    /// Tries every candidate call's keys on the first packets of a stream.
    fn try_keys(&mut self, key: FlowKey, seq: u16, time: UnixMs, buf: &mut [u8]) -> Outcome {
        for (i, call) in self.calls.iter().enumerate() {
            let meta = &call.record.meta;
            let end = call.record.ended_unix_ms.unwrap_or(UnixMs::MAX);
            if time.saturating_add(SLACK_MS) < meta.start_unix_ms
                || time > end.saturating_add(SLACK_MS)
            {
                continue;
            }
            for dir in DIRECTIONS {
                for roc in rollover_guesses(time.saturating_sub(meta.start_unix_ms), seq) {
                    let Ok(mut ctx) = call.key(dir).context() else {
                        continue;
                    };
                    if roc != 0 && ctx.join_stream(key.ssrc, roc, 0).is_err() {
                        continue;
                    }
                    self.scratch.clear();
                    self.scratch.extend_from_slice(buf);
                    if let Ok(len) = ctx.unprotect(&mut self.scratch) {
                        buf[..len].copy_from_slice(&self.scratch[..len]);
                        self.flows.insert(
                            key,
                            Flow::Matched {
                                call: i,
                                dir,
                                ctx: Box::new(ctx),
                            },
                        );
                        self.by_ssrc.insert(key.ssrc, key);
                        return Outcome::Rtp { call: i, dir, len };
                    }
                }
            }
        }
        let tries = match self.flows.get(&key) {
            Some(Flow::Trying { tries }) => tries + 1,
            _ => 1,
        };
        self.flows.insert(key, Flow::Trying { tries });
        Outcome::NoKey
    }

    fn rtcp(&mut self, buf: &mut [u8]) -> Outcome {
        let Some(ssrc) = buf
            .get(4..8)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        else {
            return Outcome::NotRtp;
        };
        let Some(flow) = self.by_ssrc.get(&ssrc).and_then(|k| self.flows.get_mut(k)) else {
            return Outcome::NoKey;
        };
        let Flow::Matched { call, dir, ctx } = flow else {
            return Outcome::NoKey;
        };
        match ctx.unprotect_rtcp(buf) {
            Ok(len) => Outcome::Rtcp {
                call: *call,
                dir: *dir,
                len,
            },
            Err(SrtpError::Replayed) => Outcome::Duplicate,
            Err(e) => Outcome::Rejected(e),
        }
    }

    /// Streams that no candidate key opened, most packets first.
    pub fn unmatched(&self) -> Vec<Unmatched> {
        let mut out: Vec<Unmatched> = self
            .flows
            .iter()
            .filter(|(_, f)| !matches!(f, Flow::Matched { .. }))
            .map(|(k, _)| Unmatched {
                ssrc: k.ssrc,
                packets: self.counts.get(k).copied().unwrap_or(0),
            })
            .collect();
        out.sort_by(|a, b| b.packets.cmp(&a.packets).then(a.ssrc.cmp(&b.ssrc)));
        out
    }
}

/// Rollover counters to try for a stream first seen `elapsed_ms` into its
/// call: 0, and near the count of 20 ms packets sent so far, so a capture
/// that starts more than 22 minutes into a call still opens.
fn rollover_guesses(elapsed_ms: u64, seq: u16) -> Vec<u32> {
    let mut out = vec![0u32];
    let sent = elapsed_ms / 20;
    if sent >= ROLLOVER / 2 {
        // The stream began at an unknown sequence number: the current
        // packet's index is about `sent` past it.
        let base = sent.saturating_sub(u64::from(seq)) / ROLLOVER;
        for roc in [base, base + 1] {
            let roc = u32::try_from(roc).unwrap_or(u32::MAX);
            if !out.contains(&roc) {
                out.push(roc);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollover_guesses_cover_the_true_one() {
        assert_eq!(rollover_guesses(1_000, 0), vec![0]);
        // 40 minutes in: 120,000 packets from a random first number.
        for first in [0u64, 30_000, 65_535] {
            let index = first + 120_000;
            let (roc, seq) = ((index >> 16) as u32, (index & 0xffff) as u16);
            assert!(
                rollover_guesses(120_000 * 20, seq).contains(&roc),
                "{first}"
            );
        }
    }
}
