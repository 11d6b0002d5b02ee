//! The operator's MGCP tools: `cablekey mgcp parse` on real messages and
//! `cablekey mgcp send` against a real media gateway (osmo-mgw) on loopback.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn cablekey(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cablekey"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn corpus(file: &str) -> String {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/mgcp/");
    let path = format!("{p}{file}");
    assert!(
        std::path::Path::new(&path).is_file(),
        "corpus missing: {path}"
    );
    path
}

#[test]
fn parse_prints_each_message_as_json() {
    let out = cablekey(&["mgcp", "parse", &corpus("32-client-crcx-lco.txt")], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "command");
    assert_eq!(v["verb"], "CRCX");
    assert_eq!(v["tid"], 1);
    assert_eq!(v["endpoint"]["local"], "23");
}

#[test]
fn parse_shows_the_session_description_without_its_key() {
    let msg = b"CRCX 9 aaln/1@cta MGCP 1.0\r\nC: 1\r\n\r\nv=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 AEAD_AES_128_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw\r\n";
    let out = cablekey(&["mgcp", "parse"], msg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(v["session"]["media"][0].is_object(), "{text}");
    assert!(
        !text.contains("AAECAwQFBgcICQoLDA0O"),
        "key text in output: {text}"
    );
    assert!(text.contains("AEAD_AES_128_GCM"), "{text}");
}

#[test]
fn parse_reads_piggy_backed_messages_from_stdin() {
    let datagram = b"200 7 OK\r\nI: 1\r\n.\r\nRQNT 8 aaln/1@cta MGCP 1.0\r\nX: 1\r\nR: L/hd(N)\r\n";
    let out = cablekey(&["mgcp", "parse", "-"], datagram);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["code"], 200);
    assert_eq!(lines[1]["verb"], "RQNT");
}

#[test]
fn parse_reports_the_return_code_of_a_bad_message() {
    let out = cablekey(
        &["mgcp", "parse", &corpus("20-invalid-mdcx-ci-too-long.txt")],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error 510") && err.contains("line 2"), "{err}");
}

#[test]
fn parse_never_prints_a_key() {
    let msg = b"CRCX 1 aaln/1@cta MGCP 1.0\r\nL: k:base64:c2VjcmV0c2VjcmV0c2VjcmV0\r\n";
    let out = cablekey(&["mgcp", "parse"], msg);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("c2VjcmV0"), "{text}");
    assert!(text.contains("fingerprint"), "{text}");
}

#[test]
fn send_talks_to_a_real_media_gateway() {
    let mgw = common::OsmoMgw::start("127.0.0.51", 12427, 31000);
    let addr = mgw.mgcp.to_string();

    let out = cablekey(
        &["mgcp", "send", &addr],
        b"AUEP 4001 rtpbridge/1@mgw MGCP 1.0\r\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("200 4001"));

    let crcx = b"CRCX 4002 rtpbridge/*@mgw MGCP 1.0\r\nC: 1a\r\nL: p:20, a:PCMU\r\nM: recvonly\r\n";
    let out = cablekey(&["mgcp", "send", &addr], crcx);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resp = String::from_utf8(out.stdout).unwrap();
    let parsed = cablekey_protocol::mgcp::parse(resp.as_bytes()).unwrap();
    assert_eq!(parsed.tid().0, 4002);
    let ci = parsed
        .params()
        .iter()
        .find_map(|p| match p {
            cablekey_protocol::mgcp::Param::ConnectionId(ci) => Some(ci.to_string()),
            _ => None,
        })
        .expect("CRCX response has a connection id");
    assert!(
        parsed.sdp().is_some_and(|s| s.contains("m=audio")),
        "{resp}"
    );

    let dlcx = format!("DLCX 4003 rtpbridge/1@mgw MGCP 1.0\r\nC: 1a\r\nI: {ci}\r\n");
    let out = cablekey(&["mgcp", "send", &addr], dlcx.as_bytes());
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("250 4003"),
        "{out:?}"
    );

    // osmo-mgw does not answer AUCX: the tool retransmits, then gives up cleanly.
    let out = cablekey(
        &["mgcp", "send", "--timeout", "1", &addr],
        b"AUCX 4004 rtpbridge/1@mgw MGCP 1.0\r\nI: 1\r\n",
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no response"));
}

#[test]
fn send_refuses_a_bad_message_with_its_code() {
    let out = cablekey(
        &["mgcp", "send", "127.0.0.1:9"],
        b"CRCX 1 nowhere MGCP 1.0\r\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("500"));
}
