//! Executing the call agent's commands: CRCX, MDCX, DLCX, RQNT, AUEP, AUCX
//! (and EPCF), each refused with its RFC 3435 code before anything changes.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::SocketAddr;

use base64::Engine;
use cablekey_protocol::mgcp::{
    Command, ConnectionMode, EndpointName, LocalConnectionOptions, Param, ParamName, Response,
    ReturnCode, TransactionId, Verb,
};
use cablekey_protocol::time::Instant;

use crate::connection::{Id, MAX_CONNECTIONS, MAX_PER_LINE};
use crate::digitmap::DigitMap;
use crate::gateway::{push_key_event, Event, Gateway};
use crate::keyreq::KeyRequest;
use crate::line::{Hook, NewRequest, Quarantine};
use crate::list::List;
use crate::ports::{
    ConnId, MediaController, MediaError, Role, SecurityApp, Signal, Suite, Surveillance, Terminal,
};
use crate::request;
use crate::sdp;
use crate::security::{Offer, Placement, SecurityError, SecurityManager, WipeReason};

type Refusal = ReturnCode;

/// A response to build: lines are written as given (`code: value`).
struct Answer {
    code: ReturnCode,
    lines: Vec<(&'static str, String)>,
    sdp: Option<String>,
}

impl Answer {
    fn new(code: ReturnCode) -> Answer {
        Answer {
            code,
            lines: Vec::new(),
            sdp: None,
        }
    }

    fn line(mut self, code: &'static str, value: String) -> Answer {
        self.lines.push((code, value));
        self
    }
}

/// A notification request read from a command, checked, not yet applied.
struct Prepared {
    id: Id,
    request: NewRequest,
    requested: String,
    digit_map: Option<String>,
    notified: Option<(String, SocketAddr)>,
}

/// Which lines a command names.
type Lines = List<usize, { crate::gateway::MAX_ENDPOINTS }>;

impl<M: MediaController, T: Terminal, A: SecurityApp> Gateway<M, T, A> {
    pub(crate) fn on_command(
        &mut self,
        now: Instant,
        from: SocketAddr,
        tid: TransactionId,
        cmd: &Command<'_>,
    ) {
        let mut answer = self.execute(now, from, cmd).unwrap_or_else(Answer::new);
        if answer.code.is_success() {
            if let Some(line) = self.answer_challenge(cmd) {
                answer.lines.push(line);
            }
        } else {
            self.push(Event::Refused {
                verb: cmd.verb,
                code: answer.code,
            });
        }
        let mut response = Response::new(answer.code, tid);
        // Every line goes out verbatim; the codec writes `name: value`.
        response.params = answer
            .lines
            .iter()
            .map(|(name, value)| Param::Extension { name, value })
            .collect();
        response.sdp = answer.sdp.as_deref();
        let _ = self.tx.respond(now, from, tid, response);
    }

    fn execute(
        &mut self,
        now: Instant,
        from: SocketAddr,
        cmd: &Command<'_>,
    ) -> Result<Answer, Refusal> {
        match cmd.verb {
            Verb::Crcx => self.crcx(now, from, cmd),
            Verb::Mdcx => self.mdcx(now, from, cmd),
            Verb::Dlcx => self.dlcx(now, from, cmd),
            Verb::Rqnt => self.rqnt(now, from, cmd),
            Verb::Auep => self.auep(now, cmd),
            Verb::Aucx => self.aucx(cmd),
            Verb::Epcf => self
                .lines_for(&cmd.endpoint, true)
                .map(|_| Answer::new(ReturnCode::OK)),
            // Commands a gateway sends, not receives.
            Verb::Ntfy | Verb::Rsip => Err(ReturnCode::UNKNOWN_COMMAND),
        }
    }

    fn crcx(
        &mut self,
        now: Instant,
        from: SocketAddr,
        cmd: &Command<'_>,
    ) -> Result<Answer, Refusal> {
        let line = self.line_for(&cmd.endpoint)?;
        let call = match cmd.param(ParamName::CallId) {
            Some(Param::CallId(c)) => Id::new(c).ok_or(ReturnCode::PROTOCOL_ERROR)?,
            _ => return Err(ReturnCode::PROTOCOL_ERROR),
        };
        let mode = mode_of(cmd)?.ok_or(ReturnCode::BAD_MODE)?;
        let lco = lco_of(cmd);
        let suite = suite_of(lco, self.config.default_suite)?;
        // Keys come with the connection, carried or derived: no key, no
        // call (clear mode is not built in).
        let request = KeyRequest::read(lco)?.ok_or(ReturnCode::BAD_LCO)?;
        let derived = request.is_derived();
        let key = request
            .resolve(&self.security, &call)
            .map_err(security_code)?;
        SecurityManager::check_key(&self.app, &key).map_err(security_code)?;
        // Which derived key we send with: stated, never guessed.
        let role = role_of(lco)?.ok_or(ReturnCode::BAD_LCO)?;
        let remote = remote_of(cmd)?;
        let surveillance = surveillance_of(lco)?;
        if self.conns.count_on_line(line) >= MAX_PER_LINE {
            return Err(ReturnCode::CONNECTION_LIMIT);
        }
        let prepared = self.prepare_request(from, cmd, line)?;
        let conn = self
            .conns
            .add(line, call, role, mode, suite)
            .ok_or(ReturnCode::NO_RESOURCES_NOW)?;
        let offer = Offer {
            key: Some(key),
            derived,
            suite,
            remote,
            mode,
            surveillance,
        };
        let Gateway {
            security,
            media,
            events,
            ..
        } = self;
        let at = Placement {
            line,
            call,
            role,
            local_port: conn.local_port,
        };
        let opened = security.open(media, conn.id, at, offer, &mut |c| {
            push_key_event(events, c)
        });
        if let Err(e) = opened {
            self.conns.remove(conn.id);
            self.report_status();
            return Err(security_code(e));
        }
        if let Some(c) = self.conns.get_mut(conn.id) {
            c.remote = remote;
            c.surveillance = surveillance;
        }
        self.report_status();
        self.install_request(now, line, prepared);
        let sdp = sdp::local_description(self.config.media_ip, conn.local_port, conn.id);
        let mut answer = Answer::new(ReturnCode::OK).line("I", format!("{}", conn.id));
        answer.sdp = Some(sdp);
        Ok(answer)
    }

    fn mdcx(
        &mut self,
        now: Instant,
        from: SocketAddr,
        cmd: &Command<'_>,
    ) -> Result<Answer, Refusal> {
        let line = self.line_for(&cmd.endpoint)?;
        let id = self.conn_of(cmd, line)?.ok_or(ReturnCode::PROTOCOL_ERROR)?;
        let conn = *self
            .conns
            .get(id)
            .ok_or(ReturnCode::INCORRECT_CONNECTION_ID)?;
        if let Some(Param::CallId(c)) = cmd.param(ParamName::CallId) {
            if !conn.call.is(c) {
                return Err(ReturnCode::UNKNOWN_CALL_ID);
            }
        }
        let mode = mode_of(cmd)?.unwrap_or(conn.mode);
        let lco = lco_of(cmd);
        let suite = match lco {
            Some(_) => suite_of(lco, conn.suite)?,
            None => conn.suite,
        };
        let request = KeyRequest::read(lco)?;
        let derived = request.as_ref().is_some_and(KeyRequest::is_derived);
        let key = match request {
            Some(r) => Some(
                r.resolve(&self.security, &conn.call)
                    .map_err(security_code)?,
            ),
            None => None,
        };
        // The side of a call does not change mid-call.
        if role_of(lco)?.is_some_and(|r| r != conn.role) {
            return Err(ReturnCode::LCO_INCONSISTENT);
        }
        if let Some(k) = &key {
            SecurityManager::check_key(&self.app, k).map_err(security_code)?;
        }
        let remote = remote_of(cmd)?;
        // An `L:` states the whole intercept setting; none keeps it.
        let surveillance = match lco {
            Some(_) => surveillance_of(lco)?,
            None => conn.surveillance,
        };
        let prepared = self.prepare_request(from, cmd, line)?;
        let offer = Offer {
            key,
            derived,
            suite,
            remote,
            mode,
            surveillance,
        };
        let Gateway {
            security,
            media,
            events,
            ..
        } = self;
        let updated = security.update(media, id, offer, &mut |c| push_key_event(events, c));
        self.report_status();
        updated.map_err(security_code)?;
        if let Some(c) = self.conns.get_mut(id) {
            c.mode = mode;
            c.suite = suite;
            c.remote = remote.or(c.remote);
            c.surveillance = surveillance;
        }
        self.install_request(now, line, prepared);
        let mut answer = Answer::new(ReturnCode::OK);
        answer.sdp = Some(sdp::local_description(
            self.config.media_ip,
            conn.local_port,
            id,
        ));
        Ok(answer)
    }

    fn dlcx(
        &mut self,
        now: Instant,
        from: SocketAddr,
        cmd: &Command<'_>,
    ) -> Result<Answer, Refusal> {
        let lines = self.lines_for(&cmd.endpoint, true)?;
        let call = match cmd.param(ParamName::CallId) {
            Some(Param::CallId(c)) => Some(*c),
            _ => None,
        };
        let mut doomed: List<ConnId, MAX_CONNECTIONS> = List::default();
        let on_lines = |line: usize| lines.as_slice().contains(&line);
        match cmd.param(ParamName::ConnectionId) {
            Some(Param::ConnectionId(s)) => {
                let conn = ConnId::parse(s)
                    .and_then(|id| self.conns.get(id))
                    .filter(|c| on_lines(c.line))
                    .ok_or(ReturnCode::INCORRECT_CONNECTION_ID)?;
                if call.is_some_and(|c| !conn.call.is(c)) {
                    return Err(ReturnCode::UNKNOWN_CALL_ID);
                }
                doomed.push(conn.id);
            }
            _ => {
                for c in self.conns.iter().filter(|c| on_lines(c.line)) {
                    if call.is_none_or(|id| c.call.is(id)) {
                        doomed.push(c.id);
                    }
                }
                if call.is_some() && doomed.is_empty() {
                    return Err(ReturnCode::UNKNOWN_CALL_ID);
                }
            }
        }
        let prepared = match lines.as_slice() {
            [line] => self.prepare_request(from, cmd, *line)?,
            _ => None,
        };
        let stats = match doomed.as_slice() {
            [one] => self.media.stats(*one),
            _ => None,
        };
        for &id in doomed.as_slice() {
            let Gateway {
                security,
                media,
                events,
                ..
            } = self;
            security.close(media, id, WipeReason::Deleted, &mut |c| {
                push_key_event(events, c)
            });
            self.conns.remove(id);
        }
        self.report_status();
        if let (Some(p), [line]) = (prepared, lines.as_slice()) {
            self.install_request(now, *line, Some(p));
        }
        let mut answer = Answer::new(ReturnCode::DELETED);
        if let Some(s) = stats {
            answer = answer.line(
                "P",
                format!(
                    "PS={}, OS={}, PR={}, OR={}, PL={}",
                    s.packets_sent,
                    s.octets_sent,
                    s.packets_received,
                    s.octets_received,
                    s.packets_lost
                ),
            );
        }
        Ok(answer)
    }

    fn rqnt(
        &mut self,
        now: Instant,
        from: SocketAddr,
        cmd: &Command<'_>,
    ) -> Result<Answer, Refusal> {
        let line = self.line_for(&cmd.endpoint)?;
        // The request identifier is required in an RQNT.
        let prepared = self
            .prepare_request(from, cmd, line)?
            .ok_or(ReturnCode::PROTOCOL_ERROR)?;
        self.install_request(now, line, Some(prepared));
        Ok(Answer::new(ReturnCode::OK))
    }

    fn auep(&mut self, now: Instant, cmd: &Command<'_>) -> Result<Answer, Refusal> {
        let lines = self.lines_for(&cmd.endpoint, true)?;
        if has_extension(cmd, cablekey_protocol::mgcp::CA_RESTART) {
            for &i in lines.as_slice() {
                self.call_agent_restarted(now, i);
            }
        }
        let info = match cmd.param(ParamName::RequestedInfo) {
            Some(Param::RequestedInfo(v)) => v.as_slice(),
            _ => &[],
        };
        let mut answer = Answer::new(ReturnCode::OK);
        if cmd.endpoint.is_wildcard() {
            if !info.is_empty() {
                return Err(ReturnCode::WILDCARD_TOO_COMPLICATED);
            }
            for &i in lines.as_slice() {
                answer = answer.line("Z", self.endpoint_name(i));
            }
            return Ok(answer);
        }
        let i = lines.as_slice()[0];
        let ctl = &self.lines[i];
        for code in info {
            let up = code.to_ascii_uppercase();
            match up.as_str() {
                "R" => answer = answer.line("R", ctl.requested.clone()),
                "D" => answer = answer.line("D", ctl.digit_map.clone()),
                "S" => {
                    let playing: Vec<String> = ctl
                        .line
                        .playing()
                        .iter()
                        .map(|s: Signal| format!("L/{}", s.code()))
                        .collect();
                    answer = answer.line("S", playing.join(","));
                }
                "X" => {
                    let x = ctl.request_id.as_ref().map_or("", Id::as_str);
                    answer = answer.line("X", x.into());
                }
                "N" => answer = answer.line("N", self.notified_entity(i)),
                "I" => {
                    for c in self.conns.on_line(i) {
                        answer.lines.push(("I", format!("{}", c.id)));
                    }
                }
                "ES" => {
                    let hook = match ctl.line.hook() {
                        Hook::On => "L/hu",
                        Hook::Off => "L/hd",
                    };
                    answer = answer.line("ES", hook.into());
                }
                "A" => answer = answer.line("A", capabilities()),
                _ => return Err(ReturnCode::BAD_PARAMETER),
            }
        }
        Ok(answer)
    }

    fn aucx(&mut self, cmd: &Command<'_>) -> Result<Answer, Refusal> {
        let line = self.line_for(&cmd.endpoint)?;
        let id = self.conn_of(cmd, line)?.ok_or(ReturnCode::PROTOCOL_ERROR)?;
        let conn = *self
            .conns
            .get(id)
            .ok_or(ReturnCode::INCORRECT_CONNECTION_ID)?;
        let info = match cmd.param(ParamName::RequestedInfo) {
            Some(Param::RequestedInfo(v)) => v.as_slice(),
            _ => &[],
        };
        let mut answer = Answer::new(ReturnCode::OK);
        let mut bodies: Vec<String> = Vec::new();
        for code in info {
            let up = code.to_ascii_uppercase();
            match up.as_str() {
                "C" => answer = answer.line("C", conn.call.as_str().into()),
                "M" => answer = answer.line("M", conn.mode.as_str().into()),
                "N" => answer = answer.line("N", self.notified_entity(line)),
                // Never the key: AUCX answers may be logged anywhere.
                "L" => {
                    let l = format!(
                        "a:PCMU, sc-rtp:{}, x-dir:{}",
                        conn.suite.name(),
                        conn.role.as_str()
                    );
                    answer = answer.line("L", l);
                }
                "LC" => bodies.push(sdp::local_description(
                    self.config.media_ip,
                    conn.local_port,
                    id,
                )),
                "RC" => {
                    if let Some(r) = conn.remote {
                        bodies.push(sdp::local_description(r.ip(), r.port(), id));
                    }
                }
                "P" => {
                    let s = self.media.stats(id).unwrap_or_default();
                    answer = answer.line(
                        "P",
                        format!(
                            "PS={}, OS={}, PR={}, OR={}",
                            s.packets_sent, s.octets_sent, s.packets_received, s.octets_received
                        ),
                    );
                }
                _ => return Err(ReturnCode::BAD_PARAMETER),
            }
        }
        if !bodies.is_empty() {
            // Several descriptions are separated by an empty line (RFC 3435 section 3.3.4).
            answer.sdp = Some(bodies.join("\r\n"));
        }
        Ok(answer)
    }

    /// Reads the notification request in a command (RQNT, or one embedded
    /// in CRCX, MDCX, DLCX), or `None` if it carries no `X:`.
    fn prepare_request(
        &self,
        from: SocketAddr,
        cmd: &Command<'_>,
        line: usize,
    ) -> Result<Option<Prepared>, Refusal> {
        let Some(Param::RequestIdentifier(x)) = cmd.param(ParamName::RequestIdentifier) else {
            return Ok(None);
        };
        let id = Id::new(x).ok_or(ReturnCode::PROTOCOL_ERROR)?;
        let (events, requested) = match cmd.param(ParamName::RequestedEvents) {
            Some(p @ Param::RequestedEvents(list)) => {
                (request::parse_events(list)?, format!("{p}"))
            }
            _ => (Vec::new(), String::new()),
        };
        let signals = match cmd.param(ParamName::SignalRequests) {
            Some(Param::SignalRequests(list)) => Some(request::parse_signals(list)?),
            _ => None,
        };
        let (digit_map, map_text) = match cmd.param(ParamName::DigitMap) {
            Some(Param::DigitMap(d)) => (
                Some(DigitMap::parse(d).map_err(|_| ReturnCode::PROTOCOL_ERROR)?),
                Some(String::from(*d)),
            ),
            _ => (None, None),
        };
        let quarantine = match cmd.param(ParamName::QuarantineHandling) {
            Some(Param::QuarantineHandling(words)) => quarantine_of(words)?,
            _ => Quarantine::Process,
        };
        let notified = match cmd.param(ParamName::NotifiedEntity) {
            Some(Param::NotifiedEntity(n)) => Some((String::from(*n), notify_address(n, from))),
            _ => None,
        };
        let request = NewRequest {
            events,
            signals,
            digit_map,
            quarantine,
        };
        self.lines[line].line.check(&request)?;
        Ok(Some(Prepared {
            id,
            request,
            requested,
            digit_map: map_text,
            notified,
        }))
    }

    fn install_request(&mut self, now: Instant, line: usize, prepared: Option<Prepared>) {
        let Some(p) = prepared else {
            return;
        };
        let ctl = &mut self.lines[line];
        ctl.request_id = Some(p.id);
        ctl.requested = p.requested;
        if let Some(d) = p.digit_map {
            ctl.digit_map = d;
        }
        if let Some((text, addr)) = p.notified {
            ctl.notified_entity = Some(text);
            ctl.notify_to = addr;
        }
        let out = ctl.line.apply(now, p.request, &mut self.terminal);
        self.after(now, line, out);
    }

    /// The call agent restarted (its audit says so, `X-CA-Restart`): it
    /// never saw our outstanding NTFY on line `line`, so waiting for its
    /// answer would only hold the line's next events back until a
    /// retransmission (up to 4 s apart) reaches the new process. The old
    /// transaction goes on retransmitting; events held behind it go out now.
    /// Lockstep stays otherwise: a live call agent's requests never end it.
    fn call_agent_restarted(&mut self, now: Instant, line: usize) {
        let Some(ctl) = self.lines.get_mut(line) else {
            return;
        };
        let held = ctl.ntfy.take().is_some() && core::mem::take(&mut ctl.ntfy_held);
        if held && !ctl.line.observed().is_empty() {
            self.send_ntfy(now, line);
        }
    }

    fn answer_challenge(&mut self, cmd: &Command<'_>) -> Option<(&'static str, String)> {
        let challenge = cmd.params.iter().find_map(|p| match p {
            Param::Extension { name, value } if name.eq_ignore_ascii_case("X-Challenge") => {
                Some(*value)
            }
            _ => None,
        })?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let bytes = b64
            .decode(challenge.trim())
            .ok()
            .filter(|b| b.len() <= 256)?;
        let mut out = [0u8; 64];
        let n = SecurityManager::challenge(&mut self.app, &bytes, &mut out)?;
        let text = b64.encode(&out[..n]);
        Some(("X-Authenticator", text))
    }

    fn notified_entity(&self, line: usize) -> String {
        let ctl = &self.lines[line];
        match &ctl.notified_entity {
            Some(n) => n.clone(),
            None => format!("ca@{}", bracketed(self.config.call_agent)),
        }
    }

    /// The one line a command names; wildcards are refused.
    fn line_for(&self, ep: &EndpointName<'_>) -> Result<usize, Refusal> {
        if ep.is_wildcard() && self.owns_domain(ep) {
            return Err(ReturnCode::WILDCARD_TOO_COMPLICATED);
        }
        Ok(self.lines_for(ep, false)?.as_slice()[0])
    }

    /// The lines a command names: `<prefix>/N` (`aaln/N`, `ds/ds1-1/N`),
    /// or with `all`, `<prefix>/*` and `*`.
    fn lines_for(&self, ep: &EndpointName<'_>, all: bool) -> Result<Lines, Refusal> {
        if !self.owns_domain(ep) {
            return Err(ReturnCode::UNKNOWN_ENDPOINT);
        }
        let mut out = Lines::default();
        let mut terms = ep.terms();
        let mut prefix = self.config.endpoint_prefix.split('/');
        let which = match terms.next() {
            Some("*") if terms.next().is_none() => "*",
            first => {
                let mut term = first;
                // Every prefix term in order, then the number, then nothing.
                for want in prefix.by_ref() {
                    match term {
                        Some(t) if t.eq_ignore_ascii_case(want) => term = terms.next(),
                        _ => return Err(ReturnCode::UNKNOWN_ENDPOINT),
                    }
                }
                match (term, terms.next()) {
                    (Some(n), None) => n,
                    _ => return Err(ReturnCode::UNKNOWN_ENDPOINT),
                }
            }
        };
        match which {
            "*" if all => (0..self.lines.len()).for_each(|i| {
                out.push(i);
            }),
            "*" | "$" => return Err(ReturnCode::WILDCARD_TOO_COMPLICATED),
            n => {
                let i = n
                    .parse::<usize>()
                    .ok()
                    .filter(|i| (1..=self.lines.len()).contains(i))
                    .ok_or(ReturnCode::UNKNOWN_ENDPOINT)?;
                out.push(i - 1);
            }
        }
        Ok(out)
    }

    fn owns_domain(&self, ep: &EndpointName<'_>) -> bool {
        ep.domain.eq_ignore_ascii_case(&self.config.domain)
    }

    /// The `I:` of a command, checked to be a connection of `line`.
    fn conn_of(&self, cmd: &Command<'_>, line: usize) -> Result<Option<ConnId>, Refusal> {
        let Some(Param::ConnectionId(s)) = cmd.param(ParamName::ConnectionId) else {
            return Ok(None);
        };
        let id = ConnId::parse(s)
            .filter(|id| self.conns.get(*id).is_some_and(|c| c.line == line))
            .ok_or(ReturnCode::INCORRECT_CONNECTION_ID)?;
        Ok(Some(id))
    }
}

fn has_extension(cmd: &Command<'_>, name: &str) -> bool {
    cmd.params
        .iter()
        .any(|p| matches!(p, Param::Extension { name: n, .. } if n.eq_ignore_ascii_case(name)))
}

fn mode_of(cmd: &Command<'_>) -> Result<Option<ConnectionMode>, Refusal> {
    match cmd.param(ParamName::ConnectionMode) {
        Some(Param::ConnectionMode(m)) => match m {
            // Bridging and trunk continuity tests are not for a CTA.
            ConnectionMode::Conference | ConnectionMode::ContinuityTest => {
                Err(ReturnCode::BAD_MODE)
            }
            m => Ok(Some(*m)),
        },
        _ => Ok(None),
    }
}

fn lco_of<'c, 'a>(cmd: &'c Command<'a>) -> Option<&'c LocalConnectionOptions<'a>> {
    match cmd.param(ParamName::LocalConnectionOptions) {
        Some(Param::LocalConnectionOptions(l)) => Some(l),
        _ => None,
    }
}

/// The first suite we support in `sc-rtp:` (RFC 4568 names, `/` or `;`
/// separated), or `default` if the option is absent.
fn suite_of(lco: Option<&LocalConnectionOptions<'_>>, default: Suite) -> Result<Suite, Refusal> {
    use cablekey_protocol::mgcp::LcoItem;
    match lco.and_then(|l| l.find("sc-rtp")) {
        Some(LcoItem::RtpSecurity(list)) => list
            .split(['/', ';'])
            .find_map(|s| suite_named(s.trim()))
            .ok_or(ReturnCode::LCO_UNSUPPORTED_VALUE),
        _ => Ok(default),
    }
}

/// `x-dir:caller|callee`; another value is 532.
fn role_of(lco: Option<&LocalConnectionOptions<'_>>) -> Result<Option<Role>, Refusal> {
    use cablekey_protocol::mgcp::LcoItem;
    match lco.and_then(|l| l.find("x-dir")) {
        Some(LcoItem::Other { value, .. }) => Role::from_token(value.trim())
            .map(Some)
            .ok_or(ReturnCode::LCO_UNSUPPORTED_VALUE),
        _ => Ok(None),
    }
}

/// NCS electronic surveillance: `es-ccd:<address>:<port>` with
/// `es-cci:<1 to 8 hex digits>`. Both or neither (524); an address that is
/// not a literal (the core cannot resolve names) or a bad identifier is 532.
fn surveillance_of(
    lco: Option<&LocalConnectionOptions<'_>>,
) -> Result<Option<Surveillance>, Refusal> {
    use cablekey_protocol::mgcp::LcoItem;
    let ccd = lco.and_then(|l| l.find("es-ccd"));
    let cci = lco.and_then(|l| l.find("es-cci"));
    match (ccd, cci) {
        (None, None) => Ok(None),
        (Some(LcoItem::SurveillanceDestination(d)), Some(LcoItem::SurveillanceId(i))) => {
            let collector = d
                .trim()
                .parse::<SocketAddr>()
                .map_err(|_| ReturnCode::LCO_UNSUPPORTED_VALUE)?;
            let i = i.trim();
            let hex = (1..=8).contains(&i.len()) && i.bytes().all(|b| b.is_ascii_hexdigit());
            let cci = u32::from_str_radix(i, 16)
                .ok()
                .filter(|_| hex)
                .ok_or(ReturnCode::LCO_UNSUPPORTED_VALUE)?;
            Ok(Some(Surveillance { collector, cci }))
        }
        _ => Err(ReturnCode::LCO_INCONSISTENT),
    }
}

/// Suite names are ABNF literals: compared case-insensitively.
fn suite_named(name: &str) -> Option<Suite> {
    Suite::ALL
        .into_iter()
        .find(|s| s.name().eq_ignore_ascii_case(name))
}

fn remote_of(cmd: &Command<'_>) -> Result<Option<SocketAddr>, Refusal> {
    match cmd.sdp {
        Some(s) if !s.trim().is_empty() => {
            sdp::remote_media(s).map(Some).ok_or(ReturnCode::BAD_RCD)
        }
        _ => Ok(None),
    }
}

fn quarantine_of(words: &[&str]) -> Result<Quarantine, Refusal> {
    let mut q = Quarantine::Process;
    for w in words {
        match w.to_ascii_lowercase().as_str() {
            "process" => q = Quarantine::Process,
            "discard" => q = Quarantine::Discard,
            // Lockstep is the only mode; `loop` is read as `step`.
            "step" | "loop" => {}
            _ => return Err(ReturnCode::UNKNOWN_QUARANTINE),
        }
    }
    Ok(q)
}

/// Where NTFY goes for `N: name@host:port`: an address literal, else the
/// sender of the command (the core cannot resolve names).
fn notify_address(entity: &str, from: SocketAddr) -> SocketAddr {
    let host = entity.rsplit_once('@').map_or(entity, |(_, h)| h);
    if let Ok(addr) = host.parse::<SocketAddr>() {
        return addr;
    }
    let (ip, port) = match host.rsplit_once(']') {
        Some((ip, rest)) => (ip.trim_start_matches('['), rest.strip_prefix(':')),
        None => (host, None),
    };
    let port = port
        .and_then(|p| p.parse().ok())
        .unwrap_or(cablekey_protocol::mgcp::CALL_AGENT_PORT);
    ip.parse().map_or(from, |ip| SocketAddr::new(ip, port))
}

fn bracketed(addr: SocketAddr) -> String {
    format!("[{}]:{}", addr.ip(), addr.port())
}

fn capabilities() -> String {
    let suites: Vec<&str> = Suite::ALL.iter().map(|s| s.name()).collect();
    format!(
        "a:PCMU, p:10-30, e:on, s:off, v:L;D, m:sendonly;recvonly;sendrecv;inactive;loopback;netwloop;netwtest, sc-rtp:{}",
        suites.join(";")
    )
}

fn security_code(e: SecurityError) -> ReturnCode {
    match e {
        SecurityError::NotEnrolled => ReturnCode::NOT_READY,
        SecurityError::ShortKey | SecurityError::Media(MediaError::BadKey) => {
            ReturnCode::LCO_UNSUPPORTED_VALUE
        }
        SecurityError::Media(MediaError::Unsupported) => ReturnCode::LCO_UNSUPPORTED_VALUE,
        // `x-key:derived` is a value this endpoint cannot honour without a
        // session key; keys carried in `k:` still work, so not 501.
        SecurityError::NoSessionKey => ReturnCode::LCO_UNSUPPORTED_VALUE,
        SecurityError::NoRoom | SecurityError::Media(MediaError::NoResources) => {
            ReturnCode::NO_RESOURCES_NOW
        }
    }
}
