//! `SrtpContext`: one direction of one call's media under one master key.

use core::fmt;

use super::cipher::{Layer, SessionCipher};
use super::header::{RtcpHeader, RtpHeader};
use super::replay::{estimate_index, ReplayWindow};
use super::{SrtpError, Suite};

/// SSRCs one context tracks (a voice call uses one; spares for an SSRC
/// change mid-call or a second medium).
pub const MAX_STREAMS: usize = 4;
/// Longest MKI accepted.
pub const MAX_MKI: usize = 16;
/// Longest SRTP/SRTCP packet a context produces or accepts.
pub const MAX_PACKET: usize = 65_535;

/// Largest SRTCP index (31 bits).
const MAX_SRTCP_INDEX: u32 = 0x7fff_ffff;
/// E flag of the SRTCP trailer word.
const E_FLAG: u32 = 0x8000_0000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Sender,
    Receiver,
}

/// Per-SSRC state, read while a packet is checked and written only once
/// the packet is accepted.
#[derive(Debug, Clone, Copy, Default)]
struct Stream {
    ssrc: u32,
    /// ROC assumed before the first SRTP packet (0 unless joined late).
    first_roc: u32,
    /// SRTP indices sent or received.
    rtp: ReplayWindow,
    /// SRTCP indices received.
    rtcp: ReplayWindow,
    /// Next SRTCP index to send (starts at 1, as libsrtp).
    rtcp_next: u32,
}

impl Stream {
    fn new(ssrc: u32) -> Stream {
        Stream {
            ssrc,
            rtcp_next: 1,
            ..Stream::default()
        }
    }
}

/// SRTP and SRTCP for one direction of a call: session keys derived once
/// from a master key and salt, and the rollover counter, replay window and
/// SRTCP index of each SSRC seen.
///
/// A context either sends (`protect*`) or receives (`unprotect*`); the
/// first successful call fixes which. Every method works in place on the
/// caller's buffer and allocates nothing. A packet that is refused leaves
/// the context exactly as it was.
///
/// Receive order (RFC 3711 §3.3): length and header checks, index and
/// rollover estimate, read-only replay check, constant-time tag check,
/// decryption, and only then the replay window and rollover update.
pub struct SrtpContext {
    suite: Suite,
    rtp: SessionCipher,
    rtcp: SessionCipher,
    mki: [u8; MAX_MKI],
    mki_len: usize,
    role: Option<Role>,
    streams: [Stream; MAX_STREAMS],
    stream_count: usize,
}

impl fmt::Debug for SrtpContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpContext")
            .field("suite", &self.suite)
            .field("role", &self.role)
            .field("streams", &self.stream_count)
            .finish_non_exhaustive()
    }
}

/// Session keys given directly (RFC 7714 test vectors work on these).
pub struct SessionKeys<'a> {
    pub key: &'a [u8],
    pub salt: &'a [u8],
    /// HMAC-SHA1 key (20 bytes) for `AES_CM_128_HMAC_SHA1_80`; empty otherwise.
    pub auth: &'a [u8],
}

impl SrtpContext {
    /// Derives SRTP and SRTCP session keys from a master key and salt
    /// (RFC 3711 §4.3, key derivation rate 0).
    pub fn new(suite: Suite, master_key: &[u8], master_salt: &[u8]) -> Result<Self, SrtpError> {
        let rtp = SessionCipher::derive(suite, master_key, master_salt, Layer::Rtp)?;
        let rtcp = SessionCipher::derive(suite, master_key, master_salt, Layer::Rtcp)?;
        Ok(SrtpContext::with_ciphers(suite, rtp, rtcp))
    }

    /// Uses session keys as given, with no derivation step.
    pub fn from_session_keys(
        suite: Suite,
        rtp: SessionKeys<'_>,
        rtcp: SessionKeys<'_>,
    ) -> Result<Self, SrtpError> {
        let rtp = SessionCipher::from_session_keys(suite, rtp.key, rtp.salt, rtp.auth)?;
        let rtcp = SessionCipher::from_session_keys(suite, rtcp.key, rtcp.salt, rtcp.auth)?;
        Ok(SrtpContext::with_ciphers(suite, rtp, rtcp))
    }

    fn with_ciphers(suite: Suite, rtp: SessionCipher, rtcp: SessionCipher) -> Self {
        SrtpContext {
            suite,
            rtp,
            rtcp,
            mki: [0; MAX_MKI],
            mki_len: 0,
            role: None,
            streams: [Stream::default(); MAX_STREAMS],
            stream_count: 0,
        }
    }

    /// Sends, and expects, this master key identifier in every packet.
    pub fn with_mki(mut self, mki: &[u8]) -> Result<Self, SrtpError> {
        if mki.is_empty() || mki.len() > MAX_MKI {
            return Err(SrtpError::BadKeyLength);
        }
        self.mki[..mki.len()].copy_from_slice(mki);
        self.mki_len = mki.len();
        Ok(self)
    }

    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// Bytes `protect` adds to an RTP packet.
    pub fn rtp_overhead(&self) -> usize {
        self.suite.tag_len() + self.mki_len
    }

    /// Bytes `protect_rtcp` adds to an RTCP packet.
    pub fn rtcp_overhead(&self) -> usize {
        self.suite.tag_len() + self.mki_len + 4
    }

    /// Declares a stream that started before this context saw it: its ROC
    /// and, when sending, the next SRTCP index. Only for a new SSRC, so it
    /// can never make a sender reuse an index it already used.
    pub fn join_stream(
        &mut self,
        ssrc: u32,
        roc: u32,
        next_srtcp_index: u32,
    ) -> Result<(), SrtpError> {
        if self.find(ssrc).is_some() {
            return Err(SrtpError::StreamExists);
        }
        if next_srtcp_index > MAX_SRTCP_INDEX {
            return Err(SrtpError::KeyExhausted);
        }
        let mut stream = Stream::new(ssrc);
        stream.first_roc = roc;
        stream.rtcp_next = next_srtcp_index;
        let slot = self.slot_for(ssrc)?;
        *self.stream_mut(slot, ssrc) = stream;
        Ok(())
    }

    /// The ROC and highest sequence number of an SSRC, once it has a packet.
    pub fn rtp_position(&self, ssrc: u32) -> Option<(u32, u16)> {
        let s = &self.streams[self.find(ssrc)?];
        s.rtp
            .started()
            .then(|| ((s.rtp.top() >> 16) as u32, s.rtp.top() as u16))
    }

    /// Protects the RTP packet `buf[..len]` in place; `buf` needs
    /// [`rtp_overhead`](Self::rtp_overhead) spare bytes after it. Returns
    /// the SRTP packet's length.
    pub fn protect(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        self.check_role(Role::Sender)?;
        let packet = buf.get(..len).ok_or(SrtpError::BufferTooSmall)?;
        let header = RtpHeader::parse(packet)?;
        let tag_len = self.suite.tag_len();
        let out_len = len + tag_len + self.mki_len;
        if out_len > MAX_PACKET {
            return Err(SrtpError::TooLong);
        }
        if buf.len() < out_len {
            return Err(SrtpError::BufferTooSmall);
        }
        let slot = self.slot_for(header.ssrc)?;
        let stream = self.stream_at(slot, header.ssrc);
        let index = estimate_index(&stream.rtp, stream.first_roc, header.seq)?;
        stream
            .rtp
            .check(index)
            .map_err(|_| SrtpError::IndexReused)?;

        let (aad, rest) = buf[..out_len].split_at_mut(header.len);
        let (body, trailer) = rest.split_at_mut(len - header.len);
        let roc = ((index >> 16) as u32).to_be_bytes();
        let (tag, mki) = split_trailer(self.suite, trailer, tag_len);
        mki.copy_from_slice(&self.mki[..self.mki_len]);
        self.rtp.seal(header.ssrc, index, aad, body, &roc, tag)?;

        self.stream_mut(slot, header.ssrc).rtp.accept(index);
        self.role = Some(Role::Sender);
        Ok(out_len)
    }

    /// Checks and decrypts the SRTP packet `buf` in place. Returns the
    /// length of the RTP packet now at the start of `buf`.
    pub fn unprotect(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        self.check_role(Role::Receiver)?;
        let len = buf.len();
        if len > MAX_PACKET {
            return Err(SrtpError::TooLong);
        }
        let tag_len = self.suite.tag_len();
        let body_end = len
            .checked_sub(tag_len + self.mki_len)
            .filter(|&n| n >= RtpHeader::MIN_LEN)
            .ok_or(SrtpError::TooShort)?;
        let header = RtpHeader::parse(&buf[..body_end])?;
        let (rest, trailer) = buf.split_at_mut(body_end);
        let (tag, mki) = split_trailer(self.suite, trailer, tag_len);
        if mki[..] != self.mki[..self.mki_len] {
            return Err(SrtpError::UnknownMki);
        }
        let slot = self.slot_for(header.ssrc)?;
        let stream = self.stream_at(slot, header.ssrc);
        let index = estimate_index(&stream.rtp, stream.first_roc, header.seq)?;
        stream.rtp.check(index)?;

        let (aad, body) = rest.split_at_mut(header.len);
        let roc = ((index >> 16) as u32).to_be_bytes();
        self.rtp
            .open(header.ssrc, index, aad, body, &roc, tag, true)?;

        self.stream_mut(slot, header.ssrc).rtp.accept(index);
        self.role = Some(Role::Receiver);
        Ok(body_end)
    }

    /// Protects the (compound) RTCP packet `buf[..len]` in place with the
    /// E flag set; `buf` needs [`rtcp_overhead`](Self::rtcp_overhead)
    /// spare bytes. Returns the SRTCP packet's length.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        self.check_role(Role::Sender)?;
        let packet = buf.get(..len).ok_or(SrtpError::BufferTooSmall)?;
        let header = RtcpHeader::parse(packet)?;
        let tag_len = self.suite.tag_len();
        let out_len = len + 4 + tag_len + self.mki_len;
        if out_len > MAX_PACKET {
            return Err(SrtpError::TooLong);
        }
        if buf.len() < out_len {
            return Err(SrtpError::BufferTooSmall);
        }
        let slot = self.slot_for(header.ssrc)?;
        let index = self.stream_at(slot, header.ssrc).rtcp_next;
        if index > MAX_SRTCP_INDEX {
            return Err(SrtpError::KeyExhausted);
        }
        let word = (E_FLAG | index).to_be_bytes();

        let (head, rest) = buf[..out_len].split_at_mut(RtcpHeader::LEN);
        let (body, trailer) = rest.split_at_mut(len - RtcpHeader::LEN);
        let layout = rtcp_trailer(self.suite, trailer, tag_len);
        layout.word.copy_from_slice(&word);
        layout.mki.copy_from_slice(&self.mki[..self.mki_len]);
        if self.suite.is_aead() {
            let aad = aead_rtcp_aad(head, &word);
            self.rtcp
                .seal(header.ssrc, index.into(), &aad, body, &[], layout.tag)?;
        } else {
            self.rtcp
                .seal(header.ssrc, index.into(), head, body, &word, layout.tag)?;
        }

        self.stream_mut(slot, header.ssrc).rtcp_next = index + 1;
        self.role = Some(Role::Sender);
        Ok(out_len)
    }

    /// Checks and (if its E flag is set) decrypts the SRTCP packet `buf`
    /// in place. Returns the length of the RTCP packet now at its start.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        self.check_role(Role::Receiver)?;
        let len = buf.len();
        if len > MAX_PACKET {
            return Err(SrtpError::TooLong);
        }
        let tag_len = self.suite.tag_len();
        let body_end = len
            .checked_sub(4 + tag_len + self.mki_len)
            .filter(|&n| n >= RtcpHeader::LEN)
            .ok_or(SrtpError::TooShort)?;
        let header = RtcpHeader::parse(&buf[..body_end])?;
        let (rest, trailer) = buf.split_at_mut(body_end);
        let layout = rtcp_trailer(self.suite, trailer, tag_len);
        if layout.mki[..] != self.mki[..self.mki_len] {
            return Err(SrtpError::UnknownMki);
        }
        let word: [u8; 4] = (&*layout.word)
            .try_into()
            .map_err(|_| SrtpError::TooShort)?;
        let word_value = u32::from_be_bytes(word);
        let encrypted = word_value & E_FLAG != 0;
        let index = word_value & MAX_SRTCP_INDEX;
        let slot = self.slot_for(header.ssrc)?;
        self.stream_at(slot, header.ssrc).rtcp.check(index.into())?;

        let ssrc = header.ssrc;
        if !self.suite.is_aead() {
            let (head, body) =
                rest.split_at_mut(if encrypted { RtcpHeader::LEN } else { body_end });
            self.rtcp
                .open(ssrc, index.into(), head, body, &word, layout.tag, encrypted)?;
        } else if encrypted {
            let (head, body) = rest.split_at_mut(RtcpHeader::LEN);
            let aad = aead_rtcp_aad(head, &word);
            self.rtcp
                .open(ssrc, index.into(), &aad, body, &[], layout.tag, true)?;
        } else {
            // Tagged only (E = 0): the AAD is the whole packet then the
            // E|index word. Copy the tag out and write the word where the
            // tag began, so the AAD is one slice; put the tag back on failure.
            let tag: [u8; 16] = layout.tag.try_into().map_err(|_| SrtpError::TooShort)?;
            buf[body_end..body_end + 4].copy_from_slice(&word);
            let aad = &buf[..body_end + 4];
            let result = self
                .rtcp
                .open(ssrc, index.into(), aad, &mut [], &[], &tag, false);
            if result.is_err() {
                buf[body_end..body_end + 16].copy_from_slice(&tag);
            }
            result?;
        }

        self.stream_mut(slot, header.ssrc).rtcp.accept(index.into());
        self.role = Some(Role::Receiver);
        Ok(body_end)
    }

    fn check_role(&self, want: Role) -> Result<(), SrtpError> {
        match self.role {
            Some(role) if role != want => Err(SrtpError::WrongDirection),
            _ => Ok(()),
        }
    }

    fn find(&self, ssrc: u32) -> Option<usize> {
        self.streams[..self.stream_count]
            .iter()
            .position(|s| s.ssrc == ssrc)
    }

    /// Where `ssrc` lives or would live; does not claim the slot.
    fn slot_for(&self, ssrc: u32) -> Result<usize, SrtpError> {
        match self.find(ssrc) {
            Some(i) => Ok(i),
            None if self.stream_count < MAX_STREAMS => Ok(self.stream_count),
            None => Err(SrtpError::TooManyStreams),
        }
    }

    /// The state of `slot`, or a fresh one if `slot` is the next free.
    /// Read-only: nothing is claimed until the packet is accepted.
    fn stream_at(&self, slot: usize, ssrc: u32) -> Stream {
        if slot < self.stream_count {
            self.streams[slot]
        } else {
            Stream::new(ssrc)
        }
    }

    /// `slot` for writing, claiming it if it is the next free one.
    fn stream_mut(&mut self, slot: usize, ssrc: u32) -> &mut Stream {
        if slot == self.stream_count {
            self.streams[slot] = Stream::new(ssrc);
            self.stream_count += 1;
        }
        &mut self.streams[slot]
    }
}

/// SRTP trailer: HMAC suites put the MKI before the tag (RFC 3711 §3.1),
/// AEAD suites after it (RFC 7714 §8: the tag is part of the ciphertext).
fn split_trailer(suite: Suite, trailer: &mut [u8], tag_len: usize) -> (&mut [u8], &mut [u8]) {
    if suite.is_aead() {
        trailer.split_at_mut(tag_len)
    } else {
        let mki_len = trailer.len() - tag_len;
        let (mki, tag) = trailer.split_at_mut(mki_len);
        (tag, mki)
    }
}

struct RtcpTrailer<'a> {
    word: &'a mut [u8],
    mki: &'a mut [u8],
    tag: &'a mut [u8],
}

/// SRTCP trailer: `E|index, MKI, tag` for HMAC suites (RFC 3711 §3.4);
/// `tag, E|index, MKI` for AEAD suites (RFC 7714 §9, §17).
fn rtcp_trailer(suite: Suite, trailer: &mut [u8], tag_len: usize) -> RtcpTrailer<'_> {
    let mki_len = trailer.len() - tag_len - 4;
    if suite.is_aead() {
        let (tag, rest) = trailer.split_at_mut(tag_len);
        let (word, mki) = rest.split_at_mut(4);
        RtcpTrailer { word, mki, tag }
    } else {
        let (word, rest) = trailer.split_at_mut(4);
        let (mki, tag) = rest.split_at_mut(mki_len);
        RtcpTrailer { word, mki, tag }
    }
}

/// RFC 7714 §9.3: the AAD of an encrypted SRTCP packet is its first eight
/// octets then the E|index word.
fn aead_rtcp_aad(head: &[u8], word: &[u8; 4]) -> [u8; 12] {
    let mut aad = [0u8; 12];
    aad[..8].copy_from_slice(head);
    aad[8..].copy_from_slice(word);
    aad
}
