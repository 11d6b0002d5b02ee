//! The seams between the core and the device around it, in the style of
//! `embassy-net-driver`: small traits the platform implements, and plain
//! types it hands in.
//!
//! - Signaling: the MGCP gateway in [`crate::gateway`] feeds keys and
//!   challenges to [`crate::security::SecurityManager`]; a vendor with its own
//!   signaling stack calls the same methods.
//! - Terminal: [`TerminalEvent`] in (hook, digits), [`Terminal`] out (tones, ringing).
//! - Media: [`MediaController`] installs and wipes SRTP contexts.
//! - Security application: [`SecurityApp`] (enrollment, credentials, status).

use core::fmt;
use core::net::SocketAddr;

use cablekey_protocol::mgcp::ConnectionMode;
use cablekey_protocol::secret::SecretBytes;
use cablekey_protocol::srtp::derive::Direction;

use crate::connection::Id;
/// The SRTP suites: the protocol crate's, one definition for the whole system.
pub use cablekey_protocol::srtp::Suite;

/// A connection id handed out in a CRCX response (`I:`), written as 8 hex digits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

impl ConnId {
    pub fn parse(s: &str) -> Option<ConnId> {
        if s.is_empty() || s.len() > 8 {
            return None;
        }
        u32::from_str_radix(s, 16).ok().map(ConnId)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08X}", self.0)
    }
}

/// Which side of the call this connection is, as the call agent says in
/// the CRCX (`L: x-dir:caller` or `x-dir:callee`, see `docs/srtp.md`,
/// "Which direction am I"). It picks which derived key protects what we send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The calling party: it sends `caller-to-callee` media.
    Caller,
    Callee,
}

impl Role {
    /// Reads an `x-dir:` value (case-insensitive).
    pub fn from_token(s: &str) -> Option<Role> {
        if s.eq_ignore_ascii_case("caller") {
            Some(Role::Caller)
        } else if s.eq_ignore_ascii_case("callee") {
            Some(Role::Callee)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Caller => "caller",
            Role::Callee => "callee",
        }
    }

    /// The direction of the media this side sends.
    pub fn sends(self) -> Direction {
        match self {
            Role::Caller => Direction::CallerToCallee,
            Role::Callee => Direction::CalleeToCaller,
        }
    }

    /// The direction of the media this side receives.
    pub fn receives(self) -> Direction {
        self.sends().reverse()
    }
}

/// Lawful intercept of a connection's media: a copy of every SRTP/SRTCP
/// packet it sends goes, unchanged and tagged with `cci`, to `collector`
/// (NCS `es-ccd` and `es-cci`). `Debug` shows neither: that a line is
/// intercepted is itself confidential.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Surveillance {
    pub collector: SocketAddr,
    /// The call-content connection identifier, 32 bits (`es-cci`, hex).
    pub cci: u32,
}

impl fmt::Debug for Surveillance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Surveillance(..)")
    }
}

/// Where and how a connection's media flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaParams {
    pub suite: Suite,
    /// The call id (`C:`), an input of the per-direction key derivation.
    pub call: Id,
    pub role: Role,
    /// The subscriber line (0-based) whose audio the connection carries.
    pub line: usize,
    pub remote: SocketAddr,
    /// Our RTP port for this connection.
    pub local_port: u16,
    pub mode: ConnectionMode,
}

/// The media controller refused a context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaError {
    /// No room for another context.
    NoResources,
    /// The key does not fit the suite.
    BadKey,
    Unsupported,
}

/// Packet counts for a DLCX response (`P:`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MediaStats {
    pub packets_sent: u64,
    pub octets_sent: u64,
    pub packets_received: u64,
    pub octets_received: u64,
    pub packets_lost: i64,
}

/// Installs and wipes the SRTP contexts of connections. Media itself never
/// passes through the core.
pub trait MediaController {
    /// Installs, or replaces, the context of `conn`. The key is lent: derive
    /// what the context needs and keep no copy beyond that context, which
    /// must zeroize itself when wiped.
    fn install(
        &mut self,
        conn: ConnId,
        key: &SecretBytes,
        params: &MediaParams,
    ) -> Result<(), MediaError>;

    /// Removes the context of `conn` and zeroizes its keys. Called for
    /// unknown connections too; it must then do nothing.
    fn wipe(&mut self, conn: ConnId);

    /// Starts, changes or stops the copies of an installed connection's
    /// outbound media, leaving its SRTP contexts and streams as they are
    /// (the other party must see no change). [`Self::install`] starts a
    /// context without copies; the core calls this right after it when the
    /// connection is intercepted. A platform without a tap ignores it.
    fn surveil(&mut self, _conn: ConnId, _surveillance: Option<Surveillance>) {}

    fn stats(&self, _conn: ConnId) -> Option<MediaStats> {
        None
    }
}

/// What the subscriber's line does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminalEvent {
    OffHook,
    OnHook,
    /// A short on-hook, off-hook.
    Flash,
    /// A DTMF key: `0`-`9`, `*`, `#`, `A`-`D`.
    Digit(char),
}

/// Tones and ringing the line can play (line package `L/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    DialTone,
    Ringing,
    RingBack,
    Busy,
    Reorder,
    StutterDialTone,
    OffHookWarning,
    CallWaiting,
    Confirm,
    /// Caller id delivery; its text is personal data and is not handed on here.
    CallerId,
}

/// Plays signals on a line's port.
pub trait Terminal {
    /// Starts (`on`) or stops a signal on line `line` (0-based). Brief
    /// signals (call waiting, confirm, caller id) are only ever started.
    fn signal(&mut self, line: usize, signal: Signal, on: bool);
}

/// Where the device stands with the head-end's certificate authority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enrollment {
    NotEnrolled,
    /// A request is with the CA.
    Pending,
    Enrolled,
}

/// What the security manager reports to the security application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecurityStatus {
    /// Calls with a key installed.
    pub authorized: u8,
    /// Calls waiting for their key or media address.
    pub waiting: u8,
    pub keys_installed: u32,
    pub keys_wiped: u32,
}

/// The external security application: holds the device credential and
/// runs enrollment; the core only asks and reports.
pub trait SecurityApp {
    fn enrollment(&self) -> Enrollment;

    /// Answers a controller's challenge with the device credential: writes
    /// the authenticator to `out` and returns its length, or `None` if the
    /// device has no credential.
    fn authenticate(&mut self, challenge: &[u8], out: &mut [u8; 64]) -> Option<usize>;

    fn status(&mut self, _status: SecurityStatus) {}
}
