//! Property tests: generated messages survive encode → parse unchanged in
//! meaning, and no input makes the parser panic.

use cablekey_protocol::mgcp::{
    self, Command, ConnectionMode, ConnectionParameter, EncryptionKey, EndpointName, EventItem,
    EventList, LcoItem, LocalConnectionOptions, Message, Param, ReasonCode, Response,
    RestartMethod, ReturnCode, TidRange, TransactionId, Verb,
};
use proptest::prelude::*;
use proptest::sample::select;

/// Generated text must outlive the borrowed message built from it.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn text(re: &'static str) -> impl Strategy<Value = &'static str> {
    re.prop_map(leak)
}

fn tid() -> impl Strategy<Value = TransactionId> {
    (1u32..=TransactionId::MAX).prop_map(TransactionId)
}

fn endpoint() -> impl Strategy<Value = EndpointName<'static>> {
    (
        text("(aaln|ds/ds1-[0-9]|rtpbridge|\\*|\\$)(/([0-9]{1,2}|\\*|\\$)){0,2}"),
        text("[a-z]{1,8}(\\.[a-z]{2,5})?|\\[127\\.0\\.0\\.[0-9]{1,2}\\](:[0-9]{4})?"),
    )
        .prop_map(|(local, domain)| EndpointName { local, domain })
}

fn events() -> impl Strategy<Value = EventList<'static>> {
    prop::collection::vec(
        (
            text("(L|D|G|T)/(hd|hu|[0-9#*]|\\[0-9#\\*T\\]|ft|rt)(@[0-9A-F]{1,4})?"),
            prop::option::of(text("N|A|D|S\\(dl\\)|E\\(R\\(oc,hu\\)\\)|10:20")),
        )
            .prop_map(|(name, args)| EventItem { name, args }),
        0..4,
    )
    .prop_map(EventList::from)
}

fn lco() -> impl Strategy<Value = LocalConnectionOptions<'static>> {
    let item = prop_oneof![
        text("[0-9]{1,3}(-[0-9]{1,3})?").prop_map(LcoItem::PacketizationPeriod),
        text("PCMU|PCMA|G729(;PCMU)?").prop_map(LcoItem::Compression),
        any::<bool>().prop_map(LcoItem::EchoCancellation),
        any::<bool>().prop_map(LcoItem::SilenceSuppression),
        text("IN|ATM|LOCAL").prop_map(LcoItem::TypeOfNetwork),
        text("[A-Za-z0-9+/]{22}==").prop_map(|k| LcoItem::EncryptionKey(EncryptionKey::Base64(k))),
        text("62/51|62").prop_map(LcoItem::RtpSecurity),
        text("62/51|62").prop_map(LcoItem::RtcpSecurity),
        text("127\\.0\\.0\\.1:[0-9]{4}").prop_map(LcoItem::SurveillanceDestination),
        text("[0-9A-F]{8}").prop_map(LcoItem::SurveillanceId),
    ];
    prop::collection::vec(item, 1..6).prop_map(|mut items| {
        // Each option at most once, as the parser requires.
        let mut seen = Vec::new();
        items.retain(|i| {
            let fresh = !seen.contains(&i.name());
            seen.push(i.name());
            fresh
        });
        LocalConnectionOptions::from(items)
    })
}

fn param() -> impl Strategy<Value = Param<'static>> {
    prop_oneof![
        prop::collection::vec(
            (1u32..1000, 0u32..5).prop_map(|(a, n)| TidRange {
                first: TransactionId(a),
                last: TransactionId(a + n)
            }),
            0..3
        )
        .prop_map(Param::ResponseAck),
        text("[0-9A-F]{1,32}").prop_map(Param::CallId),
        text("[0-9A-F]{1,32}").prop_map(Param::ConnectionId),
        text("ca@[a-z]{1,8}(:[0-9]{4})?").prop_map(Param::NotifiedEntity),
        text("[0-9A-F]{1,32}").prop_map(Param::RequestIdentifier),
        lco().prop_map(Param::LocalConnectionOptions),
        select(
            &[
                ConnectionMode::SendRecv,
                ConnectionMode::RecvOnly,
                ConnectionMode::SendOnly,
                ConnectionMode::Inactive,
                ConnectionMode::Loopback,
                ConnectionMode::Conference,
            ][..]
        )
        .prop_map(Param::ConnectionMode),
        events().prop_map(Param::RequestedEvents),
        events().prop_map(Param::SignalRequests),
        text("\\(0T\\|00T\\|[1-7]xxx\\|8xxxxxxx\\)").prop_map(Param::DigitMap),
        events().prop_map(Param::ObservedEvents),
        prop::collection::vec(
            (text("PS|OS|PR|OR|PL|JI|LA"), text("-?[0-9]{1,6}"))
                .prop_map(|(name, value)| ConnectionParameter { name, value }),
            1..5
        )
        .prop_map(Param::ConnectionParameters),
        (100u16..1000, text("([A-Za-z]{1,8}( [A-Za-z]{1,8}){0,3})?"))
            .prop_map(|(code, text)| Param::ReasonCode(ReasonCode { code, text })),
        endpoint().prop_map(Param::SpecificEndpointId),
        endpoint().prop_map(Param::SecondEndpointId),
        prop::collection::vec(text("R|S|N|I|X|D|O|P|E|Q|T"), 1..4).prop_map(Param::RequestedInfo),
        events().prop_map(Param::DetectEvents),
        select(
            &[
                RestartMethod::Graceful,
                RestartMethod::Forced,
                RestartMethod::Restart,
                RestartMethod::Disconnected,
                RestartMethod::CancelGraceful,
                RestartMethod::Extension("X-Warm"),
            ][..]
        )
        .prop_map(Param::RestartMethod),
        (0u32..100_000).prop_map(Param::RestartDelay),
        lco().prop_map(Param::Capabilities),
        prop::collection::vec((text("[A-Z]{1,3}"), text("[0-9]")), 1..4)
            .prop_map(Param::PackageList),
        (1000u32..65_000).prop_map(Param::MaxMgcpDatagram),
        (text("X-[A-Za-z]{1,10}"), text("[ -~]{0,20}")).prop_map(|(name, value)| {
            Param::Extension {
                name,
                value: value.trim(),
            }
        }),
    ]
}

fn params() -> impl Strategy<Value = Vec<Param<'static>>> {
    prop::collection::vec(param(), 0..10).prop_map(|mut ps| {
        let mut seen = Vec::new();
        ps.retain(|p| {
            let fresh = p.name() == mgcp::ParamName::Extension || !seen.contains(&p.name());
            seen.push(p.name());
            fresh
        });
        ps
    })
}

fn sdp() -> impl Strategy<Value = Option<&'static str>> {
    prop::option::of(text(
        "v=0\r\no=- [0-9]{1,5} 1 IN IP4 127\\.0\\.0\\.1\r\ns=-\r\nc=IN IP4 127\\.0\\.0\\.1\r\nt=0 0\r\nm=audio [0-9]{4} RTP/SAVP 0\r\na=crypto:1 AEAD_AES_128_GCM inline:[A-Za-z0-9+/]{38}\r\n",
    ))
}

fn message() -> impl Strategy<Value = Message<'static>> {
    let command = (select(&Verb::ALL[..]), tid(), endpoint(), params(), sdp()).prop_map(
        |(verb, tid, endpoint, params, sdp)| {
            let mut c = Command::new(verb, tid, endpoint);
            c.params = params;
            c.sdp = sdp;
            Message::Command(c)
        },
    );
    let response = (
        select(&[0u16, 100, 101, 200, 250, 400, 500, 510, 524, 801][..]),
        tid(),
        prop::option::of(text("[A-Z]{1,4}")),
        params(),
        sdp(),
    )
        .prop_map(|(code, tid, package, params, sdp)| {
            let mut r = Response::new(ReturnCode(code), tid);
            r.package = package;
            r.params = params;
            r.sdp = sdp;
            Message::Response(r)
        });
    prop_oneof![command, response]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_parse_is_lossless(msg in message()) {
        let wire = msg.encode();
        let again = mgcp::parse(&wire);
        prop_assert_eq!(again.as_ref(), Ok(&msg), "wire: {}", String::from_utf8_lossy(&wire));
    }

    #[test]
    fn piggy_backed_messages_come_back_in_order(msgs in prop::collection::vec(message(), 1..5)) {
        let wire = mgcp::encode_datagram(&msgs);
        let back: Vec<_> = mgcp::parse_datagram(&wire).into_iter().collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(back, msgs);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        for r in mgcp::parse_datagram(&bytes) {
            if let Err(e) = r {
                let _ = e.return_code();
            }
        }
    }

    #[test]
    fn mutated_messages_never_panic(msg in message(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut wire = msg.encode();
        for (at, b) in flips {
            let n = wire.len();
            wire[at % n] = b;
        }
        let _ = mgcp::parse_datagram(&wire);
    }

    #[test]
    fn keys_never_show_in_debug(msg in message()) {
        let debug = format!("{msg:?}");
        if let Some(sdp) = msg.sdp() {
            let key = sdp.split("inline:").nth(1).unwrap().trim_end();
            prop_assert!(!debug.contains(key), "SDP key text in {}", debug);
        }
        for p in msg.params() {
            if let Param::LocalConnectionOptions(l) | Param::Capabilities(l) = p {
                if let Some(EncryptionKey::Base64(k)) = l.encryption_key() {
                    prop_assert!(!debug.contains(k), "key text in {}", debug);
                }
            }
        }
    }
}
