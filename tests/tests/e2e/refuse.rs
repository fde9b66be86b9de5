//! Input the `pki` command must refuse, each with a message a person can act
//! on, exit code 2 and nothing written: lifetimes past what X.509 can carry,
//! weak CSR keys, oversized serials, broken or look-alike names, special and
//! huge files, servers that stall or do not speak TLS, and CA directories that
//! are unreadable, dangling or expired.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e::*;
use pki::{Ca, CaParams};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// 9999-12-31 23:59:59 UTC in seconds since 1970, computed here rather than
/// taken from `pki`, so the test checks the library's constant.
const LATEST_X509_SECS: u64 = 253_402_300_799;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The `pki` binary's command with the same environment as [`pki`], run
/// through `setpriv` without the capabilities that let root ignore file
/// permissions, so a mode-000 directory shuts it out as it would a user.
fn pki_without_root_powers(dir: &Path) -> TestCommand {
    let mut cmd = TestCommand::new("setpriv");
    cmd.arg("--bounding-set=-dac_override,-dac_read_search")
        .arg(workspace_bin("pki-cli", "pki"))
        .current_dir(dir)
        .env("CAROOT", dir.join("ca"))
        .env_remove("XDG_DATA_HOME")
        .env_remove("PKI_CA_PASSPHRASE_FILE");
    cmd
}

/// A CSR for `weak.test` made by `openssl req` with the key in `key_file`.
fn openssl_csr(dir: &Path, key_file: &str, csr_file: &str) {
    openssl([
        "req",
        "-new",
        "-key",
        key_file,
        "-subj",
        "/CN=weak.test",
        "-addext",
    ])
    .arg("subjectAltName=DNS:weak.test")
    .args(["-out", csr_file])
    .current_dir(dir)
    .assert_success();
}

// ---------------------------------------------------------------------------
// Lifetimes: nothing past 9999-12-31 23:59:59 UTC, no CRL valid for 0 days
// ---------------------------------------------------------------------------

#[test]
fn ca_create_days_reaching_year_10000_is_refused() {
    let dir = tempdir();
    let d = dir.path();
    let out = assert_refused_cleanly(
        d,
        pki(d).args(["ca", "create", "--days", "3000000"]),
        &["9999-12-31 23:59:59 UTC", "RFC 5280", "fewer days"],
    );
    out.assert_stdout_lacks("1970");
    assert!(!d.join("ca").exists(), "no CA directory may be made\n{out}");
}

#[test]
fn ca_create_days_up_to_9999_still_makes_a_usable_ca() {
    let dir = tempdir();
    let d = dir.path();
    // The most days that still end by 9999-12-31 23:59:59 (notBefore is 5
    // minutes back), and two more, which end in the year 10000.
    let max_days = (LATEST_X509_SECS - now_secs()) / 86_400;
    let over = (max_days + 2).to_string();
    assert_refused_cleanly(
        d,
        pki(d).args(["ca", "create", "--days", &over]),
        &["10000-01-", "after 9999-12-31 23:59:59 UTC"],
    );
    pki(d)
        .args(["ca", "create", "--days", &max_days.to_string()])
        .assert_success()
        .assert_stdout_contains("expires:  9999-12-");
    let end = openssl_date(&d.join("ca/rootCA.pem"), "enddate");
    assert!(end.starts_with("9999-12-"), "{end}");
    // The CA works: openssl accepts what it issues.
    pki(d).args(["cert", "a.test"]).assert_success();
    openssl([
        "verify",
        "-x509_strict",
        "-CAfile",
        "ca/rootCA.pem",
        "a.test.pem",
    ])
    .current_dir(d)
    .assert_success();
}

#[test]
fn self_signed_days_reaching_year_10000_is_refused() {
    let dir = tempdir();
    let d = dir.path();
    assert_refused_cleanly(
        d,
        pki(d).args(["self-signed", "--days", "100000000", "x.test"]),
        &["9999-12-31 23:59:59 UTC", "fewer days"],
    );
}

#[test]
fn crl_days_zero_or_past_9999_is_refused() {
    let dir = tempdir();
    let d = dir.path();
    pki(d).args(["ca", "create"]).assert_success();
    assert_refused_cleanly(
        d,
        pki(d).args(["crl", "--days", "0"]),
        &["0 days", "at least 1 day"],
    );
    assert_refused_cleanly(
        d,
        pki(d).args(["crl", "--days", "4294967295"]),
        &["9999-12-31 23:59:59 UTC"],
    );
    assert!(!d.join("ca/crl.pem").exists());
    // One day is fine, and openssl reads the CRL.
    pki(d).args(["crl", "--days", "1"]).assert_success();
    openssl(["crl", "-noout", "-in", "ca/crl.pem"])
        .current_dir(d)
        .assert_success();
}

// ---------------------------------------------------------------------------
// Keys, serials and CRL numbers
// ---------------------------------------------------------------------------

#[test]
fn sign_refuses_a_csr_with_an_rsa_1024_key() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    openssl(["genrsa", "-out", "weak-key.pem", "1024"])
        .current_dir(d)
        .assert_success();
    openssl_csr(d, "weak-key.pem", "weak.csr");
    let out = assert_refused_cleanly(
        d,
        pki(d).args(["sign", "weak.csr"]),
        &["weak.csr", "RSA 1024-bit", "2048", "pki key new"],
    );
    // Refused before a CA was made for it.
    assert!(!d.join("ca").exists(), "{out}");

    // The same once a CA exists: the library refuses too.
    pki(d).args(["ca", "create"]).assert_success();
    assert_refused_cleanly(d, pki(d).args(["sign", "weak.csr"]), &["RSA 1024-bit"]);
}

#[test]
fn sign_refuses_csr_keys_on_other_curves_and_dsa() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    openssl_line("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out k1-key.pem")
        .current_dir(d)
        .assert_success();
    openssl_csr(d, "k1-key.pem", "k1.csr");
    openssl_line("genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:1024 -out dsa.param")
        .current_dir(d)
        .assert_success();
    openssl_line("genpkey -paramfile dsa.param -out dsa-key.pem")
        .current_dir(d)
        .assert_success();
    openssl_csr(d, "dsa-key.pem", "dsa.csr");
    assert_refused_cleanly(
        d,
        pki(d).args(["sign", "k1.csr"]),
        &["k1.csr", "secp256k1", "P-256", "pki key new"],
    );
    assert_refused_cleanly(
        d,
        pki(d).args(["sign", "dsa.csr"]),
        &["dsa.csr", "DSA", "pki key new"],
    );
}

#[test]
fn revoke_refuses_a_serial_over_20_octets() {
    let dir = tempdir();
    let d = dir.path();
    pki(d).args(["ca", "create"]).assert_success();
    let long = "ab".repeat(500);
    assert_refused_cleanly(
        d,
        pki(d).args(["revoke", &long]),
        &["500 octets", "at most 20"],
    );
    assert!(!d.join("ca/revoked.txt").exists());
    // 20 octets is the most RFC 5280 allows, and is taken.
    pki(d).args(["revoke", &"7f".repeat(20)]).assert_success();
}

#[test]
fn crl_number_at_its_maximum_is_refused_not_wrapped() {
    let dir = tempdir();
    let d = dir.path();
    pki(d).args(["ca", "create"]).assert_success();
    write_file(&d.join("ca/crlnumber"), format!("{}\n", u64::MAX));
    assert_refused_cleanly(d, pki(d).arg("crl"), &["crlnumber", "largest"]);
    assert!(!d.join("ca/crl.pem").exists());
}

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

#[test]
fn an_invalid_a_label_is_refused() {
    let dir = tempdir();
    let d = dir.path();
    let out = assert_refused_cleanly(
        d,
        pki(d).args(["cert", "xn--zz.test"]),
        &["xn--zz", "A-label"],
    );
    assert!(!d.join("ca").exists(), "{out}");
    // A valid A-label typed as such is still issued.
    pki(d)
        .args(["cert", "xn--bcher-kva.example"])
        .assert_success();
}

#[test]
fn a_mixed_script_look_alike_warns_with_its_punycode() {
    let dir = tempdir();
    let d = dir.path();
    // The third letter is U+0430 CYRILLIC SMALL LETTER A.
    let out = pki(d).args(["cert", "ex\u{430}mple.test"]).assert_success();
    out.assert_stderr_contains("warning:")
        .assert_stderr_contains("ex\u{430}mple.test")
        .assert_stderr_contains("xn--exmple-4nf.test")
        .assert_stderr_contains("Latin and Cyrillic");
    // A name in one script is not warned about.
    let out = pki(d).args(["cert", "bücher.example"]).assert_success();
    assert!(!out.stderr.contains("warning"), "{out}");
}

#[test]
fn a_trailing_dot_stays_out_of_file_names() {
    let dir = tempdir();
    let d = dir.path();
    pki(d)
        .args(["cert", "example.test."])
        .assert_success()
        .assert_stdout_contains("example.test.pem")
        .assert_stdout_lacks("example.test..pem");
    assert!(d.join("example.test.pem").is_file());
    assert!(d.join("example.test-key.pem").is_file());
    let text = x509_text(&d.join("example.test.pem"));
    assert!(text.contains("DNS:example.test\n"), "{text}");
    pki(d).args(["csr", "new", "other.test."]).assert_success();
    assert!(d.join("other.test.csr").is_file());
    assert!(d.join("other.test-key.pem").is_file());
}

// ---------------------------------------------------------------------------
// Files that are not files
// ---------------------------------------------------------------------------

#[test]
fn a_fifo_is_refused_at_once() {
    let dir = tempdir();
    let d = dir.path();
    TestCommand::new("mkfifo")
        .arg(d.join("pipe.pem"))
        .assert_success();
    for command in ["inspect", "verify"] {
        let started = Instant::now();
        assert_refused_cleanly(
            d,
            pki(d)
                .args([command, "pipe.pem"])
                .timeout(Duration::from_secs(10)),
            &["pipe.pem", "named pipe", "regular file"],
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn dev_zero_is_refused_without_reading_it() {
    let dir = tempdir();
    let d = dir.path();
    assert_refused_cleanly(
        d,
        pki(d)
            .args(["inspect", "/dev/zero"])
            .timeout(Duration::from_secs(10)),
        &["/dev/zero", "character device"],
    );
}

#[test]
fn a_100_mb_file_is_refused_as_too_large() {
    let dir = tempdir();
    let d = dir.path();
    let big = d.join("big.pem");
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&big)
        .and_then(|f| f.set_len(100 << 20))
        .unwrap();
    let started = Instant::now();
    assert_refused_cleanly(
        d,
        pki(d).args(["inspect", "big.pem"]),
        &["big.pem", "larger than 16 MiB"],
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_pass_phrase_still_comes_through_a_pipe() {
    let dir = tempdir();
    let d = dir.path();
    // `--passphrase-file <(pass show x)` and /dev/stdin are pipes, and stay allowed.
    pki(d)
        .args(["key", "new", "k.pem", "--passphrase-file", "/dev/stdin"])
        .stdin("a good pass phrase\n")
        .assert_success();
    openssl(["pkey", "-noout", "-in", "k.pem", "-passin"])
        .arg("pass:a good pass phrase")
        .current_dir(d)
        .assert_success();
}

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

/// A server on 127.0.0.1 that accepts one connection and sends the header
/// of a 64-byte TLS record and then its bytes, one a second: each read gets
/// a byte before any per-read timeout, so only an overall deadline ends it.
fn dripping_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        let header = [0x16u8, 0x03, 0x03, 0x00, 0x40];
        for byte in header.into_iter().chain([0u8; 64]) {
            if conn.write_all(&[byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_secs(1));
        }
    });
    port
}

/// A plain HTTP server on 127.0.0.1 that answers one request with a 400,
/// as any HTTP server answers a TLS ClientHello.
fn plain_http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        let mut request = [0u8; 4096];
        let _ = conn.read(&mut request);
        let _ = conn.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    });
    port
}

#[test]
fn inspect_gives_up_on_a_dripping_server_at_its_deadline() {
    let dir = tempdir();
    let d = dir.path();
    let url = format!("https://127.0.0.1:{}", dripping_server());
    let started = Instant::now();
    let out = pki(d)
        .args(["inspect", &url, "--timeout", "2"])
        .timeout(Duration::from_secs(20))
        .output();
    let took = started.elapsed();
    out.assert_code(2)
        .assert_stderr_contains("did not finish its TLS handshake in 2 seconds")
        .assert_stderr_contains("--timeout");
    assert!(!out.stderr.contains("would have blocked"), "{out}");
    assert!(took < Duration::from_secs(6), "took {took:?}\n{out}");
}

#[test]
fn inspect_says_a_plain_http_port_does_not_speak_tls() {
    let dir = tempdir();
    let d = dir.path();
    let port = plain_http_server();
    let url = format!("https://127.0.0.1:{port}");
    let out = pki(d).args(["inspect", &url]).output();
    out.assert_code(2)
        .assert_stderr_contains(&format!("127.0.0.1:{port} does not speak TLS"));
    assert!(!out.stderr.contains("wrong version number"), "{out}");
}

#[test]
fn inspect_names_the_file_of_a_broken_key() {
    let dir = tempdir();
    let d = dir.path();
    write_file(
        &d.join("broken-key.pem"),
        "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----\n",
    );
    let out = assert_refused_cleanly(
        d,
        pki(d).args(["inspect", "broken-key.pem"]),
        &["broken-key.pem is not a valid private key"],
    );
    assert!(!out.stderr.contains("the key is not"), "{out}");
}

// ---------------------------------------------------------------------------
// CA directories
// ---------------------------------------------------------------------------

#[test]
fn an_unreadable_ca_directory_says_permission_denied() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempdir();
    let d = dir.path();
    pki(d)
        .args(["--ca-dir", "locked", "ca", "create"])
        .assert_success();
    let locked = d.join("locked");
    let run = |args: &[&str]| {
        let mut cmd = if is_root() {
            if !require_tool("setpriv") {
                return None;
            }
            pki_without_root_powers(d)
        } else {
            pki(d)
        };
        cmd.args(["--ca-dir", "locked"]).args(args);
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
        let out = cmd.output();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
        Some(out)
    };
    for args in [&["crl"][..], &["cert", "a.test"], &["ca", "show"]] {
        let Some(out) = run(args) else {
            return;
        };
        if out.code() == Some(0) {
            skip(
                "setpriv could not take away root's file powers here; the permission check did NOT run",
            );
            return;
        }
        out.assert_code(2)
            .assert_stderr_contains("permission denied")
            .assert_stderr_contains("locked");
        assert!(!out.stderr.contains("there is no CA"), "{out}");
        assert!(!d.join("a.test.pem").exists(), "{out}");
    }
}

#[test]
fn a_ca_directory_that_is_a_dangling_link_or_a_file_is_explained() {
    let dir = tempdir();
    let d = dir.path();
    std::os::unix::fs::symlink(d.join("nowhere"), d.join("link")).unwrap();
    write_file(&d.join("plain"), "not a directory\n");
    for command in [&["ca", "create"][..], &["cert", "a.test"], &["crl"]] {
        let out = assert_refused_cleanly(
            d,
            pki(d).args(["--ca-dir", "link"]).args(command),
            &["link is a symbolic link to", "nowhere", "does not exist"],
        );
        assert!(!out.stderr.contains("File exists"), "{out}");
        let out = assert_refused_cleanly(
            d,
            pki(d).args(["--ca-dir", "plain"]).args(command),
            &["plain is a file, not a directory", "move the file away"],
        );
        assert!(!out.stderr.contains("File exists"), "{out}");
    }
}

#[test]
fn an_expired_ca_says_when_it_expired() -> TestResult {
    let dir = tempdir();
    let d = dir.path();
    let start = SystemTime::now() - Duration::from_secs(400 * 86_400);
    let ca = Ca::generate(
        &CaParams::new()
            .not_before(start)
            .not_after(start + Duration::from_secs(30 * 86_400)),
    )?;
    ca.write_to(d.join("ca"), None)?;
    let expired = pki::time::format_time(ca.certificate().not_after());
    for command in [
        &["cert", "a.test"][..],
        &["ca", "intermediate", "--out", "sub"],
    ] {
        let out = assert_refused_cleanly(
            d,
            pki(d).args(command),
            &[&format!("expired on {expired}"), "pki ca create"],
        );
        assert!(!out.stderr.contains("before it starts"), "{out}");
    }
    Ok(())
}
