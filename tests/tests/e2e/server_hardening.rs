//! The `actix-https` server against what a hostile or careless client does:
//! resuming a session after its certificate was revoked, a crowd of idle
//! connections, weak key exchanges, a CA certificate posing as a client, a
//! stale CRL. Each test failed before its fix.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use e2e::{
    Output, Server, TestResult, openssl, pki, python, read_text, require_tool, tempdir, write_file,
    x509_text,
};
use pki::Ca;

use e2e::{ActixHttps, ca_cert, get, path_str, s_client, s_client_whoami};

use crate::server::{start, tools};
use crate::server_mtls::{REVOKED, Refusal, assert_client_accepted, assert_client_refused};

/// Waits until the server's log holds `needle` `count` times, failing with
/// the log after ten seconds.
fn wait_for_log(server: &Server, needle: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.log().matches(needle).count() < count {
        assert!(
            Instant::now() < deadline,
            "the server never logged {needle:?} {count} time(s)\n{}",
            server.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// A CA in `dir/ca`, client certificates for `names` and a first CRL.
fn ca_with_clients(dir: &Path, names: &[&str]) {
    pki(dir).args(["ca", "create"]).assert_success();
    for name in names {
        pki(dir).args(["cert", "--client", name]).assert_success();
    }
    pki(dir).arg("crl").assert_success();
}

/// The server in `d` verifying clients against `root` and `crl`, checking
/// its files every 100 ms.
fn start_watching_crl(d: &Path, root: &Path, crl: &Path) -> Server {
    start(
        d,
        &[
            "--client-ca",
            path_str(root),
            "--crl",
            path_str(crl),
            "--reload-ms",
            "100",
        ],
    )
}

/// `name`'s client certificate and key files, as `pki cert --client` names them.
fn client_files(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}-client.pem")),
        dir.join(format!("{name}-client-key.pem")),
    )
}

/// `openssl s_client` as `identity`, asking for `/whoami`, with `flag`
/// (`-sess_out` to save the session, `-sess_in` to offer a saved one, with
/// the certificate too, as an attacker would) and the `session` file.
fn s_client_session(
    server: &Server,
    ca: &Path,
    version: &str,
    identity: (&Path, &Path),
    flag: &str,
    session: &Path,
) -> Output {
    s_client_whoami(
        server,
        &[
            version,
            "-servername",
            "localhost",
            "-CAfile",
            path_str(ca),
            "-cert",
            path_str(identity.0),
            "-key",
            path_str(identity.1),
            flag,
            path_str(session),
        ],
    )
}

/// Saves a session of `identity` with `version` into `session`, asserting
/// the server let it in.
fn save_session(
    server: &Server,
    ca: &Path,
    version: &str,
    identity: (&Path, &Path),
    session: &Path,
) {
    let out = s_client_session(server, ca, version, identity, "-sess_out", session);
    out.assert_stdout_contains("\"resumed\":false")
        .assert_stdout_contains("\"client_certificate\":{");
    assert!(session.is_file(), "no session was saved\n{out}");
}

/// Offers the saved `session`.
fn offer_session(
    server: &Server,
    ca: &Path,
    version: &str,
    identity: (&Path, &Path),
    session: &Path,
) -> Output {
    s_client_session(server, ca, version, identity, "-sess_in", session)
}

const VERSIONS: [(&str, &str); 2] = [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")];

/// After `pki revoke` + `pki crl` and the server's reload, a session saved
/// before the revocation no longer resumes (TLS 1.2 session ids and TLS
/// 1.3 tickets alike): the revoked client goes through a full handshake and
/// is refused, and a client still in good standing is verified again.
#[test]
fn revoked_client_cannot_resume_a_session_from_before_the_crl_changed() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    ca_with_clients(d, &["alice@example.test", "bob@example.test"]);
    let (alice, alice_key) = client_files(d, "alice@example.test");
    let (bob, bob_key) = client_files(d, "bob@example.test");
    let root = ca_cert(d);
    let crl = d.join("ca/crl.pem");
    let server = start_watching_crl(d, &root, &crl);
    // Sessions saved while both were in good standing, and proof that they
    // resume at that point.
    for (version, protocol) in VERSIONS {
        for who in [(&alice, &alice_key), (&bob, &bob_key)] {
            let session = d.join(format!("{}{version}.session", who.0.display()));
            save_session(&server, &root, version, (who.0, who.1), &session);
        }
        let session = d.join(format!("{}{version}.session", alice.display()));
        offer_session(&server, &root, version, (&alice, &alice_key), &session)
            .assert_stdout_contains(&format!("Reused, {protocol}"))
            .assert_stdout_contains("\"resumed\":true");
    }

    pki(d)
        .args(["revoke", "alice@example.test-client.pem"])
        .assert_success();
    pki(d).arg("crl").assert_success();
    wait_for_log(&server, "reloaded the CRL", 1);
    server.assert_log_contains("sessions from before it are not resumed");

    for (version, protocol) in VERSIONS {
        let session = d.join(format!("{}{version}.session", alice.display()));
        let out = offer_session(&server, &root, version, (&alice, &alice_key), &session);
        out.assert_output_contains("alert certificate revoked")
            .assert_stdout_lacks("Reused,")
            .assert_stdout_lacks("\"client_certificate\"");
        let session = d.join(format!("{}{version}.session", bob.display()));
        offer_session(&server, &root, version, (&bob, &bob_key), &session)
            .assert_stdout_contains(&format!("New, {protocol}"))
            .assert_stdout_contains("\"resumed\":false")
            .assert_stdout_contains("email:bob@example.test");
    }
    // And a full handshake with the revoked certificate, as before.
    assert_client_refused(&server, &root, Some((&alice, &alice_key)), &REVOKED);
}

/// A changed client-CA file is read again, and sessions verified under the
/// old one are not resumed.
#[test]
fn changed_client_cas_end_resumption_of_earlier_sessions() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    ca_with_clients(d, &["bob@example.test"]);
    let (bob, bob_key) = client_files(d, "bob@example.test");
    let root = ca_cert(d);
    let client_cas = d.join("client-cas.pem");
    write_file(&client_cas, read_text(&root));
    let server = start(
        d,
        &["--client-ca", path_str(&client_cas), "--reload-ms", "100"],
    );
    let session = d.join("bob.session");
    save_session(&server, &root, "-tls1_3", (&bob, &bob_key), &session);

    // Another team's CA joins the file.
    let other = tempdir();
    pki(other.path()).args(["ca", "create"]).assert_success();
    let mut both = read_text(&root);
    both.push_str(&read_text(&ca_cert(other.path())));
    write_file(&client_cas, both);
    wait_for_log(&server, "reloaded the client CAs", 1);

    offer_session(&server, &root, "-tls1_3", (&bob, &bob_key), &session)
        .assert_stdout_contains("New, TLSv1.3")
        .assert_stdout_contains("\"resumed\":false")
        .assert_stdout_contains("email:bob@example.test");
}

/// How a CA certificate offered as a client is refused.
const CA_AS_CLIENT: Refusal = Refusal {
    tls12_code: 35,
    tls12_alert: "alert handshake failure",
    tls13_alert: "alert handshake failure",
};

/// A certificate with CA:TRUE, keyCertSign and clientAuth, issued by the
/// client CA (the openssl recipe an attacker with a sub-CA would use),
/// passes OpenSSL's chain check; the server refuses it as a client, as
/// browsers refuse a CA as an end entity. A CA is refused as the server's
/// own certificate too.
#[test]
fn ca_certificates_are_refused_as_client_and_server_identities() -> TestResult {
    if !tools() {
        return Ok(());
    }
    let dir = tempdir();
    let d = dir.path();
    ca_with_clients(d, &["bob@example.test"]);
    let (bob, bob_key) = client_files(d, "bob@example.test");
    let root = ca_cert(d);
    let root_key = d.join("ca/rootCA-key.pem");
    let (sub, sub_key, csr, ext) = (
        d.join("sub-ca.pem"),
        d.join("sub-ca-key.pem"),
        d.join("sub-ca.csr"),
        d.join("sub-ca.ext"),
    );
    openssl([
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
    ])
    .arg(&sub_key)
    .assert_success();
    openssl(["req", "-new", "-subj", "/CN=posing client CA", "-key"])
        .arg(&sub_key)
        .arg("-out")
        .arg(&csr)
        .assert_success();
    write_file(
        &ext,
        "basicConstraints=critical,CA:TRUE\n\
         keyUsage=critical,digitalSignature,keyCertSign\n\
         extendedKeyUsage=clientAuth\n\
         subjectAltName=email:sub@example.test\n",
    );
    openssl([
        "x509",
        "-req",
        "-days",
        "30",
        "-set_serial",
        "0x5ab1",
        "-in",
    ])
    .arg(&csr)
    .arg("-CA")
    .arg(&root)
    .arg("-CAkey")
    .arg(&root_key)
    .arg("-extfile")
    .arg(&ext)
    .arg("-out")
    .arg(&sub)
    .assert_success();
    // OpenSSL itself takes it as a TLS client certificate.
    openssl(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(&root)
        .arg(&sub)
        .assert_success();

    let server = start(d, &["--client-ca", path_str(&root)]);
    assert_client_accepted(
        &server,
        &root,
        &["--cert", path_str(&bob), "--key", path_str(&bob_key)],
        &bob,
    );
    assert_client_refused(&server, &root, Some((&sub, &sub_key)), &CA_AS_CLIENT);
    drop(server);

    let out = e2e::TestCommand::new(e2e::workspace_bin("actix-https", "actix-https"))
        .current_dir(d)
        .env("CAROOT", d.join("ca"))
        .args(["--bind", "127.0.0.1:0", "--cert"])
        .arg(&sub)
        .arg("--key")
        .arg(&sub_key)
        .assert_failure();
    out.assert_code(2)
        .assert_stderr_contains(&format!("{} is a CA certificate", sub.display()))
        .assert_stderr_contains("pki cert localhost");
    Ok(())
}

/// The seed articles' `openssl req -x509 -newkey … -nodes` writes a
/// self-signed certificate with `CA:TRUE` (OpenSSL's default `v3_ca`).
/// It is still served, with a warning that Firefox refuses it, and still
/// accepted as a client certificate pinned in `--client-ca`: clients that
/// trust it trust it as itself.
#[test]
fn self_signed_ca_true_pairs_from_openssl_req_still_work() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let (cert, key) = (d.join("cert.pem"), d.join("key.pem"));
    openssl([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
        "-out",
    ])
    .arg(&cert)
    .arg("-keyout")
    .arg(&key)
    .assert_success();
    assert!(x509_text(&cert).contains("CA:TRUE"), "{}", x509_text(&cert));
    let server = start(
        d,
        &[
            "--cert",
            path_str(&cert),
            "--key",
            path_str(&key),
            "--client-ca",
            path_str(&cert),
        ],
    );
    server.assert_log_contains("is a self-signed CA certificate (CA:TRUE)");
    server.assert_log_contains("Firefox refuses it");
    get(
        &server,
        &cert,
        "/whoami",
        &["--cert", path_str(&cert), "--key", path_str(&key)],
    )
    .assert_stdout_contains("\"subject\":\"CN=localhost\"");
}

/// Both profiles offer exactly Mozilla's key exchanges: X25519, P-256 and
/// P-384; X448 and P-521 are refused.
#[test]
fn key_exchange_groups_are_mozillas_three() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    for profile in ["intermediate", "modern"] {
        let server = start(d, &["--tls-profile", profile]);
        let root = ca_cert(d);
        for (group, shown) in [
            ("X25519", "X25519"),
            ("P-256", "ECDH, prime256v1"),
            ("P-384", "ECDH, secp384r1"),
        ] {
            s_client(
                &server,
                &["-tls1_3", "-groups", group, "-CAfile", path_str(&root)],
            )
            .assert_code(0)
            .assert_stdout_contains(&format!("Server Temp Key: {shown}"));
        }
        for group in ["X448", "P-521"] {
            s_client(
                &server,
                &["-tls1_3", "-groups", group, "-CAfile", path_str(&root)],
            )
            .assert_code(1)
            .assert_output_contains("handshake failure");
        }
    }
}

/// sslyze's check against Mozilla's intermediate and modern
/// configurations passes. The certificate lives 90 days, Mozilla's
/// recommended lifespan (its check refuses more than 366).
#[test]
fn sslyze_finds_both_profiles_mozilla_compliant() {
    if !tools() || !require_tool("sslyze") {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    pki(d).args(["ca", "create"]).assert_success();
    pki(d)
        .args(["cert", "--days", "90", "localhost", "127.0.0.1"])
        .assert_success();
    for profile in ["intermediate", "modern"] {
        let server = start(
            d,
            &[
                "--tls-profile",
                profile,
                "--hsts",
                "--cert",
                "localhost+1.pem",
                "--key",
                "localhost+1-key.pem",
            ],
        );
        let out = e2e::TestCommand::new("sslyze")
            .arg(format!("--mozilla_config={profile}"))
            .arg("--certinfo_ca_file")
            .arg(ca_cert(d))
            .arg(format!("127.0.0.1:{}", server.port()))
            .timeout(Duration::from_secs(120))
            .output();
        out.assert_code(0)
            .assert_stdout_contains(&format!("Mozilla's \"{profile}\" configuration"))
            .assert_stdout_contains("OK - Compliant")
            .assert_stdout_lacks("X448, secp521r1")
            .assert_stdout_contains(
                "Supported curves:                  X25519, secp256r1, secp384r1",
            );
    }
}

/// A CRL whose next update has passed makes OpenSSL refuse every client;
/// the server says so loudly at start and when such a CRL is reloaded, with
/// the date and the command that writes a fresh one.
#[test]
fn expired_crl_is_reported_at_start_and_on_reload() -> TestResult {
    if !tools() {
        return Ok(());
    }
    let dir = tempdir();
    let d = dir.path();
    ca_with_clients(d, &["bob@example.test"]);
    let root = ca_cert(d);
    let ca = Ca::load(d.join("ca"), None)?;
    let expired = d.join("expired.crl");
    write_file(&expired, ca.crl(&[], 90, Duration::from_secs(1))?.to_pem()?);
    thread::sleep(Duration::from_millis(2100));

    let server = start(
        d,
        &["--client-ca", path_str(&root), "--crl", path_str(&expired)],
    );
    server.assert_log_contains(&format!(
        "warning: the CRL {} expired on",
        expired.display()
    ));
    server.assert_log_contains("every client certificate is refused, valid ones included");
    server.assert_log_contains("`pki crl`");
    drop(server);

    // A good CRL at start: no warning; then an expired one replaces it.
    let crl = d.join("ca/crl.pem");
    let server = start_watching_crl(d, &root, &crl);
    assert!(!server.log().contains("warning"), "{}", server.log());
    write_file(&crl, read_text(&expired));
    wait_for_log(&server, "reloaded the CRL", 1);
    wait_for_log(
        &server,
        &format!("warning: the CRL {} expired on", crl.display()),
        1,
    );
    Ok(())
}

/// Held open without a byte sent, idle connections used to fill actix's 256
/// handshake slots for 3 s each, so new clients waited seconds or timed
/// out. With 5,000 of them held, new clients are served promptly. The bound
/// is loose for a shared 2-core machine; the measured figure is in the
/// closing note beside nginx's.
#[test]
fn five_thousand_idle_connections_do_not_stall_new_clients() {
    if !tools() {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let server = start(d, &[]);
    let out = python(
        PY_IDLE_CROWD,
        [
            server.port().to_string(),
            "5000".to_owned(),
            "40".to_owned(),
            path_str(&ca_cert(d)).to_owned(),
        ],
    )
    .timeout(Duration::from_secs(120))
    .output();
    assert!(out.status.success(), "{out}");
    out.assert_stdout_contains("idle=5000 ")
        .assert_stdout_contains("failed=0 ");
    let p99: f64 = out
        .stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("p99_ms="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no p99 in\n{out}"));
    assert!(p99 < 1000.0, "new clients waited {p99} ms (p99)\n{out}");
}

/// Started with an open-file soft limit of 1,024 (a common default, far
/// below 5,000 connections), the server raises it to the hard limit, as
/// nginx and Go do.
#[test]
fn open_file_soft_limit_is_raised_to_the_hard_limit() {
    if !tools() || !require_tool("prlimit") {
        return;
    }
    let dir = tempdir();
    let server = ActixHttps::new(dir.path())
        .wrapped_in("prlimit", ["--nofile=1024:"])
        .start();
    let limits = read_text(Path::new(&format!("/proc/{}/limits", server.pid())));
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("no open-file limit in\n{limits}"));
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers.len(), 2, "{line}");
    assert_eq!(numbers[0], numbers[1], "soft limit not raised: {line}");
    assert_ne!(numbers[0], "1024", "soft limit not raised: {line}");
}

/// `tests/scripts/idle_crowd.py`, shared with `cargo xtask bench idle`.
const PY_IDLE_CROWD: &str = include_str!("../../scripts/idle_crowd.py");
