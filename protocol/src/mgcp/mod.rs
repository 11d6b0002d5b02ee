//! MGCP (RFC 3435) with the PacketCable NCS options cablekey uses.

mod code;
mod error;
mod events;
mod header;
mod key;
mod lco;
mod list;
mod message;
mod params;
mod parse;
mod text;
pub mod transaction;
mod values;
mod write;

pub use code::ReturnCode;
pub use error::{ErrorKind, ParseError};
pub use events::{EventItem, EventList};
pub use key::{EncryptionKey, KeyError};
pub use lco::{LcoError, LcoItem, LocalConnectionOptions};
pub use list::{List, ListItem, ListIter};
pub use message::{Command, EndpointName, Message, Response, TransactionId, Verb, DEFAULT_VERSION};
pub use params::{
    ConnectionMode, ConnectionParameter, Param, ParamName, ReasonCode, RestartMethod, TidRange,
};
pub use parse::{parse, parse_datagram, split_datagram, MAX_DATAGRAM, MAX_ID_LEN, MAX_PIGGYBACKED};
pub use write::encode_datagram;

/// The well-known ports: gateways listen on 2427, call agents on 2727.
pub const GATEWAY_PORT: u16 = 2427;
pub const CALL_AGENT_PORT: u16 = 2727;

/// Our extension parameter in the audits (`AUEP`) of a restarted call
/// agent: the gateway stops holding events behind a NTFY the old process
/// never answered (`docs/controller.md`, "Restart"). Its value names the new
/// process and is not interpreted.
pub const CA_RESTART: &str = "X-CA-Restart";
