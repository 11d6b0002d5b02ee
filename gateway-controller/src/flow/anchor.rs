//! Anchored calls: the media gateway's two connections are created after
//! escrow and before any CTA gets the key, modified with the CTAs' SDP at
//! the answer and deleted at release. Nothing sent here carries the key.
//!
//! ```text
//! CRCX rtpbridge/*@mgw  -> 200 I: m1, Z: rtpbridge/N@mgw, SDP-M1  (faces the callee)
//! CRCX rtpbridge/N@mgw  -> 200 I: m2, SDP-M2                      (faces the caller)
//! CTA CRCX to the callee with SDP-M1, to the caller with SDP-M2 (as without anchor)
//! at the answer: MDCX m1 with SDP-B, MDCX m2 with SDP-A, both sendrecv
//! at release: DLCX m1, DLCX m2
//! ```

use cablekey_protocol::mgcp::{EndpointName, Param, ParamName, Response, ReturnCode};
use cablekey_protocol::time::Instant;

use super::{pending, Outcome};
use crate::anchor::{Anchored, MgwLeg};
use crate::call::{RefuseReason, Side, State};
use crate::controller::{Controller, Pending, Step};
use crate::keys::KeySource;
use crate::msg;

/// A wildcard name (or no name at all): never DLCX'd, osmo-mgw would
/// empty every endpoint.
pub(super) fn is_wildcard(endpoint: &str) -> bool {
    EndpointName::parse(endpoint).is_none_or(|e| e.is_wildcard())
}

fn conn_of(resp: &Response<'_>) -> Option<String> {
    match resp.param(ParamName::ConnectionId) {
        Some(Param::ConnectionId(c)) => Some((*c).to_string()),
        _ => None,
    }
}

impl<K: KeySource> Controller<K> {
    /// Escrow confirmed: the gateway's connection facing the callee first,
    /// on any free endpoint.
    pub(super) fn start_anchor(&mut self, now: Instant, id: &str) {
        let Some(any) = self.config.anchor.as_ref().map(|a| a.any_endpoint()) else {
            return;
        };
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        call.state = State::Anchoring;
        call.anchor = Some(Anchored::default());
        let text = msg::mgw_crcx(&any, id);
        self.send(
            now,
            &text,
            pending(&any, Some(id), Step::MgwCrcx(Side::Callee)),
        );
    }

    /// The gateway created a connection. The first one names the endpoint
    /// the second must share; after both, the CTAs are created.
    pub(super) fn on_mgw_created(
        &mut self,
        now: Instant,
        p: &Pending,
        side: Side,
        resp: &Response<'_>,
    ) {
        let Some(id) = p.call.as_deref() else {
            return;
        };
        let named = match resp.param(ParamName::SpecificEndpointId) {
            Some(Param::SpecificEndpointId(e)) => Some(*e),
            _ => None,
        };
        let anchor = self.config.anchor.as_ref();
        let endpoint = match named {
            Some(e) if anchor.is_some_and(|a| a.accepts(&e)) => Some(e.to_string()),
            // A concrete name we asked for needs no `Z:`.
            None if !is_wildcard(&p.endpoint) => Some(p.endpoint.clone()),
            _ => None,
        };
        let conn = conn_of(resp);
        let sdp = resp.sdp.map(str::to_string);
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        let (Some(a), State::Anchoring) = (call.anchor.as_mut(), call.state) else {
            return;
        };
        let (Some(endpoint), Some(conn), Some(sdp)) = (endpoint, conn, sdp) else {
            let why = RefuseReason::MediaGatewayRefused(ReturnCode::PROTOCOL_ERROR);
            self.release(now, id, Outcome::Refused(why));
            return;
        };
        a.endpoint = Some(endpoint.clone());
        let leg = match side {
            Side::Callee => &mut a.callee,
            Side::Caller => &mut a.caller,
        };
        *leg = MgwLeg {
            conn: Some(conn),
            sdp: Some(sdp),
        };
        match side {
            Side::Callee => {
                let text = msg::mgw_crcx(&endpoint, id);
                let p = pending(&endpoint, Some(id), Step::MgwCrcx(Side::Caller));
                self.send(now, &text, p);
            }
            Side::Caller => {
                call.state = State::CreatingCallee;
                self.create(now, id, Side::Callee);
            }
        }
    }

    /// A connection the gateway made for a call already released.
    pub(super) fn delete_late_mgw(&mut self, now: Instant, p: &Pending, resp: &Response<'_>) {
        let (Some(id), Some(conn)) = (p.call.as_deref(), conn_of(resp)) else {
            return;
        };
        let anchor = self.config.anchor.as_ref();
        let endpoint = match resp.param(ParamName::SpecificEndpointId) {
            Some(Param::SpecificEndpointId(e)) if anchor.is_some_and(|a| a.accepts(e)) => {
                e.to_string()
            }
            _ if !is_wildcard(&p.endpoint) => p.endpoint.clone(),
            _ => return,
        };
        let text = msg::mgw_dlcx(&endpoint, id, Some(&conn));
        self.send(now, &text, pending(&endpoint, Some(id), Step::Dlcx(None)));
    }

    /// At the answer: each gateway connection sends to its CTA.
    pub(super) fn modify_anchor(&mut self, now: Instant, id: &str) {
        let Some(call) = self.calls.get(id) else {
            return;
        };
        let Some(endpoint) = call.anchor.as_ref().and_then(|a| a.endpoint.clone()) else {
            return;
        };
        let mut commands = Vec::new();
        for side in [Side::Callee, Side::Caller] {
            let cta = match side {
                Side::Caller => Some(&call.caller),
                Side::Callee => call.callee.as_ref(),
            };
            let cta_sdp = cta.and_then(|l| l.sdp.as_deref());
            let conn = call.mgw_leg(side).and_then(|l| l.conn.as_deref());
            if let (Some(sdp), Some(conn)) = (cta_sdp, conn) {
                commands.push((side, msg::mgw_mdcx(&endpoint, id, conn, sdp)));
            }
        }
        for (side, text) in commands {
            self.send(
                now,
                &text,
                pending(&endpoint, Some(id), Step::MgwMdcx(side)),
            );
        }
    }

    /// At release: deletes the gateway connections we know of. One whose
    /// CRCX is still out is deleted when its answer comes.
    pub(super) fn release_anchor(&mut self, now: Instant, id: &str, anchored: Anchored) {
        let Some(endpoint) = anchored.endpoint else {
            return;
        };
        for leg in [anchored.callee, anchored.caller] {
            if let Some(conn) = leg.conn {
                let text = msg::mgw_dlcx(&endpoint, id, Some(&conn));
                self.send(now, &text, pending(&endpoint, Some(id), Step::Dlcx(None)));
            }
        }
    }
}
