//! A `no_std`, `no_main` program that uses the sans-IO cores. If anything
//! they depend on pulls in `std`, this fails to build (a second
//! `panic_impl`, or `std` unresolved on the way).
#![no_std]
#![no_main]

// libc is the platform layer here (memcpy, abort), as a vendor SDK would be.
#[link(name = "c")]
extern "C" {
    fn abort() -> !;
}

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

#[cfg(feature = "cta")]
use cablekey_cta_firmware as cta;
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
    // SAFETY: abort ends the process; it takes no arguments.
    unsafe { abort() }
}

// The prebuilt `alloc` refers to the unwinder; with panic = "abort" neither
// symbol is ever reached, and firmware has no unwinder to link.
#[no_mangle]
pub extern "C" fn _Unwind_Resume() -> ! {
    // SAFETY: as above.
    unsafe { abort() }
}

#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

/// Parses and re-encodes a CRCX: exercises the codec end to end.
fn exercise() -> bool {
    let msg = b"CRCX 1 aaln/1@cta.example MGCP 1.0\r\nC: 1a\r\nL: p:20, a:PCMU, k:base64:AAECAwQFBgcICQoLDA0ODw==\r\nM: sendrecv\r\n";
    mgcp::parse(msg).is_ok_and(|m| !m.encode().is_empty())
}

#[cfg(feature = "cta")]
mod cta_check {
    use super::cta;
    use cablekey_protocol::secret::SecretBytes;
    use cablekey_protocol::time::Instant;

    /// A platform that plays nothing and counts SRTP contexts.
    struct Platform {
        contexts: usize,
    }

    impl cta::MediaController for Platform {
        fn install(
            &mut self,
            _: cta::ConnId,
            _: &SecretBytes,
            _: &cta::MediaParams,
        ) -> Result<(), cta::MediaError> {
            self.contexts += 1;
            Ok(())
        }

        fn wipe(&mut self, _: cta::ConnId) {
            self.contexts = self.contexts.saturating_sub(1);
        }
    }

    impl cta::Terminal for Platform {
        fn signal(&mut self, _: usize, _: cta::Signal, _: bool) {}
    }

    impl cta::SecurityApp for Platform {
        fn enrollment(&self) -> cta::Enrollment {
            cta::Enrollment::Enrolled
        }

        fn authenticate(&mut self, _: &[u8], _: &mut [u8; 64]) -> Option<usize> {
            None
        }
    }

    /// Runs the CTA core: RSIP on restart, an RQNT, a CRCX with a key, a DLCX.
    pub fn exercise_cta() -> bool {
        use core::net::{IpAddr, Ipv4Addr, SocketAddr};
        let ca = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 2727);
        let config = cta::Config::new("cta.example", ca, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        let platform = || Platform { contexts: 0 };
        let mut gw = cta::Gateway::new(config, platform(), platform(), platform());
        let now = Instant::from_micros(1);
        gw.restart(now);
        let rsip = gw
            .poll_transmit()
            .is_some_and(|t| t.payload.starts_with(b"RSIP"));
        gw.handle_datagram(
            now,
            ca,
            b"RQNT 5 aaln/1@cta.example MGCP 1.0\r\nX: 1\r\nR: L/hd(N)\r\n",
        );
        let ok = gw
            .poll_transmit()
            .is_some_and(|t| t.payload.starts_with(b"200 5"));
        gw.handle_terminal(now, 0, cta::TerminalEvent::OffHook);
        let ntfy = gw
            .poll_transmit()
            .is_some_and(|t| t.payload.starts_with(b"NTFY"));
        gw.handle_datagram(now, ca, b"CRCX 6 aaln/1@cta.example MGCP 1.0\r\nC: 1a\r\nL: k:base64:AAECAwQFBgcICQoLDA0ODw==, x-dir:caller\r\nM: sendrecv\r\n\r\nv=0\r\nc=IN IP4 10.0.0.9\r\nm=audio 4000 RTP/AVP 0\r\n");
        let created = gw
            .poll_transmit()
            .is_some_and(|t| t.payload.starts_with(b"200 6"));
        let keyed = gw.media().contexts == 1;
        gw.handle_datagram(now, ca, b"DLCX 7 aaln/1@cta.example MGCP 1.0\r\n");
        let deleted = gw
            .poll_transmit()
            .is_some_and(|t| t.payload.starts_with(b"250 7"));
        let wiped = gw.media().contexts == 0 && gw.security().keys_held() == 0;
        rsip && ok && ntfy && created && keyed && deleted && wiped
    }
}

#[cfg(feature = "cta")]
use cta_check::exercise_cta;

#[cfg(not(feature = "cta"))]
fn exercise_cta() -> bool {
    true
}

/// Entry point called by the C runtime (libc is the platform layer here,
/// as a vendor SDK would be on a modem).
#[no_mangle]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    if exercise() && exercise_cta() {
        0
    } else {
        1
    }
}
