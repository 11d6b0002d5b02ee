//! A call's audio, one track per direction, placed on a common time line
//! and written as a stereo WAV (left = caller→callee, right =
//! callee→caller).
//!
//! Each packet's place is its RTP timestamp relative to the stream's first
//! packet, anchored at that packet's capture time, so jitter does not smear
//! the audio and both directions line up. A timestamp that strays more than
//! two seconds from the capture time (a restart, a jump) re-anchors the
//! stream. Gaps are silence; the payload bytes are kept as µ-law until the
//! file is written.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use cablekey_audio::{g711, wav};

use crate::deliver::{FileOut, Hashed};

/// G.711 µ-law (PCMU), the codec the CTAs speak.
pub const PT_PCMU: u8 = 0;
/// Samples per second.
const RATE: i64 = wav::RATE as i64;
/// Longest call written (24 h): bounds the WAV file whatever a capture's
/// timestamps say.
pub const MAX_SAMPLES: i64 = 24 * 3600 * RATE;
/// Largest drift of RTP time from capture time before re-anchoring.
const MAX_DRIFT: i64 = 2 * RATE;

#[derive(Debug, Default)]
struct Track {
    /// (position in samples, offset in `bytes`, length).
    frames: Vec<(i64, u32, u32)>,
    bytes: Vec<u8>,
    /// (capture position, extended RTP timestamp) of the anchor packet.
    anchor: Option<(i64, i64)>,
    /// Last RTP timestamp seen and its 64-bit extension.
    last_ts: u32,
    ext_ts: i64,
}

impl Track {
    fn push(&mut self, at: i64, ts: u32, payload: &[u8]) -> bool {
        // Extend the 32-bit timestamp across wraps (signed step).
        self.ext_ts += i64::from(ts.wrapping_sub(self.last_ts) as i32);
        self.last_ts = ts;
        let (anchor_at, anchor_ts) = match self.anchor {
            Some(a) if ((a.0 + self.ext_ts - a.1) - at).abs() <= MAX_DRIFT => a,
            _ => {
                let a = (at, self.ext_ts);
                self.anchor = Some(a);
                a
            }
        };
        let pos = anchor_at + self.ext_ts - anchor_ts;
        let (Ok(off), Ok(len)) = (
            u32::try_from(self.bytes.len()),
            u32::try_from(payload.len()),
        ) else {
            return false;
        };
        if !(0..MAX_SAMPLES).contains(&pos) {
            return false;
        }
        self.frames.push((pos, off, len));
        self.bytes.extend_from_slice(payload);
        true
    }

    fn end(&self) -> i64 {
        self.frames
            .iter()
            .map(|(p, _, l)| p + i64::from(*l))
            .max()
            .unwrap_or(0)
            .min(MAX_SAMPLES)
    }

    /// Fills `out` with the samples from position `from` on; frames must
    /// be sorted by position. `cursor` (start at 0) skips frames already
    /// past, so rendering a call chunk by chunk is linear. Where frames
    /// overlap, the later one wins; gaps are silence.
    fn render(&self, from: i64, out: &mut [i16], cursor: &mut usize) {
        out.fill(0);
        let to = from + out.len() as i64;
        while let Some(&(pos, _, len)) = self.frames.get(*cursor) {
            if pos + i64::from(len) > from {
                break;
            }
            *cursor += 1;
        }
        for &(pos, off, len) in self.frames.get(*cursor..).unwrap_or(&[]) {
            if pos >= to {
                break;
            }
            let (start, end) = (pos.max(from), (pos + i64::from(len)).min(to));
            // In range by construction (`start < end` within both); `get`
            // keeps a bad frame from ever panicking.
            let src = self
                .bytes
                .get(off as usize..(off + len) as usize)
                .and_then(|d| d.get((start - pos) as usize..(end - pos) as usize));
            let dst = out.get_mut((start - from) as usize..(end - from) as usize);
            if let (Some(src), Some(dst)) = (src, dst) {
                for (o, &b) in dst.iter_mut().zip(src) {
                    *o = g711::DECODE[usize::from(b)];
                }
            }
        }
    }
}

/// Both directions of one call.
#[derive(Debug, Default)]
pub struct CallAudio {
    /// Capture time (ns since 1970) of the call's first packet: sample 0.
    origin_ns: Option<u128>,
    tracks: [Track; 2],
    pub packets: [u64; 2],
    /// Packets not placed: another codec, or outside the 24 h bound.
    pub not_placed: u64,
}

impl CallAudio {
    /// Adds one decrypted RTP packet of direction `dir` (0 or 1).
    pub fn push(&mut self, dir: usize, time_ns: u128, rtp: &[u8]) {
        let Some(track) = self.tracks.get_mut(dir) else {
            return;
        };
        self.packets[dir] += 1;
        let origin = *self.origin_ns.get_or_insert(time_ns);
        let Some((pt, ts, payload)) = rtp_payload(rtp) else {
            self.not_placed += 1;
            return;
        };
        let at =
            i64::try_from(time_ns.saturating_sub(origin) * u128::from(wav::RATE) / 1_000_000_000)
                .unwrap_or(i64::MAX);
        if pt != PT_PCMU || !track.push(at, ts, payload) {
            self.not_placed += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.packets == [0, 0]
    }

    /// Writes the stereo WAV: the header first (the length is known), then
    /// the samples in large blocks, hashed as they are written. Returns the
    /// file (written, not synced) and its hash.
    pub fn write(&mut self, path: &Path) -> Result<(File, Hashed), String> {
        const CHUNK: usize = 1 << 16;
        let err = |e: std::io::Error| format!("{}: {e}", path.display());
        for t in &mut self.tracks {
            t.frames.sort_by_key(|f| f.0);
        }
        let len = self.tracks[0].end().max(self.tracks[1].end());
        let header = u64::try_from(len)
            .ok()
            .and_then(wav::stereo_header)
            .ok_or_else(|| format!("{}: too long for a WAV file", path.display()))?;
        let mut w = FileOut::create(path).map_err(|e| e.to_string())?;
        w.write_all(&header).map_err(err)?;
        let (mut l, mut r) = (vec![0i16; CHUNK], vec![0i16; CHUNK]);
        let mut block = Vec::with_capacity(CHUNK * 4);
        let mut cursors = [0usize; 2];
        let mut at = 0i64;
        while at < len {
            let n = usize::try_from(len - at).map_or(CHUNK, |left| left.min(CHUNK));
            self.tracks[0].render(at, &mut l[..n], &mut cursors[0]);
            self.tracks[1].render(at, &mut r[..n], &mut cursors[1]);
            block.clear();
            for (a, b) in l[..n].iter().zip(&r[..n]) {
                block.extend_from_slice(&a.to_le_bytes());
                block.extend_from_slice(&b.to_le_bytes());
            }
            w.write_all(&block).map_err(err)?;
            at += n as i64;
        }
        w.finish().map_err(err)
    }
}

/// Payload type, timestamp and payload (without padding) of an RTP packet.
fn rtp_payload(rtp: &[u8]) -> Option<(u8, u32, &[u8])> {
    let h = cablekey_protocol::srtp::RtpHeader::parse(rtp).ok()?;
    let pt = rtp.get(1)? & 0x7f;
    let ts = u32::from_be_bytes(rtp.get(4..8)?.try_into().ok()?);
    let mut payload = rtp.get(h.len..)?;
    if rtp[0] & 0x20 != 0 {
        let pad = usize::from(*payload.last()?);
        payload = payload.get(..payload.len().checked_sub(pad)?)?;
    }
    Some((pt, ts, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(ts: u32, fill: u8) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0];
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 1]);
        p.extend_from_slice(&[fill; 160]);
        p
    }

    #[test]
    fn tracks_line_up_and_gaps_are_silent() {
        let mut a = CallAudio::default();
        let ms = 1_000_000u128;
        a.push(0, 0, &rtp(1000, g711::encode(1000)));
        // The other direction starts 40 ms later with its own timestamps.
        a.push(1, 40 * ms, &rtp(7, g711::encode(-1000)));
        // One lost packet in the first direction, then one 40 ms later.
        a.push(0, 41 * ms, &rtp(1320, g711::encode(1000)));
        let path = std::env::temp_dir().join(format!("cablekey-track-{}.wav", std::process::id()));
        a.write(&path).unwrap();
        let (l, r) = wav::read_stereo(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(l.len(), 480);
        assert!(l[..160].iter().all(|&s| s > 900));
        assert!(l[160..320].iter().all(|&s| s == 0));
        assert!(r[..320].iter().all(|&s| s == 0) && r[320..].iter().all(|&s| s < -900));
    }
}
