//! Every file of the shared SDP corpus, checked against its `index.tsv`.
//!
//! The corpus lives outside the repository (`shared/corpus/sdp` next to the
//! workspace); a missing corpus fails these tests rather than skipping them.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use cablekey_protocol::sdp::{
    Attribute, CryptoAttr, CryptoError, ErrorKind, FecOrder, Lifetime, Mki, Sdp, SessionParam,
    MAX_SUITE_LEN,
};

fn corpus_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/corpus/sdp"
    ))
}

fn read(name: &str) -> String {
    let path = corpus_dir().join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

struct Row {
    file: String,
    crypto: String,
    expected: String,
}

fn index() -> Vec<Row> {
    let text = read("index.tsv");
    let mut lines = text.lines();
    let header = lines.next().expect("index.tsv is empty");
    assert!(
        header.starts_with("file\tsource\tcrypto"),
        "unexpected header: {header}"
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(
                cols.len(),
                5,
                "index.tsv row has {} columns: {l}",
                cols.len()
            );
            Row {
                file: cols[0].to_owned(),
                crypto: cols[2].to_owned(),
                expected: cols[3].to_owned(),
            }
        })
        .collect()
}

/// One `tag SUITE key=NB life=X mki=Y` item of the index's crypto column,
/// with the media kind when the column groups items (`audio: ...`).
#[derive(Debug)]
struct Expect {
    media: Option<String>,
    tag: u32,
    suite: String,
    key_len: usize,
    lifetime: Option<String>,
    mki: Option<String>,
}

fn expectations(column: &str) -> Vec<Expect> {
    let mut media = None;
    let mut out = Vec::new();
    for item in column.split(';') {
        let mut item = item.trim();
        if let Some((kind, rest)) = item.split_once(": ") {
            media = Some(kind.to_owned());
            item = rest;
        }
        let words: Vec<&str> = item.split_whitespace().collect();
        let field = |name: &str| {
            let v = words
                .iter()
                .find_map(|w| w.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {item:?}"));
            (v != "-").then(|| v.to_owned())
        };
        out.push(Expect {
            media: media.clone(),
            tag: words[0]
                .parse()
                .unwrap_or_else(|_| panic!("bad tag in {item:?}")),
            suite: words[1].to_owned(),
            key_len: field("key=")
                .and_then(|k| k.strip_suffix('B').map(str::to_owned))
                .and_then(|k| k.parse().ok())
                .unwrap_or_else(|| panic!("bad key= in {item:?}")),
            lifetime: field("life="),
            mki: field("mki="),
        });
    }
    out
}

fn check(c: &CryptoAttr<'_>, e: &Expect, file: &str) {
    let what = format!("{file} tag {}", e.tag);
    assert_eq!(c.tag, e.tag, "{what}");
    assert_eq!(c.suite.name(), e.suite, "{what}");
    assert_eq!(c.keys.len(), 1, "{what}");
    let key = &c.keys[0];
    assert_eq!(key.key.len(), e.key_len, "{what}: key length");
    if let Some(n) = c.suite.key_salt_len() {
        assert_eq!(n, e.key_len, "{what}: suite table");
    }
    assert_eq!(
        key.lifetime.map(|l| l.to_string()),
        e.lifetime,
        "{what}: lifetime"
    );
    assert_eq!(key.mki.map(|m| m.to_string()), e.mki, "{what}: mki");
}

/// The base64 text of every `inline:` key in `text`.
fn key_texts(text: &str) -> Vec<&str> {
    text.split("inline:")
        .skip(1)
        .map(|rest| {
            rest.split(['|', ' ', '\r', '\n', ';'])
                .next()
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn corpus_is_present_and_fully_indexed() {
    let dir = corpus_dir();
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "SDP corpus missing at {} ({e}); these tests need shared/corpus/sdp",
            dir.display()
        )
    });
    let files: BTreeSet<String> = entries
        .map(|e| {
            e.expect("readable dir entry")
                .file_name()
                .into_string()
                .expect("UTF-8 name")
        })
        .filter(|n| n != "index.tsv")
        .collect();
    let indexed: BTreeSet<String> = index().into_iter().map(|r| r.file).collect();
    assert!(files.len() >= 8, "corpus has only {} files", files.len());
    assert_eq!(files, indexed, "files on disk and rows of index.tsv differ");
}

#[test]
fn full_descriptions_parse_as_indexed() {
    let mut checked = 0;
    for row in index()
        .iter()
        .filter(|r| r.expected.starts_with("parse-ok"))
    {
        let text = read(&row.file);
        let sdp = Sdp::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", row.file));
        let found: Vec<&CryptoAttr<'_>> = sdp.media.iter().flat_map(|m| m.crypto()).collect();
        let want = expectations(&row.crypto);
        assert_eq!(found.len(), want.len(), "{}: crypto lines", row.file);
        for (c, e) in found.iter().zip(&want) {
            check(c, e, &row.file);
        }
        if row.expected.contains("2 crypto lines") {
            assert_eq!(found.len(), 2, "{}", row.file);
        }
        checked += 1;
    }
    assert_eq!(checked, 6, "expected six full descriptions in the index");
}

#[test]
fn full_descriptions_round_trip_and_hide_keys() {
    for row in index()
        .iter()
        .filter(|r| r.expected.starts_with("parse-ok"))
    {
        let text = read(&row.file);
        let sdp = Sdp::parse(&text).unwrap();
        let wire = sdp.to_string();
        assert!(wire.ends_with("\r\n") && !wire.replace("\r\n", "").contains('\n'));
        let again = Sdp::parse(&wire).unwrap_or_else(|e| panic!("{}: reparse: {e}", row.file));
        assert_eq!(again, sdp, "{}: round trip", row.file);
        assert_eq!(again.to_string(), wire, "{}: second write", row.file);

        let debug = format!("{sdp:?}");
        let keys = key_texts(&text);
        assert!(
            !keys.is_empty() || row.file.starts_with("02"),
            "{}",
            row.file
        );
        for k in keys {
            assert!(k.len() >= 20, "{}: short key text {k:?}", row.file);
            assert!(!debug.contains(k), "{}: Debug shows a key", row.file);
            // Nor any long piece of it (the padding may differ).
            assert!(
                !debug.contains(&k[..16]),
                "{}: Debug shows key text",
                row.file
            );
            // The wire form does carry it (re-encoded with padding).
            assert!(
                wire.contains(k.trim_end_matches('=')),
                "{}: wire lacks key",
                row.file
            );
        }
    }
}

#[test]
fn rtpengine_aead256_second_stream_is_plain_rtp() {
    let text = read("02-rtpengine-aead256gcm-lifetime.sdp");
    let sdp = Sdp::parse(&text).unwrap();
    assert_eq!(sdp.media.len(), 2);
    let (srtp, rtp) = (&sdp.media[0], &sdp.media[1]);
    assert_eq!((srtp.proto, srtp.is_srtp()), ("RTP/SAVP", true));
    assert_eq!((rtp.proto, rtp.is_srtp()), ("RTP/AVP", false));
    assert_eq!(rtp.crypto().count(), 0);
    let c = srtp.crypto_tag(1).unwrap();
    assert_eq!(c.keys[0].lifetime, Some(Lifetime::PowerOfTwo(32)));
    assert_eq!(c.keys[0].lifetime.unwrap().packets(), 1 << 32);
    let (k, s) = c.keys[0].split(c.suite).unwrap();
    assert_eq!((k.len(), s.len()), (32, 12));
    assert_eq!(srtp.ptime(), Some(20));
    assert_eq!(srtp.rtpmap(18).unwrap().encoding, "G729");
    assert_eq!(srtp.fmtp("101").unwrap().params, "0-15");
    assert_eq!(
        srtp.payload_types().collect::<Vec<_>>(),
        [9, 8, 0, 18, 101, 121, 124]
    );
}

#[test]
fn rtpengine_mki_without_lifetime() {
    let text = read("03-rtpengine-mki.sdp");
    let sdp = Sdp::parse(&text).unwrap();
    let m = &sdp.media[0];
    assert_eq!(
        m.crypto_tag(1).unwrap().keys[0].mki,
        Some(Mki {
            value: 1,
            length: 32
        })
    );
    assert_eq!(
        m.crypto_tag(2).unwrap().keys[0].mki,
        Some(Mki {
            value: 2,
            length: 32
        })
    );
    assert!(m.crypto().all(|c| c.keys[0].lifetime.is_none()));
    // The c= line follows m= in this file: it is media-level.
    assert!(sdp.connection.is_none());
    assert_eq!(sdp.media_connection(m).unwrap().address, "198.51.100.1");
}

#[test]
fn fragment_fails_as_full_sdp_but_its_attributes_parse() {
    let row = index()
        .into_iter()
        .find(|r| r.file.starts_with("07-"))
        .expect("index row for the fragment");
    assert!(
        row.expected.contains("full-SDP parse should fail"),
        "{}",
        row.expected
    );
    let text = read(&row.file);

    let err = Sdp::parse(&text).unwrap_err();
    assert_eq!(
        (err.kind, err.line),
        (ErrorKind::MissingVersion, 1),
        "{err}"
    );

    let mut media = None;
    let mut found = Vec::new();
    let mut unknown = Vec::new();
    for line in text.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            media = m.split(' ').next().map(str::to_owned);
        }
        if let Some(a) = line.strip_prefix("a=") {
            match Attribute::parse(a).unwrap_or_else(|e| panic!("{line}: {e}")) {
                Attribute::Crypto(c) => found.push((media.clone(), c)),
                Attribute::Other { name, .. } => unknown.push(name),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    let want = expectations(&row.crypto);
    assert_eq!(found.len(), want.len());
    for ((m, c), e) in found.iter().zip(&want) {
        assert_eq!(m, &e.media, "media of tag {}", e.tag);
        check(c, e, &row.file);
    }
    assert_eq!(unknown, ["srtpass", "srtpass"]);
}

#[test]
fn zrtp_bare_values_and_the_overlong_suite() {
    let row = index()
        .into_iter()
        .find(|r| r.file.starts_with("08-"))
        .expect("index row for the bare values");
    assert!(
        row.expected.contains("lines 1-5 parse-ok"),
        "{}",
        row.expected
    );
    assert!(row.expected.contains("line 6"), "{}", row.expected);
    let text = read(&row.file);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6);

    let ok: Vec<CryptoAttr<'_>> = lines[..5]
        .iter()
        .enumerate()
        .map(|(i, l)| CryptoAttr::parse(l).unwrap_or_else(|e| panic!("line {}: {e}", i + 1)))
        .collect();
    for c in &ok {
        assert_eq!(c.tag, 1);
        assert_eq!(c.keys[0].key.len(), 30);
    }
    let life = |i: usize| ok[i].keys[0].lifetime;
    let mki = |i: usize| ok[i].keys[0].mki;
    assert_eq!((life(0), mki(0)), (None, None));
    assert_eq!(life(1), Some(Lifetime::PowerOfTwo(20)));
    assert_eq!(mki(1), None);
    assert_eq!(life(2), Some(Lifetime::PowerOfTwo(20)));
    assert_eq!(
        mki(2),
        Some(Mki {
            value: 1,
            length: 4
        })
    );
    let params = [
        SessionParam::FecOrder(FecOrder::FecSrtp),
        SessionParam::Kdr(20),
    ];
    assert_eq!(ok[3].session_params, params);
    assert_eq!(ok[4].session_params, params);
    assert_eq!((life(4), mki(4)), (life(2), mki(2)));

    let suite = lines[5].split(' ').nth(1).unwrap();
    assert!(
        suite.len() > MAX_SUITE_LEN,
        "suite is {} chars",
        suite.len()
    );
    assert_eq!(
        CryptoAttr::parse(lines[5]).unwrap_err(),
        CryptoError::SuiteTooLong
    );
    // Also inside a description, with the line number.
    let sdp = format!(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 1 RTP/SAVP 0\na=crypto:{}\n",
        lines[5]
    );
    let err = Sdp::parse(&sdp).unwrap_err();
    assert_eq!(
        (err.kind, err.line),
        (ErrorKind::Crypto(CryptoError::SuiteTooLong), 6)
    );
}
