//! Any datagram: parsing never panics, and whatever parses re-encodes to
//! something that parses to the same message.
#![no_main]

use cablekey_protocol::mgcp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for msg in mgcp::parse_datagram(data).into_iter().flatten() {
        let wire = msg.encode();
        assert_eq!(mgcp::parse(&wire).as_ref(), Ok(&msg));
    }
});
