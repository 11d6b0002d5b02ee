//! Who a client is, for the audit log: its certificate's subject common
//! name and the SHA-256 of the certificate. The certificate was verified by
//! rustls before this runs; the reader below still checks every length.

use sha2::{Digest, Sha256};

/// A client as the audit log names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub common_name: Option<String>,
    pub fingerprint: [u8; 32],
    /// The serial number, hex (as the DER INTEGER's bytes).
    pub serial: Option<String>,
}

impl Identity {
    pub fn of(cert_der: &[u8]) -> Identity {
        Identity {
            common_name: common_name(cert_der),
            fingerprint: Sha256::digest(cert_der).into(),
            serial: serial(cert_der),
        }
    }
}

impl core::fmt::Display for Identity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let cn = self.common_name.as_deref().unwrap_or("?");
        write!(f, "CN={cn} sha256:{}", super::audit::hex(&self.fingerprint))
    }
}

/// One DER element: tag and contents, and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
/// id-at-commonName, 2.5.4.3.
const CN_OID: &[u8] = &[0x55, 0x04, 0x03];

/// The TBSCertificate's contents.
fn tbs(cert: &[u8]) -> Option<&[u8]> {
    let (tag, cert, _) = element(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, tbs, _) = element(cert)?;
    (tag == SEQUENCE).then_some(tbs)
}

/// The serial number as hex digits (lower case, as encoded).
pub fn serial(cert: &[u8]) -> Option<String> {
    let mut tbs = tbs(cert)?;
    if tbs.first() == Some(&0xa0) {
        tbs = element(tbs)?.2;
    }
    let (tag, n, _) = element(tbs)?;
    (tag == 0x02 && !n.is_empty() && n.len() <= 32).then(|| super::audit::hex(n))
}

/// The subject's first common name, if it is a plain string.
pub fn common_name(cert: &[u8]) -> Option<String> {
    let mut tbs = tbs(cert)?;
    // [0] version (optional), serial, signature, issuer, validity, subject.
    if tbs.first() == Some(&0xa0) {
        tbs = element(tbs)?.2;
    }
    for _ in 0..4 {
        tbs = element(tbs)?.2;
    }
    let (tag, mut rdns, _) = element(tbs)?;
    if tag != SEQUENCE {
        return None;
    }
    while !rdns.is_empty() {
        let (tag, mut set, rest) = element(rdns)?;
        rdns = rest;
        if tag != SET {
            return None;
        }
        while !set.is_empty() {
            let (_, atv, rest) = element(set)?;
            set = rest;
            let (oid_tag, oid, value) = element(atv)?;
            if oid_tag == 0x06 && oid == CN_OID {
                let (vtag, v, _) = element(value)?;
                // UTF8String, PrintableString, IA5String.
                if matches!(vtag, 0x0c | 0x13 | 0x16) {
                    let s = core::str::from_utf8(v).ok()?;
                    // Printable only: it goes into logs.
                    return Some(
                        s.chars()
                            .map(|c| if c.is_control() { '?' } else { c })
                            .collect(),
                    );
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_truncations_give_none_never_a_panic() {
        assert_eq!(common_name(b""), None);
        assert_eq!(common_name(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        let mut v = vec![0x30, 0x82, 0x01];
        for n in 0..64u8 {
            v.push(n);
            let _ = common_name(&v);
        }
        let id = Identity::of(b"not a certificate");
        assert_eq!((&id.common_name, &id.serial), (&None, &None));
        assert!(id.to_string().starts_with("CN=? sha256:"));
    }
}
