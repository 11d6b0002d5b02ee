//! Reading pcap and pcapng captures frame by frame (with `pcap-file`),
//! with each frame's link type and its time since the Unix epoch.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;

use crate::fsutil::{self, FsError};
use crate::net::Link;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{0}: not a pcap or pcapng capture")]
    NotCapture(PathBuf),
    #[error("{path}: {why}")]
    Header { path: PathBuf, why: String },
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// One captured frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Since 1970-01-01 UTC.
    pub time: Duration,
    /// `None` for a link type we do not read.
    pub link: Option<Link>,
    pub data: &'a [u8],
}

/// How reading ended: the whole file, or an unreadable part after which
/// nothing more could be read (a capture cut off mid-packet, say).
#[derive(Debug, Default)]
pub struct ReadEnd {
    pub frames: u64,
    pub stopped_early: Option<String>,
}

pub fn link_of(dl: DataLink) -> Option<Link> {
    match dl {
        DataLink::ETHERNET => Some(Link::Ethernet),
        DataLink::LINUX_SLL => Some(Link::LinuxSll),
        DataLink::LINUX_SLL2 => Some(Link::LinuxSll2),
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => Some(Link::Raw),
        DataLink::NULL | DataLink::LOOP => Some(Link::Null),
        _ => None,
    }
}

/// Calls `each` for every frame of the capture at `path`, in file order.
pub fn read(path: &Path, mut each: impl FnMut(Frame<'_>)) -> Result<ReadEnd, CaptureError> {
    let mut file = BufReader::with_capacity(1 << 20, File::open(path).map_err(fsutil::err(path))?);
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic)
        .map_err(|_| CaptureError::NotCapture(path.to_path_buf()))?;
    let file = std::io::Cursor::new(magic).chain(file);
    let header = |e: pcap_file::PcapError| CaptureError::Header {
        path: path.to_path_buf(),
        why: e.to_string(),
    };
    let mut end = ReadEnd::default();
    match magic {
        [0x0a, 0x0d, 0x0d, 0x0a] => {
            let mut r = PcapNgReader::new(file).map_err(header)?;
            read_pcapng(&mut r, &mut end, &mut each);
        }
        [0xa1, 0xb2, 0xc3, 0xd4]
        | [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d]
        | [0x4d, 0x3c, 0xb2, 0xa1] => {
            let mut r = PcapReader::new(file).map_err(header)?;
            let link = link_of(r.header().datalink);
            while let Some(p) = r.next_packet() {
                match p {
                    Ok(p) => {
                        end.frames += 1;
                        each(Frame {
                            time: p.timestamp,
                            link,
                            data: &p.data,
                        });
                    }
                    Err(e) => {
                        end.stopped_early = Some(e.to_string());
                        break;
                    }
                }
            }
        }
        _ => return Err(CaptureError::NotCapture(path.to_path_buf())),
    }
    Ok(end)
}

fn read_pcapng<R: Read>(
    r: &mut PcapNgReader<R>,
    end: &mut ReadEnd,
    each: &mut impl FnMut(Frame<'_>),
) {
    let mut last = Duration::ZERO;
    // (link, if_tsresol) of this section's interfaces, in order.
    let mut interfaces: Vec<(Option<Link>, u8)> = Vec::new();
    while let Some(block) = r.next_block() {
        let block = match block {
            Ok(b) => b,
            Err(e) => {
                end.stopped_early = Some(e.to_string());
                return;
            }
        };
        let (iface, time, data) = match &block {
            Block::SectionHeader(_) => {
                interfaces.clear();
                continue;
            }
            Block::InterfaceDescription(idb) => {
                interfaces.push((link_of(idb.linktype), tsresol(&idb.options)));
                continue;
            }
            Block::EnhancedPacket(p) => (p.interface_id, Some(p.timestamp), &p.data),
            // No timestamp of its own: the last one seen is the best guess.
            Block::SimplePacket(p) => (0, None, &p.data),
            _ => continue,
        };
        let Some(&(link, resol)) = interfaces.get(iface as usize) else {
            end.stopped_early = Some(format!(
                "a packet names interface {iface}, which is not described"
            ));
            return;
        };
        let time = time.map_or(last, |t| scale(t, resol));
        last = time;
        end.frames += 1;
        each(Frame { time, link, data });
    }
}

fn tsresol(options: &[InterfaceDescriptionOption<'_>]) -> u8 {
    options
        .iter()
        .find_map(|o| match o {
            InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
            _ => None,
        })
        .unwrap_or(6)
}

/// pcap-file hands back pcapng timestamps as raw units in a `Duration`'s
/// nanoseconds; the interface's `if_tsresol` says what a unit is
/// (10^-n seconds, or 2^-n with the top bit set; microseconds by default).
fn scale(raw: Duration, resol: u8) -> Duration {
    let units = raw.as_nanos();
    let nanos = if resol & 0x80 != 0 {
        let shift = u32::from(resol & 0x7f).min(127);
        (units.saturating_mul(1_000_000_000)) >> shift
    } else {
        let exp = u32::from(resol);
        if exp <= 9 {
            units.saturating_mul(10u128.pow(9 - exp))
        } else {
            units / 10u128.saturating_pow(exp - 9)
        }
    };
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcapng_resolutions() {
        let raw = Duration::from_nanos(1_500_000);
        assert_eq!(scale(raw, 6), Duration::from_millis(1_500));
        assert_eq!(scale(raw, 9), Duration::from_nanos(1_500_000));
        assert_eq!(scale(raw, 3), Duration::from_secs(1_500));
        assert_eq!(
            scale(Duration::from_nanos(1 << 20), 0x80 | 20),
            Duration::from_secs(1)
        );
        assert_eq!(
            scale(Duration::from_nanos(u64::MAX), 0),
            Duration::from_nanos(u64::MAX)
        );
        assert_eq!(scale(raw, 200), Duration::ZERO);
    }
}
