//! SRTP and SRTCP (RFC 3711) with the RFC 7714 AEAD suites, sans-IO and
//! allocation-free on the data path.
//!
//! [`SrtpContext`] protects or unprotects packets in the caller's buffer.
//! [`derive`] turns one call key into each direction's master key and salt.
//! The byte-exact formats are in `docs/srtp.md`.

mod cipher;
mod context;
pub mod derive;
mod error;
mod header;
mod kdf;
mod replay;
mod suite;

pub use context::{SessionKeys, SrtpContext, MAX_MKI, MAX_PACKET, MAX_STREAMS};
pub use error::SrtpError;
pub use header::{RtcpHeader, RtpHeader};
pub use replay::REPLAY_WINDOW;
pub use suite::Suite;
