//! A `no_std`, `no_main` program that uses the sans-IO cores. If anything
//! they depend on pulls in `std`, this fails to build (a second
//! `panic_impl`, or `std` unresolved on the way).
#![no_std]
#![no_main]

#[link(name = "c")]
extern "C" {}

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

use cablekey_protocol::mgcp;

const HEAP: usize = 64 * 1024;

/// A bump allocator over a static array, as small firmware might use.
struct Bump {
    next: AtomicUsize,
    heap: UnsafeCell<[u8; HEAP]>,
}

// SAFETY: allocation only bumps an atomic offset; regions never overlap.
unsafe impl Sync for Bump {}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = self.heap.get() as usize;
        let mut cur = self.next.load(Ordering::Relaxed);
        loop {
            let start = (base + cur).next_multiple_of(layout.align()) - base;
            let end = start + layout.size();
            if end > HEAP {
                return core::ptr::null_mut();
            }
            match self
                .next
                .compare_exchange(cur, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return (base + start) as *mut u8,
                Err(now) => cur = now,
            }
        }
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static ALLOC: Bump = Bump {
    next: AtomicUsize::new(0),
    heap: UnsafeCell::new([0; HEAP]),
};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

// The prebuilt `alloc` refers to the unwinder; with panic = "abort" neither
// symbol is ever reached, and firmware has no unwinder to link.
#[no_mangle]
pub extern "C" fn _Unwind_Resume() -> ! {
    loop {}
}

#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

/// Parses and re-encodes a CRCX: exercises the codec end to end.
fn exercise() -> bool {
    let msg = b"CRCX 1 aaln/1@cta.example MGCP 1.0\r\nC: 1a\r\nL: p:20, a:PCMU, k:base64:AAECAwQFBgcICQoLDA0ODw==\r\nM: sendrecv\r\n";
    mgcp::parse(msg).is_ok_and(|m| !m.encode().is_empty())
}

/// Entry point called by the C runtime (libc is the platform layer here,
/// as a vendor SDK would be on a modem).
#[no_mangle]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    if exercise() {
        0
    } else {
        1
    }
}
