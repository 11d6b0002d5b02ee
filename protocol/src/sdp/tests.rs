use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::*;
use crate::mgcp::EncryptionKey;
use crate::secret::SecretBytes;

const HEAD: &str = "v=0\r\no=- 7 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n";
const KEY30: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

fn with_head(rest: &str) -> String {
    format!("{HEAD}{rest}")
}

fn err(text: &str) -> (ErrorKind, u16) {
    let e = Sdp::parse(text).expect_err(text);
    (e.kind, e.line)
}

/// Test inputs live for the whole test run.
fn leak(s: String) -> &'static str {
    s.leak()
}

fn crypto_err(value: &str) -> CryptoError {
    CryptoAttr::parse(value).expect_err(value)
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn minimal_lf_and_crlf_agree() {
    let crlf = with_head("m=audio 4000 RTP/AVP 0\r\n");
    let lf = crlf.replace("\r\n", "\n");
    let a = Sdp::parse(&crlf).unwrap();
    assert_eq!(a, Sdp::parse(&lf).unwrap());
    assert_eq!(a.to_string(), crlf);
    assert_eq!(a.origin.session_id, 7);
    assert_eq!(a.times, [Timing::unbounded()]);
    assert_eq!(a.media[0].formats, ["0"]);
}

#[test]
fn the_header_lines_are_required_in_order() {
    assert_eq!(err(""), (ErrorKind::Empty, 0));
    assert_eq!(err("\r\n \n"), (ErrorKind::Empty, 0));
    assert_eq!(err("o=- 1 1 IN IP4 h\n"), (ErrorKind::MissingVersion, 1));
    assert_eq!(err("v=1\n"), (ErrorKind::UnsupportedVersion, 1));
    assert_eq!(err("v=0\n"), (ErrorKind::MissingOrigin, 2));
    assert_eq!(err("v=0\ns=-\n"), (ErrorKind::MissingOrigin, 2));
    assert_eq!(
        err("v=0\no=- 1 1 IN IP4 h\nt=0 0\n"),
        (ErrorKind::MissingSessionName, 3)
    );
    assert_eq!(
        err("v=0\no=- 1 1 IN IP4 h\n"),
        (ErrorKind::MissingSessionName, 3)
    );
    let no_t = "v=0\no=- 1 1 IN IP4 h\ns=-\nc=IN IP4 h\nm=audio 1 RTP/AVP 0\n";
    assert_eq!(err(no_t), (ErrorKind::MissingTiming, 5));
    assert_eq!(
        err("v=0\no=- 1 1 IN IP4 h\ns=-\n"),
        (ErrorKind::MissingTiming, 4)
    );
}

#[test]
fn malformed_lines_are_named() {
    assert_eq!(err(&with_head("hello\n")), (ErrorKind::BadLine, 5));
    assert_eq!(err(&with_head("A=b\n")), (ErrorKind::BadLine, 5));
    assert_eq!(err(&with_head("a=x\0y\n")), (ErrorKind::BadLine, 5));
    assert_eq!(err(&with_head("a=x\ry\n")), (ErrorKind::BadLine, 5));
    assert_eq!(err(&with_head("x=1\n")), (ErrorKind::UnknownType('x'), 5));
    assert_eq!(
        err(&with_head("o=- 1 1 IN IP4 h\n")),
        (ErrorKind::Duplicate('o'), 5)
    );
    let two_c = with_head("c=IN IP4 h\nc=IN IP4 h\n");
    assert_eq!(err(&two_c), (ErrorKind::Duplicate('c'), 6));
    let t_in_media = with_head("m=audio 1 RTP/AVP 0\nt=0 0\n");
    assert_eq!(err(&t_in_media), (ErrorKind::OutOfPlace('t'), 6));
    let bad = [
        ("o=- x 1 IN IP4 h", ErrorKind::BadOrigin),
        ("o=- 1 1 IN IP4", ErrorKind::BadOrigin),
        ("o=- 1 1 IN IP5 h", ErrorKind::BadOrigin),
    ];
    for (line, kind) in bad {
        let text = format!("v=0\n{line}\ns=-\nt=0 0\n");
        assert_eq!(err(&text), (kind, 2), "{line}");
    }
    let bad = [
        ("c=IN IP4", ErrorKind::BadConnection),
        ("c=IN IPX 10.0.0.1", ErrorKind::BadConnection),
        ("t=0", ErrorKind::BadTiming),
        ("t=0 x", ErrorKind::BadTiming),
        ("k=rot13:abc", ErrorKind::BadKeyField),
        ("m=audio 1 RTP/AVP", ErrorKind::BadMedia),
        ("m=audio 65536 RTP/AVP 0", ErrorKind::BadMedia),
        ("m=audio 1/0 RTP/AVP 0", ErrorKind::BadMedia),
        ("m=audio x RTP/AVP 0", ErrorKind::BadMedia),
        ("a=rtpmap:128 X/8000", ErrorKind::BadRtpmap),
        ("a=rtpmap:0 PCMU", ErrorKind::BadRtpmap),
        ("a=rtpmap:0 PCMU/8000/", ErrorKind::BadRtpmap),
        ("a=rtpmap", ErrorKind::BadRtpmap),
        ("a=fmtp", ErrorKind::BadFmtp),
        ("a=ptime:0", ErrorKind::BadPtime),
        ("a=ptime:20.5", ErrorKind::BadPtime),
        ("a=sendonly:yes", ErrorKind::BadDirection),
        ("a=:x", ErrorKind::BadAttribute),
        ("a=crypto", ErrorKind::Crypto(CryptoError::Syntax)),
    ];
    for (line, kind) in bad {
        assert_eq!(err(&with_head(&format!("{line}\n"))), (kind, 5), "{line}");
    }
}

#[test]
fn caps_hold() {
    let big = with_head(&"a=x\n".repeat(MAX_LEN / 4));
    assert_eq!(err(&big), (ErrorKind::TooLarge, 0));

    let lines = with_head(&"i=x\n".repeat(MAX_LINES));
    assert_eq!(err(&lines), (ErrorKind::TooManyLines, MAX_LINES as u16 + 1));

    let media = with_head(&"m=audio 1 RTP/AVP 0\n".repeat(MAX_MEDIA + 1));
    assert_eq!(err(&media), (ErrorKind::TooManyMedia, 5 + MAX_MEDIA as u16));

    let attrs = with_head(&"a=x\n".repeat(MAX_ATTRIBUTES + 1));
    assert_eq!(
        err(&attrs),
        (ErrorKind::TooManyAttributes, 5 + MAX_ATTRIBUTES as u16)
    );

    let formats: Vec<String> = (0..=MAX_FORMATS).map(|i| i.to_string()).collect();
    let m = with_head(&format!("m=audio 1 RTP/AVP {}\n", formats.join(" ")));
    assert_eq!(err(&m), (ErrorKind::TooManyFormats, 5));

    let times = with_head(&"t=0 0\n".repeat(MAX_TIMES));
    assert_eq!(err(&times), (ErrorKind::TooManyTimes, 4 + MAX_TIMES as u16));
}

#[test]
fn directions_resolve_and_conflict() {
    let text = with_head("a=recvonly\nm=audio 1 RTP/AVP 0\nm=audio 2 RTP/AVP 0\na=inactive\n");
    let sdp = Sdp::parse(&text).unwrap();
    assert_eq!(sdp.direction(), Some(Direction::RecvOnly));
    assert_eq!(sdp.media_direction(&sdp.media[0]), Direction::RecvOnly);
    assert_eq!(sdp.media_direction(&sdp.media[1]), Direction::Inactive);
    assert_eq!(Direction::RecvOnly.reversed(), Direction::SendOnly);
    assert_eq!(Direction::Inactive.reversed(), Direction::Inactive);

    let two = with_head("m=audio 1 RTP/AVP 0\na=sendrecv\na=sendonly\n");
    assert_eq!(err(&two), (ErrorKind::ConflictingDirection, 7));
}

#[test]
fn crypto_tags_are_unique_per_section() {
    let c = |tag: u32| format!("a=crypto:{tag} AES_CM_128_HMAC_SHA1_80 inline:{KEY30}\n");
    let ok = with_head(&format!(
        "m=audio 1 RTP/SAVP 0\n{}m=video 2 RTP/SAVP 96\n{}",
        c(1),
        c(1)
    ));
    assert!(Sdp::parse(&ok).is_ok());
    let dup = with_head(&format!("m=audio 1 RTP/SAVP 0\n{}{}", c(1), c(1)));
    assert_eq!(err(&dup), (ErrorKind::DuplicateCryptoTag, 7));
}

#[test]
fn connection_addresses() {
    assert_eq!(
        Connection::ip4("192.0.2.1").ip(),
        Some("192.0.2.1".parse().unwrap())
    );
    assert_eq!(
        Connection::ip6("2001:db8::1").ip(),
        Some("2001:db8::1".parse().unwrap())
    );
    assert_eq!(Connection::ip4("2001:db8::1").ip(), None);
    assert_eq!(Connection::ip4("gw.example.net").ip(), None);
    assert_eq!(
        Connection::ip4("233.252.0.1/127/2").ip(),
        Some("233.252.0.1".parse().unwrap())
    );
    let local = "c=LOCAL EPN X35V3+A4/13\nm=audio 0 LOCAL 0\n";
    let sdp = Sdp::parse(leak(with_head(local))).unwrap();
    assert_eq!(sdp.connection.unwrap().net_type, "LOCAL");
    assert_eq!(sdp.connection.unwrap().ip(), None);
}

#[test]
fn raw_lines_survive_in_rfc_order() {
    // Out of RFC order on input: written back in order, same meaning.
    let text = "v=0\r\no=alice 1 2 IN IP6 ::1\r\ns=call\r\nz=0 -1h\r\nb=AS:64\r\ni=info\r\n\
                e=ops@example.net\r\nt=3 4\r\nr=7d 1h 0 25h\r\nu=http://example.net/\r\n\
                k=base64:c2VjcmV0IGtleSB0ZXh0\r\na=tool:x\r\nm=audio 49170/2 RTP/AVP 0 96\r\n\
                b=AS:80\r\ni=voice\r\nk=prompt\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96  \
                minptime=10; useinbandfec=1 \r\na=flag\r\na=empty:\r\n";
    let sdp = Sdp::parse(text).unwrap();
    assert_eq!(sdp.times[0].repeats, ["7d 1h 0 25h"]);
    assert_eq!(sdp.media[0].port_count, Some(2));
    let opus = sdp.media[0].rtpmap(96).unwrap();
    assert_eq!(
        (opus.encoding, opus.clock_rate, opus.params),
        ("opus", 48000, Some("2"))
    );
    assert_eq!(
        sdp.media[0].fmtp("96").unwrap().params,
        "minptime=10; useinbandfec=1"
    );
    assert!(matches!(sdp.key, Some(EncryptionKey::Base64(_))));
    assert_eq!(sdp.media[0].key, Some(EncryptionKey::Prompt));

    let wire = sdp.to_string();
    let order: Vec<&str> = wire.lines().map(|l| &l[..2]).collect();
    assert_eq!(
        order,
        [
            "v=", "o=", "s=", "i=", "u=", "e=", "b=", "t=", "r=", "z=", "k=", "a=", "m=", "i=",
            "b=", "k=", "a=", "a=", "a=", "a="
        ]
    );
    assert!(wire.contains("k=base64:c2VjcmV0IGtleSB0ZXh0\r\n"));
    assert!(wire.contains("a=flag\r\na=empty:\r\n"));
    assert_eq!(Sdp::parse(&wire).unwrap(), sdp);
    // The k= key text is secret too.
    assert!(!format!("{sdp:?}").contains("c2VjcmV0IGtleSB0ZXh0"));
}

#[test]
fn builds_the_controller_answer() {
    let key = SecretBytes::new(&[0x5a; 44]).unwrap();
    let at = Connection::ip4("10.1.2.3");
    let answer = Sdp::new(Origin::new("cablekey", 99, 2, at), "-")
        .with_connection(at)
        .with_media(
            Media::new("audio", 50000, "RTP/SAVP")
                .with_format("0")
                .with_format("8")
                .with_rtpmap(Rtpmap::PCMU)
                .with_rtpmap(Rtpmap::PCMA)
                .with_ptime(20)
                .with_crypto(CryptoAttr::new(7, Suite::AeadChaCha20Poly1305, key).unwrap()),
        );
    let wire = answer.to_string();
    let expected_key = b64(&[0x5a; 44]);
    assert_eq!(
        wire,
        format!(
            "v=0\r\no=cablekey 99 2 IN IP4 10.1.2.3\r\ns=-\r\nc=IN IP4 10.1.2.3\r\nt=0 0\r\n\
             m=audio 50000 RTP/SAVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
             a=ptime:20\r\na=crypto:7 AEAD_CHACHA20_POLY1305 inline:{expected_key}\r\n"
        )
    );
    let back = Sdp::parse(&wire).unwrap();
    assert_eq!(back, answer);
    let m = &back.media[0];
    assert!(m.is_srtp());
    assert_eq!(back.media_direction(m), Direction::SendRecv);
    assert_eq!(m.ptime(), Some(20));
    let c = m.crypto_tag(7).unwrap();
    let (k, s) = c.key().unwrap().split(c.suite).unwrap();
    assert_eq!((k.len(), s.len()), (32, 12));
    assert!(!format!("{back:?}").contains(&expected_key[..16]));
}

#[test]
fn sdp_suites_convert_to_the_srtp_suites() {
    use crate::srtp::{self, SrtpError};
    for s in srtp::Suite::ALL {
        let sdp = Suite::from(s);
        assert_eq!(sdp.name(), s.name());
        assert_eq!(Suite::parse(s.name()).unwrap(), sdp);
        assert_eq!(srtp::Suite::try_from(sdp), Ok(s));
        assert_eq!(sdp.key_len(), Some(s.master_key_len()));
        assert_eq!(sdp.salt_len(), Some(s.master_salt_len()));
    }
    let refused = [
        ("AES_CM_128_HMAC_SHA1_32", SrtpError::UnsupportedSuite),
        ("F8_128_HMAC_SHA1_80", SrtpError::UnsupportedSuite),
        ("NULL_HMAC_SHA1_80", SrtpError::UnsupportedSuite),
        ("CABLEKEY_CHACHA20_POLY1305", SrtpError::UnknownSuite),
        ("X", SrtpError::UnknownSuite),
    ];
    for (name, err) in refused {
        let sdp = Suite::parse(name).unwrap();
        assert_eq!(srtp::Suite::try_from(sdp), Err(err), "{name}");
    }
}

#[test]
fn suites_and_their_key_lengths() {
    let table = [
        ("AES_CM_128_HMAC_SHA1_80", 30),
        ("AES_CM_128_HMAC_SHA1_32", 30),
        ("AES_192_CM_HMAC_SHA1_80", 38),
        ("AES_192_CM_HMAC_SHA1_32", 38),
        ("AES_256_CM_HMAC_SHA1_80", 46),
        ("AES_256_CM_HMAC_SHA1_32", 46),
        ("F8_128_HMAC_SHA1_80", 30),
        ("AEAD_AES_128_GCM", 28),
        ("AEAD_AES_256_GCM", 44),
        ("AEAD_CHACHA20_POLY1305", 44),
    ];
    for (name, len) in table {
        let suite = Suite::parse(name).unwrap();
        assert!(!matches!(suite, Suite::Other(_)), "{name}");
        assert_eq!((suite.name(), suite.key_salt_len()), (name, Some(len)));
        assert_eq!(suite.key_len().unwrap() + suite.salt_len().unwrap(), len);
        let ok = format!("1 {name} inline:{}", b64(&alloc::vec![1; len]));
        assert_eq!(
            CryptoAttr::parse(&ok).unwrap().keys[0].key.len(),
            len,
            "{name}"
        );
        let short = format!("1 {name} inline:{}", b64(&alloc::vec![1; len - 1]));
        let expected = CryptoError::KeyLength {
            expected: len as u8,
            found: len as u8 - 1,
        };
        assert_eq!(crypto_err(&short), expected, "{name}");
    }
    // Names are ABNF literals: case-insensitive, written canonically.
    let c = CryptoAttr::parse(leak(format!("1 aes_cm_128_hmac_sha1_80 inline:{KEY30}"))).unwrap();
    assert_eq!(c.suite, Suite::AesCm128HmacSha1_80);
    assert!(c.to_string().starts_with("1 AES_CM_128_HMAC_SHA1_80 "));
    // Unknown suites keep their name; any key length goes.
    let c = CryptoAttr::parse("3 NULL_HMAC_SHA1_80 inline:AAEC").unwrap();
    assert_eq!(
        (c.suite, c.keys[0].key.len()),
        (Suite::Other("NULL_HMAC_SHA1_80"), 3)
    );
    assert_eq!(c.suite.key_salt_len(), None);
    assert_eq!(crypto_err("1 AES-CM inline:AAEC"), CryptoError::BadSuite);
    let long = "A".repeat(MAX_SUITE_LEN + 1);
    assert_eq!(
        crypto_err(&format!("1 {long} inline:AAEC")),
        CryptoError::SuiteTooLong
    );
    assert!(CryptoAttr::parse(leak(format!("1 {} inline:AAEC", &long[1..]))).is_ok());
}

#[test]
fn crypto_syntax_errors() {
    let cases = [
        ("", CryptoError::Syntax),
        ("1", CryptoError::Syntax),
        ("1 AES_CM_128_HMAC_SHA1_80", CryptoError::Syntax),
        ("x AES_CM_128_HMAC_SHA1_80 inline:AAEC", CryptoError::BadTag),
        (
            "1234567890 AES_CM_128_HMAC_SHA1_80 inline:AAEC",
            CryptoError::BadTag,
        ),
        (
            "1 AES_CM_128_HMAC_SHA1_80 uri:AAEC",
            CryptoError::BadKeyMethod,
        ),
        ("1 AES_CM_128_HMAC_SHA1_80 AAEC", CryptoError::BadKeyMethod),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:", CryptoError::BadKey),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:!!!!", CryptoError::BadKey),
        ("1 X inline:=", CryptoError::BadKey),
    ];
    for (value, e) in cases {
        assert_eq!(crypto_err(value), e, "{value:?}");
    }
    let huge = b64(&[0; 65]);
    assert_eq!(
        crypto_err(&format!("1 X inline:{huge}")),
        CryptoError::KeyTooLong
    );
    assert_eq!(
        CryptoAttr::parse("999999999 X inline:AAEC").unwrap().tag,
        MAX_TAG
    );
}

#[test]
fn lifetimes_and_mkis() {
    let v = |extra: &str| format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}{extra}");
    let key =
        |extra: &str| CryptoAttr::parse(&v(extra)).map(|c| (c.keys[0].lifetime, c.keys[0].mki));
    assert_eq!(key("|2^48"), Ok((Some(Lifetime::PowerOfTwo(48)), None)));
    assert_eq!(key("|2^1"), Ok((Some(Lifetime::PowerOfTwo(1)), None)));
    assert_eq!(key("|1024"), Ok((Some(Lifetime::Packets(1024)), None)));
    assert_eq!(
        key("|281474976710656"),
        Ok((Some(Lifetime::Packets(1 << 48)), None))
    );
    assert_eq!(
        key("|2^20|1:4"),
        Ok((
            Some(Lifetime::PowerOfTwo(20)),
            Some(Mki {
                value: 1,
                length: 4
            })
        ))
    );
    assert_eq!(
        key("|255:1"),
        Ok((
            None,
            Some(Mki {
                value: 255,
                length: 1
            })
        ))
    );
    assert_eq!(
        key("|5:128"),
        Ok((
            None,
            Some(Mki {
                value: 5,
                length: 128
            })
        ))
    );
    for bad in [
        "|2^49",
        "|2^0",
        "|2^",
        "|0",
        "|281474976710657",
        "|x",
        "|",
        "|1:4|2^20",
    ] {
        assert_eq!(key(bad), Err(CryptoError::BadLifetime), "{bad}");
    }
    for bad in [
        "|1:0",
        "|1:129",
        "|256:1",
        "|:4",
        "|1:",
        "|2^20|1:4:",
        "|1:4|1:4",
    ] {
        assert_eq!(key(bad), Err(CryptoError::BadMki), "{bad}");
    }
    assert_eq!(key("|2^20|1:4|3"), Err(CryptoError::Syntax));
    assert_eq!(Lifetime::PowerOfTwo(20).packets(), 1 << 20);
    assert_eq!(Lifetime::PowerOfTwo(20).to_string(), "2^20");
}

#[test]
fn several_keys_need_distinct_mkis_of_one_length() {
    let k = |extra: &str| format!("inline:{KEY30}{extra}");
    let v = |keys: &[&str]| {
        let keys: Vec<String> = keys.iter().map(|e| k(e)).collect();
        CryptoAttr::parse(leak(format!(
            "1 AES_CM_128_HMAC_SHA1_80 {}",
            keys.join(";")
        )))
    };
    let c = v(&["|2^20|1:4", "|2^20|2:4"]).unwrap();
    assert_eq!(c.keys.len(), 2);
    assert_eq!(
        c.keys[1].mki,
        Some(Mki {
            value: 2,
            length: 4
        })
    );
    assert!(c.to_string().contains("|2^20|1:4;inline:"));
    for bad in [
        &["", ""][..],
        &["|1:4", ""],
        &["", "|1:4"],
        &["|1:4", "|1:4"],
        &["|1:4", "|2:2"],
    ] {
        assert_eq!(v(bad), Err(CryptoError::MkiMismatch), "{bad:?}");
    }
    let many: Vec<String> = (0..=MAX_KEYS).map(|i| format!("|{i}:1")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(v(&many), Err(CryptoError::TooManyKeys));
}

#[test]
fn session_parameters() {
    let v = |params: &str| {
        CryptoAttr::parse(leak(format!(
            "1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30} {params}"
        )))
    };
    let c = v(
        "KDR=0 UNENCRYPTED_SRTP UNENCRYPTED_SRTCP UNAUTHENTICATED_SRTP \
               FEC_ORDER=SRTP_FEC WSH=64 -X_VENDOR=1",
    )
    .unwrap();
    assert_eq!(
        c.session_params,
        [
            SessionParam::Kdr(0),
            SessionParam::UnencryptedSrtp,
            SessionParam::UnencryptedSrtcp,
            SessionParam::UnauthenticatedSrtp,
            SessionParam::FecOrder(FecOrder::SrtpFec),
            SessionParam::Wsh(64),
            SessionParam::Other("-X_VENDOR=1"),
        ]
    );
    assert!(c.has(&SessionParam::UnencryptedSrtp));
    for bad in [
        "KDR=25",
        "KDR=",
        "KDR",
        "WSH=63",
        "WSH=99999999999",
        "UNENCRYPTED_SRTP=1",
        "FEC_ORDER=BOTH",
        "FEC_KEY",
        "x\u{1}y",
    ] {
        assert_eq!(v(bad), Err(CryptoError::BadSessionParam), "{bad}");
    }
    assert_eq!(
        v("FEC_KEY=inline:AAEC"),
        Err(CryptoError::KeyLength {
            expected: 30,
            found: 3
        })
    );
    let many = "KDR=1 ".repeat(MAX_SESSION_PARAMS + 1);
    assert_eq!(v(&many), Err(CryptoError::TooManySessionParams));

    // FEC_KEY carries a key: parsed, checked and hidden like the main one.
    let fec = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVa";
    let c = v(&format!("FEC_KEY=inline:{fec}|2^10")).unwrap();
    let SessionParam::FecKey(keys) = &c.session_params[0] else {
        panic!("{c:?}")
    };
    assert_eq!(keys[0].lifetime, Some(Lifetime::PowerOfTwo(10)));
    assert!(!format!("{c:?}").contains(&fec[..16]));
    assert!(c
        .to_string()
        .ends_with(&format!(" FEC_KEY=inline:{fec}|2^10")));
    assert_eq!(CryptoAttr::parse(&c.to_string()).unwrap(), c);
}

#[test]
fn padded_and_unpadded_keys_are_the_same_key() {
    let key = [9u8; 28];
    let padded = b64(&key);
    assert!(padded.ends_with("=="));
    let unpadded = padded.trim_end_matches('=');
    let a = CryptoAttr::parse(leak(format!("1 AEAD_AES_128_GCM inline:{padded}"))).unwrap();
    let b = CryptoAttr::parse(leak(format!("1 AEAD_AES_128_GCM inline:{unpadded}"))).unwrap();
    assert_eq!(a, b);
    assert_eq!(b.to_string(), format!("1 AEAD_AES_128_GCM inline:{padded}"));
    let other =
        CryptoAttr::parse(leak(format!("1 AEAD_AES_128_GCM inline:{}", b64(&[8; 28])))).unwrap();
    assert_ne!(a, other);
}

#[test]
fn new_checks_the_key_against_the_suite() {
    let k = |n: usize| SecretBytes::new(&alloc::vec![3; n]).unwrap();
    assert!(CryptoAttr::new(1, Suite::AeadAes256Gcm, k(44)).is_ok());
    assert_eq!(
        CryptoAttr::new(1, Suite::AeadAes256Gcm, k(46)).unwrap_err(),
        CryptoError::KeyLength {
            expected: 44,
            found: 46
        }
    );
    assert_eq!(
        CryptoAttr::new(MAX_TAG + 1, Suite::AeadAes256Gcm, k(44)).unwrap_err(),
        CryptoError::BadTag
    );
    assert_eq!(
        CryptoAttr::new(1, Suite::Other("X"), k(0)).unwrap_err(),
        CryptoError::BadKey
    );
    let c = CryptoAttr::new(2, Suite::AesCm128HmacSha1_80, k(30))
        .unwrap()
        .with_session_param(SessionParam::Kdr(3));
    assert_eq!(
        c.to_string(),
        format!("2 AES_CM_128_HMAC_SHA1_80 inline:{} KDR=3", b64(&[3; 30]))
    );
}
