//! The listing of a directory without an index file: HTML for browsers,
//! JSON for clients that ask for it (`Accept: application/json`), hidden
//! entries left out and directories first.

use std::fs;
use std::io;
use std::time::UNIX_EPOCH;

use actix_files::Directory;
use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

/// One entry of a directory listing.
#[derive(Debug, Serialize)]
struct Entry {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    size: u64,
    /// Seconds since 1970.
    modified: u64,
}

/// The listing of `dir.path`: JSON for clients that ask for it, HTML for
/// the rest; hidden entries are left out, directories first.
pub(super) fn render_listing(dir: &Directory, req: &HttpRequest) -> io::Result<ServiceResponse> {
    let mut entries: Vec<Entry> = fs::read_dir(&dir.path)?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_owned();
            if name.starts_with('.') {
                return None;
            }
            // Follows symlinks, as serving them does.
            let meta = fs::metadata(entry.path()).ok()?;
            let kind = if meta.is_dir() {
                "directory"
            } else if meta.is_file() {
                "file"
            } else {
                return None;
            };
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            Some(Entry {
                name,
                kind,
                size: if meta.is_file() { meta.len() } else { 0 },
                modified,
            })
        })
        .collect();
    entries.sort_by(|a, b| (a.kind != "directory", &a.name).cmp(&(b.kind != "directory", &b.name)));
    let path = req.path();
    let response = if wants_json(req) {
        HttpResponse::Ok().json(serde_json::json!({ "path": path, "entries": entries }))
    } else {
        HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(listing_html(path, &entries))
    };
    Ok(ServiceResponse::new(
        req.clone(),
        response.map_into_boxed_body(),
    ))
}

/// Whether the client asks for JSON rather than HTML.
fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            let json = accept.find("application/json");
            let html = accept.find("text/html");
            match (json, html) {
                (Some(j), Some(h)) => j < h,
                (Some(_), None) => true,
                _ => false,
            }
        })
}

fn listing_html(path: &str, entries: &[Entry]) -> String {
    let title = escape(path);
    let mut rows = String::new();
    if path != "/" {
        rows.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for e in entries {
        let slash = if e.kind == "directory" { "/" } else { "" };
        rows.push_str(&format!(
            "<li><a href=\"{}{slash}\">{}{slash}</a>{}</li>\n",
            escape(&percent_encode(&e.name)),
            escape(&e.name),
            if e.kind == "file" {
                format!(
                    " <small>{} bytes, {}</small>",
                    e.size,
                    modified_text(e.modified)
                )
            } else {
                String::new()
            }
        ));
    }
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n\
         <body>\n<h1>Index of {title}</h1>\n<ul>\n{rows}</ul>\n</body>\n</html>\n"
    )
}

fn modified_text(secs: u64) -> String {
    pki::time::format_time(UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// A file name as one URL path segment: RFC 3986 unreserved characters
/// stay, every other byte is percent-encoded.
fn percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_one_segment_each() {
        assert_eq!(percent_encode("a b/c?.txt"), "a%20b%2Fc%3F.txt");
        assert_eq!(percent_encode("ü"), "%C3%BC");
    }

    #[test]
    fn json_is_chosen_only_when_preferred() {
        let req = |accept: &str| {
            actix_web::test::TestRequest::default()
                .insert_header((header::ACCEPT, accept))
                .to_http_request()
        };
        assert!(wants_json(&req("application/json")));
        assert!(!wants_json(&req("text/html,application/json")));
        assert!(!wants_json(&req("*/*")));
    }
}
