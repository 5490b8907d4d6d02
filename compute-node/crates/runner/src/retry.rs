//! Retrying a job's database and store operations through an outage: a transient error (the
//! database or the store unavailable, read-only or full: [`more_store::StoreError::is_transient`]) is retried
//! with backoff (0.5 s doubling to 10 s) until a time budget is spent; then the last error is
//! returned and the job ends `interrupted` (resumable), never `failed`.

use std::future::Future;
use std::time::{Duration, Instant};

use more_store::StoreResult;

use crate::error::JobError;

/// First pause after a transient error.
const FIRST_PAUSE: Duration = Duration::from_millis(500);
/// Longest pause between two tries.
const MAX_PAUSE: Duration = Duration::from_secs(10);
/// How often a pause looks at the stop flag.
const TICK: Duration = Duration::from_millis(100);

/// How long to retry, and when to give up early.
pub struct Budget<'a> {
    /// Total time spent retrying one operation before its error is returned (`None`: until
    /// `stopping`, for the save of a job's end, whose loss would leave the job `running`).
    pub limit: Option<Duration>,
    /// Set when the node stops: retrying ends at once.
    pub stopping: &'a (dyn Fn() -> bool + Sync),
}

impl Budget<'_> {
    /// Runs `op` until it succeeds, fails with an error that is not transient, or the budget is
    /// spent (pausing with tokio's timer, waking every 100 ms to look at the stop flag); logs
    /// each retry with `what`. A blocking thread runs it through the runtime's `block_on`.
    ///
    /// # Errors
    /// The last error of `op`.
    pub async fn run_async<T, F, Fut>(&self, what: &str, mut op: F) -> StoreResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = StoreResult<T>>,
    {
        let start = Instant::now();
        let mut pause = FIRST_PAUSE;
        loop {
            match op().await {
                Err(e) if e.is_transient() && self.may_wait(start, pause) => {
                    tracing::warn!(error = %e, what, retry_in = ?pause, "transient error; retrying");
                    let until = Instant::now() + pause;
                    while Instant::now() < until && !(self.stopping)() {
                        tokio::time::sleep(TICK).await;
                    }
                    pause = (pause * 2).min(MAX_PAUSE);
                }
                result => return result,
            }
        }
    }

    fn may_wait(&self, start: Instant, pause: Duration) -> bool {
        !(self.stopping)() && self.limit.is_none_or(|l| start.elapsed() + pause <= l)
    }
}

/// The message of a job left `interrupted` by a transient error.
pub fn interrupted_message(e: &JobError) -> String {
    format!("interrupted: {e} (its last checkpoint is kept; resume it)")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use more_store::blobs::ObjectStoreError;
    use more_store::{StoreError, StoreFault};

    use super::*;

    /// An object-store failure with `fault` (`None`: one waiting does not help).
    fn store_error(fault: Option<StoreFault>) -> StoreError {
        StoreError::ObjectStore {
            what: "put".into(),
            fault,
            source: ObjectStoreError::NotImplemented {
                operation: "test".into(),
                implementer: "test".into(),
            },
        }
    }

    fn block_on<T>(f: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn transient_errors_are_retried_until_they_pass() {
        let tries = AtomicUsize::new(0);
        let budget = Budget {
            limit: Some(Duration::from_secs(5)),
            stopping: &|| false,
        };
        let result = block_on(budget.run_async("test", || {
            tries.fetch_add(1, Ordering::SeqCst);
            let n = tries.load(Ordering::SeqCst);
            async move {
                if n < 3 {
                    Err(store_error(Some(StoreFault::Unreachable)))
                } else {
                    Ok(n)
                }
            }
        }));
        assert_eq!(result.ok(), Some(3));
    }

    #[test]
    fn other_errors_and_a_spent_budget_end_at_once() {
        let tries = AtomicUsize::new(0);
        let budget = Budget {
            limit: Some(Duration::from_millis(800)),
            stopping: &|| false,
        };
        let start = Instant::now();
        let result: StoreResult<()> = block_on(budget.run_async("test", || {
            tries.fetch_add(1, Ordering::SeqCst);
            async { Err(store_error(Some(StoreFault::Full))) }
        }));
        assert!(matches!(
            result,
            Err(StoreError::ObjectStore {
                fault: Some(StoreFault::Full),
                ..
            })
        ));
        // 0.5 s, then 1 s would pass the 0.8 s budget: two tries.
        assert_eq!(tries.load(Ordering::SeqCst), 2);
        assert!(start.elapsed() < Duration::from_secs(2));
        tries.store(0, Ordering::SeqCst);
        let result: StoreResult<()> = block_on(budget.run_async("test", || {
            tries.fetch_add(1, Ordering::SeqCst);
            async { Err(StoreError::Corrupt("corrupt record".into())) }
        }));
        assert!(matches!(result, Err(StoreError::Corrupt(_))));
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_stop_ends_an_unbounded_retry() {
        let tries = AtomicUsize::new(0);
        let budget = Budget {
            limit: None,
            stopping: &|| tries.load(Ordering::SeqCst) >= 2,
        };
        let result: StoreResult<()> = block_on(budget.run_async("test", || {
            tries.fetch_add(1, Ordering::SeqCst);
            async { Err(store_error(Some(StoreFault::Unreachable))) }
        }));
        assert!(result.is_err());
        assert_eq!(tries.load(Ordering::SeqCst), 2);
    }
}
