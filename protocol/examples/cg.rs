use cablekey_protocol::mgcp;
fn main() {
    let head = "CRCX 1204 aaln/1@cta7.headend.example MGCP 1.0 NCS 1.0\r\n";
    let sdp = "\r\nv=0\r\no=- 25678 753849 IN IP4 10.11.12.13\r\ns=-\r\nc=IN IP4 10.11.12.13\r\nt=0 0\r\nm=audio 40012 RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=crypto:1 AEAD_AES_128_GCM inline:q83vASNFZ4mrze8BI0VniQEjRWeJq83vASNF\r\n";
    let c = "C: A3C47F21456789F0\r\n"; let l = "L: p:20, a:PCMU, e:on, s:off, k:base64:q83vASNFZ4mrze8BI0VniQ==\r\n";
    let m = "M: sendrecv\r\n"; let nn = "N: ca@controller.headend.example:2727\r\n"; let x = "X: 0123456789AC\r\n"; let r = "R: L/hu(N), D/[0-9#*T](D)\r\n";
    let v: Vec<String> = vec![head.into(), format!("{head}{sdp}"), format!("{head}{c}"), format!("{head}{l}"), format!("{head}{r}"), format!("{head}{m}{nn}{x}"), format!("{head}{c}{l}{m}{nn}{x}{r}{sdp}"), String::new()];
    let which: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let b = v[which].as_bytes();
    for _ in 0..10000 { if which < 7 { std::hint::black_box(mgcp::parse(std::hint::black_box(b)).unwrap()); } }
}
