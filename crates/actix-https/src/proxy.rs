//! A reverse proxy to the user's own app (`--proxy [PATH=]URL`), with
//! Caddy's defaults rather than nginx's: the client's `Host` goes upstream
//! unchanged; `X-Forwarded-For`, `-Proto`, `-Host` and `-Port` are set from
//! the connection and replace whatever the client sent; hop-by-hop headers
//! are dropped both ways; redirects come back as redirects; every
//! `Set-Cookie` and repeated header survives, in order; bodies stream both
//! ways, compressed or not, untouched; there is no response timeout (a
//! breakpoint in the app must not become a 504), only a connect timeout;
//! `localhost` means 127.0.0.1, then ::1. With mutual TLS the verified
//! client certificate goes upstream as Envoy's `X-Forwarded-Client-Cert`,
//! and a client's own copy of that header never does.
//!
//! awc is the client, with its traps off: no redirect following, no
//! response timeout, no decompression (built without its compression
//! features), no default headers.

use std::error::Error as StdError;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::time::Duration;

use actix_tls::connect::{Connector as TcpConnector, Resolve, Resolver};
use actix_web::body::{BodySize, SizedStream};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode, Version};
use actix_web::{HttpRequest, HttpResponse, web};
use awc::Client;

use crate::conn::TlsInfo;

/// How long connecting to the app may take before the client gets a 502.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1,
/// plus the legacy ones proxies still meet).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
];

/// Headers only this proxy may set upstream: a client's copy is dropped.
const OURS: [&str; 6] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "forwarded",
    "x-forwarded-client-cert",
];

/// Where requests go: `http://127.0.0.1:5000`, with an optional base path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    scheme: &'static str,
    host: String,
    port: u16,
    /// Prepended to every request path (`""` when the URL has none).
    base: String,
}

impl Upstream {
    /// Parses `http://HOST[:PORT][/BASE]` (or `https://`); the error says what is wrong.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
            ("http", rest)
        } else if let Some(rest) = url.strip_prefix("https://") {
            ("https", rest)
        } else {
            return Err(format!(
                "{url:?} is not an http:// or https:// URL (e.g. http://127.0.0.1:5000)"
            ));
        };
        let (authority, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if base.contains(['?', '#']) {
            return Err(format!(
                "{url:?}: an upstream URL takes no query or fragment"
            ));
        }
        let default_port = if scheme == "https" { 443 } else { 80 };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') && !port.contains(']') => {
                let port = port.parse::<u16>().map_err(|_| {
                    format!("{url:?}: the port {port:?} is not a number from 1 to 65535")
                })?;
                (host, port)
            }
            _ => (authority, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(format!(
                "{url:?}: give the app's host and port, e.g. http://127.0.0.1:5000"
            ));
        }
        Ok(Upstream {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            base: base.to_owned(),
        })
    }

    /// `http://host:port/base` as given back in messages.
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}://{host}:{}{}", self.scheme, self.port, self.base)
    }

    fn uri_for(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.url())
    }
}

/// The service for `prefix`: every request under it goes to `upstream`
/// (its full path, after the upstream's base path). Mount it on any
/// actix-web `App` with `.service(...)`.
pub fn reverse_proxy(prefix: &str, upstream: Upstream) -> actix_web::Scope {
    let scope = if prefix == "/" { "" } else { prefix };
    web::scope(scope)
        .app_data(web::Data::new(Proxy::new(upstream)))
        .default_service(web::to(forward))
}

/// The upstream and the client talking to it (one per worker thread).
struct Proxy {
    upstream: Upstream,
    client: Client,
}

impl Proxy {
    fn new(upstream: Upstream) -> Self {
        let connector = awc::Connector::new()
            .connector(TcpConnector::new(Resolver::custom(LoopbackFirst)).service())
            .timeout(CONNECT_TIMEOUT);
        let client = awc::ClientBuilder::new()
            .connector(connector)
            .disable_redirects()
            .disable_timeout()
            .no_default_headers()
            .finish();
        Proxy { upstream, client }
    }
}

/// Resolves `localhost` to 127.0.0.1 and then ::1, tried in that order
/// (an app listening on only one of them is found either way), and every
/// other name as the system does.
struct LoopbackFirst;

impl Resolve for LoopbackFirst {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<SocketAddr>, Box<dyn StdError>>> + 'a>> {
        Box::pin(async move {
            if host.eq_ignore_ascii_case("localhost") {
                return Ok(vec![
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
                    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
                ]);
            }
            let host = host.to_owned();
            let addrs = actix_web::rt::task::spawn_blocking(move || {
                (host.as_str(), port)
                    .to_socket_addrs()
                    .map(Iterator::collect::<Vec<_>>)
            })
            .await
            .map_err(|e| Box::new(e) as Box<dyn StdError>)?;
            addrs.map_err(|e| Box::new(e) as Box<dyn StdError>)
        })
    }
}

async fn forward(req: HttpRequest, payload: web::Payload, proxy: web::Data<Proxy>) -> HttpResponse {
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let uri = proxy.upstream.uri_for(path);
    let mut upstream = proxy
        .client
        .request(req.method().clone(), &uri)
        // HTTP/1.1 to the app whatever the client spoke: what dev servers speak.
        .version(Version::HTTP_11)
        // Bodies pass untouched: no Accept-Encoding of awc's, no decoding.
        .no_decompress();
    for (name, value) in request_headers(&req) {
        upstream = upstream.append_header((name, value));
    }
    let sent = match request_body_size(&req) {
        // Without a body, no `Content-Length: 0` either (awc's `send` adds one).
        BodySize::None => upstream.send_body(actix_web::body::None::new()).await,
        BodySize::Sized(len) => upstream.send_body(SizedStream::new(len, payload)).await,
        BodySize::Stream => upstream.send_stream(payload).await,
    };
    match sent {
        Ok(response) => relay_response(&req, response),
        Err(e) => bad_gateway(&req, &proxy.upstream, &e.to_string()),
    }
}

/// How big the client's body is: none, sized, or streamed (chunked).
fn request_body_size(req: &HttpRequest) -> BodySize {
    let headers = req.headers();
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        return BodySize::Sized(len);
    }
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    // HTTP/2 bodies carry no length header; the END_STREAM flag ends them.
    if chunked
        || (req.version() == Version::HTTP_2
            && !matches!(*req.method(), Method::GET | Method::HEAD))
    {
        BodySize::Stream
    } else {
        BodySize::None
    }
}

/// The headers the app gets: the client's, less hop-by-hop ones and the
/// ones only this proxy sets, with HTTP/2 cookie crumbs joined into one
/// header, `Host` kept, and the forwarding headers added.
fn request_headers(req: &HttpRequest) -> Vec<(HeaderName, HeaderValue)> {
    let headers = req.headers();
    let dropped = connection_listed(headers);
    let mut out: Vec<(HeaderName, HeaderValue)> = Vec::with_capacity(headers.len() + 6);
    let mut cookies: Vec<&str> = Vec::new();
    for (name, value) in headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || OURS.contains(&n) || dropped.iter().any(|d| d == n) {
            continue;
        }
        if name == header::COOKIE {
            if let Ok(v) = value.to_str() {
                cookies.push(v);
            }
            continue;
        }
        if name == header::HOST {
            continue;
        }
        out.push((name.clone(), value.clone()));
    }
    let joined = HeaderValue::from_str(&cookies.join("; "));
    if let (false, Ok(joined)) = (cookies.is_empty(), joined) {
        out.push((header::COOKIE, joined));
    }
    let host = request_host(req);
    let tls = req.conn_data::<TlsInfo>().filter(|t| t.is_tls());
    let proto = if tls.is_some() { "https" } else { "http" };
    let port = req.app_config().local_addr().port();
    let client_ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let mut add = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            out.push((n, v));
        }
    };
    add("host", &host);
    add("x-forwarded-for", &client_ip);
    add("x-forwarded-proto", proto);
    add("x-forwarded-host", &host);
    add("x-forwarded-port", &port.to_string());
    if let Some(cert) = tls.and_then(|t| t.client_certificate.as_ref()) {
        add(
            "x-forwarded-client-cert",
            &forwarded_client_cert(&cert.certificate),
        );
    }
    out
}

/// The host the client asked for, with its port: the `Host` header, or
/// HTTP/2's `:authority`. Not `ConnectionInfo::host`, which believes a
/// client's own `X-Forwarded-Host` and `Forwarded` headers.
pub fn request_host(req: &HttpRequest) -> String {
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_default()
}

/// The header names a `Connection` header lists: hop-by-hop for this message.
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The app's response, streamed to the client as it comes, less hop-by-hop
/// headers; every repeated header (each `Set-Cookie`) kept, in order.
fn relay_response(req: &HttpRequest, response: awc::ClientResponse) -> HttpResponse {
    let status = response.status();
    let dropped = connection_listed(response.headers());
    let mut out = HttpResponse::build(status);
    let mut length = None;
    for (name, value) in response.headers() {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || dropped.iter().any(|d| d == n) {
            continue;
        }
        if name == header::CONTENT_LENGTH {
            length = value.to_str().ok().and_then(|v| v.parse::<u64>().ok());
            continue;
        }
        out.append_header((name.clone(), value.clone()));
    }
    let bodiless = req.method() == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if bodiless {
        if let Some(len) = length {
            // HEAD and 304 keep the length the app announced.
            out.no_chunking(len);
        }
        return out.finish();
    }
    match length {
        Some(len) => out.body(SizedStream::new(len, response)),
        None => out.streaming(response),
    }
}

/// The app did not answer: 502 with a page that names it and says what to
/// do, HTML for browsers and text for the rest.
fn bad_gateway(req: &HttpRequest, upstream: &Upstream, why: &str) -> HttpResponse {
    let url = upstream.url();
    let text = format!(
        "502 Bad Gateway: the app at {url} did not answer ({why}).\n\
         Start it (or wait for it to restart), then reload: the next request tries again.\n"
    );
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let mut response = HttpResponse::BadGateway();
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if wants_html {
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        response.content_type("text/html; charset=utf-8").body(format!(
            "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>502: the app is not answering</title></head>\n\
             <body>\n<h1>The app at {} is not answering</h1>\n<p>{}</p>\n\
             <p>Start it (or wait for it to restart), then reload this page: the next request tries again.</p>\n</body>\n</html>\n",
            esc(&url),
            esc(why)
        ))
    } else {
        response
            .content_type("text/plain; charset=utf-8")
            .body(text)
    }
}

/// The client certificate as Envoy's `X-Forwarded-Client-Cert` element:
/// `Hash` (SHA-256 of the DER, hex), `Cert` (the PEM, URL-encoded),
/// `Subject` (quoted), then each `URI` and `DNS` name. A server built on
/// this crate uses it to hand a verified identity to an app behind it.
pub fn forwarded_client_cert(cert: &pki::Certificate) -> String {
    let der = cert.to_der().unwrap_or_default();
    let hash: String = openssl::sha::sha256(&der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let pem = cert.to_pem().unwrap_or_default();
    let mut out = format!(
        "Hash={hash};Cert=\"{}\";Subject=\"{}\"",
        url_encode(&pem),
        cert.subject().replace('\\', "\\\\").replace('"', "\\\"")
    );
    for name in cert.subject_alt_names() {
        match name {
            pki::SubjectAltName::Uri(uri) => out.push_str(&format!(";URI={uri}")),
            pki::SubjectAltName::Dns(dns) => out.push_str(&format!(";DNS={dns}")),
            _ => {}
        }
    }
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn url_encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_parse_and_say_what_is_wrong() {
        let u = Upstream::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!(u.url(), "http://127.0.0.1:5000");
        let u = Upstream::parse("http://localhost:8000/api/").unwrap();
        assert_eq!(u.url(), "http://localhost:8000/api");
        assert_eq!(u.uri_for("/x?y=1"), "http://localhost:8000/api/x?y=1");
        let u = Upstream::parse("http://[::1]:3000").unwrap();
        assert_eq!(u.url(), "http://[::1]:3000");
        assert_eq!(Upstream::parse("http://app.test").unwrap().port, 80);
        for (bad, says) in [
            ("127.0.0.1:5000", "not an http:// or https:// URL"),
            ("http://h:70000", "not a number"),
            ("http://:5000", "give the app's host"),
            ("http://h:1/a?b", "no query"),
        ] {
            let err = Upstream::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn client_certificates_take_envoys_form() -> Result<(), pki::Error> {
        let ca = pki::testing::TestCa::new()?;
        let alice = ca.ca().issue(&pki::CertParams::new([
            "alice.example.test",
            "URI:spiffe://example.test/alice",
        ])?)?;
        let xfcc = forwarded_client_cert(alice.certificate());
        assert!(xfcc.starts_with("Hash="), "{xfcc}");
        assert!(
            xfcc.contains(";Cert=\"-----BEGIN%20CERTIFICATE-----%0A"),
            "{xfcc}"
        );
        assert!(xfcc.contains(";Subject=\""), "{xfcc}");
        assert!(
            xfcc.ends_with(";DNS=alice.example.test;URI=spiffe://example.test/alice")
                || xfcc.ends_with(";URI=spiffe://example.test/alice;DNS=alice.example.test"),
            "{xfcc}"
        );
        Ok(())
    }
}
