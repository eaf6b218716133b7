//! [`ConnectionBudget`]: a bound on open connections, shared by every target
//! made from the same options.
//!
//! Each open connection holds one permit (and one file descriptor). A
//! target that needs a connection when none is free closes another target's
//! *idle* connection (no command or forwarded stream on it and no host
//! tunnelled through it: only its slot holds the handle),
//! oldest registered first, or waits until one becomes idle. So a run over
//! more hosts than the budget still finishes, reconnecting hosts as it comes
//! back to them, and never runs out of descriptors.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use russh::client::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::handler::Checker;

/// Open connections by default (the `deploy` CLI sizes it from the
/// descriptor limit instead).
pub const DEFAULT_CONNECTIONS: usize = 1024;

/// An open connection and the permit it holds.
pub(crate) struct Open {
    pub(crate) handle: Arc<Handle<Checker>>,
    _permit: OwnedSemaphorePermit,
    /// The jump host's connection this one is tunnelled through: held so
    /// that the jump host never looks idle while this one is open.
    _via: Option<Arc<Handle<Checker>>>,
}

/// Where a target keeps its connection.
pub(crate) type Slot = tokio::sync::Mutex<Option<Open>>;

/// The bound on open connections.
///
/// # Examples
///
/// ```
/// let budget = deploy_ssh::ConnectionBudget::new(500);
/// assert_eq!((budget.limit(), budget.open()), (500, 0));
/// ```
pub struct ConnectionBudget {
    limit: usize,
    permits: Arc<Semaphore>,
    holders: Mutex<Vec<Weak<Slot>>>,
}

impl std::fmt::Debug for ConnectionBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionBudget")
            .field("limit", &self.limit)
            .field("open", &self.open())
            .finish()
    }
}

impl ConnectionBudget {
    /// At most `limit` connections open at once (at least 1).
    pub fn new(limit: usize) -> ConnectionBudget {
        let limit = limit.max(1);
        ConnectionBudget {
            limit,
            permits: Arc::new(Semaphore::new(limit)),
            holders: Mutex::new(Vec::new()),
        }
    }

    /// The bound.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.limit - self.permits.available_permits()
    }

    /// Waits for a permit for `slot` (taken before the handshake), closing
    /// an idle connection of another target when none is free.
    pub(crate) async fn reserve(&self, slot: &Arc<Slot>) -> OwnedSemaphorePermit {
        loop {
            if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
                self.register(slot);
                return permit;
            }
            if self.close_idle(slot) {
                continue;
            }
            tokio::select! {
                permit = Arc::clone(&self.permits).acquire_owned() => {
                    if let Ok(permit) = permit {
                        self.register(slot);
                        return permit;
                    }
                }
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }

    fn register(&self, slot: &Arc<Slot>) {
        if let Ok(mut holders) = self.holders.lock() {
            holders
                .retain(|h| h.strong_count() > 0 && !std::ptr::eq(h.as_ptr(), Arc::as_ptr(slot)));
            holders.push(Arc::downgrade(slot));
        }
    }

    /// Closes the oldest idle connection of another target; true if one was.
    fn close_idle(&self, mine: &Arc<Slot>) -> bool {
        let Ok(mut holders) = self.holders.lock() else {
            return false;
        };
        holders.retain(|h| h.strong_count() > 0);
        for (index, weak) in holders.iter().enumerate() {
            let Some(slot) = weak.upgrade() else { continue };
            if Arc::ptr_eq(&slot, mine) {
                continue;
            }
            let Ok(mut guard) = slot.try_lock() else {
                continue;
            };
            let idle = guard
                .as_ref()
                .is_some_and(|open| Arc::strong_count(&open.handle) == 1);
            if idle {
                // Dropping the handle ends the session; the permit returns.
                *guard = None;
                drop(guard);
                holders.remove(index);
                return true;
            }
        }
        false
    }
}

impl Open {
    /// An open connection holding `permit` (and its jump host's, if any).
    pub(crate) fn new(
        handle: Arc<Handle<Checker>>,
        permit: OwnedSemaphorePermit,
        via: Option<Arc<Handle<Checker>>>,
    ) -> Open {
        Open {
            handle,
            _permit: permit,
            _via: via,
        }
    }
}
