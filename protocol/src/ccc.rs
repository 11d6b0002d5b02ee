//! The call-content connection framing of lawful-intercept copies: what a
//! CTA sends its collector for each SRTP or SRTCP packet it sends.
//!
//! ```text
//! 0               4                              12
//! | CCCID (BE u32) | timestamp (NTP 64-bit, BE)  | the packet, unchanged ...
//! ```
//!
//! This is the PacketCable call-content connection as Wireshark's "PKT
//! CCC" dissector (`pkt_ccc`) reads it: the identifier is the `es-cci` the
//! call agent gave, the timestamp when the copy was made. The packet is
//! still encrypted: the collector decrypts it with the escrowed key.

/// Octets before the packet.
pub const HEADER: usize = 12;

/// Seconds from 1900 (NTP) to 1970 (Unix).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A copy that is too short to hold the header and a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooShort;

/// One received copy, borrowed from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentCopy<'a> {
    pub cci: u32,
    /// NTP timestamp: seconds since 1900 in the high 32 bits.
    pub ntp: u64,
    pub packet: &'a [u8],
}

impl<'a> ContentCopy<'a> {
    pub fn parse(datagram: &'a [u8]) -> Result<ContentCopy<'a>, TooShort> {
        let (head, packet) = datagram.split_at_checked(HEADER).ok_or(TooShort)?;
        if packet.is_empty() {
            return Err(TooShort);
        }
        let mut cci = [0u8; 4];
        cci.copy_from_slice(&head[..4]);
        let mut ntp = [0u8; 8];
        ntp.copy_from_slice(&head[4..]);
        Ok(ContentCopy {
            cci: u32::from_be_bytes(cci),
            ntp: u64::from_be_bytes(ntp),
            packet,
        })
    }

    /// The timestamp as Unix nanoseconds (0 before 1970).
    pub fn unix_nanos(&self) -> u64 {
        let secs = (self.ntp >> 32).saturating_sub(NTP_UNIX_OFFSET);
        let frac = ((self.ntp & 0xFFFF_FFFF) * 1_000_000_000) >> 32;
        secs.saturating_mul(1_000_000_000).saturating_add(frac)
    }
}

/// An NTP timestamp from Unix nanoseconds.
pub fn ntp_from_unix_nanos(nanos: u64) -> u64 {
    let secs = nanos / 1_000_000_000 + NTP_UNIX_OFFSET;
    let frac = ((nanos % 1_000_000_000) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// Writes the copy of `packet` into `out`; its length, or `None` if `out`
/// is too small.
pub fn write(cci: u32, ntp: u64, packet: &[u8], out: &mut [u8]) -> Option<usize> {
    let n = HEADER.checked_add(packet.len())?;
    let out = out.get_mut(..n)?;
    out[..4].copy_from_slice(&cci.to_be_bytes());
    out[4..HEADER].copy_from_slice(&ntp.to_be_bytes());
    out[HEADER..].copy_from_slice(packet);
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_the_packet_byte_for_byte() {
        let packet = [0x80, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let ntp = ntp_from_unix_nanos(1_700_000_000_250_000_000);
        let mut out = [0u8; 64];
        let n = write(0x00C0_FFEE, ntp, &packet, &mut out).unwrap();
        let c = ContentCopy::parse(&out[..n]).unwrap();
        assert_eq!(c.cci, 0x00C0_FFEE);
        assert_eq!(c.packet, packet);
        assert_eq!(c.unix_nanos() / 1_000_000, 1_700_000_000_250);
        assert_eq!(&out[..4], [0x00, 0xC0, 0xFF, 0xEE]);
        assert_eq!(write(1, ntp, &packet, &mut out[..20]), None);
    }

    #[test]
    fn short_datagrams_are_refused_not_read_past() {
        for n in 0..=HEADER {
            assert_eq!(ContentCopy::parse(&[0u8; 16][..n]), Err(TooShort));
        }
    }
}
