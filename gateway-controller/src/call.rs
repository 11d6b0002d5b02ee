//! One call's state, from off-hook to release.
//!
//! ```text
//! Dialing -> Escrowing [-> Anchoring] -> CreatingCallee -> CreatingCaller
//!         -> Ringing -> Answering -> Connected -> (released)
//! ```
//! `Anchoring` only when media is anchored at a media gateway.
//! Any state may end in release: hang-up, abandon, busy, no answer, an
//! error response, a transaction time-out or a failed escrow. The key lives
//! in the call from creation to release; it is put in a command (or, for
//! the caller of a derived-key call, the `x-key:derived` that stands for
//! it) only once `escrowed` is set.

use cablekey_protocol::mgcp::ReturnCode;
use cablekey_protocol::secret::SecretBytes;
use cablekey_protocol::time::Instant;

use crate::anchor::{Anchored, MgwLeg};
use crate::intercept::Intercept;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Dial tone or digits: waiting for a number.
    Dialing,
    /// Routed, key made: waiting for the escrow layer.
    Escrowing,
    /// Escrowed; the media gateway's two connections are being created
    /// (anchored calls only). No key has left yet.
    Anchoring,
    /// CRCX with the key sent to the called side.
    CreatingCallee,
    /// The called side acknowledged; CRCX with the key sent to the caller.
    CreatingCaller,
    /// Both connections exist; the called line rings.
    Ringing,
    /// The called side went off hook; MDCX to both sides sent.
    Answering,
    Connected,
}

/// Why a call was refused before it rang.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefuseReason {
    /// The dial plan has no such number (or its gateway is unknown).
    UnknownNumber,
    /// The called line is in a call or off hook.
    Busy,
    /// The escrow layer could not make the key durable.
    EscrowFailed(String),
    /// The escrow layer did not answer in time.
    EscrowTimedOut,
    /// Derived-key mode, and the calling endpoint has no session key.
    NoSessionKey,
    /// The called side answered its CRCX with an error.
    CalleeRefused(ReturnCode),
    /// The called side's gateway has not registered, or did not answer its CRCX.
    CalleeUnreachable,
    /// The controller is at its limit of calls.
    Overloaded,
    /// The media gateway answered a CRCX with an error.
    MediaGatewayRefused(ReturnCode),
    /// The media gateway did not answer a CRCX.
    MediaGatewayUnreachable,
}

/// Why a call that was set up (or being set up past escrow) ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    CallerHungUp,
    CalleeHungUp,
    /// The caller hung up before the call was answered.
    Abandoned,
    NoAnswer,
    /// A side answered a command with an error.
    Error(ReturnCode),
    /// A side stopped answering.
    TimedOut,
    /// A side's gateway restarted (RSIP).
    Restarted,
}

/// One side of the call on the MGCP side.
#[derive(Debug, Default)]
pub struct Leg {
    /// Endpoint name.
    pub endpoint: String,
    /// Connection id from the CRCX response.
    pub conn: Option<String>,
    /// The SDP the side answered its CRCX with.
    pub sdp: Option<String>,
    /// A CRCX was sent: a DLCX is owed at release.
    pub created: bool,
    /// Off hook as far as we know: decides idle or parked at release.
    pub off_hook: bool,
    /// The intercept this leg's connection was last told to copy to
    /// (`es-ccd`/`es-cci` in its CRCX or a later MDCX).
    pub tap: Option<Intercept>,
}

impl Leg {
    pub fn new(endpoint: &str) -> Leg {
        Leg {
            endpoint: endpoint.into(),
            ..Leg::default()
        }
    }
}

#[derive(Debug)]
pub struct Call {
    pub id: String,
    pub state: State,
    pub caller: Leg,
    pub callee: Option<Leg>,
    pub dialed: String,
    /// K; `Debug` shows its fingerprint only.
    pub key: Option<SecretBytes>,
    /// The escrow layer confirmed K durable: only now may K be sent.
    pub escrowed: bool,
    /// K was derived from the caller's session key: the caller derives it
    /// too and is sent `x-key:derived`, never K.
    pub derived: bool,
    /// The callee answered before the caller's connection existed.
    pub answered_early: bool,
    /// The media gateway's connections, when the call is anchored.
    pub anchor: Option<Anchored>,
    pub started: Instant,
    /// No-answer or escrow wait, by state.
    pub deadline: Option<Instant>,
}

impl Call {
    pub fn new(id: String, caller: &str, now: Instant) -> Call {
        Call {
            id,
            state: State::Dialing,
            caller: Leg::new(caller),
            callee: None,
            dialed: String::new(),
            key: None,
            escrowed: false,
            derived: false,
            answered_early: false,
            anchor: None,
            started: now,
            deadline: None,
        }
    }

    /// Which leg an endpoint is, if either.
    pub fn side_of(&self, endpoint: &str) -> Option<Side> {
        if self.caller.endpoint.eq_ignore_ascii_case(endpoint) {
            Some(Side::Caller)
        } else if self
            .callee
            .as_ref()
            .is_some_and(|l| l.endpoint.eq_ignore_ascii_case(endpoint))
        {
            Some(Side::Callee)
        } else {
            None
        }
    }

    /// The media gateway's connection facing `side`, if anchored.
    pub fn mgw_leg(&self, side: Side) -> Option<&MgwLeg> {
        let a = self.anchor.as_ref()?;
        Some(match side {
            Side::Caller => &a.caller,
            Side::Callee => &a.callee,
        })
    }

    pub fn leg_mut(&mut self, side: Side) -> Option<&mut Leg> {
        match side {
            Side::Caller => Some(&mut self.caller),
            Side::Callee => self.callee.as_mut(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Caller,
    Callee,
}

impl Side {
    /// The `x-dir:` value for this side's connection.
    pub fn token(self) -> &'static str {
        match self {
            Side::Caller => "caller",
            Side::Callee => "callee",
        }
    }
}
