//! Certificate authorities and certificates for the TLS tests, made with
//! rcgen at run time: nothing secret is committed, and every test has its own.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// A certificate and its private key, in PEM.
#[derive(Debug, Clone)]
pub struct Pem {
    /// The certificate.
    pub cert: String,
    /// Its private key.
    pub key: String,
}

/// A certificate authority that issues server and client certificates.
#[derive(Debug)]
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    /// Makes a self-signed CA named `name`.
    ///
    /// # Errors
    /// Key generation or signing fails.
    pub fn new(name: &str) -> anyhow::Result<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(Self { issuer })
    }

    /// Returns the CA certificate in PEM.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// Issues a server certificate for `localhost` and `127.0.0.1`.
    ///
    /// # Errors
    /// Key generation or signing fails.
    pub fn server(&self) -> anyhow::Result<Pem> {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "hotline test server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(&params)
    }

    /// Issues a client certificate; with `key_id`, it names that API key by the
    /// URI name `urn:hotline:key:<key_id>`.
    ///
    /// # Errors
    /// Key generation or signing fails, or `key_id` is no IA5 string.
    pub fn client(&self, key_id: Option<&str>) -> anyhow::Result<Pem> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "intake desk");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        if let Some(id) = key_id {
            let uri = format!("{}{id}", hotline_server::tls::KEY_URI_PREFIX);
            params.subject_alt_names.push(SanType::URI(uri.try_into()?));
        }
        self.issue(&params)
    }

    fn issue(&self, params: &CertificateParams) -> anyhow::Result<Pem> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }

    /// Returns a client TLS setup trusting this CA, presenting `identity` if given.
    pub fn client_tls(&self, identity: Option<&Pem>) -> ClientTlsConfig {
        let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(self.cert_pem()));
        match identity {
            Some(pem) => tls.identity(Identity::from_pem(&pem.cert, &pem.key)),
            None => tls,
        }
    }
}

/// Writes `contents` to `dir/name` and returns the path.
///
/// # Errors
/// The file cannot be written.
pub fn write(
    dir: &std::path::Path,
    name: &str,
    contents: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, contents)?;
    Ok(path)
}
