//! What the stores depend on, gathered once: the user's home, Java's
//! location, the search path, whether we are root, and the operating system.
//! Tests build one by hand to point the stores at temp directories.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The operating system, as far as the system store is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Os {
    /// Linux, with the distribution family read from `/etc/os-release`
    /// (`None` when it is not one we know).
    Linux(Option<Distro>),
    /// macOS: the system store is the keychain, changed by `security`.
    MacOs,
    /// Windows: the system store is changed by `certutil.exe`.
    Windows,
    /// Anything else.
    Other,
}

/// Linux distribution families, which differ in where anchors go and which
/// command rebuilds the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distro {
    /// Debian, Ubuntu and derivatives: `update-ca-certificates`.
    Debian,
    /// Fedora, RHEL, CentOS and derivatives: `update-ca-trust extract`.
    Fedora,
    /// Arch and derivatives: `trust extract-compat`.
    Arch,
    /// openSUSE and SLES: `update-ca-certificates` with p11-kit anchors.
    OpenSuse,
}

impl Distro {
    /// The family named by the `ID` and `ID_LIKE` fields of an
    /// `/etc/os-release` text, if any of them is known.
    pub fn from_os_release(text: &str) -> Option<Distro> {
        let mut ids = Vec::new();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            if key.trim() == "ID" || key.trim() == "ID_LIKE" {
                let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
                ids.extend(value.split_whitespace().map(str::to_ascii_lowercase));
            }
        }
        ids.iter().find_map(|id| match id.as_str() {
            "debian" | "ubuntu" => Some(Distro::Debian),
            "fedora" | "rhel" | "centos" | "rocky" | "almalinux" => Some(Distro::Fedora),
            "arch" | "archlinux" | "manjaro" => Some(Distro::Arch),
            _ if id.starts_with("opensuse") || id == "suse" || id == "sles" => {
                Some(Distro::OpenSuse)
            }
            _ => None,
        })
    }
}

/// Where the stores are looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// The user's home directory (NSS databases live under it).
    pub home: Option<PathBuf>,
    /// `$JAVA_HOME`, if set and not empty.
    pub java_home: Option<PathBuf>,
    /// `$PATH`, searched for `certutil`, `keytool`, `java` and `sudo`.
    pub path: Option<OsString>,
    /// Whether the process runs as root (else root's changes go through `sudo`).
    pub root: bool,
    /// The operating system.
    pub os: Os,
}

impl Environment {
    /// The environment of this process: `$HOME`, `$JAVA_HOME`, `$PATH`, the
    /// effective user, and `/etc/os-release`.
    pub fn current() -> Environment {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let os = if cfg!(target_os = "linux") {
            let release = std::fs::read_to_string("/etc/os-release")
                .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
                .unwrap_or_default();
            Os::Linux(Distro::from_os_release(&release))
        } else if cfg!(target_os = "macos") {
            Os::MacOs
        } else if cfg!(windows) {
            Os::Windows
        } else {
            Os::Other
        };
        Environment {
            home: var("HOME").map(PathBuf::from),
            java_home: var("JAVA_HOME").map(PathBuf::from),
            path: var("PATH"),
            // /proc/self belongs to the effective user of the process.
            root: std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0),
            os,
        }
    }

    /// The first executable called `name` on the search path.
    pub fn find_program(&self, name: &str) -> Option<PathBuf> {
        let path = self.path.as_ref()?;
        std::env::split_paths(path)
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    }

    /// As [`find_program`](Self::find_program), then in the `sbin`
    /// directories, which users' search paths often lack although the
    /// programs there (`update-ca-certificates`) are run through sudo.
    pub fn find_admin_program(&self, name: &str) -> Option<PathBuf> {
        self.find_program(name).or_else(|| {
            ["/usr/local/sbin", "/usr/sbin", "/sbin"]
                .iter()
                .map(|dir| Path::new(dir).join(name))
                .find(|candidate| is_executable(candidate))
        })
    }
}

pub(crate) fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_are_told_apart_by_id_and_id_like() {
        let cases = [
            ("ID=debian\nVERSION_ID=\"12\"\n", Some(Distro::Debian)),
            ("ID=ubuntu\nID_LIKE=debian\n", Some(Distro::Debian)),
            (
                "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n",
                Some(Distro::Debian),
            ),
            ("ID=fedora\n", Some(Distro::Fedora)),
            (
                "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n",
                Some(Distro::Fedora),
            ),
            ("ID=arch\n", Some(Distro::Arch)),
            ("ID=endeavouros\nID_LIKE=arch\n", Some(Distro::Arch)),
            (
                "ID=\"opensuse-tumbleweed\"\nID_LIKE=\"opensuse suse\"\n",
                Some(Distro::OpenSuse),
            ),
            ("ID=sles\n", Some(Distro::OpenSuse)),
            ("ID=alpine\n", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(Distro::from_os_release(text), want, "{text:?}");
        }
    }

    #[test]
    fn programs_are_found_on_the_given_path_only() {
        let dir = tempfile::tempdir().unwrap();
        let env = Environment {
            home: None,
            java_home: None,
            path: Some(dir.path().as_os_str().to_owned()),
            root: false,
            os: Os::Other,
        };
        assert_eq!(env.find_program("sh"), None);
        let tool = dir.path().join("sh");
        pki::fs::write_atomic(
            &tool,
            b"#!/bin/sh\n",
            pki::fs::Secrecy::Public,
            pki::fs::Overwrite::Refuse,
        )
        .unwrap();
        assert_eq!(env.find_program("sh"), None, "not executable");
        std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        assert_eq!(env.find_program("sh"), Some(tool));
    }
}
