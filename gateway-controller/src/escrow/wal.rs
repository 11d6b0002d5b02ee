//! The write-ahead log's frame format: the durable form of every escrow
//! write. A segment file is an 8-byte header then frames:
//!
//! `len (u32 BE, of kind+payload) | crc32 (u32 BE, of kind+payload) | kind (u8) | payload`
//!
//! Payloads are the protocol encodings of [`EpochRecord`] and
//! [`EscrowRecord`], so the log needs no format of its own for them.
//!
//! [`EpochRecord`]: cablekey_protocol::escrow::EpochRecord
//! [`EscrowRecord`]: cablekey_protocol::escrow::EscrowRecord

/// Segment header: name, then format version 1.
pub(crate) const HEADER: &[u8; 8] = b"CKWAL\0\0\x01";
const FRAME_HEAD: usize = 8;
/// Far above any record (a few hundred bytes); a larger length is damage.
pub(crate) const MAX_BODY: usize = 4096;

/// What a frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An epoch record.
    Epoch = 1,
    /// A new call record: stored and indexed.
    Record = 2,
    /// A call record rewritten (its end time): stored, indexes unchanged.
    Update = 3,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Epoch),
            2 => Some(Kind::Record),
            3 => Some(Kind::Update),
            _ => None,
        }
    }
}

/// Appends one frame to `buf`.
pub(crate) fn push(buf: &mut Vec<u8>, kind: Kind, payload: &[u8]) {
    let len = 1 + payload.len();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind as u8]);
    crc.update(payload);
    // Payloads are bounded by the record format, far below u32::MAX.
    buf.extend_from_slice(&(len as u32).to_be_bytes());
    buf.extend_from_slice(&crc.finalize().to_be_bytes());
    buf.push(kind as u8);
    buf.extend_from_slice(payload);
}

/// Why a segment cannot be read. Offsets are from the start of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error("bad segment header")]
    Header,
    #[error("damaged frame at byte {0} with valid data after it")]
    Damaged(u64),
    #[error("unknown frame kind at byte {0}")]
    Kind(u64),
}

/// A readable segment: its frames and where the valid part ends.
pub(crate) struct Scan<'a> {
    pub(crate) frames: Vec<(Kind, &'a [u8])>,
    /// Length of the valid prefix; shorter than the file if the tail is torn.
    pub(crate) valid: usize,
}

/// Reads a segment. A damaged frame is a torn tail (an unsynced write cut
/// by a crash) only in the `last` segment and only if nothing but zeros
/// follows its start, or its length runs past the end: then the frames
/// before it are returned and `valid` says where to truncate. Any other
/// damage is an error, never skipped: acknowledged records could be behind it.
pub(crate) fn scan(bytes: &[u8], last: bool) -> Result<Scan<'_>, LogError> {
    if bytes.len() < HEADER.len() {
        // A segment created just before a crash, its header unsynced.
        return if last && (HEADER.starts_with(bytes) || bytes.iter().all(|&b| b == 0)) {
            Ok(Scan {
                frames: Vec::new(),
                valid: 0,
            })
        } else {
            Err(LogError::Header)
        };
    }
    if &bytes[..HEADER.len()] != HEADER {
        return Err(LogError::Header);
    }
    let mut frames = Vec::new();
    let mut at = HEADER.len();
    while at < bytes.len() {
        match frame_at(bytes, at) {
            Ok((kind, payload, next)) => {
                let Some(kind) = Kind::from_u8(kind) else {
                    return Err(LogError::Kind(at as u64));
                };
                frames.push((kind, payload));
                at = next;
            }
            Err(past_end) => {
                let torn = past_end || bytes[at..].iter().all(|&b| b == 0);
                if last && torn {
                    return Ok(Scan { frames, valid: at });
                }
                return Err(LogError::Damaged(at as u64));
            }
        }
    }
    Ok(Scan { frames, valid: at })
}

/// The frame at `at`: `(kind, payload, next offset)`, or `Err(past_end)`
/// if it is damaged, with `past_end` when its length runs past the file.
fn frame_at(bytes: &[u8], at: usize) -> Result<(u8, &[u8], usize), bool> {
    let head = bytes.get(at..at + FRAME_HEAD).ok_or(true)?;
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if len == 0 || len > MAX_BODY {
        return Err(false);
    }
    let start = at + FRAME_HEAD;
    let body = bytes.get(start..start + len).ok_or(true)?;
    if crc32fast::hash(body) != crc {
        return Err(false);
    }
    Ok((body[0], &body[1..], start + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(payloads: &[&[u8]]) -> Vec<u8> {
        let mut buf = HEADER.to_vec();
        for p in payloads {
            push(&mut buf, Kind::Record, p);
        }
        buf
    }

    #[test]
    fn frames_round_trip() {
        let buf = segment(&[b"one", b"two"]);
        let s = scan(&buf, false).unwrap();
        assert_eq!(s.valid, buf.len());
        assert_eq!(
            s.frames,
            [(Kind::Record, &b"one"[..]), (Kind::Record, &b"two"[..])]
        );
    }

    #[test]
    fn every_cut_of_the_last_frame_is_a_torn_tail() {
        let full = segment(&[b"one", b"two"]);
        let first_end = segment(&[b"one"]).len();
        for cut in first_end + 1..full.len() {
            let s = scan(&full[..cut], true).unwrap();
            assert_eq!((s.frames.len(), s.valid), (1, first_end), "cut at {cut}");
            assert_eq!(
                scan(&full[..cut], false).err(),
                Some(LogError::Damaged(first_end as u64))
            );
        }
        // Zeros after the last good frame (size updated, data not written).
        let mut zeros = segment(&[b"one"]);
        zeros.resize(first_end + 100, 0);
        assert_eq!(scan(&zeros, true).unwrap().valid, first_end);
    }

    #[test]
    fn damage_in_the_middle_is_an_error() {
        let mut buf = segment(&[b"one", b"two", b"three"]);
        let at = HEADER.len() + FRAME_HEAD + 1; // a payload byte of "one"
        buf[at] ^= 1;
        assert_eq!(
            scan(&buf, true).err(),
            Some(LogError::Damaged(HEADER.len() as u64))
        );
        // The last frame's checksum wrong but data after it: also an error.
        let mut buf = segment(&[b"one", b"two"]);
        let n = buf.len();
        buf[n - 1] ^= 1;
        buf.extend_from_slice(b"junk");
        assert!(scan(&buf, true).is_err());
    }

    #[test]
    fn headers() {
        assert_eq!(scan(b"", true).unwrap().valid, 0);
        assert_eq!(scan(&HEADER[..3], true).unwrap().valid, 0);
        assert_eq!(scan(b"", false).err(), Some(LogError::Header));
        assert_eq!(scan(b"NOTAWAL!", true).err(), Some(LogError::Header));
        let mut buf = HEADER.to_vec();
        buf.extend_from_slice(&[0, 0, 0, 1]);
        buf.extend_from_slice(&crc32fast::hash(&[9]).to_be_bytes());
        buf.push(9);
        assert_eq!(scan(&buf, true).err(), Some(LogError::Kind(8)));
    }
}
