//! Transport security: reads and checks the TLS settings into tonic's
//! [`ServerTlsConfig`], and tells which API key a verified client certificate
//! names.
//!
//! A client certificate names a key by a URI subject alternative name
//! `urn:hotline:key:<key id>` (e.g. `urn:hotline:key:key_0123456789abcdef`).
//! A URI name is chosen over the subject common name because it is typed and
//! parsed by the same verifier that checked the chain (rustls-webpki), and over
//! a DNS name because a key id (with its `_`) is no host name.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::auth::KEY_ID_PREFIX;
use crate::config::ServerConfig;

/// Prefix of the URI subject alternative name that names an API key.
pub const KEY_URI_PREFIX: &str = "urn:hotline:key:";

/// Longest a TLS handshake may take before the connection is dropped: a
/// client that stalls mid-handshake must not hold a connection slot.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A TLS setting that cannot be used, naming the setting and its file.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The file cannot be read.
    #[error("{setting} {}: cannot read the file: {source}", .path.display())]
    Unreadable {
        /// The setting's file key.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no PEM item of the expected kind, or a malformed one.
    #[error("{setting} {}: {expected}", .path.display())]
    NotPem {
        /// The setting's file key.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// What the file should hold.
        expected: &'static str,
    },
    /// rustls refuses the certificate, key or CA bundle (e.g. a key that is
    /// not the certificate's).
    #[error("tls_cert, tls_key and client_ca do not make a usable TLS setup: {0}")]
    Refused(String),
}

/// Reads the TLS files of `config` and returns the server's TLS setup, or
/// `None` when TLS is not configured. Every file is checked here, so that a bad
/// one stops the server at start with its setting and path named, not at the
/// first handshake.
///
/// # Errors
/// A file cannot be read, is not PEM of the expected kind, or rustls refuses
/// the combination.
pub async fn server_tls(config: &ServerConfig) -> Result<Option<ServerTlsConfig>, TlsSetupError> {
    let (Some(cert_path), Some(key_path)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    let cert = read("tls_cert", cert_path).await?;
    check_certificates("tls_cert", cert_path, &cert)?;
    let key = read("tls_key", key_path).await?;
    if PrivateKeyDer::from_pem_slice(&key).is_err() {
        return Err(TlsSetupError::NotPem {
            setting: "tls_key",
            path: key_path.clone(),
            expected: "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
        });
    }
    let mut tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(cert, key))
        .timeout(HANDSHAKE_TIMEOUT);
    if let Some(ca_path) = &config.client_ca {
        let ca = read("client_ca", ca_path).await?;
        check_certificates("client_ca", ca_path, &ca)?;
        tls = tls.client_ca_root(Certificate::from_pem(ca));
    }
    // Builds the acceptor once now: rustls checks that the key matches the
    // certificate and that the CA bundle makes a verifier.
    tonic::transport::Server::builder()
        .tls_config(tls.clone())
        .map_err(|e| TlsSetupError::Refused(error_chain(&e)))?;
    Ok(Some(tls))
}

async fn read(setting: &'static str, path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    tokio::fs::read(path)
        .await
        .map_err(|source| TlsSetupError::Unreadable {
            setting,
            path: path.to_path_buf(),
            source,
        })
}

/// Checks that `pem` holds one or more certificates and nothing malformed.
fn check_certificates(setting: &'static str, path: &Path, pem: &[u8]) -> Result<(), TlsSetupError> {
    let parsed: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    match parsed {
        Ok(certs) if !certs.is_empty() => Ok(()),
        _ => Err(TlsSetupError::NotPem {
            setting,
            path: path.to_path_buf(),
            expected: "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        }),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A client certificate that names API keys wrongly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateKeyError {
    /// A `urn:hotline:key:` name is followed by no well-formed key id.
    #[error("the client certificate has a malformed key name")]
    Malformed,
    /// The certificate names more than one key.
    #[error("the client certificate names several api keys")]
    Several,
}

/// Returns the API key id a client certificate (DER, as verified by the
/// handshake) names, if any.
///
/// # Errors
/// A malformed key name, or several keys named.
pub fn certificate_key_id(
    leaf: &CertificateDer<'_>,
) -> Result<Option<String>, CertificateKeyError> {
    let Ok(cert) = webpki::EndEntityCert::try_from(leaf) else {
        // The handshake verified this certificate with the same parser, so
        // this is unreachable in practice; such a certificate names nothing.
        return Ok(None);
    };
    let mut named: Option<&str> = None;
    for uri in cert.valid_uri_names() {
        let Some(id) = uri.strip_prefix(KEY_URI_PREFIX) else {
            continue;
        };
        if !is_key_id(id) {
            return Err(CertificateKeyError::Malformed);
        }
        match named {
            Some(other) if other != id => return Err(CertificateKeyError::Several),
            _ => named = Some(id),
        }
    }
    Ok(named.map(str::to_owned))
}

/// Returns whether `text` has the shape of a key id: `key_` and 16 lowercase hex digits.
pub fn is_key_id(text: &str) -> bool {
    text.strip_prefix(KEY_ID_PREFIX).is_some_and(|hex| {
        hex.len() == 16
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_key_and_sixteen_lowercase_hex_digits() {
        assert!(is_key_id("key_0123456789abcdef"));
        assert!(!is_key_id("key_0123456789ABCDEF"));
        assert!(!is_key_id("key_0123456789abcde"));
        assert!(!is_key_id("key_0123456789abcdef0"));
        assert!(!is_key_id("kex_0123456789abcdef"));
        assert!(!is_key_id(""));
    }

    /// A self-signed certificate with these URI names, and its key (PEM).
    fn certificate_with_uris(uris: &[&str]) -> (CertificateDer<'static>, String, String) {
        let mut params =
            rcgen::CertificateParams::new(vec!["client.test".to_owned()]).expect("params");
        for uri in uris {
            params.subject_alt_names.push(rcgen::SanType::URI(
                (*uri).try_into().expect("an ia5 string"),
            ));
        }
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("certificate");
        (cert.der().clone(), cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_uri_name_names_the_key_and_other_names_are_ignored() {
        let (cert, ..) = certificate_with_uris(&[
            "https://example.org/x",
            "urn:hotline:key:key_0123456789abcdef",
        ]);
        assert_eq!(
            certificate_key_id(&cert),
            Ok(Some("key_0123456789abcdef".to_owned()))
        );
        let (same_twice, ..) = certificate_with_uris(&[
            "urn:hotline:key:key_0123456789abcdef",
            "urn:hotline:key:key_0123456789abcdef",
        ]);
        assert_eq!(
            certificate_key_id(&same_twice),
            Ok(Some("key_0123456789abcdef".to_owned()))
        );
        let (none, ..) = certificate_with_uris(&["spiffe://cluster/ns/hotline"]);
        assert_eq!(certificate_key_id(&none), Ok(None));
    }

    #[test]
    fn several_or_malformed_key_names_are_refused() {
        let (several, ..) = certificate_with_uris(&[
            "urn:hotline:key:key_0123456789abcdef",
            "urn:hotline:key:key_fedcba9876543210",
        ]);
        assert_eq!(
            certificate_key_id(&several),
            Err(CertificateKeyError::Several)
        );
        let (malformed, ..) = certificate_with_uris(&["urn:hotline:key:admin"]);
        assert_eq!(
            certificate_key_id(&malformed),
            Err(CertificateKeyError::Malformed)
        );
    }

    #[tokio::test]
    async fn a_key_that_is_not_the_certificates_is_refused_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, cert_pem, key_pem) = certificate_with_uris(&[]);
        let (_, _, other_key_pem) = certificate_with_uris(&[]);
        let cert = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        let other = dir.path().join("other.key");
        std::fs::write(&cert, cert_pem).expect("write");
        std::fs::write(&key, key_pem).expect("write");
        std::fs::write(&other, other_key_pem).expect("write");
        let config = ServerConfig {
            tls_cert: Some(cert.clone()),
            tls_key: Some(key),
            ..ServerConfig::default()
        };
        assert!(
            server_tls(&config)
                .await
                .expect("a matching pair")
                .is_some()
        );
        let mismatched = ServerConfig {
            tls_key: Some(other),
            ..config.clone()
        };
        let error = server_tls(&mismatched).await.expect_err("not its key");
        assert!(matches!(error, TlsSetupError::Refused(_)), "{error}");
        let key_is_a_cert = ServerConfig {
            tls_key: Some(cert.clone()),
            ..config.clone()
        };
        let error = server_tls(&key_is_a_cert)
            .await
            .expect_err("no key")
            .to_string();
        assert!(error.starts_with("tls_key "), "{error}");
        assert!(error.contains("holds no PEM private key"), "{error}");
        let bad_ca = ServerConfig {
            client_ca: Some(dir.path().join("ca-missing.pem")),
            ..config
        };
        let error = server_tls(&bad_ca).await.expect_err("no ca").to_string();
        assert!(error.starts_with("client_ca "), "{error}");
    }

    #[test]
    fn a_non_certificate_names_no_key() {
        let junk = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        assert_eq!(certificate_key_id(&junk), Ok(None));
    }

    #[tokio::test]
    async fn missing_and_non_pem_files_name_the_setting_and_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = dir.path().join("cert.txt");
        std::fs::write(&text, "not a certificate").expect("write");
        let config = ServerConfig {
            tls_cert: Some(dir.path().join("missing.pem")),
            tls_key: Some(text.clone()),
            ..ServerConfig::default()
        };
        let missing = server_tls(&config).await.expect_err("missing").to_string();
        assert!(missing.starts_with("tls_cert "), "{missing}");
        assert!(
            missing.contains("missing.pem: cannot read the file"),
            "{missing}"
        );
        let config = ServerConfig {
            tls_cert: Some(text.clone()),
            ..config
        };
        let not_pem = server_tls(&config).await.expect_err("not pem").to_string();
        assert!(not_pem.starts_with("tls_cert "), "{not_pem}");
        assert!(
            not_pem.contains("cert.txt: holds no PEM certificate"),
            "{not_pem}"
        );
        assert!(
            server_tls(&ServerConfig::default())
                .await
                .expect("no tls")
                .is_none()
        );
    }
}
