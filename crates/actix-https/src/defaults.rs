//! The zero-config identity: a certificate for localhost, 127.0.0.1 and ::1
//! from the local development CA (the one `pki` and `cargo xtask gen-ca`
//! use, created on first run), kept next to the CA so restarts reuse it,
//! and issued again when it nears its end, the CA changed, or it is damaged.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use pki::fs::Overwrite;
use pki::{Ca, CaParams, CertParams, SubjectAltName};

/// The names the default certificate covers.
const NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Issue again when fewer days than this are left.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 86_400);

/// The files to serve and what to tell the user about them.
pub struct LocalIdentity {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub notes: Vec<String>,
}

/// Finds or makes the default certificate; `url` is where it will be served.
pub fn local_identity(ca_dir: Option<&Path>, url: &str) -> Result<LocalIdentity> {
    let dir = ca_dir_or_default(ca_dir)?;
    let found = Ca::load_or_create(&dir, &CaParams::new(), None).map_err(|e| match e {
        pki::Error::PassphraseRequired { .. } => anyhow::anyhow!(
            "the local CA key in {} is encrypted, so no certificate can be issued unattended; \
             issue one with `pki cert localhost 127.0.0.1 ::1` and pass --cert and --key",
            dir.display()
        ),
        other => anyhow::Error::new(other)
            .context(format!("cannot use the local CA in {}", dir.display())),
    })?;
    let created = found.was_created();
    let ca = found.into_ca();
    let ca_cert = dir.join(pki::ca::CA_CERT_FILE);
    let server_dir = dir.join("actix-https");
    let cert = server_dir.join("localhost.pem");
    let key = server_dir.join("localhost-key.pem");
    let mut notes = Vec::new();
    match reusable(&ca, &cert, &key) {
        Ok(()) => notes.push(format!("certificate: {} (reused)", cert.display())),
        Err(why) => {
            let issued = ca.issue(&CertParams::new(NAMES)?)?;
            pki::fs::create_private_dir(&server_dir)?;
            issued.write_pem(&cert, &key, None, Overwrite::Replace)?;
            notes.push(format!(
                "certificate: {} (issued now: {why})",
                cert.display()
            ));
        }
    }
    let created_note = if created { ", created just now" } else { "" };
    notes.push(format!("CA: {}{created_note}", ca_cert.display()));
    // `pki` finds the same CA by itself unless the directory was passed here.
    let ca_dir_hint = ca_dir.map_or_else(String::new, |d| format!(" --ca-dir '{}'", d.display()));
    if pki::verify::system_trusts(ca.root()) {
        notes.push("the CA is trusted by this system's OpenSSL store".to_owned());
    } else {
        notes.push(format!(
            "the CA is not trusted by this system yet; to trust it: \
             pki trust install{ca_dir_hint} (in this repository: cargo run -p pki-cli -- trust install{ca_dir_hint})"
        ));
    }
    notes.push(format!("try: curl --cacert '{}' {url}", ca_cert.display()));
    Ok(LocalIdentity { cert, key, notes })
}

/// `--ca-dir`, else where `pki` keeps the local CA.
pub fn ca_dir_or_default(ca_dir: Option<&Path>) -> Result<PathBuf> {
    match ca_dir {
        Some(d) => Ok(d.to_path_buf()),
        None => pki::ca::default_dir(|k| std::env::var_os(k)).context(
            "cannot tell where the local CA lives: set CAROOT or HOME, or pass --ca-dir DIR",
        ),
    }
}

/// Why the stored certificate cannot be served again, if it cannot.
fn reusable(ca: &Ca, cert: &Path, key: &Path) -> Result<(), String> {
    if !cert.exists() || !key.exists() {
        return Err("none yet".to_owned());
    }
    let identity = pki::Identity::read(cert, key, None)
        .map_err(|e| format!("the old one is unusable: {e}"))?;
    let leaf = identity.certificate();
    let signed_by_ca = ca
        .certificate()
        .as_x509()
        .public_key()
        .and_then(|k| leaf.as_x509().verify(&k))
        .unwrap_or(false);
    if !signed_by_ca {
        return Err("the old one is from another CA".to_owned());
    }
    let wanted: Vec<String> = NAMES
        .iter()
        .filter_map(|n| SubjectAltName::parse(n).ok())
        .map(|n| n.to_string())
        .collect();
    let have: Vec<String> = leaf
        .subject_alt_names()
        .iter()
        .map(ToString::to_string)
        .collect();
    if have != wanted {
        return Err("the old one has other names".to_owned());
    }
    if leaf.not_after() < SystemTime::now() + RENEW_BEFORE {
        return Err(format!(
            "the old one ends {}",
            pki::time::format_time(leaf.not_after())
        ));
    }
    Ok(())
}
