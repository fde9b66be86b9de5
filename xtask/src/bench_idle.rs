//! `cargo xtask bench idle`: how new clients fare while a crowd of idle
//! connections (connected, never a byte sent) is held open, actix-https
//! beside nginx in one run.
//!
//! Each server runs one worker pinned to core 0; the crowd and the probing
//! client (`tests/scripts/idle_crowd.py`, the script the end-to-end test
//! uses) run on core 1, so the client's own cost does not eat the server's
//! core. Latency, not throughput, is the figure: the question is whether
//! idle connections make anyone else wait.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::bench::{
    Running, build_release, free_port, nginx_binary, peak_rss_kib, save_report, start_actix_https,
    start_nginx, wait_for_port,
};

/// Crowd sizes: the issue's 600 (which stalled every client for ~2 s) and
/// 1,500 (which timed most out), and the 5,000 a local server must shrug off.
const CROWDS: [u32; 3] = [600, 1500, 5000];

/// New clients timed per crowd.
const PROBES: u32 = 100;

/// Runs the benchmark and returns the report (also written to
/// `target/bench/idle.md`).
pub fn idle(root: &Path) -> Result<String> {
    for tool in ["nginx", "taskset", "python3"] {
        if !crate::bench::on_path(tool) && !Path::new("/usr/sbin").join(tool).is_file() {
            bail!(
                "{tool} is not installed; on Debian: sudo apt-get install nginx-light util-linux python3"
            );
        }
    }
    build_release(root, &["actix-https"])?;
    let ours_bin = root.join("target/release/actix-https");
    let script = root.join("tests/scripts/idle_crowd.py");
    let work = tempfile::Builder::new()
        .prefix("pki-bench-idle-")
        .tempdir()?;
    let dir = work.path();
    let ca = pki::Ca::generate(&pki::CaParams::new())?;
    let issued = ca.issue(&pki::CertParams::new(["localhost", "127.0.0.1"])?)?;
    let (ca_file, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    for (path, bytes, secrecy) in [
        (
            &ca_file,
            ca.certificate().to_pem()?,
            pki::fs::Secrecy::Public,
        ),
        (&cert, issued.chain_pem()?, pki::fs::Secrecy::Public),
        (&key, issued.key().to_pem()?, pki::fs::Secrecy::Private),
    ] {
        pki::fs::write_atomic(path, &bytes, secrecy, pki::fs::Overwrite::Replace)?;
    }

    let mut report = String::new();
    writeln!(
        report,
        "# New clients while idle connections are held (1 worker each, pinned to core 0; clients on core 1)\n"
    )?;
    writeln!(
        report,
        "Per crowd size, a fresh server; the crowd connects and stays silent, then {PROBES} new \
         clients each do a full TLS handshake and `GET /health` (Python `ssl`, verifying).\n"
    )?;
    writeln!(
        report,
        "| idle connections | server | p50 | p99 | max | failed | peak RSS |"
    )?;
    writeln!(report, "| ---: | --- | ---: | ---: | ---: | ---: | ---: |")?;
    for crowd in CROWDS {
        for name in ["nginx", "actix-https"] {
            let port = free_port()?;
            let mut on_core_0 = Command::new("taskset");
            on_core_0.args(["-c", "0"]);
            let server = Running(match name {
                "nginx" => start_nginx(&mut on_core_0, &nginx_binary(), dir, &cert, &key, port)?,
                _ => start_actix_https(&mut on_core_0, &ours_bin, dir, &cert, &key, port)?,
            });
            wait_for_port(port)?;
            let out = Command::new("taskset")
                .args(["-c", "1", "python3"])
                .arg(&script)
                .args([port.to_string(), crowd.to_string(), PROBES.to_string()])
                .arg(&ca_file)
                .output()
                .context("failed to run the idle-crowd client")?;
            let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !out.status.success() || !line.starts_with("idle=") {
                bail!(
                    "the idle-crowd client failed against {name}: {}{}",
                    line,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let field = |key: &str| -> String {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(key))
                    .unwrap_or("?")
                    .to_owned()
            };
            writeln!(
                report,
                "| {} | {name} | {} ms | {} ms | {} ms | {} | {:.1} MiB |",
                field("idle="),
                field("p50_ms="),
                field("p99_ms="),
                field("max_ms="),
                field("failed="),
                peak_rss_kib(server.0.id()) as f64 / 1024.0,
            )?;
        }
    }
    save_report(root, "idle.md", report)
}
