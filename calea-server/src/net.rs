//! UDP datagrams out of captured frames, and decrypted datagrams back into
//! IP packets: checked views, nothing indexed before its length is known.
//!
//! Link types: Ethernet (with up to two VLAN tags), Linux cooked capture
//! v1 (SLL) and v2 (SLL2), raw IP, BSD loopback. IPv4 (unfragmented) and
//! IPv6 (hop-by-hop, routing and destination options headers skipped).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Link-layer header types we read (libpcap `LINKTYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Ethernet,
    LinuxSll,
    LinuxSll2,
    /// Raw IPv4 or IPv6 (`RAW`, `IPV4`, `IPV6`).
    Raw,
    /// BSD loopback: a 4-byte address family (host order for `NULL`,
    /// big-endian for `LOOP`; both are accepted).
    Null,
}

/// Why a frame gave no UDP datagram. Not errors: a capture holds all sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    NotIp,
    NotUdp,
    /// An IP fragment (RTP fits one packet; reassembly is not done).
    Fragment,
    /// Cut short by the capture's snap length.
    Truncated,
    Malformed,
}

/// A UDP datagram inside a captured frame.
#[derive(Debug, Clone, Copy)]
pub struct Udp<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// The IP header (with IPv6 extension headers) and the UDP header.
    pub headers: &'a [u8],
    pub payload: &'a [u8],
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// The IP packet inside a frame of link type `link`.
pub fn ip_packet(link: Link, frame: &[u8]) -> Result<&[u8], Skip> {
    let (ethertype, start) = match link {
        Link::Raw => return Ok(frame),
        Link::Ethernet => {
            let mut at = 12;
            let mut ty = be16(frame, at).ok_or(Skip::Malformed)?;
            // 802.1Q / 802.1ad tags: at most two (QinQ).
            for _ in 0..2 {
                if matches!(ty, 0x8100 | 0x88a8 | 0x9100) {
                    at += 4;
                    ty = be16(frame, at).ok_or(Skip::Malformed)?;
                }
            }
            (ty, at + 2)
        }
        Link::LinuxSll => (be16(frame, 14).ok_or(Skip::Malformed)?, 16),
        Link::LinuxSll2 => (be16(frame, 0).ok_or(Skip::Malformed)?, 20),
        Link::Null => {
            let fam: [u8; 4] = frame
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or(Skip::Malformed)?;
            let (le, be) = (u32::from_le_bytes(fam), u32::from_be_bytes(fam));
            let ty = if le == 2 || be == 2 {
                ETHERTYPE_IPV4
            } else if [24, 28, 30].iter().any(|f| *f == le || *f == be) {
                ETHERTYPE_IPV6
            } else {
                return Err(Skip::NotIp);
            };
            (ty, 4)
        }
    };
    if ethertype != ETHERTYPE_IPV4 && ethertype != ETHERTYPE_IPV6 {
        return Err(Skip::NotIp);
    }
    frame.get(start..).ok_or(Skip::Malformed)
}

/// The UDP datagram in an IP packet.
pub fn udp(ip: &[u8]) -> Result<Udp<'_>, Skip> {
    let first = *ip.first().ok_or(Skip::Malformed)?;
    let (src, dst, udp_at, ip_end) = match first >> 4 {
        4 => ipv4(ip)?,
        6 => ipv6(ip)?,
        _ => return Err(Skip::NotIp),
    };
    let udp_len = usize::from(be16(ip, udp_at + 4).ok_or(Skip::Truncated)?);
    if udp_len < 8 || udp_at + udp_len > ip_end {
        return Err(Skip::Malformed);
    }
    let end = udp_at + udp_len;
    if end > ip.len() {
        return Err(Skip::Truncated);
    }
    let port = |at| be16(ip, at).ok_or(Skip::Truncated);
    Ok(Udp {
        src: SocketAddr::new(src, port(udp_at)?),
        dst: SocketAddr::new(dst, port(udp_at + 2)?),
        headers: &ip[..udp_at + 8],
        payload: &ip[udp_at + 8..end],
    })
}

/// `(src, dst, UDP offset, end of the IP packet)`.
fn ipv4(ip: &[u8]) -> Result<(IpAddr, IpAddr, usize, usize), Skip> {
    let h = ip.get(..20).ok_or(Skip::Truncated)?;
    let ihl = usize::from(h[0] & 0x0f) * 4;
    let total = usize::from(be16(h, 2).ok_or(Skip::Malformed)?);
    if ihl < 20 || total < ihl {
        return Err(Skip::Malformed);
    }
    let frag = be16(h, 6).ok_or(Skip::Malformed)?;
    if frag & 0x3fff != 0 {
        return Err(Skip::Fragment);
    }
    if h[9] != 17 {
        return Err(Skip::NotUdp);
    }
    if ip.len() < ihl + 8 {
        return Err(Skip::Truncated);
    }
    let addr = |at: usize| IpAddr::V4(Ipv4Addr::new(h[at], h[at + 1], h[at + 2], h[at + 3]));
    Ok((addr(12), addr(16), ihl, total))
}

fn ipv6(ip: &[u8]) -> Result<(IpAddr, IpAddr, usize, usize), Skip> {
    let h = ip.get(..40).ok_or(Skip::Truncated)?;
    let payload = usize::from(be16(h, 4).ok_or(Skip::Malformed)?);
    if payload == 0 {
        return Err(Skip::Malformed); // jumbogram
    }
    let mut next = h[6];
    let mut at = 40;
    // A few extension headers at most; each loop consumes at least 8 bytes.
    for _ in 0..8 {
        match next {
            17 => {
                if ip.len() < at + 8 {
                    return Err(Skip::Truncated);
                }
                let addr = |from: usize| {
                    let b: [u8; 16] = h[from..from + 16].try_into().unwrap_or([0; 16]);
                    IpAddr::V6(Ipv6Addr::from(b))
                };
                return Ok((addr(8), addr(24), at, 40 + payload));
            }
            0 | 43 | 60 => {
                let ext = ip.get(at..at + 2).ok_or(Skip::Truncated)?;
                next = ext[0];
                at += (usize::from(ext[1]) + 1) * 8;
            }
            44 => return Err(Skip::Fragment),
            _ => return Err(Skip::NotUdp),
        }
    }
    Err(Skip::Malformed)
}

/// The IP packet of `udp` with `payload` in place of its payload: lengths
/// and checksums (IPv4 header, UDP) recomputed, everything else kept.
pub fn rebuild(udp: &Udp<'_>, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(udp.headers);
    out.extend_from_slice(payload);
    let udp_at = udp.headers.len() - 8;
    let udp_len = 8 + payload.len();
    out[udp_at + 4..udp_at + 6].copy_from_slice(&(udp_len as u16).to_be_bytes());
    out[udp_at + 6..udp_at + 8].copy_from_slice(&[0, 0]);
    let mut sum: u32 = 0;
    match (udp.src.ip(), udp.dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = (udp_at + udp_len) as u16;
            out[2..4].copy_from_slice(&total.to_be_bytes());
            out[10..12].copy_from_slice(&[0, 0]);
            let ck = !fold(add_words(0, &out[..udp_at]));
            out[10..12].copy_from_slice(&ck.to_be_bytes());
            sum = add_words(sum, &s.octets());
            sum = add_words(sum, &d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let payload_len = (udp_at - 40 + udp_len) as u16;
            out[4..6].copy_from_slice(&payload_len.to_be_bytes());
            sum = add_words(sum, &s.octets());
            sum = add_words(sum, &d.octets());
        }
        _ => {}
    }
    sum += 17 + udp_len as u32;
    sum = add_words(sum, &out[udp_at..]);
    let ck = match !fold(sum) {
        0 => 0xffff,
        c => c,
    };
    out[udp_at + 6..udp_at + 8].copy_from_slice(&ck.to_be_bytes());
}

/// One's-complement sum of big-endian 16-bit words (odd byte padded).
fn add_words(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        sum = (sum & 0xffff) + (sum >> 16);
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// An IPv4 or IPv6 UDP packet (test captures and benches); `None` if the
/// two addresses are of different families.
pub fn build_udp(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    let mut headers = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = vec![0x60, 0, 0, 0, 0, 0, 17, 64];
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            h
        }
        _ => return None,
    };
    headers.extend_from_slice(&src.port().to_be_bytes());
    headers.extend_from_slice(&dst.port().to_be_bytes());
    headers.extend_from_slice(&[0, 8, 0, 0]);
    let view = Udp {
        src,
        dst,
        headers: &headers,
        payload: &[],
    };
    let mut out = Vec::new();
    rebuild(&view, payload, &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_parse_round_trip_v4_v6() {
        for (s, d) in [
            ("10.0.0.1:4000", "10.0.0.2:5000"),
            ("[2001:db8::1]:4000", "[2001:db8::2]:5000"),
        ] {
            let (s, d): (SocketAddr, SocketAddr) = (s.parse().unwrap(), d.parse().unwrap());
            let ip = build_udp(s, d, b"hello").unwrap();
            let u = udp(&ip).unwrap();
            assert_eq!((u.src, u.dst, u.payload), (s, d, &b"hello"[..]));
            // A valid checksum sums to all ones with the pseudo-header.
            let mut eth = vec![0u8; 12];
            eth.extend_from_slice(&if s.is_ipv4() { [8, 0] } else { [0x86, 0xdd] });
            eth.extend_from_slice(&ip);
            assert_eq!(ip_packet(Link::Ethernet, &eth).unwrap(), &ip[..]);
            for cut in 0..ip.len() {
                assert!(udp(&ip[..cut]).is_err());
            }
        }
    }

    #[test]
    fn ipv4_checksums_verify() {
        let ip = build_udp(
            "10.1.2.3:1".parse().unwrap(),
            "10.3.2.1:2".parse().unwrap(),
            b"odd",
        )
        .unwrap();
        assert_eq!(fold(add_words(0, &ip[..20])), 0xffff);
        let mut sum = add_words(0, &ip[12..20]);
        sum += 17 + (ip.len() as u32 - 20);
        sum = add_words(sum, &ip[20..]);
        assert_eq!(fold(sum), 0xffff);
    }

    #[test]
    fn fragments_and_other_protocols_are_skipped() {
        let mut ip = build_udp(
            "10.0.0.1:1".parse().unwrap(),
            "10.0.0.2:2".parse().unwrap(),
            b"x",
        )
        .unwrap();
        ip[6] = 0x20; // more fragments
        assert_eq!(udp(&ip).unwrap_err(), Skip::Fragment);
        ip[6] = 0x40;
        ip[9] = 6;
        assert_eq!(udp(&ip).unwrap_err(), Skip::NotUdp);
        assert_eq!(
            ip_packet(Link::Ethernet, &[0; 14]).unwrap_err(),
            Skip::NotIp
        );
    }
}
