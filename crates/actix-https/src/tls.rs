//! Turns identities and a policy into the `SslAcceptorBuilder` that
//! `HttpServer::bind_openssl` takes.
//!
//! Every handshake goes through one servername callback that picks the
//! identity for the name the client asked for (SNI, with wildcards) and
//! switches the connection to that identity's current `SslContext`. The same
//! switch is what makes hot reload work: a background thread watches the
//! certificate and key files, builds a new context when they change, and
//! swaps it in; handshakes already under way keep the old one. Every context
//! is built by one function, so policy and client verification are the same
//! whichever identity serves.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime};

use openssl::ssl::{
    AlpnError, ClientHelloResponse, NameType, SniError, SslAcceptor, SslAcceptorBuilder,
    SslContext, SslContextBuilder, SslFiletype, SslMethod, SslVerifyMode,
};
use openssl::x509::store::{X509Lookup, X509StoreBuilder};
use openssl::x509::verify::X509VerifyFlags;
use pki::{Certificate, Passphrase};

use crate::client::{ClientAuth, ClientVerification, CrlProblem, refuse_ca_leaf};
use crate::error::{Context as _, Error, Result};
use crate::identity::Identity;

/// The key exchanges offered, as Mozilla's intermediate and modern
/// configurations list them (version 5.7): X448 and P-521 are left out, as
/// sslyze's Mozilla check and every current client expect.
const GROUPS: &str = "X25519:P-256:P-384";

/// The session id context when clients are not verified. With client
/// verification it is a digest of the policy instead
/// ([`ClientVerification::session_id_context`]).
const SESSION_ID_CONTEXT: &[u8] = b"actix-https";

/// The TLS versions and ciphers offered, after Mozilla's server-side TLS
/// recommendations (version 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsProfile {
    /// TLS 1.2 and 1.3 with forward-secret AEAD ciphers: every current client.
    #[default]
    Intermediate,
    /// TLS 1.3 only.
    Modern,
}

impl TlsProfile {
    fn acceptor(self) -> Result<SslAcceptorBuilder> {
        match self {
            TlsProfile::Intermediate => {
                SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
            }
            TlsProfile::Modern => SslAcceptor::mozilla_modern_v5(SslMethod::tls_server()),
        }
        .context("start a TLS acceptor")
    }
}

/// Where an identity comes from: fixed in memory, or files that are
/// watched and reloaded.
pub enum IdentitySource {
    /// Served as it is until the server stops.
    Fixed(Identity),
    /// Read from these files now, and again whenever they change.
    Files {
        /// The certificate file (leaf, then intermediates).
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// The key's pass phrase, if it is encrypted.
        passphrase: Option<Arc<Passphrase>>,
    },
}

impl fmt::Debug for IdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentitySource::Fixed(id) => f.debug_tuple("Fixed").field(id).finish(),
            IdentitySource::Files {
                cert,
                key,
                passphrase,
            } => f
                .debug_struct("Files")
                .field("cert", cert)
                .field("key", key)
                .field("encrypted", &passphrase.is_some())
                .finish(),
        }
    }
}

impl IdentitySource {
    fn load(&self) -> Result<Identity> {
        match self {
            IdentitySource::Fixed(id) => Ok(id.clone()),
            IdentitySource::Files {
                cert,
                key,
                passphrase,
            } => Identity::from_files(cert, key, passphrase.as_deref()),
        }
    }

    fn stamp(&self) -> Option<Stamp> {
        match self {
            IdentitySource::Fixed(_) => None,
            IdentitySource::Files { cert, key, .. } => Some(Stamp::of(&[cert, key])),
        }
    }
}

/// What the reload watcher reports.
#[derive(Debug)]
pub enum ReloadEvent {
    /// New handshakes now use the new pair.
    Reloaded {
        /// The certificate file.
        cert: PathBuf,
        /// The new certificate.
        certificate: Certificate,
    },
    /// The CRL file changed; new handshakes check against it, and sessions
    /// from before it are not resumed.
    CrlReloaded {
        /// The CRL file.
        crl: PathBuf,
        /// Why the new CRL will refuse every client, if it will.
        problem: Option<CrlProblem>,
    },
    /// The client-CA file changed; new handshakes verify against it, and
    /// sessions from before it are not resumed.
    ClientCasReloaded {
        /// The client-CA file.
        file: PathBuf,
    },
    /// The new pair (or CRL, or client CAs) could not be used; the old one is kept.
    Failed {
        /// The certificate (or CRL, or client-CA) file.
        cert: PathBuf,
        /// Why.
        error: Error,
    },
}

type ReloadHook = Arc<dyn Fn(&ReloadEvent) + Send + Sync>;

/// Builds a [`TlsServer`].
pub struct TlsServerBuilder {
    profile: TlsProfile,
    client: Option<ClientVerification>,
    default: IdentitySource,
    sni: Vec<(SniPattern, IdentitySource)>,
    reload: Option<(Duration, ReloadHook)>,
}

impl fmt::Debug for TlsServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServerBuilder")
            .field("profile", &self.profile)
            .field("client", &self.client)
            .field("default", &self.default)
            .field("sni", &self.sni.len())
            .finish()
    }
}

impl TlsServerBuilder {
    /// A server that presents `identity` (to every client, until SNI
    /// entries are added).
    pub fn new(identity: IdentitySource) -> Self {
        TlsServerBuilder {
            profile: TlsProfile::default(),
            client: None,
            default: identity,
            sni: Vec::new(),
            reload: None,
        }
    }

    /// The TLS versions and ciphers.
    pub fn profile(mut self, profile: TlsProfile) -> Self {
        self.profile = profile;
        self
    }

    /// Asks clients for certificates and verifies them.
    pub fn client_auth(mut self, verification: ClientVerification) -> Self {
        self.client = Some(verification);
        self
    }

    /// Presents `identity` to clients asking for `host` (`app.test`, or
    /// `*.app.test` for any one label under it). The first match wins.
    pub fn sni(mut self, host: &str, identity: IdentitySource) -> Result<Self> {
        self.sni.push((SniPattern::parse(host)?, identity));
        Ok(self)
    }

    /// Watches the identity files every `interval` and swaps in a changed
    /// pair; `on_event` hears about each reload or failed attempt.
    pub fn reload_every(
        mut self,
        interval: Duration,
        on_event: impl Fn(&ReloadEvent) + Send + Sync + 'static,
    ) -> Self {
        self.reload = Some((interval, Arc::new(on_event)));
        self
    }

    /// Loads every identity and builds its context; any error here is a
    /// start-up error, before anything binds.
    pub fn build(self) -> Result<TlsServer> {
        let settings = Settings {
            profile: self.profile,
            client: RwLock::new(self.client.map(Arc::new)),
        };
        let served = |pattern: Option<SniPattern>, source: IdentitySource| -> Result<Served> {
            let identity = source.load()?;
            let context = settings.context(&identity)?;
            Ok(Served {
                pattern,
                stamp: Mutex::new(source.stamp()),
                source,
                current: RwLock::new((context, identity)),
            })
        };
        let default = served(None, self.default)?;
        let sni = self
            .sni
            .into_iter()
            .map(|(p, s)| served(Some(p), s))
            .collect::<Result<Vec<_>>>()?;
        let shared = Arc::new(Shared {
            settings,
            default,
            sni,
        });
        if let Some((interval, hook)) = self.reload {
            let weak = Arc::downgrade(&shared);
            std::thread::Builder::new()
                .name("tls-reload".to_owned())
                .spawn(move || watch(&weak, interval, &hook))
                .map_err(|source| Error::Thread {
                    what: "the certificate reload watcher",
                    source,
                })?;
        }
        Ok(TlsServer { shared })
    }
}

/// Identities and policy, ready to hand acceptors to actix-web.
#[derive(Clone)]
pub struct TlsServer {
    shared: Arc<Shared>,
}

impl fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServer")
            .field("profile", &self.shared.settings.profile)
            .field("sni", &self.shared.sni.len())
            .finish()
    }
}

impl TlsServer {
    /// A fresh acceptor builder for `HttpServer::bind_openssl` (one per
    /// bind; all share the identities and their reloads).
    pub fn acceptor(&self) -> Result<SslAcceptorBuilder> {
        let (_, identity) = self.shared.default.current();
        let mut builder = self.shared.settings.profile.acceptor()?;
        self.shared.settings.configure(&mut builder, &identity)?;
        // With client verification, before OpenSSL looks at a session the
        // client offers, the connection moves to the current context, whose
        // session id context names the current client CAs and CRL: a
        // session made under other ones is then not resumed. (The
        // servername callback below runs only after resumption was decided.)
        if self.shared.settings.client().is_some() {
            let shared = Arc::clone(&self.shared);
            builder.set_client_hello_callback(move |ssl, _alert| {
                ssl.set_ssl_context(&shared.default.context())?;
                Ok(ClientHelloResponse::SUCCESS)
            });
        }
        let shared = Arc::clone(&self.shared);
        builder.set_servername_callback(move |ssl, _alert| {
            let name = ssl.servername(NameType::HOST_NAME);
            let context = shared.pick(name).context();
            ssl.set_ssl_context(&context)
                .map_err(|_| SniError::ALERT_FATAL)
        });
        Ok(builder)
    }

    /// The certificate served to clients that match no SNI entry, as it is now.
    pub fn default_certificate(&self) -> Certificate {
        self.shared.default.current().1.certificate().clone()
    }

    /// The certificates of the SNI entries, with their host patterns.
    pub fn sni_certificates(&self) -> Vec<(String, Certificate)> {
        self.shared
            .sni
            .iter()
            .map(|s| {
                let pattern = s
                    .pattern
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                (pattern, s.current().1.certificate().clone())
            })
            .collect()
    }

    /// Whether client certificates are asked for, and how.
    pub fn client_auth(&self) -> Option<ClientAuth> {
        self.shared.settings.client().map(|c| c.mode())
    }

    /// Why the CRL in use will refuse every client, if it will.
    pub fn crl_problem(&self) -> Option<CrlProblem> {
        self.shared.settings.client()?.crl_problem().cloned()
    }
}

struct Settings {
    profile: TlsProfile,
    /// Replaced as a whole when the client-CA or CRL file changes.
    client: RwLock<Option<Arc<ClientVerification>>>,
}

impl Settings {
    fn client(&self) -> Option<Arc<ClientVerification>> {
        self.client
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn context(&self, identity: &Identity) -> Result<SslContext> {
        self.context_with(identity, self.client().as_deref())
    }

    fn context_with(
        &self,
        identity: &Identity,
        client: Option<&ClientVerification>,
    ) -> Result<SslContext> {
        let mut builder = self.profile.acceptor()?;
        configure(&mut builder, identity, client)?;
        Ok(builder.build().into_context())
    }

    fn configure(&self, builder: &mut SslContextBuilder, identity: &Identity) -> Result<()> {
        configure(builder, identity, self.client().as_deref())
    }
}

/// Every context the server uses is set up here.
fn configure(
    builder: &mut SslContextBuilder,
    identity: &Identity,
    client: Option<&ClientVerification>,
) -> Result<()> {
    builder
        .set_certificate(identity.certificate().as_x509())
        .context("use the certificate")?;
    for cert in identity.chain() {
        builder
            .add_extra_chain_cert(cert.as_x509().clone())
            .context("add an intermediate certificate")?;
    }
    builder
        .set_private_key(identity.key().as_pkey())
        .context("use the private key")?;
    builder
        .check_private_key()
        .context("check the key against the certificate")?;
    builder
        .set_groups_list(GROUPS)
        .context("choose the key exchange groups")?;
    // Read whole records (and what follows them) in one system call, as
    // nginx does; otherwise each record costs a read for its header and
    // another for its body.
    builder.set_read_ahead(true);
    builder.set_alpn_select_callback(|_, offered| {
        openssl::ssl::select_next_proto(b"\x02h2\x08http/1.1", offered).ok_or(AlpnError::NOACK)
    });
    let Some(client) = client else {
        return builder
            .set_session_id_context(SESSION_ID_CONTEXT)
            .context("set the session id context");
    };
    // Sessions resume only under the client policy that verified them.
    builder
        .set_session_id_context(&client.session_id_context())
        .context("set the session id context")?;
    let mut store = X509StoreBuilder::new().context("start the client CA store")?;
    for ca in client.cas() {
        store
            .add_cert(ca.as_x509().clone())
            .context("trust a client CA")?;
        builder
            .add_client_ca(ca.as_x509())
            .context("name a client CA to clients")?;
    }
    if let Some(crl) = client.crl() {
        let kind = if crl.pem {
            SslFiletype::PEM
        } else {
            SslFiletype::ASN1
        };
        store
            .add_lookup(X509Lookup::file())
            .context("prepare CRL loading")?
            .load_crl_file(&crl.path, kind)
            .context("load the CRL")?;
        store
            .set_flags(X509VerifyFlags::CRL_CHECK)
            .context("turn on CRL checking")?;
    }
    builder
        .set_verify_cert_store(store.build())
        .context("use the client CA store")?;
    let mode = match client.mode() {
        ClientAuth::Optional => SslVerifyMode::PEER,
        ClientAuth::Required => SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
    };
    builder.set_verify_callback(mode, refuse_ca_leaf);
    Ok(())
}

struct Shared {
    settings: Settings,
    default: Served,
    sni: Vec<Served>,
}

impl Shared {
    /// Rebuilds every context from its current identity with new client
    /// verification (a changed CRL or client-CA file); all or nothing, so
    /// one bad file leaves every context as it was.
    fn reload_client(
        &self,
        old: &ClientVerification,
        changed: &Path,
        event: impl FnOnce(&ClientVerification) -> ReloadEvent,
    ) -> ReloadEvent {
        let failed = |error| ReloadEvent::Failed {
            cert: changed.to_path_buf(),
            error,
        };
        let fresh = match old.reread() {
            Ok(fresh) => fresh,
            Err(error) => return failed(error),
        };
        let all: Vec<&Served> = std::iter::once(&self.default).chain(&self.sni).collect();
        let rebuilt: Result<Vec<SslContext>> = all
            .iter()
            .map(|served| {
                self.settings
                    .context_with(&served.current().1, Some(&fresh))
            })
            .collect();
        match rebuilt {
            Ok(contexts) => {
                let reported = event(&fresh);
                *self
                    .settings
                    .client
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(fresh));
                for (served, context) in all.iter().zip(contexts) {
                    served.current.write().unwrap_or_else(|e| e.into_inner()).0 = context;
                }
                reported
            }
            Err(error) => failed(error),
        }
    }

    fn pick(&self, name: Option<&str>) -> &Served {
        name.and_then(|n| {
            self.sni
                .iter()
                .find(|s| s.pattern.as_ref().is_some_and(|p| p.matches(n)))
        })
        .unwrap_or(&self.default)
    }
}

struct Served {
    pattern: Option<SniPattern>,
    source: IdentitySource,
    stamp: Mutex<Option<Stamp>>,
    current: RwLock<(SslContext, Identity)>,
}

impl Served {
    /// The context to switch a handshake to (a reference-count increment).
    fn context(&self) -> SslContext {
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        guard.0.clone()
    }

    fn current(&self) -> (SslContext, Identity) {
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        (guard.0.clone(), guard.1.clone())
    }

    /// Reloads if the files changed since last time; `None` if they did not.
    fn reload_if_changed(&self, settings: &Settings) -> Option<ReloadEvent> {
        let IdentitySource::Files { cert, .. } = &self.source else {
            return None;
        };
        let now = self.source.stamp();
        {
            let mut last = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
            if *last == now {
                return None;
            }
            *last = now;
        }
        let loaded = self
            .source
            .load()
            .and_then(|identity| Ok((settings.context(&identity)?, identity)));
        Some(match loaded {
            Ok((context, identity)) => {
                let certificate = identity.certificate().clone();
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = (context, identity);
                ReloadEvent::Reloaded {
                    cert: cert.clone(),
                    certificate,
                }
            }
            Err(error) => ReloadEvent::Failed {
                cert: cert.clone(),
                error,
            },
        })
    }
}

fn watch(shared: &Weak<Shared>, interval: Duration, hook: &ReloadHook) {
    let mut client_stamps = ClientStamps::default();
    if let Some(client) = shared.upgrade().and_then(|s| s.settings.client()) {
        client_stamps.changed(&client);
    }
    loop {
        std::thread::sleep(interval);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        for served in std::iter::once(&shared.default).chain(&shared.sni) {
            if let Some(event) = served.reload_if_changed(&shared.settings) {
                hook(&event);
            }
        }
        // The client-CA file and the CRL (after `pki revoke` + `pki crl`)
        // apply to every context.
        let Some(client) = shared.settings.client() else {
            continue;
        };
        let (ca_changed, crl_changed) = client_stamps.changed(&client);
        if let Some(path) = ca_changed {
            // The CRL is read again with the CAs, and not reported twice.
            hook(
                &shared.reload_client(&client, &path, |_| ReloadEvent::ClientCasReloaded {
                    file: path.clone(),
                }),
            );
        } else if let Some(path) = crl_changed {
            hook(
                &shared.reload_client(&client, &path, |fresh| ReloadEvent::CrlReloaded {
                    crl: path.clone(),
                    problem: fresh.crl_problem().cloned(),
                }),
            );
        }
    }
}

/// The last seen versions of the client-CA file and the CRL.
#[derive(Default)]
struct ClientStamps {
    seen: Option<(Option<Stamp>, Option<Stamp>)>,
}

impl ClientStamps {
    /// Which of the two files changed since the last call (none on the first).
    fn changed(&mut self, client: &ClientVerification) -> (Option<PathBuf>, Option<PathBuf>) {
        let ca = client.ca_file().map(Path::to_path_buf);
        let crl = client.crl().map(|c| c.path.clone());
        let now = (
            ca.as_ref().map(|p| Stamp::of(&[p])),
            crl.as_ref().map(|p| Stamp::of(&[p])),
        );
        let Some(before) = self.seen.replace(now.clone()) else {
            return (None, None);
        };
        (
            ca.filter(|_| before.0 != now.0),
            crl.filter(|_| before.1 != now.1),
        )
    }
}

/// What identifies a version of the files: size and modification time of each.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Vec<Option<(u64, SystemTime)>>);

impl Stamp {
    fn of(paths: &[&PathBuf]) -> Self {
        Stamp(
            paths
                .iter()
                .map(|p| {
                    std::fs::metadata(p)
                        .ok()
                        .map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)))
                })
                .collect(),
        )
    }
}

/// A host an SNI entry serves: exact, or `*.` plus a parent for any one label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SniPattern {
    host: String,
    wildcard: bool,
}

impl SniPattern {
    /// Parses `app.test` or `*.app.test`.
    pub fn parse(input: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidSni {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let lower = input.trim().trim_end_matches('.').to_ascii_lowercase();
        let (wildcard, host) = match lower.strip_prefix("*.") {
            Some(parent) => (true, parent.to_owned()),
            None => (false, lower.clone()),
        };
        if host.is_empty()
            || host.contains('*')
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(invalid(
                "write a host name such as app.test, or *.app.test for every name one label under it",
            ));
        }
        Ok(SniPattern { host, wildcard })
    }

    /// Whether a client asking for `name` gets this entry.
    pub fn matches(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if self.wildcard {
            name.split_once('.')
                .is_some_and(|(label, parent)| !label.is_empty() && parent == self.host)
        } else {
            name == self.host
        }
    }
}

impl fmt::Display for SniPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            write!(f, "*.{}", self.host)
        } else {
            f.write_str(&self.host)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_patterns_match_one_label_under_a_wildcard() {
        let exact = SniPattern::parse("App.Test").unwrap();
        assert!(exact.matches("app.test"));
        assert!(!exact.matches("www.app.test"));
        let wild = SniPattern::parse("*.app.test").unwrap();
        assert!(wild.matches("api.app.test"));
        assert!(!wild.matches("app.test"));
        assert!(!wild.matches("a.b.app.test"));
        for bad in ["", "*", "a.*.test", "host name", "*.*.test"] {
            assert!(SniPattern::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
