//! The server's duplicate index: the tickets of the duplicate window in memory
//! ([`DuplicateIndex`]), filled from the store at start and brought up to date
//! from the event log before each look-up.
//!
//! Catching up is one cheap store read (the events after the last one seen), and
//! concurrent look-ups share it: a look-up that finds a catch-up started after it
//! asked needs none of its own, since that catch-up already sees everything the
//! look-up could. So at any rate of creates the store answers a few catch-ups,
//! and every look-up still sees every ticket committed before it asked, whichever
//! replica filed it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hotline_core::similar::index::DuplicateIndex;
use hotline_store::{MAX_RECENT_EVENTS, Store, StoreResult};
use jiff::{SignedDuration, Timestamp};

/// How far back duplicates are looked for.
pub const DUPLICATE_WINDOW: SignedDuration = SignedDuration::from_hours(24 * 30);

/// The index and where in the event log it stands.
#[derive(Debug)]
pub struct RecentIndex {
    index: Mutex<DuplicateIndex>,
    /// The id of the last event applied; held while catching up.
    cursor: tokio::sync::Mutex<i64>,
    /// Look-ups that have asked to be caught up, counted from 1.
    asked: AtomicU64,
    /// Every look-up up to this number is covered by a finished catch-up.
    covered: AtomicU64,
}

impl RecentIndex {
    /// Fills an index with the tickets created within the window before `now`.
    ///
    /// # Errors
    /// Store errors.
    pub async fn load(store: &dyn Store, now: Timestamp) -> StoreResult<RecentIndex> {
        let window = store.recent_tickets(window_start(now)).await?;
        let mut index = DuplicateIndex::new();
        let kept = window.tickets.len();
        for ticket in window.tickets {
            index.upsert(ticket);
        }
        tracing::info!(
            tickets = kept,
            cursor = window.cursor,
            "duplicate index filled"
        );
        Ok(RecentIndex {
            index: Mutex::new(index),
            cursor: tokio::sync::Mutex::new(window.cursor),
            asked: AtomicU64::new(0),
            covered: AtomicU64::new(0),
        })
    }

    /// Brings the index up to date with every change committed before this call.
    ///
    /// # Errors
    /// Store errors; the index stays as it was, and the next call retries.
    pub async fn catch_up(&self, store: &dyn Store, now: Timestamp) -> StoreResult<()> {
        let me = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        let mut cursor = self.cursor.lock().await;
        if self.covered.load(Ordering::SeqCst) >= me {
            return Ok(());
        }
        // Every look-up counted so far asked before the reads below begin.
        let covers = self.asked.load(Ordering::SeqCst);
        let since = window_start(now);
        loop {
            let changes = store
                .recent_after(*cursor, since, MAX_RECENT_EVENTS)
                .await?;
            {
                let mut index = self.lock();
                for ticket in changes.tickets {
                    index.upsert(ticket);
                }
                index.expire(since);
            }
            *cursor = changes.cursor;
            if changes.events < MAX_RECENT_EVENTS {
                break;
            }
        }
        self.covered.store(covers, Ordering::SeqCst);
        Ok(())
    }

    /// Runs `look` on the index.
    pub fn read<T>(&self, look: impl FnOnce(&DuplicateIndex) -> T) -> T {
        look(&self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DuplicateIndex> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The first instant of the window that ends at `now`.
pub fn window_start(now: Timestamp) -> Timestamp {
    now.checked_sub(DUPLICATE_WINDOW).unwrap_or(Timestamp::MIN)
}
