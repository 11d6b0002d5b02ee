//! How a call moves: commands from gateways (RSIP, NTFY), responses to
//! ours, escrow answers and deadlines, each advancing one call.

use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cablekey_protocol::mgcp::{
    Command, Param, ParamName, Response, ReturnCode, TransactionId, Verb,
};
use cablekey_protocol::time::Instant;
use zeroize::Zeroizing;

use crate::call::{Call, EndReason, Leg, RefuseReason, Side, State};
use crate::controller::{
    Controller, Doubt, EscrowFailure, Event, LineUse, Party, Pending, RecordMeta, Step,
};
use crate::keys::{self, KeyMode, KeySource};
use crate::msg::{self, Request, DIALING_EVENTS, HANG_UP_EVENTS, IDLE_EVENTS};

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
                self.set_line(name, None);
                self.idle_request(now, name);
            }
        }
        self.events.push_back(Event::Registered { endpoints });
    }

    fn on_notify(&mut self, now: Instant, name: &str, cmd: &Command<'_>) {
        let Some(Param::ObservedEvents(items)) = cmd.param(ParamName::ObservedEvents) else {
            return;
        };
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
                    State::Escrowing => {
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
            Some(LineUse::Parked) => {
                self.set_line(name, None);
                self.idle_request(now, name);
            }
            Some(LineUse::InCall(id)) => {
                let Some(call) = self.calls.get_mut(&id) else {
                    return;
                };
                let Some(side) = call.side_of(name) else {
                    return;
                };
                if let Some(leg) = call.leg_mut(side) {
                    leg.off_hook = false;
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

    fn originate(&mut self, now: Instant, name: &str) {
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
        let Some(callee) = self.registry.route(&call.dialed) else {
            self.release(now, id, Outcome::Refused(RefuseReason::UnknownNumber));
            return;
        };
        let callee_name = callee.name.clone();
        let callee_party = Party {
            number: callee.number.clone(),
            endpoint: callee.name.clone(),
        };
        if callee_name.eq_ignore_ascii_case(&caller) || self.line_use(&callee_name).is_some() {
            self.release(now, id, Outcome::Refused(RefuseReason::Busy));
            return;
        }
        let key = match self.config.key_mode {
            KeyMode::Random => Some(keys::random_key(&mut self.keys)),
            KeyMode::Derived => self
                .registry
                .get(&caller)
                .and_then(|e| e.session_key.as_ref())
                .and_then(|s| keys::derived_key(s, id).ok()),
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

    pub(crate) fn on_escrowed(
        &mut self,
        now: Instant,
        id: &str,
        result: Result<(), EscrowFailure>,
    ) {
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        if call.state != State::Escrowing {
            return;
        }
        if let Err(EscrowFailure(why)) = result {
            self.release(now, id, Outcome::Refused(RefuseReason::EscrowFailed(why)));
            return;
        }
        call.escrowed = true;
        call.deadline = None;
        call.state = State::CreatingCallee;
        self.create(now, id, Side::Callee);
    }

    /// CRCX with the key to one side. Only ever reached once escrowed.
    fn create(&mut self, now: Instant, id: &str, side: Side) {
        let rid = self.request_id();
        let suite = self.config.suite.name();
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        let (Some(key), true) = (call.key.as_ref(), call.escrowed) else {
            return;
        };
        let key_text = Zeroizing::new(STANDARD.encode(key.expose()));
        let (endpoint, remote_sdp, r) = match side {
            Side::Callee => {
                let Some(leg) = call.callee.as_mut() else {
                    return;
                };
                leg.created = true;
                let r = (IDLE_EVENTS, "L/rg");
                (leg.endpoint.clone(), None, r)
            }
            Side::Caller => {
                call.caller.created = true;
                let sdp = call.callee.as_ref().and_then(|l| l.sdp.clone());
                (call.caller.endpoint.clone(), sdp, (HANG_UP_EVENTS, "L/rt"))
            }
        };
        let c = msg::Connect {
            call_id: id,
            key_base64: &key_text,
            suite,
            side: side.token(),
            mode: "recvonly",
            remote_sdp: remote_sdp.as_deref(),
        };
        let req = Request {
            id: &rid,
            events: r.0,
            signals: r.1,
            digit_map: None,
        };
        let text = msg::crcx(&endpoint, &c, &req);
        self.send(now, &text, pending(&endpoint, Some(id), Step::Crcx(side)));
    }

    /// The called side went off hook while ringing: both sides to sendrecv.
    fn answer(&mut self, now: Instant, id: &str) {
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        call.state = State::Answering;
        call.deadline = None;
        let caller = (call.caller.endpoint.clone(), call.caller.conn.clone());
        let caller_sdp = call.caller.sdp.clone();
        let Some(callee) = call.callee.as_ref() else {
            return;
        };
        let callee = (callee.endpoint.clone(), callee.conn.clone());
        for (side, (endpoint, conn), sdp) in [
            (Side::Callee, callee, caller_sdp.as_deref()),
            (Side::Caller, caller, None),
        ] {
            let rid = self.request_id();
            let req = Request {
                id: &rid,
                events: HANG_UP_EVENTS,
                signals: "",
                digit_map: None,
            };
            let conn = conn.unwrap_or_default();
            let text = msg::mdcx(&endpoint, id, &conn, "sendrecv", &req, sdp);
            self.send(now, &text, pending(&endpoint, Some(id), Step::Mdcx(side)));
        }
    }

    pub(crate) fn on_success(&mut self, now: Instant, p: Pending, resp: &Response<'_>) {
        let Some(id) = p.call.as_deref() else {
            return;
        };
        if p.step == Step::Dlcx {
            // 250: it existed and is gone now; nothing more can appear
            // unless a CRCX is still in flight, which the doubt covers.
            if resp.code == ReturnCode::DELETED {
                self.doubtful.remove(&doubt_key(&p.endpoint, id));
            }
            return;
        }
        let Some(call) = self.calls.get_mut(id) else {
            // A connection made for a call already released: delete it.
            if matches!(p.step, Step::Crcx(_)) {
                self.delete(now, &p.endpoint, id);
            }
            return;
        };
        match p.step {
            Step::Crcx(side) => {
                let conn = match resp.param(ParamName::ConnectionId) {
                    Some(Param::ConnectionId(c)) => Some((*c).to_string()),
                    _ => None,
                };
                let sdp = resp.sdp.map(str::to_string);
                if conn.is_none() || sdp.is_none() {
                    self.release(
                        now,
                        id,
                        Outcome::Ended(EndReason::Error(ReturnCode::PROTOCOL_ERROR)),
                    );
                    return;
                }
                if let Some(leg) = call.leg_mut(side) {
                    leg.conn = conn;
                    leg.sdp = sdp;
                }
                match (side, call.state) {
                    (Side::Callee, State::CreatingCallee) => {
                        call.state = State::CreatingCaller;
                        self.create(now, id, Side::Caller);
                    }
                    (Side::Caller, State::CreatingCaller) => {
                        call.state = State::Ringing;
                        call.deadline = Some(now + self.config.no_answer);
                        let early = call.answered_early;
                        self.events.push_back(Event::Ringing { call_id: id.into() });
                        if early {
                            self.answer(now, id);
                        }
                    }
                    _ => {}
                }
            }
            Step::Mdcx(side) => {
                if call.state != State::Answering {
                    return;
                }
                // Connected once both MDCX are answered: none is pending.
                let other = self.pending.values().any(|q| {
                    q.call.as_deref() == Some(id) && matches!(q.step, Step::Mdcx(s) if s != side)
                });
                if !other {
                    call.state = State::Connected;
                    self.events
                        .push_back(Event::Connected { call_id: id.into() });
                }
            }
            Step::Rqnt | Step::Idle | Step::Park | Step::Dlcx => {}
        }
    }

    /// An error response (`code`), or no response at all (`None`).
    pub(crate) fn on_failed(&mut self, now: Instant, p: Pending, code: Option<ReturnCode>) {
        if let (Step::Crcx(_) | Step::Dlcx, None, Some(id)) = (p.step, code, p.call.as_deref()) {
            // No answer: the connection may exist, or come to exist late.
            let doubt = Doubt {
                next: now + self.config.doubt_retry,
                until: now + self.config.doubt_lifetime,
            };
            let key = doubt_key(&p.endpoint, id);
            self.doubtful.entry(key).or_insert(doubt);
        }
        if p.step == Step::Dlcx {
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
    fn release(&mut self, now: Instant, id: &str, outcome: Outcome) {
        let Some(call) = self.calls.remove(id) else {
            return;
        };
        let tone = outcome.caller_tone();
        let legs = [(Some(call.caller), tone), (call.callee, "")];
        for (leg, tone) in legs {
            let Some(leg) = leg else {
                continue;
            };
            if !matches!(self.line_use(&leg.endpoint), Some(LineUse::InCall(c)) if c == id) {
                continue;
            }
            if leg.created {
                self.delete(now, &leg.endpoint, id);
            }
            if leg.off_hook {
                self.park(now, &leg.endpoint, tone);
            } else {
                self.set_line(&leg.endpoint, None);
                self.idle_request(now, &leg.endpoint);
            }
        }
        let call_id = id.to_string();
        self.events.push_back(match outcome {
            Outcome::Refused(reason) => Event::Refused { call_id, reason },
            Outcome::Ended(reason) => Event::Ended { call_id, reason },
        });
        // `call.key` is dropped here and wiped.
    }

    fn delete(&mut self, now: Instant, endpoint: &str, call_id: &str) {
        let text = msg::dlcx(endpoint, call_id);
        self.send(now, &text, pending(endpoint, Some(call_id), Step::Dlcx));
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

    fn park(&mut self, now: Instant, name: &str, tone: &str) {
        self.set_line(name, Some(LineUse::Parked));
        let rid = self.request_id();
        let req = Request {
            id: &rid,
            events: HANG_UP_EVENTS,
            signals: tone,
            digit_map: None,
        };
        let text = msg::rqnt(name, &req);
        self.send(now, &text, pending(name, None, Step::Park));
    }

    fn idle_request(&mut self, now: Instant, name: &str) {
        let rid = self.request_id();
        let req = Request {
            id: &rid,
            events: IDLE_EVENTS,
            signals: "",
            digit_map: None,
        };
        let text = msg::rqnt(name, &req);
        self.send(now, &text, pending(name, None, Step::Idle));
    }

    /// Our idea of the hook was wrong (401 off hook, 402 on hook): follow the phone.
    fn resync_hook(&mut self, now: Instant, p: &Pending, code: Option<ReturnCode>) {
        let line = self.line_use(&p.endpoint).cloned();
        match (p.step, code, line) {
            (Step::Idle, Some(ReturnCode::PHONE_OFF_HOOK), None) => self.park(now, &p.endpoint, ""),
            (Step::Park, Some(ReturnCode::PHONE_ON_HOOK), Some(LineUse::Parked)) => {
                self.set_line(&p.endpoint, None);
                self.idle_request(now, &p.endpoint);
            }
            _ => {}
        }
    }
}

fn doubt_key(endpoint: &str, call_id: &str) -> (String, String) {
    (endpoint.to_ascii_lowercase(), call_id.into())
}

fn pending(endpoint: &str, call: Option<&str>, step: Step) -> Pending {
    Pending {
        endpoint: endpoint.into(),
        call: call.map(Into::into),
        step,
    }
}
