//! WebSockets through the proxy: the HTTP/1.1 handshake goes to the app on
//! a connection of its own (never a pooled one: after a 101 it belongs to
//! the WebSocket), and from the app's 101 on, bytes flow both ways
//! untouched (frames, pings, the close handshake) until either side closes.

use std::pin::Pin;

use actix_web::body::SizedStream;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::uri::PathAndQuery;
use actix_web::http::{Method, StatusCode, Version};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_core::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;

use super::upstream::{Failure, FromApp, Upstream, connect, has_no_body};
use super::{copy_response_headers, request_headers};

/// Whether this is an HTTP/1.1 WebSocket handshake (`Connection: upgrade`,
/// `Upgrade: websocket`): the one upgrade whose later bytes actix-web hands
/// to the handler as they come.
pub(super) fn is_websocket_upgrade(req: &HttpRequest) -> bool {
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

/// A WebSocket handshake for `path`, passed to the app over its own TCP
/// connection; on `101 Switching Protocols` the bytes then flow both ways.
pub(super) async fn tunnel(
    req: &HttpRequest,
    path: &PathAndQuery,
    payload: web::Payload,
    upstream: &Upstream,
) -> Result<HttpResponse, Failure> {
    let stream = connect(upstream).await.map_err(Failure::Down)?;
    let (mut read, mut write) = stream.into_split();
    let mut head = format!("{} {path} HTTP/1.1\r\n", req.method()).into_bytes();
    let mut headers = HeaderMap::new();
    request_headers(req, &mut headers);
    // Values as their bytes: a cookie of `José` goes as it came (all the
    // cookies are one value by now), as on the proxy's other road.
    for (name, value) in &headers {
        for part in [name.as_str().as_bytes(), b": ", value.as_bytes(), b"\r\n"] {
            head.extend_from_slice(part);
        }
    }
    head.extend_from_slice(b"connection: upgrade\r\nupgrade: websocket\r\n\r\n");
    write
        .write_all(&head)
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
        if has_no_body(req.method() == Method::HEAD, status) {
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
