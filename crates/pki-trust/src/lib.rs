//! Trust stores: putting the local CA where clients look for trusted roots,
//! taking it out again, and telling whether it is there. Its own crate,
//! apart from `pki`, because it reads the environment and runs programs,
//! which `pki` never does.
//!
//! A local CA is only useful once clients trust it, and each family of
//! clients reads its own store: OpenSSL, curl and Python read the system
//! bundle; Chromium and Firefox on Linux read NSS databases; Java reads its
//! `cacerts` keystore. This crate drives each store's own tool
//! (`update-ca-certificates` and its siblings, `certutil`, `keytool`), so the
//! result is exactly what those tools would have produced by hand.
//!
//! Each store is handled on its own: one that cannot be changed is reported
//! and the others still are. Installing twice installs once, because every
//! store is checked first. Removal matches the CA by its SHA-256 fingerprint,
//! so only this CA is ever removed, whatever name it was installed under.
//!
//! Nothing here prints or reads the process environment by itself: the
//! caller hands over an [`Environment`] (usually [`Environment::current`])
//! and receives a [`StoreReport`] per store. Commands that need root run
//! through `sudo` when the process is not root, and the caller is told about
//! each one before it runs ([`TrustStores::on_privileged`]), so it can say so.
//!
//! ```no_run
//! use pki_trust::{Anchor, Environment, TrustStores};
//!
//! let ca = pki::Certificate::read("rootCA.pem")?;
//! let anchor = Anchor::new(&ca)?;
//! let mut stores = TrustStores::new(Environment::current())
//!     .on_privileged(|command| eprintln!("running {command}"));
//! for report in stores.install(&anchor) {
//!     println!("{report}");
//! }
//! # Ok::<(), pki::Error>(())
//! ```

mod anchor;
mod environment;
mod java;
mod nss;
mod report;
mod run;
mod system;

use std::fmt;
use std::str::FromStr;

pub use anchor::Anchor;
pub use environment::{Distro, Environment, Os};
/// Whether OpenSSL's default store trusts a certificate: plain OpenSSL, so
/// it lives in `pki`; here for the callers of this crate.
pub use pki::verify::system_trusts;
pub use report::{Change, PlaceReport, StoreReport, StoreState, TrustError};

use run::Runner;

/// A kind of trust store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Store {
    /// The operating system's store: what OpenSSL, curl, Python, wget and Go read.
    System,
    /// NSS databases: Chromium, Chrome and Firefox on Linux.
    Nss,
    /// The `cacerts` keystore of a Java runtime.
    Java,
}

impl Store {
    /// Every kind, in the order they are handled and reported.
    pub const ALL: [Store; 3] = [Store::System, Store::Nss, Store::Java];

    /// The name used on command lines and in `TRUST_STORES` (as mkcert reads it).
    pub fn as_str(self) -> &'static str {
        match self {
            Store::System => "system",
            Store::Nss => "nss",
            Store::Java => "java",
        }
    }

    /// Parses a comma-separated list such as `system,nss` (the format of
    /// mkcert's `TRUST_STORES`); empty items are ignored.
    pub fn parse_list(list: &str) -> Result<Vec<Store>, UnknownStore> {
        let mut stores = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let store = item.parse()?;
            if !stores.contains(&store) {
                stores.push(store);
            }
        }
        Ok(stores)
    }
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A store name that is not `system`, `nss` or `java`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown trust store {0:?}: the stores are system, nss and java")]
pub struct UnknownStore(pub String);

impl FromStr for Store {
    type Err = UnknownStore;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "system" => Ok(Store::System),
            "nss" => Ok(Store::Nss),
            "java" => Ok(Store::Java),
            _ => Err(UnknownStore(s.to_owned())),
        }
    }
}

/// What to do to each store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    Status,
    Install,
    Uninstall,
}

/// The trust stores of one machine and user, and the way to change them.
pub struct TrustStores {
    env: Environment,
    selected: Option<Vec<Store>>,
    announce: Box<dyn FnMut(&str)>,
}

impl fmt::Debug for TrustStores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustStores")
            .field("env", &self.env)
            .field("selected", &self.selected)
            .finish_non_exhaustive()
    }
}

impl TrustStores {
    /// The stores of `env`; by default every kind is looked at, and those
    /// not present are reported as [`StoreState::Absent`].
    pub fn new(env: Environment) -> Self {
        TrustStores {
            env,
            selected: None,
            announce: Box::new(|_| {}),
        }
    }

    /// Limits the work to these stores (`--store`, `TRUST_STORES`). They are
    /// still handled and reported in the order of [`Store::ALL`].
    pub fn select(mut self, stores: &[Store]) -> Self {
        self.selected = Some(
            Store::ALL
                .into_iter()
                .filter(|s| stores.contains(s))
                .collect(),
        );
        self
    }

    /// Called with the command line of every command about to run with
    /// `sudo`, before it runs (sudo may then ask for a password).
    pub fn on_privileged(mut self, announce: impl FnMut(&str) + 'static) -> Self {
        self.announce = Box::new(announce);
        self
    }

    /// The environment the stores are looked for in.
    pub fn environment(&self) -> &Environment {
        &self.env
    }

    /// Whether each store trusts the CA. Changes nothing.
    pub fn status(&mut self, anchor: &Anchor) -> Vec<StoreReport> {
        self.each(anchor, Task::Status)
    }

    /// Adds the CA to each store that lacks it.
    pub fn install(&mut self, anchor: &Anchor) -> Vec<StoreReport> {
        self.each(anchor, Task::Install)
    }

    /// Removes the CA (matched by fingerprint) from each store that has it.
    pub fn uninstall(&mut self, anchor: &Anchor) -> Vec<StoreReport> {
        self.each(anchor, Task::Uninstall)
    }

    fn each(&mut self, anchor: &Anchor, task: Task) -> Vec<StoreReport> {
        let stores = self.selected.clone().unwrap_or_else(|| Store::ALL.to_vec());
        let mut runner = Runner::new(&self.env, &mut *self.announce);
        stores
            .into_iter()
            .map(|store| {
                let state = match store {
                    Store::System => system::handle(&mut runner, anchor, task),
                    Store::Nss => nss::handle(&mut runner, anchor, task),
                    Store::Java => java::handle(&mut runner, anchor, task),
                };
                StoreReport { store, state }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_lists_parse_as_mkcert_writes_them() {
        assert_eq!(
            Store::parse_list("system, NSS,,java,nss").unwrap(),
            vec![Store::System, Store::Nss, Store::Java]
        );
        assert_eq!(Store::parse_list("").unwrap(), vec![]);
        let e = Store::parse_list("system,keychain").unwrap_err();
        assert!(e.to_string().contains("\"keychain\""), "{e}");
    }
}
