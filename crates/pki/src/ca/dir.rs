//! The CA directory: mkcert's layout (`rootCA.pem`, `rootCA-key.pem`),
//! where it is by default, and creating and loading a CA there safely.
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
//! goes only once both are on disk for good. A key without a certificate
//! and without our marker (a certificate removed by hand, another tool's
//! files) is never deleted: it is reported as [`DirState::KeyOnly`] with
//! what to do. The key is written first, not
//! the certificate, so a crash can never leave a certificate clients may
//! already trust without the key that goes with it.

use std::path::{Path, PathBuf};

use super::{Ca, CaParams};
use crate::error::{Error, Result};
use crate::fs::{self, DirLock, Overwrite, Secrecy};
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

impl Ca {
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

#[cfg(test)]
mod tests {
    use super::*;

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
