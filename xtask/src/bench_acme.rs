//! `cargo xtask bench acme`: lego obtaining certificates over http-01 from
//! `actix-https --acme`, from Pebble (`PEBBLE_VA_NOSLEEP=1`, nonce
//! rejection and authorization reuse off) and from Caddy's `acme_server`,
//! in one run: N one after another, then 8 lego processes at once.
//!
//! Each ACME server runs alone on core 0 (one worker, or GOMAXPROCS=1);
//! lego, the webroot server (nginx on port 80, which Caddy's validation
//! always uses) and Pebble's DNS server run on core 1. The figures are
//! certificates per second of wall time and the server's own CPU time
//! (utime+stime) per certificate, with ratios to the peers.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::bench::{
    Running, build_release, free_port, nginx_binary, on_core, on_path, run_nginx, save_report,
    wait_for_port,
};
use crate::bench_front::cpu_seconds;

/// Certificates obtained one after another, per server.
const SEQUENTIAL: usize = 12;
/// lego processes at once, each obtaining [`PER_CLIENT`] certificates.
const CLIENTS: usize = 8;
const PER_CLIENT: usize = 3;
/// The name every certificate is for: it resolves to loopback for all three.
const NAME: &str = "localhost";

/// One ACME server under test.
struct AcmeUnderTest {
    name: &'static str,
    directory: String,
    trust: PathBuf,
    running: Running,
    /// What it needs beside it (Pebble's DNS server), stopped with it.
    _helpers: Vec<Running>,
}

/// One measured batch.
struct Batch {
    certs_per_sec: f64,
    cpu_ms_per_cert: f64,
}

/// Runs `cargo xtask bench acme`.
pub fn acme(root: &Path) -> Result<String> {
    for tool in ["lego", "pebble", "pebble-challtestsrv", "caddy", "taskset"] {
        if !on_path(tool) {
            bail!(
                "{tool} is not installed; on Debian: sudo apt-get install lego pebble caddy util-linux nginx-light"
            );
        }
    }
    if std::net::TcpListener::bind("127.0.0.1:80").is_err() {
        bail!(
            "port 80 is taken or needs privileges: Caddy's ACME server validates http-01 on port 80 only, so the benchmark serves the challenges there (run it as root, or free the port)"
        );
    }
    build_release(root, &["actix-https"])?;
    let work = tempfile::Builder::new()
        .prefix("pki-bench-acme-")
        .tempdir()?;
    let dir = work.path();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    let webroot = dir.join("www");
    std::fs::create_dir_all(webroot.join(".well-known/acme-challenge"))?;
    for d in [
        &webroot,
        &webroot.join(".well-known"),
        &webroot.join(".well-known/acme-challenge"),
    ] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
    }
    let _web = webroot_server(dir, &webroot)?;
    wait_for_port(80)?;

    let ca_dir = dir.join("ca");
    let ca = pki::Ca::load_or_create(&ca_dir, &pki::CaParams::new(), None)?.into_ca();
    let endpoint = ca.issue(&pki::CertParams::new(["localhost", "127.0.0.1"])?)?;
    let (cert, key) = (dir.join("endpoint.pem"), dir.join("endpoint-key.pem"));
    endpoint.write_pem(&cert, &key, None, pki::Overwrite::Replace)?;
    let root_pem = ca_dir.join(pki::ca::CA_CERT_FILE);

    let mut servers = vec![
        ours(root, dir, &ca_dir, &root_pem)?,
        pebble(dir, &cert, &key, &root_pem)?,
        caddy(dir)?,
    ];
    let mut report = format!(
        "# ACME: actix-https --acme vs Pebble and Caddy's acme_server\n\n\
         lego (`run --http --http.webroot`) obtains a certificate for `{NAME}`: {SEQUENTIAL} one \
         after another, then {CLIENTS} lego processes at once, {PER_CLIENT} each. Servers pinned to \
         core 0 (one worker / GOMAXPROCS=1); lego, nginx serving the webroot on port 80 and \
         Pebble's DNS server on core 1. Pebble with PEBBLE_VA_NOSLEEP=1, no nonce rejection, no \
         authorization reuse. \"CPU/cert\" is the server process's own utime+stime per \
         certificate.\n\n\
         | server | sequential certs/s | CPU/cert | {CLIENTS} at once certs/s | CPU/cert |\n\
         | --- | ---: | ---: | ---: | ---: |\n"
    );
    let mut figures = Vec::new();
    for server in &mut servers {
        // One run registers the account (each lego path once) and warms up.
        for client in 0..CLIENTS {
            lego(server, dir, &webroot, client)?;
        }
        let sequential = batch(server, || {
            for _ in 0..SEQUENTIAL {
                lego(server, dir, &webroot, 0)?;
            }
            Ok(SEQUENTIAL)
        })?;
        let parallel = batch(server, || {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..CLIENTS)
                    .map(|client| {
                        let server = &*server;
                        let webroot = webroot.as_path();
                        s.spawn(move || -> Result<()> {
                            for _ in 0..PER_CLIENT {
                                lego(server, dir, webroot, client)?;
                            }
                            Ok(())
                        })
                    })
                    .collect();
                for h in handles {
                    h.join()
                        .map_err(|_| anyhow::anyhow!("a lego thread panicked"))??;
                }
                Ok::<_, anyhow::Error>(())
            })?;
            Ok(CLIENTS * PER_CLIENT)
        })?;
        writeln!(
            report,
            "| {} | {:.2} | {:.1} ms | {:.2} | {:.1} ms |",
            server.name,
            sequential.certs_per_sec,
            sequential.cpu_ms_per_cert,
            parallel.certs_per_sec,
            parallel.cpu_ms_per_cert
        )?;
        figures.push((server.name, sequential, parallel));
    }
    report.push_str(
        "\nRatios (actix-https ÷ peer; certs/s higher is better, CPU/cert lower is better):\n\n",
    );
    report.push_str("| peer | sequential certs/s | CPU/cert | at once certs/s | CPU/cert |\n| --- | ---: | ---: | ---: | ---: |\n");
    let (_, our_seq, our_par) = &figures[0];
    for (name, seq, par) in &figures[1..] {
        writeln!(
            report,
            "| {name} | {:.2}× | {:.2}× | {:.2}× | {:.2}× |",
            our_seq.certs_per_sec / seq.certs_per_sec,
            our_seq.cpu_ms_per_cert / seq.cpu_ms_per_cert,
            our_par.certs_per_sec / par.certs_per_sec,
            our_par.cpu_ms_per_cert / par.cpu_ms_per_cert
        )?;
    }
    save_report(root, "acme.md", report)
}

/// Times `run` (which returns how many certificates it obtained) and the
/// server's CPU over it.
fn batch(server: &AcmeUnderTest, run: impl FnOnce() -> Result<usize>) -> Result<Batch> {
    let pid = server.running.0.id();
    let cpu_before = cpu_seconds(pid);
    let start = Instant::now();
    let n = run()? as f64;
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    Ok(Batch {
        certs_per_sec: n / wall,
        cpu_ms_per_cert: cpu * 1000.0 / n,
    })
}

/// One lego run on core 1: a new certificate for [`NAME`], its files
/// (and account) in `dir/lego-SERVER-CLIENT`.
fn lego(server: &AcmeUnderTest, dir: &Path, webroot: &Path, client: usize) -> Result<()> {
    let out = on_core(1)
        .arg("lego")
        .env("LEGO_CA_CERTIFICATES", &server.trust)
        .args(["--server", &server.directory, "--accept-tos"])
        .args(["--email", "bench@example.com", "--domains", NAME, "--http"])
        .arg("--http.webroot")
        .arg(webroot)
        .arg("--path")
        .arg(dir.join(format!("lego-{}-{client}", server.name)))
        .arg("run")
        .stdout(Stdio::null())
        .output()
        .context("failed to run lego")?;
    if !out.status.success() {
        bail!(
            "lego against {} failed:\n{}",
            server.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// nginx on core 1 serving the webroot on port 80 (IPv4 and IPv6 loopback).
fn webroot_server(dir: &Path, webroot: &Path) -> Result<Running> {
    let mut launcher = on_core(1);
    launcher.stdout(Stdio::null()).stderr(Stdio::null());
    let child = run_nginx(
        &mut launcher,
        &nginx_binary(),
        &dir.join("nginx-webroot"),
        &format!(
            "server {{ listen 127.0.0.1:80; listen [::1]:80; root {}; }}",
            webroot.display()
        ),
    )?;
    Ok(Running(child))
}

fn on_core_0(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = on_core(0);
    cmd.arg(program).stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

fn ours(root: &Path, dir: &Path, ca_dir: &Path, root_pem: &Path) -> Result<AcmeUnderTest> {
    let port = free_port()?;
    let child = on_core_0(root.join("target/release/actix-https"))
        .args(["--workers", "1", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--acme", "--acme-http-port", "80", "--ca-dir"])
        .arg(ca_dir)
        .env("HOME", dir)
        .spawn()
        .context("failed to start actix-https")?;
    let running = Running(child);
    wait_for_port(port)?;
    Ok(AcmeUnderTest {
        name: "actix-https",
        directory: format!("https://localhost:{port}/acme/directory"),
        trust: root_pem.to_path_buf(),
        running,
        _helpers: Vec::new(),
    })
}

fn pebble(dir: &Path, cert: &Path, key: &Path, root_pem: &Path) -> Result<AcmeUnderTest> {
    let dns_port = free_port()?;
    let mut dns = on_core(1);
    let dns = dns
        .arg("pebble-challtestsrv")
        .args([
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-defaultIPv6",
            "",
        ])
        .arg("-dns01")
        .arg(format!("127.0.0.1:{dns_port}"))
        .arg("-management")
        .arg(format!("127.0.0.1:{}", free_port()?))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("failed to start pebble-challtestsrv")?;
    let dns = Running(dns);
    let port = free_port()?;
    let config = dir.join("pebble.json");
    let json = format!(
        r#"{{"pebble":{{"listenAddress":"127.0.0.1:{port}","managementListenAddress":"127.0.0.1:{}","certificate":"{}","privateKey":"{}","httpPort":80,"tlsPort":443,"ocspResponderURL":"","externalAccountBindingRequired":false}}}}"#,
        free_port()?,
        cert.display(),
        key.display()
    );
    pki::fs::write_atomic(
        &config,
        json.as_bytes(),
        pki::fs::Secrecy::Public,
        pki::fs::Overwrite::Replace,
    )?;
    let child = on_core_0("pebble")
        .arg("-config")
        .arg(&config)
        .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", "0")
        .env("PEBBLE_AUTHZREUSE", "0")
        .env("GOMAXPROCS", "1")
        .spawn()
        .context("failed to start pebble")?;
    let running = Running(child);
    wait_for_port(port)?;
    Ok(AcmeUnderTest {
        name: "Pebble",
        directory: format!("https://localhost:{port}/dir"),
        trust: root_pem.to_path_buf(),
        running,
        _helpers: vec![dns],
    })
}

fn caddy(dir: &Path) -> Result<AcmeUnderTest> {
    let port = free_port()?;
    let home = dir.join("caddy");
    pki::fs::create_private_dir(&home)?;
    let config = home.join("Caddyfile");
    let text = format!(
        "{{\n  admin off\n  auto_https disable_redirects\n  http_port {http}\n  skip_install_trust\n  \
         storage file_system {home}\n  log {{\n    output discard\n  }}\n}}\n\
         https://localhost:{port} {{\n  tls internal\n  acme_server\n}}\n",
        http = free_port()?,
        home = home.display(),
    );
    pki::fs::write_atomic(
        &config,
        text.as_bytes(),
        pki::fs::Secrecy::Public,
        pki::fs::Overwrite::Replace,
    )?;
    let child = on_core_0("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&config)
        .env("HOME", &home)
        .env("XDG_DATA_HOME", &home)
        .env("XDG_CONFIG_HOME", &home)
        .env("GOMAXPROCS", "1")
        .spawn()
        .context("failed to start caddy")?;
    let running = Running(child);
    wait_for_port(port)?;
    let trust = home.join("pki/authorities/local/root.crt");
    for _ in 0..200 {
        if trust.is_file() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    Ok(AcmeUnderTest {
        name: "Caddy",
        directory: format!("https://localhost:{port}/acme/local/directory"),
        trust,
        running,
        _helpers: Vec::new(),
    })
}
