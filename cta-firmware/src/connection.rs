//! The gateway's connections: fixed slots, no heap, ids that are never
//! reused while the gateway runs.

use core::net::SocketAddr;

use cablekey_protocol::mgcp::{ConnectionMode, MAX_ID_LEN};

use crate::ports::{ConnId, Role, Suite, Surveillance};

/// Connections across all lines; a CTA line holds two (call waiting).
pub const MAX_CONNECTIONS: usize = 8;
pub const MAX_PER_LINE: usize = 2;

/// A call or request id (`C:`, `X:`): up to 32 letters and digits, held inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Id {
    buf: [u8; MAX_ID_LEN],
    len: u8,
}

impl Id {
    pub fn new(s: &str) -> Option<Id> {
        let mut id = Id {
            buf: [0; MAX_ID_LEN],
            len: 0,
        };
        let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
        id.buf
            .get_mut(..s.len())
            .filter(|_| ok)?
            .copy_from_slice(s.as_bytes());
        id.len = s.len() as u8;
        Some(id)
    }

    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("")
    }

    /// Ids compare case-insensitively (they are hex strings).
    pub fn is(&self, s: &str) -> bool {
        self.as_str().eq_ignore_ascii_case(s)
    }
}

impl core::fmt::Debug for Id {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Id({})", self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connection {
    pub id: ConnId,
    pub line: usize,
    pub call: Id,
    pub role: Role,
    pub mode: ConnectionMode,
    pub suite: Suite,
    pub remote: Option<SocketAddr>,
    pub local_port: u16,
    pub surveillance: Option<Surveillance>,
}

#[derive(Debug)]
pub struct Connections {
    slots: [Option<Connection>; MAX_CONNECTIONS],
    next_id: u32,
    base_port: u16,
}

impl Connections {
    /// Ids start at `first_id` (seed it so a restarted device does not
    /// reuse ids the call agent remembers); RTP ports from `base_port` up,
    /// two per slot.
    pub fn new(first_id: u32, base_port: u16) -> Connections {
        Connections {
            slots: [None; MAX_CONNECTIONS],
            next_id: first_id,
            base_port,
        }
    }

    pub fn get(&self, id: ConnId) -> Option<&Connection> {
        self.iter().find(|c| c.id == id)
    }

    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut Connection> {
        self.slots.iter_mut().flatten().find(|c| c.id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Connection> {
        self.slots.iter().flatten()
    }

    pub fn on_line(&self, line: usize) -> impl Iterator<Item = &Connection> {
        self.iter().filter(move |c| c.line == line)
    }

    pub fn count_on_line(&self, line: usize) -> usize {
        self.on_line(line).count()
    }

    /// Adds a connection; `None` when every slot is taken.
    pub fn add(
        &mut self,
        line: usize,
        call: Id,
        role: Role,
        mode: ConnectionMode,
        suite: Suite,
    ) -> Option<Connection> {
        let (i, slot) = self
            .slots
            .iter_mut()
            .enumerate()
            .find(|(_, s)| s.is_none())?;
        let id = ConnId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        let offset = u16::try_from(i * 2).unwrap_or(0);
        let conn = Connection {
            id,
            line,
            call,
            role,
            mode,
            suite,
            remote: None,
            local_port: self.base_port.wrapping_add(offset),
            surveillance: None,
        };
        *slot = Some(conn);
        Some(conn)
    }

    pub fn clear(&mut self) {
        self.slots = [None; MAX_CONNECTIONS];
    }

    pub fn remove(&mut self, id: ConnId) -> Option<Connection> {
        self.slots
            .iter_mut()
            .find(|s| s.is_some_and(|c| c.id == id))
            .and_then(Option::take)
    }
}
