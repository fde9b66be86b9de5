//! Mutual TLS in the `actix-https` binary: required and optional client
//! certificates, refusals (none, untrusted, expired, revoked) as curl and
//! `openssl s_client` report them, resumed sessions keeping the client's
//! identity, and CRLs at start and while running.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, SystemTime};

use e2e::{
    Output, Server, TestCommand, TestResult, fixture, free_port, openssl_date, openssl_fingerprint,
    openssl_name, pki, tempdir, workspace_bin,
};
use e2e::{
    READY, ca_cert, curl_to, field, get, openssl_serial, path_str, s_client_whoami, url, whoami,
};
use pki::{Ca, CertParams, Profile};
use pki_fixtures::Family;

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

pub(crate) const NO_CERT: Refusal = Refusal {
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

use crate::server::{resume, start, tools};

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
        openssl_serial(cert).trim_start_matches('0')
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
