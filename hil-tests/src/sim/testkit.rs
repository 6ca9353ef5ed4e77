//! Helpers for the HIL tests: connectors that hand the driver the host end of a
//! simulated link, and waiting on health changes with a deadline (never a sleep
//! standing in for synchronisation), and where the real device of a
//! real-device test is.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use drivers::transport::{Backoff, FnConnector};
use drivers::{Health, HealthState};
use tokio::sync::{mpsc, watch, Mutex};

/// A connector that hands out streams the test pushes with the returned sender;
/// with none waiting it fails like a port that is not there.
#[allow(clippy::type_complexity)]
pub fn feed_connector<S: Send + 'static>(
    peer: &str,
) -> (
    FnConnector<
        impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = io::Result<S>> + Send>>
            + Send
            + Sync
            + 'static,
    >,
    mpsc::UnboundedSender<S>,
) {
    let (tx, rx) = mpsc::unbounded_channel::<S>();
    let rx = Arc::new(Mutex::new(rx));
    let f = move || {
        let rx = rx.clone();
        Box::pin(async move {
            rx.lock()
                .await
                .try_recv()
                .map_err(|_| io::Error::new(io::ErrorKind::NotFound, "no link attached"))
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = io::Result<S>> + Send>>
    };
    (FnConnector::new(peer, f), tx)
}

/// Backoff short enough for tests.
pub fn fast_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(20), Duration::from_millis(200))
}

/// Waits until the health is in `state`; panics with the last health after `limit`.
pub async fn wait_health(rx: &mut watch::Receiver<Health>, state: HealthState, limit: Duration) -> Health {
    let got = match tokio::time::timeout(limit, rx.wait_for(|h| h.state == state)).await {
        Ok(Ok(h)) => Some(h.clone()),
        Ok(Err(_)) => panic!("health channel closed while waiting for {state:?}"),
        Err(_) => None,
    };
    got.unwrap_or_else(|| {
        panic!("health did not become {state:?} within {limit:?}; last: {:?}", *rx.borrow())
    })
}

/// Where the real device of an ignored real-device test is. Those tests are
/// marked `#[ignore]` and run only on request (`-- --ignored`), so a missing
/// variable is a failure with the fix, never a silent pass.
pub fn real_device(var: &str, what: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!("set {var} to run this test against a real {what}"),
    }
}
