//! The RFC 3711 §4.3 key derivation: AES in counter mode keyed with the
//! master key, as libsrtp computes it (key derivation rate 0).

use aes::cipher::{self, KeyInit, KeyIvInit, StreamCipher};
use aes::{Aes128Enc, Aes256Enc};
use ctr::Ctr128BE;

use super::SrtpError;

/// Labels of RFC 3711 §4.3.2.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Label {
    RtpKey = 0,
    RtpAuth = 1,
    RtpSalt = 2,
    RtcpKey = 3,
    RtcpAuth = 4,
    RtcpSalt = 5,
}

/// Fills `out` with the session value for `label`.
///
/// The PRF input is `(master_salt || 0x0000) XOR (label << 64)`, with a
/// 12-byte AEAD master salt first padded on the right to 14 bytes, as
/// libsrtp does. The master key picks AES-128 or AES-256.
pub(crate) fn derive(
    master_key: &[u8],
    master_salt: &[u8],
    label: Label,
    out: &mut [u8],
) -> Result<(), SrtpError> {
    if master_salt.len() > 14 {
        return Err(SrtpError::BadKeyLength);
    }
    let mut iv = [0u8; 16];
    iv[..master_salt.len()].copy_from_slice(master_salt);
    iv[7] ^= label as u8;
    out.fill(0);
    match master_key.len() {
        16 => keystream::<Aes128Enc>(master_key, &iv, out),
        32 => keystream::<Aes256Enc>(master_key, &iv, out),
        _ => return Err(SrtpError::BadKeyLength),
    }
    zeroize::Zeroize::zeroize(&mut iv);
    Ok(())
}

fn keystream<C>(key: &[u8], iv: &[u8; 16], out: &mut [u8])
where
    C: KeyInit
        + cipher::BlockCipherEncrypt
        + cipher::BlockSizeUser<BlockSize = cipher::consts::U16>,
{
    // Lengths were checked by the caller; `new_from_slice` cannot fail here.
    if let Ok(mut ctr) = Ctr128BE::<C>::new_from_slices(key, iv) {
        ctr.apply_keystream(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> alloc::vec::Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 3711 appendix B.3.
    #[test]
    fn rfc3711_b3() {
        let key = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
        let salt = hex("0EC675AD498AFEEBB6960B3AABE6");
        let mut out = [0u8; 20];
        derive(&key, &salt, Label::RtpKey, &mut out[..16]).unwrap();
        assert_eq!(out[..16], hex("C61E7A93744F39EE10734AFE3FF7A087")[..]);
        derive(&key, &salt, Label::RtpSalt, &mut out[..14]).unwrap();
        assert_eq!(out[..14], hex("30CBBC08863D8C85D49DB34A9AE1")[..]);
        derive(&key, &salt, Label::RtpAuth, &mut out).unwrap();
        assert_eq!(out[..], hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")[..]);
    }
}
