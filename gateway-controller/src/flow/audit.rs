//! After a controller restart: what the gateways still hold. Every
//! configured endpoint with an address is audited (`AUEP F: I, ES`); each
//! connection it reports is audited in turn (`AUCX I: F: C`), and one that
//! belongs to no call of ours (the old process's) is deleted (`DLCX C:`),
//! so no stale connection, and no key, stays at a CTA or trunk. Then the
//! line gets its idle request as before; a 401 means the handset is up and
//! gives dial tone. The DLCX is followed up like any other (`doubtful`).
//! The audit carries `X-CA-Restart`: a CTA whose NTFY the old process never
//! answered stops holding its next events behind it.

use std::fmt::Write;

use cablekey_protocol::mgcp::{Param, ParamName, Response, CA_RESTART};
use cablekey_protocol::time::Instant;

use super::pending;
use crate::controller::{Controller, Event, Pending, Step};
use crate::keys::KeySource;

/// Connection ids taken from one audit answer: more would be a gateway
/// misbehaving (a CTA line holds at most a handful).
const MAX_AUDITED_CONNECTIONS: usize = 16;

fn head(verb: &str, endpoint: &str) -> String {
    // The id is a placeholder: the transaction layer assigns a fresh one.
    format!("{verb} 1 {endpoint} MGCP 1.0 NCS 1.0\r\n")
}

impl<K: KeySource> Controller<K> {
    /// Audits every configured endpoint with an address that is in no call.
    pub(crate) fn audit_all(&mut self, now: Instant) {
        let names: Vec<String> = self
            .registry
            .iter()
            .filter(|e| e.addr.is_some() && self.line_use(&e.name).is_none())
            .map(|e| e.name.clone())
            .collect();
        let restart = format!("{:X}", self.config.first_call_number);
        for name in names {
            let mut text = head("AUEP", &name);
            // Tells the CTA we are a new process: it stops holding its
            // events behind a NTFY we never received.
            let _ = write!(text, "F: I, ES\r\n{CA_RESTART}: {restart}\r\n");
            self.send(now, &text, pending(&name, None, Step::Audit));
        }
    }

    /// The endpoint's audit answer: audit each connection it reports,
    /// then the idle request (still in order: one command at a time per
    /// endpoint).
    pub(crate) fn on_audited(&mut self, now: Instant, p: &Pending, resp: &Response<'_>) {
        let conns: Vec<String> = resp
            .params
            .iter()
            .filter_map(|q| match q {
                Param::ConnectionId(c) => Some(*c),
                _ => None,
            })
            .flat_map(|c| c.split(','))
            .map(str::trim)
            .filter(|c| {
                !c.is_empty() && c.len() <= 32 && c.bytes().all(|b| b.is_ascii_alphanumeric())
            })
            .take(MAX_AUDITED_CONNECTIONS)
            .map(str::to_string)
            .collect();
        for conn in conns {
            let mut text = head("AUCX", &p.endpoint);
            let _ = write!(text, "I: {conn}\r\nF: C\r\n");
            self.send(
                now,
                &text,
                pending(&p.endpoint, None, Step::AuditConnection),
            );
        }
        self.audit_done(now, &p.endpoint);
    }

    /// A connection's audit answer: its call is not ours, so delete it.
    pub(crate) fn on_audited_connection(&mut self, now: Instant, p: &Pending, resp: &Response<'_>) {
        let Some(Param::CallId(call)) = resp.param(ParamName::CallId) else {
            return;
        };
        let call = call.trim();
        let valid =
            !call.is_empty() && call.len() <= 32 && call.bytes().all(|b| b.is_ascii_alphanumeric());
        if !valid || self.calls.contains_key(call) {
            return;
        }
        self.events.push_back(Event::StaleConnection {
            endpoint: p.endpoint.clone(),
            call_id: call.into(),
        });
        self.delete(now, &p.endpoint, call);
    }

    /// Audited (or the audit failed): the line waits for off-hook, unless
    /// a call took it meanwhile.
    pub(crate) fn audit_done(&mut self, now: Instant, endpoint: &str) {
        if self.line_use(endpoint).is_none() {
            self.idle_request(now, endpoint);
        }
    }
}
