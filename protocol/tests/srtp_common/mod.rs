//! Helpers shared by the SRTP tests: hex, the shared corpus, packets.
#![allow(dead_code)]

use std::path::PathBuf;

/// The third-party corpus beside the checkout. Missing means a failed
/// test, never a skipped one.
pub fn corpus(rel: &str) -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus/")).join(rel);
    assert!(
        p.exists(),
        "corpus file missing: {} (shared/ must sit beside the checkout)",
        p.display()
    );
    p
}

pub fn read_corpus(rel: &str) -> String {
    std::fs::read_to_string(corpus(rel)).unwrap()
}

pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len() % 2 == 0, "odd hex: {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An RTP packet: 12-byte header (PT 0) and `payload_len` bytes.
pub fn rtp(seq: u16, ssrc: u32, payload_len: usize) -> Vec<u8> {
    let mut p = vec![0u8; 12 + payload_len];
    p[0] = 0x80;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    for (i, b) in p[12..].iter_mut().enumerate() {
        *b = (i as u8) ^ (seq as u8);
    }
    p
}

/// A sender report with one SDES-free body of `words` extra words.
pub fn rtcp(ssrc: u32, words: usize) -> Vec<u8> {
    let mut p = vec![0u8; 8 + 4 * words];
    p[0] = 0x80;
    p[1] = 200;
    p[2..4].copy_from_slice(&((1 + words) as u16).to_be_bytes());
    p[4..8].copy_from_slice(&ssrc.to_be_bytes());
    for (i, b) in p[8..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

/// Protects `packet`, returning the SRTP bytes.
pub fn protect(
    ctx: &mut cablekey_protocol::srtp::SrtpContext,
    packet: &[u8],
) -> Result<Vec<u8>, cablekey_protocol::srtp::SrtpError> {
    let mut buf = packet.to_vec();
    buf.resize(packet.len() + ctx.rtp_overhead(), 0);
    let n = ctx.protect(&mut buf, packet.len())?;
    buf.truncate(n);
    Ok(buf)
}

pub fn protect_rtcp(
    ctx: &mut cablekey_protocol::srtp::SrtpContext,
    packet: &[u8],
) -> Result<Vec<u8>, cablekey_protocol::srtp::SrtpError> {
    let mut buf = packet.to_vec();
    buf.resize(packet.len() + ctx.rtcp_overhead(), 0);
    let n = ctx.protect_rtcp(&mut buf, packet.len())?;
    buf.truncate(n);
    Ok(buf)
}

pub fn unprotect(
    ctx: &mut cablekey_protocol::srtp::SrtpContext,
    packet: &[u8],
) -> Result<Vec<u8>, cablekey_protocol::srtp::SrtpError> {
    let mut buf = packet.to_vec();
    let n = ctx.unprotect(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

pub fn unprotect_rtcp(
    ctx: &mut cablekey_protocol::srtp::SrtpContext,
    packet: &[u8],
) -> Result<Vec<u8>, cablekey_protocol::srtp::SrtpError> {
    let mut buf = packet.to_vec();
    let n = ctx.unprotect_rtcp(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}
