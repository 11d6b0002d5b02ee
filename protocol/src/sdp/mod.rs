//! SDP (RFC 4566) subset with a=crypto (RFC 4568).
//!
//! What voice gateways send and cablekey answers: `v= o= s= c= t= m=`,
//! `a=rtpmap`, `a=fmtp`, `a=ptime`, the direction attributes and
//! `a=crypto`; every other line is kept raw. Parsing borrows from the
//! text and never panics; `Display` writes CRLF lines **with the keys in
//! clear** (it is the wire form), while `Debug` and serde show only key
//! fingerprints. Other fields (the `o=` user name, `e=`, `p=`) may be
//! personal data and print as sent.
//!
//! Building an answer:
//!
//! ```
//! use cablekey_protocol::sdp::{Connection, CryptoAttr, Direction, Media, Origin, Rtpmap, Sdp, Suite};
//! use cablekey_protocol::secret::SecretBytes;
//!
//! let key = SecretBytes::new(&[7; 28]).unwrap(); // from the escrowed call key
//! let at = Connection::ip4("192.0.2.10");
//! let answer = Sdp::new(Origin::new("-", 42, 1, at), "-")
//!     .with_connection(at)
//!     .with_media(
//!         Media::new("audio", 40000, "RTP/SAVP")
//!             .with_format("0")
//!             .with_format("8")
//!             .with_rtpmap(Rtpmap::PCMU)
//!             .with_rtpmap(Rtpmap::PCMA)
//!             .with_ptime(20)
//!             .with_direction(Direction::SendRecv)
//!             .with_crypto(CryptoAttr::new(1, Suite::AeadAes128Gcm, key).unwrap()),
//!     );
//! let wire = answer.to_string();
//! assert!(wire.contains("a=crypto:1 AEAD_AES_128_GCM inline:"));
//! assert_eq!(Sdp::parse(&wire).unwrap(), answer);
//! ```

mod crypto;
mod error;
mod model;
mod parse;
mod redact;
mod write;

pub use crypto::{
    CryptoAttr, CryptoError, FecOrder, KeyParam, Lifetime, Mki, SessionParam, Suite, MAX_KEYS,
    MAX_SESSION_PARAMS, MAX_SUITE_LEN, MAX_TAG,
};
pub use error::{ErrorKind, ParseError};
pub use model::{
    Attribute, Connection, Direction, Fmtp, Media, Origin, RawLine, Rtpmap, Sdp, Timing,
};
pub use parse::{parse, MAX_ATTRIBUTES, MAX_FORMATS, MAX_LEN, MAX_LINES, MAX_MEDIA, MAX_TIMES};
pub use redact::Redacted;

#[cfg(test)]
mod tests;
