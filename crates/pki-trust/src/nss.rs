//! NSS databases, as Chromium, Chrome and Firefox on Linux read them, changed
//! with NSS's own `certutil`: the shared `~/.pki/nssdb`, its snap and
//! flatpak copies, and every Firefox profile. `cert9.db` databases are
//! opened as `sql:`, older `cert8.db` ones as `dbm:`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::report::{Change, PlaceReport, StoreState, TrustError};
use crate::run::{As, Runner};
use crate::{Anchor, Task};

const CERTUTIL_HINT: &str = "install libnss3-tools (Debian, Ubuntu), nss-tools (Fedora, RHEL), \
                             mozilla-nss-tools (openSUSE) or nss (Arch)";

/// Trust flags of a CA trusted to issue server certificates (SSL, S/MIME, code signing).
const CA_TRUST: &str = "C,,";

/// Databases shared by Chromium-based browsers, relative to home.
const SHARED_DBS: [&str; 4] = [
    ".pki/nssdb",
    "snap/chromium/current/.pki/nssdb",
    ".var/app/org.chromium.Chromium/.pki/nssdb",
    ".var/app/com.google.Chrome/.pki/nssdb",
];

/// Directories of Firefox profiles, relative to home; each profile is a subdirectory.
const FIREFOX_PROFILES: [&str; 3] = [
    ".mozilla/firefox",
    "snap/firefox/common/.mozilla/firefox",
    ".var/app/org.mozilla.firefox/.mozilla/firefox",
];

/// One NSS database: its directory and how certutil must open it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Database {
    dir: PathBuf,
    spec: String,
}

impl Database {
    fn at(dir: PathBuf) -> Option<Database> {
        let kind = if dir.join("cert9.db").is_file() {
            "sql"
        } else if dir.join("cert8.db").is_file() {
            "dbm"
        } else {
            return None;
        };
        let spec = format!("{kind}:{}", dir.display());
        Some(Database { dir, spec })
    }
}

/// Every NSS database under `home`, shared ones first, then Firefox profiles by name.
fn databases(home: &Path) -> Vec<Database> {
    let mut found: Vec<Database> = SHARED_DBS
        .iter()
        .filter_map(|rel| Database::at(home.join(rel)))
        .collect();
    for rel in FIREFOX_PROFILES {
        let Ok(entries) = std::fs::read_dir(home.join(rel)) else {
            continue;
        };
        let mut profiles: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        profiles.sort();
        found.extend(profiles.into_iter().filter_map(Database::at));
    }
    found
}

pub(super) fn handle(runner: &mut Runner<'_>, anchor: &Anchor, task: Task) -> StoreState {
    let Some(home) = runner.env.home.clone() else {
        return StoreState::Absent(
            "HOME is not set, so there are no browser profiles to look in".to_owned(),
        );
    };
    let dbs = databases(&home);
    if dbs.is_empty() {
        return StoreState::Absent(format!(
            "no NSS database in {}/.pki/nssdb, the snap or flatpak browsers or Firefox profiles",
            home.display()
        ));
    }
    let certutil = match runner.program("certutil", CERTUTIL_HINT) {
        Ok(program) => program,
        Err(e) => return StoreState::Failed(e),
    };
    let mut nss = Nss {
        runner,
        certutil: &certutil,
        anchor,
    };
    StoreState::Places(
        dbs.iter()
            .map(|db| PlaceReport {
                place: db.dir.display().to_string(),
                result: nss.handle(db, task),
            })
            .collect(),
    )
}

struct Nss<'r, 'e> {
    runner: &'r mut Runner<'e>,
    certutil: &'r Path,
    anchor: &'r Anchor,
}

/// An entry of `certutil -L`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    nickname: String,
    trust: String,
}

impl Entry {
    /// Whether these flags make it a CA trusted for TLS servers.
    fn trusted_for_tls(&self) -> bool {
        self.trust
            .split(',')
            .next()
            .is_some_and(|ssl| ssl.contains('C'))
    }
}

impl Nss<'_, '_> {
    fn handle(&mut self, db: &Database, task: Task) -> Result<Change, TrustError> {
        let ours = self.ours(db)?;
        let trusted = ours.iter().any(Entry::trusted_for_tls);
        match task {
            Task::Status => Ok(if trusted {
                Change::Present
            } else {
                Change::Missing
            }),
            Task::Install if trusted => Ok(Change::AlreadyPresent),
            Task::Install => {
                let name = self.anchor.name();
                self.certutil(
                    db,
                    &["-A", "-n", &name, "-t", CA_TRUST],
                    Some(self.anchor.pem()),
                )?;
                if self.ours(db)?.iter().any(Entry::trusted_for_tls) {
                    Ok(Change::Added)
                } else {
                    Err(TrustError::NotApplied(format!(
                        "certutil added the CA to {} but it is not listed as trusted",
                        db.spec
                    )))
                }
            }
            Task::Uninstall if ours.is_empty() => Ok(Change::WasMissing),
            Task::Uninstall => {
                for entry in &ours {
                    // certutil -D removes the first certificate under a
                    // nickname: only safe when every one there is ours.
                    for _ in 0..4 {
                        let pem = self.export(db, &entry.nickname)?;
                        if !self.anchor.in_pem(pem.as_bytes()) {
                            break;
                        }
                        if !self.anchor.only_in_pem(pem.as_bytes()) {
                            return Err(TrustError::NotApplied(format!(
                                "in {}, the nickname {:?} also holds other certificates; \
                                 remove the CA by hand with certutil -D",
                                db.spec, entry.nickname
                            )));
                        }
                        self.certutil(db, &["-D", "-n", &entry.nickname], None)?;
                    }
                }
                if self.ours(db)?.is_empty() {
                    Ok(Change::Removed)
                } else {
                    Err(TrustError::NotApplied(format!(
                        "certutil could not remove the CA from {}",
                        db.spec
                    )))
                }
            }
        }
    }

    /// The entries that hold our CA. Only entries with trust flags are
    /// looked at: Firefox caches hundreds of intermediates without any, and
    /// a certificate without trust flags does not make anything trusted.
    fn ours(&mut self, db: &Database) -> Result<Vec<Entry>, TrustError> {
        let listing = self.certutil(db, &["-L"], None)?;
        let mut ours = Vec::new();
        for entry in parse_listing(&listing) {
            let has_trust = entry.trust.chars().any(|c| c.is_ascii_alphabetic());
            if (has_trust || entry.nickname == self.anchor.name())
                && self.holds_ours(db, &entry.nickname)?
            {
                ours.push(entry);
            }
        }
        Ok(ours)
    }

    fn holds_ours(&mut self, db: &Database, nickname: &str) -> Result<bool, TrustError> {
        let pem = self.export(db, nickname)?;
        Ok(self.anchor.in_pem(pem.as_bytes()))
    }

    /// Every certificate under `nickname`, in PEM (none if it is gone).
    fn export(&mut self, db: &Database, nickname: &str) -> Result<String, TrustError> {
        match self.certutil(db, &["-L", "-a", "-n", nickname], None) {
            Ok(pem) => Ok(pem),
            Err(TrustError::CommandFailed { output, .. })
                if output.contains("Could not find cert") =>
            {
                Ok(String::new())
            }
            Err(e) => Err(e),
        }
    }

    fn certutil(
        &mut self,
        db: &Database,
        args: &[&str],
        input: Option<&[u8]>,
    ) -> Result<String, TrustError> {
        let mut all: Vec<&OsStr> = vec![OsStr::new("-d"), OsStr::new(&db.spec)];
        all.extend(args.iter().map(OsStr::new));
        self.runner.run(self.certutil, &all, input, As::User)
    }
}

/// The entries of a `certutil -L` listing: a header, then one line per
/// nickname with the trust flags (`C,,`) last.
fn parse_listing(listing: &str) -> Vec<Entry> {
    listing
        .lines()
        .map(str::trim_end)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("Certificate Nickname")
                && l.trim() != "SSL,S/MIME,JAR/XPI"
        })
        .filter_map(|line| {
            let (nickname, trust) = line.rsplit_once(char::is_whitespace)?;
            (trust.matches(',').count() == 2).then(|| Entry {
                nickname: nickname.trim_end().to_owned(),
                trust: trust.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_are_parsed_with_spaces_in_nicknames() {
        let listing = "\nCertificate Nickname                                         Trust Attributes\n\
                       \x20                                                            SSL,S/MIME,JAR/XPI\n\n\
                       mkcert development CA 1234                                   C,,\n\
                       DigiCert TLS RSA SHA256 2020 CA1                             ,,\n";
        let entries = parse_listing(listing);
        assert_eq!(
            entries,
            vec![
                Entry {
                    nickname: "mkcert development CA 1234".into(),
                    trust: "C,,".into()
                },
                Entry {
                    nickname: "DigiCert TLS RSA SHA256 2020 CA1".into(),
                    trust: ",,".into()
                },
            ]
        );
        assert!(entries[0].trusted_for_tls());
        assert!(!entries[1].trusted_for_tls());
    }

    #[test]
    fn databases_are_found_by_their_files() {
        let home = tempfile::tempdir().unwrap();
        let make = |rel: &str, file: &str| {
            let dir = home.path().join(rel);
            std::fs::create_dir_all(&dir).unwrap();
            pki::fs::write_atomic(
                dir.join(file),
                b"",
                pki::fs::Secrecy::Public,
                pki::fs::Overwrite::Refuse,
            )
            .unwrap();
        };
        make(".pki/nssdb", "cert9.db");
        make(".mozilla/firefox/b.default-release", "cert9.db");
        make(".mozilla/firefox/a.old", "cert8.db");
        make(".mozilla/firefox/c.empty", "prefs.js");
        make("snap/firefox/common/.mozilla/firefox/x.default", "cert9.db");
        let specs: Vec<String> = databases(home.path()).into_iter().map(|d| d.spec).collect();
        let h = home.path().display();
        assert_eq!(
            specs,
            vec![
                format!("sql:{h}/.pki/nssdb"),
                format!("dbm:{h}/.mozilla/firefox/a.old"),
                format!("sql:{h}/.mozilla/firefox/b.default-release"),
                format!("sql:{h}/snap/firefox/common/.mozilla/firefox/x.default"),
            ]
        );
    }
}
