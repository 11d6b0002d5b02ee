//! The driver task: one loop owns the call core and feeds it datagrams,
//! escrow answers and timeouts. It polls the escrows itself rather than
//! spawning a task for each: the store's acknowledgement then wakes this
//! task directly, one thread hop fewer per call.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use cablekey_protocol::time::Instant;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::batch::{self, RecvBatch};
use super::gateways::Keeper;
use super::metrics::Metrics;
use super::ServiceEscrow;
use crate::escrow::{unix_ms, EscrowStore};
use crate::{Controller, EscrowFailure, Event, Intercept};

/// An intercept task set or cleared by the LI side ([`super::Running::intercepts`]).
/// Not `Debug`: it names a target.
pub enum InterceptCommand {
    Set(String, Intercept),
    Clear(String),
}

/// An escrow's answer, back to the loop.
struct Escrowed {
    call_id: String,
    result: Result<(), EscrowFailure>,
}

type Pending<T> = FuturesUnordered<Pin<Box<dyn Future<Output = T> + Send>>>;

pub(super) struct Driver {
    ctrl: Controller<fn(&mut [u8])>,
    sock: UdpSocket,
    escrow: Arc<ServiceEscrow>,
    metrics: Arc<Metrics>,
    origin: std::time::Instant,
    /// Escrows on their way to the disk.
    escrows: Pending<Escrowed>,
    /// End times being stored (advisory: only logged if they fail).
    ends: Pending<()>,
    /// When each call was routed, for the setup latency.
    routed_at: HashMap<String, std::time::Instant>,
    /// The lawful-intercept service's view of calls, if it runs.
    pub li: Option<Arc<crate::li::Calls>>,
    intercepts: mpsc::UnboundedReceiver<InterceptCommand>,
    /// One turn's output, sent in batches.
    out: Vec<cablekey_protocol::mgcp::transaction::Transmit>,
    /// Where gateways registered from, for the next process.
    pub book: Option<Keeper>,
}

impl Driver {
    pub fn new(
        ctrl: Controller<fn(&mut [u8])>,
        sock: UdpSocket,
        escrow: Arc<ServiceEscrow>,
        metrics: Arc<Metrics>,
        intercepts: mpsc::UnboundedReceiver<InterceptCommand>,
    ) -> Driver {
        Driver {
            ctrl,
            sock,
            escrow,
            metrics,
            origin: std::time::Instant::now(),
            escrows: FuturesUnordered::new(),
            ends: FuturesUnordered::new(),
            routed_at: HashMap::new(),
            li: None,
            intercepts,
            out: Vec::new(),
            book: None,
        }
    }

    fn now(&self) -> Instant {
        let us = self.origin.elapsed().as_micros();
        Instant::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
    }

    fn tokio_instant(&self, at: Instant) -> tokio::time::Instant {
        let at = self.origin + Duration::from_micros(at.as_micros());
        tokio::time::Instant::from_std(at)
    }

    /// Nothing of ours is waiting for an answer.
    fn quiet(&self) -> bool {
        self.escrows.is_empty() && self.ctrl.transactions().outstanding() == 0
    }

    pub async fn run(mut self, mut stop: oneshot::Receiver<()>, grace: Duration) {
        let epochs = {
            let escrow = self.escrow.clone();
            tokio::spawn(async move { escrow.run_epoch_timer().await })
        };
        let now = self.now();
        self.ctrl.start(now);
        let mut rx = RecvBatch::new();
        let mut stopping: Option<tokio::time::Instant> = None;
        loop {
            self.flush().await;
            if let Some(book) = &mut self.book {
                book.write_if_due(self.ctrl.registry());
            }
            let book_due = self.book.as_ref().and_then(Keeper::due);
            if let Some(until) = stopping {
                if self.quiet() || tokio::time::Instant::now() >= until {
                    break;
                }
            }
            let wake = self.ctrl.poll_timeout().map(|t| self.tokio_instant(t));
            let stop_at = stopping.unwrap_or_else(tokio::time::Instant::now);
            tokio::select! {
                r = rx.recv(&self.sock) => {
                    // Everything already queued, one batch, before answering.
                    match r {
                        Ok(_) => loop {
                            for (from, bytes) in rx.datagrams() {
                                self.datagram(from, bytes);
                            }
                            // It took all it asked for: take the rest too.
                            if !rx.more() || !matches!(rx.recv_from(&self.sock), Ok(n) if n > 0) {
                                break;
                            }
                        },
                        Err(e) => tracing::warn!("MGCP receive failed: {e}"),
                    }
                }
                Some(done) = self.escrows.next(), if !self.escrows.is_empty() => {
                    let now = self.now();
                    self.ctrl.handle_escrowed(now, &done.call_id, done.result);
                    // One sync acknowledges a whole group: answer every
                    // escrow already done in this turn, so their CRCXs
                    // leave in one batch. (The next turn polls `escrows`
                    // with the task's waker again before it sleeps.)
                    while let Some(Some(done)) = self.escrows.next().now_or_never() {
                        self.ctrl.handle_escrowed(now, &done.call_id, done.result);
                    }
                }
                Some(()) = self.ends.next(), if !self.ends.is_empty() => {}
                Some(cmd) = self.intercepts.recv() => {
                    let now = self.now();
                    match cmd {
                        InterceptCommand::Set(number, i) => self.ctrl.set_intercept(now, &number, i),
                        InterceptCommand::Clear(number) => {
                            self.ctrl.clear_intercept(now, &number);
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake.unwrap_or(stop_at)), if wake.is_some() => {
                    let now = self.now();
                    self.ctrl.handle_timeout(now);
                }
                _ = &mut stop, if stopping.is_none() => {
                    tracing::info!(calls = self.ctrl.calls(), "shutting down: finishing transactions in flight");
                    stopping = Some(tokio::time::Instant::now() + grace);
                }
                _ = tokio::time::sleep_until(stop_at), if stopping.is_some() => {}
                _ = tokio::time::sleep_until(book_due.unwrap_or(stop_at)), if book_due.is_some() => {}
            }
        }
        epochs.abort();
        if let Some(book) = self.book.take() {
            book.finish(self.ctrl.registry()).await;
        }
        let left = self.ctrl.transactions().outstanding();
        tracing::info!(
            unanswered = left,
            escrows = self.escrows.len(),
            "controller stopped"
        );
    }

    fn datagram(&mut self, from: SocketAddr, bytes: &[u8]) {
        Metrics::inc(&self.metrics.datagrams_in);
        let now = self.now();
        self.ctrl.handle_datagram(now, from, bytes);
    }

    /// Sends what the core queued and acts on its events.
    async fn flush(&mut self) {
        self.out.clear();
        while let Some(t) = self.ctrl.poll_transmit() {
            self.out.push(t);
        }
        if !self.out.is_empty() {
            let metrics = &*self.metrics;
            let sent = batch::send_all(&self.sock, &self.out, |t, e| {
                Metrics::inc(&metrics.send_errors);
                tracing::warn!(to = %t.to, "MGCP send failed: {e}");
            })
            .await;
            Metrics::add(&metrics.datagrams_out, sent as u64);
        }
        while let Some(ev) = self.ctrl.poll_event() {
            self.event(ev);
        }
    }

    fn event(&mut self, ev: Event) {
        let m = &*self.metrics;
        match ev {
            Event::Escrow {
                call_id,
                record_meta,
                key,
            } => {
                let meta = record_meta.to_call_meta(unix_ms());
                let li = self.li.clone().map(|calls| {
                    (
                        calls,
                        meta.caller.number.clone(),
                        meta.callee.number.clone(),
                    )
                });
                let (escrow, metrics) = (self.escrow.clone(), self.metrics.clone());
                self.escrows.push(Box::pin(async move {
                    let t0 = std::time::Instant::now();
                    let result = escrow.escrow(meta, &key).await;
                    drop(key);
                    metrics.escrow_latency.record(t0.elapsed());
                    let result = match result {
                        Ok(_) => {
                            Metrics::inc(&metrics.keys_escrowed);
                            // Durable, not yet sent: LI streams get it now.
                            if let Some((calls, caller, callee)) = &li {
                                calls.durable(&call_id, caller, callee);
                            }
                            Ok(())
                        }
                        Err(e) => {
                            Metrics::inc(&metrics.escrow_failures);
                            tracing::error!(call = %call_id, "escrow failed, call refused: {e}");
                            Err(EscrowFailure::from(&e))
                        }
                    };
                    Escrowed { call_id, result }
                }));
            }
            Event::Registered { endpoints } => {
                Metrics::inc(&m.registrations);
                if let Some(book) = &mut self.book {
                    book.changed();
                }
                tracing::info!(
                    endpoints = endpoints.len(),
                    "gateway registered: {}",
                    endpoints.join(" ")
                );
            }
            Event::Dialing { call_id, caller } => {
                Metrics::inc(&m.calls_attempted);
                tracing::debug!(call = %call_id, %caller, "dial tone");
            }
            Event::Routed { call_id, callee } => {
                Metrics::inc(&m.calls_routed);
                tracing::debug!(call = %call_id, %callee, "routed");
                self.routed_at.insert(call_id, std::time::Instant::now());
            }
            Event::Ringing { call_id } => {
                Metrics::inc(&m.calls_ringing);
                if let Some(t0) = self.routed_at.remove(&call_id) {
                    m.setup_latency.record(t0.elapsed());
                }
                tracing::debug!(call = %call_id, "ringing");
            }
            Event::Connected { call_id } => {
                Metrics::inc(&m.calls_connected);
                tracing::info!(call = %call_id, "connected");
            }
            Event::Refused { call_id, reason } => {
                Metrics::inc(&m.calls_refused);
                self.routed_at.remove(&call_id);
                if let Some(li) = &self.li {
                    li.ended(&call_id);
                }
                tracing::warn!(call = %call_id, ?reason, "call refused");
            }
            Event::Ended { call_id, reason } => {
                Metrics::inc(&m.calls_ended);
                self.routed_at.remove(&call_id);
                if let Some(li) = &self.li {
                    li.ended(&call_id);
                }
                tracing::info!(call = %call_id, ?reason, "call ended");
                // The end time is advisory metadata; a failure only loses it.
                let end = self.escrow.store().set_end(&call_id, unix_ms());
                self.ends.push(Box::pin(async move {
                    match end.await {
                        Ok(_) | Err(crate::escrow::StoreError::NotFound) => {}
                        Err(e) => tracing::warn!(call = %call_id, "end time not stored: {e}"),
                    }
                }));
            }
            Event::Tapped {
                call_id,
                endpoint,
                active,
            } => {
                tracing::info!(call = %call_id, %endpoint, active, "media copies changed");
            }
            Event::TapFailed {
                call_id,
                endpoint,
                code,
            } => {
                let code = code.map(|c| c.0);
                tracing::warn!(call = %call_id, %endpoint, ?code, "media copies not changed");
            }
            Event::StaleConnection { endpoint, call_id } => {
                tracing::info!(%endpoint, call = %call_id, "audit: deleting a connection of a call we do not have");
            }
            Event::CommandFailed { endpoint, code } => {
                Metrics::inc(&m.command_failures);
                if matches!(code.0, 401 | 402) {
                    // The phone's hook moved while our request was on its
                    // way; the core has already followed it.
                    tracing::debug!(%endpoint, code = code.0, "hook state resynchronised");
                } else {
                    tracing::warn!(%endpoint, code = code.0, "command failed");
                }
            }
            Event::BadMessage { from, error } => {
                Metrics::inc(&m.bad_messages);
                tracing::warn!(%from, code = error.return_code().0, "bad MGCP message: {error}");
            }
        }
    }
}
