//! End-to-end tests of the `hotline` binary: a real `hotline serve` child
//! process on a private data directory, driven by the CLI exactly as the
//! README's walk-through does (demo, create, sign, reply, callback, show).
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

/// Environment variables the CLI reads; cleared so the host's never leak in.
const HOTLINE_ENV: [&str; 9] = [
    "HOTLINE_ADDR",
    "HOTLINE_KEY",
    "HOTLINE_LISTEN",
    "HOTLINE_DATA_DIR",
    "HOTLINE_DATABASE_URL",
    "HOTLINE_CENTER",
    "HOTLINE_TIME_ZONE",
    "HOTLINE_AUTO_DISPATCH_THRESHOLD",
    "HOTLINE_SWEEP_INTERVAL",
];

/// How long the server may take to announce its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the server may take to drain after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Returns a `hotline` command with a clean environment.
fn hotline() -> Command {
    let mut command = Command::new(HOTLINE);
    for name in HOTLINE_ENV {
        command.env_remove(name);
    }
    command
}

/// A `hotline serve` child on 127.0.0.1:0 in a temporary data directory;
/// dropping it kills the server.
struct Server {
    /// The running server; `None` once stopped.
    child: Option<Child>,
    /// The address it announced, `127.0.0.1:PORT`.
    addr: String,
    /// Its data directory (SQLite file, admin key), removed on drop.
    dir: tempfile::TempDir,
    /// This start wrote the first admin key.
    first_start: bool,
}

impl Server {
    /// Starts the server and waits for its `hotline listening on ADDR` line.
    ///
    /// The server prints that line after binding, so the port answers as soon
    /// as it is read: no polling or sleeping is needed, and port 0 avoids
    /// racing other tests for a free port.
    fn start() -> Self {
        let server = Self::start_in(tempfile::tempdir().expect("tempdir"));
        assert!(
            server.first_start,
            "a fresh data directory gets an admin key"
        );
        server
    }

    /// Starts the server on an existing data directory (a restart keeps its data).
    fn start_in(dir: tempfile::TempDir) -> Self {
        let log = if std::env::var_os("TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        let mut child = hotline()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn hotline serve");
        let stdout = child.stdout.take().expect("stdout");
        let (lines_tx, lines_rx) = mpsc::channel();
        // Reads every line, so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Once the address is read nobody listens; keep draining anyway.
                let _ = lines_tx.send(line);
            }
        });
        let mut server = Self {
            child: Some(child),
            addr: String::new(),
            dir,
            first_start: false,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let mut seen = Vec::new();
        while server.addr.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => match line.strip_prefix("hotline listening on ") {
                    Some(addr) => server.addr = addr.trim().to_owned(),
                    None => seen.push(line),
                },
                Err(_) => panic!("hotline serve did not announce its address; stdout: {seen:?}"),
            }
        }
        server.first_start = seen.iter().any(|l| l.starts_with("admin key written to "));
        server
    }

    /// Kills the server with SIGKILL (no shutdown, no flush) and hands back its data.
    fn kill_9(mut self) -> tempfile::TempDir {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
    }

    /// The data directory.
    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the CLI against this server, with the key in `key_file` if given.
    fn run(&self, key_file: Option<&Path>, args: &[&str]) -> Output {
        let mut command = hotline();
        command.current_dir(self.dir()).args(["--addr", &self.addr]);
        if let Some(file) = key_file {
            command.arg("--key-file").arg(file);
        }
        command.args(args).output().expect("run hotline")
    }

    /// Runs the CLI, asserts success and returns its stdout.
    fn ok(&self, key_file: Option<&Path>, args: &[&str]) -> String {
        let output = self.run(key_file, args);
        assert!(
            output.status.success(),
            "hotline {args:?} failed with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8 stdout")
    }

    /// Runs the CLI with `--json` and parses its one JSON document.
    fn json(&self, key_file: Option<&Path>, args: &[&str]) -> Value {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let stdout = self.ok(key_file, &with_json);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
    }

    /// Sends SIGTERM and waits for a clean exit.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(
                    status.success(),
                    "hotline serve exited with {status} on SIGTERM"
                );
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("hotline serve did not stop within {STOP_TIMEOUT:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Returns `value[ticket][field]` as a string.
fn ticket_field<'a>(value: &'a Value, field: &str) -> &'a str {
    value["ticket"][field]
        .as_str()
        .unwrap_or_else(|| panic!("ticket.{field} missing in {value}"))
}

#[test]
fn the_readme_walkthrough_closes_the_loop() {
    let mut server = Server::start();
    let admin_key = server.dir().join("hotline-admin.key");
    let keys = server.dir().join("keys");
    let keys_arg = keys.to_str().expect("utf-8 path");
    let key = |name: &str| -> PathBuf { keys.join(format!("{name}.key")) };

    // The demo seeds departments, rules and keys; it never prints a secret.
    let demo = server.ok(Some(&admin_key), &["demo", "--out", keys_arg]);
    let operator = key("operator");
    let gusu = key("sz.env.gusu");
    for file in [&operator, &gusu, &key("supervisor"), &key("sz.water")] {
        let secret = std::fs::read_to_string(file).expect("key file");
        assert!(
            !demo.contains(secret.trim()),
            "demo printed the secret of {file:?}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(file).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{file:?}");
        }
    }
    assert!(demo.contains("sz.env.gusu"), "{demo}");
    // Running it again is fine.
    server.ok(Some(&admin_key), &["demo", "--out", keys_arg]);

    // Operator: a construction-noise complaint in Pingjiang is routed to Gusu.
    let created = server.json(
        Some(&operator),
        &[
            "ticket",
            "create",
            "--type",
            "complaint",
            "--title",
            "工地夜间施工噪声",
            "--body",
            "平江路附近工地每天凌晨两点还在打桩，严重影响休息。",
            "--region",
            "320508001",
            "--category",
            "环境保护/噪声污染/施工噪声",
            "--name",
            "王先生",
            "--phone",
            "13800005678",
        ],
    );
    assert_eq!(created["created"], true);
    assert_eq!(ticket_field(&created, "status"), "DISPATCHED");
    assert_eq!(ticket_field(&created, "lead_department_id"), "sz.env.gusu");
    let id = ticket_field(&created, "id").to_owned();

    // Department: it is on Gusu's list; sign for it, then reply.
    let listed = server.json(Some(&gusu), &["dept", "list"]);
    let ids: Vec<&str> = listed["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert!(ids.contains(&id.as_str()), "{listed}");
    let signed = server.json(Some(&gusu), &["dept", "sign", &id, "--note", "已签收"]);
    assert_eq!(ticket_field(&signed, "status"), "IN_PROGRESS");
    let version = signed["ticket"]["version"].as_i64().expect("version");
    let replied = server.json(
        Some(&gusu),
        &[
            "dept",
            "reply",
            &id,
            "--expect-version",
            &version.to_string(),
            "--result",
            "solved",
            "--content",
            "经现场核查，工地已停止夜间施工。",
        ],
    );
    assert_eq!(ticket_field(&replied, "status"), "REPLIED");

    // Operator: the citizen is satisfied; the ticket closes.
    let called = server.json(
        Some(&operator),
        &["ticket", "callback", &id, "--satisfaction", "satisfied"],
    );
    assert_eq!(ticket_field(&called, "status"), "CLOSED");
    let shown = server.json(Some(&operator), &["ticket", "show", &id]);
    assert_eq!(ticket_field(&shown, "status"), "CLOSED");
    assert_eq!(ticket_field(&shown, "close_reason"), "CALLBACK");
    assert_eq!(shown["ticket"]["callback"]["satisfaction"], "SATISFIED");
    assert_eq!(shown["ticket"]["reply"]["result"], "SOLVED");

    // The text views show the same.
    let text = server.ok(Some(&operator), &["ticket", "show", &id]);
    assert!(text.contains("CLOSED (CALLBACK)"), "{text}");
    assert!(text.contains("环境保护/噪声污染/施工噪声"), "{text}");
    let timeline = server.ok(Some(&operator), &["ticket", "timeline", &id]);
    for action in ["CREATED", "DISPATCHED", "SIGNED", "REPLIED", "CLOSED"] {
        assert!(timeline.contains(action), "{action} missing in {timeline}");
    }

    // Without a matching rule a ticket waits for the operator to dispatch it.
    let pending = server.json(
        Some(&operator),
        &[
            "ticket",
            "create",
            "--type",
            "request",
            "--title",
            "低保申请咨询进度",
            "--body",
            "上月提交的低保申请一直没有消息。",
            "--region",
            "320508001",
            "--category",
            "民政/社会救助/低保",
        ],
    );
    assert_eq!(ticket_field(&pending, "status"), "PENDING_DISPATCH");
    let pending_id = ticket_field(&pending, "id").to_owned();
    let dispatched = server.json(
        Some(&operator),
        &[
            "ticket",
            "dispatch",
            &pending_id,
            "--lead",
            "sz.gusu.pingjiang",
        ],
    );
    assert_eq!(ticket_field(&dispatched, "status"), "DISPATCHED");

    // The supervisor's numbers as CSV: a header, then one row per department, ranked.
    // Gusu signed, replied and satisfied its one ticket this month: first.
    let csv = server.ok(Some(&key("supervisor")), &["supervise", "stats", "--csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("rank,department_id,department_name,dispatched,signed,"),
        "{csv}"
    );
    let gusu_row: Vec<&str> = lines
        .iter()
        .find(|line| line.split(',').nth(1) == Some("sz.env.gusu"))
        .unwrap_or_else(|| panic!("no row for sz.env.gusu in {csv}"))
        .split(',')
        .collect();
    assert_eq!(
        (gusu_row[0], gusu_row[3], gusu_row[6], gusu_row[11]),
        ("1", "1", "1.0000", "1.0000"),
        "rank, dispatched, response and satisfaction rates: {csv}"
    );

    // Another department may not touch it: a gRPC error, exit code 1.
    let denied = server.run(Some(&key("sz.water")), &["dept", "sign", &pending_id]);
    assert_eq!(denied.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        stderr.starts_with("error: PERMISSION_DENIED: ")
            || stderr.starts_with("error: NOT_FOUND: "),
        "{stderr}"
    );

    // Bad input: INVALID_ARGUMENT with its field violations, exit code 2.
    let invalid = server.run(
        Some(&operator),
        &[
            "ticket",
            "create",
            "--type",
            "complaint",
            "--title",
            "",
            "--body",
            "x",
        ],
    );
    assert_eq!(invalid.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&invalid.stderr);
    assert!(stderr.starts_with("error: INVALID_ARGUMENT: "), "{stderr}");
    assert!(stderr.contains("\n  field title: "), "{stderr}");

    // No key: UNAUTHENTICATED, with a hint.
    let anonymous = server.run(None, &["ticket", "show", &id]);
    assert_eq!(anonymous.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&anonymous.stderr);
    assert!(stderr.starts_with("error: UNAUTHENTICATED: "), "{stderr}");
    assert!(stderr.contains("hint: "), "{stderr}");

    // SIGTERM drains and exits cleanly.
    server.stop();
}

#[test]
fn a_bad_enum_word_is_a_usage_error_listing_the_choices() {
    let output = hotline()
        .args([
            "ticket",
            "create",
            "--type",
            "complaint",
            "--channel",
            "fax",
        ])
        .args(["--title", "t", "--body", "b"])
        .output()
        .expect("run hotline");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid value 'fax'"), "{stderr}");
    assert!(stderr.contains("phone, web, app, wechat"), "{stderr}");
}

#[test]
fn an_unreachable_server_is_reported_with_exit_code_1() {
    // A port that was free a moment ago: nothing listens, so connecting is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let output = hotline()
        .args(["--addr", &format!("127.0.0.1:{port}"), "--key", "k"])
        .args(["ticket", "show", "01a202ad-c0e2-7473-a625-0f8d3f08c69a"])
        .output()
        .expect("run hotline");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: cannot connect to http://127.0.0.1:"),
        "{stderr}"
    );
}

#[test]
fn an_acknowledged_ticket_survives_kill_9() {
    let server = Server::start();
    let admin_key = server.dir().join("hotline-admin.key");
    let operator = server.dir().join("operator.key");
    let operator_arg = operator.to_str().expect("utf-8 path");
    server.ok(
        Some(&admin_key),
        &[
            "admin",
            "key",
            "create",
            "--role",
            "operator",
            "--name",
            "desk",
            "--out",
            operator_arg,
        ],
    );
    let created = server.json(
        Some(&operator),
        &[
            "ticket",
            "create",
            "--type",
            "request",
            "--title",
            "路灯不亮",
            "--body",
            "小区门口路灯坏了一周。",
        ],
    );
    let id = ticket_field(&created, "id").to_owned();
    let number = ticket_field(&created, "number").to_owned();
    server.ok(
        Some(&operator),
        &["ticket", "answer", &id, "--content", "已转告路灯管理所。"],
    );

    // No graceful shutdown: the process dies right after the replies were sent.
    let data = server.kill_9();
    let server = Server::start_in(data);
    assert!(
        !server.first_start,
        "a restart must not mint a second admin key"
    );

    let shown = server.json(Some(&operator), &["ticket", "show", &id]);
    assert_eq!(ticket_field(&shown, "number"), number);
    assert_eq!(ticket_field(&shown, "status"), "CLOSED");
    let timeline = server.json(Some(&operator), &["ticket", "timeline", &id]);
    let actions: Vec<&str> = timeline["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, ["CREATED", "ANSWERED_DIRECTLY", "CLOSED"]);
}

#[test]
fn audit_verify_passes_a_clean_database_and_names_a_tampered_event() {
    let mut server = Server::start();
    let admin_key = server.dir().join("hotline-admin.key");
    let operator = server.dir().join("operator.key");
    let operator_arg = operator.to_str().expect("utf-8 path");
    server.ok(
        Some(&admin_key),
        &[
            "admin",
            "key",
            "create",
            "--role",
            "operator",
            "--name",
            "desk",
            "--out",
            operator_arg,
        ],
    );
    let mut ids = Vec::new();
    for title in ["路灯不亮", "井盖缺失"] {
        let created = server.json(
            Some(&operator),
            &[
                "ticket",
                "create",
                "--type",
                "request",
                "--title",
                title,
                "--body",
                "请尽快处理。",
            ],
        );
        let id = ticket_field(&created, "id").to_owned();
        server.ok(
            Some(&operator),
            &["ticket", "answer", &id, "--content", "已转告。"],
        );
        ids.push(id);
    }
    server.stop();
    let data_dir = server.dir().to_str().expect("utf-8 path").to_owned();
    let audit = |extra: &[&str]| {
        let mut args = vec!["audit", "verify", "--data-dir", data_dir.as_str(), "--json"];
        args.extend_from_slice(extra);
        hotline().args(&args).output().expect("run hotline audit")
    };

    let clean = audit(&["--deep"]);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    let report: Value = serde_json::from_slice(&clean.stdout).expect("json report");
    assert_eq!(report["ok"], true);
    assert_eq!(report["tickets"], 2);
    assert_eq!(report["events"], 6, "created, answered, closed for each");

    // Someone rewrites the reply of the second ticket directly in the database.
    let db = server.dir().join("hotline.db");
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
             c.execute(\"update events set event=replace(event,'已转告','已解决') \
             where ticket_id=? and seq=2\", (sys.argv[2],)); c.commit()",
        )
        .arg(&db)
        .arg(&ids[1])
        .status()
        .expect("python3 edits the database");
    assert!(status.success());

    let tampered = audit(&[]);
    assert_eq!(
        tampered.status.code(),
        Some(1),
        "a broken chain fails the audit"
    );
    let report: Value = serde_json::from_slice(&tampered.stdout).expect("json report");
    assert_eq!(report["ok"], false);
    let breaks = report["breaks"].as_array().expect("breaks");
    assert_eq!(breaks.len(), 1, "{breaks:?}");
    assert_eq!(breaks[0]["ticket_id"], ids[1].as_str());
    assert_eq!(breaks[0]["seq"], 2);
    assert!(
        breaks[0]["problem"]
            .as_str()
            .expect("problem")
            .contains("edited")
    );

    // The other ticket alone is still intact.
    let one = audit(&["--ticket", &ids[0]]);
    assert!(one.status.success());

    // `hotline check` finds the same break, and rows that disagree: an indexed column
    // edited by hand, a request id left pointing at no ticket, and a day's statistics
    // that no part sums to.
    let ghost = "01900000-0000-7000-8000-00000000dead";
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
             c.execute(\"update tickets set warning_level='OVERDUE' where id=?\", (sys.argv[2],)); \
             c.execute(\"insert into idempotency (request_id, ticket_id, created_at) \
             values ('lost-request', ?, 0)\", (sys.argv[3],)); \
             c.execute(\"insert into stats_days values ('ghost.dept', 20000, 0, 0, 0, 1\" \
             + ', 0' * 20 + ')'); c.commit()",
        )
        .arg(&db)
        .arg(&ids[0])
        .arg(ghost)
        .status()
        .expect("python3 edits the database");
    assert!(status.success());
    let checked = hotline()
        .args(["check", "--data-dir", data_dir.as_str(), "--json"])
        .output()
        .expect("run hotline check");
    assert_eq!(checked.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&checked.stdout).expect("json report");
    assert_eq!(report["breaks"].as_array().expect("breaks").len(), 1);
    let rows: Vec<&str> = report["row_problems"]
        .as_array()
        .expect("row problems")
        .iter()
        .map(|p| p.as_str().expect("text"))
        .collect();
    assert_eq!(
        rows,
        [
            format!("ticket {ghost}: a request id pointing at a ticket that does not exist"),
            "statistics of 2024-10-04 (UTC) for department ghost.dept on an unknown calendar: \
             parts is 1 but its parts sum to 0"
                .to_owned(),
            format!(
                "ticket {}: column warning_level is OVERDUE but the ticket says NONE",
                ids[0]
            ),
        ],
        "{report}"
    );
}
