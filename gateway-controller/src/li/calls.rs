//! What the LI service needs from the call driver: the calls in progress
//! whose keys are durable ("current"), and a feed of each call whose key
//! has just become durable, to the future-mode streams of its parties.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

/// Bound on calls remembered as in progress, in case an end is never seen
/// (a call abandoned while its escrow was in flight).
const MAX_LIVE: usize = 1 << 20;

#[derive(Default)]
pub struct Calls {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Call id → caller and callee numbers.
    live: HashMap<String, (String, String)>,
    followers: Vec<Follower>,
    next_id: u64,
}

struct Follower {
    id: u64,
    case: String,
    target: String,
    tx: mpsc::UnboundedSender<String>,
}

/// A future-mode stream's subscription; dropping it unsubscribes.
pub struct Subscription {
    calls: Arc<Calls>,
    id: u64,
    pub rx: mpsc::UnboundedReceiver<String>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let id = self.id;
        self.calls.lock().followers.retain(|f| f.id != id);
    }
}

impl Calls {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The driver: this call's key is durable in the escrow store. Called
    /// before the key is sent, so a stream gets the record as the call is
    /// set up.
    pub fn durable(&self, call_id: &str, caller: &str, callee: &str) {
        let mut inner = self.lock();
        if inner.live.len() < MAX_LIVE {
            inner.live.insert(
                call_id.to_string(),
                (caller.to_string(), callee.to_string()),
            );
        }
        // An unbounded channel per stream: the driver never waits for one;
        // only the target's calls go into it.
        inner.followers.retain(|f| {
            if f.target == caller || f.target == callee {
                f.tx.send(call_id.to_string()).is_ok()
            } else {
                !f.tx.is_closed()
            }
        });
    }

    /// The driver: the call ended or was refused.
    pub fn ended(&self, call_id: &str) {
        self.lock().live.remove(call_id);
    }

    /// Call ids of the calls in progress where `number` is a party.
    pub fn in_progress(&self, number: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .lock()
            .live
            .iter()
            .filter(|(_, (a, b))| a == number || b == number)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Subscribes a future-mode stream of `case` to `target`'s calls.
    pub fn follow(self: &Arc<Self>, case: &str, target: &str) -> Subscription {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.followers.push(Follower {
            id,
            case: case.to_string(),
            target: target.to_string(),
            tx,
        });
        drop(inner);
        Subscription {
            calls: self.clone(),
            id,
            rx,
        }
    }

    /// Ends every stream of a revoked case (their channels close).
    pub fn drop_case(&self, case: &str) {
        self.lock().followers.retain(|f| f.case != case);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_only_the_target_and_forgets_ended_calls() {
        let calls = Arc::new(Calls::default());
        let mut sub = calls.follow("C-1", "4001");
        calls.durable("c1", "4001", "4002");
        calls.durable("c2", "4003", "4004");
        calls.durable("c3", "4002", "4001");
        assert_eq!(sub.rx.try_recv().unwrap(), "c1");
        assert_eq!(sub.rx.try_recv().unwrap(), "c3");
        assert!(sub.rx.try_recv().is_err());
        assert_eq!(calls.in_progress("4001"), vec!["c1", "c3"]);
        calls.ended("c1");
        assert_eq!(calls.in_progress("4001"), vec!["c3"]);
        assert_eq!(calls.in_progress("4004"), vec!["c2"]);
        calls.drop_case("C-1");
        assert!(matches!(
            sub.rx.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        drop(sub);
        let sub = calls.follow("C-2", "4001");
        drop(sub);
        assert!(calls.lock().followers.is_empty());
    }
}
