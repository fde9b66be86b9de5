//! `cargo xtask bench`: issuance speed against the peers users would
//! otherwise reach for, side by side in one `hyperfine` run, reported as
//! ratios (absolute times differ from machine to machine; ratios travel).
//!
//! - one leaf for `localhost` from an existing CA: `pki cert`, `mkcert`, and
//!   the seed recipe's `openssl genpkey` + `req -new` + `x509 -req`, for
//!   P-256 and RSA-2048 keys, all from the same mkcert-made CA;
//! - the whole fixture set: `cargo xtask fixtures` against the same set made
//!   with the openssl CLI (`xtask/bench/fixtures-openssl.sh`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// One hyperfine comparison: named commands, the first is ours.
struct Group {
    title: &'static str,
    runs: u32,
    commands: Vec<(&'static str, String)>,
}

/// Runs the issuance benchmark and returns the report (also written to
/// `target/bench/issue.md`).
pub fn issue(root: &Path) -> Result<String> {
    for tool in ["hyperfine", "mkcert", "openssl"] {
        if !on_path(tool) {
            bail!(
                "{tool} is not installed; on Debian: sudo apt-get install hyperfine mkcert openssl"
            );
        }
    }
    build_release(root, &["pki-cli", "xtask"])?;
    let release = root.join("target").join("release");
    let pki = release.join("pki");
    let xtask = release.join("xtask");
    let work = tempfile::Builder::new().prefix("pki-bench-").tempdir()?;
    let dir = work.path();
    let ca = dir.join("ca");

    // One CA for everyone, made by mkcert (RSA-3072, its default).
    let status = Command::new("mkcert")
        .args([
            "-cert-file",
            "warmup.pem",
            "-key-file",
            "warmup-key.pem",
            "localhost",
        ])
        .current_dir(dir)
        .env("CAROOT", &ca)
        .env("HOME", dir)
        .env("TRUST_STORES", "none")
        .output()
        .context("failed to run mkcert")?;
    if !status.status.success() {
        bail!(
            "mkcert failed to create the CA: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    }
    let san = dir.join("san.cnf");
    pki::fs::write_atomic(
        &san,
        b"subjectAltName = DNS:localhost\nbasicConstraints = critical, CA:FALSE\n\
          keyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n\
          subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
        pki::fs::Secrecy::Public,
        pki::fs::Overwrite::Replace,
    )?;
    let q = |p: &Path| format!("'{}'", p.display());
    let env = format!("CAROOT={} HOME={} TRUST_STORES=none", q(&ca), q(dir));
    let seed = |genkey: &str| {
        format!(
            "cd {d} && {genkey} && \
             openssl req -new -key s-key.pem -subj /CN=localhost -out s.csr && \
             openssl x509 -req -in s.csr -CA ca/rootCA.pem -CAkey ca/rootCA-key.pem \
             -CAcreateserial -days 825 -sha256 -extfile san.cnf -out s.pem",
            d = q(dir)
        )
    };
    let groups = [
        Group {
            title: "one P-256 leaf for localhost",
            runs: 30,
            commands: vec![
                (
                    "pki cert",
                    format!(
                        "cd {d} && {env} {pki} cert --force --key-type p256 --cert-file p.pem --key-file p-key.pem localhost",
                        d = q(dir),
                        pki = q(&pki)
                    ),
                ),
                (
                    "mkcert -ecdsa",
                    format!(
                        "cd {d} && {env} mkcert -ecdsa -cert-file m.pem -key-file m-key.pem localhost",
                        d = q(dir)
                    ),
                ),
                (
                    "openssl (seed recipe)",
                    seed(
                        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out s-key.pem",
                    ),
                ),
            ],
        },
        Group {
            title: "one RSA-2048 leaf for localhost",
            // RSA key generation time varies with the primes found: more runs.
            runs: 40,
            commands: vec![
                (
                    "pki cert",
                    format!(
                        "cd {d} && {env} {pki} cert --force --key-type rsa2048 --cert-file p.pem --key-file p-key.pem localhost",
                        d = q(dir),
                        pki = q(&pki)
                    ),
                ),
                (
                    "mkcert",
                    format!(
                        "cd {d} && {env} mkcert -cert-file m.pem -key-file m-key.pem localhost",
                        d = q(dir)
                    ),
                ),
                (
                    "openssl (seed recipe)",
                    seed("openssl genrsa -out s-key.pem 2048"),
                ),
            ],
        },
        Group {
            title: "the fixture set (2 families, 3 CAs and 9 leaves each)",
            runs: 5,
            commands: vec![
                (
                    "cargo xtask fixtures",
                    format!("{} fixtures --out {}", q(&xtask), q(&dir.join("fx-pki"))),
                ),
                (
                    "openssl CLI script",
                    format!(
                        "sh {} {}",
                        q(&root.join("xtask/bench/fixtures-openssl.sh")),
                        q(&dir.join("fx-openssl"))
                    ),
                ),
            ],
        },
    ];

    let mut report = String::new();
    writeln!(
        report,
        "# Issuance: pki vs mkcert vs openssl (hyperfine, one run, this machine)\n"
    )?;
    for (i, group) in groups.iter().enumerate() {
        let json = dir.join(format!("group-{i}.json"));
        let mut cmd = Command::new("hyperfine");
        cmd.args([
            "--warmup",
            "2",
            "--runs",
            &group.runs.to_string(),
            "--style",
            "basic",
        ])
        .arg("--export-json")
        .arg(&json);
        for (name, line) in &group.commands {
            cmd.args(["--command-name", name, line]);
        }
        let status = cmd.status().context("failed to run hyperfine")?;
        if !status.success() {
            bail!("hyperfine failed for {}", group.title);
        }
        let results: serde_json::Value = serde_json::from_slice(&pki::fs::read(&json)?)?;
        let rows = results["results"]
            .as_array()
            .context("hyperfine wrote no results")?;
        let mean = |row: &serde_json::Value| row["mean"].as_f64().unwrap_or(f64::NAN);
        let ours = rows.first().map(mean).unwrap_or(f64::NAN);
        writeln!(report, "## {}\n", group.title)?;
        writeln!(
            report,
            "| command | mean | ± | runs | time / {} |",
            group.commands[0].0
        )?;
        writeln!(report, "| --- | ---: | ---: | ---: | ---: |")?;
        for row in rows {
            writeln!(
                report,
                "| {} | {:.1} ms | {:.1} ms | {} | {:.2}× |",
                row["command"].as_str().unwrap_or("?"),
                mean(row) * 1e3,
                row["stddev"].as_f64().unwrap_or(f64::NAN) * 1e3,
                row["times"].as_array().map_or(0, Vec::len),
                mean(row) / ours
            )?;
        }
        writeln!(report)?;
    }
    let out = root.join("target").join("bench");
    pki::fs::create_private_dir(&out)?;
    let path = out.join("issue.md");
    pki::fs::write_atomic(
        &path,
        report.as_bytes(),
        pki::fs::Secrecy::Public,
        pki::fs::Overwrite::Replace,
    )?;
    writeln!(report, "(written to {})", path.display())?;
    Ok(report)
}

/// `cargo build --release` of the packages the benchmark runs.
pub fn build_release(root: &Path, packages: &[&str]) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--release", "--quiet"]);
    for p in packages {
        cmd.args(["--package", p]);
    }
    let status = cmd
        .status()
        .context("failed to run cargo build --release")?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    Ok(())
}

/// Whether `tool` is an executable on PATH.
pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir: PathBuf| dir.join(tool).is_file())
    })
}
