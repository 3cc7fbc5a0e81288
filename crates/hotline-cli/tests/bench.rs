//! Smoke tests of `hotline bench` against a real `hotline serve` child process
//! on a private data directory: each scenario runs for a second or two and
//! must report well-formed figures with no errors (the supervisor scenario over a
//! seeded history), and the bench must undo
//! its setup (keys revoked, routing rules restored). No timing is asserted.
//!
//! Set `TEST_LOG=1` to see the server's log on stderr.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
const HOTLINE: &str = env!("CARGO_BIN_EXE_hotline");

/// How long the server may take to announce its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Returns a `hotline` command with none of the host's `HOTLINE_*` settings.
fn hotline() -> Command {
    let mut command = Command::new(HOTLINE);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HOTLINE_") {
            command.env_remove(name);
        }
    }
    command
}

/// A `hotline serve` child on 127.0.0.1:0 in a temporary data directory;
/// dropping it kills the server.
struct Server {
    /// The running server.
    child: Child,
    /// The address it announced, `127.0.0.1:PORT`.
    addr: String,
    /// Its data directory (SQLite file, admin key), removed on drop.
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server and waits for its `hotline listening on ADDR` line
    /// (printed after binding, so no polling is needed).
    fn start() -> Self {
        Self::start_in(tempfile::tempdir().expect("tempdir"))
    }

    /// Seeds `tickets` tickets of history (`hotline seed`) into a fresh data
    /// directory, then starts the server on it.
    fn start_seeded(tickets: u32) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let output = hotline()
            .args([
                "seed",
                "--tickets",
                &tickets.to_string(),
                "--json",
                "--data-dir",
            ])
            .arg(dir.path())
            .output()
            .expect("run hotline seed");
        assert!(
            output.status.success(),
            "hotline seed failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self::start_in(dir)
    }

    /// Starts the server on `dir`.
    fn start_in(dir: tempfile::TempDir) -> Self {
        let log = if std::env::var_os("TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        // The bench's workers share one key per role: the per-key rate limit would
        // refuse most of their load (see docs/benchmarks.md).
        let mut child = hotline()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--rate-limit",
                "0",
                "--data-dir",
            ])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn hotline serve");
        let stdout = child.stdout.take().expect("stdout");
        let (lines_tx, lines_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = lines_tx.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut seen = Vec::new();
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => match line.strip_prefix("hotline listening on ") {
                    Some(addr) => break addr.trim().to_owned(),
                    None => seen.push(line),
                },
                Err(_) => panic!("hotline serve did not announce its address; stdout: {seen:?}"),
            }
        };
        Self { child, addr, dir }
    }

    /// The first administrator's key file.
    fn admin_key(&self) -> PathBuf {
        self.dir.path().join("hotline-admin.key")
    }

    /// Runs the CLI against this server with the key in `key_file`, if given.
    fn run(&self, key_file: Option<&Path>, args: &[&str]) -> Output {
        let mut command = hotline();
        command
            .current_dir(self.dir.path())
            .args(["--addr", &self.addr]);
        if let Some(file) = key_file {
            command.arg("--key-file").arg(file);
        }
        command.args(args).output().expect("run hotline")
    }

    /// Runs the CLI with `--json`, asserts success and parses its one document.
    fn json(&self, key_file: Option<&Path>, args: &[&str]) -> Value {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let output = self.run(key_file, &with_json);
        assert!(
            output.status.success(),
            "hotline {args:?} failed with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).expect("utf-8 stdout");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
    }

    /// Runs `hotline bench` with the admin key and the given flags.
    fn bench(&self, args: &[&str]) -> Value {
        let admin = self.admin_key();
        let mut argv = vec!["bench", "--admin-key-file", admin.to_str().expect("utf-8")];
        argv.extend_from_slice(args);
        self.json(None, &argv)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Returns `value[field]` as an unsigned number.
fn count(value: &Value, field: &str) -> u64 {
    value[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not a count in {value}"))
}

/// Asserts the report's common shape: requests made, none failed, the
/// percentiles ordered, the per-RPC counts adding up to the total.
fn assert_clean_report(report: &Value, scenario: &str) {
    assert_eq!(report["scenario"], scenario, "{report}");
    let requests = count(report, "requests");
    assert!(requests > 0, "no requests: {report}");
    assert_eq!(count(report, "errors"), 0, "errors: {report}");
    assert_eq!(count(report, "ok"), requests, "{report}");
    assert_eq!(report["errors_by_code"], serde_json::json!({}), "{report}");
    assert!(report["throughput_rps"].as_f64().expect("throughput") > 0.0);
    let latency = &report["latency_ms"];
    let ms = |name: &str| {
        latency[name]
            .as_f64()
            .unwrap_or_else(|| panic!("latency_ms.{name} missing in {report}"))
    };
    assert!(ms("p50") > 0.0, "{report}");
    assert!(
        ms("p50") <= ms("p90")
            && ms("p90") <= ms("p99")
            && ms("p99") <= ms("p99_9")
            && ms("p99_9") <= ms("max"),
        "percentiles out of order: {latency}"
    );
    let operations = report["operations"].as_object().expect("operations");
    let per_rpc: u64 = operations.values().map(|op| count(op, "requests")).sum();
    assert_eq!(per_rpc, requests, "{report}");
}

#[test]
fn every_scenario_runs_clean_and_the_bench_undoes_its_setup() {
    // A seeded history first, so the supervisor queries read overdue and
    // closed tickets, not only the few the run makes.
    let server = Server::start_seeded(500);
    let admin = server.admin_key();
    let rules_before = server.json(Some(&admin), &["admin", "rule", "list"]);

    // Intake, closed loop: operators creating tickets back to back.
    let intake_began = jiff::Timestamp::now();
    let intake = server.bench(&[
        "--scenario",
        "intake",
        "--duration",
        "2s",
        "--concurrency",
        "4",
    ]);
    assert_clean_report(&intake, "intake");
    assert_eq!(intake["mode"], "closed");
    assert_eq!(intake["concurrency"], 4);
    let created = count(&intake["operations"]["CreateTicket"], "ok");
    assert_eq!(created, count(&intake, "requests"));
    // The tickets are really there: the newest five were made by the run,
    // after the seeded history.
    let listed = server.json(Some(&admin), &["ticket", "list", "--limit", "5"]);
    let newest = listed["tickets"].as_array().expect("tickets");
    assert_eq!(newest.len(), 5, "{listed}");
    for ticket in newest {
        let created: jiff::Timestamp = ticket["created_at"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no created_at in {ticket}"));
        assert!(created >= intake_began, "{ticket} was not made by the run");
    }

    // The whole loop: every step of a ticket's life, each ticket closed.
    let lifecycle = server.bench(&["--scenario", "loop", "--duration", "2s"]);
    assert_clean_report(&lifecycle, "loop");
    let ops = &lifecycle["operations"];
    for rpc in [
        "CreateTicket",
        "Dispatch",
        "SignTicket",
        "ReplyTicket",
        "ReviewReply",
        "RecordCallback",
    ] {
        assert!(count(&ops[rpc], "ok") > 0, "no {rpc} in {lifecycle}");
    }
    let closed = count(&lifecycle, "tickets_closed");
    assert!(closed > 0, "{lifecycle}");
    assert_eq!(closed, count(&ops["RecordCallback"], "ok"), "{lifecycle}");
    let closed_list = server.json(
        Some(&admin),
        &["ticket", "list", "--status", "closed", "--region", "320571"],
    );
    assert!(
        !closed_list["tickets"]
            .as_array()
            .expect("tickets")
            .is_empty(),
        "{closed_list}"
    );

    // Open loop at 50/s for 2 s: exactly 100 arrivals, each sent or counted unsent.
    let open = server.bench(&["--scenario", "intake", "--duration", "2s", "--rate", "50"]);
    assert_clean_report(&open, "intake");
    assert_eq!(open["mode"], "open");
    assert_eq!(open["rate"], 50.0);
    assert_eq!(
        count(&open, "requests") + count(&open, "unsent"),
        100,
        "{open}"
    );

    // Supervisors over the seeded history and the one just made.
    let supervisor = server.bench(&["--scenario", "supervisor", "--duration", "1s"]);
    assert_clean_report(&supervisor, "supervisor");

    // Setup undone: the rules are as before, every bench key is revoked.
    let rules_after = server.json(Some(&admin), &["admin", "rule", "list"]);
    assert_eq!(rules_after, rules_before);
    let keys = server.json(Some(&admin), &["admin", "key", "list"]);
    let bench_keys: Vec<&Value> = keys["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["name"].as_str().is_some_and(|n| n.starts_with("bench ")))
        .collect();
    assert!(bench_keys.len() >= 4, "{keys}");
    for key in bench_keys {
        assert!(key["revoked_at"].is_string(), "not revoked: {key}");
    }
}

#[test]
fn missing_keys_are_named_in_the_error() {
    let server = Server::start();
    let output = server.run(None, &["bench", "--scenario", "intake", "--duration", "1s"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("operator key"), "{stderr}");
    assert!(stderr.contains("--admin-key-file"), "{stderr}");

    let admin = server.admin_key();
    let output = server.run(
        Some(&admin),
        &["bench", "--scenario", "loop", "--duration", "1s"],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the loop scenario needs --admin-key-file"),
        "{stderr}"
    );

    let output = server.run(None, &["bench", "--rate", "0"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--rate"), "{stderr}");
}
