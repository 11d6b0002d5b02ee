//! G.711 µ-law (PCMU), the one codec the simulator speaks.

const BIAS: i32 = 0x84;
const CLIP: i32 = 32635;

/// Encodes one 16-bit linear sample.
pub fn encode(sample: i16) -> u8 {
    let mut x = i32::from(sample);
    let sign = if x < 0 {
        x = -x;
        0x80
    } else {
        0
    };
    x = x.min(CLIP) + BIAS;
    // The segment is the position of the highest set bit above bit 7.
    let exponent = (31 - x.leading_zeros() as i32 - 7).clamp(0, 7);
    let mantissa = (x >> (exponent + 3)) & 0x0f;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// Every byte's decoded sample: one load per sample where it matters
/// (rendering hours of audio).
pub static DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = decode(i as u8);
        i += 1;
    }
    t
};

/// Decodes one µ-law byte to a 16-bit linear sample.
pub const fn decode(byte: u8) -> i16 {
    let u = !byte;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0f) as i32;
    let x = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if u & 0x80 != 0 {
        -x as i16
    } else {
        x as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_within_one_quantization_step() {
        for s in (i16::MIN + 1..=i16::MAX).step_by(7) {
            let back = i32::from(decode(encode(s)));
            let s = i32::from(s).clamp(-CLIP, CLIP);
            // Steps grow with the segment: 1/16 of the magnitude, at least 8.
            let step = (s.abs() / 16).max(8);
            assert!((back - s).abs() <= step, "{s} -> {back}");
        }
        // Known values from G.711: silence is 0xFF, full scale 0x80 / 0x00.
        assert_eq!(encode(0), 0xff);
        assert_eq!(encode(i16::MAX), 0x80);
        assert_eq!(encode(-i16::MAX), 0x00);
        assert_eq!(decode(0xff), 0);
        for b in 0..=255u8 {
            assert_eq!(DECODE[usize::from(b)], decode(b));
        }
    }
}
