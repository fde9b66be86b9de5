//! Java's `cacerts` keystore, changed with the runtime's own `keytool`: the
//! runtime of `$JAVA_HOME` when it is set, else the one whose `java` is on
//! the path. Its password is Java's well-known default, `changeit`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::environment::{Environment, is_executable};
use crate::report::{Change, PlaceReport, StoreState, TrustError};
use crate::run::{As, Runner};
use crate::{Anchor, Task};

const STORE_PASSWORD: &str = "changeit";

/// A Java runtime's keytool and trust store.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Runtime {
    keytool: PathBuf,
    cacerts: PathBuf,
}

impl Runtime {
    /// The runtime installed in `home`, or what it lacks.
    fn at(home: &Path) -> Result<Runtime, String> {
        let keytool = home.join("bin/keytool");
        if !is_executable(&keytool) {
            return Err(format!("there is no {}", keytool.display()));
        }
        let cacerts = ["lib/security/cacerts", "jre/lib/security/cacerts"]
            .iter()
            .map(|rel| home.join(rel))
            .find(|p| p.is_file())
            .ok_or_else(|| format!("{} has no lib/security/cacerts", home.display()))?;
        Ok(Runtime { keytool, cacerts })
    }

    /// `$JAVA_HOME`'s runtime, else that of `java` on the path, else none.
    fn find(env: &Environment) -> Result<Option<Runtime>, TrustError> {
        if let Some(home) = &env.java_home {
            return Runtime::at(home)
                .map(Some)
                .map_err(|reason| TrustError::BadJavaHome {
                    path: home.clone(),
                    reason,
                });
        }
        let Some(java) = env.find_program("java") else {
            return Ok(None);
        };
        // /usr/bin/java is a chain of links to <home>/bin/java.
        let real = std::fs::canonicalize(&java).unwrap_or(java);
        let home = real
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("/"));
        Runtime::at(home).map(Some).map_err(|reason| {
            TrustError::NotApplied(format!(
                "the java on PATH is {}, but {reason}; set JAVA_HOME to its JDK or JRE",
                real.display()
            ))
        })
    }
}

pub(super) fn handle(runner: &mut Runner<'_>, anchor: &Anchor, task: Task) -> StoreState {
    let runtime = match Runtime::find(runner.env) {
        Ok(Some(runtime)) => runtime,
        Ok(None) => {
            return StoreState::Absent(
                "JAVA_HOME is not set and there is no java on PATH".to_owned(),
            );
        }
        Err(e) => return StoreState::Failed(e),
    };
    // keytool rewrites the keystore in place: root's when the file is root's.
    let who = if runner.env.root
        || std::fs::OpenOptions::new()
            .append(true)
            .open(&runtime.cacerts)
            .is_ok()
    {
        As::User
    } else {
        As::Root
    };
    let mut java = Keytool {
        runner,
        runtime: &runtime,
        who,
    };
    let result = java.handle(anchor, task);
    StoreState::Places(vec![PlaceReport {
        place: runtime.cacerts.display().to_string(),
        result,
    }])
}

struct Keytool<'r, 'e> {
    runner: &'r mut Runner<'e>,
    runtime: &'r Runtime,
    who: As,
}

impl Keytool<'_, '_> {
    fn handle(&mut self, anchor: &Anchor, task: Task) -> Result<Change, TrustError> {
        let ours = self.aliases_of(anchor)?;
        match task {
            Task::Status => Ok(if ours.is_empty() {
                Change::Missing
            } else {
                Change::Present
            }),
            Task::Install if !ours.is_empty() => Ok(Change::AlreadyPresent),
            Task::Install => {
                let name = anchor.name();
                self.keytool(
                    &["-importcert", "-noprompt", "-alias", &name],
                    Some(anchor.pem()),
                    self.who,
                )?;
                self.confirm(anchor, true)
            }
            Task::Uninstall if ours.is_empty() => Ok(Change::WasMissing),
            Task::Uninstall => {
                for alias in &ours {
                    self.keytool(&["-delete", "-alias", alias], None, self.who)?;
                }
                self.confirm(anchor, false)
            }
        }
    }

    fn confirm(&mut self, anchor: &Anchor, wanted: bool) -> Result<Change, TrustError> {
        let present = !self.aliases_of(anchor)?.is_empty();
        match (wanted, present) {
            (true, true) => Ok(Change::Added),
            (false, false) => Ok(Change::Removed),
            _ => Err(TrustError::NotApplied(format!(
                "keytool ran, yet {} {} the CA",
                self.runtime.cacerts.display(),
                if present {
                    "still holds"
                } else {
                    "does not hold"
                }
            ))),
        }
    }

    /// The aliases under which the keystore holds the CA.
    fn aliases_of(&mut self, anchor: &Anchor) -> Result<Vec<String>, TrustError> {
        let listing = self.keytool(&["-list", "-rfc"], None, As::User)?;
        Ok(parse_listing(&listing)
            .into_iter()
            .filter(|(_, pem)| anchor.in_pem(pem.as_bytes()))
            .map(|(alias, _)| alias)
            .collect())
    }

    fn keytool(
        &mut self,
        args: &[&str],
        input: Option<&[u8]>,
        who: As,
    ) -> Result<String, TrustError> {
        let cacerts = self.runtime.cacerts.as_os_str();
        let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        all.extend([
            OsStr::new("-keystore"),
            cacerts,
            OsStr::new("-storepass"),
            OsStr::new(STORE_PASSWORD),
            // The listing is parsed: keep its labels in English.
            OsStr::new("-J-Duser.language=en"),
            OsStr::new("-J-Duser.country=US"),
        ]);
        self.runner.run(&self.runtime.keytool, &all, input, who)
    }
}

/// The (alias, PEM) pairs of the trusted certificates in a `keytool -list
/// -rfc` listing. Key entries are left out: the chain of a key is not
/// trust, and removing such an entry would remove someone's key.
fn parse_listing(listing: &str) -> Vec<(String, String)> {
    let mut entries = Vec::new();
    let mut alias: Option<String> = None;
    let mut pem: Option<String> = None;
    for line in listing.lines() {
        let line = line.trim_end();
        if let Some(name) = line.strip_prefix("Alias name: ") {
            alias = Some(name.to_owned());
        } else if let Some(kind) = line.strip_prefix("Entry type: ") {
            if kind != "trustedCertEntry" {
                alias = None;
            }
        } else if line.starts_with("-----BEGIN CERTIFICATE-----") {
            pem = Some(String::new());
        }
        if let Some(block) = pem.as_mut() {
            block.push_str(line);
            block.push('\n');
            if line.starts_with("-----END CERTIFICATE-----")
                && let (Some(a), Some(p)) = (alias.clone(), pem.take())
            {
                entries.push((a, p));
            }
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Os;

    #[test]
    fn listings_pair_aliases_with_their_certificates() {
        let listing = "Keystore type: JKS\n\nAlias name: debian:one.pem\nCreation date: Jun 24, 2025\n\
                       Entry type: trustedCertEntry\n\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n\n\
                       *******************************************\n\n\
                       Alias name: pki-x, with comma\n-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n\n\
                       Alias name: server\nEntry type: PrivateKeyEntry\nCertificate chain length: 2\n\
                       -----BEGIN CERTIFICATE-----\nCCCC\n-----END CERTIFICATE-----\n\
                       -----BEGIN CERTIFICATE-----\nDDDD\n-----END CERTIFICATE-----\n";
        let entries = parse_listing(listing);
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert_eq!(entries[0].0, "debian:one.pem");
        assert!(entries[0].1.contains("AAAA") && !entries[0].1.contains("BBBB"));
        assert_eq!(entries[1].0, "pki-x, with comma");
    }

    #[test]
    fn a_bad_java_home_is_an_error_and_no_java_is_absence() {
        let empty = tempfile::tempdir().unwrap();
        let env = Environment {
            home: None,
            java_home: Some(empty.path().to_path_buf()),
            path: None,
            root: false,
            os: Os::Other,
        };
        let e = Runtime::find(&env).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "JAVA_HOME is {} but there is no ",
                empty.path().display()
            )),
            "{e}"
        );
        let env = Environment {
            java_home: None,
            path: Some(empty.path().as_os_str().to_owned()),
            ..env
        };
        assert_eq!(Runtime::find(&env).unwrap(), None);
    }
}
