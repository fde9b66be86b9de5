//! The `actix-https` binary as the tests run it: one command line for every
//! test (`--bind 127.0.0.1:PORT --workers 1`, run in the test's directory
//! with its CA in `dir/ca` through `CAROOT`, and no `ACTIX_HTTPS_*`
//! variable inherited from the caller), started as a [`Server`] or expected
//! to refuse to start, and the few ways the tests talk to it.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{
    Output, Server, TestCommand, curl, free_port, openssl, pem_blocks, python, workspace_bin,
};

/// The last line of the banner the server prints once it listens: tests
/// that read the banner (its `try:` line, its setups) find all of it.
pub const READY: &str = "Press Ctrl-C to stop.";

/// How long a refused start may take: it must stop before binding anything.
pub const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP/1.1 request for `/whoami` that asks the server to close the
/// connection afterwards, for `openssl s_client -ign_eof`.
const WHOAMI_REQUEST: &str = "GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// Prints a JSON document from stdin flattened, one `path<TAB>json value`
/// per line (`client_certificate.subject\t"O=…"`), so the tests can read
/// `/whoami` without a JSON library of their own.
const PY_FLATTEN_JSON: &str = r#"
import json, sys
def walk(path, value):
    if isinstance(value, dict) and value:
        for k, v in value.items():
            walk(f"{path}.{k}" if path else k, v)
    else:
        print(f"{path}\t{json.dumps(value)}")
walk("", json.load(sys.stdin))
"#;

/// `actix-https` with its arguments and environment, for one directory.
///
/// ```no_run
/// let dir = e2e::tempdir();
/// let server = e2e::ActixHttps::new(dir.path()).args(["--hsts"]).start();
/// ```
#[derive(Debug, Clone)]
pub struct ActixHttps {
    dir: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    wrapper: Option<(OsString, Vec<OsString>)>,
}

impl ActixHttps {
    /// The server run in `dir`, with its CA in `dir/ca`.
    pub fn new(dir: &Path) -> Self {
        ActixHttps {
            dir: dir.to_path_buf(),
            args: Vec::new(),
            env: Vec::new(),
            wrapper: None,
        }
    }

    /// Runs the server through `program wrapper_args… actix-https …`
    /// (`prlimit --nofile=1024:`, `sh -c 'exec "$0" "$@" 2>>file'`).
    pub fn wrapped_in<I, S>(mut self, program: impl AsRef<OsStr>, wrapper_args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let wrapper_args = wrapper_args
            .into_iter()
            .map(|a| a.as_ref().to_os_string())
            .collect();
        self.wrapper = Some((program.as_ref().to_os_string(), wrapper_args));
        self
    }

    /// Adds arguments after `--bind … --workers 1`.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Sets each `(key, value)`.
    pub fn envs(self, pairs: &[(&str, &str)]) -> Self {
        pairs.iter().fold(self, |cmd, (k, v)| cmd.env(k, v))
    }

    /// The process, listening on `bind`.
    pub fn command(&self, bind: SocketAddr) -> Command {
        let bin = workspace_bin("actix-https", "actix-https");
        let mut cmd = match &self.wrapper {
            Some((program, wrapper_args)) => {
                let mut cmd = Command::new(program);
                cmd.args(wrapper_args).arg(bin);
                cmd
            }
            None => Command::new(bin),
        };
        for key in inherited_actix_settings() {
            cmd.env_remove(key);
        }
        cmd.current_dir(&self.dir)
            .env("CAROOT", self.dir.join("ca"))
            .arg("--bind")
            .arg(bind.to_string())
            .args(["--workers", "1"])
            .args(&self.args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts it on a free port of 127.0.0.1 and waits until it serves.
    pub fn start(&self) -> Server {
        Server::start(
            "actix-https",
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            READY,
            |port| self.command(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)),
        )
    }

    /// Runs it on `bind`, where it must refuse to start: exit code 2 within
    /// [`REFUSAL_TIMEOUT`], an `error:` on stderr, and no banner.
    pub fn refused_on(&self, bind: SocketAddr) -> Output {
        let mut cmd = TestCommand::from_command(self.command(bind));
        cmd.timeout(Duration::from_secs(15));
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
        out.assert_stdout_lacks(READY)
            .assert_stdout_lacks("Serving ");
        out
    }

    /// [`ActixHttps::refused_on`] a free port, which must still be free afterwards.
    pub fn refused(&self) -> Output {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), free_port());
        let out = self.refused_on(addr);
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err(),
            "something listens on {addr} after a refused start\n{out}"
        );
        out
    }
}

/// The `ACTIX_HTTPS_*` variables of the test's own environment: each would
/// change a flag, so no server the tests start inherits them.
pub fn inherited_actix_settings() -> Vec<OsString> {
    std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| k.to_string_lossy().starts_with("ACTIX_HTTPS_"))
        .collect()
}

/// The local CA certificate in `dir`'s `CAROOT`.
pub fn ca_cert(dir: &Path) -> PathBuf {
    dir.join("ca").join(pki::ca::CA_CERT_FILE)
}

/// `https://localhost:PORT<path>`.
pub fn url(server: &Server, path: &str) -> String {
    format!("https://localhost:{}{path}", server.port())
}

/// `curl` that resolves localhost to 127.0.0.1 for the server's port (the
/// server listens only there) and trusts `ca`.
pub fn curl_to(server: &Server, ca: &Path) -> TestCommand {
    let mut cmd = curl();
    cmd.arg("--resolve")
        .arg(format!("localhost:{}:127.0.0.1", server.port()))
        .arg("--cacert")
        .arg(ca);
    cmd
}

/// `curl --fail` GET of `path`, trusting `ca`, with `extra` options.
pub fn get(server: &Server, ca: &Path, path: &str, extra: &[&str]) -> Output {
    curl_to(server, ca)
        .arg("--fail")
        .args(extra)
        .arg(url(server, path))
        .output()
}

/// `/whoami` as flattened JSON: `version`, `alpn`, `sni`, `resumed`,
/// `client_certificate` (`null`) or `client_certificate.subject`, … with
/// JSON values (`"h2"`, `null`, `true`).
pub fn whoami(out: &Output) -> BTreeMap<String, String> {
    assert!(out.status.success(), "/whoami failed\n{out}");
    let flat = python(PY_FLATTEN_JSON, [""; 0])
        .stdin(out.stdout.clone())
        .assert_success();
    flat.stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// One field of [`whoami`], failing with the whole document if absent.
pub fn field<'a>(json: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    json.get(key)
        .unwrap_or_else(|| panic!("/whoami has no {key}: {json:#?}"))
}

/// `openssl s_client -connect 127.0.0.1:PORT args…` with empty stdin: it
/// handshakes, prints the session and quits.
pub fn s_client(server: &Server, args: &[&str]) -> Output {
    openssl(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{}", server.port()))
        .args(args)
        .output()
}

/// `openssl s_client … -ign_eof` sending a `/whoami` request and reading
/// until the server closes: TLS 1.3 alerts and tickets arrive after the
/// handshake, so only a client that waits sees them.
pub fn s_client_whoami(server: &Server, args: &[&str]) -> Output {
    openssl(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{}", server.port()))
        .args(args)
        .arg("-ign_eof")
        .stdin(WHOAMI_REQUEST)
        .output()
}

/// The leaf certificate (PEM) the server on `port` presents to a handshake
/// from 127.0.0.1 that asks for `sni` (`None`: no SNI at all), with `extra`
/// `openssl s_client` options.
pub fn presented(port: u16, sni: Option<&str>, extra: &[&str]) -> String {
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

/// A path as `&str`, for argument lists of `&str`.
pub fn path_str(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("not UTF-8: {}", path.display()))
}
