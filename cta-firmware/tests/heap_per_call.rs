//! Heap per active call, measured with a counting allocator. No test
//! harness (`harness = false`): nothing else runs or allocates meanwhile.
//!
//! Run with `--nocapture` to see the figures recorded in BENCHMARKS.md.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use cablekey_cta_firmware::TerminalEvent;
use common::*;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Live heap once the rig's and the fakes' own records are dropped.
fn live(r: &mut Rig) -> usize {
    r.events();
    r.sent = Vec::new();
    r.gw.media_mut().installs = Vec::new();
    r.gw.media_mut().wipes = Vec::new();
    r.gw.terminal_mut().log = Vec::new();
    LIVE.load(Ordering::Relaxed)
}

const HISTORY_MS: u64 = 31_000;

/// Rounds of two calls set up and deleted.
const ROUNDS: usize = 64;

/// Off-hook, digits, CRCX with a key, MDCX with the far end: a connected call.
fn call(r: &mut Rig, line: usize, call_id: &str) {
    let ep = format!("aaln/{}@cta1.example", line + 1);
    r.command(&format!("RQNT {{tid}} {ep} MGCP 1.0\nX: 1\nR: L/hd(N)\n"));
    let out = r.terminal(line, TerminalEvent::OffHook);
    r.answer(&out[0].clone(), 200);
    r.command(&format!(
        "RQNT {{tid}} {ep} MGCP 1.0\nX: 2\nR: L/hu(N), D/[0-9#*T](D)\nS: L/dl\nD: (0T|00T|[1-7]xxx|8xxxxxxx|#xxxxxxx|*xx|91xxxxxxxxxx|9011x.T)\n"
    ));
    let out = r.dial(line, "5551");
    r.answer(&out[0].clone(), 200);
    let resp = r.command(&format!(
        "CRCX {{tid}} {ep} MGCP 1.0\nC: {call_id}\nL: p:20, a:PCMU, k:base64:{KEY}, x-dir:caller\nM: recvonly\nX: 3\nR: L/hu(N)\nS: L/rt\n"
    ));
    let conn = Rig::conn_id(&resp);
    let resp = r.command(&format!(
        "MDCX {{tid}} {ep} MGCP 1.0\nC: {call_id}\nI: {conn}\nM: sendrecv\nX: 4\nR: L/hu(N)\nS:\n\nv=0\nc=IN IP4 10.9.9.9\nm=audio 40000 RTP/AVP 0\n"
    ));
    assert!(resp.starts_with("200"), "{resp}");
}

fn main() {
    heap_per_active_call_is_small_and_bounded();
    println!("heap_per_call: 1 passed, 0 failed");
}

fn heap_per_active_call_is_small_and_bounded() {
    let before = LIVE.load(Ordering::Relaxed);
    let mut r = Rig::registered();
    r.advance(HISTORY_MS);
    let idle = live(&mut r);

    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    call(&mut r, 0, "A1");
    let with_history = live(&mut r) - idle;
    let peak = PEAK.load(Ordering::Relaxed) - idle;
    r.advance(HISTORY_MS);
    let one = live(&mut r) - idle;

    call(&mut r, 1, "B2");
    r.advance(HISTORY_MS);
    let two = live(&mut r) - idle;

    // Ten minutes of talking: nothing grows with time (or with packets,
    // which never pass through the core).
    r.advance(600_000);
    let later = live(&mut r) - idle;

    // Call after call on the same lines: what stays is the lines' requests
    // and digit maps, and queue capacities. The figures go in an array: a
    // growing Vec here would be counted too (that was the old "creep").
    let mut after_each = [0usize; ROUNDS];
    for (i, slot) in after_each.iter_mut().enumerate() {
        for line in ["aaln/1", "aaln/2"] {
            let resp = r.command(&format!("DLCX {{tid}} {line}@cta1.example MGCP 1.0\n"));
            assert!(resp.starts_with("250"));
            let out = r.terminal(if line == "aaln/1" { 0 } else { 1 }, TerminalEvent::OnHook);
            r.answer(&out[0].clone(), 200);
        }
        r.advance(HISTORY_MS);
        *slot = live(&mut r) - idle;
        call(&mut r, 0, &format!("C{i}"));
        call(&mut r, 1, &format!("D{i}"));
    }

    println!(
        "heap: idle gateway, 2 lines, registered: {} B",
        idle - before
    );
    println!("heap: one call: {one} B steady, {with_history} B with its 30 s transaction history, {peak} B peak during setup");
    println!("heap: two calls: {two} B; after 10 more minutes: {later} B");
    println!("heap: after each round of two calls is deleted (line requests, digit maps, queue capacity): {after_each:?} B");
    assert!(one < 4096, "one call takes {one} B");
    assert!(
        with_history < 4096,
        "one call with history takes {with_history} B"
    );
    assert_eq!(later, two, "heap grew while calls were up");
    // The first round reaches the queues' capacities; from then on nothing
    // may stay behind a deleted call, not even a byte.
    assert!(
        after_each[1..].iter().all(|&h| h == after_each[1]),
        "heap grows call after call: {after_each:?}"
    );
}
