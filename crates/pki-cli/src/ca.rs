//! `pki ca create|show|path|intermediate`: the local CA itself.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use pki::ca::DirState;
use pki::{Ca, CaParams, NameConstraint};

use crate::cli::{CaCreateArgs, CaIntermediateArgs, CaShowArgs};
use crate::{Context, quote, secret};

/// `pki ca create`
pub fn create(ctx: &Context, args: &CaCreateArgs, out: &mut String) -> Result<()> {
    let dir = ctx.checked_ca_dir()?;
    let params = ca_params(
        CaParams::new()
            .key_type(args.key_type.key_type)
            .valid_for_days(args.days),
        &args.name_constraints,
    )?;
    let key_path = dir.join(pki::ca::CA_KEY_FILE);
    // Checked before a pass phrase is asked for; an interrupted creation is cleared here.
    match pki::ca::dir_state(&dir)? {
        DirState::Empty => {}
        DirState::KeyOnly => return Err(crate::key_only_error(&dir)),
        DirState::Complete | DirState::CertificateOnly => anyhow::bail!(
            "a CA already exists in {}; use it as it is, or pass --ca-dir DIR to create another",
            dir.display()
        ),
    }
    let what = format!("the new CA key {}", key_path.display());
    let passphrase = secret::for_new_key(&args.protection, &what)?;
    let ca = Ca::create_in(&dir, &params, passphrase.as_ref())?;
    writeln!(out, "Created a new local CA in {}.", dir.display())?;
    describe(&ca, &dir, out)?;
    writeln!(out)?;
    writeln!(
        out,
        "Next: issue a certificate with `pki cert localhost 127.0.0.1 ::1`."
    )?;
    Ok(())
}

/// `pki ca show`: needs only the certificate, so an encrypted key is not asked for.
pub fn show(ctx: &Context, args: &CaShowArgs, out: &mut String) -> Result<()> {
    let dir = ctx.checked_ca_dir()?;
    let cert_path = dir.join(pki::ca::CA_CERT_FILE);
    match pki::ca::dir_state(&dir)? {
        DirState::Empty => anyhow::bail!(
            "there is no CA in {}; create one with `pki ca create`",
            dir.display()
        ),
        DirState::KeyOnly => return Err(crate::key_only_error(&dir)),
        DirState::Complete | DirState::CertificateOnly => {}
    }
    let inspection = pki::inspect::inspect_file(&cert_path, None)?;
    if args.json {
        writeln!(out, "{}", inspection.to_json())?;
        return Ok(());
    }
    writeln!(out, "CA directory: {}", dir.display())?;
    writeln!(out, "certificate:  {}", cert_path.display())?;
    let key_path = dir.join(pki::ca::CA_KEY_FILE);
    let key_state = match pki::PrivateKey::read(&key_path, None) {
        Ok(_) => "present",
        Err(pki::Error::PassphraseRequired { .. }) => "present, encrypted",
        Err(_) if !key_path.exists() => "MISSING: this CA cannot issue",
        Err(_) => "unreadable",
    };
    writeln!(out, "key:          {} ({key_state})", key_path.display())?;
    writeln!(out)?;
    write!(out, "{inspection}")?;
    if let Ok(ca) = Ca::load(&dir, None) {
        for warning in ca.warnings() {
            crate::warn(&warning);
        }
    }
    Ok(())
}

/// `pki ca path`
pub fn path(ctx: &Context, out: &mut String) -> Result<()> {
    writeln!(out, "{}", ctx.ca_dir()?.display())?;
    Ok(())
}

/// `pki ca intermediate`
pub fn intermediate(ctx: &Context, args: &CaIntermediateArgs, out: &mut String) -> Result<()> {
    let mut params = CaParams::new()
        .key_type(args.key_type.key_type)
        .valid_for_days(args.days);
    if let Some(name) = &args.name {
        params = params.common_name(name.clone());
    }
    let params = ca_params(params, &args.name_constraints)?;
    let key_path = args.out.join(pki::ca::CA_KEY_FILE);
    let cert_path = args.out.join(pki::ca::CA_CERT_FILE);
    // Clears what an interrupted `pki ca intermediate --out` left there.
    pki::ca::dir_state(&args.out)?;
    for path in [&cert_path, &key_path] {
        if path.exists() {
            anyhow::bail!(
                "{} already exists; choose another --out directory for the intermediate",
                path.display()
            );
        }
    }
    let root = ctx.load_ca()?;
    let what = format!("the new intermediate key {}", key_path.display());
    let passphrase = secret::for_new_key(&args.protection, &what)?;
    let intermediate = root.issue_intermediate(&params)?;
    intermediate
        .write_to(&args.out, passphrase.as_ref())
        .map_err(crate::outputs::with_force_hint)?;
    writeln!(
        out,
        "Created an intermediate CA in {}, signed by {}.",
        args.out.display(),
        root.certificate().subject()
    )?;
    describe(&intermediate, &args.out, out)?;
    writeln!(out)?;
    writeln!(
        out,
        "Issue from it with `pki --ca-dir {} cert NAMES`; clients still trust the root, {}.",
        quote(&args.out),
        ctx.ca_cert_path()?.display()
    )?;
    Ok(())
}

fn ca_params(mut params: CaParams, constraints: &[String]) -> Result<CaParams> {
    for c in constraints {
        let parsed =
            NameConstraint::parse(c).with_context(|| format!("invalid --name-constraint {c:?}"))?;
        params = params.permit(parsed);
    }
    Ok(params)
}

fn describe(ca: &Ca, dir: &Path, out: &mut String) -> Result<()> {
    let cert = ca.certificate();
    writeln!(out, "  subject:  {}", cert.subject())?;
    writeln!(out, "  key:      {}", ca.key_algorithm())?;
    writeln!(
        out,
        "  expires:  {}",
        pki::time::format_time(cert.not_after())
    )?;
    writeln!(
        out,
        "  cert:     {}",
        dir.join(pki::ca::CA_CERT_FILE).display()
    )?;
    writeln!(
        out,
        "  key file: {} (keep it private)",
        dir.join(pki::ca::CA_KEY_FILE).display()
    )?;
    Ok(())
}
