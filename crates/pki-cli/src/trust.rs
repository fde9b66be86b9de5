//! `pki trust install|uninstall|status`: the local CA in the system, NSS and
//! Java stores, through `pki_trust`, which does the work; this module only
//! picks the CA and the stores and words the outcome.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use pki_trust::{Anchor, Environment, Store, StoreReport, StoreState, TrustStores};

use crate::cli::TrustArgs;
use crate::{Context, Outcome, quote};

/// `pki trust install`
pub fn install(ctx: &Context, args: &TrustArgs, out: &mut String) -> Result<Outcome> {
    let mut stores = stores(args)?;
    let cert = ctx.ca_cert_path()?;
    if !cert.exists() {
        // As `mkcert -install`: the first command may be this one.
        ctx.load_or_create_ca(out)?;
    }
    let anchor = anchor(&cert)?;
    let reports = stores.install(&anchor);
    print(&anchor, &cert, &reports, out)?;
    let failed = failures(args, &reports);
    let changed = |store| {
        reports
            .iter()
            .any(|r| r.store == store && r.trusted() && modified(r))
    };
    if changed(Store::System) {
        writeln!(
            out,
            "\ncurl, Python and OpenSSL now trust certificates from `pki cert` without --cacert."
        )?;
    }
    if changed(Store::Nss) {
        writeln!(
            out,
            "Restart Chromium, Chrome or Firefox so that they read the new trust."
        )?;
    }
    finish(failed, "installed", out)
}

/// `pki trust uninstall`
pub fn uninstall(ctx: &Context, args: &TrustArgs, out: &mut String) -> Result<Outcome> {
    let cert = existing_ca(ctx, "uninstall")?;
    let anchor = anchor(&cert)?;
    let reports = stores(args)?.uninstall(&anchor);
    print(&anchor, &cert, &reports, out)?;
    writeln!(
        out,
        "\nThe CA itself stays in {}.",
        quote(cert.parent().unwrap_or(Path::new(".")))
    )?;
    finish(failures(args, &reports), "removed", out)
}

/// `pki trust status`
pub fn status(ctx: &Context, args: &TrustArgs, out: &mut String) -> Result<Outcome> {
    let cert = existing_ca(ctx, "check")?;
    let anchor = anchor(&cert)?;
    let reports = stores(args)?.status(&anchor);
    print(&anchor, &cert, &reports, out)?;
    let failed = failures(args, &reports);
    let untrusted: Vec<&str> = reports
        .iter()
        // A store only the user can check (macOS, Windows) is neither.
        .filter(|r| r.present() && !r.trusted() && !matches!(r.state, StoreState::Manual(_)))
        .map(|r| r.store.as_str())
        .collect();
    if untrusted.is_empty() && failed == 0 {
        writeln!(out, "\nTrusted by every store present.")?;
        Ok(Outcome::Done)
    } else {
        if !untrusted.is_empty() {
            writeln!(
                out,
                "\nNot trusted by: {}. To trust it: pki trust install",
                untrusted.join(", ")
            )?;
        }
        Ok(Outcome::Refused)
    }
}

fn existing_ca(ctx: &Context, verb: &str) -> Result<std::path::PathBuf> {
    let cert = ctx.ca_cert_path()?;
    if !cert.exists() {
        bail!(
            "there is no CA in {} to {verb}: {} does not exist; point --ca-dir or CAROOT at the CA directory",
            ctx.ca_dir()?.display(),
            cert.display()
        );
    }
    Ok(cert)
}

fn anchor(cert: &Path) -> Result<Anchor> {
    Anchor::from_file(cert)
        .with_context(|| format!("cannot use {} as the CA to trust", cert.display()))
}

/// The stores: `--store`, else `$TRUST_STORES` (empty means all, as for
/// mkcert), else all.
fn stores(args: &TrustArgs) -> Result<TrustStores> {
    let stores = TrustStores::new(Environment::current()).on_privileged(|command| {
        eprintln!("pki is not root; running: {command}");
    });
    if !args.stores.is_empty() {
        return Ok(stores.select(&args.stores));
    }
    let from_env = std::env::var("TRUST_STORES").unwrap_or_default();
    let named =
        Store::parse_list(&from_env).with_context(|| format!("TRUST_STORES is {from_env:?}"))?;
    Ok(if named.is_empty() {
        stores
    } else {
        stores.select(&named)
    })
}

fn print(anchor: &Anchor, cert: &Path, reports: &[StoreReport], out: &mut String) -> Result<()> {
    writeln!(out, "Local CA: '{}' ({})", anchor.subject(), quote(cert))?;
    for report in reports {
        for line in report.to_string().lines() {
            writeln!(out, "  {line}")?;
        }
    }
    Ok(())
}

/// Stores that failed, counting a store named with `--store` that is not here.
fn failures(args: &TrustArgs, reports: &[StoreReport]) -> usize {
    reports
        .iter()
        .filter(|r| r.failed() || (args.stores.contains(&r.store) && !r.present()))
        .count()
}

fn modified(report: &StoreReport) -> bool {
    matches!(&report.state, pki_trust::StoreState::Places(places)
        if places.iter().any(|p| p.result.as_ref().is_ok_and(|c| c.modified())))
}

fn finish(failed: usize, done: &str, out: &mut String) -> Result<Outcome> {
    if failed == 0 {
        return Ok(Outcome::Done);
    }
    writeln!(
        out,
        "\n{failed} store{} could not be {done} (see above); the others were handled.",
        if failed == 1 { "" } else { "s" }
    )?;
    Ok(Outcome::Incomplete)
}
