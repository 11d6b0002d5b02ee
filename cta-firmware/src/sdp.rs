//! The little SDP the core needs until the protocol crate's SDP module
//! (with `a=crypto`) lands: read the remote media address from `c=` and
//! `m=audio`, and write our own description. Replace these two functions then.

use alloc::format;
use alloc::string::String;
use core::net::{IpAddr, SocketAddr};

use crate::ports::ConnId;

/// The remote RTP address of an SDP body: the `c=` address (session or
/// audio level, the later one wins) and the `m=audio` port.
pub fn remote_media(sdp: &str) -> Option<SocketAddr> {
    let mut addr: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    for line in sdp.lines().map(str::trim).take(64) {
        if let Some(c) = line.strip_prefix("c=") {
            let mut f = c.split_ascii_whitespace();
            let (net, kind, a) = (f.next()?, f.next()?, f.next()?);
            if net != "IN" || !(kind == "IP4" || kind == "IP6") {
                return None;
            }
            // Multicast TTL suffixes (`/127`) are not for a CTA.
            addr = Some(a.parse().ok()?);
        } else if let Some(m) = line.strip_prefix("m=") {
            let mut f = m.split_ascii_whitespace();
            if f.next()? == "audio" && port.is_none() {
                port = Some(f.next()?.parse().ok()?);
            }
        }
    }
    Some(SocketAddr::new(addr?, port.filter(|p| *p != 0)?))
}

/// Our description: where to send media to this connection. G.711 only.
pub fn local_description(addr: IpAddr, port: u16, conn: ConnId) -> String {
    let net = if addr.is_ipv4() { "IP4" } else { "IP6" };
    format!(
        "v=0\r\no=- {conn} 0 IN {net} {addr}\r\ns=-\r\nc=IN {net} {addr}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=ptime:20\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_address_and_port() {
        let sdp = "v=0\r\nc=IN IP4 10.0.0.9\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert_eq!(remote_media(sdp), Some("10.0.0.9:4000".parse().unwrap()));
        let ours = local_description("10.0.0.2".parse().unwrap(), 5004, ConnId(7));
        assert_eq!(remote_media(&ours), Some("10.0.0.2:5004".parse().unwrap()));
        assert_eq!(remote_media("v=0\r\nm=audio 4000 RTP/AVP 0\r\n"), None);
        assert_eq!(
            remote_media("c=IN IP4 nowhere\r\nm=audio 4000 RTP/AVP 0"),
            None
        );
        assert_eq!(
            remote_media("c=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0"),
            None
        );
    }
}
