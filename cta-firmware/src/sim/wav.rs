//! WAV files as the simulator plays and records them: 8 kHz, mono, 16-bit.

use std::format;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::string::String;
use std::vec::Vec;

pub const RATE: u32 = 8000;

fn spec() -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
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
