mod sim;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use self::sim::Sim;
use super::*;
use crate::mgcp::{parse_datagram, EndpointName, Verb};

pub const CA: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 2727);
pub const GW: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 2427);

pub fn at(ms: u64) -> Instant {
    Instant::from_micros(ms * 1000)
}

fn crcx() -> Command<'static> {
    let endpoint = EndpointName::parse("aaln/1@cta1.example").expect("endpoint name");
    Command::new(Verb::Crcx, TransactionId(0), endpoint).with(Param::CallId("A3C47F2145"))
}

fn transmits(ep: &mut Endpoint) -> Vec<Transmit> {
    core::iter::from_fn(|| ep.poll_transmit()).collect()
}

fn events(ep: &mut Endpoint) -> Vec<Event> {
    core::iter::from_fn(|| ep.poll_event()).collect()
}

fn text(t: &Transmit) -> &str {
    core::str::from_utf8(&t.payload).expect("MGCP is text")
}

fn messages(t: &Transmit) -> Vec<Message<'_>> {
    parse_datagram(&t.payload)
        .into_iter()
        .map(|m| m.expect("we send valid messages"))
        .collect()
}

fn ms(t: Instant) -> u64 {
    t.as_micros() / 1000
}

/// The single datagram `ep` has to send.
fn one(ep: &mut Endpoint) -> Transmit {
    let mut t = transmits(ep);
    assert_eq!(t.len(), 1, "expected one datagram");
    t.remove(0)
}

/// A command from `ca`, executed and answered 200 by `gw`, the response delivered.
fn exchange(now: Instant, ca: &mut Endpoint, gw: &mut Endpoint) -> TransactionId {
    let tid = ca
        .send_command(now, GW, crcx())
        .expect("room for a command");
    gw.handle_datagram(now, CA, &one(ca).payload);
    assert!(matches!(events(gw)[..], [Event::Command { .. }]));
    gw.respond(now, CA, tid, Response::new(ReturnCode::OK, tid))
        .expect("respond");
    ca.handle_datagram(now, GW, &one(gw).payload);
    assert!(matches!(events(ca)[..], [Event::Response { .. }]));
    tid
}

#[test]
fn retransmissions_double_up_to_the_cap_then_give_up() {
    let config = Config {
        max_sends: 8,
        max_wait: Duration::from_secs(60),
        ..Config::default()
    };
    let mut ep = Endpoint::new(config);
    let tid = ep.send_command(at(0), GW, crcx()).unwrap();
    let mut now = at(0);
    let mut sends = Vec::new();
    let mut payloads = Vec::new();
    let event = loop {
        for t in transmits(&mut ep) {
            assert_eq!(t.to, GW);
            sends.push(ms(now));
            payloads.push(t.payload);
        }
        if let Some(e) = ep.poll_event() {
            break e;
        }
        now = ep.poll_timeout().expect("a timer runs");
        ep.handle_timeout(now);
    };
    assert_eq!(sends, [0, 200, 600, 1400, 3000, 6200, 10200, 14200]);
    assert!(payloads.iter().all(|p| *p == payloads[0]));
    // The wait after the last send is the capped one too.
    assert_eq!((event, ms(now)), (Event::TimedOut { tid, to: GW }, 18200));
    assert_eq!(ep.outstanding(), 0);
    assert_eq!(ep.counters().timeouts, 1);
    assert_eq!(ep.counters().retransmissions, 7);

    // The id stays taken for the history period, then is forgotten.
    assert_eq!(ep.poll_timeout(), Some(at(18200 + 30_000)));
    ep.handle_timeout(at(48_200));
    assert_eq!((ep.remembered(), ep.poll_timeout()), (0, None));
}

#[test]
fn gives_up_after_max_wait() {
    let config = Config {
        max_sends: 100,
        max_wait: Duration::from_secs(5),
        ..Config::default()
    };
    let mut ep = Endpoint::new(config);
    let tid = ep.send_command(at(0), GW, crcx()).unwrap();
    let mut now = at(0);
    let mut sends = Vec::new();
    while ep.poll_event().is_none() {
        sends.extend(transmits(&mut ep).iter().map(|_| ms(now)));
        now = ep.poll_timeout().expect("a timer runs");
        ep.handle_timeout(now);
    }
    assert_eq!(sends, [0, 200, 600, 1400, 3000]);
    assert_eq!(ms(now), 5000);
    assert_eq!(ep.counters().timeouts, 1);
    // A late response is not surfaced after the TimedOut.
    let late = format!("200 {tid} OK\r\n");
    ep.handle_datagram(at(6000), GW, late.as_bytes());
    assert!(events(&mut ep).is_empty());
}

#[test]
fn spurious_wakeups_do_nothing() {
    let mut ep = Endpoint::new(Config::default());
    ep.send_command(at(0), GW, crcx()).unwrap();
    one(&mut ep);
    for t in [0, 100, 199, 50] {
        ep.handle_timeout(at(t));
        assert!(ep.poll_transmit().is_none() && ep.poll_event().is_none());
        assert_eq!(ep.poll_timeout(), Some(at(200)));
    }
    ep.handle_timeout(at(200));
    one(&mut ep);
    // The same instant again, or a clock that stepped back: nothing more.
    ep.handle_timeout(at(200));
    ep.handle_timeout(at(150));
    assert!(ep.poll_transmit().is_none());
    assert_eq!(ep.poll_timeout(), Some(at(600)));
}

#[test]
fn repeated_command_runs_once_and_gets_the_cached_response() {
    let mut gw = Endpoint::new(Config {
        send_provisional: false,
        ..Config::default()
    });
    let cmd = b"CRCX 1001 aaln/1@cta1.example MGCP 1.0\r\nC: A3C47F2145\r\nM: recvonly\r\n";
    gw.handle_datagram(at(0), CA, cmd);
    let [Event::Command {
        from,
        tid,
        text: got,
    }] = &events(&mut gw)[..]
    else {
        panic!("expected one command");
    };
    assert_eq!(
        (*from, *tid, got.as_bytes()),
        (CA, TransactionId(1001), &cmd[..])
    );
    assert!(matches!(got.message(), Ok(Message::Command(c)) if c.verb == Verb::Crcx));

    // Still executing, and no provisional configured: the repeat is dropped.
    gw.handle_datagram(at(5), CA, cmd);
    assert!(transmits(&mut gw).is_empty() && events(&mut gw).is_empty());

    let sdp = "v=0\r\nc=IN IP4 10.0.0.2\r\nm=audio 4000 RTP/AVP 0\r\n";
    let response = Response::new(ReturnCode::OK, TransactionId(0))
        .with(Param::ConnectionId("FDE234C8"))
        .with_sdp(sdp);
    gw.respond(at(10), CA, TransactionId(1001), response)
        .unwrap();
    let first = one(&mut gw);
    assert!(text(&first).starts_with("200 1001 OK\r\nI: FDE234C8\r\n\r\nv=0"));

    for t in [300, 900, 20_000] {
        gw.handle_datagram(at(t), CA, cmd);
        assert_eq!(one(&mut gw), first);
        assert!(events(&mut gw).is_empty());
    }
    assert_eq!(gw.counters().duplicates, 4);
    // No 000 is awaited (no provisional went out): only the history timer runs.
    assert_eq!(gw.poll_timeout(), Some(at(30_010)));
    gw.handle_timeout(at(30_010));
    assert_eq!(gw.remembered(), 0);
}

#[test]
fn long_command_gets_100_then_a_final_response_acknowledged_by_000() {
    let mut ca = Endpoint::new(Config::default());
    let mut gw = Endpoint::new(Config::default());
    let tid = ca.send_command(at(0), GW, crcx()).unwrap();
    let command = one(&mut ca);
    gw.handle_datagram(at(10), CA, &command.payload);
    assert!(matches!(events(&mut gw)[..], [Event::Command { .. }]));

    // The retransmission finds the command executing: 100, not a second run.
    ca.handle_timeout(at(200));
    gw.handle_datagram(at(210), CA, &one(&mut ca).payload);
    assert!(events(&mut gw).is_empty());
    let trying = one(&mut gw);
    assert_eq!(text(&trying), format!("100 {tid} Pending\r\n"));
    ca.handle_datagram(at(220), GW, &trying.payload);
    let provisional = Event::Provisional {
        tid,
        code: ReturnCode::TRYING,
    };
    assert_eq!(events(&mut ca), [provisional]);

    // No more fast retransmission: the next one is LONGTRAN-TIMER away.
    assert_eq!(ca.poll_timeout(), Some(at(5220)));
    ca.handle_timeout(at(1000));
    assert!(transmits(&mut ca).is_empty());
    ca.handle_timeout(at(5220));
    gw.handle_datagram(at(5230), CA, &one(&mut ca).payload);
    ca.handle_datagram(at(5240), GW, &one(&mut gw).payload);
    assert!(
        events(&mut ca).is_empty(),
        "a repeated 100 is not surfaced again"
    );
    assert_eq!(ca.poll_timeout(), Some(at(10_220)));

    // After a 100 the final response carries an empty K: asking for a 000,
    // and is re-sent until it comes.
    gw.respond(at(6000), CA, tid, Response::new(ReturnCode::OK, tid))
        .unwrap();
    let fin = one(&mut gw);
    assert_eq!(text(&fin), format!("200 {tid} OK\r\nK:\r\n"));
    assert_eq!(gw.poll_timeout(), Some(at(6200)));
    gw.handle_timeout(at(6200));
    assert_eq!(one(&mut gw), fin);

    ca.handle_datagram(at(6210), GW, &fin.payload);
    assert!(
        matches!(events(&mut ca)[..], [Event::Response { tid: t, code: ReturnCode::OK, .. }] if t == tid)
    );
    let ack = one(&mut ca);
    assert_eq!(text(&ack), format!("000 {tid}\r\n"));

    // That 000 is lost: the next copy of the response gets another 000,
    // and no second event.
    gw.handle_timeout(at(6600));
    ca.handle_datagram(at(6610), GW, &one(&mut gw).payload);
    assert!(events(&mut ca).is_empty());
    assert_eq!(one(&mut ca), ack);
    gw.handle_datagram(at(6620), CA, &ack.payload);

    // Acknowledged: no more copies, only the history timer; a late repeat
    // of the command is ignored.
    assert_eq!(gw.poll_timeout(), Some(at(36_000)));
    gw.handle_datagram(at(7000), CA, &command.payload);
    assert!(transmits(&mut gw).is_empty() && events(&mut gw).is_empty());
}

#[test]
fn unacknowledged_final_response_stops_after_max_sends() {
    let config = Config {
        max_sends: 3,
        ..Config::default()
    };
    let mut gw = Endpoint::new(config);
    let cmd = b"DLCX 7 aaln/1@cta1.example MGCP 1.0\r\n";
    gw.handle_datagram(at(0), CA, cmd);
    gw.handle_datagram(at(100), CA, cmd);
    assert_eq!(text(&one(&mut gw)), "100 7 Pending\r\n");
    let tid = TransactionId(7);
    gw.respond(at(500), CA, tid, Response::new(ReturnCode::DELETED, tid))
        .unwrap();
    let mut sends = Vec::new();
    let mut now = at(500);
    while let Some(next) = gw.poll_timeout() {
        sends.extend(transmits(&mut gw).iter().map(|_| ms(now)));
        now = next;
        gw.handle_timeout(now);
    }
    assert_eq!(sends, [500, 700, 1100]);
    // The response stayed available to repeats until the history ended.
    assert_eq!(ms(now), 30_500);
}

#[test]
fn k_line_acknowledges_responses_and_purges_the_cache() {
    let mut ca = Endpoint::new(Config::default());
    let mut gw = Endpoint::new(Config::default());
    let mut sent = Vec::new();
    for _ in 0..4 {
        let tid = ca.send_command(at(0), GW, crcx()).unwrap();
        sent.push((tid, one(&mut ca)));
    }
    for (tid, command) in &sent {
        gw.handle_datagram(at(1), CA, &command.payload);
        assert!(matches!(events(&mut gw)[..], [Event::Command { tid: t, .. }] if t == *tid));
    }
    for (tid, _) in &sent {
        gw.respond(at(2), CA, *tid, Response::new(ReturnCode::OK, *tid))
            .unwrap();
    }
    // Four answers, piggy-backed into one datagram, each surfaced.
    ca.handle_datagram(at(3), GW, &one(&mut gw).payload);
    assert_eq!(events(&mut ca).len(), 4);
    let (t1, t4, c1) = (sent[0].0, sent[3].0, &sent[0].1);

    // The next command acknowledges all four, as one range.
    ca.send_command(at(10), GW, crcx()).unwrap();
    let c5 = one(&mut ca);
    assert!(
        text(&c5).contains(&format!("\r\nK: {t1}-{t4}\r\n")),
        "{}",
        text(&c5)
    );
    let Message::Command(c) = &messages(&c5)[0] else {
        panic!("a command");
    };
    let range = TidRange {
        first: t1,
        last: t4,
    };
    assert_eq!(
        c.param(ParamName::ResponseAck),
        Some(&Param::ResponseAck(vec![range]))
    );
    gw.handle_datagram(at(11), CA, &c5.payload);
    assert_eq!(events(&mut gw).len(), 1);

    // The gateway dropped those responses but remembers the ids: a stale
    // copy of command 1 is neither answered nor executed again.
    gw.handle_datagram(at(12), CA, &c1.payload);
    assert!(transmits(&mut gw).is_empty() && events(&mut gw).is_empty());

    // Each response is acknowledged once, and only to the peer that sent it.
    ca.send_command(at(20), GW, crcx()).unwrap();
    assert!(!text(&one(&mut ca)).contains("K:"));
    let t7 = exchange(at(30), &mut ca, &mut gw);
    let other: SocketAddr = "10.0.0.3:2427".parse().unwrap();
    ca.send_command(at(40), other, crcx()).unwrap();
    assert!(!text(&one(&mut ca)).contains("K:"));
    ca.send_command(at(50), GW, crcx()).unwrap();
    assert!(text(&one(&mut ca)).contains(&format!("\r\nK: {t7}\r\n")));
}

#[test]
fn a_peer_that_refuses_k_never_gets_one() {
    let mut ca = Endpoint::new(Config::default());
    let mut gw = Endpoint::new(Config::default());
    ca.never_acknowledge(GW);
    exchange(at(0), &mut ca, &mut gw);
    exchange(at(10), &mut ca, &mut gw);
    ca.send_command(at(20), GW, crcx()).unwrap();
    assert!(!text(&one(&mut ca)).contains("K:"));
}

#[test]
fn ids_only_go_up_wrap_and_skip_remembered_ones() {
    let config = Config {
        first_tid: TransactionId(TransactionId::MAX - 1),
        ..Config::default()
    };
    let mut ca = Endpoint::new(config);
    let send = |ca: &mut Endpoint| ca.send_command(at(0), GW, crcx()).unwrap().0;
    let ids: Vec<u32> = (0..3).map(|_| send(&mut ca)).collect();
    assert_eq!(ids, [TransactionId::MAX - 1, TransactionId::MAX, 1]);
    // Wrapped all the way round while those are remembered: they are skipped.
    ca.next_tid = TransactionId(TransactionId::MAX - 1);
    assert_eq!(send(&mut ca), 2);

    let zero = Config {
        first_tid: TransactionId(0),
        ..Config::default()
    };
    assert_eq!(send(&mut Endpoint::new(zero)), 1);
}

#[test]
fn a_response_that_overtakes_a_retransmission_is_delivered_once() {
    let mut ca = Endpoint::new(Config::default());
    let mut gw = Endpoint::new(Config::default());
    let tid = ca.send_command(at(0), GW, crcx()).unwrap();
    gw.handle_datagram(at(50), CA, &one(&mut ca).payload);
    events(&mut gw);
    gw.respond(at(60), CA, tid, Response::new(ReturnCode::OK, tid))
        .unwrap();
    let response = one(&mut gw);

    // The response is slow; the command goes again meanwhile.
    ca.handle_timeout(at(200));
    let again = one(&mut ca);
    ca.handle_datagram(at(250), GW, &response.payload);
    assert!(matches!(events(&mut ca)[..], [Event::Response { .. }]));
    gw.handle_datagram(at(260), CA, &again.payload);
    ca.handle_datagram(at(310), GW, &one(&mut gw).payload);
    assert!(events(&mut ca).is_empty());
    assert_eq!(ca.counters().duplicates, 1);
    assert_eq!(gw.counters().duplicates, 1);
    // And nothing is retransmitted any more.
    ca.handle_timeout(at(10_000));
    assert!(transmits(&mut ca).is_empty());
}

#[test]
fn responses_from_elsewhere_or_to_nothing_are_ignored() {
    let mut ca = Endpoint::new(Config::default());
    let tid = ca.send_command(at(0), GW, crcx()).unwrap();
    let other: SocketAddr = "10.0.0.9:2427".parse().unwrap();
    ca.handle_datagram(at(5), other, format!("200 {tid} OK\r\n").as_bytes());
    ca.handle_datagram(at(5), GW, b"200 999 OK\r\n");
    ca.handle_datagram(at(5), GW, b"000 999\r\n");
    assert!(events(&mut ca).is_empty());
    assert_eq!(ca.counters().stray_responses, 3);
    assert_eq!(ca.outstanding(), 1);
}

#[test]
fn piggybacked_messages_are_handled_one_by_one() {
    let mut gw = Endpoint::new(Config::default());
    let datagram = b"RQNT 10 aaln/1@cta1.example MGCP 1.0\r\nX: 1\r\n.\r\n\
        FOO 11 aaln/1@cta1.example MGCP 1.0\r\n.\r\n\
        garbage\r\n.\r\n\
        CRCX 12 aaln/1@cta1.example MGCP 1.0\r\nC: 1\r\n";
    gw.handle_datagram(at(0), CA, datagram);
    let evs = events(&mut gw);
    let tids: Vec<_> = evs
        .iter()
        .map(|e| match e {
            Event::Command { tid, .. } => Some(tid.0),
            Event::BadMessage { error, .. } => error.tid.map(|t| t.0),
            _ => panic!("unexpected {e:?}"),
        })
        .collect();
    assert_eq!(tids, [Some(10), Some(11), None, Some(12)]);
    assert_eq!(gw.counters().bad_messages, 2);

    // The unknown verb got its error response; the answers to 10 and 12
    // made in the same round share its datagram.
    for tid in [10, 12] {
        let tid = TransactionId(tid);
        gw.respond(at(1), CA, tid, Response::new(ReturnCode::OK, tid))
            .unwrap();
    }
    let out = one(&mut gw);
    let answers: Vec<_> = messages(&out).iter().map(|m| m.tid().0).collect();
    assert_eq!(answers, [11, 10, 12]);
    assert!(text(&out).starts_with("504 11 unknown command verb\r\n.\r\n200 10 OK\r\n"));
}

/// `handle_message` hands over each message parsed, borrowed from the
/// datagram, and nothing for a repeat; `handle_datagram` queues nothing
/// for the application then.
#[test]
fn handle_message_hands_over_each_message_parsed_once() {
    let mut ca = Endpoint::new(Config::default());
    let tid = ca.send_command(at(0), GW, crcx()).unwrap();
    transmits(&mut ca);
    let datagram = format!(
        "200 {} OK\r\nI: 1F\r\n.\r\nNTFY 40 aaln/1@cta1.example MGCP 1.0\r\nX: 7\r\nO: L/hd\r\n",
        tid.0
    );
    let mut seen = Vec::new();
    for round in 0..2 {
        for piece in super::messages(datagram.as_bytes()) {
            match ca.handle_message(at(10), GW, piece) {
                Some(Input::Response { response, text }) => {
                    assert_eq!((response.tid, response.code), (tid, ReturnCode::OK));
                    assert!(response.param(ParamName::ConnectionId).is_some());
                    assert!(text.starts_with(b"200 "));
                    seen.push((round, "response"));
                }
                Some(Input::Command { from, command, .. }) => {
                    assert_eq!(
                        (from, command.verb, command.tid),
                        (GW, Verb::Ntfy, TransactionId(40))
                    );
                    seen.push((round, "command"));
                }
                Some(_) => panic!("unexpected input"),
                None => seen.push((round, "nothing")),
            }
        }
    }
    assert_eq!(
        seen,
        [
            (0, "response"),
            (0, "command"),
            (1, "nothing"),
            (1, "nothing")
        ]
    );
    assert!(events(&mut ca).is_empty());
    assert_eq!(ca.counters().duplicates, 2);
}

#[test]
fn an_oversized_datagram_is_one_bad_message() {
    let mut gw = Endpoint::new(Config::default());
    let mut datagram = b"RQNT 10 aaln/1@cta1.example MGCP 1.0\r\n".to_vec();
    datagram.resize(MAX_DATAGRAM + 1, b'x');
    let pieces = super::messages(&datagram);
    assert_eq!(pieces.len(), 1);
    match gw.handle_message(at(0), CA, pieces[0]) {
        Some(Input::BadMessage { from, error }) => {
            assert_eq!((from, error.kind), (CA, ErrorKind::TooLarge));
        }
        _ => panic!("expected a bad message"),
    }
    assert_eq!(gw.counters().bad_messages, 1);
}

/// `send_text` sends the text as written, only the id replaced and the
/// `K:` line set; it means the same as `send_command` of the parsed text.
#[test]
fn send_text_keeps_the_text_and_sets_id_and_acks() {
    let mut ca = Endpoint::new(Config::default());
    let mut gw = Endpoint::new(Config::default());
    let first = exchange(at(0), &mut ca, &mut gw);
    let text = "CRCX 1 aaln/1@cta1.example MGCP 1.0 NCS 1.0\r\nk: 9-12\r\nC: A3C47F2145\r\n\
        L: a:PCMU,  k:base64:QUJD\r\nM: sendrecv\r\n\r\nv=0\r\nk: not a param\r\n";
    let (tid, cmd) = ca.send_text(at(1), GW, text).unwrap();
    assert_eq!((cmd.verb, cmd.tid), (Verb::Crcx, TransactionId(1)));
    let out = one(&mut ca);
    let expected = format!(
        "CRCX {tid} aaln/1@cta1.example MGCP 1.0 NCS 1.0\r\nK: {first}\r\nC: A3C47F2145\r\n\
        L: a:PCMU,  k:base64:QUJD\r\nM: sendrecv\r\n\r\nv=0\r\nk: not a param\r\n"
    );
    assert_eq!(text_of(&out), expected);
    // As `send_command` would mean it.
    let Message::Command(sent) = parse(&out.payload).unwrap() else {
        panic!("a command")
    };
    let mut same = parse_command(text);
    same.tid = tid;
    same.params.retain(|p| p.name() != ParamName::ResponseAck);
    same.params
        .insert(0, Param::ResponseAck(vec![TidRange { first, last: first }]));
    assert_eq!(sent, same);

    // Nothing to acknowledge now: no `K:` line; and a retransmission repeats it.
    let (tid2, _) = ca
        .send_text(at(2), GW, "RQNT 7 aaln/1@cta1.example MGCP 1.0\nX: 1\n")
        .unwrap();
    assert_eq!(
        text_of(&one(&mut ca)),
        format!("RQNT {tid2} aaln/1@cta1.example MGCP 1.0\nX: 1\n")
    );
    ca.handle_timeout(at(2) + Config::default().initial_rto);
    let again: Vec<_> = transmits(&mut ca).iter().map(text_of).collect();
    assert!(again.contains(&format!("RQNT {tid2} aaln/1@cta1.example MGCP 1.0\nX: 1\n")));

    assert_eq!(
        ca.send_text(at(3), GW, "200 1 OK\r\n").unwrap_err(),
        TransactionError::NotACommand
    );
    assert!(matches!(
        ca.send_text(at(3), GW, "CRCX x aaln/1@cta1.example MGCP 1.0\r\n"),
        Err(TransactionError::Unparsable(_))
    ));
    assert_eq!(ca.counters().commands_sent, 3);
}

fn text_of(t: &Transmit) -> String {
    text(t).into()
}

fn parse_command(text: &str) -> Command<'_> {
    match parse(text.as_bytes()) {
        Ok(Message::Command(c)) => c,
        _ => panic!("a command"),
    }
}

#[test]
fn commands_never_share_a_datagram_with_each_other() {
    let mut ca = Endpoint::new(Config::default());
    ca.send_command(at(0), GW, crcx()).unwrap();
    ca.send_command(at(0), GW, crcx()).unwrap();
    assert_eq!(transmits(&mut ca).len(), 2);
}

const NTFY_7: &[u8] = b"NTFY 7 aaln/1@cta1.example MGCP 1.0\r\nO: L/hd\r\n";

/// `gw`'s NTFY 7, received and answered 200 by `ca`.
fn answered_notify(ca: &mut Endpoint) {
    ca.handle_datagram(at(0), GW, NTFY_7);
    assert!(matches!(events(ca)[..], [Event::Command { .. }]));
    let tid = TransactionId(7);
    ca.respond(at(0), GW, tid, Response::new(ReturnCode::OK, tid))
        .unwrap();
}

#[test]
fn a_command_closes_the_datagram_of_answers_to_its_peer() {
    let mut ca = Endpoint::new(Config::default());
    answered_notify(&mut ca);
    let first = ca.send_command(at(0), GW, crcx()).unwrap();
    ca.send_command(at(0), GW, crcx()).unwrap();
    let out = transmits(&mut ca);
    assert_eq!(out.len(), 2, "the second command goes alone");
    let tids: Vec<_> = messages(&out[0]).iter().map(|m| m.tid().0).collect();
    assert_eq!(tids, [7, first.0]);
    assert!(text(&out[0]).starts_with("200 7 OK\r\n.\r\nCRCX "));

    // Lost: each part comes back on its own, the command on its timer
    // and the answer when the NTFY is repeated.
    let resend = ca.poll_timeout().unwrap();
    ca.handle_timeout(resend);
    let again = transmits(&mut ca);
    assert_eq!(again.len(), 2, "both commands, each alone");
    assert_eq!(messages(&again[0]).len(), 1);
    assert_eq!(messages(&again[0])[0].tid(), first);
    ca.handle_datagram(resend, GW, NTFY_7);
    assert!(text(&one(&mut ca)).starts_with("200 7 OK"));
}

#[test]
fn a_command_never_overtakes_what_waits_for_its_peer() {
    let mut ca = Endpoint::new(Config::default());
    let old = ca.send_command(at(0), GW, crcx()).unwrap();
    one(&mut ca);
    let resend = ca.poll_timeout().unwrap();
    answered_notify(&mut ca);
    // Queued in this order: the answer, the retransmission, a new command.
    ca.handle_timeout(resend);
    let new = ca.send_command(resend, GW, crcx()).unwrap();
    let order: Vec<Vec<u32>> = transmits(&mut ca)
        .iter()
        .map(|t| messages(t).iter().map(|m| m.tid().0).collect())
        .collect();
    assert_eq!(order, [vec![7], vec![old.0], vec![new.0]]);
}

#[test]
fn piggybacking_respects_the_datagram_size() {
    let mut gw = Endpoint::new(Config {
        max_datagram: 100,
        ..Config::default()
    });
    for tid in 1..=4 {
        let cmd = format!("AUEP {tid} aaln/1@cta1.example MGCP 1.0\r\n");
        gw.handle_datagram(at(0), CA, cmd.as_bytes());
    }
    for event in events(&mut gw) {
        let Event::Command { tid, .. } = event else {
            panic!("a command");
        };
        let response =
            Response::new(ReturnCode::OK, tid).with(Param::DigitMap("xxxxxxxxxxxxxxxxxxxx"));
        gw.respond(at(1), CA, tid, response).unwrap();
    }
    let sizes: Vec<_> = transmits(&mut gw)
        .iter()
        .map(|t| messages(t).len())
        .collect();
    assert_eq!(sizes, [2, 2]);
}

#[test]
fn caps_and_misuse_are_typed_errors() {
    let config = Config {
        max_outstanding: 2,
        max_history: 2,
        ..Config::default()
    };
    let mut ca = Endpoint::new(config.clone());
    ca.send_command(at(0), GW, crcx()).unwrap();
    ca.send_command(at(0), GW, crcx()).unwrap();
    let full = ca.send_command(at(0), GW, crcx());
    assert_eq!(full, Err(TransactionError::TooManyOutstanding));

    let mut gw = Endpoint::new(config);
    for tid in 1..=3 {
        let cmd = format!("AUEP {tid} aaln/1@cta1.example MGCP 1.0\r\n");
        gw.handle_datagram(at(0), CA, cmd.as_bytes());
    }
    assert_eq!(events(&mut gw).len(), 2);
    // The third was refused, not executed.
    let out = one(&mut gw);
    assert!(text(&out).starts_with("409 3 "), "{}", text(&out));
    assert_eq!(gw.counters().overloads, 1);

    let ok = |tid| Response::new(ReturnCode::OK, TransactionId(tid));
    let t = TransactionId;
    assert_eq!(
        gw.respond(at(1), CA, t(3), ok(3)),
        Err(TransactionError::UnknownTransaction(t(3)))
    );
    assert_eq!(
        gw.respond(at(1), GW, t(1), ok(1)),
        Err(TransactionError::UnknownTransaction(t(1)))
    );
    let ack = Response::new(ReturnCode::ACK, t(1));
    assert_eq!(
        gw.respond(at(1), CA, t(1), ack),
        Err(TransactionError::BadCode(ReturnCode::ACK))
    );
    gw.respond(at(1), CA, t(1), ok(1)).unwrap();
    assert_eq!(
        gw.respond(at(1), CA, t(1), ok(1)),
        Err(TransactionError::AlreadyAnswered(t(1)))
    );

    // Our own history fills too: a sent command is remembered after its answer.
    let mut ca = Endpoint::new(Config {
        max_history: 2,
        ..Config::default()
    });
    let mut gw = Endpoint::new(Config::default());
    exchange(at(0), &mut ca, &mut gw);
    exchange(at(0), &mut ca, &mut gw);
    assert_eq!(
        ca.send_command(at(1), GW, crcx()),
        Err(TransactionError::HistoryFull)
    );
    ca.handle_timeout(at(30_000));
    assert!(ca.send_command(at(30_000), GW, crcx()).is_ok());
}

#[test]
fn unanswered_commands_are_forgotten_after_the_history() {
    let mut gw = Endpoint::new(Config::default());
    gw.handle_datagram(at(0), CA, b"AUEP 5 aaln/1@cta1.example MGCP 1.0\r\n");
    events(&mut gw);
    gw.handle_timeout(at(30_000));
    assert_eq!(gw.remembered(), 0);
    let late = gw.respond(
        at(30_001),
        CA,
        TransactionId(5),
        Response::new(ReturnCode::OK, TransactionId(5)),
    );
    assert_eq!(
        late,
        Err(TransactionError::UnknownTransaction(TransactionId(5)))
    );
}

#[test]
fn message_text_debug_shows_only_the_first_line() {
    let text = MessageText(b"CRCX 1 aaln/1@cta MGCP 1.0\r\nL: k:clear:SECRETKEY\r\n".to_vec());
    let shown = format!("{text:?}");
    assert!(shown.contains("CRCX 1 aaln/1@cta MGCP 1.0"), "{shown}");
    assert!(!shown.contains("SECRET"), "{shown}");
}

/// Sends `n` commands each way in bursts and runs the network until quiet.
fn run(sim: &mut Sim, n: u32) {
    for i in 0..n {
        let t = at(u64::from(i / 10) * 100);
        sim.run_until(t);
        sim.now = sim.now.max(t);
        let now = sim.now;
        sim.ca.ep.send_command(now, GW, crcx()).unwrap();
        let ntfy = Command::new(Verb::Ntfy, TransactionId(0), crcx().endpoint)
            .with(Param::RequestIdentifier("44"));
        sim.gw.ep.send_command(now, CA, ntfy).unwrap();
    }
    sim.run_until(at(u64::MAX / 1000));
}

/// Every command got exactly one outcome; none ran twice; each answered one
/// ran exactly once. Returns the number of time-outs.
fn check(sim: &Sim, n: usize) -> usize {
    let mut timeouts = 0;
    for (sender, receiver) in [(&sim.ca, &sim.gw), (&sim.gw, &sim.ca)] {
        let tids: Vec<_> = sender
            .responses
            .keys()
            .chain(sender.timeouts.keys())
            .collect();
        assert_eq!(tids.len(), n, "each command has one outcome");
        assert!(sender
            .responses
            .values()
            .chain(sender.timeouts.values())
            .all(|&c| c == 1));
        for (&(from, tid), &runs) in &receiver.executed {
            assert_eq!(from, sender.addr);
            assert_eq!(runs, 1, "command {tid} ran {runs} times");
        }
        for tid in sender.responses.keys() {
            assert!(receiver.executed.contains_key(&(sender.addr, *tid)));
        }
        timeouts += sender.timeouts.len();
        assert_eq!(sender.bad, 0);
    }
    // Everything was forgotten once the history ran out.
    assert_eq!(sim.ca.ep.remembered() + sim.gw.ep.remembered(), 0);
    timeouts
}

#[test]
fn every_command_runs_once_under_duplication_and_reordering() {
    for seed in 1..=5 {
        let mut sim = Sim::new(seed, Config::default());
        sim.net.duplicate = 50;
        sim.net.delay = (1, 300);
        run(&mut sim, 100);
        assert_eq!(check(&sim, 100), 0, "seed {seed}");
        assert!(sim.ca.ep.counters().duplicates > 0 && sim.gw.ep.counters().duplicates > 0);
    }
}

#[test]
fn loss_heavy_run_completes_or_times_out_every_command() {
    for seed in 1..=5 {
        let mut sim = Sim::new(seed, Config::default());
        sim.net.loss = 30;
        sim.net.duplicate = 10;
        sim.net.delay = (5, 120);
        // Every fifth command takes a while: 100s, long timer, 000 acks.
        sim.gw.answer_after = Some(Duration::from_millis(1500));
        sim.gw.slow_every = 5;
        run(&mut sim, 200);
        let timeouts = check(&sim, 200);
        assert!(timeouts < 20, "seed {seed}: {timeouts} of 400 timed out");
        assert!(sim.ca.provisionals > 0, "seed {seed}");
    }
}

#[test]
fn ids_never_repeat_over_a_long_run() {
    let mut sim = Sim::new(7, Config::default());
    sim.net.loss = 10;
    run(&mut sim, 300);
    check(&sim, 300);
    // 300 outcomes under 300 distinct ids on each side.
    assert_eq!(sim.ca.responses.len() + sim.ca.timeouts.len(), 300);
}

mod fuzz {
    extern crate std;

    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut ep = Endpoint::new(Config::default());
            ep.send_command(at(0), GW, crcx()).unwrap();
            ep.handle_datagram(at(1), GW, &data);
            while ep.poll_transmit().is_some() || ep.poll_event().is_some() {}
        }

        #[test]
        fn mangled_messages_never_panic(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("CRCX 1 aaln/1@x MGCP 1.0"), Just("200 1 OK"), Just("100 1"),
                    Just("000 1"), Just("K:"), Just("K: 1-3, 7"), Just("K: 9-2"), Just("."),
                    Just(""), Just("C: 1"), Just("FOO 2 a@b MGCP 1.0"), Just("999999999"),
                ],
                0..20,
            ),
            from_ca in any::<bool>(),
        ) {
            let mut ep = Endpoint::new(Config::default());
            ep.send_command(at(0), GW, crcx()).unwrap();
            let datagram = lines.join("\r\n");
            let from = if from_ca { CA } else { GW };
            for t in 1..4 {
                ep.handle_datagram(at(t), from, datagram.as_bytes());
                ep.handle_timeout(at(t * 1000));
                while ep.poll_transmit().is_some() || ep.poll_event().is_some() {}
            }
        }
    }
}
