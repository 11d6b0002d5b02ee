//! The LI API's handler: every request is checked against the task book
//! and audited, and only then answered. What leaves is sealed records and
//! their clear metadata, never a key.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use cablekey_protocol::escrow::{EpochRecord, EscrowRecord};
use cablekey_protocol::li::{ApiError, Delivery, Line, Mode, Task, TaskSpec};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use tokio::sync::{mpsc, Mutex, Notify};

use super::audit::{Entry, Head};
use super::calls::{Calls, Subscription};
use super::clients::Clients;
use super::files::{self, AuditLog};
use super::identity::Identity;
use super::route::{self, Op};
use super::task::{covers, Refusal, TaskBook, Window};
use crate::escrow::{unix_ms, Escrow, EscrowStore, Filed, TimeRange};
use crate::intercept::Intercept;
use crate::service::InterceptCommand;

/// Largest request body (a task spec).
const MAX_BODY: usize = 64 * 1024;
/// Most records in one historical answer: narrow the window beyond that.
const MAX_RECORDS: usize = 100_000;
/// How often an open future stream checks that its client is still allowed.
const RECHECK_CLIENT: Duration = Duration::from_secs(1);
/// Response header carrying the audit chain's head after this request.
pub const AUDIT_HEAD: &str = "cablekey-audit-head";

/// Who is asking: the verified certificate and the address.
#[derive(Debug, Clone)]
pub struct Client {
    pub identity: String,
    pub peer: SocketAddr,
    /// The certificate, for the allow-list and revocation checks.
    pub cert: Option<Identity>,
}

/// A response body: whole, or a stream of JSON lines.
pub enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
        }
    }
}

/// What a granted request answers.
enum Answer {
    /// `case`: the task's case id, for the audit entry.
    Json {
        status: u16,
        body: Vec<u8>,
        case: Option<String>,
    },
    Lines(Vec<Delivery>),
    Follow(Task, String),
}

pub struct Api<S> {
    book: Mutex<TaskBook>,
    tasks_path: PathBuf,
    audit: AuditLog,
    escrow: Arc<Escrow<S>>,
    calls: Arc<Calls>,
    clients: Clients,
    /// Woken when the book changes, so media intercepts follow it.
    media: Notify,
}

/// Longest the media loop sleeps without looking at the book again (the
/// wall clock may be stepped).
const MEDIA_RECHECK: Duration = Duration::from_secs(30);

/// A fresh call-content identifier from the OS generator.
fn fresh_cci() -> u32 {
    use getrandom::rand_core::{Rng, UnwrapErr};
    UnwrapErr(getrandom::SysRng).next_u32()
}

fn line(l: &Line) -> Bytes {
    let mut v = serde_json::to_vec(l).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn unavailable(e: impl std::fmt::Display) -> Refusal {
    Refusal::Unavailable(e.to_string())
}

/// Whether `target` is a party of the record (the index is derived data:
/// the record's own, authenticated, metadata decides).
fn is_party(r: &EscrowRecord, target: &str) -> bool {
    r.meta.has_party(target)
}

fn summary(deliveries: &[Delivery]) -> String {
    let ids: Vec<&str> = deliveries
        .iter()
        .take(50)
        .map(|d| d.call_id.as_str())
        .collect();
    let more = if deliveries.len() > ids.len() {
        " …"
    } else {
        ""
    };
    match ids.is_empty() {
        true => "0 records".into(),
        false => format!("{} records: {}{more}", deliveries.len(), ids.join(" ")),
    }
}

/// A record as it leaves: the record and its epoch record, base64.
pub async fn delivery<S: EscrowStore>(store: &S, r: &EscrowRecord) -> Result<Delivery, Refusal> {
    let epoch = store
        .epoch(r.sealed.epoch)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| unavailable(format!("epoch record of call {} missing", r.meta.call_id)))?;
    Ok(encoded(r, &epoch))
}

fn encoded(r: &EscrowRecord, epoch: &EpochRecord) -> Delivery {
    Delivery {
        call_id: r.meta.call_id.clone(),
        record: STANDARD.encode(r.encode()),
        epoch: STANDARD.encode(epoch.encode()),
    }
}

/// The store side of a granted historical request (the task checks come
/// before): the records of `target`'s calls that started in `w`, each with
/// its epoch record. Public for `cablekey bench lookup`.
pub async fn historical<S: EscrowStore>(
    store: &S,
    target: &str,
    w: Window,
) -> Result<Vec<Delivery>, Refusal> {
    let range = TimeRange {
        from_ms: w.from_ms,
        to_ms: w.to_ms,
    };
    let found = store.by_party(target, range).await.map_err(unavailable)?;
    let mut out = Vec::new();
    for Filed { record: r, epoch } in found.iter().filter(|f| is_party(&f.record, target)) {
        if !(w.from_ms..w.to_ms).contains(&r.meta.start_unix_ms) {
            continue;
        }
        if out.len() == MAX_RECORDS {
            return Err(Refusal::BadRequest(format!(
                "more than {MAX_RECORDS} records: narrow the window"
            )));
        }
        out.push(encoded(r, epoch));
    }
    Ok(out)
}

impl<S: EscrowStore> Api<S> {
    pub fn new(
        book: TaskBook,
        tasks_path: PathBuf,
        audit: AuditLog,
        escrow: Arc<Escrow<S>>,
        calls: Arc<Calls>,
        clients: Clients,
    ) -> Api<S> {
        Api {
            book: Mutex::new(book),
            tasks_path,
            audit,
            escrow,
            calls,
            clients,
            media: Notify::new(),
        }
    }

    /// Keeps the call core's media intercepts what the task book asks for
    /// ([`TaskBook::media_at`]): on start (tasks survive restarts), when a
    /// task is provisioned or revoked, and at each task's start and end.
    /// Each change is audited (`media-on` / `media-off`, the case and the
    /// CCI; the target is in the task) and sent to the driver, whose
    /// `set_intercept` / `clear_intercept` also re-tap calls in progress.
    /// Ends when the driver is gone.
    pub async fn media_taps(self: Arc<Self>, tx: mpsc::UnboundedSender<InterceptCommand>) {
        let mut applied: std::collections::BTreeMap<String, (String, Intercept)> =
            Default::default();
        loop {
            let now = unix_ms();
            let (want, next) = {
                let book = self.book.lock().await;
                (book.media_at(now), book.next_media_change(now))
            };
            // A task that stops (or is replaced on its target) is off; a
            // new one is on. Replacing needs no Clear: Set replaces.
            let mut changes: Vec<(&str, &str, Intercept, Option<InterceptCommand>)> = Vec::new();
            for (n, old) in &applied {
                if want.get(n) != Some(old) {
                    let clear = (!want.contains_key(n)).then(|| InterceptCommand::Clear(n.clone()));
                    changes.push(("media-off", &old.0, old.1, clear));
                }
            }
            for (n, new) in &want {
                if applied.get(n) != Some(new) {
                    let set = InterceptCommand::Set(n.clone(), new.1);
                    changes.push(("media-on", &new.0, new.1, Some(set)));
                }
            }
            for (op, case, i, command) in changes {
                let who = Client {
                    identity: "controller".into(),
                    peer: SocketAddr::from(([0, 0, 0, 0], 0)),
                    cert: None,
                };
                let mut e = Self::entry(&who, op, Some(case), None);
                e.outcome = "done".into();
                e.detail = format!("es-cci {} es-ccd {}", i.cci, i.collector);
                if let Err(err) = self.audit.append(e).await {
                    // Not audited, still done: stopping an intercept must
                    // not wait for the disk, and starting one is the
                    // warrant's order. The log says so.
                    tracing::error!(case = %case, "audit log: {err}; {op} not audited");
                }
                tracing::info!(case = %case, cci = %i.cci, "{op}");
                if command.is_some_and(|c| tx.send(c).is_err()) {
                    return;
                }
            }
            applied = want;
            let left = next.map_or(MEDIA_RECHECK, |at| {
                Duration::from_millis(at.saturating_sub(now)).min(MEDIA_RECHECK)
            });
            tokio::select! {
                _ = self.media.notified() => {}
                _ = tokio::time::sleep(left) => {}
            }
        }
    }

    fn entry(who: &Client, op: &str, case: Option<&str>, target: Option<&str>) -> Entry {
        Entry {
            time_unix_ms: unix_ms(),
            client: who.identity.clone(),
            peer: who.peer.to_string(),
            op: op.into(),
            case: case.map(str::to_string),
            target: target.map(str::to_string),
            outcome: "refused".into(),
            status: 0,
            detail: String::new(),
        }
    }

    /// Audits a refused TLS handshake (no certificate, another CA, …).
    pub async fn handshake_refused(&self, peer: SocketAddr, why: &str) {
        let who = Client {
            identity: "-".into(),
            peer,
            cert: None,
        };
        let mut e = Self::entry(&who, "tls-handshake", None, None);
        e.detail = why.to_string();
        if let Err(err) = self.audit.append(e).await {
            tracing::error!("audit log: {err}");
        }
    }

    pub async fn handle(self: Arc<Self>, who: Client, req: Request<Incoming>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let op = route::parse(parts.method.as_str(), parts.uri.path(), parts.uri.query());
        let (name, case, target) = match &op {
            Ok(op @ Op::Keys { case, target, .. }) => {
                (op.name(), Some(case.clone()), Some(target.clone()))
            }
            Ok(op @ Op::Revoke { case }) => (op.name(), Some(case.clone()), None),
            Ok(op) => (op.name(), None, None),
            Err(_) => ("unknown", None, None),
        };
        let mut entry = Self::entry(&who, name, case.as_deref(), target.as_deref());
        if name == "unknown" {
            entry.detail = format!("{} {}", parts.method, parts.uri.path());
        }
        // Who may ask comes before what is asked.
        let allowed = self.allowed(&who);
        let result = match (allowed, op) {
            (Err(r), _) => Err(r),
            (Ok(()), Ok(op)) => self.run(&who, op, body).await,
            (Ok(()), Err(r)) => Err(r),
        };
        let (status, detail) = match &result {
            Ok(Answer::Json { status, case, .. }) => {
                if entry.case.is_none() {
                    entry.case = case.clone();
                }
                (*status, "done".to_string())
            }
            Ok(Answer::Lines(d)) => (200, summary(d)),
            Ok(Answer::Follow(..)) => (200, "stream opened".to_string()),
            Err(r) => (r.status(), format!("{}: {r}", r.code())),
        };
        entry.outcome = if result.is_ok() { "granted" } else { "refused" }.into();
        entry.status = status;
        if !entry.detail.is_empty() {
            entry.detail = format!("{}; {detail}", entry.detail);
        } else {
            entry.detail = detail;
        }
        // Fail closed: nothing is answered that is not audited first.
        let head = match self.audit.append(entry).await {
            Ok(h) => h,
            Err(e) => {
                tracing::error!("audit log: {e}; refusing the request");
                return refusal(&unavailable("audit log unavailable"), None);
            }
        };
        match result {
            Err(r) => refusal(&r, Some(head)),
            Ok(Answer::Json { status, body, .. }) => reply(
                status,
                head,
                "application/json",
                Body::Full(Some(body.into())),
            ),
            Ok(Answer::Lines(deliveries)) => {
                let n = deliveries.len() as u64;
                let mut out = Vec::new();
                for d in deliveries {
                    out.extend_from_slice(&line(&Line::Record(d)));
                }
                out.extend_from_slice(&line(&Line::End {
                    reason: "complete".into(),
                    delivered: n,
                }));
                reply(
                    200,
                    head,
                    "application/x-ndjson",
                    Body::Full(Some(out.into())),
                )
            }
            Ok(Answer::Follow(task, target)) => {
                let (tx, rx) = mpsc::channel(16);
                let sub = self.calls.follow(&task.spec.case_id, &target);
                tokio::spawn(self.clone().stream(who, task, target, sub, tx));
                reply(200, head, "application/x-ndjson", Body::Stream(rx))
            }
        }
    }

    async fn run(&self, who: &Client, op: Op, body: Incoming) -> Result<Answer, Refusal> {
        match op {
            Op::List => {
                let tasks: Vec<Task> = self.book.lock().await.tasks().cloned().collect();
                let body = serde_json::to_vec(&tasks).map_err(unavailable)?;
                Ok(Answer::Json {
                    status: 200,
                    body,
                    case: None,
                })
            }
            Op::Provision => {
                let bytes = http_body_util::Limited::new(body, MAX_BODY)
                    .collect()
                    .await
                    .map_err(|e| Refusal::BadRequest(format!("body: {e}")))?
                    .to_bytes();
                let spec: TaskSpec = serde_json::from_slice(&bytes)
                    .map_err(|e| Refusal::BadRequest(format!("task: {e}")))?;
                let mut book = self.book.lock().await;
                let mut next = book.clone();
                let (task, new) = next.provision(spec, unix_ms(), &who.identity, &mut fresh_cci)?;
                if new {
                    self.save(&next).await?;
                    *book = next;
                    self.media.notify_one();
                }
                let body = serde_json::to_vec(&task).map_err(unavailable)?;
                Ok(Answer::Json {
                    status: if new { 201 } else { 200 },
                    body,
                    case: Some(task.spec.case_id),
                })
            }
            Op::Revoke { case } => {
                let mut book = self.book.lock().await;
                let mut next = book.clone();
                let task = next.revoke(&case, unix_ms())?;
                self.save(&next).await?;
                *book = next;
                self.media.notify_one();
                self.calls.drop_case(&case);
                let body = serde_json::to_vec(&task).map_err(unavailable)?;
                Ok(Answer::Json {
                    status: 200,
                    body,
                    case: None,
                })
            }
            Op::Keys {
                case,
                mode,
                target,
                window,
            } => {
                let task = self
                    .book
                    .lock()
                    .await
                    .authorize(&case, &target, mode, window, unix_ms())?
                    .clone();
                match (mode, window) {
                    (Mode::Historical, Some(w)) => {
                        self.historical(&target, w).await.map(Answer::Lines)
                    }
                    (Mode::Current, _) => self.current(&target).await.map(Answer::Lines),
                    (Mode::Future, _) => Ok(Answer::Follow(task, target)),
                    (Mode::Historical, None) => {
                        Err(Refusal::BadRequest("from and to are required".into()))
                    }
                }
            }
        }
    }

    async fn save(&self, book: &TaskBook) -> Result<(), Refusal> {
        let (path, book) = (self.tasks_path.clone(), book.clone());
        match tokio::task::spawn_blocking(move || files::save_tasks(&path, &book)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::error!("LI tasks not saved: {e}");
                Err(unavailable("the task book could not be saved"))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Whether `who`'s certificate may use the API now (allow-list,
    /// revocation list).
    fn allowed(&self, who: &Client) -> Result<(), Refusal> {
        match &who.cert {
            Some(cert) => self.clients.check(cert),
            None => Err(Refusal::ClientNotAllowed),
        }
    }

    async fn delivery(&self, r: &EscrowRecord) -> Result<Delivery, Refusal> {
        delivery(self.escrow.store(), r).await
    }

    async fn historical(&self, target: &str, w: Window) -> Result<Vec<Delivery>, Refusal> {
        historical(self.escrow.store(), target, w).await
    }

    async fn current(&self, target: &str) -> Result<Vec<Delivery>, Refusal> {
        let mut out = Vec::new();
        for id in self.calls.in_progress(target) {
            match self.escrow.store().get(&id).await.map_err(unavailable)? {
                Some(r) if is_party(&r, target) && r.ended_unix_ms.is_none() => {
                    out.push(self.delivery(&r).await?)
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// A future-mode stream: each of the target's calls whose key becomes
    /// durable is audited, then sent, until the task ends or is revoked,
    /// the client goes, or its certificate is revoked (checked before each
    /// record and every `RECHECK_CLIENT`, so no key leaves after a revocation).
    async fn stream(
        self: Arc<Self>,
        who: Client,
        task: Task,
        target: String,
        mut sub: Subscription,
        tx: mpsc::Sender<Bytes>,
    ) {
        let case = task.spec.case_id.clone();
        let left = task
            .spec
            .end_unix_ms
            .saturating_add(1)
            .saturating_sub(unix_ms());
        let ends = tokio::time::sleep(Duration::from_millis(left));
        tokio::pin!(ends);
        let mut recheck = tokio::time::interval(RECHECK_CLIENT);
        let mut delivered = 0u64;
        let mut refused = None;
        let reason = loop {
            let id = tokio::select! {
                id = sub.rx.recv() => match id {
                    Some(id) => id,
                    None => break "task revoked",
                },
                _ = &mut ends => break "task ended",
                _ = tx.closed() => break "client closed the stream",
                _ = recheck.tick() => match self.allowed(&who) {
                    Ok(()) => continue,
                    Err(r) => {
                        refused = Some(r);
                        break "client no longer allowed";
                    }
                },
            };
            if let Err(r) = self.allowed(&who) {
                refused = Some(r);
                break "client no longer allowed";
            }
            let record = match self.escrow.store().get(&id).await {
                Ok(Some(r)) if is_party(&r, &target) && covers(&task, r.meta.start_unix_ms) => r,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(case = %case, "LI stream: record not read: {e}");
                    continue;
                }
            };
            let d = match self.delivery(&record).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(case = %case, "LI stream: {e}");
                    continue;
                }
            };
            let mut e = Self::entry(&who, "future-record", Some(&case), Some(&target));
            e.outcome = "granted".into();
            e.status = 200;
            e.detail = format!("call {id}");
            if let Err(err) = self.audit.append(e).await {
                tracing::error!("audit log: {err}; ending the stream");
                break "audit log unavailable";
            }
            if tx.send(line(&Line::Record(d))).await.is_err() {
                break "client closed the stream";
            }
            delivered += 1;
        };
        let reason = match &refused {
            Some(r) => format!("{reason} ({})", r.code()),
            None => reason.to_string(),
        };
        let _ = tx
            .send(line(&Line::End {
                reason: reason.clone(),
                delivered,
            }))
            .await;
        let mut e = Self::entry(&who, "future-end", Some(&case), Some(&target));
        e.outcome = "granted".into();
        e.status = 200;
        e.detail = format!("{reason}; {delivered} records delivered");
        if let Some(r) = refused {
            e.outcome = "refused".into();
            e.status = r.status();
            e.detail = format!("{}: {r}; {delivered} records delivered", r.code());
        }
        if let Err(err) = self.audit.append(e).await {
            tracing::error!("audit log: {err}");
        }
    }
}

fn reply(status: u16, head: Head, content_type: &str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    let headers = r.headers_mut();
    if let Ok(v) = content_type.parse() {
        headers.insert(hyper::header::CONTENT_TYPE, v);
    }
    if let Ok(v) = format!("{}:{}", head.seq, head.hash_hex()).parse() {
        headers.insert(AUDIT_HEAD, v);
    }
    r
}

fn refusal(r: &Refusal, head: Option<Head>) -> Response<Body> {
    let body = serde_json::to_vec(&ApiError {
        error: r.code().into(),
        message: r.to_string(),
    })
    .unwrap_or_default();
    let mut resp = reply(
        r.status(),
        head.unwrap_or(Head::EMPTY),
        "application/json",
        Body::Full(Some(body.into())),
    );
    if head.is_none() {
        resp.headers_mut().remove(AUDIT_HEAD);
    }
    resp
}
