//! The call agent core: MGCP in and out through the transaction layer,
//! calls in [`crate::flow`], escrow through events.
//!
//! How to drive it (times from one monotonic clock, never going back):
//! 1. Input: [`Controller::handle_datagram`] for each MGCP datagram,
//!    [`Controller::handle_timeout`] once [`Controller::poll_timeout`] has
//!    passed (early or repeated calls do nothing), and
//!    [`Controller::handle_escrowed`] when the escrow layer has made a key
//!    durable (or failed to).
//! 2. Output: send every [`Controller::poll_transmit`]; act on every
//!    [`Controller::poll_event`] — [`Event::Escrow`] must reach the escrow
//!    layer, the rest are for logs and metrics.
//!
//! The invariant: no datagram carrying a call key is queued before
//! `handle_escrowed(.., Ok(()))` for that call.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use cablekey_protocol::escrow::{CallMeta, Party as EscrowParty};
use cablekey_protocol::mgcp::transaction::{
    self, Endpoint, Event as TxEvent, Input, TransactionError, Transmit,
};
use cablekey_protocol::mgcp::{Param, ParamName, ParseError, ReturnCode, TransactionId};
use cablekey_protocol::secret::SecretBytes;
use cablekey_protocol::srtp::Suite;
use cablekey_protocol::time::Instant;

use crate::anchor::Anchor;
use zeroize::Zeroizing;

use crate::call::{Call, EndReason, RefuseReason, Side, State};
use crate::escrow::EscrowError;
use crate::intercept::Intercept;
use crate::keys::{KeyMode, KeySource};
use crate::msg::{HANG_UP_EVENTS, IDLE_EVENTS};
use crate::registry::{key_of, Registry};

pub struct Config {
    pub transaction: transaction::Config,
    /// Sent with dial tone (`D:`).
    pub digit_map: String,
    pub key_mode: KeyMode,
    pub suite: Suite,
    /// Ringing this long without an answer ends the call.
    pub no_answer: Duration,
    /// The escrow layer answering later than this refuses the call.
    pub escrow_wait: Duration,
    pub max_calls: usize,
    /// A connection whose CRCX or DLCX went unanswered is deleted again
    /// this often, for [`Config::doubt_lifetime`].
    pub doubt_retry: Duration,
    /// Longer than a datagram can live in the network.
    pub doubt_lifetime: Duration,
    /// First call number (call ids are its hex); seed it so a restarted
    /// controller does not reuse ids.
    pub first_call_number: u64,
    /// Anchor every call's media at this media gateway.
    pub anchor: Option<Anchor>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            transaction: transaction::Config::default(),
            digit_map: "(0T|00T|[1-7]xxx|8xxxxxxx|#xxxxxxx|*xx|91xxxxxxxxxx|9011x.T)".into(),
            key_mode: KeyMode::Random,
            suite: Suite::AeadAes128Gcm,
            no_answer: Duration::from_secs(60),
            escrow_wait: Duration::from_secs(5),
            max_calls: 10_000,
            doubt_retry: Duration::from_secs(5),
            doubt_lifetime: Duration::from_secs(60),
            first_call_number: 1,
            anchor: None,
        }
    }
}

/// A party of a call as the escrow record names it. Numbers are personal
/// data: `Debug` leaves them out.
#[derive(Clone, PartialEq, Eq)]
pub struct Party {
    pub number: Option<String>,
    pub endpoint: String,
}

impl fmt::Debug for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Party({})", self.endpoint)
    }
}

/// What the escrow record holds besides the sealed key. The driver adds
/// the wall-clock time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordMeta {
    pub call_id: String,
    pub caller: Party,
    pub callee: Party,
    pub suite: &'static str,
    pub started: Instant,
}

impl RecordMeta {
    /// The escrow store's metadata, with the wall-clock start the driver
    /// read. A party without a number is recorded as `unknown`, never guessed.
    pub fn to_call_meta(&self, start_unix_ms: u64) -> CallMeta {
        let party = |p: &Party| EscrowParty {
            number: p.number.clone().unwrap_or_else(|| "unknown".into()),
            endpoint: p.endpoint.clone(),
        };
        CallMeta {
            call_id: self.call_id.clone(),
            caller: party(&self.caller),
            callee: party(&self.callee),
            start_unix_ms,
            suite: self.suite.into(),
        }
    }
}

/// The escrow layer could not make a key durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EscrowFailure(pub String);

impl From<&EscrowError> for EscrowFailure {
    fn from(e: &EscrowError) -> EscrowFailure {
        EscrowFailure(e.to_string())
    }
}

/// What the controller reports. Keys appear only inside
/// [`Event::Escrow`], whose `Debug` shows a fingerprint.
#[derive(Debug)]
pub enum Event {
    /// Escrow this key durably, then call
    /// [`Controller::handle_escrowed`].
    Escrow {
        call_id: String,
        record_meta: RecordMeta,
        key: SecretBytes,
    },
    /// A gateway restarted; these endpoints are now reachable.
    Registered {
        endpoints: Vec<String>,
    },
    /// Off hook on an idle line: dial tone.
    Dialing {
        call_id: String,
        caller: String,
    },
    Routed {
        call_id: String,
        callee: String,
    },
    Ringing {
        call_id: String,
    },
    Connected {
        call_id: String,
    },
    Refused {
        call_id: String,
        reason: RefuseReason,
    },
    Ended {
        call_id: String,
        reason: EndReason,
    },
    /// A connection of the call now copies its media to a collector
    /// (`active`), or stopped copying. For the LI audit.
    Tapped {
        call_id: String,
        endpoint: String,
        active: bool,
    },
    /// A tap MDCX was refused (`code`) or went unanswered (`None`); the
    /// call goes on untouched.
    TapFailed {
        call_id: String,
        endpoint: String,
        code: Option<ReturnCode>,
    },
    /// An audit after our restart found a connection of a call we do not
    /// have (the old process's); it is being deleted.
    StaleConnection {
        endpoint: String,
        call_id: String,
    },
    /// A command failed outside of any call (logs).
    CommandFailed {
        endpoint: String,
        code: ReturnCode,
    },
    BadMessage {
        from: SocketAddr,
        error: ParseError,
    },
}

/// What a line is doing beyond idle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LineUse {
    InCall(String),
    /// Off hook after a call or a refusal; waiting for on-hook.
    Parked,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Dial tone and digits, for a call.
    Rqnt,
    /// Wait for off-hook.
    Idle,
    /// Wait for on-hook.
    Park,
    Crcx(Side),
    Mdcx(Side),
    /// The media gateway's connection facing this side.
    MgwCrcx(Side),
    MgwMdcx(Side),
    /// MDCX changing only a connection's intercept options.
    Tap(Side),
    /// With the line's next request riding on it, if any.
    Dlcx(Option<Wait>),
    /// AUEP after our restart: the endpoint's connections and hook.
    Audit,
    /// AUCX of a connection an audit found: its call id.
    AuditConnection,
}

/// What a line waits for once no call holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// On hook: off-hook.
    Idle,
    /// Off hook, hearing this tone: on-hook.
    Park(&'static str),
}

impl Wait {
    pub(crate) fn events(self) -> &'static str {
        match self {
            Wait::Idle => IDLE_EVENTS,
            Wait::Park(_) => HANG_UP_EVENTS,
        }
    }

    pub(crate) fn signals(self) -> &'static str {
        match self {
            Wait::Idle => "",
            Wait::Park(tone) => tone,
        }
    }

    /// The step of an RQNT asking for it.
    pub(crate) fn step(self) -> Step {
        match self {
            Wait::Idle => Step::Idle,
            Wait::Park(_) => Step::Park,
        }
    }

    pub(crate) fn line_use(self) -> Option<LineUse> {
        match self {
            Wait::Idle => None,
            Wait::Park(_) => Some(LineUse::Parked),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Doubt {
    pub next: Instant,
    pub until: Instant,
}

/// A command of ours awaiting its response.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub endpoint: String,
    pub call: Option<String>,
    pub step: Step,
}

pub struct Controller<K> {
    pub(crate) config: Config,
    pub(crate) tx: Endpoint,
    pub(crate) registry: Registry,
    pub(crate) keys: K,
    pub(crate) calls: BTreeMap<String, Call>,
    /// By lower-case endpoint name; idle lines are absent. This map,
    /// `accepted` and `busy` are hashed: looked up per message, never walked.
    pub(crate) lines: HashMap<String, LineUse>,
    pub(crate) pending: BTreeMap<TransactionId, Pending>,
    /// The request identifier (`X:`) each outstanding command carries.
    requests: BTreeMap<TransactionId, u64>,
    /// By lower-case endpoint name: the newest request identifier the
    /// endpoint accepted. A NTFY under an older one is stale.
    accepted: HashMap<String, u64>,
    /// Commands that could not be sent: handled as if timed out.
    pub(crate) unsent: VecDeque<Pending>,
    /// Endpoints with a command of ours outstanding, and the commands
    /// waiting behind it. One at a time per endpoint: RFC 3435 leaves
    /// ordering to the call agent, and a late retransmission of an older
    /// RQNT would otherwise replace a newer one at the gateway.
    pub(crate) busy: HashMap<String, VecDeque<(Zeroizing<String>, Pending)>>,
    /// Connections that may exist though their call is gone (a CRCX or
    /// DLCX whose outcome we never learned), by (endpoint, call id): DLCX
    /// again until one deletes something or the deadline passes.
    pub(crate) doubtful: BTreeMap<(String, String), Doubt>,
    /// Intercept tasks by target number ([`crate::intercept`]).
    pub(crate) intercepts: BTreeMap<String, Intercept>,
    pub(crate) next_call: u64,
    pub(crate) next_request: u64,
    pub(crate) events: VecDeque<Event>,
}

impl<K: KeySource> Controller<K> {
    pub fn new(config: Config, registry: Registry, keys: K) -> Controller<K> {
        let mut tx = Endpoint::new(config.transaction.clone());
        if let Some(a) = &config.anchor {
            tx.never_acknowledge(a.mgw);
        }
        Controller {
            tx,
            next_call: config.first_call_number,
            config,
            registry,
            keys,
            calls: BTreeMap::new(),
            lines: HashMap::new(),
            pending: BTreeMap::new(),
            unsent: VecDeque::new(),
            busy: HashMap::new(),
            doubtful: BTreeMap::new(),
            intercepts: BTreeMap::new(),
            next_request: 1,
            requests: BTreeMap::new(),
            accepted: HashMap::new(),
            events: VecDeque::new(),
        }
    }

    /// At start-up, as after a controller restart: audits every endpoint
    /// whose address is configured (AUEP, then AUCX per connection found),
    /// deletes connections of calls that are not ours (the old process's),
    /// then puts the endpoint in the idle state (waiting for off-hook)
    /// without waiting for its RSIP. Endpoints in a call are left alone.
    pub fn start(&mut self, now: Instant) {
        self.audit_all(now);
        self.drain(now);
    }

    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        for piece in transaction::messages(datagram) {
            if let Some(input) = self.tx.handle_message(now, from, piece) {
                self.on_input(now, input);
            }
        }
        self.drain(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        self.drain(now);
        let due: Vec<String> = self
            .calls
            .values()
            .filter(|c| c.deadline.is_some_and(|d| d <= now))
            .map(|c| c.id.clone())
            .collect();
        for id in due {
            self.on_deadline(now, &id);
        }
        self.retry_doubtful(now);
        self.drain(now);
    }

    /// The escrow layer's answer for `call_id`. Late answers (the call is
    /// gone) are ignored.
    pub fn handle_escrowed(
        &mut self,
        now: Instant,
        call_id: &str,
        result: Result<(), EscrowFailure>,
    ) {
        self.on_escrowed(now, call_id, result);
        self.drain(now);
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tx.poll_transmit()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let calls = self.calls.values().filter_map(|c| c.deadline);
        let doubts = self.doubtful.values().map(|d| d.next);
        calls.chain(doubts).chain(self.tx.poll_timeout()).min()
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Calls in progress.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    pub fn call_state(&self, call_id: &str) -> Option<State> {
        self.calls.get(call_id).map(|c| c.state)
    }

    pub fn transactions(&self) -> &Endpoint {
        &self.tx
    }

    /// Handles transaction events and unsent commands until none are left.
    /// Each round either answers a command or retires a pending one, so it ends.
    pub(crate) fn drain(&mut self, now: Instant) {
        loop {
            if let Some(ev) = self.tx.poll_event() {
                self.on_tx_event(now, ev);
            } else if let Some(p) = self.unsent.pop_front() {
                self.on_failed(now, p, None);
            } else {
                break;
            }
        }
    }

    /// A message received, parsed once by the transaction layer.
    fn on_input(&mut self, now: Instant, input: Input<'_>) {
        match input {
            Input::Command { from, command, .. } => {
                self.on_command(now, from, command.tid, &command);
            }
            Input::Response { response, .. } => {
                let (tid, code) = (response.tid, response.code);
                let rid = self.requests.remove(&tid);
                let Some(p) = self.pending.remove(&tid) else {
                    return;
                };
                if let (Some(rid), true) = (rid, code.is_success()) {
                    let newest = self
                        .accepted
                        .entry(key_of(&p.endpoint).into_owned())
                        .or_default();
                    *newest = (*newest).max(rid);
                }
                // What waited goes first: it was decided before what this
                // answer will make us send.
                self.next_for(now, &p.endpoint);
                if code.is_success() {
                    self.on_success(now, p, &response);
                } else {
                    self.on_failed(now, p, Some(code));
                }
            }
            Input::BadMessage { from, error } => {
                self.events.push_back(Event::BadMessage { from, error })
            }
            Input::Provisional { .. } => {}
        }
    }

    fn on_tx_event(&mut self, now: Instant, ev: TxEvent) {
        match ev {
            TxEvent::TimedOut { tid, .. } => {
                self.requests.remove(&tid);
                if let Some(p) = self.pending.remove(&tid) {
                    self.next_for(now, &p.endpoint);
                    self.on_failed(now, p, None);
                }
            }
            // Queued only by `Endpoint::handle_datagram`, which is not used:
            // messages come through `on_input`.
            TxEvent::Command { .. }
            | TxEvent::Response { .. }
            | TxEvent::Provisional { .. }
            | TxEvent::BadMessage { .. } => {}
        }
    }

    /// Sends a command we built, once the endpoint has no other command of
    /// ours outstanding; a failure to send is handled like a time-out.
    pub(crate) fn send(&mut self, now: Instant, text: &str, pending: Pending) {
        let key = key_of(&pending.endpoint).into_owned();
        if let Some(waiting) = self.busy.get_mut(&key) {
            waiting.push_back((Zeroizing::new(text.to_string()), pending));
        } else if self.transmit(now, text, pending) {
            self.busy.insert(key, VecDeque::new());
        }
    }

    /// The endpoint's outstanding command is done: sends the next one
    /// waiting, if any.
    fn next_for(&mut self, now: Instant, endpoint: &str) {
        let key = key_of(endpoint);
        loop {
            let Some(waiting) = self.busy.get_mut(&*key) else {
                return;
            };
            let Some((text, pending)) = waiting.pop_front() else {
                self.busy.remove(&*key);
                return;
            };
            if self.transmit(now, &text, pending) {
                return;
            }
        }
    }

    /// The gateway of `endpoint` registered (RSIP) from `from`: an audit of
    /// it still awaited from another address, one it no longer has, is
    /// given up, so that what waits behind it goes out now rather than when
    /// the audit times out (a late answer is ignored). An audit sent to
    /// `from` is kept: the gateway is there and answers it, and its answer
    /// finds connections of the old process's calls to delete.
    pub(crate) fn abandon_audit(&mut self, now: Instant, endpoint: &str, from: SocketAddr) {
        if !self.busy.contains_key(&*key_of(endpoint)) {
            return;
        }
        let audits: Vec<TransactionId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.step == Step::Audit && p.endpoint.eq_ignore_ascii_case(endpoint))
            .map(|(tid, _)| *tid)
            .filter(|tid| self.tx.destination(*tid) != Some(from))
            .collect();
        for tid in audits {
            self.pending.remove(&tid);
            self.requests.remove(&tid);
            self.next_for(now, endpoint);
        }
    }

    /// Hands a command to the transaction layer; one that cannot be sent
    /// is handled like a time-out, from [`Self::drain`].
    fn transmit(&mut self, now: Instant, text: &str, pending: Pending) -> bool {
        let sent = self.addr_of(&pending.endpoint).and_then(|addr| {
            let sent = self.tx.send_text(now, addr, text);
            debug_assert!(
                !matches!(
                    sent,
                    Err(TransactionError::NotACommand | TransactionError::Unparsable(_))
                ),
                "we built a command the codec rejects"
            );
            let (tid, cmd) = sent.ok()?;
            let rid = match cmd.param(ParamName::RequestIdentifier) {
                Some(Param::RequestIdentifier(x)) => u64::from_str_radix(x, 16).ok(),
                _ => None,
            };
            Some((tid, rid))
        });
        match sent {
            Some((tid, rid)) => {
                if let Some(rid) = rid {
                    self.requests.insert(tid, rid);
                }
                self.pending.insert(tid, pending);
                true
            }
            None => {
                self.unsent.push_back(pending);
                false
            }
        }
    }

    /// Where an endpoint's commands go: its gateway, or the media gateway
    /// for endpoints in the anchor's domain.
    pub(crate) fn addr_of(&self, endpoint: &str) -> Option<SocketAddr> {
        if let Some(e) = self.registry.get(endpoint) {
            return e.addr;
        }
        let anchor = self.config.anchor.as_ref();
        anchor.filter(|a| a.serves(endpoint)).map(|a| a.mgw)
    }

    /// Whether a NTFY under request `x` reports events from before a
    /// newer request the endpoint accepted (a late retransmission, say).
    pub(crate) fn stale_request(&self, endpoint: &str, x: &str) -> bool {
        let newest = self.accepted.get(&*key_of(endpoint));
        let x = u64::from_str_radix(x, 16);
        matches!((newest, x), (Some(n), Ok(x)) if x < *n)
    }

    pub(crate) fn request_id(&mut self) -> String {
        let id = format!("{:X}", self.next_request);
        self.next_request = self.next_request.wrapping_add(1).max(1);
        id
    }

    pub(crate) fn new_call_id(&mut self) -> String {
        loop {
            let id = format!("{:016X}", self.next_call);
            self.next_call = self.next_call.wrapping_add(1);
            if !self.calls.contains_key(&id) {
                return id;
            }
        }
    }

    pub(crate) fn line_use(&self, endpoint: &str) -> Option<&LineUse> {
        self.lines.get(&*key_of(endpoint))
    }

    pub(crate) fn set_line(&mut self, endpoint: &str, u: Option<LineUse>) {
        match u {
            Some(u) => self.lines.insert(key_of(endpoint).into_owned(), u),
            None => self.lines.remove(&*key_of(endpoint)),
        };
    }
}
