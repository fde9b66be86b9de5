//! SNI (exact and wildcard names, from flags and the environment) and hot
//! reload of the watched certificate files (with and without SNI, bad files
//! kept out) in the `actix-https` binary; what the server presents is judged
//! by `openssl s_client` and `openssl x509`, never by `pki`.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use e2e::{READY, openssl_san, openssl_serial, presented};
use e2e::{Server, curl, read_file, tempdir, write_file};
use pki::ca::CA_CERT_FILE;

use crate::server::{HTTPS_PAGE, curl_ok, issue, start_env};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The one line of the reload log that says a bad pair was kept out.
const KEPT: &str = "still serving the previous certificate";

/// How long a reload may take to show (the servers here poll every 200 ms).
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

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
/// (as [`openssl_serial`] gives it).
fn wait_for_serial(server: &Server, sni: Option<&str>, want: &str) {
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    loop {
        let got = openssl_serial(&presented(server.port(), sni, &[]));
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
            openssl_san(&pem),
            want,
            "SNI {sni:?} got the wrong certificate\n--- server log ---\n{}",
            server.log()
        );
    }
    // The api certificate really is the one in api.pem.
    assert_eq!(
        openssl_serial(&presented(port, Some("api.test"), &[])),
        openssl_serial(&dir.join("api.pem"))
    );
    assert_eq!(
        openssl_serial(&presented(port, Some("x.apps.test"), &[])),
        openssl_serial(&dir.join("apps.pem"))
    );
    assert_eq!(
        openssl_serial(&presented(port, None, &[])),
        openssl_serial(&dir.join("default.pem"))
    );
    // The same over TLS 1.2.
    assert_eq!(
        openssl_san(&presented(port, Some("api.test"), &["-tls1_2"])),
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
    let server = start_env(
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
    let server = start_env(
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
    let server = start_env(d, &args, &[]);
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
        Watched::DefaultBySni => (Some("api.test"), openssl_serial(&d.join("api.pem"))),
        Watched::DefaultByIp => (None, String::new()),
        Watched::SniEntry => (None, openssl_serial(&d.join("default.pem"))),
    };
    let assert_other_unchanged = || {
        if !other_serial.is_empty() {
            assert_eq!(
                openssl_serial(&presented(port, other_sni, &[])),
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

    let v1 = openssl_serial(&cert);
    assert_eq!(openssl_serial(&presented(port, sni, &[])), v1);
    assert_https();

    // 1. A new pair, deployed by renames: served without a restart.
    let (v2_cert, v2_key) = issue(d, "v2", &v2_names);
    let v2 = openssl_serial(&v2_cert);
    assert_ne!(v1, v2);
    deploy(&v2_cert, &cert);
    deploy(&v2_key, &key);
    wait_for_serial(&server, sni, &v2);
    // TLS 1.2 handshakes get it too.
    assert_eq!(openssl_serial(&presented(port, sni, &["-tls1_2"])), v2);
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
    assert_eq!(openssl_serial(&presented(port, sni, &[])), v2);
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
    assert_eq!(openssl_serial(&presented(port, sni, &[])), v2);
    assert_https();

    // 4. The right key back: reloaded, still v2, and no error about it.
    let mark = server.log().len();
    deploy(&v2_key, &key);
    let since = wait_log_since(&server, mark, &format!("reloaded {cert_arg}"));
    assert!(!since.contains("error:"), "{since}");
    assert_eq!(openssl_serial(&presented(port, sni, &[])), v2);
    assert_https();

    // 5. After all that, the watcher still serves the next deploy.
    let (v3_cert, v3_key) = issue(d, "v3", &v3_names);
    let v3 = openssl_serial(&v3_cert);
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
