//! The CTA firmware core, `no_std` + `alloc` and sans-IO.
#![no_std]
#![forbid(unsafe_code)]
#![warn(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

extern crate alloc;

pub mod digitmap;
