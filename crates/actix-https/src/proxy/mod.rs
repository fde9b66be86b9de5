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
//! The connections to the app are the `upstream` module's, WebSockets are
//! `tunnel`'s, and the certificate's header is `client_cert`'s.

mod client_cert;
mod tunnel;
mod upstream;

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::SizedStream;
use actix_web::dev::{Payload, RequestHead, ResponseHead};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, Version};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use futures_core::Stream;

pub use self::client_cert::forwarded_client_cert;
use self::upstream::{AppBody, Failure, Pool, RequestBody, has_no_body};
pub use self::upstream::{CONNECT_TIMEOUT, Upstream};
use crate::conn::TlsInfo;

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

/// The service for `prefix`: every request under it goes to `upstream`
/// (its full path, after the upstream's base path). Mount it on any
/// actix-web `App` with `.service(...)`.
pub fn reverse_proxy(prefix: &str, upstream: Upstream) -> actix_web::Scope {
    let scope = if prefix == "/" { "" } else { prefix };
    web::scope(scope)
        .app_data(web::Data::new(Pool::new(upstream)))
        .default_service(web::to(forward))
}

async fn forward(req: HttpRequest, payload: web::Payload, pool: web::Data<Pool>) -> HttpResponse {
    let upstream = pool.upstream();
    let path = match upstream.path_for(req.uri()) {
        Ok(path) => path,
        Err(why) => {
            return HttpResponse::BadRequest()
                .body(format!("this request's path cannot go to the app: {why}\n"));
        }
    };
    if tunnel::is_websocket_upgrade(&req) {
        return tunnel::tunnel(&req, &path, payload, upstream)
            .await
            .unwrap_or_else(|failure| bad_gateway(&req, upstream, &failure));
    }
    // HTTP/1.1 to the app whatever the client spoke: what dev servers speak.
    let mut head = RequestHead::default();
    head.method = req.method().clone();
    head.uri = path.into();
    head.version = Version::HTTP_11;
    // Into the head's own map (made with room for 16): no second one.
    request_headers(&req, &mut head.headers);
    let body = request_body(&req, payload).await;
    match pool.send(head, body).await {
        Ok((response, body)) => relay_response(&req, upstream, response, body).await,
        Err(failure) => bad_gateway(&req, upstream, &failure),
    }
}

/// How the client framed its body: by `Content-Length`, by chunks, or, over
/// HTTP/2, by the END_STREAM flag, which may come on the headers (no body,
/// whatever the method) or after DATA frames. One already ended goes as
/// none: sent as an empty stream, it would be chunked with no chunks.
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
/// header, `Host` kept, and the forwarding headers added; into `out`.
fn request_headers(req: &HttpRequest, out: &mut HeaderMap) {
    let headers = req.headers();
    let dropped = connection_listed(headers);
    let mut cookies: Vec<&[u8]> = Vec::new();
    for (name, value) in headers {
        let n = name.as_str();
        // `X_Forwarded_For` is `X-Forwarded-For` to a CGI/WSGI server that
        // maps both to HTTP_X_FORWARDED_FOR: no underscores (nginx's rule).
        // `Expect: 100-continue` was answered to the client already (actix
        // sends the 100 before the body is read): the app's own 100 would
        // be a second one.
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
        out.append(name.clone(), value.clone());
    }
    let joined = HeaderValue::from_bytes(&cookies.join(&b"; "[..]));
    if let (false, Ok(joined)) = (cookies.is_empty(), joined) {
        out.append(header::COOKIE, joined);
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
        out.append(header::HOST, host.clone());
        out.append(HeaderName::from_static("x-forwarded-host"), host);
    }
    if let Some(ip) = client_ip {
        out.append(HeaderName::from_static("x-forwarded-for"), ip);
    }
    out.append(HeaderName::from_static("x-forwarded-proto"), proto);
    out.append(HeaderName::from_static("x-forwarded-port"), port);
    let xfcc = tls
        .and_then(|t| t.client_certificate.as_ref())
        .and_then(|cert| HeaderValue::from_str(&forwarded_client_cert(&cert.certificate)).ok());
    if let Some(xfcc) = xfcc {
        out.append(HeaderName::from_static("x-forwarded-client-cert"), xfcc);
    }
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
    response: ResponseHead,
    body: AppBody,
) -> HttpResponse {
    let status = response.status;
    let mut out = HttpResponse::build(status);
    let length = copy_response_headers(&response.headers, &mut out);
    if has_no_body(req.method() == Method::HEAD, status) {
        // HEAD keeps the length the app announced (actix sends the head
        // alone); 204 and 304 carry no body and, over HTTP/2, no length.
        return match (req.method() == Method::HEAD, length) {
            (true, Some(len)) => out.body(SizedStream::new(len, body)),
            _ => out.body(actix_web::body::None::new()),
        };
    }
    match length {
        Some(len) if len <= SMALL_BODY => match body.read_whole(SMALL_BODY as usize).await {
            Ok(whole) => out.body(whole),
            Err(e) => bad_gateway(
                req,
                upstream,
                &Failure::BadAnswer(format!("reading its body failed: {e}")),
            ),
        },
        Some(len) => out.body(SizedStream::new(len, body)),
        None => out.streaming(body),
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
    // With chunks, a `Content-Length` beside them means nothing (RFC 9112 §6.3).
    length.filter(|_| !headers.contains_key(header::TRANSFER_ENCODING))
}

/// A 502 that names the app and says what to do: start it when it is
/// down, look at it when its answer was unusable. HTML for browsers, text
/// for the rest. (A client that broke off its own body gets a 400.)
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
        Failure::NoAnswer(why) => (
            format!("the app at {url} gave no answer"),
            why,
            "Look at the app's log for this request: it may have crashed, or closed the \
             connection early.",
        ),
        Failure::ClientBody(why) => {
            // The client broke off its own body: not the app's doing.
            return HttpResponse::BadRequest().body(format!(
                "the request's body could not be read to the end: {why}\n"
            ));
        }
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
            _ => esc(&headline),
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
