//! ACME servers and what the client tests check against them: our
//! `actix-https --acme`, and Pebble (Let's Encrypt's test server, Debian
//! `pebble`) with the same client scripts, so a script that passes against
//! both tests the protocol rather than our reading of it. Both validate
//! through the same DNS server, `pebble-challtestsrv`, which answers every
//! A query with 127.0.0.1 and holds the TXT records of dns-01.

// Test harness: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use pki::fs::Overwrite;
use pki::{Ca, CaParams, CertParams};

use crate::{ActixHttps, Server, curl, free_port, openssl, path_str};

/// The ACME servers a client script runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// `actix-https --acme`.
    Ours,
    /// Debian's `pebble`.
    Pebble,
}

/// `pebble-challtestsrv` as a DNS server for validation, with its
/// management API to set and clear TXT records.
pub struct Dns {
    server: Server,
    dns_port: u16,
}

impl Dns {
    /// Starts it on free ports of 127.0.0.1 (A queries answer 127.0.0.1, AAAA none).
    pub fn start() -> Dns {
        let dns_port = free_port();
        let server = Server::start(
            "pebble-challtestsrv",
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "Starting management server",
            |port| {
                let mut cmd = Command::new("pebble-challtestsrv");
                cmd.args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
                    .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
                    .arg("-dns01")
                    .arg(format!("127.0.0.1:{dns_port}"))
                    .arg("-management")
                    .arg(format!("127.0.0.1:{port}"));
                cmd
            },
        );
        Dns { server, dns_port }
    }

    /// `127.0.0.1:PORT`, for `--acme-resolver`, `-dnsserver` and lego's `--dns.resolvers`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.dns_port)
    }

    /// The management API's base URL.
    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port())
    }

    /// Sets the TXT record of `host` (a trailing dot is added).
    pub fn set_txt(&self, host: &str, value: &str) {
        let host = format!("{}.", host.trim_end_matches('.'));
        curl()
            .args(["--fail", "-d"])
            .arg(serde_json::json!({ "host": host, "value": value }).to_string())
            .arg(format!("{}/set-txt", self.api()))
            .assert_success();
    }

    /// Writes `dns-hook.sh` in `dir`: `present FQDN VALUE` sets a TXT
    /// record, `cleanup FQDN VALUE` clears it (lego's exec provider calls
    /// it so; certbot's hooks call it with CERTBOT_DOMAIN and
    /// CERTBOT_VALIDATION, dehydrated's with its own arguments).
    pub fn hook(&self, dir: &Path) -> PathBuf {
        let path = dir.join("dns-hook.sh");
        let script = format!(
            r#"#!/bin/sh
# present|cleanup FQDN VALUE
set -e
fqdn="$2"
case "$fqdn" in *.) ;; *) fqdn="$fqdn." ;; esac
case "$1" in
  present) curl -sf -d "{{\"host\":\"$fqdn\",\"value\":\"$3\"}}" {api}/set-txt ;;
  cleanup) curl -sf -d "{{\"host\":\"$fqdn\"}}" {api}/clear-txt ;;
esac
"#,
            api = self.api()
        );
        write_executable(&path, &script);
        path
    }
}

/// Writes a script and makes it executable.
pub fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    pki::fs::write_atomic(
        path,
        text.as_bytes(),
        pki::fs::Secrecy::Public,
        Overwrite::Replace,
    )
    .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// An ACME server for one test, validating on ports of its own.
pub struct AcmeServer {
    server: Option<Server>,
    actix: Option<ActixHttps>,
    /// Which one it is.
    pub peer: Peer,
    dir: PathBuf,
    /// Where http-01 validation connects.
    pub http_port: u16,
    /// Where tls-alpn-01 validation connects.
    pub tls_port: u16,
    management_port: u16,
}

impl AcmeServer {
    /// Starts `peer` in `dir` (its CA, or Pebble's endpoint certificate,
    /// in `dir/ca`), validating through `dns`.
    pub fn start(peer: Peer, dir: &Path, dns: &Dns) -> AcmeServer {
        Self::start_with(peer, dir, dns, &[])
    }

    /// [`AcmeServer::start`] with more `actix-https` arguments (ignored for Pebble).
    pub fn start_with(peer: Peer, dir: &Path, dns: &Dns, extra: &[&str]) -> AcmeServer {
        let http_port = free_port();
        let tls_port = free_port();
        let management_port = free_port();
        let actix = (peer == Peer::Ours).then(|| {
            ActixHttps::new(dir)
                .args(["--acme", "--acme-resolver", &dns.addr()])
                .args(["--acme-http-port", &http_port.to_string()])
                .args(["--acme-tls-port", &tls_port.to_string()])
                .args(extra)
        });
        let server = match &actix {
            Some(actix) => actix.start(),
            None => {
                // Pebble's own HTTPS certificate, from the test's CA, so
                // clients trust both servers' endpoints the same way.
                let ca = Ca::load_or_create(dir.join("ca"), &CaParams::new(), None)
                    .unwrap()
                    .into_ca();
                let identity = ca
                    .issue(&CertParams::new(["localhost", "127.0.0.1"]).unwrap())
                    .unwrap();
                let cert = dir.join("pebble-cert.pem");
                let key = dir.join("pebble-key.pem");
                identity
                    .write_pem(&cert, &key, None, Overwrite::Replace)
                    .unwrap();
                let config = dir.join("pebble.json");
                let dns_addr = dns.addr();
                Server::start(
                    "pebble",
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                    "ACME directory available at",
                    |port| {
                        let json = format!(
                            r#"{{"pebble":{{"listenAddress":"127.0.0.1:{port}","managementListenAddress":"127.0.0.1:{management_port}","certificate":"{}","privateKey":"{}","httpPort":{http_port},"tlsPort":{tls_port},"ocspResponderURL":"","externalAccountBindingRequired":false}}}}"#,
                            path_str(&cert),
                            path_str(&key)
                        );
                        pki::fs::write_atomic(
                            &config,
                            json.as_bytes(),
                            pki::fs::Secrecy::Public,
                            Overwrite::Replace,
                        )
                        .unwrap();
                        let mut cmd = Command::new("pebble");
                        cmd.current_dir(dir)
                            .arg("-config")
                            .arg(&config)
                            .args(["-dnsserver", &dns_addr, "-strict"])
                            .env("PEBBLE_VA_NOSLEEP", "1")
                            // Clients retry a rejected nonce, but not all of them (dehydrated).
                            .env("PEBBLE_WFE_NONCEREJECT", "0");
                        cmd
                    },
                )
            }
        };
        AcmeServer {
            server: Some(server),
            actix,
            peer,
            dir: dir.to_path_buf(),
            http_port,
            tls_port,
            management_port,
        }
    }

    /// The directory URL.
    pub fn directory(&self) -> String {
        match self.peer {
            Peer::Ours => format!("https://localhost:{}/acme/directory", self.server().port()),
            Peer::Pebble => format!("https://localhost:{}/dir", self.server().port()),
        }
    }

    /// The CA clients trust the endpoint by (the test's CA for both).
    pub fn endpoint_ca(&self) -> PathBuf {
        self.dir.join("ca").join("rootCA.pem")
    }

    /// The root the issued certificates chain to, as a file in the test's directory.
    pub fn issuing_root(&self) -> PathBuf {
        match self.peer {
            Peer::Ours => self.endpoint_ca(),
            Peer::Pebble => {
                let path = self.dir.join("pebble-root.pem");
                let out = curl()
                    .arg("--cacert")
                    .arg(self.endpoint_ca())
                    .arg(format!(
                        "https://localhost:{}/roots/0",
                        self.management_port
                    ))
                    .assert_success();
                pki::fs::write_atomic(
                    &path,
                    out.stdout.as_bytes(),
                    pki::fs::Secrecy::Public,
                    Overwrite::Replace,
                )
                .unwrap();
                path
            }
        }
    }

    /// Whether the server has recorded the certificate with this serial
    /// (uppercase hex) as revoked: our CA's `revoked.txt`, Pebble's
    /// management API.
    pub fn is_revoked(&self, serial: &str) -> bool {
        match self.peer {
            Peer::Ours => std::fs::read_to_string(self.dir.join("ca").join("revoked.txt"))
                .unwrap_or_default()
                .lines()
                .any(|l| l.split('\t').next() == Some(serial)),
            Peer::Pebble => {
                let out = curl()
                    .arg("--cacert")
                    .arg(self.endpoint_ca())
                    .arg(format!(
                        "https://localhost:{}/cert-status-by-serial/{}",
                        self.management_port,
                        serial.to_ascii_lowercase().trim_start_matches('0')
                    ))
                    .output();
                out.stdout.contains("\"Status\": \"Revoked\"")
            }
        }
    }

    /// Kills our server with SIGKILL and starts it again on the same port
    /// and CA directory, with `env` set this time.
    pub fn restart(&mut self, env: &[(&str, &str)]) {
        let actix = self
            .actix
            .clone()
            .expect("only our server restarts")
            .envs(env);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.server().port()));
        // Dropping the old one kills it and frees the port.
        self.server = None;
        self.server = Some(Server::start_at("actix-https", addr, crate::READY, |_| {
            actix.command(addr)
        }));
    }

    /// Our server as started, with `env` added (for a first start with a pause).
    pub fn start_ours_with_env(dir: &Path, dns: &Dns, env: &[(&str, &str)]) -> AcmeServer {
        let mut acme = Self::start(Peer::Ours, dir, dns);
        acme.restart(env);
        acme
    }

    /// `python3 -m http.server` serving `webroot` on the http-01 port, where
    /// an ACME client writes `.well-known/acme-challenge/TOKEN` files.
    pub fn serve_webroot(&self, webroot: &Path) -> Server {
        Server::start_at(
            "python3 -m http.server",
            std::net::SocketAddr::from(([127, 0, 0, 1], self.http_port)),
            "Serving HTTP",
            |port| {
                let mut cmd = Command::new("python3");
                cmd.args(["-u", "-m", "http.server", "--bind", "127.0.0.1"])
                    .arg(port.to_string())
                    .arg("--directory")
                    .arg(webroot);
                cmd
            },
        )
    }

    /// The underlying server (its log, its pid).
    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("the server is running")
    }
}

/// Checks an issued certificate as a user would: `openssl verify
/// -x509_strict` against `root` (with `chain` as untrusted
/// intermediates), then a real TLS server with it (`openssl s_server`)
/// that curl, trusting only `root`, accepts for `name`. Returns the serial.
pub fn check_issued(
    dir: &Path,
    leaf: &Path,
    chain: &Path,
    key: &Path,
    root: &Path,
    name: &str,
) -> String {
    openssl(["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile"])
        .arg(root)
        .arg("-untrusted")
        .arg(chain)
        .arg(leaf)
        .assert_success()
        .assert_stdout_contains(": OK");
    let server = Server::openssl_www(
        dir,
        [
            "-cert",
            path_str(leaf),
            "-key",
            path_str(key),
            "-cert_chain",
            path_str(chain),
        ],
    );
    let host = name.replace("*.", "star.");
    curl()
        .arg("--cacert")
        .arg(root)
        .arg("--resolve")
        .arg(format!("{host}:{}:127.0.0.1", server.port()))
        .arg(format!("https://{host}:{}/", server.port()))
        .assert_success()
        .assert_stdout_contains("s_server");
    serial_of(leaf)
}

/// A certificate file's serial, uppercase hex as `openssl x509 -serial` prints it.
pub fn serial_of(cert: &Path) -> String {
    let out = openssl(["x509", "-noout", "-serial", "-in"])
        .arg(cert)
        .assert_success();
    out.stdout.trim().trim_start_matches("serial=").to_owned()
}
