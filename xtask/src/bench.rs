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

/// `cargo xtask bench server`: actix-https against nginx, same certificate,
/// one worker each, same two-byte body, for P-256 and RSA-2048 keys.
pub fn server(root: &Path) -> Result<String> {
    for tool in ["nginx", "wrk", "h2load"] {
        if !on_path(tool) && !Path::new("/usr/sbin").join(tool).is_file() {
            bail!(
                "{tool} is not installed; on Debian: sudo apt-get install nginx-light wrk nghttp2-client"
            );
        }
    }
    build_release(root, &["actix-https"])?;
    let ours_bin = root.join("target/release/actix-https");
    let nginx_bin = if on_path("nginx") {
        PathBuf::from("nginx")
    } else {
        PathBuf::from("/usr/sbin/nginx")
    };
    let work = tempfile::Builder::new()
        .prefix("pki-bench-server-")
        .tempdir()?;
    let dir = work.path();
    let ca = pki::Ca::generate(&pki::CaParams::new())?;
    let mut report = String::new();
    writeln!(
        report,
        "# actix-https vs nginx (1 worker each, GET /health = \"ok\\n\", loopback, this machine)\n"
    )?;
    writeln!(
        report,
        "keep-alive: `wrk -t1 -c32 -d{WRK_SECONDS}s`; full handshakes: `h2load -n{HANDSHAKES} -c{HANDSHAKES} -m1` (one request per connection), {HANDSHAKE_ROUNDS} rounds after a warm-up.\n"
    )?;
    writeln!(
        report,
        "| key | server | keep-alive req/s | p99 | handshakes/s | peak RSS | req/s vs nginx | handshakes/s vs nginx |"
    )?;
    writeln!(
        report,
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    )?;
    for key_type in [pki::KeyType::P256, pki::KeyType::Rsa2048] {
        let issued =
            ca.issue(&pki::CertParams::new(["localhost", "127.0.0.1"])?.key_type(key_type))?;
        let cert = dir.join(format!("{key_type}.pem"));
        let key = dir.join(format!("{key_type}-key.pem"));
        pki::fs::write_atomic(
            &cert,
            &issued.chain_pem()?,
            pki::fs::Secrecy::Public,
            pki::fs::Overwrite::Replace,
        )?;
        pki::fs::write_atomic(
            &key,
            &issued.key.to_pem()?,
            pki::fs::Secrecy::Private,
            pki::fs::Overwrite::Replace,
        )?;
        let mut rows = Vec::new();
        for which in ["nginx", "actix-https"] {
            let port = free_port()?;
            let mut child = if which == "nginx" {
                start_nginx(&nginx_bin, dir, &cert, &key, port)?
            } else {
                Command::new(&ours_bin)
                    .args(["--workers", "1", "--bind", &format!("127.0.0.1:{port}")])
                    .arg("--cert")
                    .arg(&cert)
                    .arg("--key")
                    .arg(&key)
                    .env("CAROOT", dir.join("unused-ca"))
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .context("failed to start actix-https")?
            };
            let measured = measure(port, child.id());
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
            rows.push((which, measured?));
        }
        let nginx = rows[0].1.clone();
        for (which, m) in &rows {
            writeln!(
                report,
                "| {key_type} | {which} | {:.0} | {} | {:.0} | {:.1} MiB | {:.2}× | {:.2}× |",
                m.requests_per_sec,
                m.p99,
                m.handshakes_per_sec,
                m.peak_rss_kib as f64 / 1024.0,
                m.requests_per_sec / nginx.requests_per_sec,
                m.handshakes_per_sec / nginx.handshakes_per_sec
            )?;
        }
    }
    let out = root.join("target").join("bench");
    pki::fs::create_private_dir(&out)?;
    let path = out.join("server.md");
    pki::fs::write_atomic(
        &path,
        report.as_bytes(),
        pki::fs::Secrecy::Public,
        pki::fs::Overwrite::Replace,
    )?;
    writeln!(report, "\n(written to {})", path.display())?;
    Ok(report)
}

const WRK_SECONDS: u32 = 5;
const HANDSHAKES: u32 = 500;
const HANDSHAKE_ROUNDS: u32 = 5;

#[derive(Debug, Clone)]
struct Measured {
    requests_per_sec: f64,
    p99: String,
    handshakes_per_sec: f64,
    peak_rss_kib: u64,
}

fn measure(port: u16, pid: u32) -> Result<Measured> {
    wait_for_port(port)?;
    let url = format!("https://127.0.0.1:{port}/health");
    // Warm up, then measure.
    let _ = Command::new("wrk")
        .args(["-t1", "-c8", "-d1s", &url])
        .output();
    let wrk = Command::new("wrk")
        .args([
            "-t1",
            "-c32",
            &format!("-d{WRK_SECONDS}s"),
            "--latency",
            &url,
        ])
        .output()
        .context("failed to run wrk")?;
    let text = String::from_utf8_lossy(&wrk.stdout).into_owned();
    let requests_per_sec = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("wrk printed no Requests/sec:\n{text}"))?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| "?".to_owned());
    // Full handshakes: h2load with as many clients as requests makes one
    // request per connection. One warm-up round, then rounds summed.
    let mut seconds = 0.0;
    for round in 0..=HANDSHAKE_ROUNDS {
        let h2 = Command::new("h2load")
            .args([
                "-n",
                &HANDSHAKES.to_string(),
                "-c",
                &HANDSHAKES.to_string(),
                "-m",
                "1",
                &url,
            ])
            .output()
            .context("failed to run h2load")?;
        let text = String::from_utf8_lossy(&h2.stdout).into_owned();
        if !text.contains(&format!("{HANDSHAKES} succeeded")) {
            bail!("h2load saw failures:\n{text}");
        }
        // "finished in 1.23s, 812.34 req/s, …"
        let elapsed: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("finished in "))
            .and_then(|l| l.split(',').next())
            .and_then(|v| {
                v.strip_suffix("ms")
                    .and_then(|ms| ms.parse::<f64>().ok().map(|ms| ms / 1e3))
                    .or_else(|| v.strip_suffix('s').and_then(|s| s.parse().ok()))
            })
            .with_context(|| format!("h2load printed no time:\n{text}"))?;
        if round > 0 {
            seconds += elapsed;
        }
    }
    let handshakes_per_sec = f64::from(HANDSHAKES * HANDSHAKE_ROUNDS) / seconds;
    Ok(Measured {
        requests_per_sec,
        p99,
        handshakes_per_sec,
        peak_rss_kib: peak_rss_kib(pid),
    })
}

/// VmHWM of the process and its children (nginx's master and worker).
fn peak_rss_kib(pid: u32) -> u64 {
    let hwm = |pid: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            })
            .unwrap_or(0)
    };
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    hwm(&pid.to_string()) + children.split_whitespace().map(hwm).sum::<u64>()
}

fn start_nginx(
    nginx: &Path,
    dir: &Path,
    cert: &Path,
    key: &Path,
    port: u16,
) -> Result<std::process::Child> {
    let prefix = dir.join(format!("nginx-{port}"));
    pki::fs::create_private_dir(&prefix)?;
    let conf = prefix.join("nginx.conf");
    let text = format!(
        "worker_processes 1;\n\
         pid {p}/nginx.pid;\n\
         error_log {p}/error.log;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n\
           access_log off;\n\
           client_body_temp_path {p}; proxy_temp_path {p}; fastcgi_temp_path {p}; uwsgi_temp_path {p}; scgi_temp_path {p};\n\
           keepalive_requests 1000000;\n\
           ssl_protocols TLSv1.2 TLSv1.3;\n\
           ssl_session_cache shared:SSL:10m;\n\
           server {{\n\
             listen 127.0.0.1:{port} ssl http2;\n\
             ssl_certificate {cert};\n\
             ssl_certificate_key {key};\n\
             location = /health {{ default_type text/plain; return 200 \"ok\\n\"; }}\n\
           }}\n\
         }}\n",
        p = prefix.display(),
        cert = cert.display(),
        key = key.display(),
    );
    pki::fs::write_atomic(
        &conf,
        text.as_bytes(),
        pki::fs::Secrecy::Public,
        pki::fs::Overwrite::Replace,
    )?;
    Command::new(nginx)
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off;"])
        .spawn()
        .context("failed to start nginx")
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn wait_for_port(port: u16) -> Result<()> {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    bail!("nothing listens on 127.0.0.1:{port} after 5 s")
}
