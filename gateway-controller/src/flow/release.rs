//! Failures, deadlines and the end of calls: connections deleted, lines
//! put back to idle or parked, keys dropped.

use cablekey_protocol::mgcp::ReturnCode;
use cablekey_protocol::time::Instant;

use zeroize::Zeroizing;

use super::anchor::is_wildcard;
use super::{doubt_key, pending, Outcome};
use crate::call::{EndReason, RefuseReason, Side, State};
use crate::controller::{Controller, Doubt, Event, LineUse, Pending, Step, Wait};
use crate::keys::KeySource;
use crate::msg::{self, Request};

impl<K: KeySource> Controller<K> {
    pub(crate) fn on_failed(&mut self, now: Instant, p: Pending, code: Option<ReturnCode>) {
        match p.step {
            Step::Tap(_) => return self.on_tap_failed(p, code),
            // Refused or unanswered, the endpoint still gets its idle request.
            Step::Audit => return self.audit_done(now, &p.endpoint),
            Step::AuditConnection => return,
            _ => {}
        }
        let doubtful = matches!(p.step, Step::Crcx(_) | Step::MgwCrcx(_) | Step::Dlcx(_));
        // A connection the media gateway made on an endpoint of its choice
        // cannot be named: it stays until the gateway drops it.
        let nameable = !is_wildcard(&p.endpoint);
        if let (true, true, None, Some(id)) = (doubtful, nameable, code, p.call.as_deref()) {
            // No answer: the connection may exist, or come to exist late.
            let doubt = Doubt {
                next: now + self.config.doubt_retry,
                until: now + self.config.doubt_lifetime,
            };
            let key = doubt_key(&p.endpoint, id);
            self.doubtful.entry(key).or_insert(doubt);
        }
        if let Step::Dlcx(wait) = p.step {
            if let Some(wait) = wait {
                self.wait_failed(now, &p, wait, code);
            }
            return;
        }
        let live = p.call.as_deref().filter(|id| self.calls.contains_key(*id));
        let Some(id) = live.map(str::to_string) else {
            self.resync_hook(now, &p, code);
            if let Some(code) = code {
                self.events.push_back(Event::CommandFailed {
                    endpoint: p.endpoint,
                    code,
                });
            }
            return;
        };
        if let (Step::Crcx(side), Some(call)) = (p.step, self.calls.get_mut(&id)) {
            // Refused: nothing was created, nothing to delete.
            if let (Some(leg), Some(_)) = (call.leg_mut(side), code) {
                leg.created = false;
            }
        }
        let outcome = match (p.step, code) {
            (Step::Crcx(Side::Callee), Some(c)) => Outcome::Refused(RefuseReason::CalleeRefused(c)),
            (Step::Crcx(Side::Callee), None) => Outcome::Refused(RefuseReason::CalleeUnreachable),
            (Step::MgwCrcx(_), Some(c)) => Outcome::Refused(RefuseReason::MediaGatewayRefused(c)),
            (Step::MgwCrcx(_), None) => Outcome::Refused(RefuseReason::MediaGatewayUnreachable),
            (_, Some(c)) => Outcome::Ended(EndReason::Error(c)),
            (_, None) => Outcome::Ended(EndReason::TimedOut),
        };
        self.release(now, &id, outcome);
    }

    pub(crate) fn on_deadline(&mut self, now: Instant, id: &str) {
        let Some(call) = self.calls.get(id) else {
            return;
        };
        let outcome = match call.state {
            State::Escrowing => Outcome::Refused(RefuseReason::EscrowTimedOut),
            State::Ringing => Outcome::Ended(EndReason::NoAnswer),
            _ => return,
        };
        self.release(now, id, outcome);
    }

    /// Ends a call: deletes its connections, puts each line back to idle
    /// (on hook) or parked (off hook, with a tone for the caller), wipes the key.
    pub(super) fn release(&mut self, now: Instant, id: &str, outcome: Outcome) {
        let Some(call) = self.calls.remove(id) else {
            return;
        };
        let tone = outcome.caller_tone();
        if let Some(anchored) = call.anchor {
            self.release_anchor(now, id, anchored);
        }
        let legs = [(Some(call.caller), tone), (call.callee, "")];
        for (leg, tone) in legs {
            let Some(leg) = leg else {
                continue;
            };
            if !matches!(self.line_use(&leg.endpoint), Some(LineUse::InCall(c)) if c == id) {
                continue;
            }
            let wait = if leg.off_hook {
                Wait::Park(tone)
            } else {
                Wait::Idle
            };
            let delete = leg.created.then_some(id);
            self.wait(now, &leg.endpoint, wait, delete);
        }
        let call_id = id.to_string();
        self.events.push_back(match outcome {
            Outcome::Refused(reason) => Event::Refused { call_id, reason },
            Outcome::Ended(reason) => Event::Ended { call_id, reason },
        });
        // `call.key` is dropped here and wiped.
    }

    pub(super) fn delete(&mut self, now: Instant, endpoint: &str, call_id: &str) {
        let mgw = self
            .config
            .anchor
            .as_ref()
            .is_some_and(|a| a.serves(endpoint))
            && self.registry.get(endpoint).is_none();
        let text = if mgw {
            Zeroizing::new(msg::mgw_dlcx(endpoint, call_id, None))
        } else {
            msg::dlcx(endpoint, call_id, None)
        };
        self.send(
            now,
            &text,
            pending(endpoint, Some(call_id), Step::Dlcx(None)),
        );
    }

    pub(crate) fn retry_doubtful(&mut self, now: Instant) {
        self.doubtful.retain(|_, d| d.until > now);
        let due: Vec<(String, String)> = self
            .doubtful
            .iter()
            .filter(|(_, d)| d.next <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let retry = self.config.doubt_retry;
        for key in due {
            if let Some(d) = self.doubtful.get_mut(&key) {
                d.next = now + retry;
            }
            let endpoint = self
                .registry
                .get(&key.0)
                .map_or(key.0.clone(), |e| e.name.clone());
            self.delete(now, &endpoint, &key.1);
        }
    }

    /// Puts the line in `wait`'s state and asks it for the matching event
    /// (RQNT); with `delete`, the call's connections on it go in the same
    /// command (DLCX with the request riding on it: one transaction, not two).
    pub(super) fn wait(&mut self, now: Instant, name: &str, wait: Wait, delete: Option<&str>) {
        self.set_line(name, wait.line_use());
        let rid = self.request_id();
        let req = Request {
            id: &rid,
            events: wait.events(),
            signals: wait.signals(),
            digit_map: None,
        };
        let (text, pending) = match delete {
            Some(call) => (
                msg::dlcx(name, call, Some(&req)),
                pending(name, Some(call), Step::Dlcx(Some(wait))),
            ),
            None => (msg::rqnt(name, &req), pending(name, None, wait.step())),
        };
        self.send(now, &text, pending);
    }

    pub(crate) fn idle_request(&mut self, now: Instant, name: &str) {
        self.wait(now, name, Wait::Idle, None);
    }

    /// A DLCX carrying the line's next request failed. Refused for the
    /// hook (401, 402), the command did nothing: the DLCX goes again on its
    /// own, and the line follows the phone. Otherwise (no such connection,
    /// no answer) the request goes again on its own; deleting is then the
    /// doubt's business.
    fn wait_failed(&mut self, now: Instant, p: &Pending, wait: Wait, code: Option<ReturnCode>) {
        let hook = [ReturnCode::PHONE_OFF_HOOK, ReturnCode::PHONE_ON_HOOK];
        let refused_for_hook = code.is_some_and(|c| hook.contains(&c));
        if let (true, Some(call)) = (refused_for_hook, p.call.as_deref()) {
            self.delete(now, &p.endpoint, call);
        }
        // A NTFY may have moved the line on meanwhile, or a new call taken it.
        if self.line_use(&p.endpoint) != wait.line_use().as_ref() {
            return;
        }
        if refused_for_hook {
            let as_request = Pending {
                step: wait.step(),
                ..p.clone()
            };
            self.resync_hook(now, &as_request, code);
        } else {
            self.wait(now, &p.endpoint, wait, None);
        }
    }

    /// Our idea of the hook was wrong (401 off hook, 402 on hook): follow the phone.
    pub(super) fn resync_hook(&mut self, now: Instant, p: &Pending, code: Option<ReturnCode>) {
        let line = self.line_use(&p.endpoint).cloned();
        match (p.step, code, line) {
            // The handset is up while we thought it down: whoever lifted
            // it wants to dial, as if its off-hook NTFY had come.
            (Step::Idle, Some(ReturnCode::PHONE_OFF_HOOK), None) => {
                self.originate(now, &p.endpoint)
            }
            (Step::Park, Some(ReturnCode::PHONE_ON_HOOK), Some(LineUse::Parked)) => {
                self.idle_request(now, &p.endpoint)
            }
            _ => {}
        }
    }
}
