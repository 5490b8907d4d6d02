//! Retrying a job's database and store operations through an outage: a transient error (the
//! database or the store unavailable, read-only or full: [`ApiError::is_transient`]) is retried
//! with backoff (0.5 s doubling to 10 s) until a time budget is spent; then the last error is
//! returned and the job ends `interrupted` (resumable), never `failed`.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::{ApiError, ApiResult};

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
    pub async fn run_async<T, F, Fut>(&self, what: &str, mut op: F) -> ApiResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ApiResult<T>>,
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
pub fn interrupted_message(e: &ApiError) -> String {
    format!(
        "interrupted: {} (its last checkpoint is kept; resume it)",
        e.message
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn block_on<T>(f: impl Future<Output = ApiResult<T>>) -> ApiResult<T> {
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
                    Err(ApiError::unavailable("the database is unavailable"))
                } else {
                    Ok(n)
                }
            }
        }));
        assert_eq!(result, Ok(3));
    }

    #[test]
    fn other_errors_and_a_spent_budget_end_at_once() {
        let tries = AtomicUsize::new(0);
        let budget = Budget {
            limit: Some(Duration::from_millis(800)),
            stopping: &|| false,
        };
        let start = Instant::now();
        let result: ApiResult<()> = block_on(budget.run_async("test", || {
            tries.fetch_add(1, Ordering::SeqCst);
            async { Err(ApiError::insufficient_storage("the store is full")) }
        }));
        assert_eq!(result.unwrap_err().code, "insufficient_storage");
        // 0.5 s, then 1 s would pass the 0.8 s budget: two tries.
        assert_eq!(tries.load(Ordering::SeqCst), 2);
        assert!(start.elapsed() < Duration::from_secs(2));
        tries.store(0, Ordering::SeqCst);
        let result: ApiResult<()> = block_on(budget.run_async("test", || {
            tries.fetch_add(1, Ordering::SeqCst);
            async { Err(ApiError::internal("corrupt record")) }
        }));
        assert_eq!(result.unwrap_err().code, "internal");
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_stop_ends_an_unbounded_retry() {
        let tries = AtomicUsize::new(0);
        let budget = Budget {
            limit: None,
            stopping: &|| tries.load(Ordering::SeqCst) >= 2,
        };
        let result: ApiResult<()> = block_on(budget.run_async("test", || {
            tries.fetch_add(1, Ordering::SeqCst);
            async { Err(ApiError::unavailable("the store is unavailable")) }
        }));
        assert!(result.is_err());
        assert_eq!(tries.load(Ordering::SeqCst), 2);
    }
}
