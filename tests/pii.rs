//! Every log line the servers of the end-to-end suite write, checked for
//! citizens' personal data: PII must never reach logs or traces (SPEC §5).
//!
//! The first server started installs a global subscriber at TRACE level for the
//! hotline crates (DEBUG for the libraries under them) that formats each event
//! as JSON with every enclosing span's fields (what an OTLP exporter would send as
//! span attributes) and scans the line as it is written. Lines holding a mainland
//! mobile number (11 digits from `13`–`19`) or a citizen name used by the suite
//! are kept; [`assert_no_pii_logged`] fails the test that runs it, which every
//! [`crate::TestServer`] does when dropped.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Citizen names the suite sends.
pub const CITIZEN_NAMES: &[&str] = &["王小明"];

/// Lines scanned so far.
static SCANNED: AtomicU64 = AtomicU64::new(0);
/// Lines that held PII.
static LEAKS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

/// Installs the capturing subscriber once per test binary.
pub fn capture() {
    INSTALL.call_once(|| {
        let filter = EnvFilter::new(
            "debug,hotline_server=trace,hotline_store=trace,hotline_store_sqlite=trace,\
             hotline_store_postgres=trace,hotline_core=trace,hotline_redis=trace,\
             h2=info,hyper=info,tower=info",
        );
        let installed = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_env_filter(filter)
            .with_writer(Scanner)
            .try_init();
        if installed.is_err() {
            eprintln!("a tracing subscriber was already installed: logs are not scanned for PII");
        }
    });
}

/// Returns whether `line` holds a mobile number or a citizen name. A number is
/// 11 digits standing alone: not part of a longer run of letters and digits
/// (key ids and hashes are hex, and may hold such a run).
pub fn holds_pii(line: &str) -> bool {
    let bytes = line.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        if !bytes[start].is_ascii_alphanumeric() {
            start += 1;
            continue;
        }
        let end = bytes[start..]
            .iter()
            .position(|b| !b.is_ascii_alphanumeric())
            .map_or(bytes.len(), |n| start + n);
        if is_mobile(&bytes[start..end]) {
            return true;
        }
        start = end;
    }
    CITIZEN_NAMES.iter().any(|name| line.contains(name))
}

fn is_mobile(word: &[u8]) -> bool {
    word.len() == 11
        && word.iter().all(u8::is_ascii_digit)
        && word[0] == b'1'
        && (b'3'..=b'9').contains(&word[1])
}

/// Fails when any line written so far held PII; also when nothing was scanned,
/// which would mean the capture is not working.
pub fn assert_no_pii_logged() {
    let leaks = LEAKS.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        leaks.is_empty(),
        "personal data in {} log line(s), e.g.:\n{}",
        leaks.len(),
        leaks.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
    );
    assert!(
        SCANNED.load(Ordering::Relaxed) > 0,
        "no log line was captured: the PII scan would pass vacuously"
    );
}

/// Returns how many log lines have been scanned.
pub fn lines_scanned() -> u64 {
    SCANNED.load(Ordering::Relaxed)
}

/// A writer that scans instead of printing.
#[derive(Debug, Clone, Copy)]
struct Scanner;

impl<'a> MakeWriter<'a> for Scanner {
    type Writer = LineScan;

    fn make_writer(&'a self) -> Self::Writer {
        LineScan(Vec::new())
    }
}

/// One formatted event, scanned when dropped.
struct LineScan(Vec<u8>);

impl Write for LineScan {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineScan {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        for line in text.lines() {
            SCANNED.fetch_add(1, Ordering::Relaxed);
            if holds_pii(line) {
                LEAKS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(line.to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_capture_catches_a_phone_logged_in_a_span_field() {
        capture();
        let span = tracing::info_span!("create_ticket", caller = "13700001111");
        span.in_scope(|| tracing::info!("ticket created"));
        assert!(lines_scanned() > 0);
        let leaks = LEAKS.lock().expect("lock").clone();
        assert_eq!(leaks.len(), 1, "{leaks:?}");
        assert!(leaks[0].contains("ticket created"));
    }

    #[test]
    fn mobile_numbers_and_names_are_found_and_other_numbers_are_not() {
        assert!(holds_pii("phone=13912345678"));
        assert!(holds_pii("\"13900000001\""));
        assert!(holds_pii("13700001111"));
        assert!(holds_pii("citizen 王小明 called"));
        assert!(!holds_pii("139****5678"));
        assert!(!holds_pii("region 320508001"));
        assert!(!holds_pii("id 0190e7a0-0000-7000-8000-100000000000"));
        assert!(!holds_pii("at 1795000000000 ms"));
        assert!(!holds_pii("12345678901"));
        assert!(!holds_pii("key_60d8a19062019517"));
        assert!(holds_pii("手机13912345678，请回电"));
    }
}
