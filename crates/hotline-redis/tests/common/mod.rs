//! What the Redis test binaries share.

/// Returns the Redis URL, or `None` (with the reason printed) when the test must skip.
pub fn redis_url() -> Option<String> {
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                !std::env::var("HOTLINE_REQUIRE_SERVERS").is_ok_and(|v| v == "1"),
                "TEST_REDIS_URL is not set, but HOTLINE_REQUIRE_SERVERS=1 requires this test to run"
            );
            eprintln!("skipped: TEST_REDIS_URL is not set");
            None
        }
    }
}
