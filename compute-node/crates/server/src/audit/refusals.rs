//! Rate limit for refusals of unidentified callers (401s, Host/Origin guard 403s): per peer and
//! status, the first refusal of a window is written at once; the ones after it within the window
//! are only counted and written as one row (`count` = how many, the last one's method and route)
//! when the window ends or the node stops. A flood from one client then costs two rows per
//! window instead of one fsynced row per request.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::chain::Fields;

/// At most this many peers are tracked at once; refusals of further peers are written as they
/// come (the memory stays bounded, the rate limit then only holds for the tracked peers).
pub const MAX_PEERS: usize = 10_000;

/// What to do with a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Write it now.
    Write,
    /// Counted into the peer's open window.
    Counted,
}

struct Window {
    opened: Instant,
    first_micros: i64,
    repeats: i64,
    last: Option<Fields>,
}

/// The open windows.
pub struct Refusals {
    window: Duration,
    open: HashMap<(String, i32), Window>,
    /// Aggregated rows of windows that ended when their peer came back before a flush.
    pending: Vec<Fields>,
}

impl Refusals {
    /// Windows of `window` (zero: every refusal is written).
    pub fn new(window: Duration) -> Self {
        Refusals {
            window,
            open: HashMap::new(),
            pending: Vec::new(),
        }
    }

    /// Notes a refusal of `fields.peer` at `now`.
    pub fn note(&mut self, fields: &Fields, now: Instant) -> Decision {
        if self.window.is_zero() {
            return Decision::Write;
        }
        let key = (fields.peer.clone().unwrap_or_default(), fields.status);
        if let Some(w) = self.open.get_mut(&key) {
            if now.duration_since(w.opened) < self.window {
                w.repeats += 1;
                w.last = Some(fields.clone());
                return Decision::Counted;
            }
        }
        if let Some(ended) = self.open.remove(&key) {
            self.pending.extend(aggregate(ended));
        }
        if self.open.len() < MAX_PEERS {
            self.open.insert(
                key,
                Window {
                    opened: now,
                    first_micros: fields.at_micros,
                    repeats: 0,
                    last: None,
                },
            );
        }
        Decision::Write
    }

    /// The aggregated rows of the windows that ended by `now` (and forgets those windows).
    pub fn due(&mut self, now: Instant) -> Vec<Fields> {
        let window = self.window;
        self.take(|w| now.duration_since(w.opened) >= window)
    }

    /// The aggregated rows of every open window (at shutdown).
    pub fn drain(&mut self) -> Vec<Fields> {
        self.take(|_| true)
    }

    /// Peers tracked now.
    pub fn tracked(&self) -> usize {
        self.open.len()
    }

    fn take(&mut self, ended: impl Fn(&Window) -> bool) -> Vec<Fields> {
        let keys: Vec<(String, i32)> = self
            .open
            .iter()
            .filter(|(_, w)| ended(w))
            .map(|(k, _)| k.clone())
            .collect();
        let mut rows = std::mem::take(&mut self.pending);
        rows.extend(
            keys.into_iter()
                .filter_map(|k| self.open.remove(&k))
                .filter_map(aggregate),
        );
        rows
    }
}

fn aggregate(w: Window) -> Option<Fields> {
    let last = w.last?;
    let since = humantime::format_rfc3339_micros(micros_time(w.first_micros));
    Some(Fields {
        count: w.repeats,
        detail: Some(format!(
            "{} further refusals from this peer since {since}; the last one shown",
            w.repeats
        )),
        ..last
    })
}

fn micros_time(micros: i64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_micros(micros.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(peer: &str, status: i32, at: i64) -> Fields {
        Fields {
            id: format!("{at}"),
            at_micros: at,
            kind: "request".into(),
            tenant: None,
            subject: None,
            auth_method: None,
            method: "GET".into(),
            route: "/v1/models".into(),
            object_id: None,
            status,
            request_id: format!("n-{at}"),
            client_request_id: None,
            peer: Some(peer.into()),
            count: 1,
            detail: None,
        }
    }

    #[test]
    fn repeats_of_a_peer_become_one_row_per_window() {
        let t0 = Instant::now();
        let mut r = Refusals::new(Duration::from_secs(10));
        assert_eq!(r.note(&refusal("a", 401, 1), t0), Decision::Write);
        for i in 2..=50 {
            assert_eq!(r.note(&refusal("a", 401, i), t0), Decision::Counted);
        }
        // Another peer, or another status, has a window of its own.
        assert_eq!(r.note(&refusal("b", 401, 3), t0), Decision::Write);
        assert_eq!(r.note(&refusal("a", 403, 3), t0), Decision::Write);
        assert!(r.due(t0 + Duration::from_secs(5)).is_empty());
        let rows = r.due(t0 + Duration::from_secs(10));
        assert_eq!(rows.len(), 1, "only a's 401 window had repeats");
        assert_eq!((rows[0].count, rows[0].at_micros), (49, 50));
        assert_eq!(r.tracked(), 0);
        // The next refusal opens a new window and is written at once; a window that ended
        // before a flush is kept for the next one.
        let t1 = t0 + Duration::from_secs(11);
        assert_eq!(r.note(&refusal("a", 401, 60), t1), Decision::Write);
        assert_eq!(r.note(&refusal("a", 401, 61), t1), Decision::Counted);
        let t2 = t1 + Duration::from_secs(10);
        assert_eq!(r.note(&refusal("a", 401, 70), t2), Decision::Write);
        let rows = r.due(t2);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].count, rows[0].at_micros), (1, 61));
    }

    #[test]
    fn drain_flushes_open_windows_and_zero_windows_write_everything() {
        let t0 = Instant::now();
        let mut r = Refusals::new(Duration::from_secs(60));
        r.note(&refusal("a", 401, 1), t0);
        r.note(&refusal("a", 401, 2), t0);
        let rows = r.drain();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].count, 1);
        let mut off = Refusals::new(Duration::ZERO);
        for i in 0..5 {
            assert_eq!(off.note(&refusal("a", 401, i), t0), Decision::Write);
        }
        assert_eq!(off.tracked(), 0);
    }

    #[test]
    fn the_number_of_tracked_peers_is_bounded() {
        let t0 = Instant::now();
        let mut r = Refusals::new(Duration::from_secs(60));
        for i in 0..MAX_PEERS + 10 {
            assert_eq!(
                r.note(&refusal(&i.to_string(), 401, 1), t0),
                Decision::Write
            );
        }
        assert_eq!(r.tracked(), MAX_PEERS);
    }
}
