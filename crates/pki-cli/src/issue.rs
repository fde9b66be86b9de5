//! `pki cert` (mkcert style, from the local CA) and `pki self-signed`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Result;
use pki::{CertParams, Certificate, Pkcs12Encryption, Pkcs12Params, Profile, SubjectAltName};

use crate::cli::{CertArgs, LeafArgs, SelfSignedArgs, Validity};
use crate::outputs::{self, Output};
use crate::{Context, quote, secret};

/// `pki cert NAMES…`
pub fn cert(ctx: &Context, args: &CertArgs, out: &mut String) -> Result<()> {
    let params = leaf_params(&args.leaf)?;
    for warning in params.warnings() {
        crate::warn(&warning.to_string());
    }
    let stem = default_stem(&display_names(&args.leaf.names, &params), args.leaf.client);
    check_validity(ctx, &args.leaf.validity)?;
    let cert_path = args
        .cert_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{stem}.pem")));
    let key_path = args
        .key_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{stem}-key.pem")));
    let extras = [
        &args.chain_file,
        &args.fullchain_file,
        &args.bundle_file,
        &args.p12_file,
    ];
    let mut planned: Vec<&Path> = vec![&cert_path, &key_path];
    planned.extend(extras.iter().filter_map(|p| p.as_deref()));
    outputs::check_free(&planned, args.force.force)?;

    // Ask for every secret before the (possibly slow) key generation.
    let key_secret = secret::for_new_key(
        &args.protection,
        &format!("the new key {}", key_path.display()),
    )?;
    let p12_secret = match &args.p12_file {
        Some(p12) => Some(secret::obtain(
            args.p12_password_file.as_deref(),
            &format!("the PKCS#12 file {}", p12.display()),
            "--p12-password-file",
            secret::Purpose::New,
        )?),
        None => None,
    };

    let ca = ctx.load_or_create_ca(out)?;
    for warning in ca.warnings() {
        crate::warn(&warning);
    }
    let issued = ca.issue(&params)?;

    let key_pem = match &key_secret {
        Some(p) => issued.key().to_pem_encrypted(p)?,
        None => issued.key().to_pem()?,
    };
    let mut files = vec![
        Output::public("certificate", &cert_path, issued.chain_pem()?),
        Output::private("key", &key_path, key_pem.clone()),
    ];
    if let Some(path) = &args.chain_file {
        let mut pem = Vec::new();
        for c in issued.issuers() {
            pem.extend(c.to_pem()?);
        }
        files.push(Output::public("issuer chain", path, pem));
    }
    if let Some(path) = &args.fullchain_file {
        let mut pem = issued.chain_pem()?;
        if let Some(root) = issued.root() {
            pem.extend(root.to_pem()?);
        }
        files.push(Output::public("full chain", path, pem));
    }
    if let Some(path) = &args.bundle_file {
        // The same key PEM as the key file: encrypted there, encrypted here.
        let mut bundle = issued.chain_pem()?;
        bundle.extend_from_slice(&key_pem);
        files.push(Output::private("certificate + key", path, bundle));
    }
    if let (Some(path), Some(password)) = (&args.p12_file, &p12_secret) {
        let encryption = if args.p12_legacy {
            Pkcs12Encryption::Legacy
        } else {
            Pkcs12Encryption::Modern
        };
        let params = Pkcs12Params::new()
            .encryption(encryption)
            .friendly_name(stem.clone());
        files.push(Output::private(
            "PKCS#12",
            path,
            issued.to_pkcs12(password, &params)?,
        ));
    }
    outputs::write_all(&files, args.force.force)?;

    report_issued(issued.certificate(), &files, out)?;
    let ca_path = ctx.ca_cert_path()?;
    let url = example_url(&params);
    writeln!(out)?;
    if args.leaf.client {
        writeln!(
            out,
            "Next: present it to a server that trusts this CA, e.g.\n  curl --cacert {} --cert {} --key {} {url}",
            quote(&ca_path),
            quote(&cert_path),
            quote(&key_path)
        )?;
        if key_secret.is_some() {
            writeln!(
                out,
                "  (the key is encrypted: curl asks for its pass phrase, or add --pass)"
            )?;
        }
    } else {
        writeln!(
            out,
            "Next: serve it (e.g. `cargo run -p actix-https -- --cert {} --key {}`), then\n  curl --cacert {} {url}",
            quote(&cert_path),
            quote(&key_path),
            quote(&ca_path)
        )?;
    }
    Ok(())
}

/// `pki self-signed NAMES…`
pub fn self_signed(args: &SelfSignedArgs, out: &mut String) -> Result<()> {
    let params = leaf_params(&args.leaf)?;
    for warning in params.warnings() {
        crate::warn(&warning.to_string());
    }
    let stem = format!(
        "{}-self-signed",
        default_stem(&display_names(&args.leaf.names, &params)[..1], false)
    );
    let cert_path = args
        .cert_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{stem}.pem")));
    let key_path = args
        .key_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{stem}-key.pem")));
    outputs::check_free(&[&cert_path, &key_path], args.force.force)?;
    let key_secret = secret::for_new_key(
        &args.protection,
        &format!("the new key {}", key_path.display()),
    )?;
    let issued = pki::self_signed(&params)?;
    let key_pem = match &key_secret {
        Some(p) => issued.key().to_pem_encrypted(p)?,
        None => issued.key().to_pem()?,
    };
    let files = [
        Output::public("certificate", &cert_path, issued.certificate().to_pem()?),
        Output::private("key", &key_path, key_pem),
    ];
    outputs::write_all(&files, args.force.force)?;
    crate::warn(
        "a self-signed certificate is trusted by no browser or client; each client must be told \
         to trust this very file (and again whenever it changes). `pki cert` issues from a local \
         CA that is trusted once.",
    );
    report_issued(issued.certificate(), &files, out)?;
    writeln!(out)?;
    writeln!(
        out,
        "Only clients told to trust this file accept it, e.g.\n  curl --cacert {} {}",
        quote(&cert_path),
        example_url(&params)
    )?;
    Ok(())
}

/// The names as the certificate will hold them (IDNs in their ASCII form),
/// which is what mkcert names files after.
pub fn display_names(typed: &[String], params: &CertParams) -> Vec<String> {
    typed
        .iter()
        .zip(params.names())
        .map(|(typed, parsed)| {
            // mkcert keeps ASCII input as typed (case included) and converts
            // only internationalised names.
            if typed.is_ascii() {
                file_name_form(typed)
            } else {
                parsed.to_string()
            }
        })
        .collect()
}

/// A typed ASCII name as file names use it: without the root's trailing dot
/// (`example.test.` names `example.test.pem`, as the certificate holds
/// `example.test`).
pub fn file_name_form(typed: &str) -> String {
    let typed = typed.trim();
    typed.strip_suffix('.').unwrap_or(typed).to_owned()
}

/// Refuses a lifetime that cannot work before anything (a CA included) is
/// created: zero days, an end in the past, or one past a new CA's end.
pub fn check_validity(ctx: &Context, validity: &Validity) -> Result<()> {
    let now = SystemTime::now();
    if validity.days == Some(0) {
        anyhow::bail!("--days 0 would end the certificate before it starts; give at least 1");
    }
    if let Some(end) = validity.not_after
        && end <= now
    {
        anyhow::bail!(
            "--not-after {} is in the past; give a later date",
            pki::time::format_time(end)
        );
    }
    let ca_exists = ctx.ca_cert_path()?.exists();
    if !ca_exists {
        let ca_end =
            now + std::time::Duration::from_secs(u64::from(pki::ca::DEFAULT_ROOT_DAYS) * 86_400);
        let end = match (validity.days, validity.not_after) {
            (Some(days), _) => Some(now + std::time::Duration::from_secs(u64::from(days) * 86_400)),
            (None, end) => end,
        };
        if let Some(end) = end
            && end > ca_end
        {
            anyhow::bail!(
                "the certificate would end on {}, after the new CA would ({} days from now); \
                 choose an earlier end, or create a longer-lived CA first with `pki ca create --days N`",
                pki::time::format_time(end),
                pki::ca::DEFAULT_ROOT_DAYS
            );
        }
    }
    Ok(())
}

/// mkcert's file naming: the first name (`*` as `_wildcard`, `:` as `_`),
/// `+N` for N more names, `-client` for client certificates.
pub fn default_stem(names: &[String], client: bool) -> String {
    let first = names.first().map(String::as_str).unwrap_or("cert");
    let mut stem = first
        .replace('*', "_wildcard")
        .replace([':', '/', '\\'], "_");
    if names.len() > 1 {
        stem.push_str(&format!("+{}", names.len() - 1));
    }
    if client {
        stem.push_str("-client");
    }
    stem
}

/// The certificate `LeafArgs` describe: names, profile, key type, lifetime.
fn leaf_params(leaf: &LeafArgs) -> Result<CertParams> {
    let profile = if leaf.client {
        Profile::Client
    } else {
        Profile::Server
    };
    let params = CertParams::new(&leaf.names)?
        .profile(profile)
        .key_type(leaf.key_type.key_type);
    Ok(with_validity(params, &leaf.validity))
}

pub fn with_validity(params: CertParams, validity: &Validity) -> CertParams {
    match (validity.days, validity.not_after) {
        (Some(days), _) => params.valid_for_days(days),
        (None, Some(end)) => params.not_after(end),
        (None, None) => params,
    }
}

/// The names, the files and the expiry of what was just written.
pub fn report_issued(cert: &Certificate, files: &[Output], out: &mut String) -> Result<()> {
    writeln!(out, "Created a certificate valid for:")?;
    for name in cert.subject_alt_names() {
        writeln!(out, "  - {name}")?;
    }
    writeln!(out)?;
    for file in files {
        let note = match file.secrecy {
            pki::fs::Secrecy::Private => " (private, mode 0600)",
            pki::fs::Secrecy::Public => "",
        };
        writeln!(
            out,
            "  {:<18} {}{note}",
            format!("{}:", file.what),
            file.path.display()
        )?;
    }
    writeln!(out)?;
    let days = cert
        .not_after()
        .duration_since(SystemTime::now())
        .map_or(0, |d| d.as_secs() / 86_400);
    writeln!(
        out,
        "It expires on {} (in {days} days). Key: {}; serial {}.",
        pki::time::format_time(cert.not_after()),
        cert.key_algorithm(),
        cert.serial_hex()
    )?;
    Ok(())
}

/// An https URL for the first name a client could connect to.
fn example_url(params: &CertParams) -> String {
    let host = params.names().iter().find_map(|n| match n {
        SubjectAltName::Dns(d) if !d.as_str().starts_with("*.") => Some(d.to_string()),
        SubjectAltName::Ip(std::net::IpAddr::V4(ip)) => Some(ip.to_string()),
        SubjectAltName::Ip(std::net::IpAddr::V6(ip)) => Some(format!("[{ip}]")),
        _ => None,
    });
    format!("https://{}:8443/", host.as_deref().unwrap_or("localhost"))
}
