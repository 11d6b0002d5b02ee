//! cablekey's wire protocols, sans-IO and `no_std` + `alloc`.
//!
//! Nothing here touches a socket, a file or the system clock: parsers take
//! bytes, state machines take events and the current [`time::Instant`], and
//! both hand back bytes, events and deadlines for a driver to act on.
#![no_std]
#![forbid(unsafe_code)]
#![warn(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

extern crate alloc;

pub mod callkey;
pub mod ccc;
pub mod escrow;
#[cfg(feature = "serde")]
pub mod li;
pub mod mgcp;
pub mod sdp;
pub mod secret;
pub mod srtp;
pub mod time;
