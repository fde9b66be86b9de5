//! `pki inspect FILE|URL…`: what a file holds, or which chain a server
//! sends. Fetching a server's chain is the one place `pki` opens a socket.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use openssl::ssl::{ErrorCode, HandshakeError, SslConnector, SslMethod, SslVerifyMode};

use crate::cli::InspectArgs;

/// How long fetching a server's chain may take by default, connecting,
/// handshaking and reading together: a server that has not sent its
/// certificates in 10 seconds is stalled or not speaking TLS, and one
/// dripping a byte at a time must not keep `pki` waiting for hours.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;

/// OpenSSL's library code for libssl (`ERR_LIB_SSL`, include/openssl/err.h).
const ERR_LIB_SSL: i32 = 20;
/// libssl reason codes (include/openssl/sslerr.h) that mean the other end
/// answered with something that is not a TLS record: plain HTTP, SSH, SMTP.
const NOT_TLS_REASONS: [i32; 3] = [
    156, // SSL_R_HTTP_REQUEST
    198, // SSL_R_PACKET_LENGTH_TOO_LONG
    267, // SSL_R_WRONG_VERSION_NUMBER
];
/// `SSL_R_UNEXPECTED_EOF_WHILE_READING`: the server closed the connection.
const UNEXPECTED_EOF: i32 = 294;

/// `pki inspect`
pub fn run(args: &InspectArgs, out: &mut String) -> Result<()> {
    let password = match &args.password_file {
        Some(path) => Some(pki::Passphrase::from_file_contents(&pki::fs::read_secret(
            path,
        )?)),
        None => None,
    };
    let timeout = Duration::from_secs(args.timeout);
    for (i, target) in args.targets.iter().enumerate() {
        if i > 0 && !args.json {
            writeln!(out)?;
        }
        let (inspection, header) = match server_address(target)? {
            Some((host, port)) => {
                let fetched = fetch_chain(&host, port, timeout)?;
                let header = format!(
                    "{target}: {} certificate(s) sent over {} ({})",
                    fetched.count, fetched.version, fetched.cipher
                );
                (pki::inspect::inspect(&fetched.pem, None)?, header)
            }
            None => (
                pki::inspect::inspect_file(Path::new(target), password.as_ref())?,
                format!("{target}:"),
            ),
        };
        if args.json {
            writeln!(out, "{}", inspection.to_json())?;
        } else {
            writeln!(out, "{header}")?;
            write!(out, "{inspection}")?;
        }
    }
    Ok(())
}

/// `https://host[:port][/…]` as host and port; `None` for anything else
/// (which is then read as a file).
fn server_address(target: &str) -> Result<Option<(String, u16)>> {
    let Some(rest) = target.strip_prefix("https://") else {
        if target.contains("://") {
            bail!("{target:?}: only https:// addresses can be inspected");
        }
        return Ok(None);
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .with_context(|| format!("{target:?}: an IPv6 address needs its closing ]"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        bail!("{target:?} has no host; write https://HOST[:PORT]");
    }
    let port = match port {
        None => 443,
        Some(p) => p
            .parse()
            .with_context(|| format!("{target:?}: {p:?} is not a port number (1-65535)"))?,
    };
    Ok(Some((host.to_owned(), port)))
}

struct Fetched {
    pem: Vec<u8>,
    count: usize,
    version: String,
    cipher: String,
}

/// Connects without verifying (the point is to see what is sent, trusted or
/// not) and returns the chain the server presented. Connecting and the
/// handshake share one deadline, `timeout` from now (name resolution is the
/// system resolver's and has its own).
fn fetch_chain(host: &str, port: u16, timeout: Duration) -> Result<Fetched> {
    let address = format!("{host}:{port}");
    let secs = timeout.as_secs();
    let deadline = Instant::now() + timeout;
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .collect();
    let mut last_error = None;
    let mut stream = None;
    for (i, addr) in addrs.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // Each address gets its share of what is left, so one that drops
        // packets (an IPv6 address without a route) cannot use it all.
        let share = u32::try_from(addrs.len() - i).unwrap_or(u32::MAX);
        match TcpStream::connect_timeout(addr, (left / share).max(Duration::from_millis(1))) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let stream = match (stream, last_error) {
        (Some(s), _) => s,
        (None, Some(e)) if e.kind() == io::ErrorKind::TimedOut => {
            bail!(
                "could not connect to {address} in {secs} seconds; is the host up, and the port open? (--timeout SECS allows longer)"
            );
        }
        (None, Some(e)) => {
            return Err(e).with_context(|| {
                format!("cannot connect to {address}; is a server listening there?")
            });
        }
        (None, None) if addrs.is_empty() => bail!("{host} resolves to no address"),
        (None, None) => bail!(
            "could not connect to {address} in {secs} seconds; is the host up, and the port open? (--timeout SECS allows longer)"
        ),
    };
    let stream = DeadlineStream { stream, deadline };
    let mut builder = SslConnector::builder(SslMethod::tls_client())?;
    builder.set_verify(SslVerifyMode::NONE);
    let connector = builder.build();
    let mut config = connector.configure()?;
    config.set_verify_hostname(false);
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    config.set_use_server_name_indication(!is_ip);
    let ssl = config
        .connect(host, stream)
        .map_err(|e| handshake_error(e, &address, secs))?;
    let session = ssl.ssl();
    let chain = session
        .peer_cert_chain()
        .with_context(|| format!("{address} sent no certificate"))?;
    let mut pem = Vec::new();
    for cert in chain {
        pem.extend(cert.to_pem()?);
    }
    Ok(Fetched {
        pem,
        count: chain.len(),
        version: session.version_str().to_owned(),
        cipher: session
            .current_cipher()
            .map_or_else(|| "no cipher".to_owned(), |c| c.name().to_owned()),
    })
}

/// A failed handshake in words a person can act on, sorted by the I/O error
/// kind or OpenSSL's reason code, never by message text.
fn handshake_error(e: HandshakeError<DeadlineStream>, address: &str, secs: u64) -> anyhow::Error {
    let mid = match e {
        HandshakeError::SetupFailure(stack) => {
            return anyhow::anyhow!("failed to set up TLS to {address}: {stack}");
        }
        HandshakeError::Failure(mid) | HandshakeError::WouldBlock(mid) => mid,
    };
    let err = mid.error();
    if let Some(io) = err.io_error() {
        return match io.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => anyhow::anyhow!(
                "the server at {address} did not finish its TLS handshake in {secs} seconds; \
                 check that it speaks TLS on that port and is not stalled, or allow longer with --timeout SECS"
            ),
            _ => anyhow::anyhow!(
                "the TLS handshake with {address} failed: the connection broke ({io})"
            ),
        };
    }
    let reasons: Vec<(i32, i32, String)> = err
        .ssl_error()
        .map(|stack| {
            stack
                .errors()
                .iter()
                .map(|e| {
                    (
                        e.library_code(),
                        e.reason_code(),
                        e.reason().unwrap_or("unknown reason").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let has = |codes: &[i32]| {
        reasons
            .iter()
            .any(|(lib, reason, _)| *lib == ERR_LIB_SSL && codes.contains(reason))
    };
    if has(&NOT_TLS_REASONS) {
        return anyhow::anyhow!(
            "{address} does not speak TLS: its answer is not a TLS record (plain HTTP answers like this); \
             use the port the server serves HTTPS on, or http:// for a plain HTTP server"
        );
    }
    if has(&[UNEXPECTED_EOF]) || (reasons.is_empty() && err.code() == ErrorCode::SYSCALL) {
        return anyhow::anyhow!(
            "{address} closed the connection during the TLS handshake; it may not speak TLS on that port, \
             or it refused this client (check its log)"
        );
    }
    if reasons.is_empty() {
        return anyhow::anyhow!("the TLS handshake with {address} failed: {err}");
    }
    let text: Vec<&str> = reasons.iter().map(|(_, _, r)| r.as_str()).collect();
    anyhow::anyhow!(
        "the TLS handshake with {address} failed: {}",
        text.join(", ")
    )
}

/// A TCP stream that gives every read and write only the time left until
/// one deadline, so a server sending a byte now and then cannot stretch the
/// wait: a per-read timeout alone restarts with each byte.
#[derive(Debug)]
struct DeadlineStream {
    stream: TcpStream,
    deadline: Instant,
}

impl DeadlineStream {
    /// Sets the socket's timeouts to the time left; `TimedOut` if none is.
    fn arm(&self) -> io::Result<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.set_write_timeout(Some(left))
    }
}

/// A socket timeout shows as `WouldBlock`, which OpenSSL would take for a
/// non-blocking socket's "try again"; it is a timeout here.
fn timed_out(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        io::ErrorKind::TimedOut.into()
    } else {
        e
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        self.stream.read(buf).map_err(timed_out)
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.stream.write(buf).map_err(timed_out)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::server_address;

    #[test]
    fn addresses_parse_with_default_port_and_ipv6() {
        let parse = |s| server_address(s).unwrap();
        assert_eq!(parse("https://localhost"), Some(("localhost".into(), 443)));
        assert_eq!(
            parse("https://localhost:8443/x"),
            Some(("localhost".into(), 8443))
        );
        assert_eq!(parse("https://[::1]:8443"), Some(("::1".into(), 8443)));
        assert_eq!(parse("cert.pem"), None);
        assert!(server_address("https://localhost:99999").is_err());
        assert!(server_address("http://localhost").is_err());
    }
}
