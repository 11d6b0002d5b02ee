//! Checked RTP and RTCP header views: the few fields SRTP needs.
//!
//! Not `rtp-rs`: it needs `std`, and its reader validates the padding
//! length against the packet end, which in SRTP is ciphertext or a tag.

use super::SrtpError;

/// The fixed RTP header plus CSRCs and the header extension, checked once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub seq: u16,
    pub ssrc: u32,
    /// Bytes from the start of the packet to the payload (AAD for AEAD).
    pub len: usize,
}

impl RtpHeader {
    pub const MIN_LEN: usize = 12;

    /// Reads the header of `packet`; the header may end exactly at the end
    /// of `packet` (an empty payload).
    pub fn parse(packet: &[u8]) -> Result<RtpHeader, SrtpError> {
        let fixed = packet.get(..Self::MIN_LEN).ok_or(SrtpError::TooShort)?;
        if fixed[0] >> 6 != 2 {
            return Err(SrtpError::BadHeader);
        }
        let csrc_count = usize::from(fixed[0] & 0x0f);
        let mut len = Self::MIN_LEN + 4 * csrc_count;
        if fixed[0] & 0x10 != 0 {
            let ext = packet.get(len..len + 4).ok_or(SrtpError::BadHeader)?;
            let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
            len += 4 + 4 * words;
        }
        if len > packet.len() {
            return Err(SrtpError::BadHeader);
        }
        Ok(RtpHeader {
            seq: u16::from_be_bytes([fixed[2], fixed[3]]),
            ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
            len,
        })
    }
}

/// The first RTCP header of a compound packet and its sender SSRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpHeader {
    pub packet_type: u8,
    pub ssrc: u32,
}

impl RtcpHeader {
    /// The part of an RTCP packet that SRTCP never encrypts.
    pub const LEN: usize = 8;

    pub fn parse(packet: &[u8]) -> Result<RtcpHeader, SrtpError> {
        let fixed = packet.get(..Self::LEN).ok_or(SrtpError::TooShort)?;
        if fixed[0] >> 6 != 2 {
            return Err(SrtpError::BadHeader);
        }
        Ok(RtcpHeader {
            packet_type: fixed[1],
            ssrc: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_with_csrc_and_extension() {
        let mut p = [0u8; 12 + 8 + 4 + 8 + 3];
        p[0] = 0x92; // V=2, X, CC=2
        p[2..4].copy_from_slice(&0x1234u16.to_be_bytes());
        p[8..12].copy_from_slice(&0xdecafbadu32.to_be_bytes());
        p[22..24].copy_from_slice(&2u16.to_be_bytes());
        let h = RtpHeader::parse(&p).unwrap();
        assert_eq!((h.seq, h.ssrc, h.len), (0x1234, 0xdecafbad, 32));
        assert_eq!(RtpHeader::parse(&p[..31]), Err(SrtpError::BadHeader));
        assert_eq!(RtpHeader::parse(&p[..22]), Err(SrtpError::BadHeader));
        assert_eq!(RtpHeader::parse(&p[..11]), Err(SrtpError::TooShort));
        p[0] = 0x52;
        assert_eq!(RtpHeader::parse(&p), Err(SrtpError::BadHeader));
    }

    #[test]
    fn rtcp_header() {
        let p = [0x81, 0xc8, 0, 1, 0xca, 0xfe, 0xba, 0xbe];
        let h = RtcpHeader::parse(&p).unwrap();
        assert_eq!((h.packet_type, h.ssrc), (200, 0xcafebabe));
        assert_eq!(RtcpHeader::parse(&p[..7]), Err(SrtpError::TooShort));
    }
}
