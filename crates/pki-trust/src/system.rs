//! The operating system's store: on Linux, an anchor file in the
//! distribution's directory and the distribution's command that rebuilds
//! the bundle OpenSSL, curl and Python read; on macOS and Windows, the
//! command the user should run, since we cannot test changing them.
//!
//! Whether the system trusts the CA is asked of OpenSSL itself (its default
//! file and directory), not of our own anchor file: that is what clients
//! see, whoever put the CA there.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::environment::{Distro, Os};
use crate::report::{Change, PlaceReport, StoreState, TrustError};
use crate::run::{As, Runner, quote};
use crate::{Anchor, Task};

/// Where one distribution family keeps local anchors and how it rebuilds its bundle.
#[derive(Debug, Clone, Copy)]
struct Layout {
    anchors: &'static str,
    extension: &'static str,
    refresh: &'static str,
    refresh_args: &'static [&'static str],
    /// Extra arguments for the rebuild after a removal: Debian's plain
    /// rebuild leaves links to removed files and never tells its hooks (the
    /// one that keeps Java's cacerts in step, for one).
    removal_args: &'static [&'static str],
    /// The bundle the rebuild writes, which clients read.
    bundle: &'static str,
    package: &'static str,
}

impl Layout {
    fn of(distro: Distro) -> Layout {
        match distro {
            Distro::Debian => Layout {
                anchors: "/usr/local/share/ca-certificates",
                extension: "crt",
                refresh: "update-ca-certificates",
                refresh_args: &[],
                removal_args: &["--fresh"],
                bundle: "/etc/ssl/certs/ca-certificates.crt",
                package: "install the ca-certificates package",
            },
            Distro::Fedora => Layout {
                anchors: "/etc/pki/ca-trust/source/anchors",
                extension: "pem",
                refresh: "update-ca-trust",
                refresh_args: &["extract"],
                removal_args: &[],
                bundle: "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
                package: "install the ca-certificates package",
            },
            Distro::Arch => Layout {
                anchors: "/etc/ca-certificates/trust-source/anchors",
                extension: "crt",
                refresh: "trust",
                refresh_args: &["extract-compat"],
                removal_args: &[],
                bundle: "/etc/ssl/certs/ca-certificates.crt",
                package: "install the p11-kit package",
            },
            Distro::OpenSuse => Layout {
                anchors: "/usr/share/pki/trust/anchors",
                extension: "pem",
                refresh: "update-ca-certificates",
                refresh_args: &[],
                removal_args: &[],
                bundle: "/var/lib/ca-certificates/ca-bundle.pem",
                package: "install the ca-certificates package",
            },
        }
    }

    /// Whether the bundle clients read holds the CA. Read from the file
    /// itself, so that `SSL_CERT_FILE` in our own environment can never make
    /// the store look changed when it is not.
    fn bundle_holds(&self, anchor: &Anchor) -> bool {
        std::fs::read(self.bundle).is_ok_and(|pem| anchor.in_pem(&pem))
    }

    fn refresh_line(&self) -> String {
        std::iter::once(self.refresh)
            .chain(self.refresh_args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub(super) fn handle(runner: &mut Runner<'_>, anchor: &Anchor, task: Task) -> StoreState {
    let file = anchor
        .file()
        .map_or_else(|| "rootCA.pem".to_owned(), |f| quote(f.as_os_str()));
    let distro = match &runner.env.os {
        Os::Linux(Some(distro)) => *distro,
        Os::Linux(None) => {
            return StoreState::Absent(
                "/etc/os-release names no distribution pki knows (Debian, Ubuntu, Fedora, RHEL, Arch, openSUSE)".to_owned(),
            );
        }
        Os::MacOs => {
            return StoreState::Manual(match task {
                Task::Install => format!(
                    "sudo security add-trusted-cert -d -k /Library/Keychains/System.keychain {file}"
                ),
                Task::Uninstall => format!("sudo security remove-trusted-cert -d {file}"),
                Task::Status => format!("security verify-cert -c {file}"),
            });
        }
        Os::Windows => {
            let serial = anchor.serial();
            return StoreState::Manual(match task {
                Task::Install => {
                    format!("certutil -addstore -f ROOT {file} (in an administrator prompt)")
                }
                Task::Uninstall => {
                    format!("certutil -delstore ROOT {serial} (in an administrator prompt)")
                }
                Task::Status => format!("certutil -verifystore ROOT {serial}"),
            });
        }
        Os::Other => {
            return StoreState::Absent(
                "no system store pki knows on this operating system".to_owned(),
            );
        }
    };
    let layout = Layout::of(distro);
    let anchors = Path::new(layout.anchors);
    if !anchors.is_dir() {
        return StoreState::Absent(format!(
            "{} does not exist; {}",
            anchors.display(),
            layout.package
        ));
    }
    let target = anchors.join(format!("{}.{}", anchor.name(), layout.extension));
    let store = format!(
        "the system store ({}, {})",
        anchors.display(),
        layout.refresh_line()
    );
    let trusted = layout.bundle_holds(anchor);
    let (place, result) = match task {
        Task::Status => (
            store,
            Ok(if trusted {
                Change::Present
            } else {
                Change::Missing
            }),
        ),
        Task::Install => (
            target.display().to_string(),
            if trusted {
                Ok(Change::AlreadyPresent)
            } else {
                install(runner, anchor, &layout, &target)
            },
        ),
        Task::Uninstall => {
            let ours = our_files(anchor, anchors);
            let place = if ours.is_empty() {
                store
            } else {
                ours.iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            (place, uninstall(runner, anchor, &layout, &ours, trusted))
        }
    };
    StoreState::Places(vec![PlaceReport { place, result }])
}

fn refresh(
    runner: &mut Runner<'_>,
    layout: &Layout,
    after_removal: bool,
) -> Result<(), TrustError> {
    let program = runner.admin_program(layout.refresh, layout.package)?;
    let extra = if after_removal {
        layout.removal_args
    } else {
        &[]
    };
    let args: Vec<&OsStr> = layout
        .refresh_args
        .iter()
        .chain(extra)
        .map(OsStr::new)
        .collect();
    runner.run(&program, &args, None, As::Root).map(drop)
}

fn install(
    runner: &mut Runner<'_>,
    anchor: &Anchor,
    layout: &Layout,
    target: &Path,
) -> Result<Change, TrustError> {
    // Checked before writing, so a missing tool leaves no stray anchor behind.
    runner.admin_program(layout.refresh, layout.package)?;
    runner.write_root_file(target, anchor.pem())?;
    refresh(runner, layout, false)?;
    if layout.bundle_holds(anchor) {
        Ok(Change::Added)
    } else {
        Err(TrustError::NotApplied(format!(
            "wrote {} and ran {}, yet {} does not hold the CA",
            target.display(),
            layout.refresh_line(),
            layout.bundle
        )))
    }
}

fn uninstall(
    runner: &mut Runner<'_>,
    anchor: &Anchor,
    layout: &Layout,
    ours: &[PathBuf],
    trusted: bool,
) -> Result<Change, TrustError> {
    if ours.is_empty() && !trusted {
        return Ok(Change::WasMissing);
    }
    if !ours.is_empty() {
        // Checked before removing, so the bundle never outlives its anchors.
        runner.admin_program(layout.refresh, layout.package)?;
        for file in ours {
            runner.remove_root_file(file)?;
        }
        refresh(runner, layout, true)?;
    }
    if layout.bundle_holds(anchor) {
        return Err(TrustError::NotApplied(format!(
            "{} still holds the CA through a file pki did not write (see {}, /usr/share/ca-certificates \
             and files that hold other certificates too); remove it there and run {}",
            layout.bundle,
            layout.anchors,
            layout.refresh_line()
        )));
    }
    Ok(if ours.is_empty() {
        Change::WasMissing
    } else {
        Change::Removed
    })
}

/// The files in `dir` that hold this CA and nothing else.
fn our_files(anchor: &Anchor, dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| std::fs::read(p).is_ok_and(|pem| anchor.only_in_pem(&pem)))
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Environment, Store, StoreReport};
    use pki::{Ca, CaParams};

    fn report(os: Os, task: Task) -> String {
        let env = Environment {
            home: None,
            java_home: None,
            path: None,
            root: false,
            os,
        };
        let ca = Ca::generate(&CaParams::new()).unwrap();
        let anchor = Anchor::new(ca.certificate()).unwrap();
        let mut announce = |_: &str| {};
        let mut runner = Runner::new(&env, &mut announce);
        StoreReport {
            store: Store::System,
            state: handle(&mut runner, &anchor, task),
        }
        .to_string()
    }

    #[test]
    fn macos_and_windows_get_the_command_to_run() {
        let text = report(Os::MacOs, Task::Install);
        assert_eq!(
            text,
            "system: not changed from here; run: sudo security add-trusted-cert -d -k /Library/Keychains/System.keychain rootCA.pem"
        );
        assert!(report(Os::MacOs, Task::Uninstall).contains("remove-trusted-cert -d rootCA.pem"));
        let text = report(Os::Windows, Task::Install);
        assert!(
            text.contains("certutil -addstore -f ROOT rootCA.pem"),
            "{text}"
        );
        assert!(report(Os::Windows, Task::Uninstall).contains("certutil -delstore ROOT "));
    }

    #[test]
    fn unknown_systems_have_no_store() {
        assert!(
            report(Os::Linux(None), Task::Status).starts_with("system: absent (/etc/os-release")
        );
        assert!(report(Os::Other, Task::Install).starts_with("system: absent ("));
    }

    #[test]
    fn each_distribution_has_its_own_anchors_and_command() {
        let debian = Layout::of(Distro::Debian);
        assert_eq!(
            (debian.anchors, debian.extension),
            ("/usr/local/share/ca-certificates", "crt")
        );
        assert_eq!(
            Layout::of(Distro::Fedora).refresh_line(),
            "update-ca-trust extract"
        );
        assert_eq!(
            Layout::of(Distro::Arch).refresh_line(),
            "trust extract-compat"
        );
        assert_eq!(
            Layout::of(Distro::OpenSuse).anchors,
            "/usr/share/pki/trust/anchors"
        );
    }

    #[test]
    fn a_new_ca_is_not_trusted_by_the_system() {
        let ca = Ca::generate(&CaParams::new()).unwrap();
        assert!(!pki::verify::system_trusts(ca.certificate()));
    }
}
