//! The CTA firmware core: what a cable modem's voice port runs, `no_std` +
//! `alloc`, sans-IO, `#![forbid(unsafe_code)]`.
//!
//! - [`gateway::Gateway`]: MGCP gateway behaviour (RFC 3435 / NCS) over the
//!   protocol crate's transaction endpoint: RSIP on restart, RQNT and NTFY,
//!   CRCX / MDCX / DLCX with keys, AUEP / AUCX, RFC error codes.
//! - [`line::Line`]: hook state, signals, notification requests and digit
//!   collection with [`digitmap::DigitMap`].
//! - [`security::SecurityManager`]: holds each call's key only while the call
//!   lives and installs / wipes SRTP contexts through [`ports::MediaController`];
//!   derives a call's key from the signaling session key when asked
//!   (`x-key:derived`, `docs/keys.md`).
//! - [`ports`]: the seams to the platform (terminal, media, security application).
//!
//! Media never passes through the core; SRTP lives behind `MediaController`.
//! With the `sim` feature, [`sim`] is the host simulator (std, tokio) that
//! runs the core as real UDP endpoints with SRTP media.
#![no_std]
#![forbid(unsafe_code)]
#![warn(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

extern crate alloc;
#[cfg(feature = "sim")]
extern crate std;

mod commands;
pub mod connection;
pub mod digitmap;
pub mod gateway;
mod keyreq;
pub mod line;
mod list;
pub mod ports;
pub mod request;
mod sdp;
pub mod security;
pub mod signal;
#[cfg(feature = "sim")]
pub mod sim;

pub use gateway::{Config, Event, Gateway, LineView, Registration};
pub use ports::{
    ConnId, Enrollment, MediaController, MediaError, MediaParams, MediaStats, Role, SecurityApp,
    SecurityStatus, Signal, Suite, Surveillance, Terminal, TerminalEvent,
};
pub use security::{CallState, WipeReason};
