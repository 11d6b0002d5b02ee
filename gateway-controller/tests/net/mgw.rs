//! A media gateway that answers MGCP the way osmo-mgw 1.10 does, as far as
//! the controller cares: `rtpbridge/N@mgw` endpoints (N in hex) picked by
//! `rtpbridge/*`, the endpoint named in `Z:`; only `MGCP 1.0`; 539 for a
//! parameter it does not know (`K:`, `R:`, ...); one cached response per
//! endpoint (a wildcard CRCX repeated after a lost answer makes a second
//! connection elsewhere); no answer at all to other verbs; a wildcard
//! DLCX empties every endpoint.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use cablekey_gateway_controller::Anchor;

pub const MGW: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 1)), 2428);
pub const DOMAIN: &str = "mgw";
const ENDPOINTS: u32 = 16;

pub fn anchor() -> Anchor {
    Anchor::new(MGW, DOMAIN).unwrap()
}

/// One connection: its mode and the SDP it was given to send to.
#[derive(Clone, Debug)]
pub struct Conn {
    pub mode: String,
    pub remote: Option<String>,
    pub port: u16,
}

#[derive(Default)]
pub struct Bridge {
    pub call: String,
    pub conns: BTreeMap<String, Conn>,
}

#[derive(Default)]
pub struct FakeMgw {
    pub bridges: BTreeMap<u32, Bridge>,
    /// (transaction id, response) of the last command per endpoint.
    last: BTreeMap<u32, (String, Vec<u8>)>,
    next_conn: u32,
    /// The CRCX with this index (0 first) is answered with this code.
    pub refuse_crcx: Option<(usize, u16)>,
    /// Every MDCX is answered with this code.
    pub refuse_mdcx: Option<u16>,
    crcx_count: usize,
    /// (verb, endpoint, code) of every command answered.
    pub log: Vec<(String, String, u16)>,
    /// The text of every datagram received.
    pub received: Vec<String>,
}

/// Parameter letters each verb takes (anything else: 539).
fn allowed(verb: &str) -> &'static str {
    match verb {
        "CRCX" => "CLMX",
        "MDCX" => "CILMZX",
        "DLCX" => "CIZ",
        _ => "",
    }
}

impl FakeMgw {
    /// Connections alive on every endpoint.
    pub fn conns(&self) -> usize {
        self.bridges.values().map(|b| b.conns.len()).sum()
    }

    pub fn verbs(&self, verb: &str) -> Vec<(String, u16)> {
        self.log
            .iter()
            .filter(|(v, _, _)| v == verb)
            .map(|(_, e, c)| (e.clone(), *c))
            .collect()
    }

    /// Takes one datagram, returns the answer if any.
    pub fn handle(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        let text = String::from_utf8_lossy(payload).into_owned();
        self.received.push(text.clone());
        let (head, rest) = text.split_once('\n').unwrap_or((&text, ""));
        let words: Vec<&str> = head.trim_end().split(' ').collect();
        let [verb, tid, endpoint, mgcp, version] = words[..] else {
            return Some(format!("510 {} FAIL\r\n", words.get(1).unwrap_or(&"0")).into_bytes());
        };
        if mgcp != "MGCP" || version != "1.0" {
            return Some(format!("528 {tid} FAIL\r\n").into_bytes());
        }
        if allowed(verb).is_empty() {
            return None;
        }
        let (local, domain) = endpoint.split_once('@')?;
        let number = match local.strip_prefix("rtpbridge/") {
            Some("*") => None,
            Some(hex) => Some(u32::from_str_radix(hex, 16).ok()?),
            None => return Some(format!("500 {tid} FAIL\r\n").into_bytes()),
        };
        if domain != DOMAIN {
            return Some(format!("500 {tid} FAIL\r\n").into_bytes());
        }
        if let Some(n) = number {
            if let Some((t, cached)) = self.last.get(&n) {
                if t == tid {
                    return Some(cached.clone());
                }
            }
        }
        let (params, sdp) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        let mut p = BTreeMap::new();
        for line in params.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
            let name = line.chars().next()?.to_ascii_uppercase();
            if !allowed(verb).contains(name) {
                return Some(self.answer(verb, endpoint, number, tid, 539, ""));
            }
            p.insert(name, line.get(3..).unwrap_or("").to_string());
        }
        let (code, extra) = match verb {
            "CRCX" => self.crcx(number, &p),
            "MDCX" => self.mdcx(number, &p, sdp),
            _ => self.dlcx(number, &p),
        };
        Some(self.answer(verb, endpoint, number, tid, code, &extra))
    }

    fn answer(
        &mut self,
        verb: &str,
        endpoint: &str,
        number: Option<u32>,
        tid: &str,
        code: u16,
        extra: &str,
    ) -> Vec<u8> {
        self.log.push((verb.into(), endpoint.into(), code));
        let bytes = format!(
            "{code} {tid} {}\r\n{extra}",
            if code < 300 { "OK" } else { "FAIL" }
        )
        .into_bytes();
        if let Some(n) = number {
            self.last.insert(n, (tid.into(), bytes.clone()));
        }
        bytes
    }

    fn sdp(port: u16, conn: &str) -> String {
        format!(
            "\r\nv=0\r\no=- {conn} 23 IN IP4 10.0.2.1\r\ns=-\r\nc=IN IP4 10.0.2.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=ptime:20\r\n"
        )
    }

    fn crcx(&mut self, number: Option<u32>, p: &BTreeMap<char, String>) -> (u16, String) {
        let index = self.crcx_count;
        self.crcx_count += 1;
        if let Some((i, code)) = self.refuse_crcx {
            if i == index {
                return (code, String::new());
            }
        }
        let (Some(call), Some(mode)) = (p.get(&'C'), p.get(&'M')) else {
            return (516, String::new());
        };
        let free = (1..=ENDPOINTS).find(|n| !self.bridges.contains_key(n));
        let Some(n) = number.or(free) else {
            return (403, String::new());
        };
        let bridge = self.bridges.entry(n).or_insert_with(|| Bridge {
            call: call.clone(),
            conns: BTreeMap::new(),
        });
        if &bridge.call != call {
            return (400, String::new());
        }
        if bridge.conns.len() >= 2 {
            return (540, String::new());
        }
        self.next_conn += 1;
        let conn = format!("{:X}", 0x1A00 + self.next_conn);
        let port = 4000 + 2 * self.next_conn as u16;
        bridge.conns.insert(
            conn.clone(),
            Conn {
                mode: mode.clone(),
                remote: None,
                port,
            },
        );
        let z = if number.is_none() {
            format!("Z: rtpbridge/{n:x}@{DOMAIN}\r\n")
        } else {
            String::new()
        };
        (200, format!("I: {conn}\r\n{z}{}", Self::sdp(port, &conn)))
    }

    fn mdcx(
        &mut self,
        number: Option<u32>,
        p: &BTreeMap<char, String>,
        sdp: &str,
    ) -> (u16, String) {
        let Some(bridge) = number.and_then(|n| self.bridges.get_mut(&n)) else {
            return (400, String::new());
        };
        if p.get(&'C') != Some(&bridge.call) {
            return (516, String::new());
        }
        let Some(conn) = p.get(&'I').and_then(|i| bridge.conns.get_mut(i)) else {
            return (515, String::new());
        };
        if let Some(code) = self.refuse_mdcx {
            return (code, String::new());
        }
        if let Some(m) = p.get(&'M') {
            conn.mode = m.clone();
        }
        if !sdp.is_empty() {
            conn.remote = Some(sdp.to_string());
        }
        let id = p.get(&'I').cloned().unwrap_or_default();
        (200, format!("I: {id}\r\n{}", Self::sdp(conn.port, &id)))
    }

    fn dlcx(&mut self, number: Option<u32>, p: &BTreeMap<char, String>) -> (u16, String) {
        let Some(n) = number else {
            self.bridges.clear();
            return (200, String::new());
        };
        let Some(bridge) = self.bridges.get_mut(&n) else {
            return (515, String::new());
        };
        if p.get(&'C') != Some(&bridge.call) {
            return (516, String::new());
        }
        let code = match p.get(&'I') {
            Some(i) if bridge.conns.remove(i).is_some() => 250,
            Some(_) => return (515, String::new()),
            None => {
                bridge.conns.clear();
                200
            }
        };
        if bridge.conns.is_empty() {
            self.bridges.remove(&n);
        }
        (code, String::new())
    }
}
