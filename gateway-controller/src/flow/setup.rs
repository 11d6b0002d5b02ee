//! From a confirmed escrow to a connected call: CRCX with K to the called
//! side, then to the caller, then MDCX both ways at the answer. An anchored
//! call first gets its media gateway connections ([`super::anchor`]).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cablekey_protocol::mgcp::{Param, ParamName, Response, ReturnCode};
use cablekey_protocol::time::Instant;
use zeroize::Zeroizing;

use super::{doubt_key, pending, Outcome};
use crate::call::{EndReason, RefuseReason, Side, State};
use crate::controller::{Controller, EscrowFailure, Event, Pending, Step};
use crate::keys::KeySource;
use crate::msg::{self, Request, HANG_UP_EVENTS, IDLE_EVENTS};

impl<K: KeySource> Controller<K> {
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
        if self.config.anchor.is_some() {
            self.start_anchor(now, id);
            return;
        }
        call.state = State::CreatingCallee;
        self.create(now, id, Side::Callee);
    }

    /// CRCX with the key to one side. Only ever reached once escrowed. The
    /// caller of a derived-key call gets the marker instead: K was made
    /// from its session key, so it derives K and K stays off its link.
    pub(super) fn create(&mut self, now: Instant, id: &str, side: Side) {
        let rid = self.request_id();
        let suite = self.config.suite.name();
        let tap = self.calls.get(id).and_then(|c| self.tap_of(c));
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        let (Some(key), true) = (call.key.as_ref(), call.escrowed) else {
            return;
        };
        let key_text = Zeroizing::new(STANDARD.encode(key.expose()));
        let key_item = match side {
            Side::Caller if call.derived => msg::KeyItem::Derived,
            _ => msg::KeyItem::Base64(&key_text),
        };
        // Anchored: each CTA sends to the gateway's connection facing it.
        let anchored = call.mgw_leg(side).map(|l| l.sdp.clone());
        let (endpoint, remote_sdp, r) = match side {
            Side::Callee => {
                let Some(leg) = call.callee.as_mut() else {
                    return;
                };
                leg.created = true;
                leg.tap = tap;
                let r = (IDLE_EVENTS, "L/rg");
                (leg.endpoint.clone(), None, r)
            }
            Side::Caller => {
                call.caller.created = true;
                call.caller.tap = tap;
                let sdp = call.callee.as_ref().and_then(|l| l.sdp.clone());
                (call.caller.endpoint.clone(), sdp, (HANG_UP_EVENTS, "L/rt"))
            }
        };
        let remote_sdp = anchored.unwrap_or(remote_sdp);
        let c = msg::Connect {
            call_id: id,
            key: key_item,
            suite,
            side: side.token(),
            mode: "recvonly",
            remote_sdp: remote_sdp.as_deref(),
            tap: tap.as_ref(),
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
    pub(super) fn answer(&mut self, now: Instant, id: &str) {
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        call.state = State::Answering;
        call.deadline = None;
        let caller = (call.caller.endpoint.clone(), call.caller.conn.clone());
        // Anchored, the callee already sends to the gateway.
        let caller_sdp = call.caller.sdp.clone().filter(|_| call.anchor.is_none());
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
        self.modify_anchor(now, id);
    }

    pub(crate) fn on_success(&mut self, now: Instant, p: Pending, resp: &Response<'_>) {
        match p.step {
            Step::Audit => return self.on_audited(now, &p, resp),
            Step::AuditConnection => return self.on_audited_connection(now, &p, resp),
            _ => {}
        }
        let Some(id) = p.call.as_deref() else {
            return;
        };
        if matches!(p.step, Step::Dlcx(_)) {
            // 250: it existed and is gone now; nothing more can appear
            // unless a CRCX is still in flight, which the doubt covers.
            if resp.code == ReturnCode::DELETED {
                self.doubtful.remove(&doubt_key(&p.endpoint, id));
            }
            return;
        }
        let Some(call) = self.calls.get_mut(id) else {
            // A connection made for a call already released: delete it.
            match p.step {
                Step::Crcx(_) => self.delete(now, &p.endpoint, id),
                Step::MgwCrcx(_) => self.delete_late_mgw(now, &p, resp),
                _ => {}
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
                let tapped = call.leg_mut(side).is_some_and(|l| l.tap.is_some());
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
                if tapped {
                    self.on_tapped(id, side);
                }
                // A task set while this CRCX was in flight.
                self.retap(now, id);
            }
            Step::Tap(side) => self.on_tapped(id, side),
            Step::MgwCrcx(side) => self.on_mgw_created(now, &p, side, resp),
            Step::Mdcx(_) | Step::MgwMdcx(_) => {
                if call.state != State::Answering {
                    return;
                }
                // Connected once every MDCX is answered: none is pending.
                let other = self.pending.values().any(|q| {
                    q.call.as_deref() == Some(id)
                        && matches!(q.step, Step::Mdcx(_) | Step::MgwMdcx(_))
                });
                if !other {
                    call.state = State::Connected;
                    self.events
                        .push_back(Event::Connected { call_id: id.into() });
                }
            }
            Step::Rqnt
            | Step::Idle
            | Step::Park
            | Step::Dlcx(_)
            | Step::Audit
            | Step::AuditConnection => {}
        }
    }
}
