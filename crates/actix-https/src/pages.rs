//! What the server serves: `/`, a page that shows the connection is HTTPS
//! and what TLS settled on; `/whoami`, the same as JSON for scripts; and
//! `/health`, a fixed `ok` for health checks and benchmarks.

use actix_web::{HttpResponse, route, web};

use crate::conn::TlsInfo;

/// Registers `/` and `/whoami` (`App::new().configure(actix_https::pages::routes)`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(index).service(whoami).service(health);
}

/// A fixed, tiny answer for health checks and benchmarks.
#[route("/health", method = "GET", method = "HEAD")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

#[route("/", method = "GET", method = "HEAD")]
async fn index(info: TlsInfo) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(render_index(&info))
}

#[route("/whoami", method = "GET", method = "HEAD")]
async fn whoami(info: TlsInfo) -> HttpResponse {
    HttpResponse::Ok().json(&info)
}

fn render_index(info: &TlsInfo) -> String {
    let mut rows = String::new();
    let mut row = |k: &str, v: &str| {
        rows.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>\n",
            escape(k),
            escape(v)
        ));
    };
    let headline = if info.is_tls() {
        row("TLS version", info.version.as_deref().unwrap_or("?"));
        row("cipher", info.cipher.as_deref().unwrap_or("?"));
        row("ALPN", info.alpn.as_deref().unwrap_or("none"));
        row("server name (SNI)", info.sni.as_deref().unwrap_or("none"));
        row("session resumed", if info.resumed { "yes" } else { "no" });
        match &info.client_certificate {
            Some(c) => {
                row("client", &c.subject);
                row("client names", &c.subject_alt_names.join(", "));
                row("client issuer", &c.issuer);
                row("client serial", &c.serial);
                row("client valid until", &c.not_after);
            }
            None => row("client", "no verified client certificate"),
        }
        "This page is served over HTTPS."
    } else {
        "This page is served over plain HTTP (no TLS)."
    };
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>actix-https</title></head>\n\
         <body>\n<h1>{headline}</h1>\n<table>\n{rows}</table>\n\
         <p><a href=\"whoami\">whoami</a> has the same as JSON.</p>\n</body>\n</html>\n"
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
