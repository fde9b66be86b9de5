//! The `actix-https` binary's basics, judged from outside by clients we did
//! not write: zero configuration, ALPN, protocol versions, session
//! resumption, Python's default context, and `--cert`/`--key` files. Every
//! server runs on loopback with its CA in a temporary `CAROOT`, so no test
//! touches the user's CA; every refusal is checked for its exit code and
//! the words the client reports.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};

use e2e::{
    ActixHttps, ca_cert, curl_to, field, get, openssl_serial, path_str, s_client, s_client_whoami,
    url, whoami,
};
use e2e::{
    Output, Server, TestResult, curl, fixture, openssl, openssl_date, pki, python, read_file,
    read_text, require_tools, tempdir, workspace_bin,
};
use pki_fixtures::Family;

/// What the index page says over TLS.
pub(crate) const HTTPS_PAGE: &str = "This page is served over HTTPS.";

/// What the index page says without TLS.
pub(crate) const HTTP_PAGE: &str = "This page is served over plain HTTP (no TLS).";

/// A Python client with the default (verifying) context trusting only
/// `cafile`, connecting to 127.0.0.1:port as `host` (SNI and hostname
/// check). It prints the TLS version, ALPN and the response, or the
/// verification error and exits with 3.
pub(crate) const PY_CLIENT: &str = r#"
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

/// `actix-https args…` in `dir` (see [`ActixHttps`]), serving.
pub(crate) fn start(dir: &Path, args: &[&str]) -> Server {
    ActixHttps::new(dir).args(args).start()
}

/// Every tool these tests call.
pub(crate) fn tools() -> bool {
    require_tools(&["curl", "openssl", "python3"])
}

/// The zero-config certificate file in `dir`'s `CAROOT`.
pub(crate) fn local_cert(dir: &Path) -> PathBuf {
    dir.join("ca").join("actix-https").join("localhost.pem")
}

/// The `actix-https` binary, built once.
pub(crate) fn actix_bin() -> PathBuf {
    workspace_bin("actix-https", "actix-https")
}

/// Arguments as `OsString`s, for lists mixing paths and flags.
pub(crate) fn os_args<I, S>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    args.into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect()
}

/// Starts `actix-https args…` in `dir` (see [`ActixHttps`]) and waits
/// until it serves.
pub(crate) fn start_env<I, S>(dir: &Path, args: I, env: &[(&str, &str)]) -> Server
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    ActixHttps::new(dir).args(args).envs(env).start()
}

/// `actix-https args…` in `dir`, which must refuse to start and leave its
/// port free ([`ActixHttps::refused`]).
pub(crate) fn refused<I, S>(dir: &Path, args: I, env: &[(&str, &str)]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    ActixHttps::new(dir).args(args).envs(env).refused()
}

/// Issues a certificate for `names` from the CA in `dir/ca` with `pki cert`,
/// written to `dir/<stem>.pem` and `dir/<stem>-key.pem`.
pub(crate) fn issue(dir: &Path, stem: &str, names: &[&str]) -> (PathBuf, PathBuf) {
    let cert = format!("{stem}.pem");
    let key = format!("{stem}-key.pem");
    pki(dir)
        .args(["cert", "--cert-file", &cert, "--key-file", &key])
        .args(names)
        .assert_success();
    (dir.join(cert), dir.join(key))
}

/// `curl --fail --cacert ca url`, resolving `host` to 127.0.0.1 when given.
pub(crate) fn curl_ok(ca: &Path, url: &str, resolve: Option<(&str, u16)>) -> Output {
    let mut cmd = curl();
    cmd.arg("--fail").arg("--cacert").arg(ca);
    if let Some((host, port)) = resolve {
        cmd.arg("--resolve").arg(format!("{host}:{port}:127.0.0.1"));
    }
    cmd.arg(url).assert_success()
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
fn the_server_chooses_aes_128_gcm_unless_the_client_puts_chacha20_first() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let server = start(dir.path(), &[]);
    // OpenSSL clients list AES-256-GCM first; the server's order wins.
    for (offered, chosen) in [
        (
            "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256",
            "TLS_AES_128_GCM_SHA256",
        ),
        (
            "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256",
        ),
        ("TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
    ] {
        s_client(&server, &["-tls1_3", "-ciphersuites", offered])
            .assert_stdout_contains(&format!("New, TLSv1.3, Cipher is {chosen}"));
    }
    s_client(
        &server,
        &[
            "-tls1_2",
            "-cipher",
            "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256",
        ],
    )
    .assert_stdout_contains("Cipher is ECDHE-ECDSA-AES128-GCM-SHA256");
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
    let server = ActixHttps::new(dir.path())
        .env("ACTIX_HTTPS_TLS_PROFILE", "modern")
        .env("ACTIX_HTTPS_HSTS", "true")
        .start();
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
