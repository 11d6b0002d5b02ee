//! Test and bench only: libsrtp2 (the system library) behind a small safe
//! wrapper, so cablekey's SRTP can be checked against it and timed next to
//! it. Not part of any shipped binary.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::Once;

extern "C" {
    fn shim_trailer_room() -> usize;
    fn shim_version() -> *const c_char;
    fn shim_init() -> c_int;
    fn shim_session(
        suite: c_int,
        outbound: c_int,
        key: *const u8,
        len: usize,
        err: *mut c_int,
    ) -> *mut c_void;
    fn shim_free(session: *mut c_void);
    fn shim_protect(s: *mut c_void, buf: *mut u8, cap: usize, len: *mut c_int) -> c_int;
    fn shim_unprotect(s: *mut c_void, buf: *mut u8, len: *mut c_int) -> c_int;
    fn shim_protect_rtcp(s: *mut c_void, buf: *mut u8, cap: usize, len: *mut c_int) -> c_int;
    fn shim_unprotect_rtcp(s: *mut c_void, buf: *mut u8, len: *mut c_int) -> c_int;
    fn shim_set_roc(s: *mut c_void, ssrc: u32, roc: u32) -> c_int;
}

/// Suites libsrtp2 shares with cablekey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    AesCm128HmacSha1_80 = 1,
    AeadAes128Gcm = 2,
    AeadAes256Gcm = 3,
}

/// A libsrtp2 status code (`srtp_err_status_t`), or -1 for a shim check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error(pub i32);

/// Spare bytes `protect` needs after a packet.
pub fn trailer_room() -> usize {
    // SAFETY: a pure function returning a constant.
    unsafe { shim_trailer_room() }
}

pub fn version() -> String {
    init();
    // SAFETY: libsrtp returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(shim_version()) }
        .to_string_lossy()
        .into_owned()
}

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // SAFETY: called once, before any session exists.
        let rc = unsafe { shim_init() };
        assert_eq!(rc, 0, "srtp_init failed: {rc}");
    });
}

/// One libsrtp2 session: sending (`outbound`) or receiving, any SSRC.
pub struct Session {
    ptr: *mut c_void,
}

fn check(rc: c_int) -> Result<(), Error> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Error(rc))
    }
}

fn c_len(n: usize) -> Result<c_int, Error> {
    c_int::try_from(n).map_err(|_| Error(-1))
}

impl Session {
    /// `master` is the master key followed by the master salt.
    pub fn new(suite: Suite, outbound: bool, master: &[u8]) -> Result<Session, Error> {
        init();
        let mut err: c_int = 0;
        // SAFETY: `master` is valid for `len` bytes; the shim copies it.
        let ptr = unsafe {
            shim_session(
                suite as c_int,
                c_int::from(outbound),
                master.as_ptr(),
                master.len(),
                &mut err,
            )
        };
        if ptr.is_null() {
            return Err(Error(err));
        }
        Ok(Session { ptr })
    }

    /// Protects `buf[..len]` in place; `buf` needs [`trailer_room`] spare.
    pub fn protect(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        let mut n = c_len(len)?;
        // SAFETY: the shim refuses unless `len + trailer_room <= buf.len()`.
        check(unsafe { shim_protect(self.ptr, buf.as_mut_ptr(), buf.len(), &mut n) })?;
        Ok(n as usize)
    }

    /// Unprotects the packet `buf` in place; returns the plaintext length.
    pub fn unprotect(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let mut n = c_len(buf.len())?;
        // SAFETY: libsrtp reads and writes within the first `n` bytes.
        check(unsafe { shim_unprotect(self.ptr, buf.as_mut_ptr(), &mut n) })?;
        Ok(n as usize)
    }

    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        let mut n = c_len(len)?;
        // SAFETY: as `protect`.
        check(unsafe { shim_protect_rtcp(self.ptr, buf.as_mut_ptr(), buf.len(), &mut n) })?;
        Ok(n as usize)
    }

    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let mut n = c_len(buf.len())?;
        // SAFETY: as `unprotect`.
        check(unsafe { shim_unprotect_rtcp(self.ptr, buf.as_mut_ptr(), &mut n) })?;
        Ok(n as usize)
    }

    /// Sets the ROC of a stream libsrtp already knows.
    pub fn set_roc(&mut self, ssrc: u32, roc: u32) -> Result<(), Error> {
        // SAFETY: plain values on a live session.
        check(unsafe { shim_set_roc(self.ptr, ssrc, roc) })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `shim_session` and is freed once.
        unsafe { shim_free(self.ptr) }
    }
}
