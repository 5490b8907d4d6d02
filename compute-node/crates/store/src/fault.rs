//! Fault points for crash and race tests. Built with the `fault-injection` feature (test builds
//! only), `MORE_FAULT_POINT=name` (or `name:N`, the N-th time) aborts the process at that point,
//! as a `kill -9` would: no destructor, no flush; `MORE_FAULT_DELAY=name:MS` pauses the thread
//! there for MS milliseconds each time, holding a race window open. Without the feature every
//! point is a no-op.

/// After an upload's blob is durable, before the dataset row names it.
pub const UPLOAD_STORED: &str = "upload_stored";
/// After an epoch's checkpoint and losses blobs are durable, before the job row names them.
pub const EPOCH_STORED: &str = "epoch_stored";
/// After the trained weights blob is durable, before the model row names it.
pub const WEIGHTS_STORED: &str = "weights_stored";

/// Aborts the process if `MORE_FAULT_POINT` selects this point (and this hit); pauses if
/// `MORE_FAULT_DELAY` names it.
#[cfg(feature = "fault-injection")]
pub fn point(name: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static HITS: AtomicUsize = AtomicUsize::new(0);
    if let Some(ms) = std::env::var("MORE_FAULT_DELAY").ok().and_then(|spec| {
        let (point, ms) = spec.split_once(':')?;
        (point == name).then(|| ms.parse::<u64>().ok())?
    }) {
        eprintln!("fault injection: pausing {ms} ms at {name}");
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    let Ok(spec) = std::env::var("MORE_FAULT_POINT") else {
        return;
    };
    let (point, nth) = match spec.split_once(':') {
        Some((p, n)) => (p.to_string(), n.parse().unwrap_or(1)),
        None => (spec, 1),
    };
    if point == name && HITS.fetch_add(1, Ordering::SeqCst) + 1 == nth {
        eprintln!("fault injection: aborting at {name}");
        std::process::abort();
    }
}

/// Aborts or pauses if `MORE_FAULT_POINT` or `MORE_FAULT_DELAY` select this point (never, in
/// this build).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_name: &str) {}
