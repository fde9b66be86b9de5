//! `pki` with no arguments: what it is, where the CA is, what to type next.

use std::fmt::Write as _;

use anyhow::Result;

use crate::Context;

/// Writes the overview.
pub fn print(ctx: &Context, out: &mut String) -> Result<()> {
    writeln!(
        out,
        "pki {}: certificates for local HTTPS and mutual TLS, trusted by real clients.",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(out)?;
    match ctx.ca_dir() {
        Ok(dir) => {
            let cert = dir.join(pki::ca::CA_CERT_FILE);
            if cert.exists() {
                let ca = pki::Certificate::read(&cert);
                let state = match &ca {
                    Ok(c) => format!(
                        "'{}', expires {}",
                        c.subject(),
                        pki::time::format_time(c.not_after())
                    ),
                    Err(e) => format!("unreadable: {e}"),
                };
                writeln!(out, "Local CA: {} ({state})", dir.display())?;
                if let Ok(ca) = &ca {
                    let trusted = if pki::verify::system_trusts(ca) {
                        "yes"
                    } else {
                        "no (`pki trust install`)"
                    };
                    writeln!(
                        out,
                        "Trusted by this system: {trusted}; `pki trust status` checks browsers and Java too"
                    )?;
                }
            } else {
                writeln!(
                    out,
                    "Local CA: {} (none yet; `pki cert` or `pki ca create` makes it)",
                    dir.display()
                )?;
            }
        }
        Err(e) => writeln!(out, "Local CA: unknown ({e:#})")?,
    }
    writeln!(out)?;
    writeln!(out, "Most useful:")?;
    writeln!(
        out,
        "  pki cert localhost 127.0.0.1 ::1      a server certificate and key, like mkcert"
    )?;
    writeln!(
        out,
        "  pki cert --client alice@example.test  a client certificate for mutual TLS"
    )?;
    writeln!(
        out,
        "  pki trust install                     trust the CA in the system, browsers and Java"
    )?;
    writeln!(out)?;
    writeln!(out, "All commands: pki --help")?;
    Ok(())
}
