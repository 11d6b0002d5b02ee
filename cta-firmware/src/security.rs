//! The security manager: the only place the core holds call keys.
//!
//! Each call (connection) goes idle -> waiting for authorization (the
//! connection exists; its key or media address has not arrived) ->
//! authorized (key installed in the media controller) and back. A key lives
//! here only while its call does: hang-up, deletion and restart wipe it from
//! here and from the media controller. Storage is a fixed table, so nothing
//! here grows with calls or packets.
//!
//! It also holds the device's signaling session key, from which a call key
//! is derived when the call agent asks for that (`docs/keys.md`). The key
//! is provisioned by the platform for now; the registration exchange that
//! would establish it is not built yet.

use core::net::SocketAddr;

use cablekey_protocol::callkey;
use cablekey_protocol::mgcp::ConnectionMode;
use cablekey_protocol::secret::{Fingerprint, SecretBytes};

use crate::connection::{Id, MAX_CONNECTIONS};
use crate::ports::{
    ConnId, Enrollment, MediaController, MediaError, MediaParams, Role, SecurityApp,
    SecurityStatus, Suite, Surveillance,
};

/// Shortest call key accepted, in bytes.
pub const MIN_KEY: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallState {
    Idle,
    WaitingForAuthorization,
    Authorized,
}

/// Why a key was wiped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WipeReason {
    HangUp,
    Deleted,
    Restart,
    /// A new key took its place.
    Replaced,
    /// The media controller refused it.
    Refused,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityError {
    /// The device has no credential, so keys could not have reached it securely.
    NotEnrolled,
    /// Shorter than [`MIN_KEY`].
    ShortKey,
    NoRoom,
    /// A derived key was asked for and the device has no session key.
    NoSessionKey,
    Media(MediaError),
}

/// What a change did, for the gateway's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyChange {
    Installed(ConnId, Fingerprint),
    Wiped(ConnId, WipeReason),
}

struct Call {
    conn: ConnId,
    line: usize,
    call: Id,
    role: Role,
    state: CallState,
    key: Option<SecretBytes>,
    /// `key` was derived here from the session key, not received.
    derived: bool,
    suite: Suite,
    remote: Option<SocketAddr>,
    local_port: u16,
    mode: ConnectionMode,
    surveillance: Option<Surveillance>,
}

/// Where a new call sits: its line, call id, side and RTP port. Fixed for
/// the call's life.
pub struct Placement {
    pub line: usize,
    pub call: Id,
    pub role: Role,
    pub local_port: u16,
}

/// What arrived for a call in a CRCX or MDCX.
pub struct Offer {
    pub key: Option<SecretBytes>,
    /// `key` was derived from the session key (`x-key:derived`).
    pub derived: bool,
    pub suite: Suite,
    pub remote: Option<SocketAddr>,
    pub mode: ConnectionMode,
    /// The full intercept setting after this command (`None`: no copies).
    pub surveillance: Option<Surveillance>,
}

pub struct SecurityManager {
    calls: [Option<Call>; MAX_CONNECTIONS],
    /// Shared with the call agent; wiped on drop or replacement.
    session: Option<SecretBytes>,
    keys_installed: u32,
    keys_wiped: u32,
}

impl Default for SecurityManager {
    fn default() -> Self {
        SecurityManager {
            calls: [const { None }; MAX_CONNECTIONS],
            session: None,
            keys_installed: 0,
            keys_wiped: 0,
        }
    }
}

impl SecurityManager {
    pub fn state(&self, conn: ConnId) -> CallState {
        self.find(conn).map_or(CallState::Idle, |c| c.state)
    }

    /// Whether a key for `conn` is held here.
    pub fn holds_key(&self, conn: ConnId) -> bool {
        self.find(conn).is_some_and(|c| c.key.is_some())
    }

    /// Whether the key held for `conn` was derived here (it never crossed
    /// the wire) rather than received in `k:`.
    pub fn key_derived(&self, conn: ConnId) -> bool {
        self.find(conn)
            .is_some_and(|c| c.key.is_some() && c.derived)
    }

    /// Calls holding a key here; zero whenever no call is up.
    pub fn keys_held(&self) -> usize {
        self.calls
            .iter()
            .flatten()
            .filter(|c| c.key.is_some())
            .count()
    }

    pub fn status(&self) -> SecurityStatus {
        let count = |s| self.calls.iter().flatten().filter(|c| c.state == s).count() as u8;
        SecurityStatus {
            authorized: count(CallState::Authorized),
            waiting: count(CallState::WaitingForAuthorization),
            keys_installed: self.keys_installed,
            keys_wiped: self.keys_wiped,
        }
    }

    /// Sets (or with `None` forgets) the signaling session key; the old one
    /// is wiped. Calls in progress keep the keys they have.
    pub fn set_session_key(&mut self, key: Option<SecretBytes>) {
        self.session = key.filter(|k| !k.is_empty());
    }

    pub fn has_session_key(&self) -> bool {
        self.session.is_some()
    }

    /// The call key for `call` derived from the session key, as the call
    /// agent derived (and escrowed) it.
    pub fn derive_call_key(&self, call: &Id) -> Result<SecretBytes, SecurityError> {
        let session = self.session.as_ref().ok_or(SecurityError::NoSessionKey)?;
        // Cannot fail: the session key is not empty (`set_session_key`) and
        // an `Id` is 1 to 32 characters, within the derivation's bounds.
        callkey::derive(session, call.as_str()).map_err(|_| SecurityError::NoSessionKey)
    }

    /// Checks a key before any state changes, so a refused command changes nothing.
    pub fn check_key(app: &impl SecurityApp, key: &SecretBytes) -> Result<(), SecurityError> {
        if app.enrollment() != Enrollment::Enrolled {
            return Err(SecurityError::NotEnrolled);
        }
        if key.len() < MIN_KEY {
            return Err(SecurityError::ShortKey);
        }
        Ok(())
    }

    /// A new call on `line` (CRCX): it waits for authorization until its
    /// key and media address are both known.
    pub fn open(
        &mut self,
        media: &mut impl MediaController,
        conn: ConnId,
        at: Placement,
        offer: Offer,
        changes: &mut impl FnMut(KeyChange),
    ) -> Result<CallState, SecurityError> {
        let slot = self
            .calls
            .iter_mut()
            .find(|c| c.is_none())
            .ok_or(SecurityError::NoRoom)?;
        let Placement {
            line,
            call,
            role,
            local_port,
        } = at;
        *slot = Some(Call {
            conn,
            line,
            call,
            role,
            state: CallState::WaitingForAuthorization,
            key: None,
            derived: false,
            suite: offer.suite,
            remote: None,
            local_port,
            mode: offer.mode,
            surveillance: None,
        });
        let result = self.update(media, conn, offer, changes);
        if result.is_err() {
            self.close(media, conn, WipeReason::Refused, changes);
        }
        result
    }

    /// New key, address or mode for a call (MDCX). Reinstalls the context
    /// if anything it depends on changed.
    pub fn update(
        &mut self,
        media: &mut impl MediaController,
        conn: ConnId,
        offer: Offer,
        changes: &mut impl FnMut(KeyChange),
    ) -> Result<CallState, SecurityError> {
        let (keys_installed, keys_wiped) = (&mut self.keys_installed, &mut self.keys_wiped);
        let call = self
            .calls
            .iter_mut()
            .flatten()
            .find(|c| c.conn == conn)
            .ok_or(SecurityError::NoRoom)?;
        let changed = offer.key.is_some()
            || offer.remote.is_some_and(|r| Some(r) != call.remote)
            || offer.mode != call.mode
            || offer.suite != call.suite;
        if let Some(key) = offer.key {
            call.derived = offer.derived;
            if call.key.replace(key).is_some() {
                *keys_wiped += 1;
                changes(KeyChange::Wiped(conn, WipeReason::Replaced));
            }
        }
        call.remote = offer.remote.or(call.remote);
        call.mode = offer.mode;
        call.suite = offer.suite;
        let tap_changed = call.surveillance != offer.surveillance;
        call.surveillance = offer.surveillance;
        let (Some(key), Some(remote)) = (&call.key, call.remote) else {
            return Ok(call.state);
        };
        if !changed && call.state == CallState::Authorized {
            // Only the copies change: the running streams are left alone.
            if tap_changed {
                media.surveil(conn, call.surveillance);
            }
            return Ok(call.state);
        }
        let params = MediaParams {
            suite: call.suite,
            call: call.call,
            role: call.role,
            line: call.line,
            remote,
            local_port: call.local_port,
            mode: call.mode,
        };
        match media.install(conn, key, &params) {
            Ok(()) => {
                // A new context starts without copies.
                if call.surveillance.is_some() {
                    media.surveil(conn, call.surveillance);
                }
                *keys_installed += 1;
                changes(KeyChange::Installed(conn, key.fingerprint()));
                call.state = CallState::Authorized;
                Ok(call.state)
            }
            Err(e) => {
                media.wipe(conn);
                call.key = None;
                call.state = CallState::WaitingForAuthorization;
                *keys_wiped += 1;
                changes(KeyChange::Wiped(conn, WipeReason::Refused));
                Err(SecurityError::Media(e))
            }
        }
    }

    /// The call ended (DLCX or refused): wipe its key and forget it.
    pub fn close(
        &mut self,
        media: &mut impl MediaController,
        conn: ConnId,
        reason: WipeReason,
        changes: &mut impl FnMut(KeyChange),
    ) {
        if let Some(slot) = self
            .calls
            .iter_mut()
            .find(|c| c.as_ref().is_some_and(|c| c.conn == conn))
        {
            if let Some(call) = slot.take() {
                self.keys_wiped += u32::from(call.key.is_some());
                media.wipe(conn);
                changes(KeyChange::Wiped(conn, reason));
                // `call` drops here and its key is zeroized.
            }
        }
    }

    /// The handset went on hook: the calls on `line` are over for the
    /// subscriber, so their keys go now, before the call agent's DLCX. The
    /// connections wait for a new key or their deletion.
    pub fn hang_up(
        &mut self,
        media: &mut impl MediaController,
        line: usize,
        changes: &mut impl FnMut(KeyChange),
    ) {
        for call in self.calls.iter_mut().flatten().filter(|c| c.line == line) {
            if call.key.take().is_some() {
                self.keys_wiped += 1;
                changes(KeyChange::Wiped(call.conn, WipeReason::HangUp));
            }
            media.wipe(call.conn);
            call.state = CallState::WaitingForAuthorization;
        }
    }

    /// Restart: every call is gone.
    pub fn close_all(
        &mut self,
        media: &mut impl MediaController,
        changes: &mut impl FnMut(KeyChange),
    ) {
        for slot in self.calls.iter_mut() {
            if let Some(call) = slot.take() {
                self.keys_wiped += u32::from(call.key.is_some());
                media.wipe(call.conn);
                changes(KeyChange::Wiped(call.conn, WipeReason::Restart));
            }
        }
    }

    /// Answers a controller's challenge through the security application.
    pub fn challenge(
        app: &mut impl SecurityApp,
        challenge: &[u8],
        out: &mut [u8; 64],
    ) -> Option<usize> {
        let n = app.authenticate(challenge, out)?;
        (n <= out.len()).then_some(n)
    }

    fn find(&self, conn: ConnId) -> Option<&Call> {
        self.calls.iter().flatten().find(|c| c.conn == conn)
    }
}
