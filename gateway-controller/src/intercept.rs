//! Intercept tasks as the call core holds them: a target number, the
//! call-content identifier its copies are tagged with, and the collector
//! they go to. The LI API provisions and revokes them through
//! [`crate::Controller::set_intercept`] and
//! [`crate::Controller::clear_intercept`]; MGCP carries them to the CTAs
//! in the PacketCable NCS electronic-surveillance options `es-ccd` and
//! `es-cci` (docs/controller.md, "Lawful intercept: media copies").

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// A call-content connection identifier (`es-cci`): 32 bits, written as 8
/// hex digits. It is the only thing in a copy that says which case it is
/// for, so the collector maps it to the case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cci(pub u32);

impl fmt::Display for Cci {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08X}", self.0)
    }
}

/// Not 1 to 8 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a call-content identifier is 1 to 8 hex digits")]
pub struct BadCci;

impl FromStr for Cci {
    type Err = BadCci;

    fn from_str(s: &str) -> Result<Cci, BadCci> {
        let hex = !s.is_empty() && s.len() <= 8 && s.bytes().all(|b| b.is_ascii_hexdigit());
        hex.then(|| u32::from_str_radix(s, 16).ok())
            .flatten()
            .map(Cci)
            .ok_or(BadCci)
    }
}

/// One intercept task's media side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Intercept {
    pub cci: Cci,
    /// The CALEA collector's UDP address (`es-ccd`).
    pub collector: SocketAddr,
}

impl Intercept {
    /// The LocalConnectionOptions items, as NCS and Wireshark write them:
    /// `es-ccd:<address>:<port>, es-cci:<8 hex digits>` (an IPv6 address
    /// in brackets, as `SocketAddr` prints it).
    pub fn lco_items(&self) -> String {
        format!("es-ccd:{}, es-cci:{}", self.collector, self.cci)
    }
}

/// Numbers compare on their digits: `+15550001` and `15550001` are one target.
pub(crate) fn number_key(number: &str) -> &str {
    number.trim().trim_start_matches('+')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cci_is_eight_hex_digits_both_ways() {
        assert_eq!("c0ffee".parse(), Ok(Cci(0x00C0_FFEE)));
        assert_eq!(Cci(0x00C0_FFEE).to_string(), "00C0FFEE");
        for bad in ["", "123456789", "12G4", "+1", " 1"] {
            assert_eq!(bad.parse::<Cci>(), Err(BadCci), "{bad:?}");
        }
    }

    #[test]
    fn lco_items_are_what_the_codec_reads() {
        use cablekey_protocol::mgcp::{LcoItem, LocalConnectionOptions};
        let i = Intercept {
            cci: Cci(7),
            collector: "[::1]:5000".parse().unwrap(),
        };
        let text = i.lco_items();
        let lco = LocalConnectionOptions::parse(&text).unwrap();
        assert_eq!(
            lco.iter().collect::<Vec<_>>(),
            [
                LcoItem::SurveillanceDestination("[::1]:5000"),
                LcoItem::SurveillanceId("00000007"),
            ]
        );
    }
}
