//! Turns identities and a policy into the `SslAcceptorBuilder` that
//! `HttpServer::bind_openssl` takes.
//!
//! Every handshake goes through one servername callback that picks the
//! identity for the name the client asked for (SNI, with wildcards) and
//! switches the connection to that identity's current `SslContext`. The
//! contexts in use form one `Snapshot`, replaced as a whole on reload
//! (see `reload.rs`); with client verification, the ClientHello callback
//! pins the snapshot a handshake starts with, so no handshake mixes an old
//! policy with a new one. Every context is built by one function
//! (`configure`), so policy and client verification are the same
//! whichever identity serves.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use openssl::error::ErrorStack;
use openssl::ex_data::Index;
use openssl::ssl::{
    AlpnError, ClientHelloResponse, NameType, SniError, Ssl, SslAcceptor, SslAcceptorBuilder,
    SslContext, SslContextBuilder, SslFiletype, SslMethod, SslOptions, SslVerifyMode,
};
use openssl::x509::store::{X509Lookup, X509StoreBuilder};
use openssl::x509::verify::X509VerifyFlags;
use pki::{Certificate, Identity, Passphrase};

use crate::client::{ClientAuth, ClientVerification, CrlProblem, refuse_ca_leaf};
use crate::error::{Context as _, Error, Result};
use crate::identity::{check_servable, is_self_signed_ca};
use crate::reload::{Stamp, watch};

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
        let mut builder = match self {
            TlsProfile::Intermediate => {
                SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
            }
            TlsProfile::Modern => SslAcceptor::mozilla_modern_v5(SslMethod::tls_server()),
        }
        .context("start a TLS acceptor")?;
        // The server's order (AES-128-GCM first) rather than the client's:
        // OpenSSL clients (curl, wrk, Python) list AES-256-GCM first, which
        // costs 40% more rounds per byte for no security a local server
        // needs. A client that puts ChaCha20 first (no AES instructions, as
        // on some phones) still gets it. Go's crypto/tls, so Caddy, chooses
        // the same way.
        builder.set_options(SslOptions::CIPHER_SERVER_PREFERENCE | SslOptions::PRIORITIZE_CHACHA);
        Ok(builder)
    }
}

/// Where an identity comes from: fixed in memory, or files that are
/// watched and reloaded. An [`Identity`] converts into the first.
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

impl From<Identity> for IdentitySource {
    fn from(identity: Identity) -> Self {
        IdentitySource::Fixed(identity)
    }
}

impl IdentitySource {
    /// The identity as it is now, refused if no server should serve it.
    pub(crate) fn load(&self) -> Result<Identity> {
        match self {
            IdentitySource::Fixed(identity) => {
                check_servable(identity, Path::new("(certificate in memory)"))?;
                Ok(identity.clone())
            }
            IdentitySource::Files {
                cert,
                key,
                passphrase,
            } => {
                let identity = Identity::read(cert, key, passphrase.as_deref())?;
                check_servable(&identity, cert)?;
                Ok(identity)
            }
        }
    }

    pub(crate) fn stamp(&self) -> Option<Stamp> {
        match self {
            IdentitySource::Fixed(_) => None,
            IdentitySource::Files { cert, key, .. } => {
                Some(Stamp::of(&[cert.as_path(), key.as_path()]))
            }
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

pub(crate) type ReloadHook = Arc<dyn Fn(&ReloadEvent) + Send + Sync>;

/// A caller's adjustment applied to every context ([`TlsServerBuilder::customize`]).
type Customize = Arc<dyn Fn(&mut SslContextBuilder) -> Result<(), ErrorStack> + Send + Sync>;

/// Builds a [`TlsServer`].
pub struct TlsServerBuilder {
    profile: TlsProfile,
    client: Option<ClientVerification>,
    default: IdentitySource,
    sni: Vec<(SniPattern, IdentitySource)>,
    reload: Option<(Duration, ReloadHook)>,
    customize: Option<Customize>,
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
    /// entries are added): a [`pki::Identity`], or files to watch.
    pub fn new(identity: impl Into<IdentitySource>) -> Self {
        TlsServerBuilder {
            profile: TlsProfile::default(),
            client: None,
            default: identity.into(),
            sni: Vec::new(),
            reload: None,
            customize: None,
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
    pub fn sni(mut self, host: &str, identity: impl Into<IdentitySource>) -> Result<Self> {
        self.sni.push((SniPattern::parse(host)?, identity.into()));
        Ok(self)
    }

    /// Adjusts every context the server builds, after its own settings:
    /// for the default identity, each SNI identity and every reload. Every
    /// handshake is switched to one of these contexts, so ALPN, ciphers,
    /// session or other OpenSSL settings belong here, not on the builder
    /// [`TlsServer::acceptor`] returns. The server orders the ciphers, so a
    /// cipher list set here is also the order of preference.
    pub fn customize(
        mut self,
        adjust: impl Fn(&mut SslContextBuilder) -> Result<(), ErrorStack> + Send + Sync + 'static,
    ) -> Self {
        self.customize = Some(Arc::new(adjust));
        self
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
            customize: self.customize,
        };
        // Each file's version is taken before it is read, so a change made
        // while the server starts is seen by the watcher, never lost.
        let load = |pattern: Option<SniPattern>, source: IdentitySource| {
            let stamp = source.stamp();
            let identity = source.load()?;
            let context = settings.context(&identity)?;
            Ok::<_, Error>((
                Entry {
                    pattern,
                    source,
                    stamp: Mutex::new(stamp),
                },
                (context, identity),
            ))
        };
        let (default, default_served) = load(None, self.default)?;
        let mut sni = Vec::new();
        let mut sni_served = Vec::new();
        for (pattern, source) in self.sni {
            let (entry, served) = load(Some(pattern), source)?;
            sni.push(entry);
            sni_served.push(served);
        }
        let shared = Arc::new(Shared {
            settings,
            default,
            sni,
            current: RwLock::new(Arc::new(Snapshot {
                default: default_served,
                sni: sni_served,
            })),
            snapshot_index: Ssl::new_ex_index()
                .context("make room for the handshake's contexts")?,
        });
        if let Some((interval, hook)) = self.reload {
            let weak = Arc::downgrade(&shared);
            std::thread::Builder::new()
                .name("tls-reload".to_owned())
                .spawn(move || watch(&weak, interval, &hook))
                .map_err(|source| Error::Thread {
                    what: "the certificate reload watcher",
                    cause: source,
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
    ///
    /// Every handshake is switched from this builder's context to the
    /// context of the identity it serves (that is how SNI and reload work),
    /// so a setting changed on the returned builder is lost for almost
    /// everything a handshake does: use [`TlsServerBuilder::customize`].
    pub fn acceptor(&self) -> Result<SslAcceptorBuilder> {
        let snapshot = self.shared.snapshot();
        let mut builder = self.shared.settings.profile.acceptor()?;
        self.shared
            .settings
            .configure(&mut builder, &snapshot.default.1)?;
        let index = self.shared.snapshot_index;
        // With client verification, before OpenSSL looks at a session the
        // client offers, the connection moves to the current contexts, whose
        // session id context names the current client CAs and CRL: a
        // session made under other ones is then not resumed. (The
        // servername callback runs only after resumption was decided, so the
        // snapshot is kept for it.)
        if self.shared.settings.client().is_some() {
            let shared = Arc::clone(&self.shared);
            builder.set_client_hello_callback(move |ssl, _alert| {
                let snapshot = shared.snapshot();
                ssl.set_ssl_context(&snapshot.default.0)?;
                ssl.set_ex_data(index, snapshot);
                Ok(ClientHelloResponse::SUCCESS)
            });
        }
        let shared = Arc::clone(&self.shared);
        builder.set_servername_callback(move |ssl, _alert| {
            let which = shared.pick(ssl.servername(NameType::HOST_NAME));
            let context = match ssl.ex_data(index) {
                Some(pinned) => pinned.get(which).0.clone(),
                None => shared.snapshot().get(which).0.clone(),
            };
            ssl.set_ssl_context(&context)
                .map_err(|_| SniError::ALERT_FATAL)
        });
        Ok(builder)
    }

    /// The certificate served to clients that match no SNI entry, as it is now.
    pub fn default_certificate(&self) -> Certificate {
        self.shared.snapshot().default.1.certificate().clone()
    }

    /// Whether the default certificate is a self-signed `CA:TRUE` one (as
    /// `openssl req -x509` makes by default), which Firefox refuses.
    pub fn serves_self_signed_ca(&self) -> bool {
        is_self_signed_ca(self.shared.snapshot().default.1.certificate())
    }

    /// The certificates of the SNI entries, with their host patterns.
    pub fn sni_certificates(&self) -> Vec<(String, Certificate)> {
        let snapshot = self.shared.snapshot();
        self.shared
            .sni
            .iter()
            .zip(&snapshot.sni)
            .map(|(entry, (_, identity))| {
                let pattern = entry
                    .pattern
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                (pattern, identity.certificate().clone())
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

pub(crate) struct Settings {
    profile: TlsProfile,
    /// Replaced as a whole when the client-CA or CRL file changes.
    pub(crate) client: RwLock<Option<Arc<ClientVerification>>>,
    /// Applied last to every context.
    customize: Option<Customize>,
}

impl Settings {
    pub(crate) fn client(&self) -> Option<Arc<ClientVerification>> {
        self.client
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn context(&self, identity: &Identity) -> Result<SslContext> {
        self.context_with(identity, self.client().as_deref())
    }

    pub(crate) fn context_with(
        &self,
        identity: &Identity,
        client: Option<&ClientVerification>,
    ) -> Result<SslContext> {
        let mut builder = self.profile.acceptor()?;
        self.configure_with(&mut builder, identity, client)?;
        Ok(builder.build().into_context())
    }

    fn configure(&self, builder: &mut SslContextBuilder, identity: &Identity) -> Result<()> {
        self.configure_with(builder, identity, self.client().as_deref())
    }

    fn configure_with(
        &self,
        builder: &mut SslContextBuilder,
        identity: &Identity,
        client: Option<&ClientVerification>,
    ) -> Result<()> {
        configure(builder, identity, client)?;
        if let Some(adjust) = &self.customize {
            adjust(builder).context("apply the customize hook")?;
        }
        Ok(())
    }
}

/// Every context the server uses is set up here.
fn configure(
    builder: &mut SslContextBuilder,
    identity: &Identity,
    client: Option<&ClientVerification>,
) -> Result<()> {
    identity.configure(builder)?;
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

/// What the callbacks, the acceptors and the reload watcher share.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    /// Where the default identity comes from.
    pub(crate) default: Entry,
    /// Where each SNI identity comes from, in the order given.
    pub(crate) sni: Vec<Entry>,
    /// The contexts in use, replaced as a whole.
    current: RwLock<Arc<Snapshot>>,
    /// Where a handshake keeps the snapshot it started with.
    snapshot_index: Index<Ssl, Arc<Snapshot>>,
}

impl Shared {
    /// The contexts in use now.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts `snapshot` in use for new handshakes; those under way keep theirs.
    pub(crate) fn publish(&self, snapshot: Snapshot) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
    }

    /// Which SNI entry serves `name` (`None`: the default).
    fn pick(&self, name: Option<&str>) -> Option<usize> {
        let name = name?;
        self.sni
            .iter()
            .position(|e| e.pattern.as_ref().is_some_and(|p| p.matches(name)))
    }
}

/// Where one identity comes from, and the version of its files last read.
pub(crate) struct Entry {
    pattern: Option<SniPattern>,
    pub(crate) source: IdentitySource,
    /// Taken before the files were read.
    pub(crate) stamp: Mutex<Option<Stamp>>,
}

/// A context and its identity per entry: the default, then the SNI entries
/// in the order of [`Shared::sni`].
#[derive(Clone)]
pub(crate) struct Snapshot {
    pub(crate) default: (SslContext, Identity),
    pub(crate) sni: Vec<(SslContext, Identity)>,
}

impl Snapshot {
    /// The default's (`None`) or an SNI entry's context and identity.
    pub(crate) fn get(&self, which: Option<usize>) -> &(SslContext, Identity) {
        which.and_then(|i| self.sni.get(i)).unwrap_or(&self.default)
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
