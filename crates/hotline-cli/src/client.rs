//! The connection to a hotline server: address normalisation, TLS (server CA
//! and client certificate), the API key, an interceptor that sends it as
//! `authorization: Bearer KEY`, and typed clients.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use hotline_proto::v1::admin_service_client::AdminServiceClient;
use hotline_proto::v1::department_service_client::DepartmentServiceClient;
use hotline_proto::v1::supervision_service_client::SupervisionServiceClient;
use hotline_proto::v1::ticket_service_client::TicketServiceClient;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// The key file `hotline serve` writes for the first administrator.
pub const ADMIN_KEY_FILE: &str = "hotline-admin.key";

/// How long to wait for the TCP (and HTTP/2) connection before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A channel wrapped with the key-sending interceptor; every client uses it.
pub type AuthChannel = InterceptedService<Channel, BearerAuth>;

/// Adds `authorization: Bearer KEY` to every request when a key is known.
#[derive(Clone)]
pub struct BearerAuth {
    /// The header value, `Bearer KEY`; `None` sends no header.
    header: Option<AsciiMetadataValue>,
}

impl std::fmt::Debug for BearerAuth {
    /// Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuth")
            .field("header", &self.header.as_ref().map(|_| "Bearer <redacted>"))
            .finish()
    }
}

impl Interceptor for BearerAuth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(header) = &self.header {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
        Ok(request)
    }
}

/// The TLS files a client uses: all optional. An `https://` address without
/// `ca_cert` trusts the system's root certificates.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// PEM bundle of the CAs the server's certificate must chain to.
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate chain, for servers that ask for one (mutual TLS).
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
}

impl TlsFiles {
    /// Returns whether any TLS file is given (an address without a scheme then means https).
    pub fn any(&self) -> bool {
        self.ca_cert.is_some() || self.client_cert.is_some() || self.client_key.is_some()
    }

    /// Builds the client TLS setup, reading the files.
    ///
    /// # Errors
    /// A file that cannot be read or is not PEM (naming its flag and path), or
    /// a client certificate without its key (or the reverse).
    fn client_config(&self) -> anyhow::Result<ClientTlsConfig> {
        let mut tls = ClientTlsConfig::new();
        tls = match &self.ca_cert {
            Some(path) => tls.ca_certificate(Certificate::from_pem(read_pem("--ca-cert", path)?)),
            None => tls.with_native_roots(),
        };
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                let cert = read_pem("--client-cert", cert)?;
                let key = read_pem("--client-key", key)?;
                tls = tls.identity(Identity::from_pem(cert, key));
            }
            (None, None) => {}
            (Some(_), None) => bail!("--client-cert needs --client-key (its private key)"),
            (None, Some(_)) => bail!("--client-key needs --client-cert (its certificate)"),
        }
        Ok(tls)
    }
}

/// Reads a PEM file given by `flag`; the error names the flag and the path.
fn read_pem(flag: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("{flag} {}: cannot read", path.display()))?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        bail!(
            "{flag} {}: not a PEM file (-----BEGIN ...-----)",
            path.display()
        );
    }
    Ok(bytes)
}

/// Where the server is and how to reach it.
#[derive(Debug, Clone)]
pub struct Remote {
    /// `https://HOST:PORT`, `http://HOST:PORT` or `HOST:PORT`.
    pub addr: String,
    /// The TLS files.
    pub tls: TlsFiles,
}

/// An open connection to the server, from which typed clients are made.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The shared HTTP/2 channel with the key interceptor.
    channel: AuthChannel,
    /// Whether a key is sent, so errors can hint at `--key` when none is.
    has_key: bool,
}

impl Connection {
    /// Connects to the target (over TLS for `https://`), sending `key` if given.
    ///
    /// # Errors
    /// Fails when the address is malformed, a TLS file is unusable, the key is
    /// not printable ASCII, or the server cannot be reached.
    pub async fn open(target: &Remote, key: Option<String>) -> anyhow::Result<Self> {
        let addr = &target.addr;
        let uri = normalize_addr(addr, target.tls.any())?;
        let header = key.as_deref().map(bearer_header).transpose()?;
        let mut endpoint = Endpoint::from_shared(uri.clone())
            .with_context(|| format!("invalid server address {addr:?}"))?
            .connect_timeout(CONNECT_TIMEOUT);
        if uri.starts_with("https://") {
            endpoint = endpoint
                .tls_config(target.tls.client_config()?)
                .map_err(|e| anyhow::anyhow!("cannot set up TLS: {}", error_chain(&e)))?;
        } else if target.tls.any() {
            bail!("--ca-cert, --client-cert and --client-key need an https:// address, not {uri}");
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to {uri}: {}", error_chain(&e)))?;
        let has_key = header.is_some();
        Ok(Self {
            channel: InterceptedService::new(channel, BearerAuth { header }),
            has_key,
        })
    }

    /// Returns whether this connection sends a key.
    pub fn has_key(&self) -> bool {
        self.has_key
    }

    /// Returns a TicketService client (operators).
    pub fn tickets(&self) -> TicketServiceClient<AuthChannel> {
        TicketServiceClient::new(self.channel.clone())
    }

    /// Returns a DepartmentService client (department systems).
    pub fn departments(&self) -> DepartmentServiceClient<AuthChannel> {
        DepartmentServiceClient::new(self.channel.clone())
    }

    /// Returns a SupervisionService client (supervisors).
    pub fn supervision(&self) -> SupervisionServiceClient<AuthChannel> {
        SupervisionServiceClient::new(self.channel.clone())
    }

    /// Returns a grpc.health.v1 client (no key needed).
    pub fn health(&self) -> tonic_health::pb::health_client::HealthClient<AuthChannel> {
        tonic_health::pb::health_client::HealthClient::new(self.channel.clone())
    }

    /// Returns an AdminService client (administrators).
    pub fn admin(&self) -> AdminServiceClient<AuthChannel> {
        AdminServiceClient::new(self.channel.clone())
    }
}

/// Joins an error and its sources into one line, as transport errors nest deeply.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Turns `host:port` into `https://host:port` when TLS files are given, else
/// `http://host:port`; `http://` and `https://` URIs pass unchanged.
pub fn normalize_addr(addr: &str, tls: bool) -> anyhow::Result<String> {
    let addr = addr.trim().trim_end_matches('/');
    if addr.is_empty() {
        bail!("the server address is empty (set --addr or HOTLINE_ADDR)");
    }
    if addr.contains("://") {
        if !(addr.starts_with("http://") || addr.starts_with("https://")) {
            bail!("unsupported server address {addr:?}: use https://HOST:PORT or http://HOST:PORT");
        }
        return Ok(addr.to_owned());
    }
    let scheme = if tls { "https" } else { "http" };
    Ok(format!("{scheme}://{addr}"))
}

/// Builds the `authorization` header value for a key.
fn bearer_header(key: &str) -> anyhow::Result<AsciiMetadataValue> {
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        bail!("the API key must be printable ASCII without spaces");
    }
    MetadataValue::try_from(format!("Bearer {key}"))
        .map_err(|_| anyhow::anyhow!("the API key contains characters that cannot be sent"))
}

/// Reads a key from a file, trimming surrounding whitespace.
///
/// # Errors
/// Fails when the file cannot be read or holds only whitespace.
pub fn read_key_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    let key = text.trim();
    if key.is_empty() {
        bail!("key file {} is empty", path.display());
    }
    Ok(key.to_owned())
}

/// Where the API key may come from, most explicit first.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeySources<'a> {
    /// `--key`.
    pub flag: Option<&'a str>,
    /// `--key-file`.
    pub file: Option<&'a Path>,
    /// `HOTLINE_KEY`.
    pub env: Option<&'a str>,
    /// A file used only if it exists (`./hotline-admin.key` for `admin` and `demo`).
    pub fallback_file: Option<&'a Path>,
}

/// Chooses the key: `--key`, else `--key-file`, else `HOTLINE_KEY`, else the
/// fallback file when it exists; `None` sends no key.
///
/// # Errors
/// Fails when a named key file cannot be read or is empty.
pub fn resolve_key(sources: KeySources<'_>) -> anyhow::Result<Option<String>> {
    let given = |key: Option<&str>| {
        key.map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
    };
    if let Some(key) = given(sources.flag) {
        return Ok(Some(key));
    }
    if let Some(path) = sources.file {
        return read_key_file(path).map(Some);
    }
    if let Some(key) = given(sources.env) {
        return Ok(Some(key));
    }
    match sources.fallback_file {
        Some(path) if path.is_file() => read_key_file(path).map(Some),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_without_a_scheme_get_http_or_https_with_tls_files() {
        assert_eq!(
            normalize_addr("127.0.0.1:50051", false).expect("plain"),
            "http://127.0.0.1:50051"
        );
        assert_eq!(
            normalize_addr("http://127.0.0.1:50051/", false).expect("scheme"),
            "http://127.0.0.1:50051"
        );
        assert_eq!(
            normalize_addr("localhost:1", false).expect("host"),
            "http://localhost:1"
        );
        assert_eq!(
            normalize_addr("hotline.example:443", true).expect("tls"),
            "https://hotline.example:443"
        );
        assert_eq!(
            normalize_addr("https://hotline.example:443", false).expect("https"),
            "https://hotline.example:443"
        );
        assert!(normalize_addr("  ", false).is_err());
        assert!(normalize_addr("ftp://hotline.example", false).is_err());
    }

    #[test]
    fn tls_files_are_checked_and_named_in_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = dir.path().join("ca.txt");
        std::fs::write(&text, "not pem").expect("write");
        let files = TlsFiles {
            ca_cert: Some(text),
            ..TlsFiles::default()
        };
        let error = files.client_config().expect_err("not pem").to_string();
        assert!(error.starts_with("--ca-cert "), "{error}");
        assert!(error.contains("not a PEM file"), "{error}");
        let missing = TlsFiles {
            ca_cert: Some(dir.path().join("missing.pem")),
            ..TlsFiles::default()
        };
        let error = missing.client_config().expect_err("missing").to_string();
        assert!(error.contains("missing.pem: cannot read"), "{error}");
        let half = TlsFiles {
            client_cert: Some(dir.path().join("client.pem")),
            ..TlsFiles::default()
        };
        let error = format!("{:#}", half.client_config().expect_err("no key"));
        assert!(
            error.contains("--client-cert needs --client-key"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn tls_files_need_an_https_address() {
        let target = Remote {
            addr: "http://127.0.0.1:1".to_owned(),
            tls: TlsFiles {
                ca_cert: Some(PathBuf::from("ca.pem")),
                ..TlsFiles::default()
            },
        };
        let error = Connection::open(&target, None)
            .await
            .expect_err("http with tls files")
            .to_string();
        assert!(error.contains("need an https:// address"), "{error}");
    }

    #[test]
    fn key_files_are_trimmed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.key");
        std::fs::write(&path, "  hk_secret\n").expect("write");
        assert_eq!(read_key_file(&path).expect("read"), "hk_secret");
        std::fs::write(&path, "\n").expect("write");
        assert!(read_key_file(&path).is_err());
    }

    #[test]
    fn keys_come_from_flag_then_file_then_env_then_an_existing_fallback() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.key");
        std::fs::write(&file, "from-file").expect("write");
        let fallback = dir.path().join("admin.key");
        std::fs::write(&fallback, "from-fallback").expect("write");
        let all = KeySources {
            flag: Some("flag"),
            file: Some(&file),
            env: Some("env"),
            fallback_file: Some(&fallback),
        };
        let resolve = |sources| resolve_key(sources).expect("resolves");
        assert_eq!(resolve(all).as_deref(), Some("flag"));
        let no_flag = KeySources { flag: None, ..all };
        assert_eq!(resolve(no_flag).as_deref(), Some("from-file"));
        let env_only = KeySources {
            file: None,
            ..no_flag
        };
        assert_eq!(resolve(env_only).as_deref(), Some("env"));
        let fallback_only = KeySources {
            env: Some("  "),
            ..env_only
        };
        assert_eq!(resolve(fallback_only).as_deref(), Some("from-fallback"));
        let missing = dir.path().join("missing.key");
        let none = KeySources {
            fallback_file: Some(&missing),
            ..fallback_only
        };
        assert_eq!(resolve(none), None);
        let named_missing = KeySources {
            file: Some(&missing),
            ..none
        };
        assert!(resolve_key(named_missing).is_err());
    }

    #[test]
    fn the_interceptor_sends_a_bearer_header_and_debug_hides_it() {
        let mut auth = BearerAuth {
            header: Some(bearer_header("hk_secret").expect("ascii")),
        };
        let request = auth.call(tonic::Request::new(())).expect("intercept");
        let header = request.metadata().get("authorization").expect("header");
        assert_eq!(header.to_str().expect("ascii"), "Bearer hk_secret");
        assert!(!format!("{auth:?}").contains("hk_secret"));
        assert!(bearer_header("键").is_err());
        assert!(bearer_header("two words").is_err());
    }
}
