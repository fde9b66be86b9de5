//! Answers: the body and headers of a success, and what every answer
//! carries (a fresh `Replay-Nonce`, `Link: index`, `Cache-Control`), with
//! problems as `application/problem+json`; URLs as the client reached us.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value;

use super::Server;
use crate::problem::Problem;

/// A successful answer before the common headers go on.
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) body: Body,
    pub(super) location: Option<String>,
    pub(super) links: Vec<(String, &'static str)>,
    pub(super) retry_after: Option<u64>,
}

pub(super) enum Body {
    Json(Value),
    PemChain(String),
    Empty,
}

impl Reply {
    pub(super) fn json(status: StatusCode, value: Value) -> Self {
        Reply {
            status,
            body: Body::Json(value),
            location: None,
            links: Vec::new(),
            retry_after: None,
        }
    }

    pub(super) fn location(mut self, url: String) -> Self {
        self.location = Some(url);
        self
    }

    pub(super) fn link(mut self, url: String, rel: &'static str) -> Self {
        self.links.push((url, rel));
        self
    }

    pub(super) fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

/// URLs of this server, as the client reached it.
pub(super) struct Urls {
    pub(super) origin: String,
    pub(super) base: String,
}

impl Urls {
    pub(super) fn from_request(req: &HttpRequest, prefix: &str) -> Self {
        let scheme = if req.app_config().secure() {
            "https"
        } else {
            "http"
        };
        // The Host the client sent (or HTTP/2's :authority), never a
        // forwarding header: URLs in answers must be where this server is.
        let host = req
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .or_else(|| {
                req.headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "localhost".to_owned());
        let origin = format!("{scheme}://{host}");
        Urls {
            base: format!("{origin}{prefix}"),
            origin,
        }
    }

    pub(super) fn of(&self, kind: &str, id: &str) -> String {
        format!("{}/{kind}/{id}", self.base)
    }
}

impl Server {
    pub(super) fn finish(&self, req: &HttpRequest, result: Result<Reply, Problem>) -> HttpResponse {
        let urls = Urls::from_request(req, &self.prefix);
        let mut response = match result {
            Ok(reply) => {
                let mut builder = HttpResponse::build(reply.status);
                if let Some(location) = reply.location {
                    builder.insert_header((header::LOCATION, location));
                }
                for (url, rel) in reply.links {
                    builder.append_header((header::LINK, format!("<{url}>;rel=\"{rel}\"")));
                }
                if let Some(secs) = reply.retry_after {
                    builder.insert_header((header::RETRY_AFTER, secs.to_string()));
                }
                match reply.body {
                    Body::Json(value) => builder
                        .content_type("application/json")
                        .body(value.to_string()),
                    Body::PemChain(pem) => builder
                        .content_type("application/pem-certificate-chain")
                        .body(pem),
                    Body::Empty => builder.finish(),
                }
            }
            Err(problem) => {
                let mut builder = HttpResponse::build(problem.status);
                if let Some(location) = &problem.location {
                    builder.insert_header((header::LOCATION, location.as_str()));
                }
                builder
                    .content_type("application/problem+json")
                    .body(problem.to_json().to_string())
            }
        };
        let headers = response.headers_mut();
        if let Ok(nonce) = self.store.new_nonce()
            && let Ok(value) = header::HeaderValue::from_str(&nonce)
        {
            headers.insert(header::HeaderName::from_static("replay-nonce"), value);
        }
        if let Ok(value) =
            header::HeaderValue::from_str(&format!("<{}/directory>;rel=\"index\"", urls.base))
        {
            headers.append(header::LINK, value);
        }
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        response
    }
}
