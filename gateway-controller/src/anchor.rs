//! Anchoring a call's media at the head-end: a media gateway (osmo-mgw's
//! `rtpbridge` endpoints) relays RTP between the two CTAs. It only moves
//! SRTP packets: the call key never goes there, so media stays encrypted
//! end to end. `docs/controller.md` has the MGCP sequence.

use std::net::SocketAddr;

use cablekey_protocol::mgcp::EndpointName;

/// The local name of the media gateway's bridging endpoints.
pub const BRIDGE: &str = "rtpbridge";

/// Where the media gateway is and the domain of its endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub mgw: SocketAddr,
    domain: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    #[error("{0:?} is not an endpoint domain")]
    BadDomain(String),
}

impl Anchor {
    pub fn new(mgw: SocketAddr, domain: &str) -> Result<Anchor, AnchorError> {
        let bad = || AnchorError::BadDomain(domain.into());
        let plain = !domain.is_empty()
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
        if !plain {
            return Err(bad());
        }
        let any = format!("{BRIDGE}/*@{domain}");
        EndpointName::parse(&any).ok_or_else(bad)?;
        Ok(Anchor {
            mgw,
            domain: domain.into(),
        })
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The name that lets the gateway pick a free endpoint (first CRCX).
    pub fn any_endpoint(&self) -> String {
        format!("{BRIDGE}/*@{}", self.domain)
    }

    /// Whether `endpoint` is one of the media gateway's.
    pub fn serves(&self, endpoint: &str) -> bool {
        endpoint
            .rsplit_once('@')
            .is_some_and(|(_, d)| d.eq_ignore_ascii_case(&self.domain))
    }

    /// A concrete endpoint of ours that the gateway named in `Z:`.
    pub fn accepts(&self, endpoint: &EndpointName<'_>) -> bool {
        !endpoint.is_wildcard() && endpoint.domain.eq_ignore_ascii_case(&self.domain)
    }
}

/// The media gateway's side of one call: a connection facing each CTA,
/// both on one endpoint so the gateway bridges them.
#[derive(Debug, Default)]
pub struct Anchored {
    /// The concrete endpoint, from the `Z:` of the first CRCX's answer.
    pub endpoint: Option<String>,
    pub caller: MgwLeg,
    pub callee: MgwLeg,
}

/// One connection on the media gateway.
#[derive(Debug, Default)]
pub struct MgwLeg {
    /// From the CRCX answer; a DLCX is owed once it is known.
    pub conn: Option<String>,
    /// The gateway's SDP: the CTA on this side sends its media there.
    pub sdp: Option<String>,
}

/// An SDP body fit for the media gateway: any key lines (`a=crypto`, `k=`)
/// are left out, so a CTA that put one there cannot leak it through us.
pub fn without_keys(sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        let t = line.trim_start();
        let key = t
            .get(..9)
            .is_some_and(|p| p.eq_ignore_ascii_case("a=crypto:"))
            || t.starts_with("k=");
        if !key {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_checked_and_endpoints_matched() {
        let mgw: SocketAddr = "127.0.0.1:2428".parse().unwrap();
        let a = Anchor::new(mgw, "mgw").unwrap();
        assert_eq!(a.any_endpoint(), "rtpbridge/*@mgw");
        assert!(a.serves("rtpbridge/1A@MGW"));
        assert!(!a.serves("aaln/1@cta1.lab") && !a.serves("rtpbridge/1"));
        assert!(a.accepts(&EndpointName::parse("rtpbridge/1f@mgw").unwrap()));
        assert!(!a.accepts(&EndpointName::parse("rtpbridge/*@mgw").unwrap()));
        assert!(!a.accepts(&EndpointName::parse("rtpbridge/1@other").unwrap()));
        for bad in ["", "m w", "a@b", "mgw\r\n", "x/y"] {
            assert!(Anchor::new(mgw, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_lines_never_reach_the_gateway() {
        let sdp = "v=0\r\nc=IN IP4 10.0.0.9\r\nk=clear:secret\r\nm=audio 4000 RTP/SAVP 0\r\nA=CRYPTO:1 AEAD_AES_128_GCM inline:AAAA\r\na=ptime:20\r\n";
        assert_eq!(
            without_keys(sdp),
            "v=0\r\nc=IN IP4 10.0.0.9\r\nm=audio 4000 RTP/SAVP 0\r\na=ptime:20\r\n"
        );
    }
}
