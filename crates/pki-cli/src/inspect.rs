//! `pki inspect FILE|URL…`: what a file holds, or which chain a server
//! sends. Fetching a server's chain is the one place `pki` opens a socket.

use std::fmt::Write as _;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};

use crate::cli::InspectArgs;

/// How long connecting to and handshaking with a server may take.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(10);

/// `pki inspect`
pub fn run(args: &InspectArgs, out: &mut String) -> Result<()> {
    let password = match &args.password_file {
        Some(path) => Some(pki::Passphrase::from_file_contents(&pki::fs::read(path)?)),
        None => None,
    };
    for (i, target) in args.targets.iter().enumerate() {
        if i > 0 && !args.json {
            writeln!(out)?;
        }
        let (inspection, header) = match server_address(target)? {
            Some((host, port)) => {
                let fetched = fetch_chain(&host, port)?;
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
/// not) and returns the chain the server presented.
fn fetch_chain(host: &str, port: u16) -> Result<Fetched> {
    let address = format!("{host}:{port}");
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .collect();
    let mut last_error = None;
    let mut stream = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, NETWORK_TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let stream = match (stream, last_error) {
        (Some(s), _) => s,
        (None, Some(e)) => {
            return Err(e).with_context(|| {
                format!("cannot connect to {address}; is a server listening there?")
            });
        }
        (None, None) => bail!("{host} resolves to no address"),
    };
    stream.set_read_timeout(Some(NETWORK_TIMEOUT))?;
    stream.set_write_timeout(Some(NETWORK_TIMEOUT))?;
    let mut builder = SslConnector::builder(SslMethod::tls_client())?;
    builder.set_verify(SslVerifyMode::NONE);
    let connector = builder.build();
    let mut config = connector.configure()?;
    config.set_verify_hostname(false);
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    config.set_use_server_name_indication(!is_ip);
    let ssl = config
        .connect(host, stream)
        .map_err(|e| anyhow::anyhow!("the TLS handshake with {address} failed: {e}"))?;
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
