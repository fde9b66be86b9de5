//! Static files, as `--static [PATH=]DIR` serves them and any actix-web app
//! can mount them: `actix-files` does the serving (MIME types, `ETag` and
//! `Last-Modified` with 304s, single `Range` requests with 206 and 416,
//! precompressed `.br`/`.gz`/`.zst` siblings, `..` kept inside the
//! directory, `%2F` refused); this module chooses its settings and adds
//! what it lacks: hidden files refused with 404 (except `/.well-known/`,
//! RFC 8615), and a directory listing that is HTML for browsers and JSON
//! when asked (`Accept: application/json`).

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use actix_files::{Directory, Files};
use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

/// Files up to this size are read on the worker thread, without a hop to
/// the blocking pool per 64 KiB chunk: from the page cache that is faster
/// than the hop, and a development server's files are almost all there.
pub const SYNC_READ_LIMIT: u64 = 4 * 1024 * 1024;

/// The directory that may be served although its name starts with a dot.
const WELL_KNOWN: &str = ".well-known";

/// A static-files service for `dir` at `mount` (`"/"`, `"/docs"`): index
/// files (`index.html`), a listing for directories without one, directories
/// redirected to their slash form, precompressed siblings, and hidden files
/// refused.
///
/// ```no_run
/// use actix_web::{App, HttpServer};
///
/// # async fn run() -> std::io::Result<()> {
/// HttpServer::new(|| App::new().service(actix_https::files::static_files("/", "./site")))
///     .bind("127.0.0.1:8080")?
///     .run()
///     .await
/// # }
/// ```
pub fn static_files(mount: &str, dir: impl Into<PathBuf>) -> Files {
    Files::new(mount, dir.into())
        .index_file("index.html")
        .show_files_listing()
        .files_listing_renderer(render_listing)
        .redirect_to_slash_directory()
        .try_compressed()
        .read_mode_threshold(SYNC_READ_LIMIT)
        // No `Content-Disposition: inline; filename=…` on every file, as
        // nginx and Caddy send none: inline is what browsers do anyway.
        .disable_content_disposition()
        // Dots are judged by `visible` below, which lets `.well-known` through.
        .use_hidden_files()
        .path_filter(|path, _| visible(path))
}

/// Whether no part of `path` is hidden (starts with a dot), `.well-known`
/// apart. `..` never reaches here: actix-files resolves it first, inside
/// the served directory.
fn visible(path: &Path) -> bool {
    path.components().all(|c| match c {
        Component::Normal(name) => {
            let name = name.to_string_lossy();
            !name.starts_with('.') || name == WELL_KNOWN
        }
        _ => true,
    })
}

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
fn render_listing(dir: &Directory, req: &HttpRequest) -> io::Result<ServiceResponse> {
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

/// Why `dir` cannot be served, if it cannot: checked at start, so a typo
/// stops the server with the path named instead of answering 404s.
pub fn check_dir(dir: &Path) -> Result<(), String> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => fs::read_dir(dir)
            .map(|_| ())
            .map_err(|e| format!("{} cannot be listed: {e}", dir.display())),
        Ok(_) => Err(format!("{} is not a directory", dir.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(format!("{} does not exist", dir.display()))
        }
        Err(e) => Err(format!("{} cannot be read: {e}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_parts_are_refused_but_well_known_is_not() {
        assert!(visible(Path::new("a/b.txt")));
        assert!(visible(Path::new(".well-known/security.txt")));
        assert!(!visible(Path::new(".env")));
        assert!(!visible(Path::new("a/.git/config")));
        assert!(!visible(Path::new(".well-known/.secret")));
    }

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
