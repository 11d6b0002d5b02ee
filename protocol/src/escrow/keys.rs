//! The law-enforcement key pair: X25519 for HPKE (RFC 9180).

use core::fmt;

use hpke::rand_core::CryptoRng;
use hpke::{Deserializable, Kem as _, Serializable};
use zeroize::Zeroizing;

use super::{FormatError, Kem};

/// Names an LE public key: 8 bytes of SHA-256 over it, stored in each epoch
/// record so the opener knows which private key it needs.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("le:")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The LE public key the controller seals epoch keys to.
#[derive(Clone)]
pub struct LePublicKey {
    pub(crate) pk: <Kem as hpke::Kem>::PublicKey,
    bytes: [u8; 32],
}

impl LePublicKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<LePublicKey, FormatError> {
        let pk =
            <Kem as hpke::Kem>::PublicKey::from_bytes(bytes).map_err(|_| FormatError::KeyLength)?;
        let mut b = [0u8; 32];
        b.copy_from_slice(bytes);
        Ok(LePublicKey { pk, bytes: b })
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.bytes
    }

    /// Proves the key usable with one trial seal: a low-order point (such
    /// as all zeros) gives an all-zero shared secret, which HPKE refuses.
    /// Run it when loading configuration, so a bad key stops start-up
    /// rather than the first call.
    pub fn check(&self, rng: &mut impl CryptoRng) -> Result<(), FormatError> {
        let mut empty = [0u8; 0];
        hpke::single_shot_seal_inout_detached_with_rng::<super::Aead, super::Kdf, Kem>(
            &hpke::OpModeS::Base,
            &self.pk,
            b"cablekey LE key check",
            hpke::inout::InOutBuf::from(&mut empty[..]),
            b"",
            rng,
        )
        .map(|_| ())
        .map_err(|_| FormatError::WeakKey)
    }

    pub fn key_id(&self) -> KeyId {
        use sha2::{Digest, Sha256};
        let d = Sha256::new()
            .chain_update(b"cablekey LE key id v1\0")
            .chain_update(self.bytes)
            .finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&d[..8]);
        KeyId(id)
    }
}

impl fmt::Debug for LePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LePublicKey({})", self.key_id())
    }
}

/// The LE private key: held by the CALEA server only, never by a controller.
/// Zeroized on drop (the underlying X25519 secret is); `Debug` shows the key id.
pub struct LePrivateKey {
    pub(crate) sk: <Kem as hpke::Kem>::PrivateKey,
    public: LePublicKey,
}

impl LePrivateKey {
    pub fn generate(rng: &mut impl CryptoRng) -> LePrivateKey {
        let (sk, pk) = Kem::gen_keypair_with_rng(rng);
        let bytes: [u8; 32] = pk.to_bytes().into();
        LePrivateKey {
            sk,
            public: LePublicKey { pk, bytes },
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<LePrivateKey, FormatError> {
        let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(bytes)
            .map_err(|_| FormatError::KeyLength)?;
        let pk = Kem::sk_to_pk(&sk);
        let bytes: [u8; 32] = pk.to_bytes().into();
        Ok(LePrivateKey {
            sk,
            public: LePublicKey { pk, bytes },
        })
    }

    /// The secret scalar, for writing the key file.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        let mut tmp = self.sk.to_bytes();
        out.copy_from_slice(&tmp);
        zeroize::Zeroize::zeroize(tmp.as_mut_slice());
        out
    }

    pub fn public(&self) -> &LePublicKey {
        &self.public
    }
}

impl fmt::Debug for LePrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LePrivateKey({})", self.public.key_id())
    }
}
