//! `cargo xtask bench proxy` and `cargo xtask bench static`: actix-https as
//! the front door of an app, beside Caddy, nginx and (for the proxy)
//! local-ssl-proxy, with the same certificate, in one run.
//!
//! Each front server runs alone on core 0 (one worker, or GOMAXPROCS=1);
//! wrk and the upstream app (nginx answering `ok` over plain HTTP) run on
//! core 1. On two cores the wall-clock rate is often wrk's limit, so the
//! figure that compares servers is requests per second of the server's own
//! CPU time (utime + stime of its processes during the run), beside the raw
//! rate, p99 latency and peak RSS. Rounds interleave the servers; medians.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::bench::{
    Running, build_release, free_port, nginx_binary, on_path, peak_rss_kib, run_nginx, save_report,
    wait_for_port,
};

const ROUNDS: usize = 5;
const WRK_SECONDS: u32 = 4;
const CONNECTIONS: u32 = 32;

/// The Linux `/proc` clock tick (USER_HZ), the same on every architecture.
const TICKS_PER_SECOND: f64 = 100.0;

/// One front server under test.
struct Front {
    name: &'static str,
    port: u16,
    running: Running,
}

/// One measured run.
#[derive(Debug, Clone, Copy)]
struct Run {
    requests_per_sec: f64,
    per_cpu_second: f64,
    p99_micros: f64,
}

/// Runs `cargo xtask bench proxy`.
pub fn proxy(root: &Path) -> Result<String> {
    let setup = Setup::new(root)?;
    let upstream_port = free_port()?;
    let _upstream = Running(start_upstream(&setup.dir, upstream_port)?);
    wait_for_port(upstream_port)?;
    let upstream = format!("http://127.0.0.1:{upstream_port}");
    let mut fronts = vec![
        setup.actix(&["--proxy", &upstream])?,
        setup.caddy(&format!("reverse_proxy 127.0.0.1:{upstream_port}"))?,
        setup.nginx_proxy(upstream_port)?,
    ];
    let local_ssl_proxy = root.join("target/bench-node/node_modules/.bin/local-ssl-proxy");
    if local_ssl_proxy.is_file() {
        fronts.push(setup.local_ssl_proxy(&local_ssl_proxy, upstream_port)?);
    }
    let mut report = header(
        "actix-https --proxy vs Caddy, nginx and local-ssl-proxy",
        &format!(
            "Every server proxies `GET /` to the same upstream (nginx, plain HTTP, `return 200 \"ok\\n\"`, core 1). \
             {}",
            if local_ssl_proxy.is_file() {
                ""
            } else {
                "local-ssl-proxy is missing (install it with `npm install --prefix target/bench-node local-ssl-proxy`)."
            }
        ),
    );
    table(&mut report, &mut fronts, &["/"])?;
    save_report(root, "proxy.md", report)
}

/// Runs `cargo xtask bench static`.
pub fn static_files(root: &Path) -> Result<String> {
    let setup = Setup::new(root)?;
    let site = setup.dir.join("site");
    pki::fs::create_private_dir(&site)?;
    // nginx's worker runs as `nobody` when started as root: it must be able
    // to reach the files.
    for dir in [&setup.dir, &site] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    }
    for (name, size) in [("1k.bin", 1024), ("1m.bin", 1024 * 1024)] {
        let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        pki::fs::write_atomic(
            site.join(name),
            &body,
            pki::fs::Secrecy::Public,
            pki::fs::Overwrite::Replace,
        )?;
    }
    let site_arg = site.to_string_lossy().into_owned();
    let mut fronts = vec![
        setup.actix(&["--static", &site_arg])?,
        setup.caddy(&format!("root * {}\n  file_server", site.display()))?,
        setup.nginx_static(&site)?,
    ];
    let mut report = header(
        "actix-https --static vs Caddy file_server and nginx",
        "A 1 KiB and a 1 MiB file from the same directory.",
    );
    table(&mut report, &mut fronts, &["/1k.bin", "/1m.bin"])?;
    save_report(root, "static.md", report)
}

fn header(title: &str, what: &str) -> String {
    format!(
        "# {title}\n\n{what} Front servers pinned to core 0 (one worker / GOMAXPROCS=1); wrk \
         (`-t1 -c{CONNECTIONS} -d{WRK_SECONDS}s`, HTTP/1.1 keep-alive over TLS) and the upstream \
         on core 1. Medians of {ROUNDS} interleaved rounds. \"per CPU-s\" is requests per second \
         of the server's own CPU time (utime+stime), the figure that compares servers when wrk \
         is the limit.\n\n"
    )
}

/// Measures every front for every path and writes the table, with ratios
/// to Caddy and nginx.
fn table(report: &mut String, fronts: &mut [Front], paths: &[&str]) -> Result<()> {
    writeln!(
        report,
        "| path | server | req/s | per CPU-s | p99 | peak RSS | per CPU-s vs Caddy | per CPU-s vs nginx | req/s vs nginx |"
    )?;
    writeln!(
        report,
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )?;
    for front in fronts.iter() {
        wait_for_port(front.port)?;
        for path in paths {
            wrk(front, path, 1)?;
        }
    }
    for path in paths {
        let mut runs: Vec<Vec<Run>> = vec![Vec::new(); fronts.len()];
        for _ in 0..ROUNDS {
            for (i, front) in fronts.iter().enumerate() {
                runs[i].push(wrk(front, path, WRK_SECONDS)?);
            }
        }
        let medians: Vec<Run> = runs.iter().map(|r| median_run(r)).collect();
        let by_name = |name: &str| {
            fronts
                .iter()
                .position(|f| f.name == name)
                .map(|i| medians[i])
        };
        let (caddy, nginx) = (by_name("Caddy"), by_name("nginx"));
        for (front, m) in fronts.iter().zip(&medians) {
            let ratio = |base: Option<Run>, f: fn(&Run) -> f64| {
                base.map_or("–".to_owned(), |b| format!("{:.2}×", f(m) / f(&b)))
            };
            writeln!(
                report,
                "| {path} | {} | {:.0} | {:.0} | {:.2} ms | {:.1} MiB | {} | {} | {} |",
                front.name,
                m.requests_per_sec,
                m.per_cpu_second,
                m.p99_micros / 1000.0,
                peak_rss_kib(front.running.0.id()) as f64 / 1024.0,
                ratio(caddy, |r| r.per_cpu_second),
                ratio(nginx, |r| r.per_cpu_second),
                ratio(nginx, |r| r.requests_per_sec),
            )?;
        }
    }
    Ok(())
}

fn median_run(runs: &[Run]) -> Run {
    let median = |f: fn(&Run) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Run {
        requests_per_sec: median(|r| r.requests_per_sec),
        per_cpu_second: median(|r| r.per_cpu_second),
        p99_micros: median(|r| r.p99_micros),
    }
}

/// One wrk run on core 1 against `front`, with the front's CPU time around it.
fn wrk(front: &Front, path: &str, seconds: u32) -> Result<Run> {
    let url = format!("https://127.0.0.1:{}{path}", front.port);
    let before = cpu_seconds(front.running.0.id());
    let out = Command::new("taskset")
        .args(["-c", "1", "wrk", "-t1"])
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{seconds}s"))
        .arg("--latency")
        .arg(&url)
        .output()
        .context("failed to run wrk")?;
    let cpu = cpu_seconds(front.running.0.id()) - before;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        bail!("{} answered with errors at {url}:\n{text}", front.name);
    }
    let figures = crate::bench::WrkFigures::parse(&text)?;
    Ok(Run {
        requests_per_sec: figures.requests_per_sec,
        per_cpu_second: if cpu > 0.0 {
            figures.requests / cpu
        } else {
            f64::NAN
        },
        p99_micros: figures.p99_micros,
    })
}

/// utime + stime of `pid` and its child processes (nginx's workers), in seconds.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let of = |pid: &str| -> f64 {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                // Fields after the command name, which is in parentheses.
                let rest = &s[s.rfind(')')? + 2..];
                let fields: Vec<&str> = rest.split_whitespace().collect();
                let utime: f64 = fields.get(11)?.parse().ok()?;
                let stime: f64 = fields.get(12)?.parse().ok()?;
                Some((utime + stime) / TICKS_PER_SECOND)
            })
            .unwrap_or(0.0)
    };
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    of(&pid.to_string()) + children.split_whitespace().map(of).sum::<f64>()
}

/// The release build, a certificate and a work directory.
struct Setup {
    actix: PathBuf,
    _work: tempfile::TempDir,
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Setup {
    fn new(root: &Path) -> Result<Self> {
        for tool in ["wrk", "taskset", "caddy"] {
            if !on_path(tool) {
                bail!(
                    "{tool} is not installed; on Debian: sudo apt-get install wrk util-linux caddy nginx-light"
                );
            }
        }
        build_release(root, &["actix-https"])?;
        let work = tempfile::Builder::new()
            .prefix("pki-bench-front-")
            .tempdir()?;
        let dir = work.path().to_path_buf();
        let ca = pki::Ca::generate(&pki::CaParams::new())?;
        let issued = ca.issue(&pki::CertParams::new(["localhost", "127.0.0.1"])?)?;
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        issued.write_pem(&cert, &key, None, pki::Overwrite::Replace)?;
        Ok(Setup {
            actix: root.join("target/release/actix-https"),
            _work: work,
            dir,
            cert,
            key,
        })
    }

    fn on_core_0(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "0"]).arg(program);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    }

    fn actix(&self, args: &[&str]) -> Result<Front> {
        let port = free_port()?;
        let child = self
            .on_core_0(&self.actix)
            .args(["--workers", "1", "--bind", &format!("127.0.0.1:{port}")])
            .arg("--cert")
            .arg(&self.cert)
            .arg("--key")
            .arg(&self.key)
            .args(args)
            .env("CAROOT", self.dir.join("unused-ca"))
            .spawn()
            .context("failed to start actix-https")?;
        Ok(Front {
            name: "actix-https",
            port,
            running: Running(child),
        })
    }

    fn caddy(&self, directives: &str) -> Result<Front> {
        let port = free_port()?;
        let home = self.dir.join(format!("caddy-{port}"));
        pki::fs::create_private_dir(&home)?;
        let config = home.join("Caddyfile");
        let text = format!(
            "{{\n  admin off\n  auto_https disable_redirects\n  storage file_system {home}\n  log {{\n    output discard\n  }}\n}}\n\
             https://127.0.0.1:{port} {{\n  tls {cert} {key}\n  {directives}\n}}\n",
            home = home.display(),
            cert = self.cert.display(),
            key = self.key.display(),
        );
        pki::fs::write_atomic(
            &config,
            text.as_bytes(),
            pki::fs::Secrecy::Public,
            pki::fs::Overwrite::Replace,
        )?;
        let child = self
            .on_core_0("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&config)
            .env("HOME", &home)
            .env("XDG_DATA_HOME", &home)
            .env("XDG_CONFIG_HOME", &home)
            .env("GOMAXPROCS", "1")
            .spawn()
            .context("failed to start caddy")?;
        Ok(Front {
            name: "Caddy",
            port,
            running: Running(child),
        })
    }

    /// nginx with `http_extra` in its `http` block and `locations` in its TLS server.
    fn nginx(&self, http_extra: &str, locations: &str) -> Result<Front> {
        let port = free_port()?;
        let http = format!(
            "ssl_protocols TLSv1.2 TLSv1.3;\n  ssl_session_cache shared:SSL:10m;\n  sendfile on;\n  {http_extra}\n  \
             server {{\n    listen 127.0.0.1:{port} ssl http2;\n    ssl_certificate {cert};\n    ssl_certificate_key {key};\n    {locations}\n  }}",
            cert = self.cert.display(),
            key = self.key.display(),
        );
        let mut on_core_0 = crate::bench::on_core(0);
        on_core_0.stdout(Stdio::null()).stderr(Stdio::null());
        let child = run_nginx(
            &mut on_core_0,
            &nginx_binary(),
            &self.dir.join(format!("nginx-{port}")),
            &http,
        )?;
        Ok(Front {
            name: "nginx",
            port,
            running: Running(child),
        })
    }

    /// nginx as a reverse proxy, as its docs configure one for an app:
    /// keep-alive to the upstream, the forwarding headers set.
    fn nginx_proxy(&self, upstream: u16) -> Result<Front> {
        self.nginx(
            &format!("upstream app {{ server 127.0.0.1:{upstream}; keepalive 32; }}"),
            "location / {\n  proxy_pass http://app;\n  proxy_http_version 1.1;\n  proxy_set_header Connection \"\";\n  \
             proxy_set_header Host $http_host;\n  proxy_set_header X-Forwarded-For $remote_addr;\n  \
             proxy_set_header X-Forwarded-Proto https;\n  proxy_set_header X-Forwarded-Host $http_host;\n  \
             proxy_set_header X-Forwarded-Port $server_port;\n  proxy_buffering off;\n}\n",
        )
    }

    fn nginx_static(&self, site: &Path) -> Result<Front> {
        self.nginx("", &format!("root {};", site.display()))
    }

    fn local_ssl_proxy(&self, bin: &Path, upstream: u16) -> Result<Front> {
        let port = free_port()?;
        let child = self
            .on_core_0("node")
            .arg(bin)
            .args(["--hostname", "127.0.0.1", "--source"])
            .arg(port.to_string())
            .arg("--target")
            .arg(upstream.to_string())
            .arg("--cert")
            .arg(&self.cert)
            .arg("--key")
            .arg(&self.key)
            .spawn()
            .context("failed to start local-ssl-proxy")?;
        Ok(Front {
            name: "local-ssl-proxy",
            port,
            running: Running(child),
        })
    }
}

/// The upstream app: nginx answering `ok` over plain HTTP, on core 1.
fn start_upstream(dir: &Path, port: u16) -> Result<Child> {
    let mut on_core_1 = crate::bench::on_core(1);
    on_core_1.stdout(Stdio::null()).stderr(Stdio::null());
    run_nginx(
        &mut on_core_1,
        &nginx_binary(),
        &dir.join("upstream"),
        &format!(
            "server {{ listen 127.0.0.1:{port}; location / {{ default_type text/plain; return 200 \"ok\\n\"; }} }}"
        ),
    )
    .context("failed to start the upstream nginx")
}
