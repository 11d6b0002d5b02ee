//! SDP (RFC 4566) subset with a=crypto (RFC 4568).
