//! The embedded SQLite database when its disk fills up: the file lives on a small
//! tmpfs the test mounts itself.
//!
//! Writes then fail with UNAVAILABLE while reads keep being served; every write
//! acknowledged before stays; once space returns writes succeed without a restart,
//! and after a kill -9 and restart the deep audit finds every chain intact and every
//! ticket equal to its events.
//!
//! Mounting needs root (or CAP_SYS_ADMIN); where the environment forbids it the
//! test says so and skips: there is no other honest way to fill a disk. A read-only
//! database file is not staged here: the tests run as root, which writes through
//! file permissions, and a file system with files open for writing cannot be
//! remounted read-only; the store maps SQLITE_READONLY to UNAVAILABLE like
//! SQLITE_FULL (see the SQLite backend's error mapping).

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hotline_proto::v1::{self as pb, Role};
use pb::ticket_service_client::TicketServiceClient;
use support::{Authed, Server, admin_client, audit_deep, bearer, create_key};
use tonic::Code;

/// Size of the file system: room for the schema and a few hundred tickets.
const TMPFS_SIZE: &str = "size=6m";
/// Most creates tried while waiting for the disk to refuse one.
const MAX_FILL_CREATES: usize = 5_000;

/// A tmpfs mounted by the test; unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", TMPFS_SIZE, "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs { dir }),
            Ok(out) => {
                eprintln!(
                    "skipped: cannot mount a tmpfs here ({}): the disk-full and read-only \
                     scenarios need root or CAP_SYS_ADMIN",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(error) => {
                eprintln!("skipped: no mount command ({error})");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system with one file until it refuses more; returns the file.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("create the filler");
    let chunk = vec![0u8; 64 * 1024];
    loop {
        if file.write_all(&chunk).is_err() || file.sync_all().is_err() {
            break;
        }
    }
    // Whatever a partial write left: the last bytes too.
    while file.write_all(&[0u8; 512]).is_ok() && file.sync_all().is_ok() {}
    path
}

fn complaint(n: usize) -> pb::CreateTicketRequest {
    pb::CreateTicketRequest {
        request_id: format!("disk-{n}"),
        channel: pb::Channel::App as i32,
        appeal_type: pb::AppealType::Complaint as i32,
        priority: pb::Priority::Normal as i32,
        citizen: Some(pb::Citizen {
            name: "孙丽".into(),
            phone: "13500003333".into(),
            anonymous: false,
            confidential: false,
            wants_callback: false,
        }),
        title: format!("井盖缺失 {n}"),
        body: format!("人民路第{n}号门口井盖缺失，夜间十分危险，请尽快处理。"),
        address: "姑苏区人民路".into(),
        region_code: "320508".into(),
        category_hint: String::new(),
        latitude: None,
        longitude: None,
    }
}

/// Reads back every acknowledged ticket; panics if one is missing.
async fn all_readable(tickets: &mut TicketServiceClient<Authed>, ids: &[String]) {
    for id in ids {
        tickets
            .get_ticket(pb::GetTicketRequest {
                ticket_id: id.clone(),
            })
            .await
            .unwrap_or_else(|status| panic!("acknowledged ticket {id} unreadable: {status:?}"));
    }
}

/// Creates until a create succeeds, within a bound; returns the ticket id.
async fn create_when_writable(tickets: &mut TicketServiceClient<Authed>, n: usize) -> String {
    for _ in 0..100 {
        match tickets.create_ticket(complaint(n)).await {
            Ok(response) => return response.into_inner().ticket.expect("ticket").id,
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    panic!("writes did not resume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_writes_clearly_keeps_serving_reads_and_recovers() {
    let Some(tmpfs) = Tmpfs::mount() else {
        return;
    };
    let url = format!("sqlite://{}", tmpfs.path().join("hotline.db").display());
    let mut server = Server::start_restartable(&["--database-url", &url, "--log-level", "error"]);
    let channel = server.lazy_channel();
    let mut admin = admin_client(channel.clone(), &server.admin_key());
    let operator = create_key(&mut admin, Role::Operator, "", "intake").await;
    let mut tickets = TicketServiceClient::with_interceptor(channel, bearer(&operator));
    let mut acknowledged = Vec::new();
    for n in 0..5 {
        acknowledged.push(create_when_writable(&mut tickets, n).await);
    }

    // Disk full: creates go on until the file system refuses, then fail UNAVAILABLE.
    let filler = fill(tmpfs.path());
    let mut refused = None;
    for n in 5..MAX_FILL_CREATES {
        match tickets.create_ticket(complaint(n)).await {
            Ok(response) => acknowledged.push(response.into_inner().ticket.expect("ticket").id),
            Err(status) => {
                refused = Some((n, status));
                break;
            }
        }
    }
    let (refused_n, status) = refused.expect("a full disk refuses a write");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(server.is_running(), "the server must survive a full disk");
    all_readable(&mut tickets, &acknowledged).await;
    let listed = tickets
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .expect("lists are served with the disk full")
        .into_inner();
    assert!(!listed.tickets.is_empty());
    println!(
        "disk full: {} creates acknowledged, create #{refused_n} refused with UNAVAILABLE, \
         reads served",
        acknowledged.len()
    );

    // Space returns: writes resume without a restart; the refused create, retried with
    // its request id, makes one ticket.
    std::fs::remove_file(filler).expect("free the space");
    let retried = create_when_writable(&mut tickets, refused_n).await;
    acknowledged.push(retried.clone());
    let again = create_when_writable(&mut tickets, refused_n).await;
    assert_eq!(again, retried, "the retried create is idempotent");

    // Nothing corrupt: a crash and restart later every acknowledged ticket is there,
    // and the deep audit is clean.
    server.kill();
    server.restart();
    all_readable(&mut tickets, &acknowledged).await;
    let report = audit_deep(&["--database-url", &url]);
    println!(
        "after restart: {} acknowledged tickets readable; audit: {} tickets, {} events, clean",
        acknowledged.len(),
        report["tickets"],
        report["events"]
    );
}
