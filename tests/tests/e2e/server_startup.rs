//! How the `actix-https` binary refuses to start (exit code 2, the file or
//! value named, nothing bound), and `--adhoc`.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};

use e2e::{ActixHttps, openssl_fingerprint, openssl_name, openssl_san, presented};
use e2e::{Server, curl, fixture, openssl, pki, read_file, skip, tempdir, write_file};
use pki_fixtures::Family;

use crate::server::{HTTPS_PAGE, curl_ok, issue, os_args, refused, start_env};

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

    let server = start_env(
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
    let out = ActixHttps::new(dir.path())
        .args(pair_args(&cert, &key))
        .refused_on(addr);
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
    ActixHttps::new(dir)
        .args(["--adhoc"])
        .env("ADHOC_STDERR", &stderr)
        .wrapped_in("sh", ["-c", r#"exec "$0" "$@" 2>>"$ADHOC_STDERR""#])
        .start()
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
    assert_eq!(
        openssl_name(&pem, "subject"),
        openssl_name(&pem, "issuer"),
        "{pem}"
    );
    assert_eq!(
        openssl_san(&pem),
        "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
    );
    // Self-signed for real: trusting it alone is enough.
    let own = d.join("adhoc.pem");
    write_file(&own, &pem);
    curl_ok(&own, &server.url("localhost"), None).assert_stdout_contains(HTTPS_PAGE);
    // No local CA was made for it.
    assert!(!d.join("ca").exists(), "--adhoc should not create a CA");
    let first = openssl_fingerprint(&pem);
    drop(server);

    let again = tempdir();
    let server = start_adhoc(again.path());
    let second = openssl_fingerprint(&presented(server.port(), Some("localhost"), &[]));
    assert_ne!(
        first, second,
        "two --adhoc starts served the same certificate"
    );
}
