//! The head-end gateway controller: an MGCP call agent that creates a key
//! for every call, has it escrowed, and only then hands it to both ends.
//!
//! - [`Controller`]: the sans-IO call core. It takes datagrams, escrow
//!   confirmations and the time, and hands back datagrams, events and its
//!   next deadline. Sockets and the clock live in a driver around it.
//! - [`escrow`]: the durable escrow store the driver feeds
//!   [`Event::Escrow`] into.
//! - [`service`]: the tokio driver, its configuration and metrics.
//! - [`li`]: the lawful-intercept API the CALEA server uses.
#![forbid(unsafe_code)]

pub mod anchor;
pub mod call;
pub mod controller;
pub mod escrow;
mod flow;
pub mod intercept;
pub mod keys;
pub mod li;
mod msg;
pub mod registry;
pub mod service;

pub use anchor::{Anchor, AnchorError};
pub use call::{EndReason, RefuseReason};
pub use controller::{Config, Controller, EscrowFailure, Event, Party, RecordMeta};
pub use intercept::{Cci, Intercept};
pub use keys::{KeyMode, KeySource};
pub use registry::{Kind, Registry, RegistryError};
