//! WAV files at telephone quality: 8 kHz, 16-bit PCM. Mono as the CTA
//! simulator plays and records them; stereo (one channel per direction) as
//! the CALEA server delivers a call.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

pub const RATE: u32 = 8000;

fn spec() -> hound::WavSpec {
    spec_with(1)
}

fn spec_with(channels: u16) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

/// Reads a whole file; anything but 8 kHz mono 16-bit is refused.
pub fn read(path: &Path) -> Result<Vec<i16>, String> {
    let reader = hound::WavReader::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if reader.spec() != spec() {
        return Err(format!("{}: not 8 kHz mono 16-bit PCM", path.display()));
    }
    reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes received audio as it comes.
pub struct Recorder {
    writer: hound::WavWriter<BufWriter<File>>,
    pub samples: u64,
}

impl Recorder {
    pub fn create(path: &Path) -> Result<Recorder, String> {
        let writer = hound::WavWriter::create(path, spec())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Recorder { writer, samples: 0 })
    }

    pub fn write(&mut self, pcm: &[i16]) {
        for &s in pcm {
            // A full disk stops the recording, not the call.
            if self.writer.write_sample(s).is_err() {
                return;
            }
        }
        self.samples += pcm.len() as u64;
    }

    /// Writes the header's lengths and closes the file.
    pub fn finish(self) -> Result<u64, String> {
        let n = self.samples;
        self.writer.finalize().map_err(|e| format!("{e}"))?;
        Ok(n)
    }
}

/// Writes `pcm` to `path` in one go (tests and tools).
pub fn write(path: &Path, pcm: &[i16]) -> Result<(), String> {
    let mut r = Recorder::create(path)?;
    r.write(pcm);
    r.finish().map(|_| ())
}

/// Reads an 8 kHz 16-bit file of two channels as (left, right).
pub fn read_stereo(path: &Path) -> Result<(Vec<i16>, Vec<i16>), String> {
    let reader = hound::WavReader::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if reader.spec() != spec_with(2) {
        return Err(format!("{}: not 8 kHz stereo 16-bit PCM", path.display()));
    }
    let all: Vec<i16> = reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let left = all.iter().step_by(2).copied().collect();
    let right = all.iter().skip(1).step_by(2).copied().collect();
    Ok((left, right))
}

/// Length of [`stereo_header`].
pub const HEADER_LEN: usize = 44;

/// The header of an 8 kHz 16-bit stereo file of `frames` sample frames,
/// byte for byte as hound writes it (RIFF, a 16-byte PCM `fmt ` chunk,
/// the `data` chunk's header): with the length known up front, a file can
/// be streamed (and hashed as it goes) without seeking back. `None` if the
/// data would not fit a WAV file's 32-bit lengths.
pub fn stereo_header(frames: u64) -> Option<[u8; HEADER_LEN]> {
    const CHANNELS: u16 = 2;
    const BYTES: u16 = 2;
    let data = u32::try_from(frames.checked_mul(u64::from(CHANNELS * BYTES))?).ok()?;
    let riff = data.checked_add(HEADER_LEN as u32 - 8)?;
    let mut h = [0u8; HEADER_LEN];
    let fields: [&[u8]; 13] = [
        b"RIFF",
        &riff.to_le_bytes(),
        b"WAVE",
        b"fmt ",
        &16u32.to_le_bytes(),
        &1u16.to_le_bytes(), // WAVE_FORMAT_PCM
        &CHANNELS.to_le_bytes(),
        &RATE.to_le_bytes(),
        &(RATE * u32::from(CHANNELS * BYTES)).to_le_bytes(),
        &(CHANNELS * BYTES).to_le_bytes(),
        &(BYTES * 8).to_le_bytes(),
        b"data",
        &data.to_le_bytes(),
    ];
    let mut at = 0;
    for f in fields {
        h[at..at + f.len()].copy_from_slice(f);
        at += f.len();
    }
    Some(h)
}

/// Writes a two-channel file frame by frame: hours of audio without
/// holding them in memory.
pub struct StereoWriter {
    writer: hound::WavWriter<BufWriter<File>>,
    /// Interleaved samples waiting for the next block write.
    pending: Vec<i16>,
}

/// Samples written to hound in one block (its fast 16-bit path).
const BLOCK: usize = 16 * 1024;

impl StereoWriter {
    pub fn create(path: &Path) -> Result<StereoWriter, String> {
        let writer = hound::WavWriter::create(path, spec_with(2))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(StereoWriter {
            writer,
            pending: Vec::with_capacity(BLOCK),
        })
    }

    /// Appends one sample frame: `left` then `right`.
    pub fn push(&mut self, left: i16, right: i16) -> Result<(), String> {
        self.pending.push(left);
        self.pending.push(right);
        if self.pending.len() >= BLOCK {
            self.drain()?;
        }
        Ok(())
    }

    /// Appends frames from two equally long channels (the shorter decides).
    pub fn push_block(&mut self, left: &[i16], right: &[i16]) -> Result<(), String> {
        for (&l, &r) in left.iter().zip(right) {
            self.pending.push(l);
            self.pending.push(r);
        }
        if self.pending.len() >= BLOCK {
            self.drain()?;
        }
        Ok(())
    }

    fn drain(&mut self) -> Result<(), String> {
        let n = u32::try_from(self.pending.len()).map_err(|e| e.to_string())?;
        let mut block = self.writer.get_i16_writer(n);
        for &s in &self.pending {
            block.write_sample(s);
        }
        block.flush().map_err(|e| e.to_string())?;
        self.pending.clear();
        Ok(())
    }

    /// Writes the header's lengths and closes the file.
    pub fn finish(mut self) -> Result<(), String> {
        if !self.pending.is_empty() {
            self.drain()?;
        }
        self.writer.finalize().map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_round_trip() {
        let path = std::env::temp_dir().join(format!("cablekey-wav-{}.wav", std::process::id()));
        let mut w = StereoWriter::create(&path).unwrap();
        for i in 0..20_000i16 {
            w.push(i, -i).unwrap();
        }
        w.finish().unwrap();
        let (l, r) = read_stereo(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(l.len(), 20_000);
        assert_eq!((l[19_999], r[19_999]), (19_999, -19_999));
        assert!(read(&path).is_err());
    }

    #[test]
    fn stereo_header_is_hounds() {
        for frames in [0u64, 1, 20_000] {
            let path = std::env::temp_dir()
                .join(format!("cablekey-wavh-{}-{frames}.wav", std::process::id()));
            let mut w = StereoWriter::create(&path).unwrap();
            for i in 0..frames {
                w.push(i as i16, 7).unwrap();
            }
            w.finish().unwrap();
            let bytes = std::fs::read(&path).unwrap();
            std::fs::remove_file(&path).unwrap();
            assert_eq!(bytes.len() as u64, HEADER_LEN as u64 + frames * 4);
            assert_eq!(&bytes[..HEADER_LEN], &stereo_header(frames).unwrap()[..]);
        }
        assert!(stereo_header(u64::from(u32::MAX) / 4 + 1).is_none());
    }
}
