//! A small jitter buffer: puts 20 ms frames back in sequence order, waits
//! for a few before playing, and conceals a missing frame with silence.
//! Fixed slots: nothing is allocated per packet.

/// G.711 at 8 kHz, 20 ms.
pub const FRAME: usize = 160;
/// Slots: how far ahead of the playout point a frame may arrive.
const SLOTS: usize = 16;

#[derive(Clone, Copy)]
struct Slot {
    seq: u16,
    full: bool,
    data: [u8; FRAME],
}

/// What one playout tick yields.
#[derive(Debug, PartialEq, Eq)]
pub enum Playout<'a> {
    /// Still filling up; play nothing yet.
    Waiting,
    Frame(&'a [u8; FRAME]),
    /// The frame is missing: conceal it.
    Lost,
}

pub struct JitterBuffer {
    slots: [Slot; SLOTS],
    /// Frames held before playout starts.
    depth: usize,
    /// The next sequence number to play.
    next: Option<u16>,
    playing: bool,
    pub late: u64,
    pub concealed: u64,
}

impl JitterBuffer {
    /// `depth` frames are held before playing (60 ms at 3); at most 8.
    pub fn new(depth: usize) -> JitterBuffer {
        JitterBuffer {
            slots: [Slot {
                seq: 0,
                full: false,
                data: [0; FRAME],
            }; SLOTS],
            depth: depth.clamp(1, SLOTS / 2),
            next: None,
            playing: false,
            late: 0,
            concealed: 0,
        }
    }

    fn held(&self) -> usize {
        self.slots.iter().filter(|s| s.full).count()
    }

    fn reset(&mut self, seq: u16) {
        self.slots.iter_mut().for_each(|s| s.full = false);
        self.next = Some(seq);
        self.playing = false;
    }

    /// Stores a frame; a late or duplicate one is dropped.
    pub fn push(&mut self, seq: u16, payload: &[u8; FRAME]) {
        let next = *self.next.get_or_insert(seq);
        let ahead = usize::from(seq.wrapping_sub(next));
        if ahead >= 0x8000 {
            // Before the playout point: too late once playing; before
            // playing, an earlier frame overtaken by later ones.
            let behind = 0x1_0000 - ahead;
            if self.playing || behind + self.held() >= SLOTS {
                self.late += 1;
                return;
            }
            self.next = Some(seq);
        } else if ahead >= SLOTS {
            // A jump (the far end restarted, or a long gap): start over.
            self.reset(seq);
        }
        let slot = &mut self.slots[usize::from(seq) % SLOTS];
        if slot.full && slot.seq == seq {
            return;
        }
        *slot = Slot {
            seq,
            full: true,
            data: *payload,
        };
    }

    /// One 20 ms tick of playout.
    pub fn pop(&mut self) -> Playout<'_> {
        let Some(next) = self.next else {
            return Playout::Waiting;
        };
        if !self.playing {
            if self.held() < self.depth {
                return Playout::Waiting;
            }
            self.playing = true;
        }
        self.next = Some(next.wrapping_add(1));
        let slot = &mut self.slots[usize::from(next) % SLOTS];
        if slot.full && slot.seq == next {
            slot.full = false;
            Playout::Frame(&slot.data)
        } else {
            self.concealed += 1;
            Playout::Lost
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: u16) -> [u8; FRAME] {
        [n as u8; FRAME]
    }

    fn played(jb: &mut JitterBuffer) -> Option<u8> {
        match jb.pop() {
            Playout::Frame(f) => Some(f[0]),
            Playout::Lost => None,
            Playout::Waiting => panic!("not playing"),
        }
    }

    #[test]
    fn reorders_waits_and_conceals() {
        let mut jb = JitterBuffer::new(3);
        jb.push(101, &frame(101));
        assert_eq!(jb.pop(), Playout::Waiting);
        jb.push(100, &frame(100));
        jb.push(103, &frame(103));
        // 102 is lost; 104 arrives before 103 is played.
        jb.push(104, &frame(104));
        assert_eq!(played(&mut jb), Some(100));
        assert_eq!(played(&mut jb), Some(101));
        assert_eq!(played(&mut jb), None);
        assert_eq!(played(&mut jb), Some(103));
        // Too late now.
        jb.push(102, &frame(102));
        assert_eq!(jb.late, 1);
        assert_eq!(played(&mut jb), Some(104));
        assert_eq!(jb.concealed, 1);
    }

    #[test]
    fn a_jump_in_sequence_starts_over_and_wraps() {
        let mut jb = JitterBuffer::new(1);
        jb.push(65535, &frame(1));
        assert_eq!(played(&mut jb), Some(1));
        jb.push(0, &frame(2));
        assert_eq!(played(&mut jb), Some(2));
        jb.push(5000, &frame(3));
        assert_eq!(played(&mut jb), Some(3));
        assert_eq!(jb.late, 0);
    }
}
