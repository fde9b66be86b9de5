//! A reverse proxy to the user's own app (`--proxy [PATH=]URL`), with
//! Caddy's defaults rather than nginx's: the client's `Host` goes upstream
//! unchanged; `X-Forwarded-For`, `-Proto`, `-Host` and `-Port` are set from
//! the connection and replace whatever the client sent; hop-by-hop headers
//! are dropped both ways; redirects come back as redirects; every
//! `Set-Cookie` and repeated header survives, in order; bodies stream both
//! ways, compressed or not, untouched; WebSocket handshakes are passed on
//! and their bytes tunnelled both ways; there is no response timeout (a
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
use std::task::{Context, Poll};
use std::time::Duration;

use actix_tls::connect::{Connector as TcpConnector, Resolve, Resolver};
use actix_web::body::SizedStream;
use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::uri::{Authority, PathAndQuery, Scheme};
use actix_web::http::{Method, StatusCode, Uri, Version};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use awc::Client;
use futures_core::Stream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

use crate::conn::TlsInfo;

/// How long connecting to the app may take before the client gets a 502.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1,
/// plus the legacy ones proxies still meet).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
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
    host: String,
    port: u16,
    /// Prepended to every request path (`""` when the URL has none).
    base: String,
    /// `host:port` (`[::1]:3000`), made once: every request's URI has it.
    authority: Authority,
}

impl Upstream {
    /// Parses `http://HOST[:PORT][/BASE]`; the error says what is wrong.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = if let Some(rest) = url.strip_prefix("http://") {
            rest
        } else if url.starts_with("https://") {
            return Err(format!(
                "{url:?}: apps behind this proxy speak plain HTTP on this machine; give the app's http:// address"
            ));
        } else {
            return Err(format!(
                "{url:?} is not an http:// URL (e.g. http://127.0.0.1:5000)"
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
        if !base.is_empty() && PathAndQuery::try_from(base).is_err() {
            return Err(format!(
                "{url:?}: the path {base:?} has characters a URL path cannot have; percent-encode them"
            ));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') && !port.contains(']') => {
                let port = port.parse::<u16>().map_err(|_| {
                    format!("{url:?}: the port {port:?} is not a number from 1 to 65535")
                })?;
                (host, port)
            }
            _ => (authority, 80),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(format!(
                "{url:?}: give the app's host and port, e.g. http://127.0.0.1:5000"
            ));
        }
        let host = host.to_ascii_lowercase();
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let authority = Authority::from_maybe_shared(web::Bytes::from(authority))
            .map_err(|_| format!("{url:?}: {host:?} is not a host name or address"))?;
        Ok(Upstream {
            host,
            port,
            base: base.to_owned(),
            authority,
        })
    }

    /// `http://host:port/base` as given back in messages.
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("http://{host}:{}{}", self.port, self.base)
    }

    /// The app's URI for a request's path and query: built from parts,
    /// the request's own path reused (no copy) when there is no base.
    fn uri_for(&self, request: &Uri) -> Result<Uri, String> {
        let path = match (self.base.as_str(), request.path_and_query()) {
            ("", Some(path)) => path.clone(),
            (base, path) => {
                let path = path.map_or("/", PathAndQuery::as_str);
                PathAndQuery::try_from(format!("{base}{path}")).map_err(|e| e.to_string())?
            }
        };
        Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(self.authority.clone())
            .path_and_query(path)
            .build()
            .map_err(|e| e.to_string())
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
    if is_websocket_upgrade(&req) {
        return tunnel(&req, payload, &proxy.upstream)
            .await
            .unwrap_or_else(|failure| bad_gateway(&req, &proxy.upstream, &failure));
    }
    let uri = match proxy.upstream.uri_for(req.uri()) {
        Ok(uri) => uri,
        Err(why) => {
            return HttpResponse::BadRequest()
                .body(format!("this request's path cannot go to the app: {why}\n"));
        }
    };
    let mut upstream = proxy
        .client
        .request(req.method().clone(), uri)
        // HTTP/1.1 to the app whatever the client spoke: what dev servers speak.
        .version(Version::HTTP_11)
        // Bodies pass untouched: no Accept-Encoding of awc's, no decoding.
        .no_decompress();
    for (name, value) in request_headers(&req) {
        upstream = upstream.append_header((name, value));
    }
    let sent = match request_body(&req, payload).await {
        // Without a body, no `Content-Length: 0` either (awc's `send` adds one).
        RequestBody::None => upstream.send_body(actix_web::body::None::new()).await,
        RequestBody::Sized(len, payload) => {
            upstream.send_body(SizedStream::new(len, payload)).await
        }
        RequestBody::Stream(payload) => upstream.send_stream(payload).await,
    };
    match sent {
        Ok(response) => relay_response(&req, &proxy.upstream, response).await,
        Err(e) => bad_gateway(&req, &proxy.upstream, &Failure::from(e)),
    }
}

/// Whether this is an HTTP/1.1 WebSocket handshake (`Connection: upgrade`,
/// `Upgrade: websocket`): the one upgrade whose later bytes actix-web hands
/// to the handler as they come.
fn is_websocket_upgrade(req: &HttpRequest) -> bool {
    req.version() == Version::HTTP_11
        && req.head().upgrade()
        && req
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Longest response head the app may send to a WebSocket handshake.
const MAX_HEAD: usize = 64 * 1024;

/// A WebSocket handshake, passed to the app over its own TCP connection;
/// on `101 Switching Protocols` the bytes then flow both ways untouched
/// (frames, pings, the close handshake) until either side closes.
async fn tunnel(
    req: &HttpRequest,
    payload: web::Payload,
    upstream: &Upstream,
) -> Result<HttpResponse, Failure> {
    let stream = connect(upstream).await.map_err(Failure::Down)?;
    let (mut read, mut write) = stream.into_split();
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut head = format!("{} {}{path} HTTP/1.1\r\n", req.method(), upstream.base);
    for (name, value) in request_headers(req) {
        if let Ok(v) = value.to_str() {
            head.push_str(&format!("{name}: {v}\r\n"));
        }
    }
    head.push_str("connection: upgrade\r\nupgrade: websocket\r\n\r\n");
    write
        .write_all(head.as_bytes())
        .await
        .map_err(|e| Failure::Down(format!("sending the WebSocket handshake failed: {e}")))?;
    // Interim answers (100, 103 Early Hints) are the app's business with no
    // one here: skipped, up to the final one or the 101.
    let mut unread = Vec::new();
    let (status, headers, leftover) = loop {
        let head = read_head(&mut read, unread)
            .await
            .map_err(Failure::BadAnswer)?;
        if !head.0.is_informational() || head.0 == StatusCode::SWITCHING_PROTOCOLS {
            break head;
        }
        unread = head.2.to_vec();
    };
    let mut response = HttpResponse::build(status);
    let length = copy_response_headers(&headers, &mut response);
    if status != StatusCode::SWITCHING_PROTOCOLS {
        // The app refused the upgrade: its answer, as any other, framed by
        // its length (the connection is then dropped, not kept alive).
        let chunked = headers
            .get(header::TRANSFER_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
        if status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
            || req.method() == Method::HEAD
        {
            return Ok(response.body(actix_web::body::None::new()));
        }
        return match (length, chunked) {
            (Some(len), _) => Ok(response.body(SizedStream::new(
                len,
                FromApp {
                    leftover: Some(leftover),
                    read,
                    remaining: Some(len),
                },
            ))),
            (None, false) => Ok(response.streaming(FromApp {
                leftover: Some(leftover),
                read,
                remaining: None,
            })),
            (None, true) => Err(Failure::BadAnswer(format!(
                "it refused the WebSocket handshake with {status} and a chunked body, \
                 which this proxy does not relay on an upgrade request"
            ))),
        };
    }
    let from_app = FromApp {
        leftover: Some(leftover),
        read,
        remaining: None,
    };
    response.upgrade("websocket");
    // The client's side: every byte after its handshake goes to the app.
    actix_web::rt::spawn(async move {
        let mut payload = payload.into_inner();
        while let Some(Ok(chunk)) =
            std::future::poll_fn(|cx| Pin::new(&mut payload).poll_next(cx)).await
        {
            if write.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = write.shutdown().await;
    });
    Ok(response.streaming(from_app))
}

/// A TCP connection to the app, each address in turn ([`LoopbackFirst`]),
/// within [`CONNECT_TIMEOUT`].
async fn connect(upstream: &Upstream) -> Result<TcpStream, String> {
    let addrs = LoopbackFirst
        .lookup(&upstream.host, upstream.port)
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", upstream.host))?;
    let mut last = String::from("no address");
    for addr in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: no answer within {CONNECT_TIMEOUT:?}"),
        }
    }
    Err(format!("connecting failed ({last})"))
}

/// Reads the app's response head, starting with the `unread` bytes: its
/// status, its headers, and what came after the head in the same reads.
async fn read_head(
    read: &mut OwnedReadHalf,
    unread: Vec<u8>,
) -> Result<(StatusCode, HeaderMap, web::Bytes), String> {
    let mut buf = unread;
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(format!("the app's response head is over {MAX_HEAD} bytes"));
        }
        let mut chunk = [0u8; 4096];
        let n = read
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the app's answer failed: {e}"))?;
        if n == 0 {
            return Err("the app closed the connection without answering".to_owned());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| "the app's answer has no HTTP status line".to_owned())?;
    let mut headers = HeaderMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.trim()),
            HeaderValue::from_str(value.trim()),
        ) {
            headers.append(n, v);
        }
    }
    Ok((status, headers, web::Bytes::copy_from_slice(&buf[end..])))
}

/// The app's side of a tunnel: what came with its head, then each read;
/// ends at EOF, or after `remaining` bytes when the app gave a length.
struct FromApp {
    leftover: Option<web::Bytes>,
    read: OwnedReadHalf,
    remaining: Option<u64>,
}

impl Stream for FromApp {
    type Item = Result<web::Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.remaining == Some(0) {
            return Poll::Ready(None);
        }
        let chunk = if let Some(first) = self.leftover.take().filter(|b| !b.is_empty()) {
            first
        } else {
            let mut buf = [0u8; 16 * 1024];
            let mut filled = ReadBuf::new(&mut buf);
            match Pin::new(&mut self.read).poll_read(cx, &mut filled) {
                Poll::Ready(Ok(())) if filled.filled().is_empty() => return Poll::Ready(None),
                Poll::Ready(Ok(())) => web::Bytes::copy_from_slice(filled.filled()),
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                Poll::Pending => return Poll::Pending,
            }
        };
        let chunk = match self.remaining {
            Some(left) => {
                let take = usize::try_from(left).map_or(chunk.len(), |l| l.min(chunk.len()));
                self.remaining = Some(left - take as u64);
                chunk.slice(..take)
            }
            None => chunk,
        };
        Poll::Ready(Some(Ok(chunk)))
    }
}

/// The client's body as it goes to the app.
enum RequestBody {
    /// None at all: no length header and no chunks upstream.
    None,
    /// Of a known length (`Content-Length`).
    Sized(u64, Payload),
    /// Of unknown length: chunked upstream.
    Stream(Payload),
}

/// How the client framed its body: by `Content-Length`, by chunks, or, over
/// HTTP/2, by the END_STREAM flag, which may come on the headers (no body,
/// whatever the method) or after DATA frames. awc would send an empty
/// stream as `Content-Length: 0`, so one already ended goes as none.
async fn request_body(req: &HttpRequest, payload: web::Payload) -> RequestBody {
    let headers = req.headers();
    let mut payload = payload.into_inner();
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        return RequestBody::Sized(len, payload);
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return RequestBody::Stream(payload);
    }
    if req.version() != Version::HTTP_2 {
        return RequestBody::None;
    }
    // Polled once, without waiting: a stream that has ended says so at once.
    // (A client that ends it with an empty DATA frame after the headers is
    // not seen here: its GET goes upstream chunked, with an empty body.)
    let first = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut payload).poll_next(cx))).await;
    match first {
        Poll::Ready(None) => RequestBody::None,
        Poll::Ready(Some(chunk)) => {
            let prepended: Pin<Box<dyn Stream<Item = _>>> = Box::pin(Prepended {
                first: Some(chunk),
                rest: payload,
            });
            RequestBody::Stream(Payload::from(prepended))
        }
        Poll::Pending => RequestBody::Stream(payload),
    }
}

/// A body stream with its first item, read while peeking, put back.
struct Prepended {
    first: Option<Result<web::Bytes, PayloadError>>,
    rest: Payload,
}

impl Stream for Prepended {
    type Item = Result<web::Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(first));
        }
        Pin::new(&mut self.rest).poll_next(cx)
    }
}

/// The headers the app gets: the client's, less hop-by-hop ones and the
/// ones only this proxy sets, with HTTP/2 cookie crumbs joined into one
/// header, `Host` kept, and the forwarding headers added.
fn request_headers(req: &HttpRequest) -> Vec<(HeaderName, HeaderValue)> {
    let headers = req.headers();
    let dropped = connection_listed(headers);
    let mut out: Vec<(HeaderName, HeaderValue)> = Vec::with_capacity(headers.len() + 6);
    let mut cookies: Vec<&[u8]> = Vec::new();
    for (name, value) in headers {
        let n = name.as_str();
        // `X_Forwarded_For` is `X-Forwarded-For` to a CGI/WSGI server that
        // maps both to HTTP_X_FORWARDED_FOR: no underscores (nginx's rule).
        // `Expect: 100-continue` was answered to the client already (actix
        // sends the 100 before the body is read); passed on, the app's own
        // 100 would meet awc's expect handling and the answer was lost.
        if HOP_BY_HOP.contains(&n)
            || OURS.contains(&n)
            || name == header::EXPECT
            || n.contains('_')
            || dropped.iter().any(|d| d == n)
        {
            continue;
        }
        if name == header::COOKIE {
            cookies.push(value.as_bytes());
            continue;
        }
        if name == header::HOST {
            continue;
        }
        out.push((name.clone(), value.clone()));
    }
    let joined = HeaderValue::from_bytes(&cookies.join(&b"; "[..]));
    if let (false, Ok(joined)) = (cookies.is_empty(), joined) {
        out.push((header::COOKIE, joined));
    }
    // Values made without formatting where they can be: a request's
    // worth of small strings showed up in the proxy's profile.
    let host = match headers.get(header::HOST) {
        Some(host) => Some(host.clone()),
        None => HeaderValue::from_str(&request_host(req)).ok(),
    };
    let tls = req.conn_data::<TlsInfo>().filter(|t| t.is_tls());
    let proto = HeaderValue::from_static(if tls.is_some() { "https" } else { "http" });
    let port = HeaderValue::from(req.app_config().local_addr().port());
    let client_ip = req
        .peer_addr()
        .and_then(|a| HeaderValue::from_str(&a.ip().to_string()).ok());
    if let Some(host) = host {
        out.push((header::HOST, host.clone()));
        out.push((HeaderName::from_static("x-forwarded-host"), host));
    }
    if let Some(ip) = client_ip {
        out.push((HeaderName::from_static("x-forwarded-for"), ip));
    }
    out.push((HeaderName::from_static("x-forwarded-proto"), proto));
    out.push((HeaderName::from_static("x-forwarded-port"), port));
    let xfcc = tls
        .and_then(|t| t.client_certificate.as_ref())
        .and_then(|cert| HeaderValue::from_str(&forwarded_client_cert(&cert.certificate)).ok());
    if let Some(xfcc) = xfcc {
        out.push((HeaderName::from_static("x-forwarded-client-cert"), xfcc));
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
    if !headers.contains_key(header::CONNECTION) {
        return Vec::new();
    }
    headers
        .get_all(header::CONNECTION)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Bodies up to this size, with their length given, are read whole before
/// the response goes out, so head and body leave in one TLS record and one
/// write (as nginx sends them) instead of two.
const SMALL_BODY: u64 = 16 * 1024;

/// The app's response, streamed to the client as it comes, less hop-by-hop
/// headers; every repeated header (each `Set-Cookie`) kept, in order.
async fn relay_response(
    req: &HttpRequest,
    upstream: &Upstream,
    mut response: awc::ClientResponse,
) -> HttpResponse {
    let status = response.status();
    let mut out = HttpResponse::build(status);
    let length = copy_response_headers(response.headers(), &mut out);
    let bodiless = req.method() == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if bodiless {
        // HEAD keeps the length the app announced (actix sends the head
        // alone); 204 and 304 carry no body and, over HTTP/2, no length.
        return match (req.method() == Method::HEAD, length) {
            (true, Some(len)) => out.body(SizedStream::new(len, response)),
            _ => out.body(actix_web::body::None::new()),
        };
    }
    match length {
        Some(len) if len <= SMALL_BODY => match response.body().limit(SMALL_BODY as usize).await {
            Ok(body) => out.body(body),
            Err(e) => bad_gateway(req, upstream, &Failure::BadAnswer(e.to_string())),
        },
        Some(len) => out.body(SizedStream::new(len, response)),
        None => out.streaming(response),
    }
}

/// Copies the app's response headers to `out`, less hop-by-hop ones, every
/// repeated one (each `Set-Cookie`) kept in order; returns the
/// `Content-Length` the app gave, which the body carries instead.
fn copy_response_headers(headers: &HeaderMap, out: &mut HttpResponseBuilder) -> Option<u64> {
    let dropped = connection_listed(headers);
    let mut length = None;
    for (name, value) in headers {
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
    length
}

/// Why the client gets a 502.
#[derive(Debug)]
enum Failure {
    /// No connection to the app: it is down or restarting.
    Down(String),
    /// Connected, but its answer could not be used.
    BadAnswer(String),
}

impl From<awc::error::SendRequestError> for Failure {
    fn from(e: awc::error::SendRequestError) -> Self {
        match e {
            awc::error::SendRequestError::Connect(c) => Failure::Down(c.to_string()),
            other => Failure::BadAnswer(other.to_string()),
        }
    }
}

/// A 502 that names the app and says what to do: start it when it is
/// down, look at it when its answer was unusable. HTML for browsers, text
/// for the rest.
fn bad_gateway(req: &HttpRequest, upstream: &Upstream, failure: &Failure) -> HttpResponse {
    let url = upstream.url();
    let (headline, why, advice) = match failure {
        Failure::Down(why) => (
            format!("the app at {url} did not answer"),
            why,
            "Start it (or wait for it to restart), then reload: the next request tries again.",
        ),
        Failure::BadAnswer(why) => (
            format!("the app at {url} answered in a way this proxy cannot pass on"),
            why,
            "Look at the app's log for this request.",
        ),
    };
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
        let title = match failure {
            Failure::Down(_) => format!("The app at {} is not answering", esc(&url)),
            Failure::BadAnswer(_) => esc(&headline),
        };
        response.content_type("text/html; charset=utf-8").body(format!(
            "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>502: {title}</title></head>\n\
             <body>\n<h1>{title}</h1>\n<p>{}</p>\n<p>{}</p>\n</body>\n</html>\n",
            esc(why),
            esc(advice)
        ))
    } else {
        response
            .content_type("text/plain; charset=utf-8")
            .body(format!("502 Bad Gateway: {headline} ({why}).\n{advice}\n"))
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
            pki::SubjectAltName::Uri(uri) => out.push_str(&format!(";URI={}", xfcc_value(&uri))),
            pki::SubjectAltName::Dns(dns) => {
                out.push_str(&format!(";DNS={}", xfcc_value(dns.as_str())));
            }
            _ => {}
        }
    }
    out
}

/// A value as Envoy writes it: quoted (with `"` and `\` escaped) when it
/// holds `,`, `;`, `=` or `"`, which would otherwise start another field or
/// element.
fn xfcc_value(value: &str) -> String {
    if value.contains([',', ';', '=', '"']) {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        value.to_owned()
    }
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
        let uri = u.uri_for(&Uri::from_static("/x?y=1")).unwrap();
        assert_eq!(uri.to_string(), "http://localhost:8000/api/x?y=1");
        let u = Upstream::parse("http://[::1]:3000").unwrap();
        let uri = u.uri_for(&Uri::from_static("/x?y=1")).unwrap();
        assert_eq!(uri.to_string(), "http://[::1]:3000/x?y=1");
        let u = Upstream::parse("http://[::1]:3000").unwrap();
        assert_eq!(u.url(), "http://[::1]:3000");
        assert_eq!(Upstream::parse("http://app.test").unwrap().port, 80);
        for (bad, says) in [
            ("127.0.0.1:5000", "not an http:// URL"),
            ("https://127.0.0.1:5000", "give the app's http:// address"),
            ("http://h:70000", "not a number"),
            ("http://:5000", "give the app's host"),
            ("http://h:1/a?b", "no query"),
            ("http://a b:80", "not a host name"),
            ("http://h:1/a b", "percent-encode them"),
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
