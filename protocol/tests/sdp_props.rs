//! Property tests: generated descriptions with crypto lines round-trip,
//! keys never show in `Debug` (or serde), and no input makes the parser panic.

use base64::Engine;
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;

use cablekey_protocol::sdp::{
    Attribute, Connection, CryptoAttr, Direction, FecOrder, Fmtp, KeyParam, Lifetime, Media, Mki,
    Origin, RawLine, Rtpmap, Sdp, SessionParam, Suite, Timing, MAX_TAG,
};
use cablekey_protocol::secret::SecretBytes;

// ---- Owned specs that the borrowed `Sdp` is built from ----

#[derive(Debug, Clone)]
struct KeySpec {
    bytes: Vec<u8>,
    lifetime: Option<Lifetime>,
    mki: Option<Mki>,
}

#[derive(Debug, Clone)]
enum ParamSpec {
    Kdr(u8),
    UnencryptedSrtp,
    UnencryptedSrtcp,
    UnauthenticatedSrtp,
    FecOrder(FecOrder),
    FecKey(KeySpec),
    Wsh(u32),
    Other(String),
}

#[derive(Debug, Clone)]
struct CryptoSpec {
    suite: String,
    keys: Vec<KeySpec>,
    params: Vec<ParamSpec>,
}

#[derive(Debug, Clone)]
enum AttrSpec {
    Rtpmap(u8, String, u32, Option<String>),
    Fmtp(String, String),
    Ptime(u32),
    Other(String, Option<String>),
}

#[derive(Debug, Clone)]
struct Section {
    attrs: Vec<AttrSpec>,
    direction: Option<Direction>,
    tags: Vec<u32>,
    crypto: Vec<CryptoSpec>,
    other: Vec<(char, String)>,
    connection: Option<(String, String, String)>,
}

#[derive(Debug, Clone)]
struct MediaSpec {
    kind: String,
    port: u16,
    port_count: Option<u16>,
    proto: String,
    formats: Vec<String>,
    section: Section,
}

#[derive(Debug, Clone)]
struct SdpSpec {
    username: String,
    id: u64,
    version: u64,
    name: String,
    times: Vec<(u64, u64, Vec<String>)>,
    section: Section,
    media: Vec<MediaSpec>,
}

const SUITES: [&str; 12] = [
    "AES_CM_128_HMAC_SHA1_80",
    "AES_CM_128_HMAC_SHA1_32",
    "AES_192_CM_HMAC_SHA1_80",
    "AES_192_CM_HMAC_SHA1_32",
    "AES_256_CM_HMAC_SHA1_80",
    "AES_256_CM_HMAC_SHA1_32",
    "F8_128_HMAC_SHA1_80",
    "AEAD_AES_128_GCM",
    "AEAD_AES_256_GCM",
    "AEAD_CHACHA20_POLY1305",
    "NULL_HMAC_SHA1_80",
    "F8_128_HMAC_SHA1_32",
];

const KNOWN_ATTRS: [&str; 8] = [
    "rtpmap", "fmtp", "ptime", "crypto", "sendrecv", "sendonly", "recvonly", "inactive",
];

fn lifetime() -> impl Strategy<Value = Option<Lifetime>> {
    prop_oneof![
        Just(None),
        (1u8..=48).prop_map(|n| Some(Lifetime::PowerOfTwo(n))),
        (1u64..=1 << 48).prop_map(|n| Some(Lifetime::Packets(n))),
    ]
}

/// An MKI whose value fits its length.
fn mki() -> impl Strategy<Value = Mki> {
    (1u8..=128, any::<u64>()).prop_map(|(length, v)| {
        let value = if length < 8 {
            v & ((1u64 << (8 * length)) - 1)
        } else {
            v
        };
        Mki { value, length }
    })
}

fn key_bytes(suite: &str) -> BoxedStrategy<Vec<u8>> {
    match Suite::parse(suite).unwrap().key_salt_len() {
        Some(n) => vec(any::<u8>(), n).boxed(),
        None => vec(any::<u8>(), 1..=64).boxed(),
    }
}

/// One to three keys; several carry distinct MKIs of one length.
fn keys(suite: &str) -> impl Strategy<Value = Vec<KeySpec>> {
    let one = (key_bytes(suite), lifetime(), proptest::option::of(mki())).prop_map(
        |(bytes, lifetime, mki)| {
            vec![KeySpec {
                bytes,
                lifetime,
                mki,
            }]
        },
    );
    let suite = suite.to_owned();
    let several = (1u8..=2, 2usize..=3).prop_flat_map(move |(length, n)| {
        (
            vec((key_bytes(&suite), lifetime()), n),
            btree_set(0u64..(1u64 << (8 * length)), n),
        )
            .prop_map(move |(ks, values)| {
                ks.into_iter()
                    .zip(values)
                    .map(|((bytes, lifetime), value)| KeySpec {
                        bytes,
                        lifetime,
                        mki: Some(Mki { value, length }),
                    })
                    .collect()
            })
    });
    prop_oneof![3 => one, 1 => several]
}

fn param(suite: &str) -> impl Strategy<Value = ParamSpec> {
    let fec = (key_bytes(suite), lifetime()).prop_map(|(bytes, lifetime)| {
        ParamSpec::FecKey(KeySpec {
            bytes,
            lifetime,
            mki: None,
        })
    });
    prop_oneof![
        (0u8..=24).prop_map(ParamSpec::Kdr),
        Just(ParamSpec::UnencryptedSrtp),
        Just(ParamSpec::UnencryptedSrtcp),
        Just(ParamSpec::UnauthenticatedSrtp),
        Just(ParamSpec::FecOrder(FecOrder::FecSrtp)),
        Just(ParamSpec::FecOrder(FecOrder::SrtpFec)),
        (64u32..).prop_map(ParamSpec::Wsh),
        fec,
        "-?X_[A-Z0-9_=]{1,10}".prop_map(ParamSpec::Other),
    ]
}

fn crypto() -> impl Strategy<Value = CryptoSpec> {
    proptest::sample::select(&SUITES[..]).prop_flat_map(|suite| {
        (keys(suite), vec(param(suite), 0..3)).prop_map(move |(keys, params)| CryptoSpec {
            suite: suite.to_owned(),
            keys,
            params,
        })
    })
}

fn attr() -> impl Strategy<Value = AttrSpec> {
    let name = "[a-z][a-z0-9-]{0,12}"
        .prop_filter("modelled attribute", |n| !KNOWN_ATTRS.contains(&n.as_str()));
    prop_oneof![
        (
            0u8..=127,
            "[A-Za-z0-9.-]{1,12}",
            1u32..,
            proptest::option::of("[0-9]{1,2}")
        )
            .prop_map(|(pt, e, c, p)| AttrSpec::Rtpmap(pt, e, c, p)),
        ("[0-9]{1,3}", "([!-~]{1,10}( [!-~]{1,10}){0,3})?").prop_map(|(f, p)| AttrSpec::Fmtp(f, p)),
        (1u32..=1000).prop_map(AttrSpec::Ptime),
        (name, proptest::option::of("[ -~]{0,30}")).prop_map(|(n, v)| AttrSpec::Other(n, v)),
    ]
}

fn connection() -> impl Strategy<Value = (String, String, String)> {
    let s = |a: &str, b: &str, c: String| (a.to_owned(), b.to_owned(), c);
    prop_oneof![
        any::<[u8; 4]>().prop_map(move |a| s("IN", "IP4", std::net::Ipv4Addr::from(a).to_string())),
        any::<[u16; 8]>().prop_map(move |a| s(
            "IN",
            "IP6",
            std::net::Ipv6Addr::from(a).to_string()
        )),
        "[a-z]{1,8}\\.example\\.net".prop_map(move |h| s("IN", "IP4", h)),
        "[A-Z0-9+/]{1,12}".prop_map(move |a| s("LOCAL", "EPN", a)),
    ]
}

fn raw_lines(kinds: &'static [char]) -> impl Strategy<Value = Vec<(char, String)>> {
    vec((proptest::sample::select(kinds), "[ -~]{0,30}"), 0..4).prop_map(move |mut v| {
        // Written back in RFC order, so generate them in that order.
        v.sort_by_key(|(k, _)| kinds.iter().position(|c| c == k));
        v
    })
}

fn section(kinds: &'static [char]) -> impl Strategy<Value = Section> {
    (
        vec(attr(), 0..5),
        proptest::option::of(proptest::sample::select(&Direction::ALL[..])),
        btree_set(0..=MAX_TAG, 0..4),
        vec(crypto(), 4),
        raw_lines(kinds),
        proptest::option::of(connection()),
    )
        .prop_map(
            |(attrs, direction, tags, crypto, other, connection)| Section {
                attrs,
                direction,
                tags: tags.into_iter().collect(),
                crypto,
                other,
                connection,
            },
        )
}

fn media() -> impl Strategy<Value = MediaSpec> {
    (
        "[a-z]{1,10}",
        any::<u16>(),
        proptest::option::of(1u16..),
        prop_oneof![
            Just("RTP/AVP".to_owned()),
            Just("RTP/SAVP".to_owned()),
            "[A-Z/]{1,12}"
        ],
        vec("[0-9a-z]{1,4}", 1..6),
        section(&['i', 'b']),
    )
        .prop_map(
            |(kind, port, port_count, proto, formats, section)| MediaSpec {
                kind,
                port,
                port_count,
                proto,
                formats,
                section,
            },
        )
}

fn sdp_spec() -> impl Strategy<Value = SdpSpec> {
    (
        "[!-~]{1,12}",
        any::<u64>(),
        any::<u64>(),
        "[ -~]{0,20}",
        vec(
            (
                any::<u64>(),
                any::<u64>(),
                vec("[0-9a-z][0-9a-z ]{0,19}", 0..2),
            ),
            1..3,
        ),
        section(&['i', 'u', 'e', 'p', 'b', 'z']),
        vec(media(), 0..4),
    )
        .prop_map(
            |(username, id, version, name, times, section, media)| SdpSpec {
                username,
                id,
                version,
                name,
                times,
                section,
                media,
            },
        )
}

// ---- Building the borrowed model from a spec ----

fn key_param(k: &KeySpec) -> KeyParam {
    KeyParam {
        key: SecretBytes::new(&k.bytes).unwrap(),
        lifetime: k.lifetime,
        mki: k.mki,
    }
}

fn build_crypto(tag: u32, c: &CryptoSpec) -> CryptoAttr<'_> {
    CryptoAttr {
        tag,
        suite: Suite::parse(&c.suite).unwrap(),
        keys: c.keys.iter().map(key_param).collect(),
        session_params: c
            .params
            .iter()
            .map(|p| match p {
                ParamSpec::Kdr(n) => SessionParam::Kdr(*n),
                ParamSpec::UnencryptedSrtp => SessionParam::UnencryptedSrtp,
                ParamSpec::UnencryptedSrtcp => SessionParam::UnencryptedSrtcp,
                ParamSpec::UnauthenticatedSrtp => SessionParam::UnauthenticatedSrtp,
                ParamSpec::FecOrder(o) => SessionParam::FecOrder(*o),
                ParamSpec::FecKey(k) => SessionParam::FecKey(vec![key_param(k)]),
                ParamSpec::Wsh(n) => SessionParam::Wsh(*n),
                ParamSpec::Other(w) => SessionParam::Other(w),
            })
            .collect(),
    }
}

fn build_attrs(s: &Section) -> Vec<Attribute<'_>> {
    let mut out: Vec<Attribute<'_>> = s
        .attrs
        .iter()
        .map(|a| match a {
            AttrSpec::Rtpmap(pt, e, c, p) => Attribute::Rtpmap(Rtpmap {
                payload_type: *pt,
                encoding: e,
                clock_rate: *c,
                params: p.as_deref(),
            }),
            AttrSpec::Fmtp(f, p) => Attribute::Fmtp(Fmtp {
                format: f,
                params: p,
            }),
            AttrSpec::Ptime(ms) => Attribute::Ptime(*ms),
            AttrSpec::Other(n, v) => Attribute::Other {
                name: n,
                value: v.as_deref(),
            },
        })
        .collect();
    out.extend(s.direction.map(Attribute::Direction));
    out.extend(
        s.tags
            .iter()
            .zip(&s.crypto)
            .map(|(t, c)| Attribute::Crypto(build_crypto(*t, c))),
    );
    out
}

fn build_other(s: &Section) -> Vec<RawLine<'_>> {
    s.other
        .iter()
        .map(|(kind, value)| RawLine { kind: *kind, value })
        .collect()
}

fn build_connection(c: &Option<(String, String, String)>) -> Option<Connection<'_>> {
    c.as_ref().map(|(n, t, a)| Connection {
        net_type: n,
        addr_type: t,
        address: a,
    })
}

fn build(spec: &SdpSpec) -> Sdp<'_> {
    let at = Connection::ip4("192.0.2.1");
    let mut sdp = Sdp::new(
        Origin::new(&spec.username, spec.id, spec.version, at),
        &spec.name,
    );
    sdp.connection = build_connection(&spec.section.connection);
    sdp.times = spec
        .times
        .iter()
        .map(|(start, stop, r)| Timing {
            start: *start,
            stop: *stop,
            repeats: r.iter().map(String::as_str).collect(),
        })
        .collect();
    sdp.attributes = build_attrs(&spec.section);
    sdp.other = build_other(&spec.section);
    for m in &spec.media {
        let mut media = Media::new(&m.kind, m.port, &m.proto);
        media.port_count = m.port_count;
        media.formats = m.formats.iter().map(String::as_str).collect();
        media.connection = build_connection(&m.section.connection);
        media.attributes = build_attrs(&m.section);
        media.other = build_other(&m.section);
        sdp.media.push(media);
    }
    sdp
}

/// The base64 text of every key in the spec (main and FEC keys).
fn key_texts(spec: &SdpSpec) -> Vec<String> {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD_NO_PAD.encode(b);
    let sections = std::iter::once(&spec.section).chain(spec.media.iter().map(|m| &m.section));
    let mut out = Vec::new();
    for s in sections {
        for c in s.crypto.iter().take(s.tags.len()) {
            out.extend(c.keys.iter().map(|k| b64(&k.bytes)));
            out.extend(c.params.iter().filter_map(|p| match p {
                ParamSpec::FecKey(k) => Some(b64(&k.bytes)),
                _ => None,
            }));
        }
    }
    out
}

/// Line-ish noise for the parser: real prefixes, then awkward tails.
fn noisy_sdp() -> impl Strategy<Value = String> {
    let prefix = proptest::sample::select(
        &[
            "v=0",
            "o=- 1 1 IN IP4 h",
            "s=-",
            "t=0 0",
            "c=IN IP4 h",
            "m=audio 1 RTP/SAVP 0",
            "a=crypto:",
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:",
            "a=rtpmap:",
            "a=fmtp:",
            "a=ptime:",
            "a=sendrecv",
            "k=",
            "r=",
            "b=",
            "x=",
            "",
            "v=",
            "m=",
            "a=",
        ][..],
    );
    let tail = "[0-9A-Za-z+/=|:;^_ \t/.\u{0}\r\u{e9}\u{10348}-]{0,40}";
    (vec((prefix, tail), 0..40), any::<bool>()).prop_map(|(lines, crlf)| {
        let sep = if crlf { "\r\n" } else { "\n" };
        lines
            .into_iter()
            .map(|(p, t)| format!("{p}{t}"))
            .collect::<Vec<_>>()
            .join(sep)
    })
}

fn noisy_crypto() -> impl Strategy<Value = String> {
    let suite = prop_oneof![
        proptest::sample::select(&SUITES[..]).prop_map(str::to_owned),
        "[A-Z0-9_]{0,80}",
    ];
    (
        "[0-9]{0,11}",
        suite,
        "[A-Za-z0-9+/=]{0,70}",
        vec(
            "\\|(2\\^[0-9]{0,3}|[0-9]{0,21}|[0-9]{0,21}:[0-9]{0,4})",
            0..4,
        ),
        vec("[A-Z_=0-9:;|a-z^]{0,24}", 0..5),
    )
        .prop_map(|(tag, suite, key, extras, params)| {
            let mut s = format!("{tag} {suite} inline:{key}{}", extras.concat());
            for p in params {
                s.push(' ');
                s.push_str(&p);
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_descriptions_round_trip(spec in sdp_spec()) {
        let sdp = build(&spec);
        let wire = sdp.to_string();
        let back = Sdp::parse(&wire).map_err(|e| TestCaseError::fail(format!("{e}\n{wire}")))?;
        prop_assert_eq!(&back, &sdp);
        prop_assert_eq!(back.to_string(), wire);
    }

    #[test]
    fn debug_never_shows_a_key(spec in sdp_spec()) {
        let sdp = build(&spec);
        let wire = sdp.to_string();
        let back = Sdp::parse(&wire).unwrap();
        let debug = format!("{back:?}{back:#?}{sdp:?}");
        for k in key_texts(&spec) {
            prop_assert!(wire.contains(&k), "wire form lacks a key");
            // Short keys (unknown suites) could collide with other text.
            if k.len() >= 16 {
                prop_assert!(!debug.contains(&k), "Debug shows a key");
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in any::<String>()) {
        let _ = Sdp::parse(&s);
        let _ = CryptoAttr::parse(&s);
        let _ = Attribute::parse(&s);
    }

    #[test]
    fn sdp_like_noise_never_panics(s in noisy_sdp()) {
        let full = format!("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n{s}");
        for text in [&s, &full] {
            if let Ok(sdp) = Sdp::parse(text) {
                // Whatever parses writes back to something that parses the same.
                let wire = sdp.to_string();
                let again = Sdp::parse(&wire);
                prop_assert_eq!(again.as_ref(), Ok(&sdp));
            }
        }
    }

    #[test]
    fn crypto_like_noise_never_panics(s in noisy_crypto()) {
        if let Ok(c) = CryptoAttr::parse(&s) {
            let text = c.to_string();
            let again = CryptoAttr::parse(&text);
            prop_assert_eq!(again.as_ref(), Ok(&c));
        }
    }

    #[test]
    fn mutated_descriptions_never_panic(
        spec in sdp_spec(),
        edits in vec((any::<prop::sample::Index>(), any::<char>()), 1..8),
    ) {
        let mut chars: Vec<char> = build(&spec).to_string().chars().collect();
        for (at, c) in edits {
            let i = at.index(chars.len());
            chars[i] = c;
        }
        let text: String = chars.into_iter().collect();
        let _ = Sdp::parse(&text);
    }
}

#[cfg(feature = "serde")]
#[test]
fn serde_shows_fingerprints_not_keys() {
    let key = [0x42u8; 30];
    let text = base64::engine::general_purpose::STANDARD.encode(key);
    let sdp_text = format!(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nk=base64:c2VjcmV0IGtleSB0ZXh0\r\nt=0 0\r\n\
         m=audio 1 RTP/SAVP 0\r\n\
         a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{text}|2^20|1:4 FEC_KEY=inline:{text}\r\n"
    );
    let sdp = Sdp::parse(&sdp_text).unwrap();
    let json = serde_json::to_string(&sdp).unwrap();
    assert!(!json.contains(&text[..16]), "{json}");
    assert!(!json.contains("c2VjcmV0IGtleSB0ZXh0"), "{json}");
    let fp = SecretBytes::new(&key).unwrap().fingerprint().to_string();
    assert!(
        json.contains(&format!("\"key_fingerprint\":\"{fp}\"")),
        "{json}"
    );
    assert!(
        json.contains("\"suite\":\"AES_CM_128_HMAC_SHA1_80\""),
        "{json}"
    );
    assert!(
        json.contains("\"lifetime\":{\"power_of_two\":20}"),
        "{json}"
    );
}
