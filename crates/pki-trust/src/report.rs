//! What happened to each store, in words a person can act on.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::Store;

/// Why a store, or one place in it, could not be read or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The tool that manages the store is not installed.
    #[error("{tool} is not installed; {hint}")]
    ToolMissing {
        /// The program.
        tool: &'static str,
        /// Which package provides it.
        hint: &'static str,
    },

    /// The tool ran and said no.
    #[error("`{command}` failed ({status}): {output}")]
    CommandFailed {
        /// The command line (no secrets: only well-known store passwords).
        command: String,
        /// Its exit status.
        status: String,
        /// The last lines it printed.
        output: String,
    },

    /// The tool could not be started at all.
    #[error("cannot run {program}: {cause}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The operating system's reason.
        cause: io::Error,
    },

    /// Root is needed, and there is no sudo to get it.
    #[error("changing {what} needs root and sudo is not installed; run this as root")]
    NoSudo {
        /// The file or store.
        what: String,
    },

    /// A file of the store could not be read or written.
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        /// "read", "write" or "remove".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        cause: io::Error,
    },

    /// `$JAVA_HOME` does not point at a Java runtime.
    #[error("JAVA_HOME is {} but {reason}; point JAVA_HOME at a JDK or JRE, or unset it", path.display())]
    BadJavaHome {
        /// The value of JAVA_HOME.
        path: PathBuf,
        /// What is missing there.
        reason: String,
    },

    /// The tool succeeded, but the store does not show the change.
    #[error("{0}")]
    NotApplied(String),
}

/// What a place (a store file or database) says, or what was done to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Status: the CA is trusted here.
    Present,
    /// Status: the CA is not trusted here.
    Missing,
    /// Install: added now.
    Added,
    /// Install: it was already there; nothing was changed.
    AlreadyPresent,
    /// Uninstall: removed now.
    Removed,
    /// Uninstall: it was not there; nothing was changed.
    WasMissing,
}

impl Change {
    /// Whether the CA is trusted here afterwards.
    pub fn trusted(self) -> bool {
        matches!(
            self,
            Change::Present | Change::Added | Change::AlreadyPresent
        )
    }

    /// Whether the store was modified.
    pub fn modified(self) -> bool {
        matches!(self, Change::Added | Change::Removed)
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Change::Present => "installed",
            Change::Missing => "not installed",
            Change::Added => "installed now",
            Change::AlreadyPresent => "already installed",
            Change::Removed => "removed",
            Change::WasMissing => "was not installed",
        })
    }
}

/// One place of a store: the system bundle, one NSS database, one keystore.
#[derive(Debug)]
pub struct PlaceReport {
    /// The place, as a person would look for it (usually a path).
    pub place: String,
    /// What it says or what was done, or why that failed.
    pub result: Result<Change, TrustError>,
}

/// What a store is like on this machine, and what happened to it.
#[derive(Debug)]
pub enum StoreState {
    /// There is no such store here; the string says what was looked for.
    Absent(String),
    /// This store cannot be changed from here: the user should run this command.
    Manual(String),
    /// The store exists but cannot be used at all (its tool is missing, a bad `JAVA_HOME`).
    Failed(TrustError),
    /// Each place of the store.
    Places(Vec<PlaceReport>),
}

/// One store's report.
#[derive(Debug)]
pub struct StoreReport {
    /// Which store.
    pub store: Store,
    /// What it is like and what happened.
    pub state: StoreState,
}

impl StoreReport {
    /// Whether anything in this store failed.
    pub fn failed(&self) -> bool {
        match &self.state {
            StoreState::Failed(_) => true,
            StoreState::Places(places) => places.iter().any(|p| p.result.is_err()),
            StoreState::Absent(_) | StoreState::Manual(_) => false,
        }
    }

    /// Whether the store is present on this machine.
    pub fn present(&self) -> bool {
        !matches!(self.state, StoreState::Absent(_))
    }

    /// Whether every place of a present store trusts the CA afterwards
    /// (`false` for a failed, manual or absent store).
    pub fn trusted(&self) -> bool {
        match &self.state {
            StoreState::Places(places) => {
                !places.is_empty()
                    && places
                        .iter()
                        .all(|p| p.result.as_ref().is_ok_and(|c| c.trusted()))
            }
            _ => false,
        }
    }
}

impl fmt::Display for StoreReport {
    /// One line per place: `nss: installed now in /home/a/.pki/nssdb`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = self.store;
        match &self.state {
            StoreState::Absent(why) => write!(f, "{store}: absent ({why})"),
            StoreState::Manual(command) => {
                write!(f, "{store}: not changed from here; run: {command}")
            }
            StoreState::Failed(e) => write!(f, "{store}: failed: {e}"),
            StoreState::Places(places) => {
                for (i, p) in places.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    match &p.result {
                        Ok(Change::Removed) => write!(f, "{store}: removed from {}", p.place)?,
                        Ok(change) => write!(f, "{store}: {change} in {}", p.place)?,
                        Err(e) => write!(f, "{store}: failed in {}: {e}", p.place)?,
                    }
                }
                Ok(())
            }
        }
    }
}
