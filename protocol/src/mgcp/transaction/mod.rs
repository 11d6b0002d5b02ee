//! MGCP transactions (RFC 3435 section 3.5), sans-IO: retransmission with
//! backoff, at-most-once execution through a response history, provisional
//! responses, response acknowledgement (`K:` and `000`) and piggy-backing.
//!
//! One [`Endpoint`] serves a call agent or a gateway alike: it sends commands
//! and waits for their responses, and it receives commands and remembers the
//! responses given to them.

/// Adds `tid` to the `K:` ranges (ids arrive in ascending order); false
/// when it starts a new range and there is no room for one.
fn add_to_ranges(ranges: &mut Vec<TidRange>, tid: TransactionId) -> bool {
    let full = ranges.len() >= MAX_ACK_RANGES;
    match ranges.last_mut() {
        Some(r) if r.last.0.checked_add(1) == Some(tid.0) => r.last = tid,
        _ if full => return false,
        _ => ranges.push(TidRange {
            first: tid,
            last: tid,
        }),
    }
    true
}

mod received;
mod sent;
#[cfg(test)]
mod tests;
mod timer;

use alloc::collections::{BTreeSet, VecDeque};
use alloc::format;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use zeroize::Zeroize;

use self::received::Received;
use self::sent::Sent;
use self::timer::{Deadlines, Timer, Timers};
use super::{
    parse, split_datagram, Command, ErrorKind, Message, Param, ParamName, ParseError, Response,
    ReturnCode, TidRange, TransactionId, MAX_DATAGRAM, MAX_PIGGYBACKED,
};
use crate::time::Instant;

/// Most transactions remembered each way ([`Config::max_history`] is cut
/// to it): far below the 999,999,999 ids, so they stay unique, and room
/// for 30 s of a call agent's commands at 10,000 call setups a second
/// (about 6.5 each, 2 million).
pub const MAX_HISTORY: usize = 1 << 22;

/// Most ranges written in one `K:` line; further acknowledgements wait for the next command.
const MAX_ACK_RANGES: usize = 32;

/// Timers and limits. The defaults follow RFC 3435 section 3.5 and PacketCable NCS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Wait before the first retransmission; doubles with each one.
    pub initial_rto: Duration,
    /// Cap on the doubling wait.
    pub max_rto: Duration,
    /// Sends of a command (the first included) before giving up; also bounds
    /// the resends of a final response waiting for its `000`.
    pub max_sends: u32,
    /// Give up on a command after this long without any response (T-MAX);
    /// each provisional response starts the wait again.
    pub max_wait: Duration,
    /// After a provisional response, re-send the command this often
    /// (LONGTRAN-TIMER) in case the final response was lost.
    pub long_transaction: Duration,
    /// How long a transaction is remembered (Thist, LONG-TIMER): responses
    /// sent, ids received, ids used.
    pub history: Duration,
    /// Answer a repeated command that is still executing with `100`.
    pub send_provisional: bool,
    /// Our commands waiting for a final response.
    pub max_outstanding: usize,
    /// Remembered transactions in each direction (commands received,
    /// commands sent); at the cap new ones are refused.
    pub max_history: usize,
    /// Largest datagram built by piggy-backing responses (the RFC's minimum
    /// for MaxMGCPDatagram is 4000).
    pub max_datagram: usize,
    /// First transaction id. Seed it from a random number or the wall clock
    /// so a restarted process does not reuse ids a peer still remembers.
    pub first_tid: TransactionId,
    /// Index the timers and the responses to acknowledge (deadline queues
    /// and a set), so each step costs at most O(log n) in the history's size instead of a walk
    /// of it all. A call agent remembering thousands of transactions needs
    /// this; a CTA remembering a handful saves the index's memory without.
    pub indexed: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            initial_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(4),
            max_sends: 7,
            max_wait: Duration::from_secs(20),
            long_transaction: Duration::from_secs(5),
            history: Duration::from_secs(30),
            send_provisional: true,
            max_outstanding: 256,
            max_history: 8192,
            max_datagram: 4000,
            first_tid: TransactionId(1),
            indexed: true,
        }
    }
}

/// Why the application's request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    #[error("too many commands are waiting for a response")]
    TooManyOutstanding,
    #[error("the transaction history is full")]
    HistoryFull,
    #[error("no command {0} from that peer is remembered")]
    UnknownTransaction(TransactionId),
    #[error("command {0} was already answered")]
    AlreadyAnswered(TransactionId),
    #[error("{0} is not a code a command can be answered with")]
    BadCode(ReturnCode),
    #[error("the text to send is a response, not a command")]
    NotACommand,
    #[error("the codec refuses the text to send: {0}")]
    Unparsable(ParseError),
}

/// The text of one message, copied out of its datagram (or encoded by us).
///
/// Parsed messages borrow their text, so events own the text and
/// [`MessageText::message`] parses it again when asked: it parsed once
/// already, so that cannot fail. Commands and responses can carry keys
/// (`L: k:...`, `a=crypto`): `Debug` shows only the first line and the bytes
/// are wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageText(Vec<u8>);

impl MessageText {
    /// Text held for the history: no spare capacity, since a call agent
    /// keeps thousands of these for 30 s.
    fn kept(mut bytes: Vec<u8>) -> Self {
        bytes.shrink_to_fit();
        MessageText(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn message(&self) -> Result<Message<'_>, ParseError> {
        parse(&self.0)
    }

    fn first_line(&self) -> &[u8] {
        self.0
            .split(|&b| b == b'\r' || b == b'\n')
            .next()
            .unwrap_or(&[])
    }
}

impl fmt::Debug for MessageText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = core::str::from_utf8(self.first_line()).unwrap_or("<not text>");
        write!(f, "MessageText({line:?}, {} bytes)", self.0.len())
    }
}

impl Drop for MessageText {
    fn drop(&mut self) {
        self.0.as_mut_slice().zeroize();
    }
}

/// What the application hears from the transaction layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A new command: execute it, then [`Endpoint::respond`]. Repeats of it
    /// are handled here and never surface.
    Command {
        from: SocketAddr,
        tid: TransactionId,
        text: MessageText,
    },
    /// The first provisional response to our command.
    Provisional {
        tid: TransactionId,
        code: ReturnCode,
    },
    /// The final response to our command (once, however often it arrives).
    Response {
        tid: TransactionId,
        code: ReturnCode,
        text: MessageText,
    },
    /// No final response to our command came in time. A late one is ignored.
    TimedOut { tid: TransactionId, to: SocketAddr },
    /// A message that could not be parsed (a command among them got its
    /// error response already).
    BadMessage { from: SocketAddr, error: ParseError },
}

/// What one received message brings the application, borrowed from its
/// datagram: [`Endpoint::handle_message`] parsed it, so the application
/// need not parse it again. No `Debug`: a command or response can carry keys.
pub enum Input<'a> {
    /// A new command: execute it, then [`Endpoint::respond`]. Repeats of it
    /// are handled here and never surface.
    Command {
        from: SocketAddr,
        command: Command<'a>,
        text: &'a [u8],
    },
    /// The first provisional response to our command.
    Provisional {
        tid: TransactionId,
        code: ReturnCode,
    },
    /// The final response to our command (once, however often it arrives).
    Response {
        response: Response<'a>,
        text: &'a [u8],
    },
    /// A message that could not be parsed (a command among them got its
    /// error response already).
    BadMessage { from: SocketAddr, error: ParseError },
}

impl Input<'_> {
    /// The owned event [`Endpoint::handle_datagram`] queues for it.
    fn into_event(self) -> Event {
        match self {
            Input::Command {
                from,
                command,
                text,
            } => Event::Command {
                from,
                tid: command.tid,
                text: MessageText(text.to_vec()),
            },
            Input::Provisional { tid, code } => Event::Provisional { tid, code },
            Input::Response { response, text } => Event::Response {
                tid: response.tid,
                code: response.code,
                text: MessageText(text.to_vec()),
            },
            Input::BadMessage { from, error } => Event::BadMessage { from, error },
        }
    }
}

/// The messages of a datagram, each for [`Endpoint::handle_message`]. An
/// oversized datagram is one message, refused whole as too large.
pub fn messages(datagram: &[u8]) -> Vec<&[u8]> {
    if datagram.len() > MAX_DATAGRAM {
        return alloc::vec![datagram];
    }
    split_datagram(datagram)
}

/// A datagram to send. The payload may carry key material: send it, then
/// drop it; `Debug` shows only its size.
#[derive(Clone, PartialEq, Eq)]
pub struct Transmit {
    pub to: SocketAddr,
    pub payload: Vec<u8>,
}

impl fmt::Debug for Transmit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Transmit(to {}, {} bytes)", self.to, self.payload.len())
    }
}

/// What happened, by kind, since the endpoint was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub commands_sent: u64,
    /// Commands and responses sent again on a timer.
    pub retransmissions: u64,
    /// Repeated commands and responses received.
    pub duplicates: u64,
    pub timeouts: u64,
    pub bad_messages: u64,
    /// Responses to no command of ours, or from another address.
    pub stray_responses: u64,
    /// Commands refused with 409 because the history was full.
    pub overloads: u64,
}

/// A transaction, as the deadline queue names it. Outgoing ones sort
/// first, by id, as `handle_timeout` has always run them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Out(TransactionId),
    In(SocketAddr, TransactionId),
}

/// Our command, waiting for its response or remembered after it.
struct Outgoing {
    to: SocketAddr,
    timers: Timers,
    state: OutState,
}

enum OutState {
    Pending {
        text: MessageText,
        sends: u32,
        rto: Duration,
        provisional: bool,
    },
    /// Answered or given up; `needs_ack` while the final response still has
    /// to be listed in a `K:` line (also in `Endpoint::unacked` if indexed).
    Done { needs_ack: bool },
}

/// A command we received, executing or answered.
struct Incoming {
    timers: Timers,
    state: InState,
}

enum InState {
    Executing {
        provisional_sent: bool,
    },
    /// `response` is dropped once the peer acknowledged it; the id stays to
    /// ignore late repeats. The retransmit timer runs while a `000` is awaited.
    Answered {
        response: Option<MessageText>,
        sends: u32,
        rto: Duration,
    },
}

struct Queued {
    to: SocketAddr,
    bytes: Vec<u8>,
    share: Share,
}

/// Which queued messages may share a datagram (RFC 3435 3.6 piggy-backing).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Share {
    /// Responses and acknowledgements: any number to one peer.
    Response,
    /// A command's first sending may close a datagram of responses to the
    /// same peer (the usual "200 to the NTFY, then the next RQNT"). A peer
    /// we never answer (a media gateway) so always gets its commands alone.
    Command,
    /// A retransmitted command goes alone, on its own timer.
    Alone,
}

enum Action {
    None,
    Send(Vec<u8>),
    GaveUp,
    Forget,
}

/// A sans-IO MGCP transaction endpoint.
///
/// How to drive it (times come from one monotonic clock and never go back):
/// 1. Input: [`handle_datagram`](Self::handle_datagram) for each datagram
///    received (or [`handle_message`](Self::handle_message) for each of its
///    [`messages`], acting on each [`Input`] at once),
///    [`handle_timeout`](Self::handle_timeout) once the deadline from
///    [`poll_timeout`](Self::poll_timeout) has passed (an early or repeated
///    call does nothing), and [`send_command`](Self::send_command) (or
///    [`send_text`](Self::send_text)) / [`respond`](Self::respond) for the
///    application's own messages.
/// 2. Output: drain [`poll_transmit`](Self::poll_transmit) onto the socket and
///    [`poll_event`](Self::poll_event) into the application; answering a
///    [`Event::Command`] is input again.
/// 3. Wait for a datagram or until [`poll_timeout`](Self::poll_timeout).
///
/// Transmits queued by one round of input are drained together, so responses
/// to the same peer made in that round share datagrams.
///
/// Every transaction keeps a small table of timers. With
/// [`Config::indexed`] each deadline set is also queued (give-up
/// and expiry in time order, O(1); retransmissions in a heap, O(log n)), so
/// `poll_timeout` and `handle_timeout` cost that per due deadline, not a
/// walk of the whole history (which, at a busy call agent's hundreds of
/// thousands of remembered transactions, was most of its CPU). A queued
/// deadline whose timer has since changed only causes a spurious, harmless
/// `on_timeout`. Without it they walk every transaction.
pub struct Endpoint {
    config: Config,
    next_tid: TransactionId,
    outgoing: Sent<Outgoing>,
    /// Entries of `outgoing` still waiting for a final response.
    pending: usize,
    incoming: Received<Incoming>,
    transmits: VecDeque<Queued>,
    events: VecDeque<Event>,
    counters: Counters,
    /// Peers whose responses are never acknowledged with `K:`.
    no_acks: Vec<SocketAddr>,
    /// Every deadline set (stale ones included).
    deadlines: Deadlines<Key>,
    /// Final responses still to list in a `K:` line, by peer (the
    /// answered entries of `outgoing`, indexed so `send_command` need not walk it).
    unacked: BTreeSet<(SocketAddr, TransactionId)>,
}

impl Endpoint {
    pub fn new(mut config: Config) -> Self {
        config.max_sends = config.max_sends.max(1);
        config.max_rto = config.max_rto.max(config.initial_rto);
        config.max_history = config.max_history.min(MAX_HISTORY);
        // Room for the history and the gaps its ends leave.
        let span = 2 * config.max_history;
        let first = config.first_tid;
        let next_tid = if first.0 == 0 || first.0 > TransactionId::MAX {
            TransactionId(1)
        } else {
            first
        };
        Endpoint {
            config,
            next_tid,
            outgoing: Sent::new(span),
            pending: 0,
            incoming: Received::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
            no_acks: Vec::new(),
            deadlines: Deadlines::default(),
            unacked: BTreeSet::new(),
        }
    }

    /// Never sends `K:` to `peer`: some gateways refuse a command carrying
    /// one (osmo-mgw answers 539). Acknowledgements are optional (RFC 3435
    /// section 3.5.3); without them the peer keeps its responses for its
    /// whole history time.
    pub fn never_acknowledge(&mut self, peer: SocketAddr) {
        if !self.no_acks.contains(&peer) {
            self.no_acks.push(peer);
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Our commands still waiting for a final response.
    pub fn outstanding(&self) -> usize {
        self.pending
    }

    /// Where our command `tid` went, while it is remembered.
    pub fn destination(&self, tid: TransactionId) -> Option<SocketAddr> {
        self.outgoing.get(tid).map(|o| o.to)
    }

    /// Transactions remembered in both directions, outstanding ones included.
    pub fn remembered(&self) -> usize {
        self.outgoing.len() + self.incoming.len()
    }

    /// Sends a command under a fresh transaction id (its `tid` is replaced),
    /// with a `K:` line acknowledging the peer's recent responses (any `K:`
    /// it had is replaced too).
    pub fn send_command(
        &mut self,
        now: Instant,
        to: SocketAddr,
        mut command: Command<'_>,
    ) -> Result<TransactionId, TransactionError> {
        let tid = self.reserve()?;
        command.tid = tid;
        command
            .params
            .retain(|p| p.name() != ParamName::ResponseAck);
        let acks = self.take_acks(to);
        if !acks.is_empty() {
            command.params.insert(0, Param::ResponseAck(acks));
        }
        let text = Message::Command(command).encode();
        self.start(now, to, tid, text);
        Ok(tid)
    }

    /// [`send_command`](Self::send_command) for a command written as text:
    /// the codec must accept it, then it goes out as written, only its
    /// transaction id replaced and its `K:` line set, not encoded again.
    /// Returns the id and the command as parsed.
    pub fn send_text<'t>(
        &mut self,
        now: Instant,
        to: SocketAddr,
        text: &'t str,
    ) -> Result<(TransactionId, Command<'t>), TransactionError> {
        let command = match parse(text.as_bytes()) {
            Ok(Message::Command(c)) => c,
            Ok(Message::Response(_)) => return Err(TransactionError::NotACommand),
            Err(e) => return Err(TransactionError::Unparsable(e)),
        };
        let tid = self.reserve()?;
        let acks = self.take_acks(to);
        let bytes = retagged(text.as_bytes(), tid, acks);
        self.start(now, to, tid, bytes);
        Ok((tid, command))
    }

    /// Room for one more command of ours, and its id.
    fn reserve(&mut self) -> Result<TransactionId, TransactionError> {
        if self.pending >= self.config.max_outstanding {
            return Err(TransactionError::TooManyOutstanding);
        }
        if self.outgoing.len() >= self.config.max_history {
            return Err(TransactionError::HistoryFull);
        }
        self.allocate_tid().ok_or(TransactionError::HistoryFull)
    }

    /// Sends our command `tid` for the first time and starts its timers.
    fn start(&mut self, now: Instant, to: SocketAddr, tid: TransactionId, bytes: Vec<u8>) {
        let text = MessageText::kept(bytes);
        self.queue(to, text.0.clone(), Share::Command);
        self.counters.commands_sent += 1;

        let mut timers = Timers::default();
        timers.set(Timer::Retransmit, now + self.config.initial_rto);
        timers.set(Timer::GiveUp, now + self.config.max_wait);
        let state = OutState::Pending {
            text,
            sends: 1,
            rto: self.config.initial_rto,
            provisional: false,
        };
        self.arm(Key::Out(tid), &timers);
        self.outgoing.insert(tid, Outgoing { to, timers, state });
        self.pending += 1;
        self.prune();
    }

    /// Answers command `tid` from `to`. A provisional code (1xx) may come
    /// first, any number of times; the final one is remembered for
    /// [`Config::history`] and sent again if the command is repeated. After a
    /// provisional response the final one asks for a `000` (an empty `K:`)
    /// and is re-sent until it comes. Any `K:` in `response` is ours to set.
    pub fn respond(
        &mut self,
        now: Instant,
        to: SocketAddr,
        tid: TransactionId,
        mut response: Response<'_>,
    ) -> Result<(), TransactionError> {
        let code = response.code;
        if code.is_ack() {
            return Err(TransactionError::BadCode(code));
        }
        let entry = self
            .incoming
            .get_mut(to, tid)
            .ok_or(TransactionError::UnknownTransaction(tid))?;
        let InState::Executing { provisional_sent } = &mut entry.state else {
            return Err(TransactionError::AlreadyAnswered(tid));
        };
        response.tid = tid;
        response
            .params
            .retain(|p| p.name() != ParamName::ResponseAck);
        if code.is_provisional() {
            *provisional_sent = true;
            let bytes = Message::Response(response).encode();
            self.queue(to, bytes, Share::Response);
            return Ok(());
        }
        let wants_ack = *provisional_sent;
        if wants_ack {
            response.params.insert(0, Param::ResponseAck(Vec::new()));
        }
        let text = MessageText::kept(Message::Response(response).encode());
        let bytes = text.0.clone();
        entry.state = InState::Answered {
            response: Some(text),
            sends: 1,
            rto: self.config.initial_rto,
        };
        entry.timers.set(Timer::Expire, now + self.config.history);
        if wants_ack {
            entry
                .timers
                .set(Timer::Retransmit, now + self.config.initial_rto);
        }
        let timers = entry.timers;
        self.arm(Key::In(to, tid), &timers);
        self.prune();
        self.queue(to, bytes, Share::Response);
        Ok(())
    }

    /// Handles one received datagram, message by message (a bad message does
    /// not stop the ones after it), and queues what they bring as events.
    /// An application that acts on each message at once can instead call
    /// [`handle_message`](Self::handle_message) for each of [`messages`], and
    /// parse none of them twice.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        for piece in messages(datagram) {
            if let Some(input) = self.handle_message(now, from, piece) {
                self.events.push_back(input.into_event());
            }
        }
    }

    /// Handles one message of a datagram (see [`messages`]). What it brings
    /// the application comes back borrowed from `piece`; repeats, responses
    /// to nothing of ours and blank pieces bring nothing.
    pub fn handle_message<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        piece: &'a [u8],
    ) -> Option<Input<'a>> {
        let input = match parse(piece) {
            Ok(Message::Command(c)) => self.on_command(now, from, c, piece),
            Ok(Message::Response(r)) => self.on_response(now, from, r, piece),
            // A blank piece (such as after a trailing `.` line) owes nothing.
            Err(e) if e.kind == ErrorKind::Empty => None,
            Err(e) => Some(self.on_bad_message(from, e)),
        };
        self.prune();
        input
    }

    /// Runs the timers that are due at `now`; does nothing if none is.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.config.indexed {
            self.walk_timeouts(now);
            return;
        }
        let mut due = Vec::new();
        while let Some((at, key, timer)) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop(timer);
            due.push(key);
        }
        due.sort_unstable();
        due.dedup();
        self.run_due(now, due);
        self.prune();
    }

    /// `handle_timeout` without the index: a walk for the due timers.
    fn walk_timeouts(&mut self, now: Instant) {
        let due = |t: &Timers| t.next().is_some_and(|d| d <= now);
        let out = self.outgoing.iter().filter(|(_, o)| due(&o.timers));
        let mut keys: Vec<Key> = out.map(|(tid, _)| Key::Out(tid)).collect();
        let inc = self.incoming.iter().filter(|(_, _, i)| due(&i.timers));
        keys.extend(inc.map(|(from, tid, _)| Key::In(from, tid)));
        self.run_due(now, keys);
    }

    /// Runs the timers of `keys` (in order: ours by id, then the peers').
    fn run_due(&mut self, now: Instant, keys: Vec<Key>) {
        for key in keys {
            match key {
                Key::Out(tid) => self.out_timeout(now, tid),
                Key::In(from, tid) => self.in_timeout(now, from, tid),
            }
        }
    }

    fn out_timeout(&mut self, now: Instant, tid: TransactionId) {
        let Some(out) = self.outgoing.get_mut(tid) else {
            return;
        };
        let to = out.to;
        match out.on_timeout(now, &self.config) {
            Action::None => return,
            Action::Send(bytes) => {
                self.counters.retransmissions += 1;
                let share = Share::Alone;
                self.transmits.push_back(Queued { to, bytes, share });
            }
            Action::GaveUp => {
                self.pending -= 1;
                self.counters.timeouts += 1;
                self.events.push_back(Event::TimedOut { tid, to });
            }
            Action::Forget => {
                self.outgoing.remove(tid);
                self.unacked.remove(&(to, tid));
                return;
            }
        }
        // Sending again and giving up set new deadlines.
        let timers = out.timers;
        self.arm(Key::Out(tid), &timers);
    }

    fn in_timeout(&mut self, now: Instant, from: SocketAddr, tid: TransactionId) {
        let Some(entry) = self.incoming.get_mut(from, tid) else {
            return;
        };
        match entry.on_timeout(now, &self.config) {
            Action::Send(bytes) => {
                self.counters.retransmissions += 1;
                let (to, share) = (from, Share::Response);
                self.transmits.push_back(Queued { to, bytes, share });
                let timers = entry.timers;
                self.arm(Key::In(from, tid), &timers);
            }
            Action::Forget => {
                self.incoming.remove(from, tid);
            }
            Action::None | Action::GaveUp => {}
        }
    }

    /// Drops stale deadlines from the top of the queue, so that
    /// `poll_timeout` is exact: every timer's deadline was queued when set,
    /// so once the top is a live timer's, it is the soonest of all.
    fn prune(&mut self) {
        if !self.config.indexed {
            return;
        }
        while let Some((at, key, timer)) = self.deadlines.peek() {
            let timers = match key {
                Key::Out(tid) => self.outgoing.get(tid).map(|o| o.timers),
                Key::In(from, tid) => self.incoming.get(from, tid).map(|i| i.timers),
            };
            if timers.is_some_and(|t| t.at(timer) == Some(at)) {
                break;
            }
            self.deadlines.pop(timer);
        }
        self.deadlines.shrink();
        if self.unacked.is_empty() {
            // An emptied B-tree may keep its root node.
            self.unacked = BTreeSet::new();
        }
    }

    /// Queues the deadlines of `key`'s timers (those unchanged are found
    /// queued already, or cost a spurious `on_timeout`).
    fn arm(&mut self, key: Key, timers: &Timers) {
        if !self.config.indexed {
            return;
        }
        for (timer, at) in timers.each() {
            self.deadlines.push(timer, at, key);
        }
    }

    /// The next datagram to send. Responses and acknowledgements queued for
    /// the same peer share one datagram, which the first sending of a
    /// command to that peer may close.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let first = self.transmits.pop_front()?;
        let mut payload = first.bytes;
        if first.share == Share::Response {
            let mut count = 1;
            let mut i = 0;
            // A command taken past something left for this peer would
            // overtake it.
            let mut passed = false;
            while i < self.transmits.len() && count < MAX_PIGGYBACKED {
                let q = &self.transmits[i];
                let fits = payload.len() + q.bytes.len() + 5 <= self.config.max_datagram;
                let take = q.to == first.to
                    && fits
                    && match q.share {
                        Share::Response => true,
                        Share::Command => !passed,
                        Share::Alone => false,
                    };
                if !take {
                    passed |= q.to == first.to;
                    i += 1;
                    continue;
                }
                let Some(q) = self.transmits.remove(i) else {
                    break;
                };
                append_piggybacked(&mut payload, &q.bytes);
                count += 1;
                if q.share == Share::Command {
                    break;
                }
            }
        }
        Some(Transmit {
            to: first.to,
            payload,
        })
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.config.indexed {
            let out = self.outgoing.iter().map(|(_, o)| &o.timers);
            let inc = self.incoming.iter().map(|(_, _, i)| &i.timers);
            return out.chain(inc).filter_map(Timers::next).min();
        }
        self.deadlines.peek().map(|(at, _, _)| at)
    }

    /// The next id that is not remembered. Ids only go up (wrapping after
    /// 999999999), so a peer's history never sees one twice.
    fn allocate_tid(&mut self) -> Option<TransactionId> {
        // At most `len` ids are taken, so `len + 1` candidates hold a free one.
        for _ in 0..=self.outgoing.len() {
            let tid = self.next_tid;
            self.next_tid = tid.next();
            if !self.outgoing.contains(tid) {
                return Some(tid);
            }
        }
        None
    }

    /// The final responses from `to` not yet acknowledged, as `K:` ranges.
    fn take_acks(&mut self, to: SocketAddr) -> Vec<TidRange> {
        if !self.config.indexed {
            return self.walk_acks(to);
        }
        let mut ranges: Vec<TidRange> = Vec::new();
        let mut taken = Vec::new();
        let peer = (to, TransactionId(0))..=(to, TransactionId(u32::MAX));
        for &(_, tid) in self.unacked.range(peer) {
            if !add_to_ranges(&mut ranges, tid) {
                break;
            }
            taken.push(tid);
        }
        for tid in taken {
            self.unacked.remove(&(to, tid));
            if let Some(Outgoing {
                state: OutState::Done { needs_ack },
                ..
            }) = self.outgoing.get_mut(tid)
            {
                *needs_ack = false;
            }
        }
        ranges
    }

    /// `take_acks` without the index: every remembered command of ours.
    fn walk_acks(&mut self, to: SocketAddr) -> Vec<TidRange> {
        let mut ranges: Vec<TidRange> = Vec::new();
        for (tid, out) in self.outgoing.iter_mut() {
            let OutState::Done { needs_ack } = &mut out.state else {
                continue;
            };
            if out.to != to || !*needs_ack {
                continue;
            }
            if !add_to_ranges(&mut ranges, tid) {
                break;
            }
            *needs_ack = false;
        }
        ranges
    }

    fn queue(&mut self, to: SocketAddr, bytes: Vec<u8>, share: Share) {
        self.transmits.push_back(Queued { to, bytes, share });
    }

    fn queue_response(&mut self, to: SocketAddr, response: Response<'_>) {
        let bytes = Message::Response(response).encode();
        self.queue(to, bytes, Share::Response);
    }

    fn on_command<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        command: Command<'a>,
        text: &'a [u8],
    ) -> Option<Input<'a>> {
        if let Some(Param::ResponseAck(ranges)) = command.param(ParamName::ResponseAck) {
            self.forget_responses(from, ranges);
        }
        let tid = command.tid;
        if let Some(entry) = self.incoming.get_mut(from, tid) {
            self.counters.duplicates += 1;
            let reply = match &mut entry.state {
                InState::Executing { provisional_sent } if self.config.send_provisional => {
                    *provisional_sent = true;
                    Some(Message::Response(Response::new(ReturnCode::TRYING, tid)).encode())
                }
                InState::Answered {
                    response: Some(text),
                    ..
                } => Some(text.0.clone()),
                // Acknowledged (the peer has the response, this is a stale
                // copy), or executing and we stay quiet.
                _ => None,
            };
            if let Some(bytes) = reply {
                self.queue(from, bytes, Share::Response);
            }
            return None;
        }
        if self.incoming.len() >= self.config.max_history {
            // Not remembered, so not executed: a repeat gets the same answer.
            self.counters.overloads += 1;
            self.queue_response(from, Response::new(ReturnCode::OVERLOAD, tid));
            return None;
        }
        // Executing commands are forgotten too if never answered, to bound memory.
        let mut timers = Timers::default();
        timers.set(Timer::Expire, now + self.config.history);
        let state = InState::Executing {
            provisional_sent: false,
        };
        self.arm(Key::In(from, tid), &timers);
        self.incoming.insert(from, tid, Incoming { timers, state });
        Some(Input::Command {
            from,
            command,
            text,
        })
    }

    /// The peer has our responses to `ranges`: drop their copies, keep the ids.
    fn forget_responses(&mut self, from: SocketAddr, ranges: &[TidRange]) {
        for r in ranges {
            for entry in self.incoming.range_mut(from, r.first..=r.last) {
                entry.forget_response();
            }
        }
    }

    fn on_response<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        response: Response<'a>,
        text: &'a [u8],
    ) -> Option<Input<'a>> {
        let (tid, code) = (response.tid, response.code);
        if code.is_ack() {
            match self.incoming.get_mut(from, tid) {
                Some(entry) => entry.forget_response(),
                None => self.counters.stray_responses += 1,
            }
            return None;
        }
        let Some(out) = self.outgoing.get_mut(tid).filter(|o| o.to == from) else {
            self.counters.stray_responses += 1;
            return None;
        };
        let asks_ack = code.is_final()
            && matches!(response.param(ParamName::ResponseAck), Some(Param::ResponseAck(r)) if r.is_empty());
        let acked_later = !asks_ack && !self.no_acks.contains(&from);
        let mut input = None;
        match &mut out.state {
            OutState::Pending { provisional, .. } if code.is_provisional() => {
                if !*provisional {
                    *provisional = true;
                    out.timers
                        .set(Timer::Retransmit, now + self.config.long_transaction);
                    input = Some(Input::Provisional { tid, code });
                }
                out.timers.set(Timer::GiveUp, now + self.config.max_wait);
            }
            OutState::Pending { .. } => {
                // A 000 acknowledges this response, so `K:` need not list it.
                out.state = OutState::Done {
                    needs_ack: acked_later,
                };
                if acked_later && self.config.indexed {
                    self.unacked.insert((from, tid));
                }
                out.timers.stop_all();
                out.timers.set(Timer::Expire, now + self.config.history);
                self.pending -= 1;
                input = Some(Input::Response { response, text });
            }
            OutState::Done { .. } => self.counters.duplicates += 1,
        }
        let timers = out.timers;
        self.arm(Key::Out(tid), &timers);
        // Also when repeated: our earlier 000 may have been lost.
        if asks_ack {
            self.queue_response(from, Response::new(ReturnCode::ACK, tid));
        }
        input
    }

    fn on_bad_message(&mut self, from: SocketAddr, error: ParseError) -> Input<'static> {
        self.counters.bad_messages += 1;
        if let Some(tid) = error.wants_response() {
            // Not remembered: the command was not executed, so a repeat may
            // get the same answer again.
            let commentary = format!("{}", error.kind);
            let mut response = Response::new(error.return_code(), tid);
            response.commentary = &commentary;
            self.queue_response(from, response);
        }
        Input::BadMessage { from, error }
    }
}

impl Outgoing {
    fn on_timeout(&mut self, now: Instant, config: &Config) -> Action {
        let timers = &mut self.timers;
        match &mut self.state {
            OutState::Done { .. } if timers.is_due(Timer::Expire, now) => Action::Forget,
            OutState::Done { .. } => Action::None,
            OutState::Pending {
                text,
                sends,
                rto,
                provisional,
            } => {
                let retransmit = timers.is_due(Timer::Retransmit, now);
                let exhausted = !*provisional && *sends >= config.max_sends;
                if timers.is_due(Timer::GiveUp, now) || (retransmit && exhausted) {
                    // Keep the id for the history: the peer may have executed it.
                    timers.stop_all();
                    timers.set(Timer::Expire, now + config.history);
                    self.state = OutState::Done { needs_ack: false };
                    return Action::GaveUp;
                }
                if !retransmit {
                    return Action::None;
                }
                if *provisional {
                    timers.set(Timer::Retransmit, now + config.long_transaction);
                } else {
                    *sends += 1;
                    *rto = rto.saturating_mul(2).min(config.max_rto);
                    timers.set(Timer::Retransmit, now + *rto);
                }
                Action::Send(text.0.clone())
            }
        }
    }
}

impl Incoming {
    fn forget_response(&mut self) {
        if let InState::Answered { response, .. } = &mut self.state {
            *response = None;
            self.timers.stop(Timer::Retransmit);
        }
    }

    fn on_timeout(&mut self, now: Instant, config: &Config) -> Action {
        if self.timers.is_due(Timer::Expire, now) {
            return Action::Forget;
        }
        if !self.timers.is_due(Timer::Retransmit, now) {
            return Action::None;
        }
        let InState::Answered {
            response: Some(text),
            sends,
            rto,
        } = &mut self.state
        else {
            self.timers.stop(Timer::Retransmit);
            return Action::None;
        };
        if *sends >= config.max_sends {
            // No 000 came; keep the response for repeats of the command.
            self.timers.stop(Timer::Retransmit);
            return Action::None;
        }
        *sends += 1;
        *rto = rto.saturating_mul(2).min(config.max_rto);
        self.timers.set(Timer::Retransmit, now + *rto);
        Action::Send(text.0.clone())
    }
}

/// A command's text (which the codec accepted) with transaction id `tid`
/// and `K:` line `acks` (none if empty) in place of the ones it had; every
/// other byte as written.
fn retagged(text: &[u8], tid: TransactionId, acks: Vec<TidRange>) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 16);
    let (header, mut rest) = split_line(text);
    // `VERB SP tid SP endpoint SP version`: the verb, then the id in place
    // of the old one, then the rest of the line.
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let verb_end = header.iter().position(blank).unwrap_or(header.len());
    let tid_start = verb_end + header[verb_end..].iter().take_while(|b| blank(b)).count();
    let tid_len = header[tid_start..].iter().take_while(|b| !blank(b)).count();
    out.extend_from_slice(&header[..tid_start]);
    out.extend_from_slice(format!("{tid}").as_bytes());
    out.extend_from_slice(&header[tid_start + tid_len..]);
    if !acks.is_empty() {
        let k = Param::ResponseAck(acks);
        out.extend_from_slice(format!("{}: {k}\r\n", k.code()).as_bytes());
    }
    // Parameter lines up to the blank line before any SDP, less `K:`.
    while !rest.is_empty() {
        let (line, after) = split_line(rest);
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.is_empty() {
            break;
        }
        let name = content.split(|&b| b == b':').next().unwrap_or(&[]);
        if !name.trim_ascii().eq_ignore_ascii_case(b"K") {
            out.extend_from_slice(line);
        }
        rest = after;
    }
    out.extend_from_slice(rest);
    out
}

/// The first line of `text` with its line end, and what follows.
fn split_line(text: &[u8]) -> (&[u8], &[u8]) {
    let end = text
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| i + 1);
    text.split_at(end)
}

/// Appends a message to a datagram after a `.` separator line.
fn append_piggybacked(datagram: &mut Vec<u8>, message: &[u8]) {
    if !datagram.ends_with(b"\n") {
        datagram.extend_from_slice(b"\r\n");
    }
    datagram.extend_from_slice(b".\r\n");
    datagram.extend_from_slice(message);
}
