//! Intercept tasks and every check a request must pass, as pure functions
//! of the task book, the request and the time: no sockets, no files.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::intercept::{number_key, Cci, Intercept};

use cablekey_protocol::li::{valid_case_id, valid_target, Mode, Task, TaskSpec, MAX_CASE_ID};

/// Why a request is refused. Each maps to an HTTP status and a stable code
/// (`docs/li-api.yaml`); the message is safe to send and to audit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("no such endpoint")]
    NotFound,
    #[error("case {0}: no such task")]
    UnknownTask(String),
    #[error("case {0}: a different task with this case id exists")]
    DuplicateCase(String),
    #[error("case {0}: the call-content identifier is another task's")]
    DuplicateCci(String),
    #[error("case {0}: the task is revoked")]
    Revoked(String),
    #[error("case {0}: the task is not active yet")]
    NotYetActive(String),
    #[error("case {0}: the task has expired")]
    Expired(String),
    #[error("case {case}: mode {mode} is not allowed by the task")]
    ModeNotAllowed { case: String, mode: &'static str },
    #[error("case {0}: the target is not the task's")]
    WrongTarget(String),
    #[error("case {0}: the window is outside the task's validity window")]
    WindowOutside(String),
    #[error("this client certificate is not on the controller's allow-list")]
    ClientNotAllowed,
    #[error("this client certificate is revoked")]
    ClientRevoked,
    #[error("service unavailable: {0}")]
    Unavailable(String),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::NotFound | Refusal::UnknownTask(_) => 404,
            Refusal::DuplicateCase(_) | Refusal::DuplicateCci(_) => 409,
            Refusal::Revoked(_)
            | Refusal::NotYetActive(_)
            | Refusal::Expired(_)
            | Refusal::ModeNotAllowed { .. }
            | Refusal::WrongTarget(_)
            | Refusal::WindowOutside(_)
            | Refusal::ClientNotAllowed
            | Refusal::ClientRevoked => 403,
            Refusal::Unavailable(_) => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Refusal::BadRequest(_) => "bad_request",
            Refusal::NotFound => "not_found",
            Refusal::UnknownTask(_) => "unknown_task",
            Refusal::DuplicateCase(_) => "duplicate_case",
            Refusal::DuplicateCci(_) => "duplicate_cci",
            Refusal::Revoked(_) => "task_revoked",
            Refusal::NotYetActive(_) => "task_not_active",
            Refusal::Expired(_) => "task_expired",
            Refusal::ModeNotAllowed { .. } => "mode_not_allowed",
            Refusal::WrongTarget(_) => "wrong_target",
            Refusal::WindowOutside(_) => "window_outside_task",
            Refusal::ClientNotAllowed => "client_not_allowed",
            Refusal::ClientRevoked => "client_revoked",
            Refusal::Unavailable(_) => "unavailable",
        }
    }
}

/// Start times `[from, to)`, Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from_ms: u64,
    pub to_ms: u64,
}

/// Case ids name directories on the CALEA server: no separators, no `..`.
pub fn check_case_id(id: &str) -> Result<(), Refusal> {
    if valid_case_id(id) {
        Ok(())
    } else {
        Err(Refusal::BadRequest(format!(
            "case id: use 1 to {MAX_CASE_ID} letters, digits, '.', '_' or '-'"
        )))
    }
}

/// Target numbers as escrow records carry them: digits, maybe after a `+`.
pub fn check_target(number: &str) -> Result<(), Refusal> {
    if valid_target(number) {
        Ok(())
    } else {
        Err(Refusal::BadRequest(
            "target: use 1 to 32 digits, optionally after a '+'".into(),
        ))
    }
}

/// Checks a spec and puts it in canonical form (modes sorted, no repeats).
pub fn check_spec(mut spec: TaskSpec) -> Result<TaskSpec, Refusal> {
    check_case_id(&spec.case_id)?;
    check_target(&spec.target)?;
    if spec.end_unix_ms <= spec.start_unix_ms {
        return Err(Refusal::BadRequest(
            "the end must be after the start".into(),
        ));
    }
    spec.modes.sort();
    spec.modes.dedup();
    if spec.modes.is_empty() {
        return Err(Refusal::BadRequest("at least one mode is needed".into()));
    }
    if spec.collector.parse::<SocketAddr>().is_err() {
        return Err(Refusal::BadRequest("collector: expected ip:port".into()));
    }
    Ok(spec)
}

fn unavailable_cci(case: &str) -> Refusal {
    Refusal::Unavailable(format!("case {case}: no free call-content identifier"))
}

/// A task that, while in force, has the target's media copied.
fn wants_media(t: &Task) -> bool {
    t.revoked_unix_ms.is_none()
        && t.cci.is_some()
        && (t.spec.modes.contains(&Mode::Future) || t.spec.modes.contains(&Mode::Current))
}

/// Whether a task's inclusive validity window holds `t`.
pub fn covers(task: &Task, t: u64) -> bool {
    (task.spec.start_unix_ms..=task.spec.end_unix_ms).contains(&t)
}

/// The intercept tasks, by case id. Revoked tasks stay (a case id is
/// never reused).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskBook {
    tasks: BTreeMap<String, Task>,
}

impl TaskBook {
    pub fn from_tasks(tasks: Vec<Task>) -> TaskBook {
        TaskBook {
            tasks: tasks
                .into_iter()
                .map(|t| (t.spec.case_id.clone(), t))
                .collect(),
        }
    }

    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.values()
    }

    /// Adds a task. Provisioning the same spec again is accepted (a retry),
    /// so the second value says whether anything changed.
    ///
    /// The task's call-content identifier is the spec's, else the first
    /// value `fresh` draws that no task (revoked ones included: a
    /// collector may still map it) holds and is not zero.
    pub fn provision(
        &mut self,
        spec: TaskSpec,
        now: u64,
        by: &str,
        fresh: &mut dyn FnMut() -> u32,
    ) -> Result<(Task, bool), Refusal> {
        let spec = check_spec(spec)?;
        if let Some(t) = self.tasks.get(&spec.case_id) {
            if t.spec == spec && t.revoked_unix_ms.is_none() {
                return Ok((t.clone(), false));
            }
            return Err(Refusal::DuplicateCase(spec.case_id));
        }
        let taken = |c: u32| self.tasks.values().any(|t| t.cci == Some(c));
        let cci = match spec.cci {
            Some(c) if c == 0 || taken(c) => return Err(Refusal::DuplicateCci(spec.case_id)),
            Some(c) => c,
            // 2^32 values for a few tasks: a handful of draws at most.
            None => (0..64)
                .map(|_| fresh())
                .find(|&c| c != 0 && !taken(c))
                .ok_or_else(|| unavailable_cci(&spec.case_id))?,
        };
        let task = Task {
            spec,
            provisioned_unix_ms: now,
            provisioned_by: by.to_string(),
            revoked_unix_ms: None,
            cci: Some(cci),
        };
        self.tasks.insert(task.spec.case_id.clone(), task.clone());
        Ok((task, true))
    }

    /// Revokes a task from `now` on.
    pub fn revoke(&mut self, case: &str, now: u64) -> Result<Task, Refusal> {
        let t = self
            .tasks
            .get_mut(case)
            .ok_or_else(|| Refusal::UnknownTask(case.to_string()))?;
        if t.revoked_unix_ms.is_some() {
            return Err(Refusal::Revoked(case.to_string()));
        }
        t.revoked_unix_ms = Some(now);
        Ok(t.clone())
    }

    /// The media intercepts the book asks for at `now`, by target (digits
    /// only, as the call core keys them), each with its case: every task
    /// not revoked, in force at `now`, allowing a live mode (future or
    /// current: a historical-only task never copies media) and holding a
    /// call-content identifier. The call core holds one intercept per
    /// number, so of two tasks on one target the one provisioned last wins
    /// (a new warrant's collector replaces an old one's).
    pub fn media_at(&self, now: u64) -> BTreeMap<String, (String, Intercept)> {
        let mut out = BTreeMap::new();
        let mut tasks: Vec<&Task> = self.tasks.values().filter(|t| wants_media(t)).collect();
        tasks.sort_by_key(|t| std::cmp::Reverse(t.provisioned_unix_ms));
        for t in tasks {
            let (Some(cci), Ok(collector)) = (t.cci, t.spec.collector.parse()) else {
                continue;
            };
            if covers(t, now) {
                let i = Intercept {
                    cci: Cci(cci),
                    collector,
                };
                out.entry(number_key(&t.spec.target).to_string())
                    .or_insert((t.spec.case_id.clone(), i));
            }
        }
        out
    }

    /// The first time after `now` at which [`Self::media_at`] may change:
    /// a task's start, or the millisecond after its (inclusive) end.
    pub fn next_media_change(&self, now: u64) -> Option<u64> {
        self.tasks
            .values()
            .filter(|t| wants_media(t))
            .flat_map(|t| [t.spec.start_unix_ms, t.spec.end_unix_ms.saturating_add(1)])
            .filter(|&at| at > now)
            .min()
    }

    /// The checks before any record leaves: the task exists, is not
    /// revoked, is in force at `now`, allows `mode`, names `target`, and
    /// (historical) covers the whole `window`.
    pub fn authorize(
        &self,
        case: &str,
        target: &str,
        mode: Mode,
        window: Option<Window>,
        now: u64,
    ) -> Result<&Task, Refusal> {
        let t = self
            .tasks
            .get(case)
            .ok_or_else(|| Refusal::UnknownTask(case.to_string()))?;
        let case = || case.to_string();
        if t.revoked_unix_ms.is_some() {
            return Err(Refusal::Revoked(case()));
        }
        if now < t.spec.start_unix_ms {
            return Err(Refusal::NotYetActive(case()));
        }
        if now > t.spec.end_unix_ms {
            return Err(Refusal::Expired(case()));
        }
        if !t.spec.modes.contains(&mode) {
            return Err(Refusal::ModeNotAllowed {
                case: case(),
                mode: mode.name(),
            });
        }
        if t.spec.target != target {
            return Err(Refusal::WrongTarget(case()));
        }
        if let Some(w) = window {
            let inside = w.from_ms < w.to_ms
                && w.from_ms >= t.spec.start_unix_ms
                && w.to_ms <= t.spec.end_unix_ms.saturating_add(1);
            if !inside {
                return Err(Refusal::WindowOutside(case()));
            }
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(case: &str) -> TaskSpec {
        TaskSpec {
            case_id: case.into(),
            target: "4001".into(),
            start_unix_ms: 1_000,
            end_unix_ms: 2_000,
            modes: vec![Mode::Historical, Mode::Future, Mode::Future],
            collector: "127.0.0.1:5000".into(),
            cci: None,
        }
    }

    #[test]
    fn provision_is_idempotent_and_case_ids_unique() {
        let mut book = TaskBook::default();
        let (t, new) = book
            .provision(spec("C-1"), 500, "calea", &mut || 7)
            .unwrap();
        assert!(new);
        assert_eq!(t.spec.modes, vec![Mode::Future, Mode::Historical]);
        assert!(
            !book
                .provision(spec("C-1"), 600, "calea", &mut || 7)
                .unwrap()
                .1
        );
        let mut other = spec("C-1");
        other.target = "4002".into();
        assert_eq!(
            book.provision(other, 600, "calea", &mut || 7),
            Err(Refusal::DuplicateCase("C-1".into()))
        );
        book.revoke("C-1", 700).unwrap();
        assert_eq!(book.revoke("C-1", 800), Err(Refusal::Revoked("C-1".into())));
        assert!(book
            .provision(spec("C-1"), 900, "calea", &mut || 7)
            .is_err());
    }

    #[test]
    fn bad_specs_are_refused() {
        let mut book = TaskBook::default();
        for case in ["", "..", "a/b", ".x", "a b"] {
            assert!(
                book.provision(spec(case), 0, "x", &mut || 7).is_err(),
                "{case:?}"
            );
        }
        let mut s = spec("C");
        s.target = "40-01".into();
        assert!(book.provision(s, 0, "x", &mut || 7).is_err());
        let mut s = spec("C");
        s.end_unix_ms = s.start_unix_ms;
        assert!(book.provision(s, 0, "x", &mut || 7).is_err());
        let mut s = spec("C");
        s.modes.clear();
        assert!(book.provision(s, 0, "x", &mut || 7).is_err());
        let mut s = spec("C");
        s.collector = "collector.example:5000".into();
        assert!(book.provision(s, 0, "x", &mut || 7).is_err());
        assert_eq!(book.tasks().count(), 0);
    }

    #[test]
    fn every_check_has_its_refusal() {
        let mut book = TaskBook::default();
        book.provision(spec("C-1"), 0, "calea", &mut || 7).unwrap();
        let w = |from_ms, to_ms| Some(Window { from_ms, to_ms });
        let h = Mode::Historical;
        assert!(book
            .authorize("C-1", "4001", h, w(1_000, 2_001), 1_500)
            .is_ok());
        assert!(book
            .authorize("C-1", "4001", Mode::Future, None, 2_000)
            .is_ok());
        let refusal = |book: &TaskBook, case, target, mode, window, now| {
            book.authorize(case, target, mode, window, now)
                .unwrap_err()
                .code()
        };
        assert_eq!(
            refusal(&book, "C-2", "4001", h, None, 1_500),
            "unknown_task"
        );
        assert_eq!(
            refusal(&book, "C-1", "4001", h, None, 999),
            "task_not_active"
        );
        assert_eq!(
            refusal(&book, "C-1", "4001", h, None, 2_001),
            "task_expired"
        );
        assert_eq!(
            refusal(&book, "C-1", "4001", Mode::Current, None, 1_500),
            "mode_not_allowed"
        );
        assert_eq!(
            refusal(&book, "C-1", "4002", h, None, 1_500),
            "wrong_target"
        );
        for (from, to) in [(999, 1_500), (1_500, 2_002), (1_500, 1_500), (0, u64::MAX)] {
            assert_eq!(
                refusal(&book, "C-1", "4001", h, w(from, to), 1_500),
                "window_outside_task"
            );
        }
        book.revoke("C-1", 1_600).unwrap();
        assert_eq!(
            refusal(&book, "C-1", "4001", h, None, 1_700),
            "task_revoked"
        );
    }

    #[test]
    fn ccis_are_unique_and_media_follows_the_window() {
        let mut book = TaskBook::default();
        let mut draws = [7, 7, 0, 9].into_iter();
        let mut fresh = move || draws.next().unwrap_or(1);
        let (a, _) = book.provision(spec("C-1"), 0, "x", &mut fresh).unwrap();
        assert_eq!(a.cci, Some(7));
        // 7 is taken and 0 is never used: the next free draw.
        let mut s = spec("C-2");
        s.target = "+4002".into();
        let (b, _) = book.provision(s, 0, "x", &mut fresh).unwrap();
        assert_eq!(b.cci, Some(9));
        let mut asked = spec("C-3");
        asked.cci = Some(9);
        assert_eq!(
            book.provision(asked.clone(), 0, "x", &mut fresh)
                .unwrap_err()
                .code(),
            "duplicate_cci"
        );
        asked.cci = Some(0xBEE);
        asked.modes = vec![Mode::Historical];
        let (c, _) = book.provision(asked, 0, "x", &mut fresh).unwrap();
        assert_eq!(c.cci, Some(0xBEE));

        // Windows are [1000, 2000] for all three; C-3 is historical only.
        assert!(book.media_at(999).is_empty());
        assert_eq!(book.next_media_change(0), Some(1_000));
        let on = book.media_at(1_000);
        assert_eq!(on.keys().collect::<Vec<_>>(), ["4001", "4002"]);
        assert_eq!(on["4001"].0, "C-1");
        assert_eq!(on["4001"].1.cci, Cci(7));
        assert_eq!(on["4002"].1.collector.to_string(), "127.0.0.1:5000");
        assert_eq!(book.media_at(2_000).len(), 2);
        assert_eq!(book.next_media_change(1_000), Some(2_001));
        assert!(book.media_at(2_001).is_empty());
        assert_eq!(book.next_media_change(2_001), None);
        book.revoke("C-1", 1_500).unwrap();
        assert_eq!(book.media_at(1_500).keys().collect::<Vec<_>>(), ["4002"]);
        // A later task on the same target takes its media over.
        let mut later = spec("C-4");
        later.target = "4002".into();
        let (d, _) = book.provision(later, 100, "x", &mut fresh).unwrap();
        assert_eq!(book.media_at(1_500)["4002"].1.cci, Cci(d.cci.unwrap()));
    }
}
