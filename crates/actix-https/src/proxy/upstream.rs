//! The app's side of the proxy: its address ([`Upstream`]), and the
//! connections to it, kept open between requests and reused (one
//! [`Pool`] per worker thread).
//!
//! Requests and responses are framed by actix-http's own HTTP/1.1 client
//! codec, the one awc uses. The pool is ours rather than awc's because awc
//! builds a new codec configuration for every request, and with it a task
//! that keeps the `Date` header fresh, spawned and cancelled each time:
//! here all of a worker's connections share one. What awc's builder had
//! to have switched off is simply not here: nothing follows redirects,
//! decompresses, times a response out or adds headers (but actix-http's
//! `Date`).
//!
//! What the pool adds to a plain connection: a connection idle for
//! [`IDLE_FOR`] or closed by the app is not reused but closed (by a task
//! that looks every [`IDLE_FOR`] while there are idle ones), nor is one an
//! HTTP/1.0 app did not offer to keep; and a request without a body whose reused
//! connection turns out to be closed (the app's keep-alive timeout met our
//! write) is sent again on a new one, when its method is idempotent. A
//! response without `Content-Length` or chunked framing is read until the
//! app closes (RFC 9112 §6.3), where actix-http alone would drop its body
//! (HTTP/1.1) or call an empty one cut short (HTTP/1.0).

use std::cell::{OnceCell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use actix_codec::Framed;
use actix_http::ServiceConfig;
use actix_http::body::BodySize;
use actix_http::h1::{ClientCodec, ClientPayloadCodec, Message, MessageType};
use actix_http::{RequestHead, RequestHeadType, ResponseHead};
use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::http::uri::{Authority, PathAndQuery};
use actix_web::http::{Method, StatusCode, Uri, Version};
use actix_web::web::{Bytes, BytesMut};
use futures_core::Stream;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;

/// How long connecting to the app may take before the client gets a 502.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a connection may sit idle and still be reused: under the
/// keep-alive timeouts of the usual app servers (Gunicorn's 2 s, Node's and
/// uvicorn's 5 s), so the app has not yet closed its end as we write. (A
/// close that has already arrived is seen before reuse, whatever the time.)
const IDLE_FOR: Duration = Duration::from_millis(1500);

/// Idle connections kept per app and worker thread (awc kept 100 in all).
const MAX_IDLE: usize = 64;

/// Where requests go: `http://127.0.0.1:5000`, with an optional base path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    host: String,
    port: u16,
    /// Prepended to every request path (`""` when the URL has none).
    base: String,
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
        Authority::try_from(authority.as_str())
            .map_err(|_| format!("{url:?}: {host:?} is not a host name or address"))?;
        Ok(Upstream {
            host,
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
        format!("http://{host}:{}{}", self.port, self.base)
    }

    /// The app's path and query for a request's: the request's own (no
    /// copy) when there is no base path.
    pub(super) fn path_for(&self, request: &Uri) -> Result<PathAndQuery, String> {
        match (self.base.as_str(), request.path_and_query()) {
            ("", Some(path)) => Ok(path.clone()),
            (base, path) => {
                let path = path.map_or("/", PathAndQuery::as_str);
                PathAndQuery::try_from(format!("{base}{path}")).map_err(|e| e.to_string())
            }
        }
    }
}

/// A TCP connection to the app, each of its addresses in turn (for
/// `localhost`, 127.0.0.1 then ::1, so an app listening on only one of
/// them is found either way), within [`CONNECT_TIMEOUT`].
pub(super) async fn connect(upstream: &Upstream) -> Result<TcpStream, String> {
    let mut last = String::from("no address");
    for addr in addresses(&upstream.host, upstream.port).await? {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                // Heads and small bodies go in one write; a streamed
                // body's pieces must not wait for the app's ACKs.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: no answer within {CONNECT_TIMEOUT:?}"),
        }
    }
    Err(format!("connecting failed ({last})"))
}

/// `localhost` as 127.0.0.1 and then ::1; every other name as the system
/// resolves it (off the worker thread: resolving may block).
async fn addresses(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
        ]);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = host.to_owned();
    actix_web::rt::task::spawn_blocking(move || {
        (name.as_str(), port)
            .to_socket_addrs()
            .map(Iterator::collect::<Vec<_>>)
    })
    .await
    .map_err(|e| format!("cannot resolve {host}: {e}"))?
    .map_err(|e| format!("cannot resolve {host}: {e}"))
}

/// The client's body as it goes to the app.
pub(super) enum RequestBody {
    /// None at all: no length header and no chunks upstream.
    None,
    /// Of a known length (`Content-Length`).
    Sized(u64, Payload),
    /// Of unknown length: chunked upstream.
    Stream(Payload),
}

/// Why a request did not get the app's answer.
#[derive(Debug)]
pub(super) enum Failure {
    /// No connection to the app: it is down or restarting.
    Down(String),
    /// Connected, but its answer could not be used.
    BadAnswer(String),
    /// Connected, but it closed the connection without answering (and the
    /// request was not one to send twice).
    NoAnswer(String),
    /// The client's body broke off before it was all sent on.
    ClientBody(String),
}

/// Connections to one app from one worker thread.
pub(super) struct Pool {
    upstream: Upstream,
    idle: Idle,
    /// The codec settings every connection shares (made on first use,
    /// on the worker's runtime: it starts the `Date` updating task).
    codec: OnceCell<ServiceConfig>,
}

/// Idle connections, the most recently used last.
#[derive(Clone, Default)]
struct Idle(Rc<RefCell<IdleConnections>>);

#[derive(Default)]
struct IdleConnections {
    connections: VecDeque<(TcpStream, Instant)>,
    /// Whether a task is closing the expired ones, and those the app
    /// closed (left alone, they would sit in `CLOSE_WAIT`, holding a
    /// descriptor each, until the next request).
    swept: bool,
}

impl Idle {
    /// The most recently used connection that is still open, if any.
    fn take(&self) -> Option<TcpStream> {
        let idle = &mut self.0.borrow_mut().connections;
        while let Some((stream, since)) = idle.pop_back() {
            if since.elapsed() >= IDLE_FOR {
                // The rest are older still.
                idle.clear();
                return None;
            }
            if is_open(&stream) {
                return Some(stream);
            }
        }
        None
    }

    /// Keeps `stream` for the next request.
    fn put(&self, stream: TcpStream) {
        let mut idle = self.0.borrow_mut();
        if idle.connections.len() >= MAX_IDLE {
            idle.connections.pop_front();
        }
        idle.connections.push_back((stream, Instant::now()));
        if !idle.swept {
            idle.swept = true;
            actix_web::rt::spawn(self.clone().sweep());
        }
    }

    /// Every [`IDLE_FOR`], closes the connections idle that long and
    /// those the app closed, until none is left.
    async fn sweep(self) {
        loop {
            actix_web::rt::time::sleep(IDLE_FOR).await;
            let mut idle = self.0.borrow_mut();
            idle.connections
                .retain(|(stream, since)| since.elapsed() < IDLE_FOR && is_open(stream));
            if idle.connections.is_empty() {
                idle.swept = false;
                return;
            }
        }
    }
}

/// Whether an idle connection is still open: nothing to read yet. An app
/// that closed it has sent EOF; one that sent bytes unasked broke the
/// protocol. (No system call unless the socket was signalled readable.)
fn is_open(stream: &TcpStream) -> bool {
    matches!(stream.try_read(&mut [0; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// How one exchange on one connection failed.
enum Broken {
    /// Before any byte of an answer: on a reused connection, the app had
    /// closed it, and an idempotent request without a body may go again.
    BeforeAnswer(String),
    /// Otherwise.
    Failure(Failure),
}

impl Pool {
    pub(super) fn new(upstream: Upstream) -> Self {
        Pool {
            upstream,
            idle: Idle::default(),
            codec: OnceCell::new(),
        }
    }

    pub(super) fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// Sends `head` (its path already the app's) and `body` to the app; its
    /// final response head (interim 1xx ones skipped) and body.
    pub(super) async fn send(
        &self,
        head: RequestHead,
        body: RequestBody,
    ) -> Result<(ResponseHead, AppBody), Failure> {
        // Without a body (or with an empty one), nothing is lost by sending
        // it again: the same request goes, framed the same way.
        let again = match &body {
            RequestBody::None => Some(RequestBody::None),
            RequestBody::Sized(0, _) => Some(RequestBody::Sized(0, Payload::None)),
            _ => None,
        }
        .filter(|_| is_idempotent(&head.method));
        let head = Rc::new(head);
        if let Some(stream) = self.idle.take() {
            match (self.exchange(stream, Rc::clone(&head), body).await, again) {
                (Err(Broken::BeforeAnswer(_)), Some(again)) => {
                    let stream = connect(&self.upstream).await.map_err(Failure::Down)?;
                    return self
                        .exchange(stream, head, again)
                        .await
                        .map_err(Broken::into_failure);
                }
                (Err(broken), _) => return Err(broken.into_failure()),
                (Ok(answer), _) => return Ok(answer),
            }
        }
        let stream = connect(&self.upstream).await.map_err(Failure::Down)?;
        self.exchange(stream, head, body)
            .await
            .map_err(Broken::into_failure)
    }

    /// One request and its response head on `stream`.
    async fn exchange(
        &self,
        stream: TcpStream,
        head: Rc<RequestHead>,
        body: RequestBody,
    ) -> Result<(ResponseHead, AppBody), Broken> {
        let config = self.codec.get_or_init(ServiceConfig::default).clone();
        let mut framed = Framed::new(stream, ClientCodec::new(config));
        let is_head = head.method == Method::HEAD;
        let (size, payload) = match body {
            RequestBody::None => (BodySize::None, None),
            RequestBody::Sized(len, payload) => (BodySize::Sized(len), Some(payload)),
            RequestBody::Stream(payload) => (BodySize::Stream, Some(payload)),
        };
        let sending =
            |e: io::Error| Broken::BeforeAnswer(format!("sending the request failed: {e}"));
        Pin::new(&mut framed)
            .write(Message::Item((RequestHeadType::Rc(head, None), size)))
            .map_err(sending)?;
        let mut early = None;
        if let Some(payload) = payload.filter(|_| size != BodySize::Sized(0)) {
            early = send_body(&mut framed, payload).await?;
        }
        let body_all_sent = early.as_ref().is_none_or(|early| early.body_all_sent);
        let response = match early {
            Some(early) => early.response,
            None => {
                poll_fn(|cx| Pin::new(&mut framed).flush::<Outgoing>(cx))
                    .await
                    .map_err(sending)?;
                poll_fn(|cx| poll_answer(&mut framed, cx)).await?
            }
        };
        if response.version == Version::HTTP_10
            && response.headers.contains_key(header::TRANSFER_ENCODING)
        {
            // RFC 9112 §6.1: faulty framing (nginx answers 502 too).
            return Err(Broken::Failure(Failure::BadAnswer(
                "its HTTP/1.0 answer has Transfer-Encoding, which HTTP/1.0 does not have"
                    .to_owned(),
            )));
        }
        let bodiless = has_no_body(is_head, response.status);
        let headers = &response.headers;
        let chunked = headers.contains_key(header::TRANSFER_ENCODING);
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|_| !chunked);
        let reusable = body_all_sent && keeps_connection(&framed, &response);
        // The codec's own reading of the framing, where it agrees with the
        // headers; otherwise (HTTP/1.0 read to its close, `Upgrade` beside a
        // length) the bytes as they come, and the connection is not kept.
        let decoded = framed.codec_ref().message_type() == MessageType::Payload;
        let source = if bodiless || (length == Some(0) && !chunked) {
            if reusable {
                self.release(framed);
            }
            Source::Empty
        } else if decoded && (chunked || length.is_some()) {
            Source::Framed {
                framed: framed.into_map_codec(ClientCodec::into_payload_codec),
                idle: reusable.then(|| self.idle.clone()),
            }
        } else {
            let parts = framed.into_parts();
            Source::UntilClose(FromApp {
                leftover: Some(parts.read_buf.freeze()),
                read: parts.io,
                remaining: length,
            })
        };
        Ok((response, AppBody(source)))
    }

    /// Keeps a connection whose exchange is over for the next request,
    /// unless the app sent more than its answer.
    fn release(&self, framed: Framed<TcpStream, ClientCodec>) {
        if framed.is_read_buf_empty() {
            self.idle.put(framed.into_parts().io);
        }
    }
}

/// The encoder's item: what `Framed::flush` is asked to flush for.
type Outgoing = Message<(RequestHeadType, BodySize)>;

impl Broken {
    fn into_failure(self) -> Failure {
        match self {
            Broken::BeforeAnswer(why) => Failure::NoAnswer(why),
            Broken::Failure(failure) => failure,
        }
    }
}

/// RFC 9112 §6.3: an answer to HEAD, a 1xx, a 204 or a 304 has no body,
/// whatever its headers say.
pub(super) fn has_no_body(to_head: bool, status: StatusCode) -> bool {
    to_head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// RFC 9110 §9.2.2: a request the app may get twice to the same effect.
fn is_idempotent(method: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
}

/// Whether the app keeps the connection after `response`: HTTP/1.1 unless
/// it says `close`; HTTP/1.0 only when it says `keep-alive`.
fn keeps_connection(framed: &Framed<TcpStream, ClientCodec>, response: &ResponseHead) -> bool {
    framed.codec_ref().keep_alive()
        && (response.version == Version::HTTP_11
            || response
                .headers
                .get(header::CONNECTION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")))
}

/// The app's final answer, read while the request's body was still going.
struct Early {
    response: ResponseHead,
    /// Whether the rest of the body went all the same: it does when the
    /// app keeps the connection; when it closes it, the rest is not wanted
    /// and not sent (RFC 9112 §9.6: a Go app's 413 from `MaxBytesReader`).
    body_all_sent: bool,
}

/// The app's final answer head on `framed`, interim ones (100, 103 Early
/// Hints: between the app and no one here) skipped.
fn poll_answer(
    framed: &mut Framed<TcpStream, ClientCodec>,
    cx: &mut Context<'_>,
) -> Poll<Result<ResponseHead, Broken>> {
    loop {
        match ready!(Pin::new(&mut *framed).next_item(cx)) {
            // One that claims a body is no interim answer.
            Some(Ok(response))
                if response.status.is_informational()
                    && response.status != StatusCode::SWITCHING_PROTOCOLS =>
            {
                if framed.codec_ref().message_type() != MessageType::None {
                    return Poll::Ready(Err(Broken::Failure(Failure::BadAnswer(format!(
                        "its interim answer {} has a body",
                        response.status
                    )))));
                }
            }
            Some(Ok(response)) => return Poll::Ready(Ok(response)),
            Some(Err(actix_http::error::ParseError::Io(e))) => {
                return Poll::Ready(Err(Broken::BeforeAnswer(format!(
                    "reading the app's answer failed: {e}"
                ))));
            }
            Some(Err(e)) => {
                return Poll::Ready(Err(Broken::Failure(Failure::BadAnswer(format!(
                    "its response head is not HTTP/1.1: {e}"
                )))));
            }
            None => {
                return Poll::Ready(Err(Broken::BeforeAnswer(
                    "the app closed the connection without answering".to_owned(),
                )));
            }
        }
    }
}

/// Streams the client's body to the app as it comes: written out whenever
/// the client has no more for now, or when 8 KiB wait. The app's answer is
/// watched for meanwhile: one that closes the connection ends the sending
/// (RFC 9112 §9.6), and after a failed write the answer the app may have
/// sent before its close is still waited for (the close makes that short),
/// so the client hears the app's 413 rather than a 502.
async fn send_body(
    framed: &mut Framed<TcpStream, ClientCodec>,
    mut payload: Payload,
) -> Result<Option<Early>, Broken> {
    // A final answer that keeps the connection, held until all is sent.
    let mut kept = None;
    // The body's end is written (it may still wait to be flushed).
    let mut ended = false;
    // A write failed: nothing more is sent, and the answer is waited for.
    let mut write_failed = None;
    let sent = poll_fn(|cx| {
        loop {
            if kept.is_none() {
                match poll_answer(framed, cx) {
                    Poll::Ready(Ok(response))
                        if write_failed.is_some() || !keeps_connection(framed, &response) =>
                    {
                        return Poll::Ready(Ok(Some(Early {
                            response,
                            body_all_sent: false,
                        })));
                    }
                    Poll::Ready(Ok(response)) => kept = Some(response),
                    Poll::Ready(Err(broken)) => {
                        return Poll::Ready(Err(match write_failed.take() {
                            Some(e) => sending_failed(e),
                            None => broken,
                        }));
                    }
                    Poll::Pending if write_failed.is_some() => return Poll::Pending,
                    Poll::Pending => {}
                }
            }
            let written = if ended || framed.is_write_buf_full() {
                match Pin::new(&mut *framed).flush::<Outgoing>(cx) {
                    Poll::Ready(Err(e)) => Err(e),
                    Poll::Ready(Ok(())) if ended => {
                        return Poll::Ready(Ok(kept.take().map(|response| Early {
                            response,
                            body_all_sent: true,
                        })));
                    }
                    Poll::Ready(Ok(())) => Ok(()),
                    Poll::Pending => return Poll::Pending,
                }
            } else {
                match Pin::new(&mut payload).poll_next(cx) {
                    // An empty chunk would end a chunked body (HTTP/2 clients
                    // may send empty DATA frames).
                    Poll::Ready(Some(Ok(chunk))) if chunk.is_empty() => Ok(()),
                    Poll::Ready(Some(Ok(chunk))) => {
                        Pin::new(&mut *framed).write(Message::Chunk(Some(chunk)))
                    }
                    Poll::Ready(Some(Err(e))) => {
                        return Poll::Ready(Err(Broken::Failure(Failure::ClientBody(
                            e.to_string(),
                        ))));
                    }
                    Poll::Ready(None) => {
                        // Chunked: the last chunk. Sized: checks all came.
                        if Pin::new(&mut *framed).write(Message::Chunk(None)).is_err() {
                            return Poll::Ready(Err(Broken::Failure(Failure::ClientBody(
                                "the client's body was shorter than its Content-Length".to_owned(),
                            ))));
                        }
                        ended = true;
                        Ok(())
                    }
                    Poll::Pending if framed.is_write_buf_empty() => return Poll::Pending,
                    Poll::Pending => match Pin::new(&mut *framed).flush::<Outgoing>(cx) {
                        Poll::Ready(Ok(())) | Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => Err(e),
                    },
                }
            };
            if let Err(e) = written {
                if let Some(response) = kept.take() {
                    return Poll::Ready(Ok(Some(Early {
                        response,
                        body_all_sent: false,
                    })));
                }
                write_failed = Some(e);
            }
        }
    })
    .await;
    // Over HTTP/1 actix closes the client's connection after an answer that
    // left its body unread; any other body (HTTP/2's, or one peeked at and
    // put back) is a stream, reset if dropped unread.
    if let Ok(Some(Early {
        body_all_sent: false,
        ..
    })) = sent
        && !matches!(payload, Payload::H1 { .. })
    {
        actix_web::rt::spawn(drain(payload));
    }
    sent
}

fn sending_failed(e: io::Error) -> Broken {
    Broken::Failure(Failure::BadAnswer(format!(
        "sending the request's body failed: {e}"
    )))
}

/// How long an HTTP/2 client's unwanted body is read and dropped.
const DRAIN_FOR: Duration = Duration::from_secs(10);

/// Reads and drops the rest of an HTTP/2 client's body that the app did not
/// want, for up to [`DRAIN_FOR`]. Dropped at once, the stream is reset
/// (`NO_ERROR`, RFC 9113 §8.1), which curl 7.88 (Debian 12's) reports as a
/// failure, the app's answer unseen; nginx reads it too.
async fn drain(mut payload: Payload) {
    let all = async {
        while let Some(Ok(_)) = poll_fn(|cx| Pin::new(&mut payload).poll_next(cx)).await {}
    };
    let _ = actix_web::rt::time::timeout(DRAIN_FOR, all).await;
}

/// The app's response body, as it comes. Once all of it has been read,
/// its connection goes back to the pool.
pub(super) struct AppBody(Source);

enum Source {
    /// None follows the head.
    Empty,
    /// Framed by `Content-Length` or chunks, as the codec reads them; the
    /// connection goes back to `idle`, if it may be kept.
    Framed {
        framed: Framed<TcpStream, ClientPayloadCodec>,
        idle: Option<Idle>,
    },
    /// Bytes as they come, up to the close or the length given; the
    /// connection is not kept.
    UntilClose(FromApp<TcpStream>),
}

impl AppBody {
    /// The whole body, of at most `limit` bytes (read before the response
    /// head goes out, so both leave in one write).
    pub(super) async fn read_whole(mut self, limit: usize) -> Result<Bytes, PayloadError> {
        let mut first: Option<Bytes> = None;
        let mut more = BytesMut::new();
        while let Some(chunk) = poll_fn(|cx| Pin::new(&mut self).poll_next(cx)).await {
            let chunk = chunk?;
            let had = first.as_ref().map_or(0, Bytes::len) + more.len();
            if had + chunk.len() > limit {
                return Err(PayloadError::Overflow);
            }
            match &first {
                None => first = Some(chunk),
                Some(head) => {
                    if more.is_empty() {
                        more.extend_from_slice(head);
                    }
                    more.extend_from_slice(&chunk);
                }
            }
        }
        Ok(if more.is_empty() {
            first.unwrap_or_default()
        } else {
            more.freeze()
        })
    }
}

impl Stream for AppBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = match &mut self.0 {
            Source::Empty => return Poll::Ready(None),
            Source::UntilClose(from_app) => {
                return Pin::new(from_app)
                    .poll_next(cx)
                    .map(|item| item.map(|r| r.map_err(PayloadError::Io)));
            }
            Source::Framed { framed, .. } => ready!(Pin::new(framed).next_item(cx)),
        };
        match next {
            Some(Ok(Some(chunk))) => Poll::Ready(Some(Ok(chunk))),
            Some(Ok(None)) => {
                if let Source::Framed {
                    framed,
                    idle: Some(idle),
                } = std::mem::replace(&mut self.0, Source::Empty)
                    && framed.is_read_buf_empty()
                {
                    idle.put(framed.into_parts().io);
                }
                Poll::Ready(None)
            }
            Some(Err(e)) => {
                self.0 = Source::Empty;
                Poll::Ready(Some(Err(e)))
            }
            // The app closed the connection before the body's end.
            None => {
                self.0 = Source::Empty;
                Poll::Ready(Some(Err(PayloadError::Incomplete(None))))
            }
        }
    }
}

/// Bytes from the app as they come: what was read with its head, then
/// each read; ends at EOF, or after `remaining` bytes when it gave a length
/// (an EOF before those is an error, so a cut answer is not passed on as
/// whole).
pub(super) struct FromApp<R> {
    pub(super) leftover: Option<Bytes>,
    pub(super) read: R,
    pub(super) remaining: Option<u64>,
}

impl<R: AsyncRead + Unpin> Stream for FromApp<R> {
    type Item = Result<Bytes, io::Error>;

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
                Poll::Ready(Ok(())) if filled.filled().is_empty() => {
                    return Poll::Ready(self.remaining.map(|left| {
                        Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!(
                                "the app closed the connection {left} bytes short of its Content-Length"
                            ),
                        ))
                    }));
                }
                Poll::Ready(Ok(())) => Bytes::copy_from_slice(filled.filled()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_parse_and_say_what_is_wrong() {
        let u = Upstream::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!(u.url(), "http://127.0.0.1:5000");
        let u = Upstream::parse("http://localhost:8000/api/").unwrap();
        assert_eq!(u.url(), "http://localhost:8000/api");
        let path = u.path_for(&"/x?y=1".parse().unwrap()).unwrap();
        assert_eq!(path.as_str(), "/api/x?y=1");
        let u = Upstream::parse("http://[::1]:3000").unwrap();
        assert_eq!(u.url(), "http://[::1]:3000");
        let path = u.path_for(&"/x?y=1".parse().unwrap()).unwrap();
        assert_eq!(path.as_str(), "/x?y=1");
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
}
