//! Lawful intercept of media: the connections of a call with an
//! intercepted party carry `es-ccd`/`es-cci`, so each CTA also sends a
//! copy of its outbound SRTP to the collector. A task set or cleared
//! mid-call reaches the running connections by MDCX. Nothing here touches
//! keys, modes or addresses: the parties see the same media as before.

use cablekey_protocol::mgcp::ReturnCode;
use cablekey_protocol::time::Instant;

use super::pending;
use crate::call::{Call, Side};
use crate::controller::{Controller, Event, Pending, Step};
use crate::intercept::{number_key, Intercept};
use crate::keys::KeySource;
use crate::msg;

impl<K: KeySource> Controller<K> {
    /// Intercepts the media of `number`'s calls from now on: its new
    /// calls' CRCX carry the task, and its calls in progress get an MDCX on
    /// both ends (current mode). Replaces a task already set for the number.
    ///
    /// The seam for the LI API: call it when a task is provisioned, and
    /// [`Self::clear_intercept`] when it is revoked or expires.
    pub fn set_intercept(&mut self, now: Instant, number: &str, intercept: Intercept) {
        self.intercepts
            .insert(number_key(number).to_string(), intercept);
        self.retap_all(now);
        self.drain(now);
    }

    /// Stops intercepting `number`: its calls in progress get an MDCX
    /// without the options (unless the other party is a target too).
    /// Returns whether a task was set.
    pub fn clear_intercept(&mut self, now: Instant, number: &str) -> bool {
        let had = self.intercepts.remove(number_key(number)).is_some();
        if had {
            self.retap_all(now);
            self.drain(now);
        }
        had
    }

    /// The task set for `number`, if any.
    pub fn intercept(&self, number: &str) -> Option<&Intercept> {
        self.intercepts.get(number_key(number))
    }

    /// What a call's connections should carry: the caller's task, else
    /// the callee's. A connection carries one destination (NCS has one
    /// `es-ccd`), so a call between two targets is copied to the caller's.
    pub(crate) fn tap_of(&self, call: &Call) -> Option<Intercept> {
        let callee = call.callee.as_ref().map(|l| l.endpoint.as_str());
        [Some(call.caller.endpoint.as_str()), callee]
            .into_iter()
            .flatten()
            .filter_map(|ep| self.registry.get(ep)?.number.as_deref())
            .find_map(|n| self.intercepts.get(number_key(n)))
            .copied()
    }

    fn retap_all(&mut self, now: Instant) {
        let ids: Vec<String> = self.calls.keys().cloned().collect();
        for id in ids {
            self.retap(now, &id);
        }
    }

    /// Each leg whose connection exists and was told otherwise gets an
    /// MDCX with what it should carry now. Legs not created yet get it in
    /// their CRCX; a leg whose CRCX is in flight is seen to when it answers.
    pub(super) fn retap(&mut self, now: Instant, id: &str) {
        let Some(call) = self.calls.get(id) else {
            return;
        };
        let want = self.tap_of(call);
        for side in [Side::Callee, Side::Caller] {
            let Some(leg) = self.calls.get_mut(id).and_then(|c| c.leg_mut(side)) else {
                continue;
            };
            let Some(conn) = leg.conn.clone().filter(|_| leg.created && leg.tap != want) else {
                continue;
            };
            leg.tap = want;
            let endpoint = leg.endpoint.clone();
            let text = msg::tap(&endpoint, id, &conn, want.as_ref());
            self.send(now, &text, pending(&endpoint, Some(id), Step::Tap(side)));
        }
    }

    /// A tap MDCX (or a CRCX carrying the task) was executed.
    pub(super) fn on_tapped(&mut self, id: &str, side: Side) {
        let Some(leg) = self.calls.get_mut(id).and_then(|c| c.leg_mut(side)) else {
            return;
        };
        let (endpoint, active) = (leg.endpoint.clone(), leg.tap.is_some());
        self.events.push_back(Event::Tapped {
            call_id: id.into(),
            endpoint,
            active,
        });
    }

    /// A tap MDCX failed or went unanswered: reported, and the call goes
    /// on as it was (ending it would tell the parties).
    pub(super) fn on_tap_failed(&mut self, p: Pending, code: Option<ReturnCode>) {
        let Some(call_id) = p.call else {
            return;
        };
        self.events.push_back(Event::TapFailed {
            call_id,
            endpoint: p.endpoint,
            code,
        });
    }
}
