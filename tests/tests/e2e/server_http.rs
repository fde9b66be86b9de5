//! The `actix-https` binary's HTTP side: plain HTTP, HSTS and the redirect
//! from HTTP to HTTPS, HEAD, the request log, and a graceful stop on
//! SIGTERM and SIGINT.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use e2e::{ActixHttps, READY, ca_cert, curl_to, field, get, url, whoami};
use e2e::{Server, TestCommand, curl, free_port, require_tools, tempdir};

use crate::server::{HTTP_PAGE, HTTPS_PAGE, start, tools};

// ---------------------------------------------------------------------------
// 9. Plain HTTP
// ---------------------------------------------------------------------------

#[test]
fn http_flag_serves_plain_http_without_tls() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let server = start(d, &["--http", "--hsts"]);
    let port = server.port();
    server.assert_log_contains(&format!(
        "Serving http://localhost:{port}/ (listening on 127.0.0.1:{port})"
    ));
    server.assert_log_contains("plain HTTP: nothing is encrypted");
    assert!(!d.join("ca").exists(), "--http made a CA\n{}", server.log());

    let base = format!("http://127.0.0.1:{port}");
    let page = curl().arg("--fail").arg(format!("{base}/")).output();
    assert!(page.status.success(), "{page}");
    page.assert_stdout_contains(HTTP_PAGE)
        .assert_stdout_lacks(HTTPS_PAGE);
    let json = whoami(&curl().arg("--fail").arg(format!("{base}/whoami")).output());
    for key in ["version", "cipher", "alpn", "sni", "client_certificate"] {
        assert_eq!(field(&json, key), "null", "{key} over plain HTTP");
    }
    // No HSTS over plain HTTP (RFC 6797 §7.2), even when asked for.
    let headers = curl()
        .args(["--fail", "--dump-header", "-", "--output", "/dev/null"])
        .arg(format!("{base}/"))
        .output();
    assert!(headers.status.success(), "{headers}");
    assert!(
        !headers
            .stdout
            .to_ascii_lowercase()
            .contains("strict-transport-security"),
        "{headers}"
    );
    // A TLS client gets no TLS.
    curl()
        .arg(format!("https://127.0.0.1:{port}/"))
        .output()
        .assert_code(35)
        .assert_stderr_contains("wrong version number");
}

// ---------------------------------------------------------------------------
// 10. HSTS and the HTTP redirect
// ---------------------------------------------------------------------------

/// The response headers of a GET, lowercased.
pub(crate) fn headers(server: &Server, ca: &Path, path: &str) -> String {
    let out = get(
        server,
        ca,
        path,
        &["--dump-header", "-", "--output", "/dev/null"],
    );
    assert!(out.status.success(), "{out}");
    out.stdout.to_ascii_lowercase()
}

#[test]
fn hsts_is_sent_only_when_asked_for() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let ca = ca_cert(d);
    {
        let server = start(d, &[]);
        let h = headers(&server, &ca, "/");
        assert!(!h.contains("strict-transport-security"), "{h}");
    }
    let server = start(d, &["--hsts"]);
    for path in ["/", "/whoami"] {
        let h = headers(&server, &ca, path);
        assert!(
            h.contains("strict-transport-security: max-age=63072000; includesubdomains"),
            "{path}: {h}"
        );
    }
}

#[test]
fn redirect_http_sends_plain_http_clients_to_https() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let plain = free_port();
    let plain_arg = plain.to_string();
    let server = start(d, &["--redirect-http", &plain_arg, "--hsts"]);
    let port = server.port();
    let ca = ca_cert(d);
    server.assert_log_contains(&format!("plain HTTP on port {plain} redirects here"));

    let head = curl()
        .arg("-I")
        .arg(format!("http://127.0.0.1:{plain}/whoami"))
        .output();
    assert!(head.status.success(), "{head}");
    head.assert_stdout_contains("HTTP/1.1 308");
    let lower = head.stdout.to_ascii_lowercase();
    assert!(
        lower.contains(&format!("location: https://127.0.0.1:{port}/whoami\r\n")),
        "{head}"
    );
    // No HSTS on the plain-HTTP answer (RFC 6797 §7.2).
    assert!(!lower.contains("strict-transport-security"), "{head}");

    // The query survives, and GET is redirected the same way.
    let out = curl()
        .args(["--write-out", "%{http_code} %{redirect_url}"])
        .arg(format!("http://127.0.0.1:{plain}/whoami?a=1&b=2"))
        .output();
    out.assert_stdout_contains(&format!("308 https://127.0.0.1:{port}/whoami?a=1&b=2"));

    // A client's X-Forwarded-Host or Forwarded cannot send the redirect
    // elsewhere (an open redirect): the Host it connected with counts.
    let out = curl()
        .args(["--write-out", "%{redirect_url}"])
        .args([
            "-H",
            "X-Forwarded-Host: evil.test",
            "-H",
            "Forwarded: host=evil.test",
        ])
        .arg(format!("http://127.0.0.1:{plain}/whoami"))
        .output();
    assert_eq!(
        out.stdout,
        format!("https://127.0.0.1:{port}/whoami"),
        "{out}"
    );

    // Following it lands on HTTPS.
    let followed = curl_to(&server, &ca)
        .arg("--resolve")
        .arg(format!("localhost:{plain}:127.0.0.1"))
        .args(["--fail", "--location"])
        .arg(format!("http://localhost:{plain}/whoami"))
        .output();
    let json = whoami(&followed);
    assert_eq!(field(&json, "version"), "\"TLSv1.3\"");
    assert_eq!(field(&json, "sni"), "\"localhost\"");

    // The HTTPS port itself is not redirected.
    let page = get(&server, &ca, "/", &[]);
    assert!(page.status.success(), "{page}");
    page.assert_stdout_contains(HTTPS_PAGE);
}

/// RFC 9110 §9.1: "All general-purpose servers MUST support the methods GET
/// and HEAD." `curl -I` is the usual way to look at a server's headers.
#[test]
fn head_requests_are_answered_like_get() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let server = start(dir.path(), &["--hsts"]);
    let ca = ca_cert(dir.path());
    for path in ["/", "/whoami"] {
        let out = curl_to(&server, &ca)
            .arg("-I")
            .arg(url(&server, path))
            .output();
        assert!(out.status.success(), "{out}");
        out.assert_stdout_contains("HTTP/2 200");
        assert!(
            out.stdout
                .to_ascii_lowercase()
                .contains("strict-transport-security"),
            "{out}"
        );
    }
}

// ---------------------------------------------------------------------------
// 11. Request log
// ---------------------------------------------------------------------------

#[test]
fn log_flag_prints_one_line_per_request() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let ca = ca_cert(d);
    let server = start(d, &["--log"]);
    assert!(
        get(&server, &ca, "/whoami", &["--http1.1"])
            .status
            .success()
    );
    assert!(get(&server, &ca, "/", &[]).status.success());
    get(&server, &ca, "/missing?x=1", &["--http1.1"]).assert_code(22);
    server.assert_log_contains("\"GET /whoami HTTP/1.1\" 200 ");
    server.assert_log_contains("\"GET / HTTP/2.0\" 200 ");
    server.assert_log_contains("\"GET /missing HTTP/1.1\" 404 ");
    let log = server.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("\"GET ")).collect();
    assert_eq!(lines.len(), 3, "one line per request\n{log}");
    for line in lines {
        assert!(line.starts_with("127.0.0.1:"), "no client address: {line}");
        assert!(line.ends_with("ms"), "no time: {line}");
    }
    drop(server);

    // Without --log, requests print nothing.
    let server = start(d, &[]);
    assert!(get(&server, &ca, "/whoami", &[]).status.success());
    thread::sleep(Duration::from_millis(200));
    let log = server.log();
    assert!(!log.contains("\"GET "), "{log}");
}

// ---------------------------------------------------------------------------
// 12. Graceful shutdown
// ---------------------------------------------------------------------------

/// actix-https started directly (the harness's [`Server`] does not give out
/// its pid), killed when dropped.
struct Direct {
    child: Child,
    log: PathBuf,
    port: u16,
    _logs: tempfile::TempDir,
}

impl Direct {
    fn start(dir: &Path, args: &[&str]) -> Direct {
        let server = ActixHttps::new(dir).args(args);
        for _ in 0..3 {
            let port = free_port();
            let logs = tempdir();
            let log = logs.path().join("server.log");
            let file = fs::OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&log)
                .unwrap_or_else(|e| panic!("failed to create {}: {e}", log.display()));
            let file2 = file.try_clone().expect("failed to share the log file");
            let child = server
                .command(SocketAddr::from(([127, 0, 0, 1], port)))
                .stdin(Stdio::null())
                .stdout(Stdio::from(file))
                .stderr(Stdio::from(file2))
                .spawn()
                .unwrap();
            let mut direct = Direct {
                child,
                log,
                port,
                _logs: logs,
            };
            let deadline = Instant::now() + e2e::SERVER_START_TIMEOUT;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            loop {
                if let Ok(Some(status)) = direct.child.try_wait() {
                    let log = direct.log();
                    assert!(log.contains("in use"), "exited with {status}\n{log}");
                    break;
                }
                if direct.log().contains(READY)
                    && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                {
                    return direct;
                }
                assert!(Instant::now() < deadline, "did not start\n{}", direct.log());
                thread::sleep(Duration::from_millis(25));
            }
        }
        panic!("actix-https found no free port in three attempts");
    }

    fn log(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits at most `limit` for the process to end.
    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(25));
        }
        None
    }
}

impl Drop for Direct {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sigterm_and_sigint_stop_the_server_gracefully() {
    if !require_tools(&["curl", "kill"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    for signal in ["-TERM", "-INT"] {
        let mut server = Direct::start(d, &["--log"]);
        let page = curl()
            .arg("--fail")
            .arg("--cacert")
            .arg(ca_cert(d))
            .arg(format!("https://127.0.0.1:{}/", server.port))
            .output();
        assert!(page.status.success(), "{page}");
        TestCommand::new("kill")
            .arg(signal)
            .arg(server.child.id().to_string())
            .assert_success();
        let status = server.wait(Duration::from_secs(8));
        let log = server.log();
        let status =
            status.unwrap_or_else(|| panic!("still running 8 s after kill {signal}\n{log}"));
        assert!(
            status.success(),
            "kill {signal}: exited with {status}\n{log}"
        );
        assert!(
            log.lines().any(|l| l == "stopped"),
            "kill {signal}: no \"stopped\" line\n{log}"
        );
        assert!(!log.contains("error"), "kill {signal}\n{log}");
        // The port is free again.
        assert!(
            TcpStream::connect_timeout(
                &SocketAddr::from(([127, 0, 0, 1], server.port)),
                Duration::from_millis(500)
            )
            .is_err(),
            "still accepting connections after kill {signal}"
        );
    }
}
