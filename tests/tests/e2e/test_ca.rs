//! `pki::testing::TestCa` as other crates' tests use it: a real mutual-TLS
//! handshake on loopback between an `SslAcceptor` and an `SslConnector` it
//! configured, refused when the trust does not match, and the files it
//! writes served by `openssl s_server` to `curl`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use e2e::{Server, TestResult, curl, mode, require_tools, tempdir};
use openssl::ssl::{
    HandshakeError, SslAcceptor, SslAcceptorBuilder, SslConnector, SslMethod, SslStream,
    SslVerifyMode,
};
use pki::testing::TestCa;
use pki::{Identity, Overwrite};

/// What `openssl s_server -www` puts in every page it serves.
const PAGE: &str = "Ciphers supported in s_server binary";

/// How long either side of the in-process handshake waits for the other.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// What the server thread writes back to a client it accepted.
const GREETING: &[u8] = b"hello over mutual TLS\n";

/// What the server thread saw: the client's certificate subject, or why
/// the handshake failed.
type ServerSide = Result<String, String>;

/// Serves one TLS connection on 127.0.0.1 with an acceptor `setup`
/// configured, and `talk`s over it. Returns the port and the thread.
fn serve_one<T: Send + 'static>(
    setup: impl FnOnce(&mut SslAcceptorBuilder),
    talk: impl FnOnce(&mut SslStream<TcpStream>) -> Result<T, String> + Send + 'static,
) -> (u16, thread::JoinHandle<Result<T, String>>) {
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    setup(&mut acceptor);
    let acceptor = acceptor.build();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().map_err(|e| e.to_string())?;
        set_timeouts(&stream);
        let mut tls = acceptor
            .accept(stream)
            .map_err(|e| handshake_error_text(&e))?;
        let result = talk(&mut tls);
        let _ = tls.shutdown();
        result
    });
    (port, handle)
}

/// Serves one connection with `server` and trusting `ca`, requiring a
/// client certificate; answers `GREETING` to a client it accepted and
/// returns its subject.
fn serve_once(ca: &TestCa, server: &Identity) -> (u16, thread::JoinHandle<ServerSide>) {
    serve_one(
        |acceptor| {
            server.configure(acceptor).unwrap();
            ca.trust(acceptor).unwrap();
            acceptor.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        },
        |tls| {
            let subject = tls
                .ssl()
                .peer_certificate()
                .map(|c| pki::Certificate::from_x509(c).subject())
                .ok_or("no client certificate after the handshake")?;
            tls.write_all(GREETING).map_err(|e| e.to_string())?;
            Ok(subject)
        },
    )
}

/// Where [`write_identity`] put an identity's files.
struct Files {
    cert: PathBuf,
    key: PathBuf,
    bundle: PathBuf,
}

/// `<stem>.pem`, `<stem>-key.pem` and `<stem>-bundle.pem` in `dir`, as a
/// user of `TestCa` writes them for servers and `curl -E`.
fn write_identity(dir: &Path, stem: &str, identity: &Identity) -> pki::Result<Files> {
    let files = Files {
        cert: dir.join(format!("{stem}.pem")),
        key: dir.join(format!("{stem}-key.pem")),
        bundle: dir.join(format!("{stem}-bundle.pem")),
    };
    identity.write_pem(&files.cert, &files.key, None, Overwrite::Refuse)?;
    identity.write_bundle_pem(&files.bundle, Overwrite::Refuse)?;
    Ok(files)
}

fn set_timeouts(stream: &TcpStream) {
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
}

/// The handshake error with OpenSSL's reasons and, if verification failed,
/// its verify result, as one line to assert on.
fn handshake_error_text(e: &HandshakeError<TcpStream>) -> String {
    e.to_string()
}

/// Connects to `localhost:port` with a connector trusting `trust` and
/// presenting `identity`, and reads what the server says.
fn connect(port: u16, trust: &TestCa, identity: Option<&Identity>) -> Result<Vec<u8>, String> {
    let mut connector = SslConnector::builder(SslMethod::tls()).unwrap();
    trust.trust(&mut connector).unwrap();
    if let Some(identity) = identity {
        identity.configure(&mut connector).unwrap();
    }
    let connector = connector.build();
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    set_timeouts(&stream);
    let mut tls: SslStream<TcpStream> = connector
        .connect("localhost", stream)
        .map_err(|e| handshake_error_text(&e))?;
    let mut got = Vec::new();
    tls.read_to_end(&mut got).map_err(|e| e.to_string())?;
    Ok(got)
}

#[test]
fn mutual_tls_handshake_between_acceptor_and_connector_it_configured() -> TestResult {
    let ca = TestCa::new()?;
    let server = ca.server()?;
    let alice = ca.client("alice@example.test")?;
    let (port, handle) = serve_once(&ca, &server);
    let got = connect(port, &ca, Some(&alice));
    let seen = handle.join().expect("the server thread panicked");
    assert_eq!(got.as_deref(), Ok(GREETING), "server side: {seen:?}");
    let subject = seen.unwrap_or_else(|e| panic!("the server refused Alice: {e}"));
    assert_eq!(subject, alice.certificate().subject());
    assert!(subject.ends_with("CN=alice@example.test"), "{subject}");
    Ok(())
}

#[test]
fn connector_trusting_another_test_ca_fails_as_certificate_verify_failed() -> TestResult {
    let ca = TestCa::new()?;
    let stranger = TestCa::new()?;
    let alice = ca.client("alice@example.test")?;
    let (port, handle) = serve_once(&ca, &ca.server()?);
    let err = connect(port, &stranger, Some(&alice)).unwrap_err();
    assert!(err.contains("certificate verify failed"), "{err}");
    // `ca.trust` put the root into the acceptor's store, and OpenSSL builds
    // the chain it sends from there: the client sees the foreign root itself.
    assert!(
        err.ends_with(": self-signed certificate in certificate chain"),
        "{err}"
    );
    // The server reads the client's alert.
    let seen = handle.join().expect("the server thread panicked");
    let server_err = seen.unwrap_err();
    assert!(server_err.contains("alert unknown ca"), "{server_err}");
    Ok(())
}

#[test]
fn acceptor_refuses_a_client_from_another_test_ca_as_certificate_verify_failed() -> TestResult {
    let ca = TestCa::new()?;
    let stranger = TestCa::new()?;
    let mallory = stranger.client("mallory@example.test")?;
    let (port, handle) = serve_once(&ca, &ca.server()?);
    // TLS 1.3: the client's handshake ends before the server has checked
    // its certificate; the refusal arrives as an alert on the first read.
    let client = connect(port, &ca, Some(&mallory));
    let server_err = handle
        .join()
        .expect("the server thread panicked")
        .unwrap_err();
    assert!(
        server_err.contains("certificate verify failed"),
        "{server_err}"
    );
    assert!(
        server_err.ends_with(": unable to get local issuer certificate"),
        "{server_err}"
    );
    let client_err = client.unwrap_err();
    assert!(client_err.contains("alert unknown ca"), "{client_err}");
    Ok(())
}

#[test]
fn acceptor_refuses_a_client_without_certificate_as_certificate_required() -> TestResult {
    let ca = TestCa::new()?;
    let (port, handle) = serve_once(&ca, &ca.server()?);
    let client = connect(port, &ca, None);
    let server_err = handle
        .join()
        .expect("the server thread panicked")
        .unwrap_err();
    assert!(
        server_err.contains("peer did not return a certificate"),
        "{server_err}"
    );
    let client_err = client.unwrap_err();
    assert!(
        client_err.contains("alert certificate required"),
        "{client_err}"
    );
    Ok(())
}

#[test]
fn written_server_files_serve_curl_and_the_key_is_0600() -> TestResult {
    if !require_tools(&["openssl", "curl"]) {
        return Ok(());
    }
    let ca = TestCa::new()?;
    let dir = tempdir();
    let d = dir.path();
    assert_eq!(ca.write_ca_pem(d)?, d.join("ca.pem"));
    let files = write_identity(d, "server", &ca.server()?)?;
    assert_eq!(mode(&files.key), 0o600, "the key");
    assert_eq!(mode(&files.bundle), 0o600, "the bundle holds the key");
    assert_eq!(mode(&files.cert), 0o644);

    let server = Server::openssl_www(d, ["-cert", "server.pem", "-key", "server-key.pem"]);
    for host in ["localhost", "127.0.0.1"] {
        let out = curl()
            .args(["--fail", "--cacert", "ca.pem"])
            .arg(server.url(host))
            .current_dir(d)
            .output();
        assert!(out.status.success(), "{out}");
        out.assert_stdout_contains(PAGE);
    }
    // Negative twin: curl trusting another test CA refuses the server.
    let elsewhere = tempdir();
    let stranger = TestCa::new()?.write_ca_pem(elsewhere.path())?;
    let out = curl()
        .arg("--fail")
        .arg("--cacert")
        .arg(&stranger)
        .arg(server.url("localhost"))
        .output();
    out.assert_code(60)
        .assert_stderr_contains("SSL certificate problem: unable to get local issuer certificate")
        .assert_stdout_lacks(PAGE);
    Ok(())
}

#[test]
fn written_client_bundle_works_with_curl_e_against_a_mutual_tls_server() -> TestResult {
    if !require_tools(&["openssl", "curl"]) {
        return Ok(());
    }
    let ca = TestCa::new()?;
    let dir = tempdir();
    let d = dir.path();
    ca.write_ca_pem(d)?;
    write_identity(d, "server", &ca.server()?)?;
    let alice = write_identity(d, "alice", &ca.client("alice@example.test")?)?;
    assert_eq!(mode(&alice.key), 0o600);
    assert_eq!(mode(&alice.bundle), 0o600);
    let server = Server::openssl_www(
        d,
        [
            "-cert",
            "server.pem",
            "-key",
            "server-key.pem",
            "-Verify",
            "1",
            "-verify_return_error",
            "-CAfile",
            "ca.pem",
        ],
    );
    let out = curl()
        .args(["--fail", "--cacert", "ca.pem", "-E", "alice-bundle.pem"])
        .arg(server.url("localhost"))
        .current_dir(d)
        .output();
    assert!(out.status.success(), "{out}");
    out.assert_stdout_contains(PAGE)
        .assert_stdout_contains("CN=alice@example.test");
    Ok(())
}

/// The README's library example, as a program a user would write, runs
/// twice in a row: the first run creates the CA, the second loads it and
/// replaces the certificate files; `openssl verify` accepts the result.
#[test]
fn the_readme_example_runs_twice_in_a_row() {
    if !require_tools(&["openssl"]) {
        return;
    }
    let dir = tempdir();
    let example = e2e::workspace_example("pki", "readme");
    let run = || {
        e2e::TestCommand::new(&example)
            .current_dir(dir.path())
            .assert_success()
    };
    run();
    let ca = e2e::read_file(&dir.path().join("my-ca/rootCA.pem"));
    let first = e2e::read_file(&dir.path().join("localhost.pem"));
    run();
    assert_eq!(e2e::read_file(&dir.path().join("my-ca/rootCA.pem")), ca);
    assert_ne!(e2e::read_file(&dir.path().join("localhost.pem")), first);
    assert_eq!(mode(&dir.path().join("localhost-key.pem")), 0o600);
    e2e::openssl([
        "verify",
        "-x509_strict",
        "-CAfile",
        "my-ca/rootCA.pem",
        "localhost.pem",
    ])
    .current_dir(dir.path())
    .assert_success()
    .assert_stdout_contains("localhost.pem: OK");
}

/// trustme's `create_child_ca`: identities from an intermediate carry it in
/// their chain, so a client trusting only the root accepts the server, in
/// process and as files served by `openssl s_server` to curl (which fails
/// with "unable to get local issuer certificate" when the chain is not sent).
/// The root of a child is the root clients trust.
#[test]
fn identities_from_a_child_ca_send_the_intermediate() -> TestResult {
    let root = TestCa::new()?;
    let child = root.create_child_ca()?;
    assert_eq!(child.certificate().to_der()?, root.certificate().to_der()?);
    let server = child.server()?;
    let alice = child.client("alice@example.test")?;
    let (port, handle) = serve_once(&child, &server);
    let got = connect(port, &root, Some(&alice));
    let seen = handle.join().expect("the server thread panicked");
    assert_eq!(got.as_deref(), Ok(GREETING), "server side: {seen:?}");

    if !require_tools(&["openssl", "curl"]) {
        return Ok(());
    }
    let dir = tempdir();
    let d = dir.path();
    root.write_ca_pem(d)?;
    write_identity(d, "server", &server)?;
    // s_server sends only the first certificate of -cert; -cert_chain adds
    // the rest of the same file, as nginx's ssl_certificate sends it all.
    let www = Server::openssl_www(
        d,
        [
            "-cert",
            "server.pem",
            "-cert_chain",
            "server.pem",
            "-key",
            "server-key.pem",
        ],
    );
    let out = curl()
        .args(["--fail", "--cacert", "ca.pem"])
        .arg(www.url("localhost"))
        .current_dir(d)
        .output();
    assert!(out.status.success(), "{out}");
    out.assert_stdout_contains(PAGE);
    Ok(())
}

/// Serves one HTTP/1.1 request on 127.0.0.1 from an `SslAcceptor` set up
/// by `setup`, as a program using the openssl crate directly would.
fn serve_http_once(
    setup: impl FnOnce(&mut SslAcceptorBuilder),
) -> (u16, thread::JoinHandle<ServerSide>) {
    serve_one(setup, |tls| {
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tls.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the client closed before its request ended".to_owned());
            }
            request.extend_from_slice(&buf[..n]);
        }
        tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 22\r\nConnection: close\r\n\r\nhello over the chain\r\n")
            .map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&request).into_owned())
    })
}

/// The user's program from the issue: a leaf from an intermediate of a
/// `pki::Ca`, put into a plain `SslAcceptor` with `Identity::configure`, is
/// accepted by curl trusting only the root. The negative twin sets only the
/// leaf and key, as code did before `Identity` carried the chain: curl then
/// fails with "unable to get local issuer certificate".
#[test]
fn intermediate_issued_identity_served_by_plain_openssl_reaches_curl() -> TestResult {
    if !require_tools(&["curl"]) {
        return Ok(());
    }
    let root = pki::Ca::generate(&pki::CaParams::new())?;
    let intermediate = root.issue_intermediate(&pki::CaParams::new())?;
    let identity = intermediate.issue(&pki::CertParams::new(["localhost"])?)?;
    assert_eq!(identity.root(), Some(root.certificate()));
    let dir = tempdir();
    let ca = dir.path().join("root.pem");
    root.certificate().write_pem(&ca, Overwrite::Refuse)?;
    let get = |port: u16| {
        curl()
            .args(["--fail", "--cacert"])
            .arg(&ca)
            .arg("--resolve")
            .arg(format!("localhost:{port}:127.0.0.1"))
            .arg(format!("https://localhost:{port}/"))
            .output()
    };

    let (port, handle) = serve_http_once(|acceptor| identity.configure(acceptor).unwrap());
    let out = get(port);
    let seen = handle.join().expect("the server thread panicked");
    assert!(out.status.success(), "{out}\nserver side: {seen:?}");
    out.assert_stdout_contains("hello over the chain");

    let (port, handle) = serve_http_once(|acceptor| {
        acceptor
            .set_certificate(identity.certificate().as_x509())
            .unwrap();
        acceptor.set_private_key(identity.key().as_pkey()).unwrap();
    });
    let out = get(port);
    let _ = handle.join();
    out.assert_code(60)
        .assert_stderr_contains("unable to get local issuer certificate")
        .assert_stdout_lacks("hello over the chain");
    Ok(())
}
