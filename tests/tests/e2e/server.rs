//! The `actix-https` server binary, judged from outside by clients we did
//! not write: `curl` (HTTP/1.1 and HTTP/2), `openssl s_client` (protocol
//! versions, session resumption, client certificates) and Python's `ssl`.
//! Every server runs on loopback with its CA in a temporary `CAROOT`, so no
//! test touches the user's CA; every refusal is checked for its exit code
//! and the words the client reports.

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use e2e::{
    Output, Server, TestCommand, TestResult, curl, fixture, free_port, openssl, openssl_date,
    openssl_fingerprint, openssl_name, pki, python, read_file, read_text, require_tools, tempdir,
    workspace_bin,
};
use pki::ca::CA_CERT_FILE;
use pki::{Ca, CertParams, Profile};
use pki_fixtures::Family;

/// What the index page says over TLS.
const HTTPS_PAGE: &str = "This page is served over HTTPS.";

/// What the index page says without TLS.
const HTTP_PAGE: &str = "This page is served over plain HTTP (no TLS).";

/// The line the server prints once it listens.
pub(crate) const READY: &str = "Serving ";

/// An HTTP/1.1 request for `/whoami` that asks the server to close the
/// connection afterwards, for `openssl s_client -ign_eof`.
const WHOAMI_REQUEST: &str = "GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// Prints a JSON document from stdin flattened, one `path<TAB>json value`
/// per line (`client_certificate.subject\t"O=…"`), so the tests can read
/// `/whoami` without a JSON library of their own.
const PY_FLATTEN_JSON: &str = r#"
import json, sys
def walk(path, value):
    if isinstance(value, dict) and value:
        for k, v in value.items():
            walk(f"{path}.{k}" if path else k, v)
    else:
        print(f"{path}\t{json.dumps(value)}")
walk("", json.load(sys.stdin))
"#;

/// A Python client with the default (verifying) context trusting only
/// `cafile`, connecting to 127.0.0.1:port as `host` (SNI and hostname
/// check). It prints the TLS version, ALPN and the response, or the
/// verification error and exits with 3.
const PY_CLIENT: &str = r#"
import socket, ssl, sys
cafile, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=cafile)
assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
ctx.set_alpn_protocols(["http/1.1"])
try:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname=host) as tls:
            print("version:", tls.version())
            print("alpn:", tls.selected_alpn_protocol())
            tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            body = b""
            while chunk := tls.recv(65536):
                body += chunk
            print(body.decode())
except ssl.SSLCertVerificationError as e:
    print(f"SSLCertVerificationError: {e.verify_message}", file=sys.stderr)
    sys.exit(3)
"#;

/// Every tool these tests call.
pub(crate) fn tools() -> bool {
    require_tools(&["curl", "openssl", "python3"])
}

/// `actix-https --bind 127.0.0.1:PORT --workers 1 args…`, run in `dir` with
/// `CAROOT=dir/ca`.
pub(crate) fn start(dir: &Path, args: &[&str]) -> Server {
    start_with_env(dir, args, &[])
}

/// [`start`] with extra environment variables.
pub(crate) fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    let bin = workspace_bin("actix-https", "actix-https");
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Server::start(
        "actix-https",
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        READY,
        move |port| server_command(&bin, &dir, port, &args, &env),
    )
}

/// The command [`start`] runs, with no `ACTIX_HTTPS_*` variable from the
/// caller's environment.
pub(crate) fn server_command(
    bin: &Path,
    dir: &Path,
    port: u16,
    args: &[String],
    env: &[(String, String)],
) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .arg("--bind")
        .arg(format!("127.0.0.1:{port}"))
        .args(["--workers", "1"])
        .args(args)
        .env("CAROOT", dir.join("ca"))
        .env_remove("XDG_DATA_HOME");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ACTIX_HTTPS_") {
            cmd.env_remove(key);
        }
    }
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd
}

/// The local CA certificate in `dir`'s `CAROOT`.
pub(crate) fn ca_cert(dir: &Path) -> PathBuf {
    dir.join("ca").join(CA_CERT_FILE)
}

/// The zero-config certificate file in `dir`'s `CAROOT`.
fn local_cert(dir: &Path) -> PathBuf {
    dir.join("ca").join("actix-https").join("localhost.pem")
}

/// `https://localhost:PORT<path>`.
pub(crate) fn url(server: &Server, path: &str) -> String {
    format!("https://localhost:{}{path}", server.port())
}

/// `curl` that resolves localhost to 127.0.0.1 for the server's port (the
/// server listens only there) and trusts `ca`.
pub(crate) fn curl_to(server: &Server, ca: &Path) -> TestCommand {
    let mut cmd = curl();
    cmd.arg("--resolve")
        .arg(format!("localhost:{}:127.0.0.1", server.port()))
        .arg("--cacert")
        .arg(ca);
    cmd
}

/// `curl --fail` GET of `path`, trusting `ca`, with `extra` options.
pub(crate) fn get(server: &Server, ca: &Path, path: &str, extra: &[&str]) -> Output {
    curl_to(server, ca)
        .arg("--fail")
        .args(extra)
        .arg(url(server, path))
        .output()
}

/// `/whoami` as flattened JSON: `version`, `alpn`, `sni`, `resumed`,
/// `client_certificate` (`null`) or `client_certificate.subject`, … with
/// JSON values (`"h2"`, `null`, `true`).
pub(crate) fn whoami(out: &Output) -> BTreeMap<String, String> {
    assert!(out.status.success(), "/whoami failed\n{out}");
    let flat = python(PY_FLATTEN_JSON, [""; 0])
        .stdin(out.stdout.clone())
        .assert_success();
    flat.stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// One field of [`whoami`], failing with the whole document if absent.
pub(crate) fn field<'a>(json: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    json.get(key)
        .unwrap_or_else(|| panic!("/whoami has no {key}: {json:#?}"))
}

/// `openssl s_client -connect 127.0.0.1:PORT args…` with empty stdin: it
/// handshakes, prints the session and quits.
pub(crate) fn s_client(server: &Server, args: &[&str]) -> Output {
    openssl(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{}", server.port()))
        .args(args)
        .output()
}

/// `openssl s_client … -ign_eof` sending a `/whoami` request and reading
/// until the server closes: TLS 1.3 alerts and tickets arrive after the
/// handshake, so only a client that waits sees them.
pub(crate) fn s_client_whoami(server: &Server, args: &[&str]) -> Output {
    openssl(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{}", server.port()))
        .args(args)
        .arg("-ign_eof")
        .stdin(WHOAMI_REQUEST)
        .output()
}

/// A certificate's serial as `openssl x509 -serial` prints it, without
/// leading zeros.
fn openssl_serial(path: &Path) -> String {
    let out = openssl(["x509", "-noout", "-serial", "-in"])
        .arg(path)
        .assert_success();
    out.stdout
        .trim()
        .strip_prefix("serial=")
        .unwrap_or_else(|| panic!("no serial\n{out}"))
        .trim_start_matches('0')
        .to_uppercase()
}

pub(crate) fn path_str(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("not UTF-8: {}", path.display()))
}

// ---------------------------------------------------------------------------
// 1. Zero config
// ---------------------------------------------------------------------------

#[test]
fn zero_config_creates_ca_and_certificate_and_says_how_to_connect() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let server = start(d, &[]);
    let port = server.port();
    let ca = ca_cert(d);
    let cert = local_cert(d);
    assert!(ca.is_file(), "no CA at {}\n{}", ca.display(), server.log());
    assert!(d.join("ca/rootCA-key.pem").is_file());
    assert!(cert.is_file(), "no certificate at {}", cert.display());
    assert!(d.join("ca/actix-https/localhost-key.pem").is_file());

    // The certificate is the local CA's, for the three loopback names.
    openssl(["verify", "-purpose", "sslserver", "-CAfile"])
        .arg(&ca)
        .arg(&cert)
        .assert_success()
        .assert_stdout_contains(": OK");
    let text = e2e::x509_text(&cert);
    let san = e2e::extension(&text, "Subject Alternative Name").expect("no SAN");
    assert_eq!(
        san.value,
        "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
    );

    // The banner: URL, names, expiry, CA, trust, a curl line.
    server.assert_log_contains("Press Ctrl-C to stop.");
    let log = server.log();
    let expires = openssl_date(&cert, "enddate");
    for needle in [
        format!("Serving https://localhost:{port}/ (listening on 127.0.0.1:{port})"),
        format!("certificate: localhost, 127.0.0.1, ::1 (expires {expires})"),
        format!("certificate: {} (issued now: none yet)", cert.display()),
        format!("CA: {}, created just now", ca.display()),
        "the CA is not trusted by this system yet; to trust it: pki trust install (in this repository: cargo run -p pki-cli -- trust install)".to_owned(),
        format!(
            "try: curl --cacert '{}' https://localhost:{port}/",
            ca.display()
        ),
    ] {
        assert!(log.contains(&needle), "banner lacks {needle:?}\n{log}");
    }

    // The printed curl line works (localhost pinned to where it listens).
    let page = get(&server, &ca, "/", &[]);
    assert!(page.status.success(), "{page}");
    page.assert_stdout_contains(HTTPS_PAGE)
        .assert_stdout_contains("<th>TLS version</th><td>TLSv1.3</td>")
        .assert_stdout_contains("no verified client certificate");

    let json = whoami(&get(&server, &ca, "/whoami", &[]));
    assert_eq!(field(&json, "version"), "\"TLSv1.3\"");
    assert_eq!(field(&json, "alpn"), "\"h2\"");
    assert_eq!(field(&json, "sni"), "\"localhost\"");
    assert_eq!(field(&json, "resumed"), "false");
    assert_eq!(field(&json, "client_certificate"), "null");
    assert!(
        field(&json, "cipher").starts_with("\"TLS_"),
        "cipher {json:?}"
    );

    // By IP address too (no SNI then).
    let by_ip = curl()
        .arg("--cacert")
        .arg(&ca)
        .arg(format!("https://127.0.0.1:{port}/whoami"))
        .output();
    assert_eq!(field(&whoami(&by_ip), "sni"), "null");

    // A client that does not trust the CA refuses the server.
    let untrusting = curl()
        .arg("--resolve")
        .arg(format!("localhost:{port}:127.0.0.1"))
        .arg(url(&server, "/"))
        .output();
    untrusting
        .assert_code(60)
        .assert_stderr_contains("SSL certificate problem: unable to get local issuer certificate")
        .assert_stdout_lacks(HTTPS_PAGE);
}

#[test]
fn zero_config_reuses_its_certificate_and_reissues_when_gone_or_ca_replaced() -> TestResult {
    if !tools() {
        return Ok(());
    }
    let dir = tempdir();
    let d = dir.path();
    let cert = local_cert(d);
    let first = {
        let server = start(d, &[]);
        server.assert_log_contains("(issued now: none yet)");
        read_file(&cert)
    };
    let first_serial = openssl_serial(&cert);

    // A restart serves the very same file.
    {
        let server = start(d, &[]);
        server.assert_log_contains(&format!("certificate: {} (reused)", cert.display()));
        let log = server.log();
        assert!(!log.contains("created just now"), "{log}");
        assert!(!log.contains("issued now"), "{log}");
        assert_eq!(
            read_file(&cert),
            first,
            "the certificate changed on restart"
        );
        // And it is what the server presents.
        let shown = s_client(&server, &["-servername", "localhost", "-showcerts"]);
        let served = e2e::pem_blocks(&shown.stdout, "CERTIFICATE");
        assert_eq!(
            served.first().map(String::as_bytes),
            e2e::pem_blocks(&read_text(&cert), "CERTIFICATE")
                .first()
                .map(String::as_bytes),
            "the server presents another certificate\n{shown}"
        );
    }

    // Deleted: issued again, with a new serial.
    fs::remove_file(&cert)?;
    {
        let server = start(d, &[]);
        server.assert_log_contains(&format!(
            "certificate: {} (issued now: none yet)",
            cert.display()
        ));
        assert_ne!(openssl_serial(&cert), first_serial);
        assert!(get(&server, &ca_cert(d), "/", &[]).status.success());
    }
    let second = read_file(&cert);
    assert_ne!(second, first);

    // The CA replaced (by `pki ca create` after the old one was moved
    // away): the old certificate is from another CA, so a new one is issued
    // and clients trusting the new CA accept it, clients of the old one not.
    let old_ca = d.join("old-rootCA.pem");
    fs::rename(ca_cert(d), &old_ca)?;
    fs::rename(d.join("ca/rootCA-key.pem"), d.join("old-rootCA-key.pem"))?;
    pki(d).args(["ca", "create"]).output().assert_code(0);
    {
        let server = start(d, &[]);
        server.assert_log_contains(&format!(
            "certificate: {} (issued now: the old one is from another CA)",
            cert.display()
        ));
        let log = server.log();
        assert!(!log.contains("created just now"), "{log}");
        assert_ne!(read_file(&cert), second);
        let ok = get(&server, &ca_cert(d), "/", &[]);
        assert!(ok.status.success(), "{ok}");
        ok.assert_stdout_contains(HTTPS_PAGE);
        get(&server, &old_ca, "/", &[])
            .assert_code(60)
            .assert_stderr_contains("SSL certificate problem");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// 2. ALPN
// ---------------------------------------------------------------------------

#[test]
fn alpn_settles_on_http11_or_h2_as_the_client_asks() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let server = start(d, &["--log"]);
    let ca = ca_cert(d);
    for (flag, alpn, version) in [
        ("--http1.1", "\"http/1.1\"", "HTTP/1.1"),
        ("--http2", "\"h2\"", "HTTP/2.0"),
    ] {
        let json = whoami(&get(&server, &ca, "/whoami", &[flag]));
        assert_eq!(field(&json, "alpn"), alpn, "with curl {flag}");
        server.assert_log_contains(&format!("\"GET /whoami {version}\" 200"));
    }
    // openssl asking for ALPN explicitly.
    for proto in ["h2", "http/1.1"] {
        s_client(&server, &["-alpn", proto])
            .assert_stdout_contains(&format!("ALPN protocol: {proto}"));
    }
    // A client offering no protocol the server speaks gets no ALPN, not a failure.
    s_client(&server, &["-alpn", "spdy/3"]).assert_stdout_contains("No ALPN negotiated");
}

// ---------------------------------------------------------------------------
// 3. Protocol versions
// ---------------------------------------------------------------------------

/// Asserts that `s_client -<version>` was refused by the server with a
/// protocol_version alert and established no session. The client is told
/// to allow the old protocol (`@SECLEVEL=0`), so the refusal is the server's.
fn assert_version_refused(server: &Server, version: &str) {
    let out = s_client(server, &[version, "-cipher", "DEFAULT:@SECLEVEL=0"]);
    out.assert_code(1)
        .assert_output_contains("alert protocol version")
        .assert_stdout_contains("Cipher is (NONE)")
        .assert_stdout_lacks("Server certificate");
    assert!(
        !out.stdout.contains(", TLSv1"),
        "a TLS session was established with {version}\n{out}"
    );
}

/// Asserts that `s_client -<version>` completes a verified handshake.
fn assert_version_accepted(server: &Server, ca: &Path, version: &str, protocol: &str) {
    let out = s_client(
        server,
        &[version, "-servername", "localhost", "-CAfile", path_str(ca)],
    );
    out.assert_code(0)
        .assert_stdout_contains(&format!("New, {protocol}, Cipher is "))
        .assert_stdout_contains("Verify return code: 0 (ok)");
}

#[test]
fn intermediate_profile_refuses_tls10_and_tls11_and_accepts_tls12_and_tls13() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let server = start(dir.path(), &[]);
    let ca = ca_cert(dir.path());
    assert_version_refused(&server, "-tls1");
    assert_version_refused(&server, "-tls1_1");
    assert_version_accepted(&server, &ca, "-tls1_2", "TLSv1.2");
    assert_version_accepted(&server, &ca, "-tls1_3", "TLSv1.3");
    // curl limited to TLS 1.1 is refused the same way.
    let out = curl_to(&server, &ca)
        .args([
            "--tlsv1.0",
            "--tls-max",
            "1.1",
            "--ciphers",
            "DEFAULT:@SECLEVEL=0",
        ])
        .arg(url(&server, "/"))
        .output();
    out.assert_code(35)
        .assert_stderr_contains("alert protocol version")
        .assert_stdout_lacks(HTTPS_PAGE);
    // …and TLS 1.2 over curl works, forward secret.
    let json = whoami(&get(&server, &ca, "/whoami", &["--tls-max", "1.2"]));
    assert_eq!(field(&json, "version"), "\"TLSv1.2\"");
    assert!(field(&json, "cipher").starts_with("\"ECDHE-"), "{json:?}");
}

#[test]
fn modern_profile_accepts_only_tls13() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let server = start(dir.path(), &["--tls-profile", "modern"]);
    let ca = ca_cert(dir.path());
    assert_version_refused(&server, "-tls1_1");
    assert_version_refused(&server, "-tls1_2");
    assert_version_accepted(&server, &ca, "-tls1_3", "TLSv1.3");
    get(&server, &ca, "/whoami", &["--tls-max", "1.2"])
        .assert_code(35)
        .assert_stderr_contains("alert protocol version");
    let json = whoami(&get(&server, &ca, "/whoami", &[]));
    assert_eq!(field(&json, "version"), "\"TLSv1.3\"");
}

#[test]
fn tls_profile_and_hsts_come_from_the_environment_too() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let server = start_with_env(
        dir.path(),
        &[],
        &[
            ("ACTIX_HTTPS_TLS_PROFILE", "modern"),
            ("ACTIX_HTTPS_HSTS", "true"),
        ],
    );
    let ca = ca_cert(dir.path());
    assert_version_refused(&server, "-tls1_2");
    let out = get(
        &server,
        &ca,
        "/",
        &["--dump-header", "-", "--output", "/dev/null"],
    );
    assert!(
        out.stdout
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age=63072000"),
        "{out}"
    );
}

// ---------------------------------------------------------------------------
// 4. Session resumption
// ---------------------------------------------------------------------------

/// Connects twice with `version`, saving the session the first time and
/// offering it the second; returns both sessions' output.
pub(crate) fn resume(
    server: &Server,
    ca: &Path,
    version: &str,
    extra: &[&str],
) -> (Output, Output) {
    let tmp = tempdir();
    let sess = tmp.path().join("session.pem");
    let base = |flag: &str| -> Vec<String> {
        let mut args: Vec<String> = [version, "-servername", "localhost", "-CAfile"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        args.push(path_str(ca).to_owned());
        args.push(flag.to_owned());
        args.push(path_str(&sess).to_owned());
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };
    let first_args = base("-sess_out");
    let first = s_client_whoami(
        server,
        &first_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(first.status.success(), "{first}");
    assert!(sess.is_file(), "no session was saved\n{first}");
    let second_args = base("-sess_in");
    let second = s_client_whoami(
        server,
        &second_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(second.status.success(), "{second}");
    (first, second)
}

#[test]
fn sessions_resume_over_tls12_and_tls13() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let server = start(dir.path(), &[]);
    let ca = ca_cert(dir.path());
    for (version, protocol) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let (first, second) = resume(&server, &ca, version, &[]);
        first
            .assert_stdout_contains(&format!("New, {protocol}"))
            .assert_stdout_contains("\"resumed\":false");
        second
            .assert_stdout_contains(&format!("Reused, {protocol}"))
            .assert_stdout_contains("\"resumed\":true");
    }
}

// ---------------------------------------------------------------------------
// 5. Python ssl
// ---------------------------------------------------------------------------

#[test]
fn python_default_context_accepts_localhost_and_refuses_another_name() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let server = start(dir.path(), &[]);
    let ca = ca_cert(dir.path());
    let port = server.port().to_string();
    let out = python(PY_CLIENT, [path_str(&ca), "localhost", &port]).output();
    assert!(out.status.success(), "{out}");
    out.assert_stdout_contains("version: TLSv1.3")
        .assert_stdout_contains("alpn: http/1.1")
        .assert_stdout_contains("HTTP/1.1 200 OK")
        .assert_stdout_contains(HTTPS_PAGE)
        .assert_stdout_contains("<th>server name (SNI)</th><td>localhost</td>");

    let out = python(PY_CLIENT, [path_str(&ca), "elsewhere.test", &port]).output();
    out.assert_code(3)
        .assert_stderr_contains("SSLCertVerificationError: Hostname mismatch")
        .assert_stderr_contains("'elsewhere.test'")
        .assert_stdout_lacks(HTTPS_PAGE);

    // A Python client trusting another CA refuses the server.
    let other = fixture(Family::Ecdsa, "ca.pem");
    python(PY_CLIENT, [path_str(&other), "localhost", &port])
        .output()
        .assert_code(3)
        .assert_stderr_contains("SSLCertVerificationError: unable to get local issuer certificate");
}

// ---------------------------------------------------------------------------
// 6. --cert / --key
// ---------------------------------------------------------------------------

#[test]
fn cert_and_key_files_are_served_and_no_ca_is_made() {
    if !tools() {
        return;
    }
    for family in Family::ALL {
        let dir = tempdir();
        let d = dir.path();
        let cert = fixture(family, "server.pem");
        let server = start(
            d,
            &[
                "--cert",
                path_str(&cert),
                "--key",
                path_str(&fixture(family, "server-key.pem")),
            ],
        );
        let ca = fixture(family, "ca.pem");
        server.assert_log_contains(&format!(
            "certificate: localhost, 127.0.0.1, ::1 (expires {})",
            openssl_date(&cert, "enddate")
        ));
        assert!(
            !d.join("ca").exists(),
            "--cert made a CA in CAROOT\n{}",
            server.log()
        );
        let page = get(&server, &ca, "/", &[]);
        assert!(page.status.success(), "{page}");
        page.assert_stdout_contains(HTTPS_PAGE);
        let shown = s_client(
            &server,
            &[
                "-servername",
                "localhost",
                "-showcerts",
                "-CAfile",
                path_str(&ca),
            ],
        );
        shown.assert_stdout_contains("Verify return code: 0 (ok)");
        assert_eq!(
            e2e::pem_blocks(&shown.stdout, "CERTIFICATE"),
            e2e::pem_blocks(&read_text(&cert), "CERTIFICATE"),
            "{family:?}: the server should send just its leaf\n{shown}"
        );
    }
}

#[test]
fn cert_chain_file_sends_the_intermediate() {
    if !tools() {
        return;
    }
    for family in Family::ALL {
        let dir = tempdir();
        let chain = fixture(family, "server-chain.pem");
        let server = start(
            dir.path(),
            &[
                "--cert",
                path_str(&chain),
                "--key",
                path_str(&fixture(family, "server-chain-key.pem")),
            ],
        );
        let ca = fixture(family, "ca.pem");
        let shown = s_client(
            &server,
            &[
                "-servername",
                "localhost",
                "-showcerts",
                "-CAfile",
                path_str(&ca),
            ],
        );
        shown.assert_stdout_contains("Verify return code: 0 (ok)");
        let sent = e2e::pem_blocks(&shown.stdout, "CERTIFICATE");
        assert_eq!(
            sent,
            e2e::pem_blocks(&read_text(&chain), "CERTIFICATE"),
            "{family:?}: the server should send leaf + intermediate\n{shown}"
        );
        assert_eq!(sent.len(), 2);
        shown.assert_stdout_contains("CN = pki fixture intermediate CA");
        // curl trusting only the root reaches the page through the intermediate.
        let page = get(&server, &ca, "/", &[]);
        assert!(page.status.success(), "{family:?}\n{page}");
        page.assert_stdout_contains(HTTPS_PAGE);
    }
}

// ---------------------------------------------------------------------------
// 7, 8. Mutual TLS
// ---------------------------------------------------------------------------

/// How a refused client certificate shows up.
pub(crate) struct Refusal {
    /// How `curl --tls-max 1.2` exits.
    pub(crate) tls12_code: i32,
    /// What it prints (the alert in the handshake, in curl's words).
    pub(crate) tls12_alert: &'static str,
    /// What `openssl s_client -tls1_3` prints once it reads the alert.
    pub(crate) tls13_alert: &'static str,
}

const NO_CERT: Refusal = Refusal {
    tls12_code: 35,
    tls12_alert: "alert handshake failure",
    tls13_alert: "alert certificate required",
};
const UNKNOWN_CA: Refusal = Refusal {
    tls12_code: 35,
    tls12_alert: "alert unknown ca",
    tls13_alert: "alert unknown ca",
};
pub(crate) const REVOKED: Refusal = Refusal {
    tls12_code: 35,
    tls12_alert: "alert certificate revoked",
    tls13_alert: "alert certificate revoked",
};
/// curl reads the certificate_expired alert as if the *server's*
/// certificate had failed verification (exit 60), a curl quirk: the alert
/// itself is checked with s_client.
const EXPIRED: Refusal = Refusal {
    tls12_code: 60,
    tls12_alert: "SSL certificate verification failed",
    tls13_alert: "alert certificate expired",
};

/// Client certificate options for curl and s_client: none, or cert + key.
pub(crate) fn curl_identity(identity: Option<(&Path, &Path)>) -> Vec<String> {
    match identity {
        None => Vec::new(),
        Some((cert, key)) => vec![
            "--cert".to_owned(),
            path_str(cert).to_owned(),
            "--key".to_owned(),
            path_str(key).to_owned(),
        ],
    }
}

pub(crate) fn s_client_identity(identity: Option<(&Path, &Path)>) -> Vec<String> {
    match identity {
        None => Vec::new(),
        Some((cert, key)) => vec![
            "-cert".to_owned(),
            path_str(cert).to_owned(),
            "-key".to_owned(),
            path_str(key).to_owned(),
        ],
    }
}

/// Asserts that the server refuses `identity` in the handshake, as every
/// client sees it: curl over TLS 1.3 (exit code only: the connection is
/// closed under it, see the report), curl over TLS 1.2 (exit 35 and the
/// alert), and s_client over TLS 1.3 reading the alert.
pub(crate) fn assert_client_refused(
    server: &Server,
    ca: &Path,
    identity: Option<(&Path, &Path)>,
    refusal: &Refusal,
) {
    let curl_args = curl_identity(identity);
    let curl_args: Vec<&str> = curl_args.iter().map(String::as_str).collect();

    let out = curl_to(server, ca)
        .args(&curl_args)
        .arg(url(server, "/whoami"))
        .output();
    assert!(
        matches!(out.code(), Some(16 | 35 | 55 | 56)),
        "curl should have failed at the TLS or connection level\n{out}"
    );
    assert!(out.stdout.is_empty(), "the server answered\n{out}");

    let mut tls12 = curl_args.clone();
    tls12.extend(["--tls-max", "1.2"]);
    let out = curl_to(server, ca)
        .args(&tls12)
        .arg(url(server, "/whoami"))
        .output();
    out.assert_code(refusal.tls12_code)
        .assert_stderr_contains(refusal.tls12_alert);
    assert!(out.stdout.is_empty(), "the server answered\n{out}");

    let mut s_args = s_client_identity(identity);
    s_args.extend(["-tls1_3", "-CAfile", path_str(ca)].map(str::to_owned));
    let s_args: Vec<&str> = s_args.iter().map(String::as_str).collect();
    let out = s_client_whoami(server, &s_args);
    out.assert_code(1)
        .assert_output_contains(refusal.tls13_alert)
        .assert_stdout_lacks("\"version\"");
}

/// Asserts that `identity` gets `/whoami` with its certificate in it, and
/// returns the document.
pub(crate) fn assert_client_accepted(
    server: &Server,
    ca: &Path,
    curl_args: &[&str],
    cert: &Path,
) -> BTreeMap<String, String> {
    let json = whoami(&get(server, ca, "/whoami", curl_args));
    assert_eq!(
        field(&json, "client_certificate.subject"),
        format!("\"{}\"", openssl_name(cert, "subject"))
    );
    assert_eq!(
        field(&json, "client_certificate.issuer"),
        format!("\"{}\"", openssl_name(cert, "issuer"))
    );
    assert_eq!(
        field(&json, "client_certificate.sha256_fingerprint"),
        format!("\"{}\"", openssl_fingerprint(cert))
    );
    let serial = field(&json, "client_certificate.serial").trim_matches('"');
    assert_eq!(
        serial.trim_start_matches('0').to_uppercase(),
        openssl_serial(cert)
    );
    assert_eq!(
        field(&json, "client_certificate.not_after"),
        format!("\"{}\"", openssl_date(cert, "enddate"))
    );
    json
}

#[test]
fn mtls_required_accepts_the_ca_s_client_and_refuses_none_or_untrusted() {
    if !tools() {
        return;
    }
    let family = Family::Ecdsa;
    let dir = tempdir();
    let d = dir.path();
    let client_ca = fixture(family, "ca.pem");
    let server = start(d, &["--client-ca", path_str(&client_ca)]);
    server.assert_log_contains("client certificates: required");
    let ca = ca_cert(d);
    let client = fixture(family, "client.pem");
    let client_key = fixture(family, "client-key.pem");

    let json = assert_client_accepted(
        &server,
        &ca,
        &["--cert", path_str(&client), "--key", path_str(&client_key)],
        &client,
    );
    assert_eq!(
        field(&json, "client_certificate.subject_alt_names"),
        "[\"email:client@example.test\"]"
    );
    assert!(
        field(&json, "client_certificate.subject").contains("CN=pki fixture client"),
        "{json:?}"
    );
    // The same with the bundle (`curl -E`), over HTTP/1.1 and TLS 1.2 too.
    let bundle = fixture(family, "client-bundle.pem");
    for extra in [&[][..], &["--http1.1"], &["--tls-max", "1.2"]] {
        let mut args = vec!["-E", path_str(&bundle)];
        args.extend_from_slice(extra);
        assert_client_accepted(&server, &ca, &args, &client);
    }
    // The page says who the client is.
    let page = get(
        &server,
        &ca,
        "/",
        &["--cert", path_str(&client), "--key", path_str(&client_key)],
    );
    page.assert_stdout_contains("<th>client names</th><td>email:client@example.test</td>");

    // No certificate; one from another CA.
    assert_client_refused(&server, &ca, None, &NO_CERT);
    assert_client_refused(
        &server,
        &ca,
        Some((
            &fixture(family, "untrusted-client.pem"),
            &fixture(family, "untrusted-client-key.pem"),
        )),
        &UNKNOWN_CA,
    );
}

#[test]
fn mtls_required_refuses_expired_and_crl_revoked_clients() -> TestResult {
    if !tools() {
        return Ok(());
    }
    let dir = tempdir();
    let d = dir.path();
    // One pki CA (in CAROOT) issues the server's and the clients' certificates.
    pki(d).args(["ca", "create"]).output().assert_code(0);
    for name in ["alice@example.test", "bob@example.test"] {
        pki(d)
            .args(["cert", "--client", name])
            .output()
            .assert_code(0);
    }
    let alice = d.join("alice@example.test-client.pem");
    let alice_key = d.join("alice@example.test-client-key.pem");
    let bob = d.join("bob@example.test-client.pem");
    let bob_key = d.join("bob@example.test-client-key.pem");
    pki(d)
        .args(["revoke", "alice@example.test-client.pem"])
        .output()
        .assert_code(0);
    pki(d).args(["crl"]).output().assert_code(0);
    let crl = d.join("ca/crl.pem");
    assert!(crl.is_file());

    // An expired client certificate from the same CA, which the CLI cannot make.
    let ca = Ca::load(d.join("ca"), None)?;
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let expired = ca.issue(
        &CertParams::new(["carol@example.test"])?
            .profile(Profile::Client)
            .not_before(now - 30 * day)
            .not_after(now - day),
    )?;
    let carol = d.join("carol.pem");
    let carol_key = d.join("carol-key.pem");
    expired
        .certificate()
        .write_pem(&carol, pki::Overwrite::Refuse)?;
    expired
        .key()
        .write_pem(&carol_key, None, pki::Overwrite::Refuse)?;

    let root = ca_cert(d);
    let server = start(
        d,
        &["--client-ca", path_str(&root), "--crl", path_str(&crl)],
    );
    let json = assert_client_accepted(
        &server,
        &root,
        &["--cert", path_str(&bob), "--key", path_str(&bob_key)],
        &bob,
    );
    assert_eq!(
        field(&json, "client_certificate.subject_alt_names"),
        "[\"email:bob@example.test\"]"
    );
    assert_client_refused(&server, &root, Some((&alice, &alice_key)), &REVOKED);
    assert_client_refused(&server, &root, Some((&carol, &carol_key)), &EXPIRED);
    assert_client_refused(&server, &root, None, &NO_CERT);

    // Without --crl, Alice (revoked, but not told) gets in: the CRL is what refused her.
    drop(server);
    let server = start(d, &["--client-ca", path_str(&root)]);
    assert_client_accepted(
        &server,
        &root,
        &["--cert", path_str(&alice), "--key", path_str(&alice_key)],
        &alice,
    );
    assert_client_refused(&server, &root, Some((&carol, &carol_key)), &EXPIRED);
    Ok(())
}

#[test]
fn mtls_resumed_sessions_keep_the_client_identity() {
    if !tools() {
        return;
    }
    let family = Family::Rsa;
    let dir = tempdir();
    let server = start(
        dir.path(),
        &["--client-ca", path_str(&fixture(family, "ca.pem"))],
    );
    let ca = ca_cert(dir.path());
    let client = fixture(family, "client.pem");
    let key = fixture(family, "client-key.pem");
    for (version, protocol) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let (first, second) = resume(
            &server,
            &ca,
            version,
            &["-cert", path_str(&client), "-key", path_str(&key)],
        );
        first.assert_stdout_contains("CN=pki fixture client");
        second
            .assert_stdout_contains(&format!("Reused, {protocol}"))
            .assert_stdout_contains("\"resumed\":true")
            .assert_stdout_contains("CN=pki fixture client")
            .assert_stdout_contains("email:client@example.test");
    }
}

#[test]
fn mtls_optional_lets_clients_without_a_certificate_in_and_says_so() {
    if !tools() {
        return;
    }
    let family = Family::Rsa;
    let dir = tempdir();
    let d = dir.path();
    let server = start(
        d,
        &[
            "--client-ca",
            path_str(&fixture(family, "ca.pem")),
            "--client-auth",
            "optional",
        ],
    );
    server.assert_log_contains("client certificates: optional");
    let ca = ca_cert(d);

    // Without a certificate: 200, and no client.
    let json = whoami(&get(&server, &ca, "/whoami", &[]));
    assert_eq!(field(&json, "client_certificate"), "null");
    assert_eq!(field(&json, "version"), "\"TLSv1.3\"");
    let json = whoami(&get(&server, &ca, "/whoami", &["--tls-max", "1.2"]));
    assert_eq!(field(&json, "client_certificate"), "null");

    // With a good one: who it is.
    let client = fixture(family, "client.pem");
    let json = assert_client_accepted(
        &server,
        &ca,
        &[
            "--cert",
            path_str(&client),
            "--key",
            path_str(&fixture(family, "client-key.pem")),
        ],
        &client,
    );
    assert_eq!(
        field(&json, "client_certificate.subject_alt_names"),
        "[\"email:client@example.test\"]"
    );

    // A certificate from another CA is still refused, not ignored.
    assert_client_refused(
        &server,
        &ca,
        Some((
            &fixture(family, "untrusted-client.pem"),
            &fixture(family, "untrusted-client-key.pem"),
        )),
        &UNKNOWN_CA,
    );
}

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
        let bin = workspace_bin("actix-https", "actix-https");
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
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
            let child = server_command(&bin, dir, port, &args, &[])
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

// ---------------------------------------------------------------------------
// CRL handling beyond the first start
// ---------------------------------------------------------------------------

/// actix-https run to its end (for start-up errors), with a time limit.
fn run_to_end(dir: &Path, args: &[&str]) -> Output {
    let bin = workspace_bin("actix-https", "actix-https");
    let mut cmd = TestCommand::new(&bin);
    cmd.current_dir(dir)
        .arg("--bind")
        .arg(format!("127.0.0.1:{}", free_port()))
        .args(["--workers", "1"])
        .args(args)
        .env("CAROOT", dir.join("ca"))
        .env_remove("XDG_DATA_HOME")
        .timeout(Duration::from_secs(5));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ACTIX_HTTPS_") {
            cmd.env_remove(key);
        }
    }
    cmd.output()
}

/// A CRL that no `--client-ca` issued cannot revoke anything, and OpenSSL
/// then refuses every client ("unable to get certificate CRL", sent as an
/// `unknown ca` alert): the server starts, and every client is locked out
/// with a misleading alert. Like a malformed CRL, it should stop the start.
#[test]
fn crl_from_another_ca_is_refused_at_start() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let other = d.join("other");
    fs::create_dir(&other).unwrap();
    pki(&other).args(["ca", "create"]).output().assert_code(0);
    pki(&other).args(["crl"]).output().assert_code(0);
    pki(d).args(["ca", "create"]).output().assert_code(0);
    let foreign_crl = other.join("ca/crl.pem");
    let out = run_to_end(
        d,
        &[
            "--client-ca",
            path_str(&ca_cert(d)),
            "--crl",
            path_str(&foreign_crl),
        ],
    );
    out.assert_code(2)
        .assert_stderr_contains(path_str(&foreign_crl))
        .assert_stdout_lacks(READY);
}

/// `pki revoke` + `pki crl` rewrite the CRL while the server runs; the
/// server watches its certificate files, but a changed `--crl` is only read
/// again when the certificate or key changes, so a revoked client keeps
/// getting in until then.
#[test]
fn crl_changes_are_picked_up_while_running() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    pki(d).args(["ca", "create"]).output().assert_code(0);
    pki(d)
        .args(["cert", "--client", "bob@example.test"])
        .output()
        .assert_code(0);
    pki(d).args(["crl"]).output().assert_code(0);
    let bob = d.join("bob@example.test-client.pem");
    let bob_key = d.join("bob@example.test-client-key.pem");
    let root = ca_cert(d);
    let crl = d.join("ca/crl.pem");
    let server = start(
        d,
        &[
            "--client-ca",
            path_str(&root),
            "--crl",
            path_str(&crl),
            "--reload-ms",
            "100",
        ],
    );
    let bob_args = ["--cert", path_str(&bob), "--key", path_str(&bob_key)];
    assert_client_accepted(&server, &root, &bob_args, &bob);

    pki(d)
        .args(["revoke", "bob@example.test-client.pem"])
        .output()
        .assert_code(0);
    pki(d).args(["crl"]).output().assert_code(0);
    // Well past a few reload intervals.
    thread::sleep(Duration::from_millis(1500));
    assert_client_refused(&server, &root, Some((&bob, &bob_key)), &REVOKED);
}
