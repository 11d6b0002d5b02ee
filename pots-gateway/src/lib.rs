//! The POTS gateway: trunk endpoints between the IP side (MGCP to the
//! controller, SRTP media under the per-call key) and the public telephone
//! network (G.711 PCM), `docs/pots.md`.
//!
//! - The trunk endpoints (`ds/ds1-1/N@<domain>`, TGCP style) are the CTA
//!   firmware core's [`Gateway`](cablekey_cta_firmware::Gateway) with
//!   [`TRUNK_PREFIX`]: the same MGCP, the same key handling (`k:`,
//!   `x-dir:`, zeroized with the connection) and the same SRTP contexts as a
//!   CTA. A trunk looks to the controller like a line whose far side is the
//!   network: seizure and release are off-hook and on-hook, the called
//!   number arrives as digits, alerting the far end is `L/rg`.
//! - [`pstn::Pstn`] is the network behind the trunks, sans-IO: it answers
//!   calls the controller alerts (after a configurable delay), releases a
//!   trunk when the call agent deletes its connection (clear-back), and
//!   originates calls towards the cable network (reverse origination): it
//!   seizes a free trunk, waits for the controller's proceed-to-send (`L/dl`)
//!   and outpulses the called number. The controller routes it, makes and
//!   escrows a fresh key and sends it to both ends like any call.
//! - With the `sim` feature, [`sim`] runs it on real sockets: the CTA
//!   simulator's driver with the PSTN model on the far side of its trunks,
//!   a tone generator and a recorder per trunk as the PSTN's PCM.
#![forbid(unsafe_code)]

pub mod pstn;
#[cfg(feature = "sim")]
pub mod sim;

/// The local name of the trunks before their number: `ds/ds1-1/N`.
pub const TRUNK_PREFIX: &str = "ds/ds1-1";

/// The name of trunk `i` (0-based) of the gateway at `domain`.
pub fn trunk_name(domain: &str, i: usize) -> String {
    format!("{TRUNK_PREFIX}/{}@{domain}", i + 1)
}
