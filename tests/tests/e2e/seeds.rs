//! The recipes users arrive with, run as written: the mTLS Flask article's
//! `openssl` CA and client (seed 003) and its self-signed server, loaded by
//! `pki`; then the article's mutual-TLS server in Python, fed by `pki`.

use std::path::Path;

use e2e::{
    Output, Server, TestCommand, TestResult, curl, extension, openssl_line, require_tools, tempdir,
    x509_text,
};
use pki::key::KeyAlgorithm;
use pki::{Ca, CaParams, CertParams, Certificate, Csr, PrivateKey, Profile, SubjectAltName};

/// The article's "Chain of trust" recipe, with `-subj` so it needs no
/// terminal, run in `dir`.
pub(crate) fn run_article_recipe(dir: &Path) {
    for line in [
        "genrsa -out root_ca.key 2048",
        "req -x509 -new -nodes -key root_ca.key -sha256 -days 1024 -out root_ca.crt -subj /CN=root",
        "genrsa -out client.key 2048",
        "req -new -key client.key -out client.csr -subj /CN=client",
        "x509 -req -in client.csr -CA root_ca.crt -CAkey root_ca.key -CAcreateserial
         -out client.crt -days 1024 -sha256",
    ] {
        openssl_line(line).current_dir(dir).assert_success();
    }
    for script in [
        "cat root_ca.crt root_ca.key > root_ca.pem",
        "cat client.crt client.key > client.pem",
    ] {
        TestCommand::new("sh")
            .args(["-c", script])
            .current_dir(dir)
            .assert_success();
    }
}

/// What OpenSSL 3.0 makes of the recipe: `x509 -req` without `-extfile`
/// writes a version 1 certificate with no extensions at all (no SAN, no
/// keyUsage), and `req -x509` a v3 root with CA:TRUE but no keyUsage.
#[test]
fn article_recipe_makes_a_v1_client_and_a_root_without_key_usage() {
    if !require_tools(&["openssl", "sh"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    run_article_recipe(d);
    let client = x509_text(&d.join("client.crt"));
    assert!(client.contains("Version: 1 (0x0)"), "{client}");
    assert!(!client.contains("X509v3 extensions"), "{client}");
    assert!(
        extension(&client, "Subject Alternative Name").is_none(),
        "{client}"
    );
    let root = x509_text(&d.join("root_ca.crt"));
    assert!(root.contains("Version: 3 (0x2)"), "{root}");
    let bc = extension(&root, "Basic Constraints").unwrap();
    assert!(bc.critical && bc.value == "CA:TRUE", "{root}");
    assert!(extension(&root, "Key Usage").is_none(), "{root}");
}

#[test]
fn article_recipe_files_load_in_pki() -> TestResult {
    if !require_tools(&["openssl", "sh"]) {
        return Ok(());
    }
    let dir = tempdir();
    let d = dir.path();
    run_article_recipe(d);

    let client = Certificate::read(d.join("client.crt"))?;
    assert_eq!(client.subject(), "CN=client");
    assert_eq!(client.issuer(), "CN=root");
    assert!(client.subject_alt_names().is_empty());
    assert!(!client.is_ca());

    let key = PrivateKey::read(d.join("client.key"), None)?;
    assert_eq!(key.algorithm(), KeyAlgorithm::Rsa { bits: 2048 });
    assert!(client.matches_key(&key));
    // `cat client.crt client.key > client.pem`: the key is found after the certificate.
    let from_bundle = PrivateKey::read(d.join("client.pem"), None)?;
    assert!(client.matches_key(&from_bundle));
    assert_eq!(Certificate::read(d.join("client.pem"))?, client);

    let csr = Csr::read(d.join("client.csr"))?;
    csr.verify_signature()?;
    assert_eq!(csr.common_name().as_deref(), Some("client"));
    assert!(csr.as_x509_req().public_key()?.public_eq(key.as_pkey()));

    let ca = Ca::load_files(d.join("root_ca.crt"), d.join("root_ca.key"), None)?;
    assert!(ca.certificate().is_ca());
    assert_eq!(ca.certificate().subject(), "CN=root");
    assert!(ca.chain().is_empty());
    // `cat root_ca.crt root_ca.key > root_ca.pem` holds both halves.
    let combined = d.join("root_ca.pem");
    let same = Ca::load_files(&combined, &combined, None)?;
    assert_eq!(same.certificate(), ca.certificate());
    Ok(())
}

/// `pki` takes over the article's CA: what it issues verifies, but a strict
/// verifier refuses the chain because the article's root has no keyUsage.
/// That is the recipe's flaw, not the leaf's; Python 3.13 turns on
/// `VERIFY_X509_STRICT` by default, so such a CA stops working there.
#[test]
fn pki_issues_from_the_article_ca_but_strict_verifiers_refuse_its_root() -> TestResult {
    if !require_tools(&["openssl", "sh"]) {
        return Ok(());
    }
    let dir = tempdir();
    let d = dir.path();
    run_article_recipe(d);
    let ca = Ca::load_files(d.join("root_ca.crt"), d.join("root_ca.key"), None)?;
    // pki says so up front, before anything is issued.
    let warnings = ca.warnings().join("\n");
    assert!(
        warnings.contains("has no keyUsage extension; strict verifiers"),
        "{warnings}"
    );
    let issued = ca.issue(&CertParams::new(["localhost"])?)?;
    issued
        .certificate()
        .write_pem(d.join("server.crt"), pki::Overwrite::Refuse)?;
    let verify = |strict: bool| {
        let mut cmd = openssl_line("verify -purpose sslserver -verify_hostname localhost");
        if strict {
            cmd.arg("-x509_strict");
        }
        cmd.args(["-CAfile", "root_ca.crt", "server.crt"])
            .current_dir(d);
        cmd
    };
    verify(false)
        .assert_success()
        .assert_stdout_contains("server.crt: OK");
    verify(true).assert_failure().assert_output_contains(
        "error 92 at 1 depth lookup: CA cert does not include key usage extension",
    );
    Ok(())
}

/// The article's self-signed server recipe. It says `rsa:4096`; 2048 keeps
/// the test fast and changes nothing about the files' form.
#[test]
fn flask_self_signed_recipe_loads_in_pki() -> TestResult {
    if !require_tools(&["openssl"]) {
        return Ok(());
    }
    let dir = tempdir();
    let d = dir.path();
    openssl_line(
        "req -x509 -newkey rsa:2048 -nodes -out cert.pem -keyout key.pem -days 3650
         -subj /CN=localhost",
    )
    .current_dir(d)
    .assert_success();
    let cert = Certificate::read(d.join("cert.pem"))?;
    let key = PrivateKey::read(d.join("key.pem"), None)?;
    assert!(cert.matches_key(&key));
    assert_eq!(cert.subject(), "CN=localhost");
    assert!(cert.is_self_issued());
    // OpenSSL's default config makes `req -x509` output a CA, and it has no SAN:
    // a client matching names by subjectAltName only finds nothing there.
    assert!(cert.is_ca());
    assert!(cert.subject_alt_names().is_empty());
    Ok(())
}

/// The article's mutual-TLS server, on `http.server` instead of Flask (the
/// TLS side is the same `SSLContext` calls). `PROTOCOL_TLS_SERVER` replaces
/// the article's `PROTOCOL_TLSv1_2`, deprecated since Python 3.10. Every
/// refused handshake is logged with Python's reason.
const ARTICLE_SERVER: &str = r#"
import http.server, ssl, sys
cert, key, ca, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"Top-level content"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

class Server(http.server.HTTPServer):
    def get_request(self):
        try:
            return super().get_request()
        except OSError as e:
            print(f"refused: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            raise

context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.verify_mode = ssl.CERT_REQUIRED
context.load_verify_locations(ca)
context.load_cert_chain(cert, key)
httpd = Server(("127.0.0.1", port), Handler)
httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
print("READY", flush=True)
httpd.serve_forever()
"#;

const CONTENT: &str = "Top-level content";

/// Asserts that curl got no page because the TLS handshake failed.
fn assert_refused(out: &Output) {
    assert!(
        matches!(out.code(), Some(35 | 55 | 56)),
        "expected a TLS failure (curl exit 35, 55 or 56)\n{out}"
    );
    out.assert_stdout_lacks(CONTENT);
    if out.code() == Some(56) {
        out.assert_stderr_contains("alert");
    }
}

#[test]
fn pki_mtls_flow_with_the_articles_python_server() -> TestResult {
    if !require_tools(&["python3", "curl"]) {
        return Ok(());
    }
    let dir = tempdir();
    let d = dir.path();
    let ca = Ca::generate(&CaParams::new().common_name("article CA"))?;
    let stranger = Ca::generate(&CaParams::new().common_name("someone else's CA"))?;
    let server = ca.issue(&CertParams::new(["localhost", "127.0.0.1"])?)?;
    let client_params = CertParams::new(["client@example.test"])?.profile(Profile::Client);
    let client = ca.issue(&client_params)?;
    let untrusted = stranger.issue(&client_params)?;
    assert_eq!(
        client.certificate().subject_alt_names(),
        vec![SubjectAltName::parse("email:client@example.test")?]
    );

    ca.certificate()
        .write_pem(d.join("ca.crt"), pki::Overwrite::Refuse)?;
    server
        .certificate()
        .write_pem(d.join("server.crt"), pki::Overwrite::Refuse)?;
    server
        .key()
        .write_pem(d.join("server.key"), None, pki::Overwrite::Refuse)?;
    client.write_bundle_pem(d.join("client.pem"), pki::Overwrite::Refuse)?;
    untrusted.write_bundle_pem(d.join("untrusted_client.pem"), pki::Overwrite::Refuse)?;

    let httpd = Server::python(d, ARTICLE_SERVER, ["server.crt", "server.key", "ca.crt"]);
    let get = |extra: &[&str]| -> Output {
        curl()
            .args(["--fail", "--cacert", "ca.crt"])
            .args(extra)
            .arg(httpd.url("localhost"))
            .current_dir(d)
            .output()
    };

    // `curl https://… -E client/client.pem`, without the article's `-k`.
    let out = get(&["-E", "client.pem"]);
    assert!(out.status.success(), "{out}");
    assert_eq!(out.stdout, CONTENT, "{out}");

    // Python closes the socket right after its alert, so curl reports the
    // alert (56) or a reset connection (55, 35) depending on timing; the
    // server's log says exactly why it refused.
    let out = get(&["-E", "untrusted_client.pem"]);
    assert_refused(&out);
    httpd.assert_log_contains(
        "refused: SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] \
         certificate verify failed: unable to get local issuer certificate",
    );

    let out = get(&[]);
    assert_refused(&out);
    httpd.assert_log_contains("refused: SSLError: [SSL: PEER_DID_NOT_RETURN_A_CERTIFICATE]");

    // The server still serves the trusted client afterwards.
    let out = get(&["-E", "client.pem"]);
    assert_eq!(out.stdout, CONTENT, "{out}");
    Ok(())
}
