//! Voice audio as cablekey handles it: G.711 µ-law ([`g711`]), 8 kHz 16-bit
//! WAV files ([`wav`]) and tone measurement ([`tone`]).
//!
//! One place for them: the CTA simulator plays and records calls, the CALEA
//! server delivers intercepted calls, and tests and `cablekey lab` check
//! which tones a recording carries.
#![forbid(unsafe_code)]

pub mod g711;
pub mod tone;
pub mod wav;
