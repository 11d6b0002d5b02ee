//! The CALEA server's own side: the warrants it was given, the escrow
//! records it received, and decryption of intercepted media into a
//! delivery per case. `docs/calea.md` describes it.
//!
//! - [`warrant`]: `cablekey calea warrant add|list|revoke`.
//! - [`records`], [`bundle`]: the local store of received escrow and epoch
//!   records, and record files to import.
//! - [`keys`]: opening records with the LE private key
//!   (`cablekey_keyfile::load_private_key` refuses a key file others can
//!   read) and deriving both directions' SRTP keys.
//! - [`decrypt`]: the per-packet path; matches streams to calls by trial.
//! - [`capture`], [`net`]: pcap/pcapng frames down to UDP datagrams.
//! - [`li_client`], [`intake`]: the client of the controller's LI API
//!   (mutual TLS) and the checks on the records it brings in.
//! - [`collect`]: `cablekey calea collect`, the live collector of media copies.
//! - [`offline`]: `cablekey calea decrypt`, delivering through [`deliver`]
//!   and [`track`].
#![forbid(unsafe_code)]

pub mod bundle;
pub mod capture;
pub mod clock;
pub mod collect;
pub mod decrypt;
pub mod deliver;
pub mod fsutil;
pub mod intake;
pub mod keys;
pub mod li_client;
pub mod net;
pub mod offline;
pub mod records;
pub mod synth;
pub mod track;
pub mod warrant;

/// Default data directory (warrants, received records).
pub const DEFAULT_DATA_DIR: &str = "calea-data";
/// Default root of deliveries: `cases/<case id>/`.
pub const DEFAULT_CASES_DIR: &str = "cases";
