//! The platform around each benchmark CTA's firmware core: no sockets, no
//! media, no sound. The media controller only notes which key each line got
//! (as a fingerprint) so the run can check every key against the escrow.

use cablekey_cta_firmware::{
    ConnId, Enrollment, MediaController, MediaError, MediaParams, SecurityApp, Signal, Terminal,
};
use cablekey_protocol::secret::{Fingerprint, SecretBytes};

/// A key installed on a line: the call it belongs to and its fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    pub line: usize,
    pub call_id: String,
    pub fingerprint: Fingerprint,
}

/// Keeps no key: a fingerprint per live context and a log of installs.
#[derive(Default)]
pub struct KeyRecorder {
    live: Vec<(ConnId, usize, Fingerprint)>,
    /// Installs since the fleet last drained them.
    pub installs: Vec<Installed>,
}

impl KeyRecorder {
    /// The fingerprint of the key installed on `line`, if any.
    pub fn on_line(&self, line: usize) -> Option<Fingerprint> {
        self.live
            .iter()
            .find(|(_, l, _)| *l == line)
            .map(|(_, _, fp)| *fp)
    }
}

impl MediaController for KeyRecorder {
    fn install(
        &mut self,
        conn: ConnId,
        key: &SecretBytes,
        params: &MediaParams,
    ) -> Result<(), MediaError> {
        let fingerprint = key.fingerprint();
        self.live.retain(|(c, _, _)| *c != conn);
        self.live.push((conn, params.line, fingerprint));
        self.installs.push(Installed {
            line: params.line,
            call_id: params.call.as_str().into(),
            fingerprint,
        });
        Ok(())
    }

    fn wipe(&mut self, conn: ConnId) {
        self.live.retain(|(c, _, _)| *c != conn);
    }
}

/// Signals go nowhere; the fleet reads the line's phase from the core.
pub struct Silent;

impl Terminal for Silent {
    fn signal(&mut self, _line: usize, _signal: Signal, _on: bool) {}
}

/// Enrolled, without a signaling credential (clear MGCP, as the simulator).
pub struct Enrolled;

impl SecurityApp for Enrolled {
    fn enrollment(&self) -> Enrollment {
        Enrollment::Enrolled
    }

    fn authenticate(&mut self, _challenge: &[u8], _out: &mut [u8; 64]) -> Option<usize> {
        None
    }
}
