//! Synthetic intercepted calls: real escrow records and real SRTP (the
//! CTAs' derivation and code), a tone each way, written as pcap or pcapng.
//! For tests, benchmarks and demonstrations, where no CTA is running.

use std::fs::File;
use std::io::BufWriter;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use cablekey_audio::g711;
use cablekey_protocol::escrow::{CallMeta, EpochRecord, EpochSealer, EscrowRecord, Party};
use cablekey_protocol::secret::SecretBytes;
use cablekey_protocol::srtp::derive::{master_key, Direction, CALL_KEY_LEN};
use cablekey_protocol::srtp::Suite;
use cablekey_protocol::time::Instant;
use getrandom::rand_core::UnwrapErr;
use getrandom::SysRng;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;

use crate::net::{self, Link};

/// One side of a synthetic call.
#[derive(Debug, Clone)]
pub struct End {
    pub number: String,
    pub media: SocketAddr,
    /// Tone it sends (Hz).
    pub tone: f64,
    pub ssrc: u32,
}

/// A call to synthesise.
#[derive(Debug, Clone)]
pub struct Call {
    pub call_id: String,
    pub caller: End,
    pub callee: End,
    pub start_unix_ms: u64,
    /// 20 ms packets each way.
    pub packets: u32,
    pub suite: Suite,
    /// First RTP sequence number (both ways); near 65535 tests rollover.
    pub first_seq: u16,
}

/// A fresh random 32-byte call key, as the controller makes one.
pub fn call_key() -> Result<SecretBytes, String> {
    let mut k = zeroize::Zeroizing::new([0u8; CALL_KEY_LEN]);
    getrandom::fill(&mut k[..]).map_err(|e| e.to_string())?;
    SecretBytes::new(&k[..]).map_err(|e| e.to_string())
}

/// Seals the call's key as the controller does; returns the epoch record
/// when this seal started an epoch, and the escrow record.
pub fn escrow(
    sealer: &mut EpochSealer,
    call: &Call,
    key: &SecretBytes,
) -> Result<(Option<EpochRecord>, EscrowRecord), cablekey_protocol::escrow::SealError> {
    let endpoint = |e: &End| format!("aaln/1@{}", e.media.ip());
    let meta = CallMeta {
        call_id: call.call_id.clone(),
        caller: Party {
            number: call.caller.number.clone(),
            endpoint: endpoint(&call.caller),
        },
        callee: Party {
            number: call.callee.number.clone(),
            endpoint: endpoint(&call.callee),
        },
        start_unix_ms: call.start_unix_ms,
        suite: call.suite.name().to_string(),
    };
    let s = sealer.seal(
        meta,
        key,
        Instant::ZERO,
        call.start_unix_ms,
        &mut UnwrapErr(SysRng),
    )?;
    Ok((s.new_epoch, s.record))
}

/// One captured IP packet.
pub struct Packet {
    pub time: Duration,
    pub ip: Vec<u8>,
}

/// Both directions' SRTP packets, in time order: caller→callee every
/// 20 ms from the start, callee→caller 10 ms after each.
pub fn media(call: &Call, key: &SecretBytes) -> Result<Vec<Packet>, String> {
    let mut out = Vec::with_capacity(call.packets as usize * 2);
    let mut dirs = Vec::new();
    for (dir, from, to) in [
        (Direction::CallerToCallee, &call.caller, &call.callee),
        (Direction::CalleeToCaller, &call.callee, &call.caller),
    ] {
        let ctx = master_key(key, call.call_id.as_bytes(), call.suite, dir)
            .and_then(|m| m.context())
            .map_err(|e| e.to_string())?;
        dirs.push((ctx, from, to, 0.0f64));
    }
    let start = Duration::from_millis(call.start_unix_ms);
    let mut buf = [0u8; 12 + 160 + 32];
    for i in 0..call.packets {
        for (d, (ctx, from, to, phase)) in dirs.iter_mut().enumerate() {
            let seq = call.first_seq.wrapping_add(i as u16);
            let ts = 1000u32.wrapping_add(i * 160);
            buf[..12].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            buf[2..4].copy_from_slice(&seq.to_be_bytes());
            buf[4..8].copy_from_slice(&ts.to_be_bytes());
            buf[8..12].copy_from_slice(&from.ssrc.to_be_bytes());
            let step = std::f64::consts::TAU * from.tone / 8000.0;
            for b in &mut buf[12..172] {
                *b = g711::encode((phase.sin() * 16000.0) as i16);
                *phase = (*phase + step) % std::f64::consts::TAU;
            }
            let len = ctx.protect(&mut buf, 172).map_err(|e| e.to_string())?;
            let ip = net::build_udp(from.media, to.media, &buf[..len])
                .ok_or("mixed address families")?;
            let offset = Duration::from_millis(u64::from(i) * 20 + d as u64 * 10);
            out.push(Packet {
                time: start + offset,
                ip,
            });
        }
    }
    Ok(out)
}

/// Puts a link-layer header of type `link` in front of an IP packet.
pub fn frame(link: Link, ip: &[u8]) -> Vec<u8> {
    let v6 = ip.first().is_some_and(|b| b >> 4 == 6);
    let ethertype: [u8; 2] = if v6 { [0x86, 0xdd] } else { [0x08, 0x00] };
    let mut f = match link {
        Link::Raw => Vec::new(),
        Link::Ethernet => {
            let mut h = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
            h.extend_from_slice(&ethertype);
            h
        }
        Link::LinuxSll => {
            let mut h = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
            h.extend_from_slice(&ethertype);
            h
        }
        Link::LinuxSll2 => {
            let mut h = ethertype.to_vec();
            h.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 0, 6, 2, 0, 0, 0, 0, 1, 0]);
            h
        }
        Link::Null => (if v6 { 30u32 } else { 2 }).to_le_bytes().to_vec(),
    };
    f.extend_from_slice(ip);
    f
}

fn datalink(link: Link) -> DataLink {
    match link {
        Link::Ethernet => DataLink::ETHERNET,
        Link::LinuxSll => DataLink::LINUX_SLL,
        Link::LinuxSll2 => DataLink::LINUX_SLL2,
        Link::Raw => DataLink::RAW,
        Link::Null => DataLink::NULL,
    }
}

/// Writes a pcap file (microsecond timestamps).
pub fn write_pcap(path: &Path, link: Link, packets: &[Packet]) -> Result<(), String> {
    let file = File::create(path).map_err(|e| e.to_string())?;
    let header = pcap_file::pcap::PcapHeader {
        datalink: datalink(link),
        ..Default::default()
    };
    let mut w = pcap_file::pcap::PcapWriter::with_header(BufWriter::new(file), header)
        .map_err(|e| e.to_string())?;
    for p in packets {
        let data = frame(link, &p.ip);
        let len = data.len() as u32;
        w.write_packet(&pcap_file::pcap::PcapPacket::new(p.time, len, &data))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Writes a pcapng file with one interface (default microsecond resolution).
pub fn write_pcapng(path: &Path, link: Link, packets: &[Packet]) -> Result<(), String> {
    let file = File::create(path).map_err(|e| e.to_string())?;
    let mut w = PcapNgWriter::new(BufWriter::new(file)).map_err(|e| e.to_string())?;
    let idb = InterfaceDescriptionBlock {
        linktype: datalink(link),
        snaplen: 0,
        options: vec![],
    };
    w.write_pcapng_block(idb).map_err(|e| e.to_string())?;
    for p in packets {
        let data = frame(link, &p.ip);
        let epb = EnhancedPacketBlock {
            interface_id: 0,
            // pcap-file writes the raw count: microseconds here.
            timestamp: Duration::from_nanos(u64::try_from(p.time.as_micros()).unwrap_or(u64::MAX)),
            original_len: data.len() as u32,
            data: data.into(),
            options: vec![],
        };
        w.write_pcapng_block(epb).map_err(|e| e.to_string())?;
    }
    Ok(())
}
