//! `actix-https` as a library, in a program built the way an application
//! builds one (`crates/actix-https/examples/customize.rs`): settings made
//! through `TlsServerBuilder::customize` reach every handshake, with and
//! without SNI, and a server that forgot `on_connect` says so with a 500
//! instead of blaming the client.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;

use e2e::{Server, curl, require_tools, tempdir, workspace_example};

/// Starts the example on a free port, writing its CA into `dir`.
fn start_example(dir: &Path, extra: &[&str]) -> Server {
    let bin = workspace_example("actix-https", "customize");
    let dir = dir.to_path_buf();
    let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    Server::start(
        "the customize example",
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        "Serving ",
        move |port| {
            let mut cmd = Command::new(&bin);
            cmd.arg(port.to_string()).arg(&dir).args(&extra);
            cmd
        },
    )
}

/// `curl --http2` to `host` (resolved to the server), trusting its CA.
fn get(server: &Server, dir: &Path, host: &str, path: &str) -> e2e::Output {
    curl()
        .arg("--http2")
        .arg("--resolve")
        .arg(format!("{host}:{}:127.0.0.1", server.port()))
        .arg("--cacert")
        .arg(dir.join("ca.pem"))
        .arg(format!("https://{host}:{}{path}", server.port()))
        .output()
}

/// The example limits ALPN to HTTP/1.1 through `customize`. Without the
/// hook, a setting made on the acceptor's builder was lost as soon as the
/// handshake switched to the identity's context, and curl got `h2`.
#[test]
fn alpn_set_through_customize_is_honoured_with_and_without_sni() {
    if !require_tools(&["curl"]) {
        return;
    }
    let dir = tempdir();
    let server = start_example(dir.path(), &[]);
    for host in ["localhost", "api.test"] {
        get(&server, dir.path(), host, "/")
            .assert_code(0)
            .assert_stdout_contains("alpn=http/1.1");
    }
}

/// A handler asking for the client certificate on a server built without
/// `on_connect` gets a 500 that names the fix, not a 401 that blames the
/// client.
#[test]
fn a_server_without_on_connect_answers_500_and_says_what_to_add() {
    if !require_tools(&["curl"]) {
        return;
    }
    let dir = tempdir();
    let server = start_example(dir.path(), &["--without-on-connect"]);
    let out = get(&server, dir.path(), "localhost", "/client");
    out.assert_code(0)
        .assert_stdout_contains("server misconfigured")
        .assert_stdout_contains(".on_connect(actix_https::on_connect)");
    let status = curl()
        .args(["--output", "/dev/null", "--write-out", "%{http_code}"])
        .arg("--resolve")
        .arg(format!("localhost:{}:127.0.0.1", server.port()))
        .arg("--cacert")
        .arg(dir.path().join("ca.pem"))
        .arg(format!("https://localhost:{}/client", server.port()))
        .output();
    status.assert_stdout_contains("500");
}
