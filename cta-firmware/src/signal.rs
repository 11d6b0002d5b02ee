//! Line-package signal names (`S: L/dl`), their kinds and timeouts.

use core::time::Duration;

use crate::ports::Signal;

impl Signal {
    const ALL: [Signal; 10] = [
        Signal::DialTone,
        Signal::Ringing,
        Signal::RingBack,
        Signal::Busy,
        Signal::Reorder,
        Signal::StutterDialTone,
        Signal::OffHookWarning,
        Signal::CallWaiting,
        Signal::Confirm,
        Signal::CallerId,
    ];

    /// The event name in the line package.
    pub fn code(self) -> &'static str {
        match self {
            Signal::DialTone => "dl",
            Signal::Ringing => "rg",
            Signal::RingBack => "rt",
            Signal::Busy => "bz",
            Signal::Reorder => "ro",
            Signal::StutterDialTone => "sl",
            Signal::OffHookWarning => "ot",
            Signal::CallWaiting => "wt",
            Signal::Confirm => "cf",
            Signal::CallerId => "ci",
        }
    }

    pub fn from_code(code: &str) -> Option<Signal> {
        Self::ALL
            .into_iter()
            .find(|s| s.code().eq_ignore_ascii_case(code))
    }

    /// Time-out signals play until stopped or until this long has passed;
    /// brief signals (`None`) play once.
    pub fn timeout(self) -> Option<Duration> {
        let secs = match self {
            Signal::DialTone | Signal::StutterDialTone => 16,
            Signal::Ringing | Signal::RingBack => 180,
            Signal::Busy | Signal::Reorder => 30,
            Signal::OffHookWarning => 60,
            Signal::CallWaiting | Signal::Confirm | Signal::CallerId => return None,
        };
        Some(Duration::from_secs(secs))
    }

    /// Needs the handset off hook (`false`: needs it on hook, for ringing).
    pub fn needs_off_hook(self) -> Option<bool> {
        match self {
            Signal::Ringing => Some(false),
            Signal::DialTone
            | Signal::StutterDialTone
            | Signal::RingBack
            | Signal::Busy
            | Signal::Reorder => Some(true),
            _ => None,
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of signals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalSet(u16);

impl SignalSet {
    pub fn contains(self, s: Signal) -> bool {
        self.0 & s.bit() != 0
    }

    pub fn insert(&mut self, s: Signal) {
        self.0 |= s.bit();
    }

    pub fn remove(&mut self, s: Signal) {
        self.0 &= !s.bit();
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Signal> {
        Signal::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in Signal::ALL {
            assert_eq!(Signal::from_code(s.code()), Some(s));
        }
        assert_eq!(Signal::from_code("RG"), Some(Signal::Ringing));
        assert_eq!(Signal::from_code("zz"), None);
    }

    #[test]
    fn set_holds_each_signal() {
        let mut set = SignalSet::default();
        set.insert(Signal::Busy);
        set.insert(Signal::DialTone);
        assert!(set.contains(Signal::Busy) && !set.contains(Signal::Ringing));
        set.remove(Signal::Busy);
        assert_eq!(
            set.iter().collect::<alloc::vec::Vec<_>>(),
            [Signal::DialTone]
        );
    }
}
