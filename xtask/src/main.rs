//! Project automation, run as `cargo xtask <task>`: creating the local
//! development CA and writing the certificate fixtures the tests use.
#![allow(clippy::print_stderr)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use pki::{Ca, CaParams};

mod bench;
mod bench_acme;
mod bench_front;
mod bench_idle;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  gen-ca [--dir DIR]      create the local development CA (or report the one there)
                          in DIR, else $CAROOT, else $XDG_DATA_HOME/pki or ~/.local/share/pki
  fixtures [--out DIR]    write the test certificate fixtures (default: target/fixtures)
  bench [issue]           time issuance: pki vs mkcert vs the openssl CLI (needs hyperfine, mkcert)
  bench server            actix-https vs nginx: wrk and h2load (needs nginx-light, wrk, nghttp2-client)
  bench idle              actix-https vs nginx: new clients while 600-5,000 idle connections are held
  bench proxy             actix-https --proxy vs Caddy, nginx, local-ssl-proxy, per server-CPU-second (needs caddy, wrk)
  bench static            actix-https --static vs Caddy file_server and nginx, per server-CPU-second
  bench acme              actix-https --acme vs Pebble and Caddy's acme_server, lego over http-01";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(report) => {
            // A closed pipe (`cargo xtask gen-ca | head -1`) is not an error.
            let _ = std::io::stdout().write_all(report.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs a task and returns what it has to say.
fn run(args: Vec<String>) -> Result<String> {
    let Some((task, rest)) = args.split_first() else {
        return Ok(format!("{USAGE}\n"));
    };
    match task.as_str() {
        "gen-ca" => gen_ca(flag_value(rest, "--dir")?),
        "fixtures" => fixtures(flag_value(rest, "--out")?),
        "bench" => match rest {
            [] => bench::issue(&project_root()),
            [what] if what == "issue" => bench::issue(&project_root()),
            [what] if what == "server" => bench::server(&project_root()),
            [what] if what == "idle" => bench_idle::idle(&project_root()),
            [what] if what == "proxy" => bench_front::proxy(&project_root()),
            [what] if what == "static" => bench_front::static_files(&project_root()),
            [what] if what == "acme" => bench_acme::acme(&project_root()),
            _ => bail!(
                "unknown benchmark {rest:?}; choose issue, server, idle, proxy, static or acme\n\n{USAGE}"
            ),
        },
        "-h" | "--help" | "help" => Ok(format!("{USAGE}\n")),
        other => bail!("unknown task {other:?}\n\n{USAGE}"),
    }
}

/// The value of `--flag VALUE` or `--flag=VALUE`; nothing else is accepted.
fn flag_value(args: &[String], flag: &str) -> Result<Option<PathBuf>> {
    match args {
        [] => Ok(None),
        [f, value] if f == flag => Ok(Some(PathBuf::from(value))),
        [one] if one.starts_with(&format!("{flag}=")) => {
            Ok(Some(PathBuf::from(&one[flag.len() + 1..])))
        }
        _ => bail!("unexpected arguments {args:?}; this task takes only {flag} DIR\n\n{USAGE}"),
    }
}

fn gen_ca(dir: Option<PathBuf>) -> Result<String> {
    let mut out = String::new();
    let dir = match dir {
        Some(d) => d,
        None => pki::ca::default_dir(|k| std::env::var_os(k))
            .context("no CA directory: set CAROOT or HOME, or pass --dir DIR")?,
    };
    let cert_path = dir.join(pki::ca::CA_CERT_FILE);
    let found = Ca::load_or_create(&dir, &CaParams::new(), None)
        .with_context(|| format!("failed to load or create the CA in {}", dir.display()))?;
    let created = found.was_created();
    let ca = found.into_ca();
    if created {
        writeln!(out, "Created a new local CA in {}.", dir.display())?;
    } else {
        writeln!(
            out,
            "A CA already exists in {}; left as it is.",
            dir.display()
        )?;
    }
    let c = cert_path.display();
    writeln!(out, "  subject:  {}", ca.certificate().subject())?;
    writeln!(
        out,
        "  expires:  {}",
        pki::time::format_time(ca.certificate().not_after())
    )?;
    writeln!(out, "  cert:     {c}")?;
    writeln!(
        out,
        "  key:      {} (keep it private)",
        dir.join(pki::ca::CA_KEY_FILE).display()
    )?;
    writeln!(out)?;
    writeln!(out, "To trust it:")?;
    writeln!(
        out,
        "  curl:    curl --cacert \"{c}\" https://localhost:8443/"
    )?;
    writeln!(out, "  Python:  ssl.create_default_context(cafile=\"{c}\")")?;
    writeln!(out, "  Debian/Ubuntu system store:")?;
    writeln!(
        out,
        "           sudo cp \"{c}\" /usr/local/share/ca-certificates/pki-development-ca.crt"
    )?;
    writeln!(out, "           sudo update-ca-certificates")?;
    Ok(out)
}

fn fixtures(out_dir: Option<PathBuf>) -> Result<String> {
    let mut report = String::new();
    let out = match out_dir {
        Some(o) => o,
        None => project_root().join("target").join("fixtures"),
    };
    let dirs = pki_fixtures::write_all(&out)
        .with_context(|| format!("failed to write fixtures to {}", out.display()))?;
    for dir in dirs {
        writeln!(report, "wrote {}", dir.display())?;
    }
    writeln!(
        report,
        "see {} for what each file is for",
        out.join("README.md").display()
    )?;
    Ok(report)
}

fn project_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}
