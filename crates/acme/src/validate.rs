//! Checking a challenge the way a public CA does (RFC 8555 §8.3, §8.4 and
//! RFC 8737): http-01 fetches the key authorization from port 80 of the
//! name, tls-alpn-01 makes an `acme-tls/1` handshake with port 443 and
//! reads the digest from the certificate, dns-01 looks up a TXT record.
//! Ports and the DNS server are settings, so tests and unprivileged
//! setups use others. `localhost` and `*.localhost` are loopback without
//! asking anyone (RFC 6761). Every step has one deadline; an answer body
//! is read to a cap; redirects are followed only as far as the RFC allows.
//!
//! It runs on its own thread with blocking sockets: a validation is one
//! short exchange, and the server's workers never wait on it.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use openssl::hash::{MessageDigest, hash};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
use x509_parser::extensions::{GeneralName, ParsedExtension};

use crate::dns::{self, RecordType};
use crate::jws::b64;
use crate::problem::Problem;
use crate::store::Identifier;

/// How long one validation may take, all attempts together.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed at most by http-01 (Let's Encrypt's figure).
const MAX_REDIRECTS: usize = 10;
/// The most of an answer read: the key authorization is under 200 bytes.
const MAX_RESPONSE: usize = 64 * 1024;
/// The acmeIdentifier extension of RFC 8737.
const ACME_IDENTIFIER_OID: &str = "1.3.6.1.5.5.7.1.31";

/// Where validation connects.
#[derive(Debug, Clone)]
pub struct Validator {
    /// Port of http-01 (80 unless set).
    pub http_port: u16,
    /// Port of tls-alpn-01 (443 unless set).
    pub tls_port: u16,
    /// The DNS server to ask; the system's when None.
    pub resolver: Option<SocketAddr>,
}

impl Default for Validator {
    fn default() -> Self {
        Validator {
            http_port: 80,
            tls_port: 443,
            resolver: None,
        }
    }
}

/// How many validations run at once; more wait their turn.
pub const POOL_THREADS: usize = 8;
/// How many may wait: beyond this a challenge response is turned away
/// (`rateLimited`) rather than queued for minutes.
pub const MAX_WAITING: usize = 256;

type Job = Box<dyn FnOnce() + Send>;

/// The threads validations run on: a flood of challenge responses queues
/// here, up to [`MAX_WAITING`], instead of starting a thread each.
#[derive(Debug)]
pub struct Pool {
    jobs: std::sync::mpsc::Sender<Job>,
    waiting: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Pool {
    /// Starts `threads` threads; they end when the pool is dropped.
    pub fn new(threads: usize) -> std::io::Result<Pool> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for n in 0..threads {
            let queue = std::sync::Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("acme-validation-{n}"))
                .spawn(move || {
                    loop {
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        let Ok(job) = job else { return };
                        // A panicking validation must not take its thread along.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })?;
        }
        Ok(Pool {
            jobs,
            waiting: Default::default(),
        })
    }

    /// Whether a job would be queued now.
    pub fn has_room(&self) -> bool {
        self.waiting.load(std::sync::atomic::Ordering::Relaxed) < MAX_WAITING
    }

    /// Queues a job; false if too many wait or the threads are gone.
    pub fn run(&self, job: impl FnOnce() + Send + 'static) -> bool {
        use std::sync::atomic::Ordering;
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        let waiting = std::sync::Arc::clone(&self.waiting);
        let sent = self.jobs.send(Box::new(move || {
            waiting.fetch_sub(1, Ordering::Relaxed);
            job();
        }));
        if sent.is_err() {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        sent.is_ok()
    }
}

/// What a challenge proves: the identifier, the challenge type, the key
/// authorization.
#[derive(Debug)]
pub struct Attempt<'a> {
    /// The identifier validated (without `*.`).
    pub identifier: &'a Identifier,
    /// `http-01`, `tls-alpn-01` or `dns-01`.
    pub kind: &'a str,
    /// The token.
    pub token: &'a str,
    /// token.thumbprint
    pub key_authorization: &'a str,
}

fn sha256(data: &[u8]) -> Result<Vec<u8>, Problem> {
    hash(MessageDigest::sha256(), data)
        .map(|d| d.to_vec())
        .map_err(|e| Problem::internal(e.to_string()))
}

impl Validator {
    /// Checks one challenge; the problem says what was found instead.
    pub fn validate(&self, attempt: &Attempt<'_>) -> Result<(), Problem> {
        let deadline = Instant::now() + TIMEOUT;
        match attempt.kind {
            "http-01" => self.http_01(attempt, deadline),
            "tls-alpn-01" => self.tls_alpn_01(attempt, deadline),
            "dns-01" => self.dns_01(attempt, deadline),
            other => Err(Problem::malformed(format!(
                "unknown challenge type {other}"
            ))),
        }
    }

    fn resolver(&self) -> Result<SocketAddr, Problem> {
        self.resolver.or_else(dns::system_server).ok_or_else(|| {
            Problem::dns("no DNS server to ask: none in /etc/resolv.conf and no --acme-resolver")
        })
    }

    /// The addresses of an identifier: the IP itself, loopback for
    /// `localhost` names, else what DNS says (A and AAAA).
    fn addresses(&self, id: &Identifier, deadline: Instant) -> Result<Vec<IpAddr>, Problem> {
        if id.kind == "ip" {
            return id
                .value
                .parse()
                .map(|ip| vec![ip])
                .map_err(|_| Problem::malformed(format!("{} is not an IP address", id.value)));
        }
        let name = id.value.as_str();
        if name == "localhost" || name.ends_with(".localhost") {
            return Ok(vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]);
        }
        let found: Vec<IpAddr> = if let Some(server) = self.resolver {
            let mut all = Vec::new();
            let mut errors = Vec::new();
            for kind in [RecordType::A, RecordType::Aaaa] {
                match dns::query(server, name, kind, deadline) {
                    Ok(answer) => all.extend(answer.addresses),
                    Err(e) => errors.push(e),
                }
            }
            if all.is_empty() && !errors.is_empty() {
                return Err(Problem::dns(format!(
                    "looking up {name}: {}",
                    errors.join("; ")
                )));
            }
            all
        } else {
            // getaddrinfo has no timeout of its own: it runs on a thread
            // that is left behind if it outlives the deadline.
            let (tx, rx) = std::sync::mpsc::channel();
            let host = name.to_owned();
            std::thread::spawn(move || {
                let _ = tx.send(
                    (host.as_str(), 0u16)
                        .to_socket_addrs()
                        .map(|a| a.map(|a| a.ip()).collect::<Vec<_>>()),
                );
            });
            let left = remaining(deadline).unwrap_or_default();
            match rx.recv_timeout(left) {
                Ok(Ok(found)) => found,
                Ok(Err(e)) => return Err(Problem::dns(format!("looking up {name}: {e}"))),
                Err(_) => return Err(Problem::dns(format!("looking up {name} timed out"))),
            }
        };
        if found.is_empty() {
            return Err(Problem::dns(format!("{name} has no A or AAAA record")));
        }
        Ok(found)
    }

    /// Connects to the first address that answers on `port`; the stream
    /// gives up at `deadline`, however slowly the other side trickles.
    fn connect(&self, id: &Identifier, port: u16, deadline: Instant) -> Result<Timed, Problem> {
        let mut failures = Vec::new();
        for ip in self.addresses(id, deadline)? {
            let addr = SocketAddr::new(ip, port);
            if let Some(why) = refused_address(ip) {
                failures.push(format!("{addr}: {why}"));
                continue;
            }
            let Some(left) = remaining(deadline) else {
                break;
            };
            match TcpStream::connect_timeout(&addr, left) {
                Ok(stream) => return Ok(Timed { stream, deadline }),
                Err(e) => failures.push(format!("{addr}: {e}")),
            }
        }
        Err(Problem::connection(format!(
            "could not connect to {} on port {port} ({}); is the client's server listening there?",
            id.value,
            if failures.is_empty() {
                "timed out".to_owned()
            } else {
                failures.join("; ")
            }
        )))
    }

    fn http_01(&self, attempt: &Attempt<'_>, deadline: Instant) -> Result<(), Problem> {
        let mut url = Url {
            https: false,
            host: attempt.identifier.value.clone(),
            port: self.http_port,
            path: format!("/.well-known/acme-challenge/{}", attempt.token),
        };
        for _ in 0..=MAX_REDIRECTS {
            let id = Identifier {
                kind: if url.host.parse::<IpAddr>().is_ok() {
                    "ip"
                } else {
                    "dns"
                }
                .to_owned(),
                value: url.host.clone(),
            };
            let stream = self.connect(&id, url.port, deadline)?;
            let shown = url.to_string();
            let reply = if url.https {
                // No SNI for an address (RFC 6066); the name otherwise.
                let sni = (id.kind == "dns").then(|| id.value.clone());
                let tls = tls_connect(stream, sni.as_deref(), None)
                    .map_err(|e| Problem::tls(format!("{shown}: {e}")))?;
                get(tls, &url)
            } else {
                get(stream, &url)
            }
            .map_err(|e| Problem::connection(format!("{shown}: {e}")))?;
            if (300..400).contains(&reply.status) {
                let location = reply.location.ok_or_else(|| {
                    Problem::connection(format!("{shown} redirected without a Location"))
                })?;
                url = url.follow(&location, self).map_err(|why| {
                    Problem::connection(format!("{shown} redirected to {location:?}: {why}"))
                })?;
                continue;
            }
            if reply.status != 200 {
                return Err(Problem::unauthorized(format!(
                    "{shown} answered {} instead of the key authorization; is the ACME client \
                     serving the challenge there?",
                    reply.status
                )));
            }
            let body = String::from_utf8_lossy(&reply.body);
            let body = body.trim_end();
            if body != attempt.key_authorization {
                // Echoed only when it looks like a key authorization: the
                // error is the client's to read, and the URL may have been
                // redirected to something it should not read through us.
                let looks_like_one = body.len() <= 256
                    && body
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
                let found = if looks_like_one {
                    format!("{body:?}")
                } else {
                    format!("{} bytes that are not a key authorization", body.len())
                };
                return Err(Problem::unauthorized(format!(
                    "{shown} answered {found}, not the key authorization {:?}",
                    attempt.key_authorization
                )));
            }
            return Ok(());
        }
        Err(Problem::connection(format!(
            "more than {MAX_REDIRECTS} redirects from http://{}:{}/",
            attempt.identifier.value, self.http_port
        )))
    }

    fn tls_alpn_01(&self, attempt: &Attempt<'_>, deadline: Instant) -> Result<(), Problem> {
        let id = attempt.identifier;
        let stream = self.connect(id, self.tls_port, deadline)?;
        let where_ = format!("{}:{}", id.value, self.tls_port);
        // The name, or for an address its reverse-DNS name (RFC 8738 §6).
        let sni = match id.value.parse::<IpAddr>() {
            Ok(ip) => reverse_name(ip),
            Err(_) => id.value.clone(),
        };
        let tls = tls_connect(stream, Some(&sni), Some(b"\x0aacme-tls/1"))
            .map_err(|e| Problem::tls(format!("{where_}: {e}")))?;
        if tls.ssl().selected_alpn_protocol() != Some(b"acme-tls/1") {
            return Err(Problem::tls(format!(
                "{where_} did not negotiate the acme-tls/1 protocol"
            )));
        }
        let cert = tls
            .ssl()
            .peer_certificate()
            .and_then(|c| c.to_der().ok())
            .ok_or_else(|| Problem::tls(format!("{where_} sent no certificate")))?;
        let (_, cert) = x509_parser::parse_x509_certificate(&cert).map_err(|_| {
            Problem::tls(format!("{where_} sent a certificate that does not parse"))
        })?;
        let mut names = Vec::new();
        let mut digest = None;
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        names.push(match name {
                            GeneralName::DNSName(d) => d.to_ascii_lowercase(),
                            GeneralName::IPAddress(b) => match b.len() {
                                4 => <[u8; 4]>::try_from(*b)
                                    .map(|a| IpAddr::from(a).to_string())
                                    .unwrap_or_default(),
                                16 => <[u8; 16]>::try_from(*b)
                                    .map(|a| IpAddr::from(a).to_string())
                                    .unwrap_or_default(),
                                _ => String::new(),
                            },
                            other => format!("{other}"),
                        });
                    }
                }
                _ if ext.oid.to_id_string() == ACME_IDENTIFIER_OID => {
                    if !ext.critical {
                        return Err(Problem::unauthorized(format!(
                            "{where_}: the acmeIdentifier extension is not critical"
                        )));
                    }
                    digest = Some(ext.value.to_vec());
                }
                _ => {}
            }
        }
        let expected_name = canonical_ip(id);
        if names != [expected_name.clone()] {
            return Err(Problem::unauthorized(format!(
                "{where_}: the certificate must name only {expected_name}, it names {names:?}"
            )));
        }
        let mut expected = vec![0x04, 0x20];
        expected.extend(sha256(attempt.key_authorization.as_bytes())?);
        match digest {
            Some(d) if d == expected => Ok(()),
            Some(_) => Err(Problem::unauthorized(format!(
                "{where_}: the acmeIdentifier digest is not that of the key authorization"
            ))),
            None => Err(Problem::unauthorized(format!(
                "{where_}: the certificate has no acmeIdentifier extension"
            ))),
        }
    }

    fn dns_01(&self, attempt: &Attempt<'_>, deadline: Instant) -> Result<(), Problem> {
        let name = format!("_acme-challenge.{}", attempt.identifier.value);
        let answer = dns::query(self.resolver()?, &name, RecordType::Txt, deadline)
            .map_err(|e| Problem::dns(format!("looking up TXT {name}: {e}")))?;
        let expected = b64(sha256(attempt.key_authorization.as_bytes())?);
        if answer.texts.iter().any(|t| t == expected.as_bytes()) {
            return Ok(());
        }
        let found: Vec<String> = answer
            .texts
            .iter()
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .collect();
        Err(Problem::unauthorized(format!(
            "TXT {name} is {found:?}, not {expected:?}; has the DNS record been made?"
        )))
    }
}

/// An IP identifier in the form the certificate check compares (`::1`, not `0:0:…:1`).
fn canonical_ip(id: &Identifier) -> String {
    match id.value.parse::<IpAddr>() {
        Ok(ip) if id.kind == "ip" => ip.to_string(),
        _ => id.value.clone(),
    }
}

/// A host as a URL or Host header writes it: IPv6 in brackets.
fn host_for_url(host: &str) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
        _ => host.to_owned(),
    }
}

fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

/// A TLS connection for validation: no certificate check (RFC 8555 §8.3
/// and RFC 8737 say the validation key, not the chain, is what counts).
fn tls_connect(
    stream: Timed,
    sni: Option<&str>,
    alpn: Option<&[u8]>,
) -> Result<openssl::ssl::SslStream<Timed>, String> {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
    builder.set_verify(SslVerifyMode::NONE);
    builder
        .set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(|e| e.to_string())?;
    if let Some(alpn) = alpn {
        builder.set_alpn_protos(alpn).map_err(|e| e.to_string())?;
    }
    let connector = builder.build();
    let mut config = connector.configure().map_err(|e| e.to_string())?;
    config.set_verify_hostname(false);
    config.set_use_server_name_indication(sni.is_some());
    config
        .connect(sni.unwrap_or(""), stream)
        .map_err(|e| format!("the TLS handshake failed: {e}"))
}

/// A connection that fails every read and write once the validation's
/// deadline has passed, so a peer trickling a byte at a time cannot hold
/// a validation past it.
#[derive(Debug)]
struct Timed {
    stream: TcpStream,
    deadline: Instant,
}

impl Timed {
    fn left(&self) -> std::io::Result<Duration> {
        remaining(self.deadline).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no complete answer within {} s", TIMEOUT.as_secs()),
            )
        })
    }

    /// A socket timeout (which Linux reports as WouldBlock) as the deadline's error.
    fn timed_out<T>(&self, result: std::io::Result<T>) -> std::io::Result<T> {
        match result {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                self.left().and(Err(e))
            }
            other => other,
        }
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.left()?;
        self.stream.set_read_timeout(Some(left))?;
        let result = self.stream.read(buf);
        self.timed_out(result)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let left = self.left()?;
        self.stream.set_write_timeout(Some(left))?;
        let result = self.stream.write(buf);
        self.timed_out(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

/// Why validation will not connect to an address: ones that name no host
/// (unspecified, multicast, broadcast) or the link-local networks, where
/// cloud metadata services answer.
fn refused_address(ip: IpAddr) -> Option<&'static str> {
    // ::ffff:169.254.169.254 reaches the IPv4 address on a dual-stack socket.
    let ip = ip.to_canonical();
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    if ip.is_unspecified() || ip.is_multicast() || broadcast {
        Some("not a host address")
    } else if link_local {
        Some("link-local addresses are not validated")
    } else {
        None
    }
}

/// `1.0.0.127.in-addr.arpa` for 127.0.0.1 (RFC 8738 §6).
fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut labels: Vec<String> = v6
                .octets()
                .iter()
                .flat_map(|b| [b >> 4, b & 0x0F])
                .map(|n| format!("{n:x}"))
                .collect();
            labels.reverse();
            format!("{}.ip6.arpa", labels.join("."))
        }
    }
}

/// A URL validation may fetch.
#[derive(Debug, Clone)]
struct Url {
    https: bool,
    host: String,
    port: u16,
    path: String,
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        let host = host_for_url(&self.host);
        write!(f, "{scheme}://{host}:{}{}", self.port, self.path)
    }
}

impl Url {
    /// Where a redirect goes: http or https only, on the validation ports
    /// (RFC 8555 §8.3: 80 and 443), relative paths kept on this host.
    fn follow(&self, location: &str, validator: &Validator) -> Result<Url, &'static str> {
        if location.starts_with('/') && !location.starts_with("//") {
            return Ok(Url {
                path: location.to_owned(),
                ..self.clone()
            });
        }
        let (https, rest) = if let Some(rest) = location.strip_prefix("http://") {
            (false, rest)
        } else if let Some(rest) = location.strip_prefix("https://") {
            (true, rest)
        } else {
            return Err("only http:// and https:// redirects are followed");
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let default_port = if https {
            validator.tls_port
        } else {
            validator.http_port
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or("a bracket is not closed")?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| "the port is not a number")?,
                None => default_port,
            };
            (host.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_owned(),
                    p.parse().map_err(|_| "the port is not a number")?,
                ),
                None => (authority.to_owned(), default_port),
            }
        };
        if port != default_port {
            return Err(
                "a redirect may only go to the validation ports (80 for http, 443 for https)",
            );
        }
        if host.is_empty() || authority.contains('@') {
            return Err("the redirect names no plain host");
        }
        Ok(Url {
            https,
            host: host.to_ascii_lowercase(),
            port,
            path: path.to_owned(),
        })
    }
}

/// What an HTTP answer said.
struct Reply {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

/// One HTTP/1.1 GET with `Connection: close`, read to [`MAX_RESPONSE`].
fn get(mut stream: impl Read + Write, url: &Url) -> Result<Reply, String> {
    let host_header = host_for_url(&url.host);
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: pki-acme validation\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.path
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let raw = read_response(&mut stream)?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the answer is not HTTP")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut body = raw[end + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("the answer has no status line")?;
    let mut location = None;
    let mut chunked = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("location") {
                location = Some(value.to_owned());
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }
    if chunked {
        body = dechunk(&body).ok_or("the chunked body is malformed")?;
    }
    Ok(Reply {
        status,
        location,
        body,
    })
}

/// Reads an answer to its end: the close, the Content-Length, or
/// [`MAX_RESPONSE`] (an error); the stream's deadline bounds the time.
fn read_response(stream: &mut impl Read) -> Result<Vec<u8>, String> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            // A TLS peer closing without close_notify still sent its answer.
            Err(e) if !raw.is_empty() && e.kind() != std::io::ErrorKind::TimedOut => 0,
            Err(e) => return Err(e.to_string()),
        };
        if n == 0 {
            return Ok(raw);
        }
        raw.extend_from_slice(&chunk[..n]);
        if raw.len() > MAX_RESPONSE {
            return Err(format!("the answer is longer than {MAX_RESPONSE} bytes"));
        }
        // Done at the end of the framing, even if the server keeps the
        // connection open despite `Connection: close`: the last chunk of a
        // chunked body (which overrides any Content-Length), else the
        // Content-Length.
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let header = |name: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
            };
            let complete = if header("transfer-encoding:").is_some_and(|v| v == "chunked") {
                dechunk(&raw[end + 4..]).is_some()
            } else {
                header("content-length:")
                    .and_then(|v| v.parse::<usize>().ok())
                    .is_some_and(|len| raw.len() >= end + 4 + len)
            };
            if complete {
                return Ok(raw);
            }
        }
    }
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url {
            https: false,
            host: "a.test".into(),
            port: 80,
            path: "/x".into(),
        }
    }

    #[test]
    fn redirects_stay_on_validation_ports() {
        let v = Validator::default();
        let next = url().follow("https://b.test/y", &v).unwrap();
        assert!(next.https && next.host == "b.test" && next.port == 443 && next.path == "/y");
        assert_eq!(url().follow("/z", &v).unwrap().path, "/z");
        assert_eq!(
            url().follow("http://b.test:8080/y", &v).unwrap_err(),
            "a redirect may only go to the validation ports (80 for http, 443 for https)"
        );
        assert_eq!(
            url().follow("ftp://b.test/y", &v).unwrap_err(),
            "only http:// and https:// redirects are followed"
        );
    }

    /// Gives its bytes, then times out, as a server that keeps the
    /// connection open despite `Connection: close`.
    struct KeepsOpen(std::io::Cursor<Vec<u8>>);

    impl Read for KeepsOpen {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(std::io::ErrorKind::TimedOut.into()),
                n => Ok(n),
            }
        }
    }

    #[test]
    fn an_answer_ends_with_its_framing_not_the_connection() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let raw = read_response(&mut KeepsOpen(std::io::Cursor::new(chunked.to_vec()))).unwrap();
        assert_eq!(raw, chunked);
        let sized = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        let raw = read_response(&mut KeepsOpen(std::io::Cursor::new(sized.to_vec()))).unwrap();
        assert_eq!(raw, sized);
        // Without framing, only the close ends it: a connection left open is a timeout.
        let unsized_ = b"HTTP/1.1 200 OK\r\n\r\nabc";
        let err =
            read_response(&mut KeepsOpen(std::io::Cursor::new(unsized_.to_vec()))).unwrap_err();
        assert_eq!(err, "timed out");
    }

    #[test]
    fn dechunks_and_reverses() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert_eq!(dechunk(b"5\r\nab"), None);
        assert_eq!(
            reverse_name("127.0.0.1".parse().unwrap()),
            "1.0.0.127.in-addr.arpa"
        );
        assert!(reverse_name("::1".parse().unwrap()).starts_with("1.0.0.0."));
    }
}

#[cfg(test)]
mod resolution_tests {
    use super::*;

    #[test]
    fn localhost_names_are_loopback_without_asking_dns() {
        // A resolver that cannot answer: port 9 on loopback (discard), nothing listens.
        let v = Validator {
            resolver: Some("127.0.0.1:9".parse().unwrap()),
            ..Validator::default()
        };
        let deadline = Instant::now() + Duration::from_secs(1);
        for name in ["localhost", "app.localhost", "a.b.localhost"] {
            let id = Identifier {
                kind: "dns".into(),
                value: name.into(),
            };
            assert_eq!(
                v.addresses(&id, deadline).unwrap(),
                [
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(Ipv6Addr::LOCALHOST)
                ]
            );
        }
        let other = Identifier {
            kind: "dns".into(),
            value: "localhost.example".into(),
        };
        assert_eq!(v.addresses(&other, deadline).unwrap_err().kind, "dns");
    }

    #[test]
    fn metadata_and_non_host_addresses_are_refused() {
        for ip in [
            "169.254.169.254",
            "fe80::1",
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            let why = refused_address(ip.parse().unwrap());
            let expected = if ip.contains("169.254") || ip.starts_with("fe80") {
                "link-local addresses are not validated"
            } else {
                "not a host address"
            };
            assert_eq!(why, Some(expected), "{ip}");
        }
        for ip in ["127.0.0.1", "::1", "10.0.0.1", "192.168.1.1"] {
            assert!(refused_address(ip.parse().unwrap()).is_none(), "{ip}");
        }
    }
}
