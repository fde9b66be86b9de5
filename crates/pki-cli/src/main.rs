//! `pki`: the certificates local HTTPS and mutual TLS need, from one command.
//! `pki cert localhost` does what mkcert does; `pki key new`, `pki csr new`
//! and `pki sign` redo the openssl recipes step by step, correctly.
//!
//! Exit status: 0 on success; 1 when `pki verify` refuses a certificate, a
//! trust store could not be changed, or `pki trust status` finds one without
//! the CA; 2 for bad usage or input (clap's own errors included).
#![allow(clippy::print_stderr)]

mod ca;
mod cli;
mod dates;
mod inspect;
mod issue;
mod outputs;
mod overview;
mod pause;
mod revocation;
mod secret;
mod steps;
mod trust;
mod verify;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{CommandFactory, Parser};

use cli::{CaCommand, Cli, Command, CsrCommand, KeyCommand, TrustCommand};

/// What a command concluded, beyond success.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It did what was asked.
    Done,
    /// It ran, and the answer is no (`pki verify` refused the certificate,
    /// `pki trust status` found a store without the CA).
    Refused,
    /// Part of it could not be done (a trust store that could not be changed).
    Incomplete,
}

fn main() -> ExitCode {
    pause::install_from_env();
    let cli = Cli::parse();
    let mut out = String::new();
    let result = run(cli, &mut out);
    // A closed pipe (`pki inspect x.pem | head -3`) is not an error.
    let _ = std::io::stdout().write_all(out.as_bytes());
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Refused | Outcome::Incomplete) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli, out: &mut String) -> Result<Outcome> {
    let ctx = Context {
        ca_dir: cli.ca_dir,
        ca_passphrase_file: cli.ca_passphrase_file,
    };
    let Some(command) = cli.command else {
        overview::print(&ctx, out)?;
        return Ok(Outcome::Done);
    };
    match command {
        Command::Ca(CaCommand::Create(args)) => ca::create(&ctx, &args, out)?,
        Command::Ca(CaCommand::Show(args)) => ca::show(&ctx, &args, out)?,
        Command::Ca(CaCommand::Path) => ca::path(&ctx, out)?,
        Command::Ca(CaCommand::Intermediate(args)) => ca::intermediate(&ctx, &args, out)?,
        Command::Cert(args) => issue::cert(&ctx, &args, out)?,
        Command::SelfSigned(args) => issue::self_signed(&args, out)?,
        Command::Key(KeyCommand::New(args)) => steps::key_new(&args, out)?,
        Command::Csr(CsrCommand::New(args)) => steps::csr_new(&args, out)?,
        Command::Sign(args) => steps::sign(&ctx, &args, out)?,
        Command::Revoke(args) => revocation::revoke(&ctx, &args, out)?,
        Command::Crl(args) => revocation::crl(&ctx, &args, out)?,
        Command::Inspect(args) => inspect::run(&args, out)?,
        Command::Verify(args) => return verify::run(&ctx, &args, out),
        Command::Trust(TrustCommand::Install(args)) => return trust::install(&ctx, &args, out),
        Command::Trust(TrustCommand::Uninstall(args)) => return trust::uninstall(&ctx, &args, out),
        Command::Trust(TrustCommand::Status(args)) => return trust::status(&ctx, &args, out),
        Command::Completions(args) => {
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "pki", &mut script);
            out.push_str(&String::from_utf8_lossy(&script));
        }
    }
    Ok(Outcome::Done)
}

/// What every command may need: where the CA is and how to open its key.
#[derive(Debug)]
pub struct Context {
    ca_dir: Option<PathBuf>,
    ca_passphrase_file: Option<PathBuf>,
}

impl Context {
    /// The CA directory: `--ca-dir`, else `$CAROOT`, else the XDG data dir.
    pub fn ca_dir(&self) -> Result<PathBuf> {
        match &self.ca_dir {
            Some(dir) => Ok(dir.clone()),
            None => pki::ca::default_dir(|k| std::env::var_os(k)).context(
                "cannot tell where the CA lives: set CAROOT or HOME, or pass --ca-dir DIR",
            ),
        }
    }

    /// The CA directory, refused if it is a file, a dangling link or shut
    /// to this user, which would otherwise read as "there is no CA" or
    /// "File exists".
    pub fn checked_ca_dir(&self) -> Result<PathBuf> {
        let dir = self.ca_dir()?;
        pki::fs::check_dir(&dir)?;
        Ok(dir)
    }

    /// The path of the CA certificate clients should trust.
    pub fn ca_cert_path(&self) -> Result<PathBuf> {
        Ok(self.ca_dir()?.join(pki::ca::CA_CERT_FILE))
    }

    /// Loads the existing CA, asking for its pass phrase if its key is encrypted.
    pub fn load_ca(&self) -> Result<pki::Ca> {
        let dir = self.checked_ca_dir()?;
        self.with_ca_passphrase(&dir, |p| pki::Ca::load(&dir, p))
            .map_err(|e| no_ca_hint(e, &dir))
    }

    /// Loads the CA, creating a default one first if there is none (as
    /// mkcert does on first use); says so in `out` when it does.
    pub fn load_or_create_ca(&self, out: &mut String) -> Result<pki::Ca> {
        let dir = self.checked_ca_dir()?;
        let found = self
            .with_ca_passphrase(&dir, |p| {
                pki::Ca::load_or_create(&dir, &pki::CaParams::new(), p)
            })
            .map_err(|e| no_ca_hint(e, &dir))?;
        if found.was_created() {
            out.push_str(&format!(
                "Created a new local CA in {} (it is not trusted by anything yet;\n  \
                 point clients at {}).\n\n",
                dir.display(),
                dir.join(pki::ca::CA_CERT_FILE).display()
            ));
        }
        Ok(found.into_ca())
    }

    fn with_ca_passphrase<T>(
        &self,
        dir: &Path,
        load: impl Fn(Option<&pki::Passphrase>) -> pki::Result<T>,
    ) -> Result<T> {
        let what = format!("the CA key {}", dir.join(pki::ca::CA_KEY_FILE).display());
        secret::with_passphrase(
            self.ca_passphrase_file.as_deref(),
            &what,
            "--ca-passphrase-file",
            load,
        )
    }
}

/// Adds the command that makes a CA to "there is no CA", and what to do to
/// a CA key without its certificate.
fn no_ca_hint(e: anyhow::Error, dir: &Path) -> anyhow::Error {
    match e.downcast_ref::<pki::Error>() {
        Some(pki::Error::NoCa { .. }) => anyhow::anyhow!(
            "there is no CA in {}; create one with `pki ca create` (or `pki cert NAMES`, which makes one on first use), or point --ca-dir at an existing one",
            dir.display()
        ),
        Some(pki::Error::CaIncomplete { missing, .. })
            if missing.file_name() == Some(std::ffi::OsStr::new(pki::ca::CA_CERT_FILE)) =>
        {
            key_only_error(dir)
        }
        _ => e,
    }
}

/// A CA key without its certificate that no interrupted `pki` run left
/// ([`pki::ca::DirState::KeyOnly`]): never deleted, so the user decides.
pub fn key_only_error(dir: &Path) -> anyhow::Error {
    let cert = dir.join(pki::ca::CA_CERT_FILE);
    anyhow::anyhow!(
        "{} is a CA key without its certificate: {} is missing, and no interrupted pki run left it so, so the key is kept; restore {} from a backup, or, if that CA is no longer needed, move it away and run `pki ca create` (or use another --ca-dir)",
        dir.join(pki::ca::CA_KEY_FILE).display(),
        cert.display(),
        cert.display()
    )
}

/// Writes a warning to stderr at once, so it shows even if a later step fails.
pub fn warn(message: &str) {
    eprintln!("warning: {message}");
}

/// Shell-quotes a path for a command the user may paste.
pub fn quote(path: &Path) -> String {
    let s = path.display().to_string();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@=,".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
