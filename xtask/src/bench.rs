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
    save_report(root, "issue.md", report)
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
/// one worker each, same three-byte body, for P-256 and RSA-2048 keys.
///
/// Both servers run at once and are measured in turn, round after round, so
/// the machine's drift (a busy neighbour, frequency changes) hits both alike;
/// the table gives each figure's median over the rounds.
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
    let nginx_bin = nginx_binary();
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
        "Each server pinned to core 0, wrk and h2load on core 1; \"per CPU-s\" is keep-alive \
         requests per second of the server's own CPU time (utime+stime). \
         Medians of {ROUNDS} rounds; in each round both servers are measured in turn. \
         keep-alive: `wrk -t1 -c32 -d{WRK_SECONDS}s`; handshakes: {HANDSHAKE_BATCHES} × \
         `h2load -n{HANDSHAKES} -c{HANDSHAKES} -m1` (one request per connection), over HTTP/2 \
         and with `--h1` over HTTP/1.1.\n"
    )?;
    writeln!(
        report,
        "| key | server | keep-alive req/s | per CPU-s | p99 | handshakes/s (h2) | handshakes/s (h1) | peak RSS | req/s vs nginx | per CPU-s vs nginx | h2 handshakes vs nginx | h1 handshakes vs nginx |"
    )?;
    writeln!(
        report,
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
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
            &issued.key().to_pem()?,
            pki::fs::Secrecy::Private,
            pki::fs::Overwrite::Replace,
        )?;
        let nginx_port = free_port()?;
        let mut ours_port = free_port()?;
        while ours_port == nginx_port {
            ours_port = free_port()?;
        }
        let nginx = Running(start_nginx(
            &mut on_core(0),
            &nginx_bin,
            dir,
            &cert,
            &key,
            nginx_port,
        )?);
        let ours = Running(start_actix_https(
            &mut on_core(0),
            &ours_bin,
            dir,
            &cert,
            &key,
            ours_port,
        )?);
        let servers = [
            ("nginx", &nginx, nginx_port),
            ("actix-https", &ours, ours_port),
        ];
        let mut samples = [Samples::default(), Samples::default()];
        for (_, _, port) in servers {
            wait_for_port(port)?;
            warm_up(port)?;
        }
        for _ in 0..ROUNDS {
            for (i, (_, running, port)) in servers.iter().enumerate() {
                samples[i].push(measure(*port, running.0.id())?);
            }
        }
        let rows: Vec<(&str, Measured)> = servers
            .iter()
            .zip(&samples)
            .map(|((name, running, _), s)| (*name, s.median(peak_rss_kib(running.0.id()))))
            .collect();
        drop((nginx, ours));
        let base = rows[0].1.clone();
        for (which, m) in &rows {
            writeln!(
                report,
                "| {key_type} | {which} | {:.0} | {:.0} | {} | {:.0} | {:.0} | {:.1} MiB | {:.2}× | {:.2}× | {:.2}× | {:.2}× |",
                m.requests_per_sec,
                m.per_cpu_second,
                format_latency(m.p99_micros),
                m.h2_handshakes_per_sec,
                m.h1_handshakes_per_sec,
                m.peak_rss_kib as f64 / 1024.0,
                m.requests_per_sec / base.requests_per_sec,
                m.per_cpu_second / base.per_cpu_second,
                m.h2_handshakes_per_sec / base.h2_handshakes_per_sec,
                m.h1_handshakes_per_sec / base.h1_handshakes_per_sec,
            )?;
        }
    }
    save_report(root, "server.md", report)
}

/// Writes `report` to `target/bench/NAME` and returns it with a line saying where.
pub(crate) fn save_report(root: &Path, name: &str, mut report: String) -> Result<String> {
    let out = root.join("target").join("bench");
    pki::fs::create_private_dir(&out)?;
    let path = out.join(name);
    pki::fs::write_atomic(
        &path,
        report.as_bytes(),
        pki::fs::Secrecy::Public,
        pki::fs::Overwrite::Replace,
    )?;
    writeln!(report, "\n(written to {})", path.display())?;
    Ok(report)
}

const ROUNDS: usize = 5;
const WRK_SECONDS: u32 = 4;
const HANDSHAKES: u32 = 500;
const HANDSHAKE_BATCHES: u32 = 5;

/// A server process, stopped when dropped (also on an early error return).
pub(crate) struct Running(pub(crate) std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

/// One round's figures for one server.
#[derive(Debug, Clone)]
struct Measured {
    requests_per_sec: f64,
    /// Keep-alive requests per second of the server's own CPU time.
    per_cpu_second: f64,
    p99_micros: f64,
    h2_handshakes_per_sec: f64,
    h1_handshakes_per_sec: f64,
    peak_rss_kib: u64,
}

#[derive(Default)]
struct Samples(Vec<Measured>);

impl Samples {
    fn push(&mut self, m: Measured) {
        self.0.push(m);
    }

    /// Each figure's median over the rounds.
    fn median(&self, peak_rss_kib: u64) -> Measured {
        let of = |f: fn(&Measured) -> f64| median(self.0.iter().map(f).collect());
        Measured {
            requests_per_sec: of(|m| m.requests_per_sec),
            per_cpu_second: of(|m| m.per_cpu_second),
            p99_micros: of(|m| m.p99_micros),
            h2_handshakes_per_sec: of(|m| m.h2_handshakes_per_sec),
            h1_handshakes_per_sec: of(|m| m.h1_handshakes_per_sec),
            peak_rss_kib,
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn format_latency(micros: f64) -> String {
    if micros >= 1000.0 {
        format!("{:.2} ms", micros / 1000.0)
    } else {
        format!("{micros:.0} µs")
    }
}

/// wrk's latency (`439.00us`, `1.52ms`, `2.01s`) in microseconds.
pub(crate) fn parse_latency(text: &str) -> Option<f64> {
    let text = text.trim();
    let (number, scale) = if let Some(v) = text.strip_suffix("us") {
        (v, 1.0)
    } else if let Some(v) = text.strip_suffix("ms") {
        (v, 1e3)
    } else if let Some(v) = text.strip_suffix('s') {
        (v, 1e6)
    } else {
        return None;
    };
    number.trim().parse::<f64>().ok().map(|n| n * scale)
}

fn warm_up(port: u16) -> Result<()> {
    let url = format!("https://127.0.0.1:{port}/health");
    let _ = on_core(1)
        .args(["wrk", "-t1", "-c8", "-d1s", &url])
        .output();
    handshakes(port, false)?;
    Ok(())
}

fn measure(port: u16, pid: u32) -> Result<Measured> {
    let url = format!("https://127.0.0.1:{port}/health");
    let cpu_before = crate::bench_front::cpu_seconds(pid);
    let wrk = on_core(1)
        .arg("wrk")
        .args([
            "-t1",
            "-c32",
            &format!("-d{WRK_SECONDS}s"),
            "--latency",
            &url,
        ])
        .output()
        .context("failed to run wrk")?;
    let figures = WrkFigures::parse(&String::from_utf8_lossy(&wrk.stdout))?;
    let cpu = crate::bench_front::cpu_seconds(pid) - cpu_before;
    Ok(Measured {
        requests_per_sec: figures.requests_per_sec,
        per_cpu_second: figures.requests / cpu,
        p99_micros: figures.p99_micros,
        h2_handshakes_per_sec: handshakes(port, false)?,
        h1_handshakes_per_sec: handshakes(port, true)?,
        peak_rss_kib: 0,
    })
}

/// What `wrk --latency` printed.
pub(crate) struct WrkFigures {
    /// Requests completed in the run.
    pub(crate) requests: f64,
    pub(crate) requests_per_sec: f64,
    pub(crate) p99_micros: f64,
}

impl WrkFigures {
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let requests = text
            .lines()
            .find_map(|l| l.trim().split_once(" requests in "))
            .and_then(|(n, _)| n.trim().parse().ok())
            .with_context(|| format!("wrk printed no request count:\n{text}"))?;
        let requests_per_sec = text
            .lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("wrk printed no Requests/sec:\n{text}"))?;
        let p99_micros = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("99%"))
            .and_then(parse_latency)
            .with_context(|| format!("wrk printed no 99% latency:\n{text}"))?;
        Ok(WrkFigures {
            requests,
            requests_per_sec,
            p99_micros,
        })
    }
}

/// Full handshakes per second: h2load with as many clients as requests makes
/// one request per connection; several batches, their times summed.
fn handshakes(port: u16, http1: bool) -> Result<f64> {
    let url = format!("https://127.0.0.1:{port}/health");
    let mut seconds = 0.0;
    for _ in 0..HANDSHAKE_BATCHES {
        let mut cmd = on_core(1);
        cmd.arg("h2load");
        if http1 {
            cmd.arg("--h1");
        }
        let h2 = cmd
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
        let elapsed = text
            .lines()
            .find_map(|l| l.strip_prefix("finished in "))
            .and_then(|l| l.split(',').next())
            .and_then(parse_latency)
            .with_context(|| format!("h2load printed no time:\n{text}"))?;
        seconds += elapsed / 1e6;
    }
    Ok(f64::from(HANDSHAKES * HANDSHAKE_BATCHES) / seconds)
}

/// VmHWM of the process and its children (nginx's master and worker).
pub(crate) fn peak_rss_kib(pid: u32) -> u64 {
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

/// Starts actix-https (one worker, `cert` and `key` on `port`) through
/// `launcher`, as [`start_nginx`] starts nginx.
pub(crate) fn start_actix_https(
    launcher: &mut Command,
    bin: &Path,
    dir: &Path,
    cert: &Path,
    key: &Path,
    port: u16,
) -> Result<std::process::Child> {
    if launcher.get_program() != bin.as_os_str() {
        launcher.arg(bin);
    }
    launcher
        .args(["--workers", "1", "--bind", &format!("127.0.0.1:{port}")])
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .env("CAROOT", dir.join("unused-ca"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("failed to start actix-https")
}

/// nginx from PATH, else Debian's /usr/sbin (not on a normal user's PATH).
pub(crate) fn nginx_binary() -> PathBuf {
    if on_path("nginx") {
        PathBuf::from("nginx")
    } else {
        PathBuf::from("/usr/sbin/nginx")
    }
}

/// Starts nginx (one worker, TLS on `port`, `GET /health` answered `ok`)
/// through `launcher`: a plain `Command::new(nginx)`, or a wrapper such as
/// `taskset -c 0` to which the nginx binary is added.
pub(crate) fn start_nginx(
    launcher: &mut Command,
    nginx: &Path,
    dir: &Path,
    cert: &Path,
    key: &Path,
    port: u16,
) -> Result<std::process::Child> {
    let server = format!(
        "ssl_protocols TLSv1.2 TLSv1.3;\n\
         ssl_session_cache shared:SSL:10m;\n\
         server {{\n\
           listen 127.0.0.1:{port} ssl http2;\n\
           ssl_certificate {cert};\n\
           ssl_certificate_key {key};\n\
           location = /health {{ default_type text/plain; return 200 \"ok\\n\"; }}\n\
         }}\n",
        cert = cert.display(),
        key = key.display(),
    );
    run_nginx(launcher, nginx, &dir.join(format!("nginx-{port}")), &server)
}

/// Runs nginx with one worker and its files in `prefix`, `http` (servers,
/// upstreams) inside its `http` block, through `launcher` as in
/// [`start_nginx`]: the one nginx configuration every benchmark shares.
pub(crate) fn run_nginx(
    launcher: &mut Command,
    nginx: &Path,
    prefix: &Path,
    http: &str,
) -> Result<std::process::Child> {
    pki::fs::create_private_dir(prefix)?;
    let conf = prefix.join("nginx.conf");
    let text = format!(
        "worker_processes 1;\n\
         pid {p}/nginx.pid;\n\
         error_log {p}/error.log;\n\
         worker_rlimit_nofile 20000;\n\
         events {{ worker_connections 16384; }}\n\
         http {{\n\
           access_log off;\n\
           client_body_temp_path {p}; proxy_temp_path {p}; fastcgi_temp_path {p}; uwsgi_temp_path {p}; scgi_temp_path {p};\n\
           keepalive_requests 1000000;\n\
           {http}\n\
         }}\n",
        p = prefix.display(),
    );
    pki::fs::write_atomic(
        &conf,
        text.as_bytes(),
        pki::fs::Secrecy::Public,
        pki::fs::Overwrite::Replace,
    )?;
    if launcher.get_program() != nginx.as_os_str() {
        launcher.arg(nginx);
    }
    launcher
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off;"])
        .spawn()
        .context("failed to start nginx")
}

/// `taskset -c CORE`, to which the program and its arguments are added.
pub(crate) fn on_core(core: u32) -> Command {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", &core.to_string()]);
    cmd
}

pub(crate) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(crate) fn wait_for_port(port: u16) -> Result<()> {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    bail!("nothing listens on 127.0.0.1:{port} after 5 s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_in_every_unit_wrk_and_h2load_print() {
        assert_eq!(parse_latency("439.00us"), Some(439.0));
        assert_eq!(parse_latency(" 1.52ms"), Some(1520.0));
        assert_eq!(parse_latency("2.5s"), Some(2_500_000.0));
        assert_eq!(parse_latency("fast"), None);
        assert_eq!(format_latency(439.0), "439 µs");
        assert_eq!(format_latency(1520.0), "1.52 ms");
    }

    /// What wrk 4.1 printed for a run against actix-https on this machine.
    #[test]
    fn wrk_output_parses_into_its_figures() -> Result<()> {
        let text = "Running 4s test @ https://127.0.0.1:19443/health\n  1 threads and 32 connections\n  \
                    Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency     1.06ms  784.57us  27.29ms   94.24%\n    \
                    Req/Sec    31.50k     7.01k   51.11k    76.25%\n  Latency Distribution\n     50%  931.00us\n     \
                    75%    1.19ms\n     90%    1.52ms\n     99%    3.17ms\n  250263 requests in 8.00s, 24.82MB read\n\
                    Requests/sec:  31265.02\nTransfer/sec:      3.10MB\n";
        let figures = WrkFigures::parse(text)?;
        assert_eq!(figures.requests, 250_263.0);
        assert_eq!(figures.requests_per_sec, 31_265.02);
        assert_eq!(figures.p99_micros, 3170.0);
        let err = WrkFigures::parse("unable to connect to 127.0.0.1:1")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("wrk printed no request count"), "{err}");
        Ok(())
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }
}
