//! `pki revoke` and `pki crl`: revocation for the local CA, recorded in its
//! directory (`revoked.txt`) and published as `crl.pem`/`crl.der`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Result, bail};
use pki::Certificate;

use crate::cli::{CrlArgs, RevokeArgs};
use crate::{Context, quote};

/// `pki revoke SERIAL|CERT`
pub fn revoke(ctx: &Context, args: &RevokeArgs, out: &mut String) -> Result<()> {
    let dir = ctx.checked_ca_dir()?;
    let ca_path = dir.join(pki::ca::CA_CERT_FILE);
    if !ca_path.exists() {
        bail!(
            "there is no CA in {}; nothing it issued can be revoked",
            dir.display()
        );
    }
    let target = Path::new(&args.target);
    let (serial, described) = if target.exists() {
        let cert = Certificate::read(target)?;
        let ca = Certificate::read(&ca_path)?;
        let signed_by_ca = ca
            .as_x509()
            .public_key()
            .and_then(|key| cert.as_x509().verify(&key))
            .unwrap_or(false);
        if !signed_by_ca {
            bail!(
                "{} was not issued by the CA in {} (its issuer is '{}'); only that CA's CRL can revoke it",
                target.display(),
                dir.display(),
                cert.issuer()
            );
        }
        let names: Vec<String> = cert
            .subject_alt_names()
            .iter()
            .map(ToString::to_string)
            .collect();
        (
            cert.serial_hex(),
            format!("{} ({})", target.display(), names.join(", ")),
        )
    } else if looks_like_path(&args.target) {
        bail!(
            "{} does not exist; give a certificate file or a serial in hex (as `pki inspect` prints it)",
            args.target
        );
    } else {
        let serial = pki::crl::parse_serial(&args.target)?;
        (serial.clone(), format!("serial {serial}"))
    };
    let entry = pki::crl::revoke(&dir, &serial, args.reason, SystemTime::now())?;
    writeln!(
        out,
        "Revoked {described}: serial {}, reason {}, recorded in {}.",
        entry.serial,
        entry.reason,
        dir.join(pki::crl::REVOKED_FILE).display()
    )?;
    writeln!(
        out,
        "Next: publish it with `pki crl`, then give servers the new {}.",
        dir.join(pki::crl::CRL_PEM_FILE).display()
    )?;
    Ok(())
}

/// `pki crl`
pub fn crl(ctx: &Context, args: &CrlArgs, out: &mut String) -> Result<()> {
    let ca = ctx.load_ca()?;
    let dir = ctx.ca_dir()?;
    let valid_for = Duration::from_secs(u64::from(args.days) * 86_400);
    let (crl, pem_path) = ca.write_crl(&dir, valid_for)?;
    let revoked = crl.revoked_serials();
    writeln!(
        out,
        "Wrote the CRL of {} to {} and {}.",
        ca.certificate().subject(),
        pem_path.display(),
        dir.join(pki::crl::CRL_DER_FILE).display()
    )?;
    writeln!(out, "  revoked serials: {}", revoked.len())?;
    for serial in &revoked {
        writeln!(out, "    {serial}")?;
    }
    if let Some(next) = crl.next_update() {
        writeln!(
            out,
            "  next update:     {} (publish a new one before then)",
            pki::time::format_time(next)
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Check a certificate against it: pki verify CERT --crl {}",
        quote(&pem_path)
    )?;
    Ok(())
}

fn looks_like_path(input: &str) -> bool {
    input.contains(['/', '.']) || input.ends_with(".pem") || input.ends_with(".crt")
}
