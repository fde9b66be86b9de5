//! An ACME server (RFC 8555) over a `pki` CA directory, as an actix-web
//! service: certbot, lego (and Traefik), Caddy and cert-manager on a
//! team's machines get certificates from the development CA and renew
//! them without anyone typing a command.
//!
//! ```no_run
//! use actix_web::{App, HttpServer};
//! use pki_acme::Acme;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let acme = Acme::builder("/home/me/.local/share/pki").days(7).build()?;
//! HttpServer::new(move || App::new().service(acme.scope("/acme")))
//!     .bind(("127.0.0.1", 8443))?
//!     .run()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! The state (accounts, orders, authorizations, certificates, nonces)
//! lives in `acme.sqlite3` beside the CA's files ([`store`]); revocations
//! go to the CA's `revoked.txt`, so the next `pki crl` lists them.
//! Validation ([`validate`]) connects to the names the way a public CA
//! does, on ports and through a DNS server that can be set for tests.

pub mod dns;
pub mod jws;
pub mod policy;
pub mod problem;
mod service;
pub mod setup;
pub mod store;
pub mod time;
pub mod validate;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::{Scope, web};
use pki::{Ca, Certificate};

pub use policy::{Allow, Policy};
pub use problem::Problem;
pub use validate::Validator;

use service::Server;
use store::Store;

/// How long ACME certificates last by default: 7 days. See
/// `docs/security.md`: a short life bounds what a leaked development key
/// is worth when no client checks revocation, and renewal is automatic.
pub const DEFAULT_DAYS: u32 = 7;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The CA directory could not be loaded.
    #[error("the CA in {dir}: {cause}")]
    Ca {
        /// The directory.
        dir: PathBuf,
        /// What went wrong.
        cause: pki::Error,
    },
    /// The database could not be opened.
    #[error("the ACME database {path}: {cause}; check that the CA directory is writable")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        cause: rusqlite::Error,
    },
    /// A setting is out of range.
    #[error("{0}")]
    Setting(String),
}

/// Sets up an [`Acme`] server.
#[derive(Debug)]
pub struct AcmeBuilder {
    ca_dir: PathBuf,
    days: u32,
    validator: Validator,
    allow: Vec<Allow>,
    eab: Vec<(String, Vec<u8>)>,
}

impl AcmeBuilder {
    /// Certificate lifetime in days (default [`DEFAULT_DAYS`]; never past the CA's own end).
    pub fn days(mut self, days: u32) -> Self {
        self.days = days;
        self
    }

    /// Where validation connects (ports, DNS server).
    pub fn validator(mut self, validator: Validator) -> Self {
        self.validator = validator;
        self
    }

    /// Issues only for names under this suffix or addresses in this
    /// network; repeatable. Without any, every name the CA may issue for.
    pub fn allow(mut self, allow: Allow) -> Self {
        self.allow.push(allow);
        self
    }

    /// Requires external account binding: an account must be bound with
    /// one of the MAC keys given this way (key ID, raw key bytes).
    pub fn external_account(mut self, key_id: impl Into<String>, mac_key: Vec<u8>) -> Self {
        self.eab.push((key_id.into(), mac_key));
        self
    }

    /// Loads the CA and opens the database.
    pub fn build(self) -> Result<Acme, Error> {
        if self.days == 0 {
            return Err(Error::Setting(
                "the certificate lifetime must be at least 1 day".into(),
            ));
        }
        let ca = Ca::load(&self.ca_dir, None).map_err(|cause| Error::Ca {
            dir: self.ca_dir.clone(),
            cause,
        })?;
        let store = Store::open(&self.ca_dir).map_err(|cause| Error::Database {
            path: self.ca_dir.join(store::DB_FILE),
            cause,
        })?;
        // Revocations recorded in the CA directory (by `pki revoke`, or by a
        // server that died before its database caught up) show in ARI.
        let revoked: Vec<String> = pki::crl::revoked(&self.ca_dir)
            .map_err(|cause| Error::Ca {
                dir: self.ca_dir.clone(),
                cause,
            })?
            .into_iter()
            .map(|r| r.serial)
            .collect();
        store
            .mark_serials_revoked(&revoked)
            .map_err(|p| Error::Setting(format!("the ACME database: {}", p.detail)))?;
        let pool = validate::Pool::new(validate::POOL_THREADS)
            .map_err(|e| Error::Setting(format!("cannot start the validation threads: {e}")))?;
        Ok(Acme {
            keys: Default::default(),
            pool: Arc::new(pool),
            ca_dir: self.ca_dir,
            ca: Arc::new(ca),
            store: Arc::new(store),
            days: self.days,
            validator: self.validator,
            policy: Policy::new(self.allow),
            eab: self.eab,
        })
    }
}

/// An ACME server, ready to mount on any actix-web `App` with [`Acme::scope`].
#[derive(Clone)]
pub struct Acme {
    ca_dir: PathBuf,
    ca: Arc<Ca>,
    store: Arc<Store>,
    days: u32,
    validator: Validator,
    pool: Arc<validate::Pool>,
    policy: Policy,
    eab: Vec<(String, Vec<u8>)>,
    keys: service::KeyCache,
}

impl std::fmt::Debug for Acme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The MAC keys stay out.
        f.debug_struct("Acme")
            .field("ca_dir", &self.ca_dir)
            .field("days", &self.days)
            .field("validator", &self.validator)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Acme {
    /// Starts the setup of a server over the CA in `ca_dir`.
    pub fn builder(ca_dir: impl AsRef<Path>) -> AcmeBuilder {
        let ca_dir = ca_dir.as_ref();
        AcmeBuilder {
            // Absolute, so the paths the setups print work from anywhere.
            ca_dir: std::path::absolute(ca_dir).unwrap_or_else(|_| ca_dir.to_owned()),
            days: DEFAULT_DAYS,
            validator: Validator::default(),
            allow: Vec::new(),
            eab: Vec::new(),
        }
    }

    /// The routes under `path` (`/acme`): the directory is `path/directory`.
    pub fn scope(&self, path: &str) -> Scope {
        let prefix = path.trim_end_matches('/').to_owned();
        let server = Arc::new(Server {
            ca: Arc::clone(&self.ca),
            ca_dir: self.ca_dir.clone(),
            store: Arc::clone(&self.store),
            days: self.days,
            validator: self.validator.clone(),
            pool: Arc::clone(&self.pool),
            policy: self.policy.clone(),
            eab: self.eab.clone(),
            prefix: prefix.clone(),
            keys: Arc::clone(&self.keys),
        });
        web::scope(&prefix).configure(|cfg| service::configure(server, cfg))
    }

    /// The root clients must trust for the certificates (and, usually, the endpoint).
    pub fn root(&self) -> &Certificate {
        self.ca.root()
    }

    /// The CA directory's certificate file, which clients can trust (it
    /// holds the root, after any intermediate).
    pub fn root_file(&self) -> PathBuf {
        self.ca_dir.join(pki::ca::CA_CERT_FILE)
    }

    /// The setup of each ACME client for the directory at `directory`,
    /// with the root in [`Acme::root_file`] (`setup::client_setups`).
    pub fn client_setups(&self, directory: &str) -> Vec<(&'static str, String)> {
        let pem = self
            .ca
            .root()
            .to_pem()
            .map(|p| String::from_utf8_lossy(&p).into_owned())
            .unwrap_or_default();
        setup::client_setups(
            directory,
            &self.root_file().to_string_lossy(),
            &pem,
            self.validator.http_port,
        )
    }
}
