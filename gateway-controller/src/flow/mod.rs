//! How a call moves: commands from gateways (RSIP, NTFY), responses to
//! ours, escrow answers and deadlines, each advancing one call.
//!
//! - here: what gateways tell us (restart, hook, digits) and routing;
//! - [`setup`]: from escrow to connected (the only place K goes out);
//! - [`anchor`]: the media gateway's connections of an anchored call;
//! - [`audit`]: what gateways still hold after a restart of ours;
//! - [`release`]: failures, deadlines and tearing a call down;
//! - [`tap`]: lawful-intercept copies of a call's media.

mod anchor;
mod audit;
mod release;
mod setup;
mod tap;

use std::net::SocketAddr;

use cablekey_protocol::mgcp::{
    Command, Param, ParamName, Response, ReturnCode, TransactionId, Verb,
};
use cablekey_protocol::time::Instant;

use crate::call::{Call, EndReason, Leg, RefuseReason, Side, State};
use crate::controller::{Controller, Event, LineUse, Party, Pending, RecordMeta, Step};
use crate::keys::{self, KeyMode, KeySource};
use crate::msg::{self, Request, DIALING_EVENTS, HANG_UP_EVENTS};
use crate::registry::{key_of, Kind};

const BUSY_TONE: &str = "L/bz";
const REORDER_TONE: &str = "L/ro";

/// How a call ends, for the event and the tone the caller hears.
enum Outcome {
    Refused(RefuseReason),
    Ended(EndReason),
}

impl Outcome {
    fn caller_tone(&self) -> &'static str {
        match self {
            Outcome::Refused(RefuseReason::Busy) => BUSY_TONE,
            Outcome::Refused(RefuseReason::CalleeRefused(c))
                if *c == ReturnCode::PHONE_OFF_HOOK =>
            {
                BUSY_TONE
            }
            Outcome::Refused(_) => REORDER_TONE,
            Outcome::Ended(
                EndReason::NoAnswer
                | EndReason::Error(_)
                | EndReason::TimedOut
                | EndReason::Restarted,
            ) => REORDER_TONE,
            Outcome::Ended(_) => "",
        }
    }
}

impl<K: KeySource> Controller<K> {
    pub(crate) fn on_command(
        &mut self,
        now: Instant,
        from: SocketAddr,
        tid: TransactionId,
        cmd: &Command<'_>,
    ) {
        let name = cmd.endpoint.to_string();
        let code = match cmd.verb {
            Verb::Rsip => ReturnCode::OK,
            Verb::Ntfy if self.registry.get(&name).is_some() => ReturnCode::OK,
            Verb::Ntfy => ReturnCode::UNKNOWN_ENDPOINT,
            _ => ReturnCode::UNKNOWN_COMMAND,
        };
        // Answered first: the work below may take several of our commands.
        let _ = self.tx.respond(now, from, tid, Response::new(code, tid));
        if !code.is_success() {
            return;
        }
        match cmd.verb {
            Verb::Rsip => self.on_restart(now, cmd, from),
            Verb::Ntfy => self.on_notify(now, &name, cmd),
            _ => {}
        }
    }

    fn on_restart(&mut self, now: Instant, cmd: &Command<'_>, from: SocketAddr) {
        let endpoints = self.registry.restarted(&cmd.endpoint, from);
        for name in &endpoints {
            self.abandon_audit(now, name, from);
            if let Some(LineUse::InCall(id)) = self.line_use(name).cloned() {
                // The gateway forgot our requests and may or may not keep
                // its connections (`disconnected` keeps them): DLCX anyway.
                // Hook state is unknown; an idle request answered 401 parks it.
                if let Some(call) = self.calls.get_mut(&id) {
                    if let Some(side) = call.side_of(name) {
                        if let Some(leg) = call.leg_mut(side) {
                            leg.off_hook = false;
                        }
                    }
                }
                self.release(now, &id, Outcome::Ended(EndReason::Restarted));
            } else {
                self.idle_request(now, name);
            }
        }
        self.events.push_back(Event::Registered { endpoints });
    }

    fn on_notify(&mut self, now: Instant, name: &str, cmd: &Command<'_>) {
        let Some(Param::ObservedEvents(items)) = cmd.param(ParamName::ObservedEvents) else {
            return;
        };
        if let Some(Param::RequestIdentifier(x)) = cmd.param(ParamName::RequestIdentifier) {
            if self.stale_request(name, x) {
                return;
            }
        }
        for item in items {
            let event = item.event();
            match item.package() {
                Some(p) if p.eq_ignore_ascii_case("D") => self.on_digit(name, event),
                _ if event.eq_ignore_ascii_case("hd") => self.on_off_hook(now, name),
                _ if event.eq_ignore_ascii_case("hu") => self.on_on_hook(now, name),
                _ => {}
            }
        }
        // Digits end with the notification: the digit map matched (or timed out).
        if let Some(LineUse::InCall(id)) = self.line_use(name).cloned() {
            let dialing = self.calls.get(&id).is_some_and(|c| {
                c.state == State::Dialing && c.side_of(name) == Some(Side::Caller)
            });
            let got_digits = items
                .iter()
                .any(|i| i.package().is_some_and(|p| p.eq_ignore_ascii_case("D")));
            if dialing && got_digits {
                self.route(now, &id);
            }
        }
    }

    fn on_digit(&mut self, name: &str, digit: &str) {
        let Some(LineUse::InCall(id)) = self.line_use(name).cloned() else {
            return;
        };
        if let Some(call) = self.calls.get_mut(&id) {
            let is_digit = digit.len() == 1 && digit.bytes().all(|b| b.is_ascii_digit());
            if call.state == State::Dialing && is_digit && call.dialed.len() < 32 {
                call.dialed.push_str(digit);
            }
        }
    }

    fn on_off_hook(&mut self, now: Instant, name: &str) {
        match self.line_use(name).cloned() {
            None => self.originate(now, name),
            Some(LineUse::InCall(id)) => {
                let Some(call) = self.calls.get_mut(&id) else {
                    return;
                };
                if call.side_of(name) != Some(Side::Callee) {
                    return;
                }
                if let Some(leg) = call.callee.as_mut() {
                    leg.off_hook = true;
                }
                match call.state {
                    State::Ringing => self.answer(now, &id),
                    State::CreatingCallee | State::CreatingCaller => call.answered_early = true,
                    // Picked up before we rang it: the line is no longer free.
                    State::Escrowing | State::Anchoring => {
                        self.release(now, &id, Outcome::Refused(RefuseReason::Busy))
                    }
                    _ => {}
                }
            }
            Some(LineUse::Parked) => {}
        }
    }

    fn on_on_hook(&mut self, now: Instant, name: &str) {
        match self.line_use(name).cloned() {
            None => {}
            Some(LineUse::Parked) => self.idle_request(now, name),
            Some(LineUse::InCall(id)) => {
                let Some(call) = self.calls.get_mut(&id) else {
                    return;
                };
                let Some(side) = call.side_of(name) else {
                    return;
                };
                match call.leg_mut(side) {
                    Some(leg) if leg.off_hook => leg.off_hook = false,
                    // Already known on hook (a ringing line, or one whose
                    // 402 told us first): a late NTFY changes nothing.
                    _ => return,
                }
                let answered = matches!(call.state, State::Answering | State::Connected);
                let reason = match side {
                    Side::Caller if answered => EndReason::CallerHungUp,
                    Side::Caller => EndReason::Abandoned,
                    Side::Callee => EndReason::CalleeHungUp,
                };
                self.release(now, &id, Outcome::Ended(reason));
            }
        }
    }

    pub(super) fn originate(&mut self, now: Instant, name: &str) {
        let id = self.new_call_id();
        let mut call = Call::new(id.clone(), name, now);
        call.caller.off_hook = true;
        let full = self.calls.len() >= self.config.max_calls;
        self.calls.insert(id.clone(), call);
        self.set_line(name, Some(LineUse::InCall(id.clone())));
        if full {
            self.release(now, &id, Outcome::Refused(RefuseReason::Overloaded));
            return;
        }
        let rid = self.request_id();
        let digit_map = self.config.digit_map.clone();
        let r = Request {
            id: &rid,
            events: DIALING_EVENTS,
            signals: "L/dl",
            digit_map: Some(&digit_map),
        };
        let text = msg::rqnt(name, &r);
        self.send(now, &text, pending(name, Some(&id), Step::Rqnt));
        self.events.push_back(Event::Dialing {
            call_id: id,
            caller: name.into(),
        });
    }

    fn route(&mut self, now: Instant, id: &str) {
        let Some(call) = self.calls.get(id) else {
            return;
        };
        let caller = call.caller.endpoint.clone();
        let callee_party = match self.callee_of(&call.dialed, &caller) {
            Ok(p) => p,
            Err(reason) => {
                self.release(now, id, Outcome::Refused(reason));
                return;
            }
        };
        let callee_name = callee_party.endpoint.clone();
        if callee_name.eq_ignore_ascii_case(&caller) || self.line_use(&callee_name).is_some() {
            self.release(now, id, Outcome::Refused(RefuseReason::Busy));
            return;
        }
        let caller_ep = self.registry.get(&caller);
        let from_trunk = caller_ep.is_some_and(|e| e.kind == Kind::Trunk);
        let session = caller_ep.and_then(|e| e.session_key.as_ref());
        let (key, derived) = match (self.config.key_mode, session) {
            (KeyMode::Random, _) => (Some(keys::random_key(&mut self.keys)), false),
            (KeyMode::Derived, Some(s)) => (keys::derived_key(s, id).ok(), true),
            // A call from the telephone network: a trunk shares no session
            // key with us, so K is random and goes to both ends in `k:`.
            (KeyMode::Derived, None) if from_trunk => {
                (Some(keys::random_key(&mut self.keys)), false)
            }
            (KeyMode::Derived, None) => (None, true),
        };
        let Some(key) = key else {
            self.release(now, id, Outcome::Refused(RefuseReason::NoSessionKey));
            return;
        };
        let caller_party = Party {
            number: self.registry.get(&caller).and_then(|e| e.number.clone()),
            endpoint: caller,
        };
        self.set_line(&callee_name, Some(LineUse::InCall(id.into())));
        // The caller's line waits for a request after its digits: ask for
        // the hang-up so an abandon during escrow is seen.
        let rid = self.request_id();
        let req = Request {
            id: &rid,
            events: HANG_UP_EVENTS,
            signals: "",
            digit_map: None,
        };
        let text = msg::rqnt(&caller_party.endpoint, &req);
        self.send(
            now,
            &text,
            pending(&caller_party.endpoint, Some(id), Step::Rqnt),
        );
        let deadline = now + self.config.escrow_wait;
        let suite = self.config.suite.name();
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        call.callee = Some(Leg::new(&callee_name));
        call.state = State::Escrowing;
        call.deadline = Some(deadline);
        let record_meta = RecordMeta {
            call_id: id.into(),
            caller: caller_party,
            callee: callee_party,
            suite,
            started: call.started,
        };
        let copy = key.duplicate();
        call.key = Some(key);
        call.derived = derived;
        self.events.push_back(Event::Routed {
            call_id: id.into(),
            callee: callee_name,
        });
        self.events.push_back(Event::Escrow {
            call_id: id.into(),
            record_meta,
            key: copy,
        });
    }
}

impl<K: KeySource> Controller<K> {
    /// Who a dialed number reaches: the endpoint that owns it, else a free
    /// trunk of its trunk route (the party's number is then the number
    /// dialed, as the network will be given it).
    fn callee_of(&self, dialed: &str, caller: &str) -> Result<Party, RefuseReason> {
        if let Some(callee) = self.registry.route(dialed) {
            if callee.addr.is_none() {
                // Its gateway never registered: no key is made for it.
                return Err(RefuseReason::CalleeUnreachable);
            }
            return Ok(Party {
                number: callee.number.clone(),
                endpoint: callee.name.clone(),
            });
        }
        let trunks = self
            .registry
            .trunks_for(dialed)
            .ok_or(RefuseReason::UnknownNumber)?;
        let reachable = || {
            trunks
                .iter()
                .filter(|t| self.registry.get(t).is_some_and(|e| e.addr.is_some()))
        };
        if reachable().next().is_none() {
            return Err(RefuseReason::CalleeUnreachable);
        }
        let free = reachable()
            .find(|t| !t.eq_ignore_ascii_case(caller) && self.line_use(t).is_none())
            .ok_or(RefuseReason::Busy)?;
        Ok(Party {
            number: Some(dialed.into()),
            endpoint: free.clone(),
        })
    }
}

fn doubt_key(endpoint: &str, call_id: &str) -> (String, String) {
    (key_of(endpoint).into_owned(), call_id.into())
}

fn pending(endpoint: &str, call: Option<&str>, step: Step) -> Pending {
    Pending {
        endpoint: endpoint.into(),
        call: call.map(Into::into),
        step,
    }
}
