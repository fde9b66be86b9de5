//! The local development CA: a root (`openssl req -x509`), an optional
//! intermediate, issuing leaves (`openssl x509 -req -CA -CAkey`), and the CA
//! directory on disk, laid out as mkcert lays it out so an existing mkcert
//! CAROOT works as is.
//!
//! Creating a CA directory spans two files, and mkcert takes `rootCA.pem`
//! plus `rootCA-key.pem` for the CA, so a process killed between them must
//! not leave a state no command gets out of. `pki` writes, under the
//! directory lock: a marker (`.pki-ca-creation`) naming the key it is about
//! to write by SHA-256, the key, the certificate, then removes the marker.
//! The next run that finds the marker takes the lock (so a creation still
//! running is waited for, never undone) and finishes the job: a key the
//! marker names, without a certificate, was never published (its
//! certificate was never written, so no one can trust it) and is removed; a
//! complete CA just loses the marker. Key and certificate are written with
//! [`fs::write_durable`], which also syncs the directory, so the marker
//! goes only once both are on disk for good. A key without a certificate and without our marker (a certificate
//! removed by hand, another tool's files) is never deleted: it is reported
//! as [`DirState::KeyOnly`] with what to do. The key is written first, not
//! the certificate, so a crash can never leave a certificate clients may
//! already trust without the key that goes with it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString};
use openssl::bn::{BigNum, MsbOption};
use openssl::nid::Nid;
use openssl::pkey::{HasPublic, Id, PKeyRef};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Extension, X509Name};
use x509_parser::extensions::GeneralName;

use crate::cert::{
    CertParams, Certificate, DEFAULT_LEAF_DAYS, days_to_duration, default_not_before, format_time,
    ip_from_bytes, to_asn1,
};
use crate::csr::{Csr, eku_extension};
use crate::error::{Error, OpenSslContext, Origin, Result};
use crate::fs::{self, DirLock, Overwrite, Secrecy};
use crate::key::{KeyAlgorithm, KeyType, PrivateKey};
use crate::name::{NameConstraint, SubjectAltName};
use crate::passphrase::Passphrase;

/// File name of the CA certificate in a CA directory (mkcert's name).
pub const CA_CERT_FILE: &str = "rootCA.pem";
/// File name of the CA key in a CA directory (mkcert's name).
pub const CA_KEY_FILE: &str = "rootCA-key.pem";
/// File a CA creation writes before the key and removes after the
/// certificate. While it is there, the key it names (by SHA-256) is the
/// unfinished work of a `pki` run, never published, which the next run
/// removes (see the module notes and [`dir_state`]).
pub const CREATION_MARKER: &str = ".pki-ca-creation";

/// Default lifetime of a root CA: ten years, as mkcert. Roots are trusted by
/// hand once; replacing them often costs more than it protects.
pub const DEFAULT_ROOT_DAYS: u32 = 3650;
/// Default lifetime of an intermediate CA: five years (never past its root).
pub const DEFAULT_INTERMEDIATE_DAYS: u32 = 1825;

/// Bits of randomness in every serial number. CA/Browser Forum rules ask for
/// at least 64; 128 (as mkcert) keeps serials unique without any state, so
/// two `pki` runs at once against one CA cannot collide.
pub const SERIAL_BITS: i32 = 128;

/// Longest CN (RFC 5280's ub-common-name).
const MAX_CN_LEN: usize = 64;

/// What a new CA should say. `CaParams::default()` gives a P-256 root valid
/// for ten years, named after the current user and host.
#[derive(Debug, Clone, PartialEq)]
pub struct CaParams {
    key_type: KeyType,
    owner: String,
    common_name: Option<String>,
    not_before: Option<SystemTime>,
    not_after: Option<SystemTime>,
    name_constraints: Vec<NameConstraint>,
}

impl Default for CaParams {
    fn default() -> Self {
        CaParams {
            key_type: KeyType::default(),
            owner: default_owner(),
            common_name: None,
            not_before: None,
            not_after: None,
            name_constraints: Vec::new(),
        }
    }
}

impl CaParams {
    /// The defaults; same as `CaParams::default()`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the CA key type.
    pub fn key_type(mut self, key_type: KeyType) -> Self {
        self.key_type = key_type;
        self
    }

    /// Sets whose CA this is (default: `user@host`); it goes into the subject.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }

    /// Sets the CN (default: `pki <owner>`).
    pub fn common_name(mut self, cn: impl Into<String>) -> Self {
        self.common_name = Some(cn.into());
        self
    }

    /// Sets the validity in days from now.
    pub fn valid_for_days(mut self, days: u32) -> Self {
        let start = self.not_before.unwrap_or_else(default_not_before);
        self.not_after = Some(start + days_to_duration(days));
        self
    }

    /// Sets the start of validity.
    pub fn not_before(mut self, time: SystemTime) -> Self {
        self.not_before = Some(time);
        self
    }

    /// Sets the end of validity.
    pub fn not_after(mut self, time: SystemTime) -> Self {
        self.not_after = Some(time);
        self
    }

    /// Limits the CA to names inside `constraint` (critical nameConstraints,
    /// permitted subtrees). Call once per subtree; the CA may then issue for
    /// names inside any of them. Kinds of name no constraint mentions stay free.
    pub fn permit(mut self, constraint: NameConstraint) -> Self {
        self.name_constraints.push(constraint);
        self
    }

    /// The permitted subtrees asked for.
    pub fn name_constraints(&self) -> &[NameConstraint] {
        &self.name_constraints
    }
}

/// Where the CA directory is when none is given: `$CAROOT` (mkcert's
/// variable, so an mkcert CA is picked up as is), else
/// `$XDG_DATA_HOME/pki`, else `$HOME/.local/share/pki`. The caller passes the
/// environment lookup (`std::env::var_os`), so this crate reads none itself.
pub fn default_dir(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set("CAROOT") {
        return Some(dir);
    }
    if let Some(data) = set("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return Some(data.join("pki"));
    }
    set("HOME").map(|home| home.join(".local/share/pki"))
}

/// What a CA directory holds (see [`dir_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirState {
    /// Neither the certificate nor the key: a CA may be created there.
    Empty,
    /// Both files (whether they belong together is checked on loading).
    Complete,
    /// A certificate without its key: clients may trust it, but it cannot issue.
    CertificateOnly,
    /// A key without its certificate that no interrupted `pki` run left: the
    /// certificate was removed by hand, or another tool is writing one.
    /// `pki` never deletes such a key; the certificate may be restored, or
    /// the key moved away to create a new CA.
    KeyOnly,
}

/// What the CA directory `dir` holds, once what an interrupted
/// [`Ca::create_in`] or [`Ca::write_to`] left there is cleared: the key it
/// wrote, whose certificate was never written, and its marker. A
/// creation still running in another process is waited for, not undone (it
/// holds the directory lock). A directory that does not exist is
/// [`DirState::Empty`]; the directory is only written to when a creation
/// marker or a key without certificate is found.
pub fn dir_state(dir: impl AsRef<Path>) -> Result<DirState> {
    let dir = dir.as_ref();
    // Marker first: if it is absent now and the key alone is there, a
    // creation may have begun since, so only the lock can tell.
    let marked = dir.join(CREATION_MARKER).exists();
    let seen = observed_state(dir);
    if !marked && seen != DirState::KeyOnly {
        return Ok(seen);
    }
    let _lock = DirLock::acquire(dir)?;
    settle_locked(dir)
}

/// `user@host` of the running process, for CA subjects, as mkcert writes it.
pub fn default_owner() -> String {
    let user = whoami::username().unwrap_or_else(|_| "unknown".to_owned());
    let host = whoami::hostname().unwrap_or_else(|_| "unknown".to_owned());
    format!("{user}@{host}")
}

/// A CA that can issue: its certificate, its key, and the certificates
/// above it up to the root (empty for a root).
#[derive(Clone)]
pub struct Ca {
    cert: Certificate,
    key: PrivateKey,
    chain: Vec<Certificate>,
    owner: String,
    /// The permitted subtrees of this CA and each above it, read once (with
    /// x509-parser) on the first issue rather than on every one.
    permitted: std::sync::OnceLock<Vec<Vec<NameConstraint>>>,
}

/// What [`Ca::load_or_create`] did.
#[derive(Debug, Clone)]
pub enum LoadOrCreate {
    /// The directory held a CA, now loaded.
    Loaded(Ca),
    /// The directory held none; this one was created there.
    Created(Ca),
}

impl LoadOrCreate {
    /// Whether the CA was created just now (worth telling the user: nothing
    /// trusts it yet).
    pub fn was_created(&self) -> bool {
        matches!(self, LoadOrCreate::Created(_))
    }

    /// The CA, however it came.
    pub fn into_ca(self) -> Ca {
        match self {
            LoadOrCreate::Loaded(ca) | LoadOrCreate::Created(ca) => ca,
        }
    }
}

/// A freshly issued leaf with its new key and the chain to the root.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The leaf certificate.
    pub certificate: Certificate,
    /// Its private key.
    pub key: PrivateKey,
    /// The issuer and every certificate above it, ending with the root.
    pub chain: Vec<Certificate>,
}

impl Issued {
    /// The leaf and its intermediates, without the root: what a server sends
    /// (`ssl_certificate` in nginx, `fullchain.pem` minus the root).
    pub fn chain_pem(&self) -> Result<Vec<u8>> {
        let mut out = self.certificate.to_pem()?;
        for cert in self.chain.iter().filter(|c| !c.is_self_issued()) {
            out.extend(cert.to_pem()?);
        }
        Ok(out)
    }

    /// The leaf, the intermediates and the root.
    pub fn full_chain_pem(&self) -> Result<Vec<u8>> {
        let mut out = self.certificate.to_pem()?;
        for cert in &self.chain {
            out.extend(cert.to_pem()?);
        }
        Ok(out)
    }

    /// The certificate (with intermediates) followed by the private key in one
    /// PEM, as `curl -E client.pem` and the seed's `cat client.crt client.key` take it.
    pub fn bundle_pem(&self) -> Result<Vec<u8>> {
        let mut out = self.chain_pem()?;
        out.extend(self.key.to_pem()?);
        Ok(out)
    }
}

impl Ca {
    /// Generates a self-signed root in memory; replaces `openssl req -x509
    /// -new -key ca.key -days 3650 -addext basicConstraints=critical,CA:TRUE …`.
    pub fn generate(params: &CaParams) -> Result<Self> {
        let key = PrivateKey::generate(params.key_type)?;
        let cn = params
            .common_name
            .clone()
            .unwrap_or_else(|| format!("pki {}", params.owner));
        let subject = subject_name(Some(&cn), Some("pki development CA"), Some(&params.owner))?;
        let not_before = params.not_before.unwrap_or_else(default_not_before);
        let not_after = params
            .not_after
            .unwrap_or(not_before + days_to_duration(DEFAULT_ROOT_DAYS));
        check_order(not_before, not_after)?;
        let mut builder = start_builder(&subject, &subject, key.as_pkey(), not_before, not_after)?;
        add_ca_extensions(&mut builder, None, None, &params.name_constraints)?;
        builder
            .sign(key.as_pkey(), key.signing_digest())
            .context("sign the CA certificate")?;
        Ok(Ca {
            cert: Certificate::from_x509(builder.build()),
            key,
            chain: Vec::new(),
            owner: params.owner.clone(),
            permitted: std::sync::OnceLock::new(),
        })
    }

    /// Issues an intermediate CA under this one (pathlen 0, so it issues
    /// leaves only); its chain carries this CA and the ones above.
    pub fn issue_intermediate(&self, params: &CaParams) -> Result<Ca> {
        let path_len = self.cert.parsed(|c| {
            c.basic_constraints()
                .ok()
                .flatten()
                .and_then(|bc| bc.value.path_len_constraint)
        });
        if path_len.flatten() == Some(0) {
            return Err(Error::PathLenZero {
                subject: self.cert.subject(),
            });
        }
        let key = PrivateKey::generate(params.key_type)?;
        let cn = params
            .common_name
            .clone()
            .unwrap_or_else(|| format!("pki intermediate {}", params.owner));
        let subject = subject_name(Some(&cn), Some("pki development CA"), Some(&params.owner))?;
        let (not_before, not_after) = self.validity(
            params.not_before,
            params.not_after,
            DEFAULT_INTERMEDIATE_DAYS,
        )?;
        let mut builder = start_builder(
            &subject,
            self.cert.as_x509().subject_name(),
            key.as_pkey(),
            not_before,
            not_after,
        )?;
        add_ca_extensions(
            &mut builder,
            Some(self.cert.as_x509()),
            Some(0),
            &params.name_constraints,
        )?;
        builder
            .sign(self.key.as_pkey(), self.key.signing_digest())
            .context("sign the intermediate CA certificate")?;
        Ok(Ca {
            cert: Certificate::from_x509(builder.build()),
            key,
            chain: self.issuer_chain(),
            owner: params.owner.clone(),
            permitted: std::sync::OnceLock::new(),
        })
    }

    /// Puts together a CA from its parts, checking that the key belongs to
    /// the certificate and that the certificate is a CA.
    pub fn from_parts(cert: Certificate, key: PrivateKey, chain: Vec<Certificate>) -> Result<Self> {
        Self::from_parts_at(
            cert,
            key,
            chain,
            &Origin::Memory("the CA certificate"),
            &Origin::Memory("the CA key"),
        )
    }

    fn from_parts_at(
        cert: Certificate,
        key: PrivateKey,
        chain: Vec<Certificate>,
        cert_origin: &Origin,
        key_origin: &Origin,
    ) -> Result<Self> {
        if !cert.matches_key(&key) {
            return Err(Error::KeyMismatch {
                cert: cert_origin.clone(),
                key: key_origin.clone(),
            });
        }
        if !cert.is_ca() {
            return Err(Error::NotCa {
                origin: cert_origin.clone(),
            });
        }
        let owner = cert
            .as_x509()
            .subject_name()
            .entries_by_nid(Nid::ORGANIZATIONALUNITNAME)
            .next()
            .and_then(|e| e.data().to_string().ok())
            .unwrap_or_else(default_owner);
        Ok(Ca {
            cert,
            key,
            chain,
            owner,
            permitted: std::sync::OnceLock::new(),
        })
    }

    /// Creates a new root CA in `dir` as `rootCA.pem` and `rootCA-key.pem`
    /// (the key encrypted if a pass phrase is given). The directory is created
    /// with mode 0700 if missing. An existing CA is never overwritten, even by
    /// another process creating one at the same moment ([`Error::CaExists`]);
    /// a key without certificate that no interrupted `pki` left is
    /// [`Error::CaIncomplete`]. A process killed halfway leaves nothing the
    /// next call cannot clear (see the module notes).
    pub fn create_in(
        dir: impl AsRef<Path>,
        params: &CaParams,
        passphrase: Option<&Passphrase>,
    ) -> Result<Self> {
        let dir = dir.as_ref();
        let (cert_path, _) = ca_paths(dir);
        if cert_path.exists() {
            return Err(Error::CaExists {
                dir: dir.to_path_buf(),
            });
        }
        if let Some(p) = passphrase {
            // Refuse before anything, directory included, is created.
            p.check_strength()?;
        }
        let ca = Ca::generate(params)?;
        ca.write_new(dir, passphrase)?;
        Ok(ca)
    }

    /// Loads the CA of `dir` (mkcert's layout), first clearing what an
    /// interrupted creation left ([`dir_state`]). A missing certificate
    /// means there is no CA ([`Error::NoCa`]); a key without its
    /// certificate, or a certificate without its key, an incomplete one
    /// ([`Error::CaIncomplete`], naming the missing file).
    pub fn load(dir: impl AsRef<Path>, passphrase: Option<&Passphrase>) -> Result<Self> {
        let dir = dir.as_ref();
        // A file, a dangling link or a directory shut to this user is said
        // as such, not as "there is no CA".
        fs::check_dir(dir)?;
        let (cert_path, key_path) = ca_paths(dir);
        let missing = match dir_state(dir)? {
            DirState::Complete => return Self::load_files(&cert_path, &key_path, passphrase),
            DirState::Empty => {
                return Err(Error::NoCa {
                    dir: dir.to_path_buf(),
                    cert: cert_path,
                });
            }
            DirState::KeyOnly => cert_path,
            DirState::CertificateOnly => key_path,
        };
        Err(Error::CaIncomplete {
            dir: dir.to_path_buf(),
            missing,
        })
    }

    /// Loads the CA of `dir`, or creates one there with `params` if there is
    /// none, saying which it did. Safe against another process doing the
    /// same at the same moment: the loser of the race waits for the winner's
    /// files and loads them, so both use one CA.
    pub fn load_or_create(
        dir: impl AsRef<Path>,
        params: &CaParams,
        passphrase: Option<&Passphrase>,
    ) -> Result<LoadOrCreate> {
        let dir = dir.as_ref();
        match Self::load(dir, passphrase) {
            Err(Error::NoCa { .. }) => {}
            other => return other.map(LoadOrCreate::Loaded),
        }
        match Self::create_in(dir, params, passphrase) {
            Ok(ca) => return Ok(LoadOrCreate::Created(ca)),
            Err(Error::CaExists { .. }) => {}
            Err(e) => return Err(e),
        }
        // Another process won. A `pki` one held the directory lock until its
        // CA was complete; mkcert (or an older `pki`) writes without it: its
        // certificate follows its key within milliseconds. Wait up to five
        // seconds for the pair.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match Self::load(dir, passphrase) {
                Err(Error::NoCa { .. } | Error::CaIncomplete { .. })
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other.map(LoadOrCreate::Loaded),
            }
        }
    }

    /// Loads a CA from a certificate file (its first certificate is the CA,
    /// any others its chain) and a key file.
    pub fn load_files(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
        passphrase: Option<&Passphrase>,
    ) -> Result<Self> {
        let cert_path = cert_path.as_ref();
        let key_path = key_path.as_ref();
        let mut certs = Certificate::read_all(cert_path)?;
        let cert = certs.remove(0);
        let key = PrivateKey::read(key_path, passphrase)?;
        Self::from_parts_at(
            cert,
            key,
            certs,
            &Origin::file(cert_path),
            &Origin::file(key_path),
        )
    }

    /// Writes this CA into `dir` in mkcert's layout (its chain after its
    /// certificate), as [`Ca::create_in`] writes a new one: never
    /// overwriting ([`Error::CaExists`]), and with nothing left that the next
    /// call cannot clear if the process is killed halfway.
    pub fn write_to(&self, dir: impl AsRef<Path>, passphrase: Option<&Passphrase>) -> Result<()> {
        let dir = dir.as_ref();
        self.write_new(dir, passphrase)
    }

    /// Writes key and certificate into `dir`, which must hold no CA: under
    /// the directory lock, between a marker naming the key and the marker's
    /// removal (see the module notes).
    fn write_new(&self, dir: &Path, passphrase: Option<&Passphrase>) -> Result<()> {
        let key_pem = match passphrase {
            Some(p) => self.key.to_pem_encrypted(p)?,
            None => self.key.to_pem()?,
        };
        let mut cert_pem = self.cert.to_pem()?;
        for c in &self.chain {
            cert_pem.extend(c.to_pem()?);
        }
        fs::create_private_dir(dir)?;
        let (cert_path, key_path) = ca_paths(dir);
        let _lock = DirLock::acquire(dir)?;
        match settle_locked(dir)? {
            DirState::Empty => {}
            DirState::KeyOnly => {
                return Err(Error::CaIncomplete {
                    dir: dir.to_path_buf(),
                    missing: cert_path,
                });
            }
            DirState::Complete | DirState::CertificateOnly => {
                return Err(Error::CaExists {
                    dir: dir.to_path_buf(),
                });
            }
        }
        let marker = dir.join(CREATION_MARKER);
        fs::write_durable(
            &marker,
            &marker_text(&key_pem),
            Secrecy::Public,
            Overwrite::Replace,
        )?;
        fs::pause_point("ca-creation-marked");
        let written = fs::write_durable(&key_path, &key_pem, Secrecy::Private, Overwrite::Refuse)
            .and_then(|()| {
                fs::pause_point("ca-key-written");
                fs::write_durable(&cert_path, &cert_pem, Secrecy::Public, Overwrite::Refuse)
            });
        if let Err(e) = written {
            // Take back our key (only ours: the marker names it), so no half
            // CA is left behind.
            let _ = settle_locked(dir);
            return Err(match e {
                Error::AlreadyExists { .. } => Error::CaExists {
                    dir: dir.to_path_buf(),
                },
                other => other,
            });
        }
        fs::pause_point("ca-cert-written");
        // The CA is complete; should the marker stay, the next run removes it.
        let _ = fs::remove(&marker);
        Ok(())
    }

    /// The CA's own certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// The CA's private key.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// The certificates above this CA, ending with the root (empty for a root).
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// The root at the top: the certificate clients must trust.
    pub fn root(&self) -> &Certificate {
        self.chain.last().unwrap_or(&self.cert)
    }

    /// Whose CA this is (`user@host`).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// This CA and every certificate above it: the chain of what it issues.
    pub fn issuer_chain(&self) -> Vec<Certificate> {
        let mut out = vec![self.cert.clone()];
        out.extend(self.chain.iter().cloned());
        out
    }

    /// Issues a leaf with a new key; replaces `openssl req -newkey` followed by
    /// `openssl x509 -req -CA ca.pem -CAkey ca-key.pem -extfile san.cnf`.
    ///
    /// ```
    /// use pki::{Ca, CaParams, CertParams};
    /// let ca = Ca::generate(&CaParams::new())?;
    /// let issued = ca.issue(&CertParams::new(["localhost", "127.0.0.1", "::1"])?)?;
    /// assert_eq!(issued.certificate.subject_alt_names().len(), 3);
    /// # Ok::<(), pki::Error>(())
    /// ```
    pub fn issue(&self, params: &CertParams) -> Result<Issued> {
        let key = PrivateKey::generate(params.key_type)?;
        let certificate = self.build_leaf(key.as_pkey(), params)?;
        Ok(Issued {
            certificate,
            key,
            chain: self.issuer_chain(),
        })
    }

    /// Signs a CSR; replaces `openssl x509 -req -in r.csr -CA ca.pem -CAkey
    /// ca-key.pem`. The CSR's signature must verify, it must not ask for
    /// CA:TRUE, and its key must be one clients accept ([`Csr::check_key`]).
    /// What the certificate says comes from `params` (start from
    /// [`CertParams::from_csr`] to take the CSR's names and profile).
    pub fn sign_csr(&self, csr: &Csr, params: &CertParams) -> Result<Certificate> {
        csr.verify_signature()?;
        csr.check_key()?;
        if csr.requested_extensions()?.ca == Some(true) {
            return Err(Error::CsrRequestsCa {
                origin: csr.origin().clone(),
            });
        }
        let public = csr
            .as_x509_req()
            .public_key()
            .map_err(|_| Error::CsrSignature {
                origin: csr.origin().clone(),
            })?;
        self.build_leaf(&public, params)
    }

    fn build_leaf<T: HasPublic>(
        &self,
        public: &PKeyRef<T>,
        params: &CertParams,
    ) -> Result<Certificate> {
        self.check_name_constraints(params.names())?;
        let (not_before, not_after) =
            self.validity(params.not_before, params.not_after, DEFAULT_LEAF_DAYS)?;
        let cn = params.subject_common_name();
        let cn = (cn.chars().count() <= MAX_CN_LEN).then_some(cn);
        let subject = subject_name(
            cn.as_deref(),
            Some("pki development certificate"),
            Some(&self.owner),
        )?;
        let mut builder = start_builder(
            &subject,
            self.cert.as_x509().subject_name(),
            public,
            not_before,
            not_after,
        )?;
        // Extensions as DER, not through OpenSSL's config-string path (a
        // fifth of the time of an issue went there).
        builder
            .append_extension(der_extension("2.5.29.19", true, &crate::der::NOT_A_CA)?)
            .context("add basicConstraints")?;
        // TLS 1.2 RSA key exchange encrypts to the key; harmless otherwise.
        let key_encipherment = matches!(public.id(), Id::RSA);
        builder
            .append_extension(der_extension(
                "2.5.29.15",
                true,
                &crate::der::leaf_key_usage(key_encipherment),
            )?)
            .context("add keyUsage")?;
        builder
            .append_extension(eku_extension(params.profile)?)
            .context("add extendedKeyUsage")?;
        add_key_identifiers(&mut builder, Some(self.cert.as_x509()))?;
        builder
            .append_extension(san_extension(params.names())?)
            .context("add subjectAltName")?;
        builder
            .sign(self.key.as_pkey(), self.key.signing_digest())
            .context("sign the certificate")?;
        Ok(Certificate::from_x509(builder.build()))
    }

    /// Refuses names that this CA or one above it may not issue for: clients
    /// would reject such a certificate, so it is better never made.
    fn check_name_constraints(&self, names: &[SubjectAltName]) -> Result<()> {
        let all = self.permitted.get_or_init(|| {
            std::iter::once(&self.cert)
                .chain(&self.chain)
                .map(permitted_subtrees)
                .collect()
        });
        for permitted in all {
            for name in names {
                let relevant: Vec<&NameConstraint> = permitted
                    .iter()
                    .filter(|c| c.constrains_kind_of(name))
                    .collect();
                if !relevant.is_empty() && !relevant.iter().any(|c| c.permits(name)) {
                    return Err(Error::OutsideNameConstraints {
                        name: name.to_string(),
                        permitted: permitted
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
        }
        Ok(())
    }

    /// Works out the validity of something this CA signs: defaults to
    /// `default_days` clamped to the CA's own end; an explicit end past the
    /// CA's is refused, since clients would reject the chain from that day on.
    fn validity(
        &self,
        not_before: Option<SystemTime>,
        not_after: Option<SystemTime>,
        default_days: u32,
    ) -> Result<(SystemTime, SystemTime)> {
        let issuer_end = self.cert.not_after();
        let not_before = not_before.unwrap_or_else(default_not_before);
        // An expired CA issues nothing by default (the backdated start could
        // otherwise hide an end a few minutes ago); an explicit end before
        // the CA's is still allowed, for tests that want expired chains.
        if issuer_end <= SystemTime::now() && (not_after.is_none() || issuer_end <= not_before) {
            return Err(Error::CaExpired {
                subject: self.cert.subject(),
                expired: issuer_end,
            });
        }
        let not_after = match not_after {
            Some(t) if t > issuer_end => {
                return Err(Error::Validity {
                    reason: format!(
                        "the certificate would end on {}, after its CA does ({}); choose an earlier date",
                        format_time(t),
                        format_time(issuer_end)
                    ),
                });
            }
            Some(t) => t,
            None => (not_before + days_to_duration(default_days)).min(issuer_end),
        };
        check_order(not_before, not_after)?;
        Ok((not_before, not_after))
    }
}

/// Makes a self-signed leaf with a new key; replaces `openssl req -x509
/// -newkey … -addext subjectAltName=…`. No client trusts it unless told to
/// trust this very certificate (`curl --cacert cert.pem`), so it suits a
/// throwaway server (Flask's `adhoc`), never a development setup a browser
/// should accept: use a [`Ca`] for that.
///
/// It carries no keyUsage on purpose: one without keyCertSign stops OpenSSL
/// from treating the certificate as its own issuer, and keyCertSign on a
/// CA:FALSE certificate is refused by strict verifiers.
pub fn self_signed(params: &CertParams) -> Result<Issued> {
    let key = PrivateKey::generate(params.key_type)?;
    let not_before = params.not_before.unwrap_or_else(default_not_before);
    let not_after = params
        .not_after
        .unwrap_or_else(|| not_before + days_to_duration(DEFAULT_LEAF_DAYS));
    check_order(not_before, not_after)?;
    let cn = params.subject_common_name();
    let cn = (cn.chars().count() <= MAX_CN_LEN).then_some(cn);
    let subject = subject_name(cn.as_deref(), Some("pki self-signed certificate"), None)?;
    let mut builder = start_builder(&subject, &subject, key.as_pkey(), not_before, not_after)?;
    builder
        .append_extension(
            BasicConstraints::new()
                .critical()
                .build()
                .context("build basicConstraints")?,
        )
        .context("add basicConstraints")?;
    builder
        .append_extension(eku_extension(params.profile)?)
        .context("add extendedKeyUsage")?;
    add_key_identifiers(&mut builder, None)?;
    builder
        .append_extension(san_extension(params.names())?)
        .context("add subjectAltName")?;
    builder
        .sign(key.as_pkey(), key.signing_digest())
        .context("sign the certificate")?;
    Ok(Issued {
        certificate: Certificate::from_x509(builder.build()),
        key,
        chain: Vec::new(),
    })
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("certificate", &self.cert)
            .field("key", &self.key)
            .field("chain_len", &self.chain.len())
            .finish()
    }
}

fn ca_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE))
}

/// The state the two files show, with no regard to a creation marker.
fn observed_state(dir: &Path) -> DirState {
    let (cert_path, key_path) = ca_paths(dir);
    match (cert_path.exists(), key_path.exists()) {
        (false, false) => DirState::Empty,
        (true, true) => DirState::Complete,
        (true, false) => DirState::CertificateOnly,
        (false, true) => DirState::KeyOnly,
    }
}

/// Finishes what an interrupted creation left, with the directory lock held
/// (so no creation is running): the key the marker names goes if no
/// certificate came after it, then the marker. A key the marker does not
/// name (replaced since) is kept, as is every other file.
fn settle_locked(dir: &Path) -> Result<DirState> {
    let marker = dir.join(CREATION_MARKER);
    if marker.exists() {
        let (cert_path, key_path) = ca_paths(dir);
        if !cert_path.exists() && key_path.exists() {
            let named = marker_digest(&fs::read(&marker)?);
            let key = sha256_hex(&fs::read(&key_path)?);
            if named.as_deref() == Some(key.as_str()) {
                fs::remove(&key_path)?;
            }
        }
        fs::remove(&marker)?;
    }
    Ok(observed_state(dir))
}

/// The marker's text: a note for a person who finds it, and the SHA-256 of
/// the key file about to be written.
fn marker_text(key_pem: &[u8]) -> Vec<u8> {
    format!(
        "pki is creating a CA in this directory. If this file stays, that run was\n\
         interrupted: the next pki command here removes {CA_KEY_FILE} if it has the\n\
         SHA-256 below and {CA_CERT_FILE} is missing (the certificate of that key\n\
         was never written, so nobody can trust it), then this file.\n\
         sha256 {}\n",
        sha256_hex(key_pem)
    )
    .into_bytes()
}

fn marker_digest(text: &[u8]) -> Option<String> {
    String::from_utf8_lossy(text)
        .lines()
        .find_map(|l| l.strip_prefix("sha256 "))
        .map(|d| d.trim().to_owned())
}

fn sha256_hex(bytes: &[u8]) -> String {
    openssl::sha::sha256(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check_order(not_before: SystemTime, not_after: SystemTime) -> Result<()> {
    if not_after <= not_before {
        return Err(Error::Validity {
            reason: format!(
                "it would end ({}) before it starts ({})",
                format_time(not_after),
                format_time(not_before)
            ),
        });
    }
    Ok(())
}

/// A random positive serial of [`SERIAL_BITS`] bits.
fn random_serial() -> Result<Asn1Integer> {
    let mut bn = BigNum::new().context("allocate a serial")?;
    loop {
        bn.rand(SERIAL_BITS, MsbOption::MAYBE_ZERO, false)
            .context("draw a random serial")?;
        // Zero is not a valid serial; 2^-128 odds, but cheap to rule out.
        if bn.num_bits() > 0 {
            break;
        }
    }
    bn.to_asn1_integer().context("encode the serial")
}

fn start_builder<T: HasPublic>(
    subject: &openssl::x509::X509NameRef,
    issuer: &openssl::x509::X509NameRef,
    public: &PKeyRef<T>,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<X509Builder> {
    let mut builder = X509Builder::new().context("start a certificate")?;
    // Version 3 (encoded as 2): v1 certificates cannot carry extensions.
    builder.set_version(2).context("set version 3")?;
    let serial = random_serial()?;
    builder
        .set_serial_number(&serial)
        .context("set the serial")?;
    builder
        .set_subject_name(subject)
        .context("set the subject")?;
    builder.set_issuer_name(issuer).context("set the issuer")?;
    builder.set_pubkey(public).context("set the public key")?;
    let (start, end) = (to_asn1(not_before)?, to_asn1(not_after)?);
    builder.set_not_before(&start).context("set notBefore")?;
    builder.set_not_after(&end).context("set notAfter")?;
    Ok(builder)
}

fn add_ca_extensions(
    builder: &mut X509Builder,
    issuer: Option<&X509>,
    path_len: Option<u32>,
    constraints: &[NameConstraint],
) -> Result<()> {
    let mut bc = BasicConstraints::new();
    bc.critical().ca();
    if let Some(n) = path_len {
        bc.pathlen(n);
    }
    builder
        .append_extension(bc.build().context("build basicConstraints")?)
        .context("add basicConstraints")?;
    builder
        .append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .context("build keyUsage")?,
        )
        .context("add keyUsage")?;
    add_key_identifiers(builder, issuer)?;
    if !constraints.is_empty() {
        let der = crate::der::name_constraints(constraints);
        builder
            .append_extension(der_extension("2.5.29.30", true, &der)?)
            .context("add nameConstraints")?;
    }
    Ok(())
}

/// subjectKeyIdentifier always; authorityKeyIdentifier (key id) when signed
/// by another certificate, as `openssl verify -x509_strict` requires.
fn add_key_identifiers(builder: &mut X509Builder, issuer: Option<&X509>) -> Result<()> {
    // OpenSSL hashes the public key already in the certificate (RFC 5280
    // §4.2.1.2 method 1); encoding the key again to hash it here cost more.
    let skid = SubjectKeyIdentifier::new()
        .build(&builder.x509v3_context(None, None))
        .context("build subjectKeyIdentifier")?;
    builder
        .append_extension(skid)
        .context("add subjectKeyIdentifier")?;
    // The issuer's own key identifier, when it has one (pki's CAs always do).
    if let Some(id) = issuer.and_then(|i| i.subject_key_id()) {
        builder
            .append_extension(authority_key_id_extension(id.as_slice())?)
            .context("add authorityKeyIdentifier")?;
        return Ok(());
    }
    if let Some(issuer) = issuer {
        let akid = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&builder.x509v3_context(Some(issuer), None))
            .context("build authorityKeyIdentifier")?;
        builder
            .append_extension(akid)
            .context("add authorityKeyIdentifier")?;
    }
    Ok(())
}

/// A subjectAltName extension (non-critical: the subject is never empty).
pub(crate) fn san_extension(names: &[SubjectAltName]) -> Result<X509Extension> {
    if names.is_empty() {
        return Err(Error::NoNames);
    }
    der_extension("2.5.29.17", false, &crate::der::general_names(names))
}

/// authorityKeyIdentifier holding just the key id (for CRLs, which have no
/// X509v3 context to derive it from).
pub(crate) fn authority_key_id_extension(key_id: &[u8]) -> Result<X509Extension> {
    der_extension("2.5.29.35", false, &crate::der::key_identifier(key_id))
}

pub(crate) fn der_extension(oid: &str, critical: bool, der: &[u8]) -> Result<X509Extension> {
    let oid = Asn1Object::from_str(oid).context("parse an extension OID")?;
    let value = Asn1OctetString::new_from_bytes(der).context("wrap an extension value")?;
    X509Extension::new_from_der(&oid, critical, &value).context("build an extension")
}

/// A subject with CN, O and OU; each value cut to 64 characters (ub-name).
pub(crate) fn subject_name(
    cn: Option<&str>,
    o: Option<&str>,
    ou: Option<&str>,
) -> Result<X509Name> {
    let mut name = X509Name::builder().context("start a subject")?;
    for (field, nid, value) in [
        ("O", Nid::ORGANIZATIONNAME, o),
        ("OU", Nid::ORGANIZATIONALUNITNAME, ou),
        ("CN", Nid::COMMONNAME, cn),
    ] {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            continue;
        };
        let value: String = value.chars().take(MAX_CN_LEN).collect();
        name.append_entry_by_nid(nid, &value)
            .map_err(|e| Error::InvalidSubject {
                field,
                value: value.clone(),
                reason: crate::error::openssl_reason(&e),
            })?;
    }
    Ok(name.build())
}

/// The permitted subtrees of a CA certificate's nameConstraints.
fn permitted_subtrees(ca: &Certificate) -> Vec<NameConstraint> {
    ca.parsed(|c| {
        let Ok(Some(ext)) = c.name_constraints() else {
            return Vec::new();
        };
        ext.value
            .permitted_subtrees
            .iter()
            .flatten()
            .filter_map(|subtree| match &subtree.base {
                GeneralName::DNSName(d) => Some(NameConstraint::Dns(d.to_ascii_lowercase())),
                GeneralName::IPAddress(bytes) => {
                    let half = bytes.len() / 2;
                    let network = ip_from_bytes(&bytes[..half])?;
                    let prefix = bytes[half..].iter().map(|b| b.count_ones()).sum::<u32>();
                    Some(NameConstraint::Ip {
                        network,
                        prefix: u8::try_from(prefix).ok()?,
                    })
                }
                _ => None,
            })
            .collect()
    })
    .unwrap_or_default()
}

impl Ca {
    /// The key algorithm of the CA.
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.key.algorithm()
    }

    /// What strict clients will hold against certificates this CA issues,
    /// for CAs made elsewhere (the seed recipes' `openssl req -x509` root has
    /// no keyUsage). Empty for every CA `pki` makes.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for ca in std::iter::once(&self.cert).chain(&self.chain) {
            let x509 = ca.as_x509();
            if x509.key_usage().is_none() {
                out.push(format!(
                    "the CA '{}' has no keyUsage extension; strict verifiers (openssl verify -x509_strict, Python 3.13+) refuse the certificates it issues; create a new CA with pki",
                    ca.subject()
                ));
            }
            if x509.subject_key_id().is_none() {
                out.push(format!(
                    "the CA '{}' has no subjectKeyIdentifier; strict verifiers refuse chains through it",
                    ca.subject()
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn root_is_a_ca_and_issues_leaves_with_names() -> Result<()> {
        let ca = Ca::generate(&CaParams::new())?;
        assert!(ca.certificate().is_ca());
        assert!(ca.certificate().is_self_issued());
        assert!(ca.warnings().is_empty(), "{:?}", ca.warnings());
        let issued = ca.issue(&CertParams::new(["localhost", "127.0.0.1", "::1"])?)?;
        assert!(!issued.certificate.is_ca());
        assert_eq!(issued.certificate.subject_alt_names().len(), 3);
        assert!(issued.certificate.matches_key(&issued.key));
        Ok(())
    }

    #[test]
    fn default_leaf_validity_is_825_days_and_never_past_the_ca() -> Result<()> {
        let ca = Ca::generate(&CaParams::new())?;
        let leaf = ca.issue(&CertParams::new(["a.test"])?)?.certificate;
        let span = leaf
            .not_after()
            .duration_since(leaf.not_before())
            .unwrap_or_default();
        assert_eq!(span, days_to_duration(DEFAULT_LEAF_DAYS));

        let short = Ca::generate(&CaParams::new().valid_for_days(10))?;
        let leaf = short.issue(&CertParams::new(["a.test"])?)?.certificate;
        assert_eq!(leaf.not_after(), short.certificate().not_after());
        let too_long = CertParams::new(["a.test"])?.valid_for_days(11);
        assert!(matches!(
            short.issue(&too_long),
            Err(Error::Validity { .. })
        ));
        Ok(())
    }

    #[test]
    fn name_constraints_refuse_names_outside() -> Result<()> {
        let ca = Ca::generate(
            &CaParams::new()
                .permit(NameConstraint::parse("localhost")?)
                .permit(NameConstraint::parse(".test")?)
                .permit(NameConstraint::parse("127.0.0.0/8")?),
        )?;
        ca.issue(&CertParams::new(["localhost", "app.test", "127.0.0.1"])?)?;
        let err = ca.issue(&CertParams::new(["example.com"])?);
        assert!(
            matches!(err, Err(Error::OutsideNameConstraints { ref name, .. }) if name == "example.com")
        );
        let err = ca.issue(&CertParams::new(["10.0.0.1"])?);
        assert!(matches!(err, Err(Error::OutsideNameConstraints { .. })));
        Ok(())
    }

    #[test]
    fn default_dir_prefers_caroot_then_xdg_then_home() {
        fn env(
            pairs: &'static [(&'static str, &'static str)],
        ) -> impl Fn(&str) -> Option<std::ffi::OsString> {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.into())
        }
        const ALL: [(&str, &str); 3] = [("CAROOT", "/c"), ("XDG_DATA_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(default_dir(env(&ALL)), Some(PathBuf::from("/c")));
        assert_eq!(default_dir(env(&ALL[1..])), Some(PathBuf::from("/x/pki")));
        assert_eq!(
            default_dir(env(&ALL[2..])),
            Some(PathBuf::from("/h/.local/share/pki"))
        );
        assert_eq!(
            default_dir(env(&[("XDG_DATA_HOME", "rel"), ("HOME", "/h")])),
            Some(PathBuf::from("/h/.local/share/pki"))
        );
        assert_eq!(default_dir(env(&[])), None);
    }

    #[test]
    fn an_intermediate_cannot_issue_another_ca() -> Result<()> {
        let root = Ca::generate(&CaParams::new())?;
        let intermediate = root.issue_intermediate(&CaParams::new())?;
        assert_eq!(intermediate.chain().len(), 1);
        assert_eq!(intermediate.root(), root.certificate());
        let err = intermediate.issue_intermediate(&CaParams::new());
        assert!(matches!(err, Err(Error::PathLenZero { .. })));
        Ok(())
    }

    #[test]
    fn a_self_signed_leaf_is_trusted_only_as_itself() -> Result<()> {
        let issued = self_signed(&CertParams::new(["localhost", "127.0.0.1"])?)?;
        let cert = &issued.certificate;
        assert!(!cert.is_ca());
        assert!(cert.is_self_issued());
        assert!(issued.chain.is_empty());
        let params = crate::verify::VerifyParams::new()
            .peer(SubjectAltName::parse("127.0.0.1")?)
            .purpose(crate::verify::Purpose::Server);
        assert!(crate::verify::verify(cert, &[], std::slice::from_ref(cert), &params).is_ok());
        let other = Ca::generate(&CaParams::new())?;
        let refused = crate::verify::verify(cert, &[], &[other.certificate().clone()], &params)
            .expect_err("a self-signed leaf must not chain to another CA");
        assert!(
            refused.to_string().contains("not among the trusted CAs"),
            "{refused}"
        );
        Ok(())
    }

    #[test]
    fn serials_differ_and_are_large() -> Result<()> {
        let ca = Ca::generate(&CaParams::new())?;
        let a = ca
            .issue(&CertParams::new(["a.test"])?)?
            .certificate
            .serial_hex();
        let b = ca
            .issue(&CertParams::new(["a.test"])?)?
            .certificate
            .serial_hex();
        assert_ne!(a, b);
        assert!(a.len() >= 16, "{a}");
        Ok(())
    }

    #[test]
    fn expired_leaves_can_be_made_for_tests() -> Result<()> {
        let ca = Ca::generate(&CaParams::new())?;
        let past = SystemTime::now() - Duration::from_secs(86_400 * 30);
        let params = CertParams::new(["a.test"])?
            .not_before(past)
            .not_after(past + Duration::from_secs(86_400));
        let leaf = ca.issue(&params)?.certificate;
        assert!(leaf.not_after() < SystemTime::now());
        Ok(())
    }

    /// The key identifiers pki encodes itself are the ones OpenSSL's
    /// config-string path computes, and the leaf's AKI is the CA's SKI.
    #[test]
    fn key_identifiers_match_openssls() -> Result<()> {
        let ca = Ca::generate(&CaParams::new())?;
        for kt in [KeyType::P256, KeyType::Rsa2048, KeyType::Ed25519] {
            let issued = ca.issue(&CertParams::new(["a.test"])?.key_type(kt))?;
            let leaf = issued.certificate.as_x509();
            let mut reference = X509Builder::new().context("builder")?;
            reference
                .set_pubkey(issued.key.as_pkey())
                .context("set key")?;
            let expected = SubjectKeyIdentifier::new()
                .build(&reference.x509v3_context(None, None))
                .context("ski")?
                .to_der()
                .context("der")?;
            let ours = leaf
                .subject_key_id()
                .map(|id| id.as_slice().to_vec())
                .unwrap_or_default();
            assert!(!ours.is_empty(), "{kt}: no SKI");
            assert!(
                expected.windows(ours.len()).any(|w| w == ours.as_slice()),
                "{kt}: SKI differs from OpenSSL's"
            );
            assert_eq!(
                leaf.authority_key_id().map(|id| id.as_slice().to_vec()),
                ca.certificate()
                    .as_x509()
                    .subject_key_id()
                    .map(|id| id.as_slice().to_vec()),
                "{kt}"
            );
        }
        Ok(())
    }

    #[test]
    fn load_or_create_says_whether_it_created() -> Result<()> {
        let dir = crate::fs::test_dir()?;
        let first = Ca::load_or_create(dir.path(), &CaParams::new(), None)?;
        assert!(first.was_created());
        let second = Ca::load_or_create(dir.path(), &CaParams::new(), None)?;
        assert!(matches!(second, LoadOrCreate::Loaded(_)));
        assert_eq!(
            second.into_ca().certificate().to_der()?,
            first.into_ca().certificate().to_der()?
        );
        Ok(())
    }

    /// A CA that ended a minute ago lies inside the 5-minute backdating of a
    /// new leaf's start; it must still be refused, not issue a dead leaf.
    #[test]
    fn a_ca_expired_a_minute_ago_issues_nothing() -> Result<()> {
        let now = SystemTime::now();
        let ca = Ca::generate(
            &CaParams::new()
                .not_before(now - Duration::from_secs(86_400))
                .not_after(now - Duration::from_secs(60)),
        )?;
        match ca.issue(&CertParams::new(["a.test"])?) {
            Err(Error::CaExpired { .. }) => Ok(()),
            other => panic!("expected CaExpired, got {other:?}"),
        }
    }

    /// Leaves `dir` as a creation killed after its key: marker naming
    /// `named`, `key` as the key file, no certificate.
    fn killed_creation(dir: &Path, named: &[u8], key: &[u8]) -> Result<()> {
        let marker = dir.join(CREATION_MARKER);
        fs::write_durable(
            &marker,
            &marker_text(named),
            Secrecy::Public,
            Overwrite::Refuse,
        )?;
        fs::write_durable(
            dir.join(CA_KEY_FILE),
            key,
            Secrecy::Private,
            Overwrite::Refuse,
        )
    }

    #[test]
    fn a_creation_killed_after_its_key_is_cleared_and_a_ca_made() -> Result<()> {
        let dir = crate::fs::test_dir()?;
        let key = Ca::generate(&CaParams::new())?.key.to_pem()?;
        killed_creation(dir.path(), &key, &key)?;
        assert!(matches!(
            Ca::load(dir.path(), None),
            Err(Error::NoCa { .. })
        ));
        assert!(!dir.path().join(CA_KEY_FILE).exists());
        assert!(!dir.path().join(CREATION_MARKER).exists());
        killed_creation(dir.path(), &key, &key)?;
        let created = Ca::create_in(dir.path(), &CaParams::new(), None)?;
        let loaded = Ca::load(dir.path(), None)?;
        assert_eq!(loaded.certificate(), created.certificate());
        assert_eq!(dir_state(dir.path())?, DirState::Complete);
        assert!(!dir.path().join(CREATION_MARKER).exists());
        Ok(())
    }

    #[test]
    fn a_key_the_marker_does_not_name_is_kept() -> Result<()> {
        let dir = crate::fs::test_dir()?;
        let ours = Ca::generate(&CaParams::new())?.key.to_pem()?;
        let theirs = Ca::generate(&CaParams::new())?.key.to_pem()?;
        killed_creation(dir.path(), &ours, &theirs)?;
        assert_eq!(dir_state(dir.path())?, DirState::KeyOnly);
        assert_eq!(fs::read(dir.path().join(CA_KEY_FILE))?, theirs);
        assert!(!dir.path().join(CREATION_MARKER).exists());
        // And with no marker at all, as when a certificate was removed by hand.
        for _ in 0..2 {
            match Ca::create_in(dir.path(), &CaParams::new(), None) {
                Err(Error::CaIncomplete { missing, .. }) => {
                    assert_eq!(missing, dir.path().join(CA_CERT_FILE));
                }
                other => panic!("expected CaIncomplete, got {other:?}"),
            }
            match Ca::load(dir.path(), None) {
                Err(Error::CaIncomplete { missing, .. }) => {
                    assert_eq!(missing, dir.path().join(CA_CERT_FILE));
                }
                other => panic!("expected CaIncomplete, got {other:?}"),
            }
        }
        assert_eq!(fs::read(dir.path().join(CA_KEY_FILE))?, theirs);
        Ok(())
    }

    #[test]
    fn a_complete_ca_with_a_leftover_marker_loses_only_the_marker() -> Result<()> {
        let dir = crate::fs::test_dir()?;
        let created = Ca::create_in(dir.path(), &CaParams::new(), None)?;
        let key = fs::read(dir.path().join(CA_KEY_FILE))?;
        let marker = dir.path().join(CREATION_MARKER);
        fs::write_durable(
            &marker,
            &marker_text(&key),
            Secrecy::Public,
            Overwrite::Refuse,
        )?;
        let loaded = Ca::load(dir.path(), None)?;
        assert_eq!(loaded.certificate(), created.certificate());
        assert!(!marker.exists());
        assert_eq!(fs::read(dir.path().join(CA_KEY_FILE))?, key);
        Ok(())
    }
}
