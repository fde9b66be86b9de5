//! The openssl recipe, one step at a time, for people who follow it:
//! `pki key new` (genrsa/genpkey), `pki csr new` (req -new), `pki sign`
//! (x509 -req -CA). Each step writes what the next one reads.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use pki::{CertParams, Csr, CsrParams, PrivateKey, Profile};

use crate::cli::{CsrNewArgs, KeyNewArgs, SignArgs};
use crate::issue::{default_stem, report_issued, with_validity};
use crate::outputs::{self, Output};
use crate::{Context, quote, secret};

/// `pki key new FILE`
pub fn key_new(args: &KeyNewArgs, out: &mut String) -> Result<()> {
    outputs::check_free(&[&args.out], args.force.force)?;
    let passphrase = secret::for_new_key(
        &args.protection,
        &format!("the new key {}", args.out.display()),
    )?;
    let key = PrivateKey::generate(args.key_type.key_type)?;
    let pem = match &passphrase {
        Some(p) => key.to_pem_encrypted(p)?,
        None => key.to_pem()?,
    };
    outputs::write_all(&[Output::private("key", &args.out, pem)], args.force.force)?;
    let encrypted = if passphrase.is_some() {
        ", encrypted with AES-256"
    } else {
        ""
    };
    writeln!(
        out,
        "Wrote an {} key to {} (mode 0600{encrypted}).",
        key.algorithm(),
        args.out.display()
    )?;
    let pass_hint = match (&passphrase, &args.protection.passphrase_file) {
        (Some(_), Some(file)) => format!(" --passphrase-file {}", quote(file)),
        (Some(_), None) => " --passphrase-file FILE".to_owned(),
        (None, _) => String::new(),
    };
    writeln!(
        out,
        "Next: pki csr new --key {}{pass_hint} localhost 127.0.0.1",
        quote(&args.out)
    )?;
    Ok(())
}

/// `pki csr new NAMES…`
pub fn csr_new(args: &CsrNewArgs, out: &mut String) -> Result<()> {
    let mut params = CsrParams::new(&args.names)?;
    for warning in CertParams::new(&args.names)?.warnings() {
        crate::warn(&warning.to_string());
    }
    let shown: Vec<String> = csr_names(&args.names);
    let stem = default_stem(&shown, args.client);
    let csr_path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{stem}.csr")));
    if args.client {
        params = params.profile(Profile::Client);
    }
    if let Some(cn) = &args.cn {
        params = params.common_name(cn.clone());
    }
    let mut files = Vec::new();
    let key = match &args.key {
        Some(key_path) => {
            outputs::check_free(&[&csr_path], args.force.force)?;
            secret::with_passphrase(
                args.passphrase_file.as_deref(),
                &format!("the key {}", key_path.display()),
                "--passphrase-file",
                |p| PrivateKey::read(key_path, p),
            )?
        }
        None => {
            let key_path = args
                .key_out
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("{stem}-key.pem")));
            outputs::check_free(&[&csr_path, &key_path], args.force.force)?;
            let protection = crate::cli::KeyProtection {
                encrypt_key: args.encrypt_key,
                passphrase_file: args.passphrase_file.clone(),
            };
            let passphrase =
                secret::for_new_key(&protection, &format!("the new key {}", key_path.display()))?;
            let key = PrivateKey::generate(args.key_type)?;
            let pem = match &passphrase {
                Some(p) => key.to_pem_encrypted(p)?,
                None => key.to_pem()?,
            };
            files.push(Output::private("key", &key_path, pem));
            key
        }
    };
    let csr = Csr::new(&params, &key)?;
    files.insert(0, Output::public("request", &csr_path, csr.to_pem()?));
    outputs::write_all(&files, args.force.force)?;
    writeln!(out, "Created a certificate signing request for:")?;
    for name in csr.names()? {
        writeln!(out, "  - {name}")?;
    }
    writeln!(out)?;
    for file in &files {
        writeln!(
            out,
            "  {:<9} {}",
            format!("{}:", file.what),
            file.path.display()
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Next: sign it with the local CA: pki sign {}",
        quote(&csr_path)
    )?;
    Ok(())
}

/// `pki sign CSR`
pub fn sign(ctx: &Context, args: &SignArgs, out: &mut String) -> Result<()> {
    let csr = Csr::read(&args.csr)?;
    // Everything about the request is checked before a CA may be created.
    csr.verify_signature()?;
    csr.check_key()?;
    if csr.requested_extensions()?.ca == Some(true) {
        return Err(pki::Error::CsrRequestsCa {
            origin: csr.origin().clone(),
        }
        .into());
    }
    crate::issue::check_validity(ctx, &args.validity)?;
    let mut params = CertParams::from_csr(&csr)
        .with_context(|| format!("cannot sign {}", args.csr.display()))?;
    if let Some(profile) = args.profile {
        params = params.profile(profile);
    } else if args.client {
        params = params.profile(Profile::Client);
    }
    let params = with_validity(params, &args.validity);
    for warning in params.warnings() {
        crate::warn(&warning.to_string());
    }
    let cert_path = match &args.out {
        Some(p) => p.clone(),
        None => {
            let pem = args.csr.with_extension("pem");
            if pem == args.csr {
                args.csr.with_extension("crt")
            } else {
                pem
            }
        }
    };
    let mut planned = vec![cert_path.as_path()];
    planned.extend(args.fullchain_file.as_deref());
    outputs::check_free(&planned, args.force.force)?;
    let ca = ctx.load_or_create_ca(out)?;
    for warning in ca.warnings() {
        crate::warn(&warning);
    }
    let cert = ca.sign_csr(&csr, &params)?;
    let issuer_chain = ca.issuer_chain();
    let mut pem = cert.to_pem()?;
    let mut full = pem.clone();
    for c in &issuer_chain {
        if !c.is_self_issued() {
            pem.extend(c.to_pem()?);
        }
        full.extend(c.to_pem()?);
    }
    let mut files = vec![Output::public("certificate", &cert_path, pem)];
    if let Some(path) = &args.fullchain_file {
        files.push(Output::public("full chain", path, full));
    }
    outputs::write_all(&files, args.force.force)?;
    report_issued(&cert, &files, out)?;
    writeln!(out)?;
    writeln!(
        out,
        "Clients trust it through the CA: curl --cacert {} https://…",
        quote(&ctx.ca_cert_path()?)
    )?;
    Ok(())
}

/// The names as the CSR will hold them (IDNs in ASCII), for file names.
fn csr_names(names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|n| match pki::SubjectAltName::parse(n) {
            Ok(parsed) if !n.is_ascii() => parsed.to_string(),
            _ => crate::issue::file_name_form(n),
        })
        .collect()
}
