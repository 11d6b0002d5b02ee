//! Conformance against real MGCP messages from osmo-mgw's tests
//! (`../shared/corpus/mgcp/`, read in place; CI has `shared/` beside the checkout).

use std::path::PathBuf;

use cablekey_protocol::mgcp::{self, ErrorKind, Message, ParamName, ReturnCode};

fn corpus_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/corpus/mgcp"
    ));
    assert!(
        dir.join("index.tsv").is_file(),
        "MGCP corpus missing at {} (shared/ must sit beside the checkout)",
        dir.display()
    );
    dir
}

struct Row {
    file: String,
    kind: String,
    verb_or_code: String,
    tid: String,
    endpoint: String,
}

fn rows() -> Vec<Row> {
    let index = std::fs::read_to_string(corpus_dir().join("index.tsv")).unwrap();
    index
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                file: f[0].into(),
                kind: f[2].into(),
                verb_or_code: f[3].into(),
                tid: f[4].into(),
                endpoint: f[5].into(),
            }
        })
        .collect()
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(file)).unwrap()
}

/// Where RFC 3435 and osmo-mgw differ, RFC 3435 wins: osmo-mgw accepts a
/// bare `X` line, but every parameter line is `name: value`.
const RFC_STRICTER: &[(&str, ErrorKind, u16)] = &[(
    "09-crcx-amr-fmtp-bare-x-line.txt",
    ErrorKind::BadParamLine,
    4,
)];

#[test]
fn corpus_has_all_38_messages() {
    assert_eq!(rows().len(), 38);
}

#[test]
fn commands_and_responses_parse_with_their_header() {
    for row in rows().iter().filter(|r| r.kind != "invalid") {
        let bytes = read(&row.file);
        if let Some((_, kind, line)) = RFC_STRICTER.iter().find(|(f, ..)| *f == row.file) {
            let e = mgcp::parse(&bytes).unwrap_err();
            assert_eq!((e.kind, e.line), (*kind, *line), "{}", row.file);
            assert_eq!(e.return_code(), ReturnCode::PROTOCOL_ERROR);
            assert_eq!(
                e.wants_response().map(|t| t.to_string()),
                Some(row.tid.clone())
            );
            continue;
        }
        let msg = mgcp::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e:?}", row.file));
        match (&msg, row.kind.as_str()) {
            (Message::Command(c), "command") => {
                assert_eq!(c.verb.as_str(), row.verb_or_code, "{}", row.file);
                assert_eq!(c.tid.to_string(), row.tid, "{}", row.file);
                assert_eq!(c.endpoint.to_string(), row.endpoint, "{}", row.file);
            }
            (Message::Response(r), "response") => {
                assert_eq!(r.code.to_string(), row.verb_or_code, "{}", row.file);
                assert_eq!(r.tid.0, row.tid.parse::<u32>().unwrap(), "{}", row.file);
            }
            _ => panic!("{}: parsed as the wrong kind: {msg:?}", row.file),
        }
    }
}

#[test]
fn invalid_messages_get_the_code_a_gateway_answers() {
    for row in rows().iter().filter(|r| r.kind == "invalid") {
        let bytes = read(&row.file);
        let e = mgcp::parse(&bytes).unwrap_err();
        if row.file.starts_with("21-") {
            assert_eq!(e.kind, ErrorKind::Empty);
            assert_eq!(
                e.wants_response(),
                None,
                "nothing is owed for an empty datagram"
            );
            continue;
        }
        assert_eq!(
            e.return_code(),
            ReturnCode::PROTOCOL_ERROR,
            "{}: {e:?}",
            row.file
        );
        assert!(e.is_command, "{}", row.file);
        if row.tid != "-" {
            assert_eq!(
                e.tid.map(|t| t.to_string()),
                Some(row.tid.clone()),
                "{}",
                row.file
            );
        }
    }
}

#[test]
fn over_long_connection_id_is_named() {
    let bytes = read("20-invalid-mdcx-ci-too-long.txt");
    let e = mgcp::parse(&bytes).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadValue(ParamName::ConnectionId));
    assert_eq!(e.line, 2);
}

#[test]
fn negative_packet_loss_statistic_is_read() {
    let bytes = read("27-resp-250-stats-negative-pl.txt");
    let msg = mgcp::parse(&bytes).unwrap();
    let Some(mgcp::Param::ConnectionParameters(p)) = msg.params().first() else {
        panic!("no P: line in {msg:?}");
    };
    let pl = p.iter().find(|s| s.name == "PL").unwrap();
    assert_eq!(pl.as_i64(), Some(-3));
    assert_eq!(p.len(), 6);
}

#[test]
fn vendor_x_parameters_are_kept_intact() {
    let bytes = read("37-client-mdcx-x-osmux.txt");
    let msg = mgcp::parse(&bytes).unwrap();
    assert!(msg.params().iter().any(|p| matches!(
        p,
        mgcp::Param::Extension {
            name: "X-Osmux",
            value: "2"
        }
    )));
    let wire = msg.encode();
    assert_eq!(mgcp::parse(&wire).unwrap(), msg);
}

#[test]
fn every_valid_corpus_message_round_trips() {
    for row in rows().iter().filter(|r| r.kind != "invalid") {
        let bytes = read(&row.file);
        let Ok(msg) = mgcp::parse(&bytes) else {
            continue;
        };
        let wire = msg.encode();
        let again = mgcp::parse(&wire).unwrap_or_else(|e| panic!("{}: {e:?}", row.file));
        assert_eq!(again, msg, "{}", row.file);
    }
}
