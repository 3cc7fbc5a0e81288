//! Who may call what: API key generation and hashing, what a call presents
//! ([`Credentials`]), the [`Rpc`] list and the one authorization matrix
//! ([`authorize`]), and a short-lived cache of key look-ups.
//!
//! Keys are `hl_` followed by 64 hex digits (32 bytes from the OS RNG). Only
//! their HMAC-SHA-256 under a server secret is stored ([`KeyHasher`]): a key is
//! a long random secret, so a fast hash is enough and a password hash on every
//! call would cap throughput (SPEC §5); the server secret means a copy of the
//! key table alone does not let anyone test guesses offline.
//! The matrix is written out in `docs/authorization.md`; a test checks that
//! the table and [`authorize`] agree on every (rpc, role) pair.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit as _, Mac as _};
use hotline_core::Role;
use hotline_store::ApiKeyRecord;
use sha2::Sha256;

use crate::tls::{CertificateKeyError, certificate_key_id};

/// Prefix of every API key secret.
pub const KEY_PREFIX: &str = "hl_";
/// Prefix of every API key id.
pub const KEY_ID_PREFIX: &str = "key_";
/// Random bytes in a secret (64 hex digits).
const SECRET_BYTES: usize = 32;
/// Random bytes in a key id (16 hex digits).
const KEY_ID_BYTES: usize = 8;

/// Declares the [`Rpc`] enum with its gRPC method names and `ALL`.
macro_rules! rpcs {
    ($($service:literal { $($variant:ident),+ $(,)? })+) => {
        /// Every RPC of package `hotline.v1`, for authorization and logs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Rpc {
            $($(
                #[doc = concat!("`", $service, "/", stringify!($variant), "`.")]
                $variant,
            )+)+
        }

        impl Rpc {
            /// Every RPC, in the order of the proto files.
            pub const ALL: &'static [Rpc] = &[$($(Rpc::$variant,)+)+];

            /// Returns the gRPC method name (`CreateTicket`).
            pub fn name(self) -> &'static str {
                match self { $($(Rpc::$variant => stringify!($variant),)+)+ }
            }

            /// Returns the short service name (`TicketService`).
            pub fn service(self) -> &'static str {
                match self { $($(Rpc::$variant => $service,)+)+ }
            }
        }
    };
}

rpcs! {
    "TicketService" {
        CreateTicket, GetTicket, ListTickets, GetTimeline, Dispatch, AnswerDirectly, ReviewReply,
        RecordCallback, WithdrawTicket, MergeTickets, FindSimilar, MarkInvalid,
    }
    "DepartmentService" {
        ListAssignments, WatchAssignments, SignTicket, ReturnTicket, RequestExtension,
        RequestSuspension, ResumeTicket, AddProgress, DelegateTicket, SubmitOpinion, ReplyTicket,
        DisputeRating,
    }
    "SupervisionService" {
        ListOverdue, ListDueSoon, UrgeTicket, SuperviseTicket, DecideExtension, DecideReturn,
        DecideSuspension, DecideDispute, GetDepartmentStats, ListHotspots,
    }
    "AdminService" {
        UpsertDepartment, ListDepartments, PutRoutingRules, GetRoutingRules, PutDeadlinePolicy,
        GetDeadlinePolicy, PutCalendar, GetCalendar, CreateApiKey, ListApiKeys, RevokeApiKey,
        ReloadClassifier, PutTaxonomy, GetTaxonomy,
    }
}

/// Returns whether a credential of `role` may call `rpc`: the one authorization matrix.
///
/// Department scoping (which tickets a DEPARTMENT key sees) is applied on top, per call.
pub fn authorize(rpc: Rpc, role: Role) -> bool {
    use Role::{Admin, Department, Operator, Supervisor};
    let allowed: &[Role] = match rpc {
        Rpc::CreateTicket
        | Rpc::Dispatch
        | Rpc::AnswerDirectly
        | Rpc::ReviewReply
        | Rpc::RecordCallback
        | Rpc::WithdrawTicket
        | Rpc::MergeTickets
        | Rpc::MarkInvalid => &[Operator],
        Rpc::GetTicket | Rpc::ListTickets | Rpc::GetTimeline | Rpc::FindSimilar => {
            &[Operator, Supervisor, Admin, Department]
        }
        Rpc::SignTicket
        | Rpc::ReturnTicket
        | Rpc::RequestExtension
        | Rpc::RequestSuspension
        | Rpc::AddProgress
        | Rpc::DelegateTicket
        | Rpc::SubmitOpinion
        | Rpc::ReplyTicket
        | Rpc::DisputeRating => &[Department],
        Rpc::ResumeTicket => &[Department, Supervisor],
        Rpc::ListAssignments | Rpc::WatchAssignments => &[Department, Supervisor, Admin],
        Rpc::UrgeTicket
        | Rpc::SuperviseTicket
        | Rpc::DecideExtension
        | Rpc::DecideSuspension
        | Rpc::DecideDispute => &[Supervisor],
        Rpc::DecideReturn => &[Supervisor, Operator],
        Rpc::ListOverdue | Rpc::ListDueSoon | Rpc::GetDepartmentStats => {
            &[Supervisor, Admin, Department]
        }
        Rpc::ListHotspots => &[Supervisor, Admin],
        Rpc::UpsertDepartment
        | Rpc::ListDepartments
        | Rpc::PutRoutingRules
        | Rpc::GetRoutingRules
        | Rpc::PutDeadlinePolicy
        | Rpc::GetDeadlinePolicy
        | Rpc::PutCalendar
        | Rpc::GetCalendar
        | Rpc::CreateApiKey
        | Rpc::ListApiKeys
        | Rpc::RevokeApiKey
        | Rpc::ReloadClassifier
        | Rpc::PutTaxonomy => &[Admin],
        // Operators choose categories at intake; supervisors filter by them.
        Rpc::GetTaxonomy => &[Operator, Supervisor, Admin],
    };
    allowed.contains(&role)
}

/// A freshly generated API key. The secret is shown once and never logged.
pub struct NewKey {
    /// Public id (`key_` + 16 hex digits).
    pub id: String,
    /// The secret (`hl_` + 64 hex digits), for the caller only.
    pub secret: String,
    /// Keyed hash of the secret ([`KeyHasher::hash`]): what the store keeps.
    pub secret_hash: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .field("secret_hash", &self.secret_hash)
            .finish()
    }
}

/// Generates a key id and secret from the operating system's RNG, hashed with `hasher`.
///
/// # Errors
/// When the OS RNG is unavailable.
pub fn generate_key(hasher: &KeyHasher) -> anyhow::Result<NewKey> {
    let mut secret = [0u8; SECRET_BYTES];
    let mut id = [0u8; KEY_ID_BYTES];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("os rng failed: {e}"))?;
    getrandom::fill(&mut id).map_err(|e| anyhow::anyhow!("os rng failed: {e}"))?;
    let secret = format!("{KEY_PREFIX}{}", hex::encode(secret));
    Ok(NewKey {
        id: format!("{KEY_ID_PREFIX}{}", hex::encode(id)),
        secret_hash: hasher.hash(&secret),
        secret,
    })
}

/// Hashes API key secrets as HMAC-SHA-256 keyed with the server secret: the
/// form `ApiKeyRecord.secret_hash` holds. Every replica sharing a database
/// must use the same server secret.
#[derive(Clone)]
pub struct KeyHasher {
    /// The MAC keyed with the server secret, cloned for each hash.
    mac: Hmac<Sha256>,
}

/// A server secret too short to key the hashes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the key hash secret has {0} bytes; at least {min} are needed", min = KeyHasher::MIN_SECRET_BYTES)]
pub struct ShortSecret(pub usize);

impl KeyHasher {
    /// Fewest bytes of server secret accepted: as many as the hash's output.
    pub const MIN_SECRET_BYTES: usize = 32;

    /// Keys the hashes with `server_secret`.
    ///
    /// # Errors
    /// A secret shorter than [`KeyHasher::MIN_SECRET_BYTES`].
    pub fn new(server_secret: &[u8]) -> Result<Self, ShortSecret> {
        if server_secret.len() < Self::MIN_SECRET_BYTES {
            return Err(ShortSecret(server_secret.len()));
        }
        let mac = Hmac::<Sha256>::new_from_slice(server_secret)
            .map_err(|_| ShortSecret(server_secret.len()))?;
        Ok(Self { mac })
    }

    /// Keys the hashes with 32 bytes from the OS RNG: for a state through which
    /// no key is ever checked again (a tool's sweeper).
    ///
    /// # Errors
    /// When the OS RNG is unavailable.
    pub fn random() -> anyhow::Result<Self> {
        let mut secret = [0u8; Self::MIN_SECRET_BYTES];
        getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("os rng failed: {e}"))?;
        Ok(Self::new(&secret)?)
    }

    /// Returns the lowercase hex HMAC-SHA-256 of a key secret.
    pub fn hash(&self, secret: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(secret.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Never shows the server secret.
impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher([redacted])")
    }
}

/// What a call presents to prove who makes it: a bearer secret, a verified
/// client certificate naming a key, or both; and where it comes from, for logs.
#[derive(Debug, Clone)]
pub struct Credentials<'a> {
    /// The text after `Bearer ` in the `authorization` header, if any.
    pub bearer: Option<&'a str>,
    /// The key id the verified client certificate names, if any.
    pub certificate_key: Result<Option<String>, CertificateKeyError>,
    /// The peer's address, when the transport knows it.
    pub peer: Option<SocketAddr>,
}

impl<'a> Credentials<'a> {
    /// Reads the credentials of a request: its `authorization` metadata and the
    /// client certificate the TLS handshake verified (first of the chain).
    pub fn of<T>(request: &'a tonic::Request<T>) -> Self {
        let bearer = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|text| {
                text.strip_prefix("Bearer ")
                    .or_else(|| text.strip_prefix("bearer "))
            })
            .map(str::trim);
        let certificate_key = match request.peer_certs() {
            Some(chain) => chain.first().map_or(Ok(None), certificate_key_id),
            None => Ok(None),
        };
        Credentials {
            bearer,
            certificate_key,
            peer: request.remote_addr(),
        }
    }

    /// Returns the peer address for logs, or `unknown`.
    pub fn peer_label(&self) -> String {
        self.peer
            .map_or_else(|| "unknown".to_owned(), |addr| addr.to_string())
    }
}

/// Returns whether `text` has the shape of a key secret (checked before any look-up).
pub fn is_well_formed_secret(text: &str) -> bool {
    text.strip_prefix(KEY_PREFIX).is_some_and(|hex| {
        hex.len() == 2 * SECRET_BYTES && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Compares two hashes without an early exit, so timing reveals nothing.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// How long a key look-up is trusted: the upper bound on how late a revocation
/// made by another process takes effect (this process clears the cache at once).
const KEY_CACHE_TTL: Duration = Duration::from_secs(2);
/// Entries kept before the cache is emptied; bounds memory under a flood of bad keys.
const KEY_CACHE_MAX: usize = 10_000;

/// A brief cache of key look-ups by secret hash or by key id (a hash is hex
/// digits only and an id starts with `key_`, so the two never collide),
/// negative answers included.
#[derive(Debug, Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, (Instant, Option<ApiKeyRecord>)>>,
}

impl KeyCache {
    /// Returns the cached answer for a hash or id, if it is still fresh.
    pub fn get(&self, lookup: &str) -> Option<Option<ApiKeyRecord>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(lookup)
            .filter(|(at, _)| at.elapsed() < KEY_CACHE_TTL)
            .map(|(_, record)| record.clone())
    }

    /// Remembers the answer for a hash or id.
    pub fn put(&self, lookup: String, record: Option<ApiKeyRecord>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= KEY_CACHE_MAX {
            entries.clear();
        }
        entries.insert(lookup, (Instant::now(), record));
    }

    /// Forgets everything, e.g. after a revocation.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn hasher(byte: u8) -> KeyHasher {
        KeyHasher::new(&[byte; 32]).expect("32 bytes")
    }

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let hasher = hasher(7);
        let key = generate_key(&hasher).expect("os rng");
        assert!(is_well_formed_secret(&key.secret), "{}", key.id);
        assert_eq!(key.secret.len(), 3 + 64);
        assert!(key.id.starts_with("key_"));
        assert_eq!(key.id.len(), 4 + 16);
        assert!(key.id[4..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(key.secret_hash, hasher.hash(&key.secret));
        assert_eq!(key.secret_hash.len(), 64);
        assert!(!format!("{key:?}").contains(&key.secret));
        let other = generate_key(&hasher).expect("os rng");
        assert_ne!(key.secret, other.secret);
        assert_ne!(key.id, other.id);
    }

    #[test]
    fn hashing_is_hmac_sha256_hex() {
        // RFC 4231, test case 6: a 131-byte key.
        let hasher = KeyHasher::new(&[0xaa; 131]).expect("long enough");
        assert_eq!(
            hasher.hash("Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn keyed_hashes_differ_from_plain_sha256_and_between_server_secrets() {
        use sha2::Digest as _;
        let secret = format!("hl_{}", "0f".repeat(32));
        let plain = hex::encode(Sha256::digest(secret.as_bytes()));
        let one = hasher(1).hash(&secret);
        let two = hasher(2).hash(&secret);
        assert_ne!(one, plain);
        assert_ne!(one, two);
        assert_eq!(
            one,
            hasher(1).hash(&secret),
            "the same secret hashes the same"
        );
    }

    #[test]
    fn short_server_secrets_are_refused_and_none_is_shown() {
        assert_eq!(KeyHasher::new(&[1; 31]).err(), Some(ShortSecret(31)));
        assert!(KeyHasher::new(b"").is_err());
        assert_eq!(format!("{:?}", hasher(0x41)), "KeyHasher([redacted])");
    }

    #[test]
    fn malformed_secrets_are_refused_before_any_lookup() {
        assert!(!is_well_formed_secret(""));
        assert!(!is_well_formed_secret("hl_abc"));
        assert!(!is_well_formed_secret(&format!("xx_{}", "a".repeat(64))));
        assert!(!is_well_formed_secret(&format!("hl_{}", "g".repeat(64))));
        assert!(is_well_formed_secret(&format!("hl_{}", "0f".repeat(32))));
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq("abcd", "abcd"));
        assert!(!constant_time_eq("abcd", "abce"));
        assert!(!constant_time_eq("abc", "abcd"));
    }

    #[test]
    fn rpc_list_has_all_48_rpcs_once() {
        assert_eq!(Rpc::ALL.len(), 48);
        let names: std::collections::BTreeSet<_> = Rpc::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), 48);
    }

    /// Reads the matrix table of `docs/authorization.md`: rpc name → allowed roles.
    fn documented_matrix() -> BTreeMap<String, Vec<Role>> {
        let doc = include_str!("../../../docs/authorization.md");
        let mut header: Vec<String> = Vec::new();
        let mut matrix = BTreeMap::new();
        // The matrix is the table whose header starts with `Service`; it ends at the first
        // line that is not a table row.
        let table = doc
            .lines()
            .skip_while(|l| !l.starts_with("| Service |"))
            .take_while(|l| l.starts_with('|'));
        for line in table {
            let cells: Vec<String> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect();
            if cells
                .iter()
                .all(|c| c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
            {
                continue;
            }
            if cells.first().is_some_and(|c| c == "Service") {
                header = cells;
                continue;
            }
            let rpc = cells[1].trim_matches('`').to_owned();
            let roles = header
                .iter()
                .zip(&cells)
                .filter(|(_, cell)| cell.starts_with('✓'))
                .map(|(role, _)| role.parse::<Role>().expect("role column"))
                .collect();
            assert!(
                matrix.insert(rpc.clone(), roles).is_none(),
                "{rpc} listed twice"
            );
        }
        matrix
    }

    #[test]
    fn authorize_matches_the_documented_matrix_for_every_rpc_and_role() {
        let documented = documented_matrix();
        assert_eq!(
            documented.len(),
            Rpc::ALL.len(),
            "the doc lists every rpc once"
        );
        for rpc in Rpc::ALL {
            let allowed = documented
                .get(rpc.name())
                .unwrap_or_else(|| panic!("{} missing from docs/authorization.md", rpc.name()));
            for role in Role::ALL {
                assert_eq!(
                    authorize(*rpc, *role),
                    allowed.contains(role),
                    "{} for {}",
                    rpc.name(),
                    role
                );
            }
        }
    }

    #[test]
    fn the_system_role_calls_nothing_over_grpc() {
        assert!(Rpc::ALL.iter().all(|rpc| !authorize(*rpc, Role::System)));
    }

    #[test]
    fn key_cache_forgets_on_clear() {
        let cache = KeyCache::default();
        cache.put("h".to_owned(), None);
        assert_eq!(cache.get("h"), Some(None));
        cache.clear();
        assert_eq!(cache.get("h"), None);
    }
}
