//! Any text: SDP parsing never panics, and what parses round-trips.
#![no_main]

use cablekey_protocol::sdp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else { return };
    if let Ok(session) = sdp::parse(text) {
        let again = session.to_string();
        assert!(sdp::parse(&again).is_ok(), "re-encoded SDP does not parse");
    }
});
