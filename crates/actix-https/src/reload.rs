//! The reload watcher: a thread that polls the files the server was started
//! with (each identity's certificate and key, the client-CA file, the CRL)
//! and puts a new [`Snapshot`] of contexts in use when one changes.
//!
//! A file's version is its size and modification time, taken before it is
//! read, so a change made while it is being read is seen on the next round.
//! A changed identity gets a new context of its own; a changed client-CA
//! file or CRL gets new contexts for every identity, published together, so
//! no handshake meets the old policy on one name and the new one on another.
//! A file that fails to load is reported once and the old state kept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use crate::client::ClientVerification;
use crate::error::Result;
use crate::tls::{Entry, IdentitySource, ReloadEvent, ReloadHook, Shared, Snapshot};

/// What identifies a version of some files: the size and modification time
/// of each (`None` for one that is missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp(Vec<Option<(u64, SystemTime)>>);

impl Stamp {
    /// The version of `paths` on disk now.
    pub(crate) fn of(paths: &[&Path]) -> Self {
        Stamp(
            paths
                .iter()
                .map(|p| {
                    std::fs::metadata(p)
                        .ok()
                        .map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)))
                })
                .collect(),
        )
    }
}

/// Polls every `interval` until the server is gone.
pub(crate) fn watch(shared: &Weak<Shared>, interval: Duration, hook: &ReloadHook) {
    // The on-disk versions of the client files that last failed to load,
    // so a bad file is reported once, not at every round.
    let mut failed_client: Option<(Option<Stamp>, Option<Stamp>)> = None;
    loop {
        std::thread::sleep(interval);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let entries = std::iter::once((None, &shared.default))
            .chain(shared.sni.iter().enumerate().map(|(i, e)| (Some(i), e)));
        for (which, entry) in entries {
            if let Some(event) = reload_identity(&shared, which, entry) {
                hook(&event);
            }
        }
        if let Some(event) = reload_client(&shared, &mut failed_client) {
            hook(&event);
        }
    }
}

/// Reloads one identity if its files changed since they were last read.
fn reload_identity(shared: &Shared, which: Option<usize>, entry: &Entry) -> Option<ReloadEvent> {
    let IdentitySource::Files { cert, .. } = &entry.source else {
        return None;
    };
    let now = entry.source.stamp();
    {
        let mut last = entry.stamp.lock().unwrap_or_else(|e| e.into_inner());
        if *last == now {
            return None;
        }
        *last = now;
    }
    let loaded = entry
        .source
        .load()
        .and_then(|identity| Ok((shared.settings.context(&identity)?, identity)));
    Some(match loaded {
        Ok((context, identity)) => {
            let certificate = identity.certificate().clone();
            let mut snapshot = Snapshot::clone(&shared.snapshot());
            match which.and_then(|i| snapshot.sni.get_mut(i)) {
                Some(slot) => *slot = (context, identity),
                None => snapshot.default = (context, identity),
            }
            shared.publish(snapshot);
            ReloadEvent::Reloaded {
                cert: cert.clone(),
                certificate,
            }
        }
        Err(error) => ReloadEvent::Failed {
            cert: cert.clone(),
            error,
        },
    })
}

/// Reads the client-CA file and the CRL again if either changed, and puts
/// new contexts for every identity in use; all or nothing.
fn reload_client(
    shared: &Shared,
    failed: &mut Option<(Option<Stamp>, Option<Stamp>)>,
) -> Option<ReloadEvent> {
    let client = shared.settings.client()?;
    let on_disk = client.stamps_on_disk();
    if on_disk == client.stamps() || failed.as_ref() == Some(&on_disk) {
        return None;
    }
    let ca_changed = on_disk.0 != client.stamps().0;
    let changed: PathBuf = match (ca_changed, client.ca_file(), client.crl_path()) {
        (true, Some(ca), _) => ca.to_path_buf(),
        (_, _, Some(crl)) => crl.to_path_buf(),
        (_, Some(ca), None) => ca.to_path_buf(),
        (_, None, None) => return None,
    };
    match rebuild(shared, &client) {
        Ok(fresh) => {
            *failed = None;
            Some(if ca_changed {
                ReloadEvent::ClientCasReloaded { file: changed }
            } else {
                ReloadEvent::CrlReloaded {
                    crl: changed,
                    problem: fresh.crl_problem().cloned(),
                }
            })
        }
        Err(error) => {
            *failed = Some(on_disk);
            Some(ReloadEvent::Failed {
                cert: changed,
                error,
            })
        }
    }
}

/// New client verification from the files, and every context rebuilt with
/// it; published only if all of it worked.
fn rebuild(shared: &Shared, old: &ClientVerification) -> Result<Arc<ClientVerification>> {
    let fresh = Arc::new(old.reread()?);
    let current = shared.snapshot();
    let context = |(_, identity): &(openssl::ssl::SslContext, pki::Identity)| {
        shared
            .settings
            .context_with(identity, Some(&fresh))
            .map(|context| (context, identity.clone()))
    };
    let snapshot = Snapshot {
        default: context(&current.default)?,
        sni: current.sni.iter().map(context).collect::<Result<_>>()?,
    };
    *shared
        .settings
        .client
        .write()
        .unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&fresh));
    shared.publish(snapshot);
    Ok(fresh)
}
