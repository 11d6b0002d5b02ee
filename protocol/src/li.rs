//! Wire types of the lawful-intercept API (`docs/li.md`,
//! `docs/li-api.yaml`), shared by the controller's LI service and the
//! CALEA server's client so the two cannot drift apart.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

/// How keys may be obtained under a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A live stream of the records of the target's calls until the task ends.
    Future,
    /// The record of the target's call in progress.
    Current,
    /// The records of the target's past calls in a window the task covers.
    Historical,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Future => "future",
            Mode::Current => "current",
            Mode::Historical => "historical",
        }
    }
}

/// Longest case id: the CALEA server names a directory after it.
pub const MAX_CASE_ID: usize = 64;

/// Case ids name directories: 1 to 64 of `A-Z a-z 0-9 . _ -`, not
/// starting with a dot (no separators, no `..`, no hidden names).
pub fn valid_case_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CASE_ID
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Target numbers as escrow records carry them: digits, maybe after a `+`.
pub fn valid_target(number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or(number);
    crate::escrow::check_number(number).is_ok()
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// What the CALEA server asks the controller to intercept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub case_id: String,
    /// The subscriber number intercepted.
    pub target: String,
    /// Validity window, inclusive, Unix milliseconds.
    pub start_unix_ms: u64,
    pub end_unix_ms: u64,
    pub modes: Vec<Mode>,
    /// `ip:port` of the CALEA collector for media copies.
    pub collector: String,
    /// The call-content identifier (`es-cci`) the CALEA server wants its
    /// copies tagged with; absent, the controller assigns one and returns
    /// it in [`Task::cci`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cci: Option<u32>,
}

/// A task as the controller holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub spec: TaskSpec,
    pub provisioned_unix_ms: u64,
    /// Client identity that provisioned it (certificate subject and fingerprint).
    pub provisioned_by: String,
    pub revoked_unix_ms: Option<u64>,
    /// The call-content identifier (`es-cci`) the media copies of this
    /// task carry: the one asked for, else assigned by the controller,
    /// unique among the controller's tasks. The collector maps it to the
    /// case. `None` only in task books written before it existed.
    #[serde(default)]
    pub cci: Option<u32>,
}

/// One escrow record with the epoch record it was sealed under, both in
/// their own encodings (`docs/escrow.md`), base64 (standard, padded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub call_id: String,
    pub record: String,
    pub epoch: String,
}

/// One line of a key answer (JSON lines, `application/x-ndjson`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Line {
    Record(Delivery),
    /// The last line: why the answer ends and how many records it held.
    End {
        reason: String,
        delivered: u64,
    },
}

/// The body of every refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// A stable code such as `task_revoked` (listed in `docs/li-api.yaml`).
    pub error: String,
    pub message: String,
}
