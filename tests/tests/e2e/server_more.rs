//! The `actix-https` binary beyond its basics, run as a user runs it: SNI
//! (exact and wildcard, flags and environment), hot reload of the watched
//! certificate files (with and without SNI, bad files kept out), encrypted
//! keys (pass phrase file, environment, terminal prompt), start-up refusals
//! (exit code 2, the file named, nothing bound), `--adhoc`, and a real
//! browser: headless Chromium trusting the local CA through its own NSS store.
//!
//! Every server listens on 127.0.0.1 only, with its CA in a temporary
//! `CAROOT`; the certificates the server presents are judged by
//! `openssl s_client`, `openssl x509` and `curl`, never by `pki`.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use e2e::{
    Output, Server, TestCommand, chromium_dump, curl, fixture, free_port, nss_home, openssl,
    pem_blocks, pki, python, read_file, require_tools, skip, tempdir, workspace_bin, write_file,
};
use pki::ca::CA_CERT_FILE;
use pki_fixtures::{FIXTURE_PASSPHRASE, Family};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The line the server prints once it listens.
const READY: &str = "Serving ";

/// What the index page says over TLS.
const HTTPS_PAGE: &str = "served over HTTPS";

/// The one line of the reload log that says a bad pair was kept out.
const KEPT: &str = "still serving the previous certificate";

/// How long a reload may take to show (the servers here poll every 200 ms).
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a refused start may take: it must stop before binding anything.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);

fn actix_bin() -> PathBuf {
    workspace_bin("actix-https", "actix-https")
}

/// The `ACTIX_HTTPS_*` variables of the test's own environment: each would
/// change a flag, so no server here inherits them.
fn inherited_settings() -> Vec<OsString> {
    std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| k.to_string_lossy().starts_with("ACTIX_HTTPS_"))
        .collect()
}

fn os_args<I, S>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    args.into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect()
}

/// `actix-https --bind 127.0.0.1:PORT --workers 1 args…` run in `dir` with
/// `CAROOT=dir/ca` and `env`, as a [`Command`] for [`Server::start`].
fn actix_command(dir: &Path, port: u16, args: &[OsString], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(actix_bin());
    for key in inherited_settings() {
        cmd.env_remove(key);
    }
    cmd.current_dir(dir)
        .env("CAROOT", dir.join("ca"))
        .arg("--bind")
        .arg(format!("127.0.0.1:{port}"))
        .args(["--workers", "1"])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Starts `actix-https args…` in `dir` (see [`actix_command`]) and waits
/// until it serves.
fn start<I, S>(dir: &Path, args: I, env: &[(&str, &str)]) -> Server
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args = os_args(args);
    Server::start(
        "actix-https",
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        READY,
        |port| actix_command(dir, port, &args, env),
    )
}

/// Runs `actix-https --bind addr --workers 1 args…` in `dir`, which must
/// refuse to start: exit code 2 within [`REFUSAL_TIMEOUT`], an `error:` on
/// stderr, and no "Serving" banner.
fn refused_on(dir: &Path, bind: SocketAddr, args: &[OsString], env: &[(&str, &str)]) -> Output {
    let mut cmd = TestCommand::new(actix_bin());
    for key in inherited_settings() {
        cmd.env_remove(key);
    }
    cmd.current_dir(dir)
        .env("CAROOT", dir.join("ca"))
        .arg("--bind")
        .arg(bind.to_string())
        .args(["--workers", "1"])
        .args(args)
        .timeout(Duration::from_secs(15));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd.output();
    let took = started.elapsed();
    out.assert_code(2);
    assert!(
        took < REFUSAL_TIMEOUT,
        "a refused start should stop at once, it took {took:?}\n{out}"
    );
    assert!(
        out.stderr.starts_with("error:"),
        "the message should start with `error:`\n{out}"
    );
    out.assert_stdout_lacks(READY);
    out
}

/// [`refused_on`] a free port, which must still be free afterwards.
fn refused<I, S>(dir: &Path, args: I, env: &[(&str, &str)]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), free_port());
    let out = refused_on(dir, addr, &os_args(args), env);
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err(),
        "something listens on {addr} after a refused start\n{out}"
    );
    out
}

/// Issues a certificate for `names` from the CA in `dir/ca` with `pki cert`,
/// written to `dir/<stem>.pem` and `dir/<stem>-key.pem`.
fn issue(dir: &Path, stem: &str, names: &[&str]) -> (PathBuf, PathBuf) {
    let cert = format!("{stem}.pem");
    let key = format!("{stem}-key.pem");
    pki(dir)
        .args(["cert", "--cert-file", &cert, "--key-file", &key])
        .args(names)
        .assert_success();
    (dir.join(cert), dir.join(key))
}

/// Replaces `dest` with a copy of `source` the way a deploy does: written to
/// a temporary name beside it, then renamed over it.
fn deploy(source: &Path, dest: &Path) {
    let name = dest.file_name().unwrap().to_string_lossy();
    let temp = dest.with_file_name(format!(".{name}.deploy"));
    write_file(&temp, read_file(source));
    fs::rename(&temp, dest).unwrap_or_else(|e| {
        panic!(
            "failed to rename {} over {}: {e}",
            temp.display(),
            dest.display()
        )
    });
}

/// The leaf certificate (PEM) the server on `port` presents to a handshake
/// from 127.0.0.1 that asks for `sni` (`None`: no SNI at all), with `extra`
/// `openssl s_client` options.
fn presented(port: u16, sni: Option<&str>, extra: &[&str]) -> String {
    let mut cmd = openssl(["s_client", "-connect"]);
    cmd.arg(format!("127.0.0.1:{port}"));
    match sni {
        Some(name) => cmd.args(["-servername", name]),
        None => cmd.arg("-noservername"),
    };
    let out = cmd.args(extra).output();
    pem_blocks(&out.stdout, "CERTIFICATE")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("the server presented no certificate\n{out}"))
}

/// `openssl x509 -noout args…` on a PEM certificate.
fn x509(pem: &str, args: &[&str]) -> String {
    openssl(["x509", "-noout"])
        .args(args)
        .stdin(pem)
        .assert_success()
        .stdout
        .trim()
        .to_owned()
}

fn serial(pem: &str) -> String {
    x509(pem, &["-serial"])
}

fn file_serial(path: &Path) -> String {
    openssl(["x509", "-noout", "-serial", "-in"])
        .arg(path)
        .assert_success()
        .stdout
        .trim()
        .to_owned()
}

/// The subjectAltName value: `DNS:api.test, IP Address:127.0.0.1`.
fn san(pem: &str) -> String {
    let text = x509(pem, &["-ext", "subjectAltName"]);
    text.lines()
        .nth(1)
        .unwrap_or_else(|| panic!("no subjectAltName in\n{text}"))
        .trim()
        .to_owned()
}

/// A certificate's subject or issuer (`which`), one line.
fn name(pem: &str, which: &str) -> String {
    let out = x509(
        pem,
        &[
            "-nameopt",
            "sname,sep_comma_plus_space",
            &format!("-{which}"),
        ],
    );
    out.strip_prefix(&format!("{which}="))
        .unwrap_or_else(|| panic!("no {which}= in {out:?}"))
        .to_owned()
}

fn fingerprint(pem: &str) -> String {
    x509(pem, &["-fingerprint", "-sha256"])
}

/// `curl --fail --cacert ca url`, resolving `host` to 127.0.0.1 when given.
fn curl_ok(ca: &Path, url: &str, resolve: Option<(&str, u16)>) -> Output {
    let mut cmd = curl();
    cmd.arg("--fail").arg("--cacert").arg(ca);
    if let Some((host, port)) = resolve {
        cmd.arg("--resolve").arg(format!("{host}:{port}:127.0.0.1"));
    }
    cmd.arg(url).assert_success()
}

/// Waits until `needle` is in what the server logged after byte `mark`, and
/// returns that part of the log.
fn wait_log_since(server: &Server, mark: usize, needle: &str) -> String {
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    loop {
        let log = server.log();
        let since = log.get(mark..).unwrap_or_default().to_owned();
        if since.contains(needle) {
            return since;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not log {needle:?} within {RELOAD_TIMEOUT:?}\n--- log since the change ---\n{since}\n--- whole log ---\n{log}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until handshakes asking for `sni` get the certificate with `want`
/// (an `openssl x509 -serial` line).
fn wait_for_serial(server: &Server, sni: Option<&str>, want: &str) {
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    loop {
        let got = serial(&presented(server.port(), sni, &[]));
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "handshakes (SNI {sni:?}) still get {got}, not {want}, after {RELOAD_TIMEOUT:?}\n--- server log ---\n{}",
            server.log()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// The server was started once and still runs: one banner, no stop.
fn assert_not_restarted(server: &Server) {
    let log = server.log();
    assert_eq!(
        log.matches(READY).count(),
        1,
        "the server should have started exactly once\n{log}"
    );
    assert!(!log.contains("stopped"), "the server stopped\n{log}");
}

// ---------------------------------------------------------------------------
// SNI
// ---------------------------------------------------------------------------

/// A CA directory with `api.pem` (api.test), `apps.pem` (*.apps.test) and
/// `default.pem` (localhost), each with its `-key.pem`.
fn sni_certificates() -> tempfile::TempDir {
    let dir = tempdir();
    issue(dir.path(), "api", &["api.test"]);
    issue(dir.path(), "apps", &["*.apps.test"]);
    issue(dir.path(), "default", &["localhost"]);
    dir
}

/// What a server with `api.test` and `*.apps.test` SNI entries must present,
/// and what curl and /whoami must say.
fn assert_sni_served(dir: &Path, server: &Server) {
    let port = server.port();
    let ca = dir.join("ca").join(CA_CERT_FILE);
    for (sni, want) in [
        (Some("api.test"), "DNS:api.test"),
        (Some("API.Test"), "DNS:api.test"),
        (Some("x.apps.test"), "DNS:*.apps.test"),
        // A wildcard covers one label only.
        (Some("a.b.apps.test"), "DNS:localhost"),
        (Some("apps.test"), "DNS:localhost"),
        (Some("other.test"), "DNS:localhost"),
        (None, "DNS:localhost"),
    ] {
        let pem = presented(port, sni, &[]);
        assert_eq!(
            san(&pem),
            want,
            "SNI {sni:?} got the wrong certificate\n--- server log ---\n{}",
            server.log()
        );
    }
    // The api certificate really is the one in api.pem.
    assert_eq!(
        serial(&presented(port, Some("api.test"), &[])),
        file_serial(&dir.join("api.pem"))
    );
    assert_eq!(
        serial(&presented(port, Some("x.apps.test"), &[])),
        file_serial(&dir.join("apps.pem"))
    );
    assert_eq!(
        serial(&presented(port, None, &[])),
        file_serial(&dir.join("default.pem"))
    );
    // The same over TLS 1.2.
    assert_eq!(
        san(&presented(port, Some("api.test"), &["-tls1_2"])),
        "DNS:api.test"
    );

    for host in ["api.test", "a.apps.test"] {
        let out = curl_ok(
            &ca,
            &format!("https://{host}:{port}/whoami"),
            Some((host, port)),
        );
        out.assert_stdout_contains(&format!("\"sni\":\"{host}\""));
        let page = curl_ok(&ca, &format!("https://{host}:{port}/"), Some((host, port)));
        page.assert_stdout_contains(HTTPS_PAGE);
    }
    // A name no entry serves gets the default certificate, which curl refuses
    // for that name (and accepts for localhost).
    let out = curl()
        .arg("--cacert")
        .arg(&ca)
        .arg("--resolve")
        .arg(format!("other.test:{port}:127.0.0.1"))
        .arg(format!("https://other.test:{port}/"))
        .output();
    out.assert_code(60);
    curl_ok(&ca, &format!("https://localhost:{port}/whoami"), None)
        .assert_stdout_contains("\"sni\":\"localhost\"");

    let log = server.log();
    for line in ["for api.test: api.test", "for *.apps.test: *.apps.test"] {
        assert!(log.contains(line), "the banner should say {line:?}\n{log}");
    }
}

#[test]
fn sni_flags_pick_the_certificate_for_the_name_asked() {
    let dir = sni_certificates();
    let server = start(
        dir.path(),
        [
            "--cert",
            "default.pem",
            "--key",
            "default-key.pem",
            "--sni",
            "api.test=api.pem,api-key.pem",
            "--sni",
            "*.apps.test=apps.pem,apps-key.pem",
        ],
        &[],
    );
    assert_sni_served(dir.path(), &server);
}

#[test]
fn sni_environment_variable_takes_entries_separated_by_semicolons() {
    let dir = sni_certificates();
    let server = start(
        dir.path(),
        ["--cert", "default.pem", "--key", "default-key.pem"],
        &[(
            "ACTIX_HTTPS_SNI",
            "api.test=api.pem,api-key.pem;*.apps.test=apps.pem,apps-key.pem",
        )],
    );
    assert_sni_served(dir.path(), &server);
}

// ---------------------------------------------------------------------------
// Hot reload
// ---------------------------------------------------------------------------

/// Which served pair a hot-reload test replaces, and how it connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Watched {
    /// The default pair, with an SNI entry configured, reached by asking for
    /// `localhost` (a name no entry serves).
    DefaultBySni,
    /// The default pair with no SNI entries, reached by IP without SNI.
    DefaultByIp,
    /// The `api.test` SNI entry's pair, reached by asking for `api.test`.
    SniEntry,
}

/// Starts a server watching its files every 200 ms, deploys a new pair over
/// the watched one, then a key that does not match, then garbage, then the
/// right key, then a third pair: each good pair is served to new handshakes
/// within seconds by the same process, each bad one is reported (naming
/// the files) and kept out while the last good pair goes on serving.
fn hot_reload(watched: Watched) {
    let dir = tempdir();
    let d = dir.path();
    let ca = d.join("ca").join(CA_CERT_FILE);
    issue(d, "default", &["localhost", "127.0.0.1"]);
    issue(d, "api", &["api.test"]);

    let mut args = vec![
        "--cert",
        "default.pem",
        "--key",
        "default-key.pem",
        "--reload-ms",
        "200",
    ];
    if watched != Watched::DefaultByIp {
        args.extend(["--sni", "api.test=api.pem,api-key.pem"]);
    }
    let server = start(d, &args, &[]);
    let port = server.port();

    let (stem, sni, v2_names, v3_names, other_key) = match watched {
        Watched::DefaultBySni | Watched::DefaultByIp => (
            "default",
            if watched == Watched::DefaultBySni {
                Some("localhost")
            } else {
                None
            },
            vec!["localhost", "127.0.0.1", "v2.test"],
            vec!["localhost", "127.0.0.1", "v3.test"],
            "api-key.pem",
        ),
        Watched::SniEntry => (
            "api",
            Some("api.test"),
            vec!["api.test", "v2.api.test"],
            vec!["api.test", "v3.api.test"],
            "default-key.pem",
        ),
    };
    let cert_arg = format!("{stem}.pem");
    let cert = d.join(&cert_arg);
    let key = d.join(format!("{stem}-key.pem"));
    // What the other identity presents must not change along the way.
    let (other_sni, other_serial) = match watched {
        Watched::DefaultBySni => (Some("api.test"), file_serial(&d.join("api.pem"))),
        Watched::DefaultByIp => (None, String::new()),
        Watched::SniEntry => (None, file_serial(&d.join("default.pem"))),
    };
    let assert_other_unchanged = || {
        if !other_serial.is_empty() {
            assert_eq!(
                serial(&presented(port, other_sni, &[])),
                other_serial,
                "the pair that was not replaced changed\n--- server log ---\n{}",
                server.log()
            );
        }
    };
    // A request as a user makes it: by name, or by IP (curl sends no SNI then).
    let assert_https = || {
        let (url, resolve, sni_json) = match watched {
            Watched::DefaultBySni => (
                format!("https://localhost:{port}/whoami"),
                None,
                "\"sni\":\"localhost\"",
            ),
            Watched::DefaultByIp => (
                format!("https://127.0.0.1:{port}/whoami"),
                None,
                "\"sni\":null",
            ),
            Watched::SniEntry => (
                format!("https://api.test:{port}/whoami"),
                Some(("api.test", port)),
                "\"sni\":\"api.test\"",
            ),
        };
        curl_ok(&ca, &url, resolve).assert_stdout_contains(sni_json);
    };

    let v1 = file_serial(&cert);
    assert_eq!(serial(&presented(port, sni, &[])), v1);
    assert_https();

    // 1. A new pair, deployed by renames: served without a restart.
    let (v2_cert, v2_key) = issue(d, "v2", &v2_names);
    let v2 = file_serial(&v2_cert);
    assert_ne!(v1, v2);
    deploy(&v2_cert, &cert);
    deploy(&v2_key, &key);
    wait_for_serial(&server, sni, &v2);
    // TLS 1.2 handshakes get it too.
    assert_eq!(serial(&presented(port, sni, &["-tls1_2"])), v2);
    server.assert_log_contains(&format!(
        "reloaded {cert_arg}: names {}",
        v2_names.join(", ")
    ));
    assert_https();
    assert_other_unchanged();
    assert_not_restarted(&server);

    // 2. A key that is not the certificate's: reported, and kept out.
    let mark = server.log().len();
    deploy(&d.join(other_key), &key);
    let since = wait_log_since(&server, mark, KEPT);
    for needle in [
        format!("error: {cert_arg} changed but cannot be used"),
        format!("the key {stem}-key.pem does not belong to the certificate {cert_arg}"),
    ] {
        assert!(
            since.contains(&needle),
            "the reload error should say {needle:?}\n{since}"
        );
    }
    assert_eq!(serial(&presented(port, sni, &[])), v2);
    assert_https();

    // 3. Garbage written in place: reported, and kept out.
    let mark = server.log().len();
    write_file(&key, "this is not a key\n");
    let since = wait_log_since(
        &server,
        mark,
        &format!("{stem}-key.pem is not a valid private key"),
    );
    assert!(since.contains(KEPT), "{since}");
    assert!(
        since.contains(&format!("error: {cert_arg} changed but cannot be used")),
        "{since}"
    );
    assert_eq!(serial(&presented(port, sni, &[])), v2);
    assert_https();

    // 4. The right key back: reloaded, still v2, and no error about it.
    let mark = server.log().len();
    deploy(&v2_key, &key);
    let since = wait_log_since(&server, mark, &format!("reloaded {cert_arg}"));
    assert!(!since.contains("error:"), "{since}");
    assert_eq!(serial(&presented(port, sni, &[])), v2);
    assert_https();

    // 5. After all that, the watcher still serves the next deploy.
    let (v3_cert, v3_key) = issue(d, "v3", &v3_names);
    let v3 = file_serial(&v3_cert);
    deploy(&v3_key, &key);
    deploy(&v3_cert, &cert);
    wait_for_serial(&server, sni, &v3);
    assert_https();
    assert_other_unchanged();
    assert_not_restarted(&server);
}

#[test]
fn hot_reload_serves_a_new_default_pair_to_sni_handshakes() {
    hot_reload(Watched::DefaultBySni);
}

#[test]
fn hot_reload_serves_a_new_default_pair_to_handshakes_without_sni() {
    hot_reload(Watched::DefaultByIp);
}

#[test]
fn hot_reload_serves_a_new_pair_for_an_sni_entry() {
    hot_reload(Watched::SniEntry);
}

// ---------------------------------------------------------------------------
// Encrypted keys
// ---------------------------------------------------------------------------

/// `--cert server.pem --key encrypted-key.pem` of a family.
fn encrypted_args(family: Family) -> Vec<OsString> {
    os_args([
        OsString::from("--cert"),
        fixture(family, "server.pem").into_os_string(),
        OsString::from("--key"),
        fixture(family, "encrypted-key.pem").into_os_string(),
    ])
}

fn assert_serves_fixture_ca(family: Family, server: &Server) {
    let ca = fixture(family, "ca.pem");
    curl_ok(&ca, &server.url("localhost"), None).assert_stdout_contains(HTTPS_PAGE);
    curl_ok(&ca, &server.url("127.0.0.1"), None).assert_stdout_contains(HTTPS_PAGE);
}

fn assert_no_secret(out: &str, secret: &str) {
    assert!(
        !out.contains(secret),
        "the pass phrase {secret:?} appears in the output\n{out}"
    );
}

#[test]
fn encrypted_key_opens_with_a_pass_phrase_file() {
    for family in Family::ALL {
        let dir = tempdir();
        let mut args = encrypted_args(family);
        args.push("--key-passphrase-file".into());
        args.push(fixture(family, "encrypted-key.pass").into());
        let server = start(dir.path(), &args, &[]);
        assert_serves_fixture_ca(family, &server);
        assert_no_secret(&server.log(), FIXTURE_PASSPHRASE);
    }
}

#[test]
fn encrypted_key_opens_with_the_pass_phrase_file_from_the_environment() {
    let dir = tempdir();
    let pass = fixture(Family::Ecdsa, "encrypted-key.pass");
    let server = start(
        dir.path(),
        encrypted_args(Family::Ecdsa),
        &[("ACTIX_HTTPS_KEY_PASSPHRASE_FILE", pass.to_str().unwrap())],
    );
    assert_serves_fixture_ca(Family::Ecdsa, &server);
}

#[test]
fn encrypted_key_opens_with_the_pass_phrase_in_the_environment() {
    let dir = tempdir();
    let server = start(
        dir.path(),
        encrypted_args(Family::Rsa),
        &[("ACTIX_HTTPS_KEY_PASSPHRASE", FIXTURE_PASSPHRASE)],
    );
    assert_serves_fixture_ca(Family::Rsa, &server);
    assert_no_secret(&server.log(), FIXTURE_PASSPHRASE);
}

#[test]
fn wrong_pass_phrase_file_is_refused_naming_the_key_and_hiding_both_pass_phrases() {
    let dir = tempdir();
    let wrong = "definitely not the pass phrase";
    let pass = dir.path().join("wrong.pass");
    write_file(&pass, format!("{wrong}\n"));
    let key = fixture(Family::Ecdsa, "encrypted-key.pem");
    let mut args = encrypted_args(Family::Ecdsa);
    args.push("--key-passphrase-file".into());
    args.push(pass.into());
    let out = refused(dir.path(), &args, &[]);
    out.assert_stderr_contains(&format!("the pass phrase for {} is wrong", key.display()));
    for secret in [wrong, FIXTURE_PASSPHRASE] {
        assert_no_secret(&out.stdout, secret);
        assert_no_secret(&out.stderr, secret);
    }
}

#[test]
fn wrong_pass_phrase_in_the_environment_is_refused_without_showing_it() {
    let dir = tempdir();
    let wrong = "wrong env pass phrase";
    let key = fixture(Family::Ecdsa, "encrypted-key.pem");
    let out = refused(
        dir.path(),
        encrypted_args(Family::Ecdsa),
        &[("ACTIX_HTTPS_KEY_PASSPHRASE", wrong)],
    );
    out.assert_stderr_contains(&format!("the pass phrase for {} is wrong", key.display()));
    assert_no_secret(&out.stdout, wrong);
    assert_no_secret(&out.stderr, wrong);
}

#[test]
fn encrypted_key_without_a_pass_phrase_or_terminal_is_refused() {
    let dir = tempdir();
    let key = fixture(Family::Ecdsa, "encrypted-key.pem");
    // TestCommand's stdin is /dev/null: not a terminal.
    let out = refused(dir.path(), encrypted_args(Family::Ecdsa), &[]);
    out.assert_stderr_contains(&format!("the key {} is encrypted", key.display()))
        .assert_stderr_contains("--key-passphrase-file")
        .assert_stderr_contains("$ACTIX_HTTPS_KEY_PASSPHRASE");
}

/// Runs `actix-https --cert CERT --key KEY` on a pseudo-terminal, waits for
/// the pass phrase prompt and for the terminal to stop echoing, types the
/// pass phrase and Enter, then either sees "Serving" (and fetches the page
/// with curl trusting CA), or sees the server exit. Prints `PROMPTED`,
/// `CURL-EXIT: n` and curl's output, or `EXIT: n`, then the whole terminal
/// transcript between `TRANSCRIPT-BEGIN` and `TRANSCRIPT-END`.
const PTY_SERVER: &str = r#"
import os, pty, select, signal, subprocess, sys, termios, time
binary, cert, key, port, cacert, typed = sys.argv[1:7]
pid, fd = pty.fork()
if pid == 0:
    os.execv(binary, [binary, "--bind", "127.0.0.1:" + port, "--workers", "1",
                      "--cert", cert, "--key", key])
seen = b""
closed = False
def read_until(markers, timeout=20):
    global seen, closed
    deadline = time.monotonic() + timeout
    while not any(m in seen for m in markers) and not closed:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                closed = True
            seen += chunk
    return any(m in seen for m in markers)
def finish(code):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    print("TRANSCRIPT-BEGIN")
    print(seen.decode(errors="replace"))
    print("TRANSCRIPT-END")
    sys.exit(code)
if not read_until([b"Pass phrase"]):
    print("NO PROMPT")
    finish(3)
print("PROMPTED")
# Type only once the terminal no longer echoes, so nothing typed could show.
deadline = time.monotonic() + 10
while termios.tcgetattr(fd)[3] & termios.ECHO:
    if time.monotonic() > deadline:
        print("ECHO NEVER TURNED OFF")
        finish(3)
    time.sleep(0.02)
os.write(fd, typed.encode() + b"\n")
if read_until([b"Serving"]):
    curl = subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "10", "--noproxy", "*",
         "--cacert", cacert, "https://localhost:" + port + "/"],
        capture_output=True, text=True)
    print("CURL-EXIT:", curl.returncode)
    print(curl.stdout)
    print(curl.stderr)
    read_until([b"\x00never"], timeout=0.3)
    finish(0)
# The server stopped (or never said anything): its exit code.
read_until([b"\x00never"], timeout=5)
deadline = time.monotonic() + 10
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("EXIT:", os.waitstatus_to_exitcode(status))
        break
    if time.monotonic() > deadline:
        print("STILL RUNNING")
        break
    time.sleep(0.05)
finish(0)
"#;

fn pty_session(dir: &Path, typed: &str) -> Output {
    let family = Family::Ecdsa;
    let mut cmd = python(
        PTY_SERVER,
        [
            actix_bin().into_os_string(),
            fixture(family, "server.pem").into_os_string(),
            fixture(family, "encrypted-key.pem").into_os_string(),
            OsString::from(free_port().to_string()),
            fixture(family, "ca.pem").into_os_string(),
            OsString::from(typed),
        ],
    );
    for key in inherited_settings() {
        cmd.env_remove(key);
    }
    cmd.current_dir(dir)
        .env("CAROOT", dir.join("ca"))
        .timeout(Duration::from_secs(60))
        .assert_success()
}

/// The part of the transcript the server printed on its terminal.
fn transcript(out: &Output) -> &str {
    let start = out
        .stdout
        .find("TRANSCRIPT-BEGIN")
        .unwrap_or_else(|| panic!("no transcript\n{out}"));
    &out.stdout[start..]
}

#[test]
fn encrypted_key_on_a_terminal_is_asked_for_and_served() {
    if !require_tools(&["python3", "curl"]) {
        return;
    }
    let dir = tempdir();
    let key = fixture(Family::Ecdsa, "encrypted-key.pem");
    let out = pty_session(dir.path(), FIXTURE_PASSPHRASE);
    out.assert_stdout_contains("PROMPTED")
        .assert_stdout_contains("CURL-EXIT: 0")
        .assert_stdout_contains(HTTPS_PAGE);
    let screen = transcript(&out);
    assert!(
        screen.contains(&format!("Pass phrase for {}:", key.display())),
        "the prompt should name the key\n{out}"
    );
    assert!(screen.contains(READY), "{out}");
    assert_no_secret(screen, FIXTURE_PASSPHRASE);
}

#[test]
fn wrong_pass_phrase_on_a_terminal_is_refused() {
    if !require_tools(&["python3", "curl"]) {
        return;
    }
    let dir = tempdir();
    let wrong = "typed the wrong thing";
    let key = fixture(Family::Ecdsa, "encrypted-key.pem");
    let out = pty_session(dir.path(), wrong);
    out.assert_stdout_contains("PROMPTED")
        .assert_stdout_contains("EXIT: 2");
    let screen = transcript(&out);
    assert!(
        screen.contains(&format!("the pass phrase for {} is wrong", key.display())),
        "{out}"
    );
    assert!(!screen.contains(READY), "{out}");
    assert_no_secret(screen, wrong);
}

// ---------------------------------------------------------------------------
// Start-up refusals
// ---------------------------------------------------------------------------

fn pair_args(cert: &Path, key: &Path) -> Vec<OsString> {
    os_args([
        OsStr::new("--cert"),
        cert.as_os_str(),
        OsStr::new("--key"),
        key.as_os_str(),
    ])
}

fn server_pair() -> (PathBuf, PathBuf) {
    (
        fixture(Family::Ecdsa, "server.pem"),
        fixture(Family::Ecdsa, "server-key.pem"),
    )
}

#[test]
fn missing_cert_file_is_refused_naming_it() {
    let dir = tempdir();
    let (_, key) = server_pair();
    let missing = dir.path().join("missing.pem");
    let out = refused(dir.path(), pair_args(&missing, &key), &[]);
    out.assert_stderr_contains(&format!("failed to read {}", missing.display()))
        .assert_stderr_contains("No such file");
}

#[test]
fn missing_key_file_is_refused_naming_it() {
    let dir = tempdir();
    let (cert, _) = server_pair();
    let missing = dir.path().join("missing-key.pem");
    let out = refused(dir.path(), pair_args(&cert, &missing), &[]);
    out.assert_stderr_contains(&format!("failed to read {}", missing.display()))
        .assert_stderr_contains("No such file");
}

#[test]
fn unreadable_cert_file_is_refused_naming_it() {
    if e2e::is_root() {
        skip(
            "running as root, which reads a mode-000 file anyway; the unreadable-file case did NOT run",
        );
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let (cert, key) = server_pair();
    let locked = dir.path().join("locked.pem");
    write_file(&locked, read_file(&cert));
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let out = refused(dir.path(), pair_args(&locked, &key), &[]);
    out.assert_stderr_contains(&locked.display().to_string())
        .assert_stderr_contains("ermission denied");
}

#[test]
fn a_directory_as_cert_is_refused_naming_it() {
    let dir = tempdir();
    let (_, key) = server_pair();
    let out = refused(dir.path(), pair_args(dir.path(), &key), &[]);
    out.assert_stderr_contains(&format!("failed to read {}", dir.path().display()));
}

#[test]
fn non_pem_cert_file_is_refused_naming_it() {
    let dir = tempdir();
    let (_, key) = server_pair();
    let text = dir.path().join("notes.pem");
    write_file(&text, "hello, I am not a certificate\n");
    let out = refused(dir.path(), pair_args(&text, &key), &[]);
    out.assert_stderr_contains(&format!("{} is not a valid certificate", text.display()))
        .assert_stderr_contains("not PEM");

    let empty = dir.path().join("empty.pem");
    write_file(&empty, "");
    let out = refused(dir.path(), pair_args(&empty, &key), &[]);
    out.assert_stderr_contains(&format!("{} is not a valid certificate", empty.display()))
        .assert_stderr_contains("empty");
}

#[test]
fn cert_and_key_swapped_are_refused_naming_the_file() {
    let dir = tempdir();
    let (cert, key) = server_pair();
    let out = refused(dir.path(), pair_args(&key, &cert), &[]);
    out.assert_stderr_contains(&format!(
        "{} holds a private key, not a certificate",
        key.display()
    ));
}

#[test]
fn cert_and_key_mismatch_is_refused_naming_both_files() {
    let dir = tempdir();
    let (cert, _) = server_pair();
    let other = fixture(Family::Ecdsa, "client-key.pem");
    let out = refused(dir.path(), pair_args(&cert, &other), &[]);
    out.assert_stderr_contains(&format!(
        "the key {} does not belong to the certificate {}",
        other.display(),
        cert.display()
    ));
}

#[test]
fn cert_without_key_is_a_usage_error() {
    let dir = tempdir();
    let (cert, _) = server_pair();
    let out = refused(dir.path(), [OsStr::new("--cert"), cert.as_os_str()], &[]);
    out.assert_stderr_contains("the following required arguments were not provided")
        .assert_stderr_contains("--key <FILE>");
}

#[test]
fn client_ca_that_is_a_leaf_is_refused_naming_it() {
    let dir = tempdir();
    let (cert, key) = server_pair();
    let mut args = pair_args(&cert, &key);
    args.extend(os_args([OsStr::new("--client-ca"), cert.as_os_str()]));
    let out = refused(dir.path(), &args, &[]);
    out.assert_stderr_contains(&format!(
        "{} holds no CA certificate to verify clients against",
        cert.display()
    ));
}

#[test]
fn garbage_crl_is_refused_naming_it() {
    let dir = tempdir();
    let (cert, key) = server_pair();
    let crl = dir.path().join("garbage.crl");
    write_file(&crl, "not a revocation list at all\n");
    let ca = fixture(Family::Ecdsa, "ca.pem");
    let mut args = pair_args(&cert, &key);
    args.extend(os_args([
        OsStr::new("--client-ca"),
        ca.as_os_str(),
        OsStr::new("--crl"),
        crl.as_os_str(),
    ]));
    let out = refused(dir.path(), &args, &[]);
    out.assert_stderr_contains(&format!("{} is not a valid CRL", crl.display()));
}

/// Not a refusal but its twin: a PEM CRL with a human-readable dump before
/// its BEGIN line, as `openssl crl -text` writes it, is a valid CRL file
/// (`openssl crl -in` reads it, and so does the server's own start-up
/// check), so the server must use it.
#[test]
fn pem_crl_with_text_before_it_is_used() {
    let dir = tempdir();
    let d = dir.path();
    issue(d, "server", &["localhost"]);
    pki(d)
        .args([
            "cert",
            "--client",
            "--cert-file",
            "client.pem",
            "--key-file",
            "client-key.pem",
            "client@example.test",
        ])
        .assert_success();
    pki(d).arg("crl").assert_success();
    let dump = openssl(["crl", "-text", "-in"])
        .arg(d.join("ca/crl.pem"))
        .assert_success()
        .stdout;
    assert!(
        dump.starts_with("Certificate Revocation List")
            && dump.contains("-----BEGIN X509 CRL-----"),
        "{dump}"
    );
    write_file(&d.join("crl-text.pem"), &dump);
    openssl(["crl", "-noout", "-in"])
        .arg(d.join("crl-text.pem"))
        .assert_success();

    let server = start(
        d,
        [
            "--cert",
            "server.pem",
            "--key",
            "server-key.pem",
            "--client-ca",
            "ca/rootCA.pem",
            "--crl",
            "crl-text.pem",
        ],
        &[],
    );
    curl()
        .current_dir(d)
        .args([
            "--fail",
            "--cacert",
            "ca/rootCA.pem",
            "--cert",
            "client.pem",
            "--key",
            "client-key.pem",
        ])
        .arg(format!("https://localhost:{}/whoami", server.port()))
        .assert_success()
        .assert_stdout_contains("\"client_certificate\":{");
}

#[test]
fn malformed_sni_entries_are_refused_quoting_them() {
    let dir = tempdir();
    let (cert, key) = server_pair();
    let sni_pair = format!("{},{}", cert.display(), key.display());
    let cases: [(String, &str); 5] = [
        (
            "api.test".to_owned(),
            "--sni \"api.test\": write HOST=CERT,KEY",
        ),
        (
            "api.test=only-cert.pem".to_owned(),
            "--sni \"api.test=only-cert.pem\": after api.test= give the certificate and key files separated by a comma",
        ),
        (
            "api.test=,k.pem".to_owned(),
            "--sni \"api.test=,k.pem\": write HOST=CERT,KEY with all three parts",
        ),
        (
            format!("bad host={sni_pair}"),
            "invalid SNI entry \"bad host\"",
        ),
        (
            "api.test=missing.pem,missing-key.pem".to_owned(),
            "--sni api.test=missing.pem,missing-key.pem: failed to read missing.pem",
        ),
    ];
    for (entry, needle) in cases {
        let mut args = pair_args(&cert, &key);
        args.push("--sni".into());
        args.push(entry.clone().into());
        let out = refused(dir.path(), &args, &[]);
        out.assert_stderr_contains(needle);
    }
}

#[test]
fn port_in_use_is_refused_naming_the_address() {
    let dir = tempdir();
    let (cert, key) = server_pair();
    let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = holder.local_addr().unwrap();
    let out = refused_on(dir.path(), addr, &pair_args(&cert, &key), &[]);
    out.assert_stderr_contains(&format!("cannot listen on {addr}"))
        .assert_stderr_contains("--bind");
    drop(holder);
}

// ---------------------------------------------------------------------------
// --adhoc
// ---------------------------------------------------------------------------

/// Starts `actix-https --adhoc` with its stderr (only) also kept in
/// `dir/stderr.txt`.
fn start_adhoc(dir: &Path) -> Server {
    let stderr = dir.join("stderr.txt");
    Server::start(
        "actix-https --adhoc",
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        READY,
        |port| {
            let inner = actix_command(dir, port, &os_args(["--adhoc"]), &[]);
            let mut cmd = Command::new("sh");
            cmd.arg("-c")
                .arg(r#"exec "$0" "$@" 2>>"$ADHOC_STDERR""#)
                .arg(inner.get_program())
                .args(inner.get_args())
                .current_dir(dir)
                .env("ADHOC_STDERR", &stderr);
            for (k, v) in inner.get_envs() {
                match v {
                    Some(v) => cmd.env(k, v),
                    None => cmd.env_remove(k),
                };
            }
            cmd
        },
    )
}

#[test]
fn adhoc_serves_a_fresh_self_signed_certificate_nobody_trusts() {
    let dir = tempdir();
    let d = dir.path();
    let server = start_adhoc(d);
    let port = server.port();

    let stderr = String::from_utf8_lossy(&read_file(&d.join("stderr.txt"))).into_owned();
    assert!(
        stderr.contains("warning: --adhoc") && stderr.contains("no browser or client trusts it"),
        "stderr should warn that no client trusts the certificate\n{stderr}"
    );

    // curl with the system's trust store refuses it.
    let out = curl().arg(server.url("localhost")).output();
    out.assert_code(60);

    let pem = presented(port, Some("localhost"), &[]);
    assert_eq!(name(&pem, "subject"), name(&pem, "issuer"), "{pem}");
    assert_eq!(
        san(&pem),
        "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
    );
    // Self-signed for real: trusting it alone is enough.
    let own = d.join("adhoc.pem");
    write_file(&own, &pem);
    curl_ok(&own, &server.url("localhost"), None).assert_stdout_contains(HTTPS_PAGE);
    // No local CA was made for it.
    assert!(!d.join("ca").exists(), "--adhoc should not create a CA");
    let first = fingerprint(&pem);
    drop(server);

    let again = tempdir();
    let server = start_adhoc(again.path());
    let second = fingerprint(&presented(server.port(), Some("localhost"), &[]));
    assert_ne!(
        first, second,
        "two --adhoc starts served the same certificate"
    );
}

// ---------------------------------------------------------------------------
// A real browser
// ---------------------------------------------------------------------------

#[test]
fn chromium_trusts_the_local_ca_from_its_nss_store_and_only_then() {
    if !require_tools(&["chromium", "certutil"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    // Zero-config: the server makes the CA in CAROOT and a localhost certificate.
    let server = start(d, std::iter::empty::<&str>(), &[]);
    let url = server.url("localhost");
    let root = d.join("ca").join(CA_CERT_FILE);
    assert!(root.is_file(), "no {}\n{}", root.display(), server.log());

    // Trusted: the CA is in Chromium's own NSS database.
    let trusted = d.join("trusted");
    let home = nss_home(&trusted);
    TestCommand::new("certutil")
        .arg("-A")
        .arg("-d")
        .arg(format!("sql:{}", home.join(".pki/nssdb").display()))
        .args(["-n", "pki-test", "-t", "C,,", "-i"])
        .arg(&root)
        .assert_success();
    let out = chromium_dump(&home, &url);
    assert!(out.status.success(), "chromium failed\n{out}");
    out.assert_stdout_contains(HTTPS_PAGE)
        .assert_stdout_contains("localhost");

    // Not trusted: an empty NSS database, and Chromium refuses the page.
    let untrusted = d.join("untrusted");
    let home = nss_home(&untrusted);
    let out = chromium_dump(&home, &url);
    out.assert_stdout_lacks(HTTPS_PAGE);
    assert!(
        out.stderr.contains("ERR_CERT_AUTHORITY_INVALID")
            || out.stdout.contains("ERR_CERT_AUTHORITY_INVALID"),
        "chromium should refuse the certificate as from an unknown authority (in its log or its interstitial), not fail on something else\n{out}"
    );
}
