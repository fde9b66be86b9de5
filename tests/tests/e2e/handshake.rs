//! Real TLS on loopback: `openssl s_server` serves the fixtures, and `curl`
//! and Python's strict `ssl` client connect, trusting only the fixture CA.
//! Mutual TLS and an encrypted server key are served the same way.

use std::net::{IpAddr, Ipv6Addr};

use e2e::{
    Output, Server, curl, family_dir, fixture, has_ipv6_loopback, pem_blocks, python, read_text,
    require_tools, skip, tempdir, write_file,
};
use pki_fixtures::Family;
use tempfile::TempDir;

/// What `openssl s_server -www` puts in every page it serves.
const PAGE: &str = "Ciphers supported in s_server binary";

/// A strict Python client: the system's default context trusting only
/// `cafile`, with `VERIFY_X509_STRICT` and hostname checks. It prints what
/// it negotiated, or the verification error and exits with 3.
const PY_CLIENT: &str = r#"
import socket, ssl, sys
cafile, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=cafile)
ctx.verify_flags |= ssl.VERIFY_X509_STRICT
ctx.check_hostname = True
assert ctx.verify_mode == ssl.CERT_REQUIRED
try:
    with socket.create_connection((host, port), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname=host) as tls:
            print("version:", tls.version())
            print("cipher:", tls.cipher()[0])
            print("subjectAltName:", tls.getpeercert()["subjectAltName"])
except ssl.SSLCertVerificationError as e:
    print(f"SSLCertVerificationError: {e.verify_message}", file=sys.stderr)
    sys.exit(3)
"#;

/// `s_server -www -cert <cert> -key <key> extra…` in the family's directory.
fn serve(family: Family, cert: &str, key: &str, extra: &[&str]) -> Server {
    let mut args = vec!["-cert", cert, "-key", key];
    args.extend_from_slice(extra);
    Server::openssl_www(&family_dir(family), args)
}

/// Serves `server-chain.pem`: s_server sends only the first certificate of
/// `-cert`, so the intermediate goes to `-cert_chain`, split from the file.
fn serve_chain(family: Family) -> (Server, TempDir) {
    let dir = tempdir();
    let blocks = pem_blocks(
        &read_text(&fixture(family, "server-chain.pem")),
        "CERTIFICATE",
    );
    assert_eq!(
        blocks.len(),
        2,
        "server-chain.pem should hold leaf + intermediate"
    );
    let rest = dir.path().join("intermediates.pem");
    write_file(&rest, blocks[1..].concat());
    let server = serve(
        family,
        "server-chain.pem",
        "server-chain-key.pem",
        &["-cert_chain", rest.to_str().unwrap()],
    );
    (server, dir)
}

/// `curl --fail --cacert <family>/ca.pem url extra…`.
fn curl_get(family: Family, url: &str, extra: &[&str]) -> Output {
    curl()
        .arg("--fail")
        .arg("--cacert")
        .arg(fixture(family, "ca.pem"))
        .args(extra)
        .arg(url)
        .output()
}

fn assert_page(out: &Output) {
    assert!(out.status.success(), "curl should have got the page\n{out}");
    out.assert_stdout_contains(PAGE);
}

fn python_client(family: Family, ca: &str, host: &str, port: u16) -> Output {
    python(
        PY_CLIENT,
        [
            fixture(family, ca).to_str().unwrap(),
            host,
            &port.to_string(),
        ],
    )
    .output()
}

#[test]
fn curl_trusts_server_for_localhost_and_127_0_0_1() {
    if !require_tools(&["openssl", "curl"]) {
        return;
    }
    for family in Family::ALL {
        let server = serve(family, "server.pem", "server-key.pem", &[]);
        for host in ["localhost", "127.0.0.1"] {
            assert_page(&curl_get(family, &server.url(host), &[]));
        }
    }
}

#[test]
fn curl_trusts_server_on_ipv6_loopback() {
    if !require_tools(&["openssl", "curl"]) {
        return;
    }
    if !has_ipv6_loopback() {
        skip("no IPv6 loopback here; ::1 is only checked by openssl verify -verify_ip");
        return;
    }
    for family in Family::ALL {
        let server = Server::openssl_www_on(
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            &family_dir(family),
            ["-cert", "server.pem", "-key", "server-key.pem"],
        );
        assert_page(&curl_get(family, &server.url("::1"), &[]));
    }
}

#[test]
fn curl_trusts_server_chain_through_the_intermediate() {
    if !require_tools(&["openssl", "curl"]) {
        return;
    }
    for family in Family::ALL {
        let (server, _dir) = serve_chain(family);
        assert_page(&curl_get(family, &server.url("localhost"), &[]));
        assert_page(&curl_get(family, &server.url("127.0.0.1"), &[]));
    }
}

#[test]
fn curl_refuses_wrong_host_as_subject_name_mismatch() {
    if !require_tools(&["openssl", "curl"]) {
        return;
    }
    for family in Family::ALL {
        let server = serve(family, "wrong-host.pem", "wrong-host-key.pem", &[]);
        for host in ["localhost", "127.0.0.1"] {
            let out = curl_get(family, &server.url(host), &[]);
            out.assert_code(60)
                .assert_stderr_contains(&format!(
                    "SSL: no alternative certificate subject name matches target host name '{host}'"
                ))
                .assert_stdout_lacks(PAGE);
        }
    }
}

#[test]
fn curl_refuses_server_when_trusting_another_ca() {
    if !require_tools(&["openssl", "curl"]) {
        return;
    }
    for family in Family::ALL {
        let server = serve(family, "server.pem", "server-key.pem", &[]);
        let out = curl()
            .arg("--fail")
            .arg("--cacert")
            .arg(fixture(family, "untrusted-ca.pem"))
            .arg(server.url("localhost"))
            .output();
        out.assert_code(60)
            .assert_stderr_contains(
                "SSL certificate problem: unable to get local issuer certificate",
            )
            .assert_stdout_lacks(PAGE);
    }
}

#[test]
fn curl_refuses_expired_server_as_expired() {
    if !require_tools(&["openssl", "curl"]) {
        return;
    }
    for family in Family::ALL {
        let server = serve(family, "expired.pem", "expired-key.pem", &[]);
        let out = curl_get(family, &server.url("localhost"), &[]);
        out.assert_code(60)
            .assert_stderr_contains("SSL certificate problem: certificate has expired")
            .assert_stdout_lacks(PAGE);
    }
}

#[test]
fn python_strict_client_accepts_server_directly_and_through_intermediate() {
    if !require_tools(&["openssl", "python3"]) {
        return;
    }
    for family in Family::ALL {
        let direct = serve(family, "server.pem", "server-key.pem", &[]);
        let (chained, _dir) = serve_chain(family);
        for server in [&direct, &chained] {
            for host in ["localhost", "127.0.0.1"] {
                let out = python_client(family, "ca.pem", host, server.port());
                assert!(out.status.success(), "python refused {host}\n{out}");
                out.assert_stdout_contains("version: TLSv1.3")
                    .assert_stdout_contains("cipher: TLS_")
                    .assert_stdout_contains(
                        "subjectAltName: (('DNS', 'localhost'), ('IP Address', '127.0.0.1'), \
                         ('IP Address', '0:0:0:0:0:0:0:1'))",
                    );
            }
        }
    }
}

#[test]
fn python_strict_client_refuses_expired_server_as_expired() {
    if !require_tools(&["openssl", "python3"]) {
        return;
    }
    for family in Family::ALL {
        let server = serve(family, "expired.pem", "expired-key.pem", &[]);
        let out = python_client(family, "ca.pem", "localhost", server.port());
        out.assert_code(3)
            .assert_stderr_contains("SSLCertVerificationError: certificate has expired");
    }
}

#[test]
fn python_strict_client_refuses_wrong_host_as_hostname_mismatch() {
    if !require_tools(&["openssl", "python3"]) {
        return;
    }
    for family in Family::ALL {
        let server = serve(family, "wrong-host.pem", "wrong-host-key.pem", &[]);
        let out = python_client(family, "ca.pem", "localhost", server.port());
        out.assert_code(3)
            .assert_stderr_contains("SSLCertVerificationError: Hostname mismatch");
    }
}

/// `s_server` asking for a client certificate from the fixture CA and
/// refusing the handshake without one (`-Verify 1 -verify_return_error`).
fn serve_mtls(family: Family) -> Server {
    serve(
        family,
        "server.pem",
        "server-key.pem",
        &["-Verify", "1", "-verify_return_error", "-CAfile", "ca.pem"],
    )
}

#[test]
fn mtls_curl_with_client_cert_and_key_gets_the_page() {
    if !require_tools(&["openssl", "curl"]) {
        return;
    }
    for family in Family::ALL {
        let server = serve_mtls(family);
        let cert = fixture(family, "client.pem");
        let key = fixture(family, "client-key.pem");
        let out = curl_get(
            family,
            &server.url("localhost"),
            &[
                "--cert",
                cert.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ],
        );
        assert_page(&out);
        // The page shows the client certificate the server verified.
        out.assert_stdout_contains("Client certificate")
            .assert_stdout_contains("CN=pki fixture client");
    }
}

#[test]
fn mtls_curl_with_client_bundle_gets_the_page() {
    if !require_tools(&["openssl", "curl"]) {
        return;
    }
    for family in Family::ALL {
        let server = serve_mtls(family);
        let bundle = fixture(family, "client-bundle.pem");
        let out = curl_get(
            family,
            &server.url("localhost"),
            &["-E", bundle.to_str().unwrap()],
        );
        assert_page(&out);
        out.assert_stdout_contains("CN=pki fixture client");
    }
}

#[test]
fn mtls_refuses_client_from_untrusted_ca() {
    if !require_tools(&["openssl", "curl"]) {
        return;
    }
    for family in Family::ALL {
        let server = serve_mtls(family);
        let cert = fixture(family, "untrusted-client.pem");
        let key = fixture(family, "untrusted-client-key.pem");
        let out = curl_get(
            family,
            &server.url("localhost"),
            &[
                "--cert",
                cert.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ],
        );
        // TLS 1.3: the client finishes first and reads the server's alert.
        out.assert_code(56)
            .assert_stderr_contains("alert unknown ca")
            .assert_stdout_lacks(PAGE);
        server.assert_log_contains("unable to get local issuer certificate");
    }
}

#[test]
fn mtls_refuses_client_without_certificate() {
    if !require_tools(&["openssl", "curl"]) {
        return;
    }
    for family in Family::ALL {
        let server = serve_mtls(family);
        let out = curl_get(family, &server.url("localhost"), &[]);
        out.assert_code(56)
            .assert_stderr_contains("alert certificate required")
            .assert_stdout_lacks(PAGE);
        server.assert_log_contains("peer did not return a certificate");
    }
}

#[test]
fn encrypted_key_serves_with_its_pass_file() {
    if !require_tools(&["openssl", "curl"]) {
        return;
    }
    for family in Family::ALL {
        let server = serve(
            family,
            "server.pem",
            "encrypted-key.pem",
            &["-pass", "file:encrypted-key.pass"],
        );
        assert_page(&curl_get(family, &server.url("localhost"), &[]));
    }
}
