//! Time arithmetic for deadlines. Deadlines may run in working time, so the
//! arithmetic goes through a [`Calendar`]; the working calendar with holidays
//! and make-up days implements the same trait.

use jiff::{SignedDuration, Timestamp};

use crate::policy::Window;

/// Answers "when does a window that starts now end" and "how much of it has run".
pub trait Calendar: Send + Sync + std::fmt::Debug {
    /// Returns the instant at which `window`, started at `from`, ends.
    fn add(&self, from: Timestamp, window: Window) -> Timestamp;

    /// Returns the counted time between two instants (zero when `to <= from`).
    fn elapsed(&self, from: Timestamp, to: Timestamp) -> SignedDuration;
}

/// A calendar that never closes: working hours and days are plain hours and days.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysOpen;

impl Calendar for AlwaysOpen {
    fn add(&self, from: Timestamp, window: Window) -> Timestamp {
        from.saturating_add(window.nominal())
            .unwrap_or(Timestamp::MAX)
    }

    fn elapsed(&self, from: Timestamp, to: Timestamp) -> SignedDuration {
        if to <= from {
            SignedDuration::ZERO
        } else {
            to.duration_since(from)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn always_open_counts_working_days_as_whole_days() {
        let start: Timestamp = "2026-01-05T01:00:00Z".parse().unwrap();
        let end = AlwaysOpen.add(start, Window::WorkingDays { days: 5 });
        assert_eq!(end, "2026-01-10T01:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(
            AlwaysOpen.elapsed(start, end),
            SignedDuration::from_hours(120)
        );
        assert_eq!(AlwaysOpen.elapsed(end, start), SignedDuration::ZERO);
    }
}
