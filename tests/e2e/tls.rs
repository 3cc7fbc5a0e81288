//! Transport security and key hashing: TLS, mutual TLS, client certificates
//! standing for API keys, and API key hashes keyed with the server secret.

use std::path::Path;

use hotline_e2e::pki::{Pem, TestCa, write};
use hotline_e2e::{TestServer, authed_on};
use hotline_proto::v1::admin_service_client::AdminServiceClient;
use hotline_proto::v1::ticket_service_client::TicketServiceClient;
use hotline_proto::v1::{self as pb, Role};
use hotline_server::auth::KeyHasher;
use hotline_store::Store as _;
use sha2::Digest as _;
use tonic::transport::Channel;

/// A CA, the server's certificate, and the files the server reads.
struct Pki {
    ca: TestCa,
    files: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let ca = TestCa::new("hotline test CA").unwrap();
        let files = tempfile::tempdir().unwrap();
        let server = ca.server().unwrap();
        write(files.path(), "server.crt", &server.cert).unwrap();
        write(files.path(), "server.key", &server.key).unwrap();
        write(files.path(), "clients-ca.pem", &ca.cert_pem()).unwrap();
        Pki { ca, files }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.files.path().join(name)
    }

    /// Starts a TLS server; with `mutual`, clients need a certificate of this
    /// CA, and the fixture presents one that names no key.
    async fn start(&self, mutual: bool) -> TestServer {
        let fixture_identity = self.ca.client(None).unwrap();
        let client_tls = self.ca.client_tls(mutual.then_some(&fixture_identity));
        TestServer::start_tls(
            |config| {
                config.tls_cert = Some(self.path("server.crt"));
                config.tls_key = Some(self.path("server.key"));
                if mutual {
                    config.client_ca = Some(self.path("clients-ca.pem"));
                }
            },
            Some(client_tls),
        )
        .await
        .unwrap()
    }
}

/// Makes a key through the admin API and returns (id, secret).
async fn make_key(server: &TestServer, role: Role) -> (String, String) {
    let created = server
        .admin()
        .create_api_key(pb::CreateApiKeyRequest {
            role: role as i32,
            department_id: String::new(),
            name: format!("{role:?} for tls"),
            expires_at: None,
        })
        .await
        .unwrap()
        .into_inner();
    (created.key_id, created.key)
}

/// Connects over TLS presenting `identity` (or no certificate).
async fn channel_as(server: &TestServer, ca: &TestCa, identity: Option<&Pem>) -> Channel {
    server.connect(Some(ca.client_tls(identity))).await.unwrap()
}

/// Calls `ListDepartments` (ADMIN only) through `channel` with `key`.
async fn list_departments(channel: Channel, key: Option<&str>) -> Result<(), tonic::Status> {
    AdminServiceClient::new(authed_on(channel, key))
        .list_departments(pb::ListDepartmentsRequest::default())
        .await
        .map(|_| ())
}

/// Whether a call through a fresh connection with `tls` fails, whether at the
/// handshake (connect) or at the first call (TLS 1.3 refuses a client
/// certificate after the client considers the handshake done).
async fn refused(server: &TestServer, tls: tonic::transport::ClientTlsConfig, key: &str) -> bool {
    match server.connect(Some(tls)).await {
        Err(_) => true,
        Ok(channel) => list_departments(channel, Some(key)).await.is_err(),
    }
}

#[tokio::test]
async fn tls_serves_calls_and_refuses_plaintext_clients() {
    let pki = Pki::new();
    let server = pki.start(false).await;
    // The fixture's own connection is TLS, trusting the test CA.
    list_departments(
        channel_as(&server, &pki.ca, None).await,
        Some(&server.admin_key),
    )
    .await
    .unwrap();
    let (_, operator) = make_key(&server, Role::Operator).await;
    TicketServiceClient::new(server.authed(Some(&operator)))
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap();
    // A plaintext client gets no gRPC answer from a TLS port.
    let plaintext = match server.connect(None).await {
        Err(_) => true,
        Ok(channel) => list_departments(channel, Some(&server.admin_key))
            .await
            .is_err(),
    };
    assert!(plaintext, "plaintext must not reach a TLS server");
    // A client that trusts another CA refuses the server's certificate.
    let stranger = TestCa::new("another CA").unwrap();
    assert!(refused(&server, stranger.client_tls(None), &server.admin_key).await);
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_certificate_of_the_client_ca() {
    let pki = Pki::new();
    let server = pki.start(true).await;
    // A certificate of the client CA that names no key works with a bearer key.
    let desk = pki.ca.client(None).unwrap();
    list_departments(
        channel_as(&server, &pki.ca, Some(&desk)).await,
        Some(&server.admin_key),
    )
    .await
    .unwrap();
    // No certificate at all: refused, even with a valid key.
    assert!(refused(&server, pki.ca.client_tls(None), &server.admin_key).await);
    // A certificate from another CA (the server is trusted all the same): refused.
    let other = TestCa::new("another CA").unwrap();
    let foreign = other.client(None).unwrap();
    assert!(
        refused(
            &server,
            pki.ca.client_tls(Some(&foreign)),
            &server.admin_key
        )
        .await
    );
    // A certificate that names no key still needs a bearer key.
    let status = list_departments(channel_as(&server, &pki.ca, Some(&desk)).await, None)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}

#[tokio::test]
async fn a_certificate_naming_a_key_acts_as_that_key_without_a_secret() {
    let pki = Pki::new();
    let server = pki.start(true).await;
    let (admin_id, admin_secret) = make_key(&server, Role::Admin).await;
    let admin_cert = pki.ca.client(Some(&admin_id)).unwrap();
    let channel = channel_as(&server, &pki.ca, Some(&admin_cert)).await;
    list_departments(channel.clone(), None).await.unwrap();
    // The same key as a bearer secret too: fine.
    list_departments(channel.clone(), Some(&admin_secret))
        .await
        .unwrap();
    // Another key's secret on that certificate: refused, though both are admins.
    let status = list_departments(channel.clone(), Some(&server.admin_key))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    // The certificate carries the key's role: an operator's may not administer.
    let (operator_id, _) = make_key(&server, Role::Operator).await;
    let operator_cert = pki.ca.client(Some(&operator_id)).unwrap();
    let operator = channel_as(&server, &pki.ca, Some(&operator_cert)).await;
    TicketServiceClient::new(authed_on(operator.clone(), None))
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap();
    let status = list_departments(operator, None).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);

    // A certificate naming a key that does not exist is refused.
    let ghost = pki.ca.client(Some("key_00000000deadbeef")).unwrap();
    let status = list_departments(channel_as(&server, &pki.ca, Some(&ghost)).await, None)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}

#[tokio::test]
async fn a_certificate_naming_a_revoked_key_is_refused() {
    let pki = Pki::new();
    let server = pki.start(true).await;
    let (operator_id, _) = make_key(&server, Role::Operator).await;
    let cert = pki.ca.client(Some(&operator_id)).unwrap();
    let channel = channel_as(&server, &pki.ca, Some(&cert)).await;
    let mut tickets = TicketServiceClient::new(authed_on(channel, None));
    tickets
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap();
    server
        .admin()
        .revoke_api_key(pb::RevokeApiKeyRequest {
            key_id: operator_id,
        })
        .await
        .unwrap();
    // This process forgets cached look-ups at revocation: refused at once.
    let status = tickets
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}

/// Finds a stored key by hash in the server's SQLite file (read while it runs).
async fn stored_by_hash(data_dir: &Path, hash: &str) -> Option<String> {
    let store = hotline_store_sqlite::SqliteStore::open(&data_dir.join("hotline.db"))
        .await
        .unwrap();
    let found = store.api_key_by_hash(hash).await.unwrap().map(|k| k.id);
    store.close().await;
    found
}

#[tokio::test]
async fn key_hashes_are_keyed_with_the_server_secret_which_survives_a_restart() {
    let server = TestServer::start().await.unwrap();
    let (operator_id, operator) = make_key(&server, Role::Operator).await;

    // A SQLite server made its own secret, readable by its owner only.
    let secret_path = server.data_dir.join(hotline_server::KEY_HASH_SECRET_FILE);
    let secret = std::fs::read_to_string(&secret_path).unwrap();
    assert_eq!(secret.trim().len(), 64, "32 random bytes in hex");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secret_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The stored hash is the HMAC under that secret, not the plain SHA-256.
    let plain = hex::encode(sha2::Sha256::digest(operator.as_bytes()));
    assert_eq!(stored_by_hash(&server.data_dir, &plain).await, None);
    let keyed = KeyHasher::new(secret.trim().as_bytes())
        .unwrap()
        .hash(&operator);
    assert_ne!(keyed, plain);
    assert_eq!(
        stored_by_hash(&server.data_dir, &keyed).await,
        Some(operator_id)
    );

    // Restarted, the server reuses its secret: the keys still work.
    let server = server.restart_with(|_| {}).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&secret_path).unwrap(),
        secret,
        "the secret is kept"
    );
    TicketServiceClient::new(server.authed(Some(&operator)))
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap();

    // With another secret, no stored key matches any more.
    let other = tempfile::tempdir().unwrap();
    let other_secret = write(other.path(), "other.secret", &"ab".repeat(32)).unwrap();
    let server = server
        .restart_with(|config| config.key_hash_secret_file = Some(other_secret))
        .await
        .unwrap();
    let status = TicketServiceClient::new(server.authed(Some(&operator)))
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}

#[tokio::test]
async fn a_new_secret_on_a_database_with_keys_writes_a_new_admin_key() {
    let server = TestServer::start().await.unwrap();
    let old_admin = server.admin_key.clone();
    let secret_path = server.data_dir.join(hotline_server::KEY_HASH_SECRET_FILE);
    let server = server
        .restart_with(|_| std::fs::remove_file(&secret_path).unwrap())
        .await
        .unwrap();
    assert_ne!(server.admin_key, old_admin, "a new bootstrap admin key");
    list_departments(server.connect(None).await.unwrap(), Some(&server.admin_key))
        .await
        .unwrap();
    let status = list_departments(server.connect(None).await.unwrap(), Some(&old_admin))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}

#[tokio::test]
async fn tls_files_that_cannot_be_used_stop_the_server_at_start() {
    let files = tempfile::tempdir().unwrap();
    let not_pem = write(files.path(), "server.crt", "just text").unwrap();
    let error = TestServer::start_with(|config| {
        config.tls_cert = Some(not_pem.clone());
        config.tls_key = Some(not_pem.clone());
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(error.starts_with("tls_cert "), "{error}");
    assert!(
        error.contains("server.crt: holds no PEM certificate"),
        "{error}"
    );
    let error = TestServer::start_with(|config| config.tls_cert = Some(not_pem.clone()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("tls_cert is set without tls_key"),
        "{error}"
    );
}
