//! Packet indices, rollover estimation and the replay window.

use super::SrtpError;

/// Packets the replay window remembers behind the highest index seen.
pub const REPLAY_WINDOW: u64 = 128;

/// Largest SRTP packet index (48 bits: ROC and SEQ).
const MAX_RTP_INDEX: u64 = (1 << 48) - 1;

/// Which indices of one stream were already used. Checking is read-only;
/// [`ReplayWindow::accept`] is called only once a packet is authentic.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReplayWindow {
    started: bool,
    /// Highest index accepted.
    top: u64,
    /// Bit `n` set: index `top - n` was accepted.
    seen: u128,
}

impl ReplayWindow {
    pub(crate) fn started(&self) -> bool {
        self.started
    }

    pub(crate) fn top(&self) -> u64 {
        self.top
    }

    pub(crate) fn check(&self, index: u64) -> Result<(), SrtpError> {
        if !self.started || index > self.top {
            return Ok(());
        }
        let age = self.top - index;
        if age >= REPLAY_WINDOW || (self.seen >> age) & 1 == 1 {
            return Err(SrtpError::Replayed);
        }
        Ok(())
    }

    pub(crate) fn accept(&mut self, index: u64) {
        if !self.started {
            *self = ReplayWindow {
                started: true,
                top: index,
                seen: 1,
            };
        } else if index > self.top {
            let shift = index - self.top;
            self.seen = if shift >= REPLAY_WINDOW {
                1
            } else {
                (self.seen << shift) | 1
            };
            self.top = index;
        } else {
            self.seen |= 1 << (self.top - index);
        }
    }
}

/// The SRTP index of a packet from its sequence number (RFC 3711
/// Appendix A): the guess closest to the highest index seen so far.
///
/// `first_roc` is used before any packet: 0 unless the caller joined a
/// stream in progress. An index below zero or past 2^48 is refused.
pub(crate) fn estimate_index(
    window: &ReplayWindow,
    first_roc: u32,
    seq: u16,
) -> Result<u64, SrtpError> {
    if !window.started() {
        return Ok((u64::from(first_roc) << 16) | u64::from(seq));
    }
    let roc = window.top() >> 16;
    let last = (window.top() & 0xffff) as u16;
    let guess = if last < 0x8000 {
        if seq > last + 0x8000 {
            // Before a rollover we already saw; at ROC 0 it would be negative.
            roc.checked_sub(1).ok_or(SrtpError::Replayed)?
        } else {
            roc
        }
    } else if seq < last - 0x8000 {
        roc + 1
    } else {
        roc
    };
    let index = (guess << 16) | u64::from(seq);
    if index > MAX_RTP_INDEX {
        return Err(SrtpError::KeyExhausted);
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window_at(index: u64) -> ReplayWindow {
        let mut w = ReplayWindow::default();
        w.accept(index);
        w
    }

    #[test]
    fn estimates_across_rollover() {
        let w = window_at(0xfff0);
        assert_eq!(estimate_index(&w, 0, 0x0005), Ok(0x1_0005));
        assert_eq!(estimate_index(&w, 0, 0xffe0), Ok(0xffe0));
        let w = window_at(0x1_0005);
        assert_eq!(estimate_index(&w, 0, 0xfff0), Ok(0xfff0));
        assert_eq!(estimate_index(&w, 0, 0x0010), Ok(0x1_0010));
        let w = window_at(5);
        assert_eq!(estimate_index(&w, 0, 0xfff0), Err(SrtpError::Replayed));
        assert_eq!(estimate_index(&ReplayWindow::default(), 7, 9), Ok(0x7_0009));
        let w = window_at(MAX_RTP_INDEX - 3);
        assert_eq!(estimate_index(&w, 0, 2), Err(SrtpError::KeyExhausted));
    }

    #[test]
    fn window_remembers_128() {
        let mut w = ReplayWindow::default();
        w.accept(1000);
        assert_eq!(w.check(1000), Err(SrtpError::Replayed));
        assert_eq!(w.check(999), Ok(()));
        w.accept(999);
        assert_eq!(w.check(999), Err(SrtpError::Replayed));
        assert_eq!(w.check(1000 - 127), Ok(()));
        assert_eq!(w.check(1000 - 128), Err(SrtpError::Replayed));
        w.accept(1200);
        assert_eq!(w.check(1000), Err(SrtpError::Replayed));
        assert_eq!(w.check(1199), Ok(()));
        w.accept(1201);
        assert_eq!(w.check(1200), Err(SrtpError::Replayed));
    }
}
