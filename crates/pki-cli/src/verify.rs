//! `pki verify CERT`: would a client (or, with --client, a server) accept
//! this certificate? The answer comes with the reason a person can act on;
//! the exit status (0 or 1) is for scripts.

use std::fmt::Write as _;

use anyhow::Result;
use pki::Certificate;
use pki::verify::{Purpose, VerifyParams};

use crate::cli::VerifyArgs;
use crate::{Context, Outcome};

/// `pki verify`
pub fn run(ctx: &Context, args: &VerifyArgs, out: &mut String) -> Result<Outcome> {
    let mut certs = Certificate::read_all(&args.cert)?;
    let leaf = certs.remove(0);
    let ca_path = match &args.ca {
        Some(path) => path.clone(),
        None => {
            let path = ctx.ca_cert_path()?;
            if !path.exists() {
                anyhow::bail!(
                    "there is no local CA at {} to verify against; pass --ca FILE",
                    path.display()
                );
            }
            path
        }
    };
    let trusted = Certificate::read_all(&ca_path)?;
    let purpose = if args.client {
        Purpose::Client
    } else {
        Purpose::Server
    };
    let mut params = VerifyParams::new().purpose(purpose);
    if let Some(host) = &args.host {
        params = params.peer(pki::verify::peer(host)?);
    }
    if let Some(path) = &args.crl {
        let crl = pki::crl::Crl::read(path)?;
        params = params.crl(crl.into_x509_crl());
    }
    let role = if args.client { "client" } else { "server" };
    match pki::verify::verify(&leaf, &certs, &trusted, &params) {
        Ok(verified) => {
            let for_host = args
                .host
                .as_ref()
                .map(|h| format!(" for {h}"))
                .unwrap_or_default();
            writeln!(
                out,
                "OK: {} is a valid {role} certificate{for_host}, trusted through {}.",
                args.cert.display(),
                ca_path.display()
            )?;
            writeln!(out, "  chain:   {}", verified.describe())?;
            writeln!(
                out,
                "  expires: {}",
                pki::time::format_time(leaf.not_after())
            )?;
            if args.crl.is_some() {
                writeln!(out, "  not revoked by the CRL given")?;
            }
            Ok(Outcome::Done)
        }
        Err(rejected) => {
            writeln!(
                out,
                "REFUSED: {} would be rejected as a {role} certificate: {rejected}",
                args.cert.display()
            )?;
            Ok(Outcome::Refused)
        }
    }
}
