//! The short road for a GET or HEAD of a file, a directory's index file, or
//! a precompressed sibling of either: one `open` and one `fstat` per
//! candidate, where `Files` also stats the path twice and resolves it with
//! `realpath` (a `readlink` per path component) only to throw the result
//! away; on a 1 KiB file those calls were a sixth of the server's CPU time.
//! actix-files' `NamedFile` still makes the answer (`ETag`, 304, `Range`,
//! MIME type, the body read on the worker thread up to
//! [`SYNC_READ_LIMIT`]), with the headers `Files` adds to a precompressed
//! one, so it is the answer `Files` would give.
//!
//! Every candidate is opened non-blocking and checked to be a regular file
//! before anything reads it: `Files` opens with a blocking `open`, which on a
//! FIFO (as `index.html`, or as `app.js.gz`) waits for a writer and stalls
//! the worker. Missing files, directory listings and slash redirects are
//! left to `Files`.
//!
//! (Reading bodies with `pread` in 128 KiB pieces instead of `NamedFile`'s
//! seek and 8-to-32 KiB reads cut a 1 MiB answer from 80 system calls to 8,
//! but zeroing each buffer first, as safe Rust must, cost as much: the
//! CPU time per request did not move, so `NamedFile` reads.)

use std::fs::{self, File};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use actix_files::{NamedFile, PathBufWrap};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, AcceptEncoding, ContentEncoding, Encoding, HeaderValue};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse};

use super::{INDEX_FILE, SYNC_READ_LIMIT, visible};

/// The encodings a sibling may have, with its file name suffix, in the
/// order `Files` offers them to the client's preferences.
const PRECOMPRESSED: [(ContentEncoding, &str); 3] = [
    (ContentEncoding::Brotli, ".br"),
    (ContentEncoding::Gzip, ".gz"),
    (ContentEncoding::Zstd, ".zst"),
];

/// The answer for `req`, when the short road has one; otherwise the
/// request comes back, for `Files`.
pub(super) fn answer(dir: &Path, req: ServiceRequest) -> Result<ServiceResponse, ServiceRequest> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Err(req);
    }
    // The same parsing `Files` does (`..` kept inside, `%2F` refused).
    let Ok(relative) = PathBufWrap::parse_path(req.match_info().unprocessed(), true) else {
        return Err(req);
    };
    if !visible(relative.as_ref()) {
        return Err(req);
    }
    let mut path = dir.join(relative);
    let mut found = open(&path);
    // A directory asked for in its slash form is its index file (without
    // the slash, `Files` redirects; without an index, it lists).
    if matches!(found, Found::Directory) && req.path().ends_with('/') {
        path.push(INDEX_FILE);
        found = open(&path);
    }
    match found {
        Found::File(file) => Ok(serve(req, file, &path)),
        Found::Unservable => Ok(req.into_response(HttpResponse::NotFound().finish())),
        Found::Directory | Found::Nothing => Err(req),
    }
}

/// What a path names, opened without waiting.
enum Found {
    /// A regular file, opened for reading.
    File(File),
    Directory,
    /// A FIFO, socket or device: 404, as nginx answers, and never read.
    Unservable,
    /// Nothing that could be opened.
    Nothing,
}

fn open(path: &Path) -> Found {
    // Non-blocking, so a FIFO opens at once (reads of a regular file
    // ignore the flag); no controlling terminal from a tty.
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let Ok(file) = file else {
        return Found::Nothing;
    };
    match file.metadata().map(|m| m.file_type()) {
        Ok(kind) if kind.is_file() => Found::File(file),
        Ok(kind) if kind.is_dir() => Found::Directory,
        Ok(_) => Found::Unservable,
        Err(_) => Found::Nothing,
    }
}

/// `file` (at `path`), or the precompressed sibling the client prefers,
/// as `Files` answers either.
fn serve(req: ServiceRequest, file: File, path: &Path) -> ServiceResponse {
    let (req, _) = req.into_parts();
    let response = match NamedFile::from_file(file, path) {
        Ok(named) => match precompressed(&req, path) {
            Some((sibling, encoding)) => {
                let typed = sibling.set_content_type(named.content_type().clone());
                let mut response = respond(&req, typed);
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_ENCODING,
                    HeaderValue::from_static(encoding.as_str()),
                );
                headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
                response
            }
            None => respond(&req, named),
        },
        Err(e) => HttpResponse::from_error(e),
    };
    ServiceResponse::new(req, response)
}

fn respond(req: &HttpRequest, named: NamedFile) -> HttpResponse {
    named
        .disable_content_disposition()
        .read_mode_threshold(SYNC_READ_LIMIT)
        .into_response(req)
}

/// The sibling of `path` in the encoding the client prefers among those
/// present as regular files (`style.css.br`, `style.css.gz`), if it prefers
/// one to no encoding at all.
fn precompressed(req: &HttpRequest, path: &Path) -> Option<(NamedFile, ContentEncoding)> {
    let accept = req.get_header::<AcceptEncoding>()?;
    let mut offered: Vec<Encoding> = PRECOMPRESSED
        .iter()
        .map(|(encoding, _)| Encoding::Known(*encoding))
        .chain([Encoding::Known(ContentEncoding::Identity)])
        .collect();
    loop {
        let chosen = accept.negotiate(offered.iter())?;
        let suffix = PRECOMPRESSED
            .iter()
            .find(|(encoding, _)| Encoding::Known(*encoding) == chosen)
            .map(|(_, suffix)| *suffix)?;
        let mut name = path.file_name()?.to_owned();
        name.push(suffix);
        let sibling: PathBuf = path.with_file_name(name);
        if let Found::File(file) = open(&sibling)
            && let Ok(named) = NamedFile::from_file(file, &sibling)
            && let Encoding::Known(encoding) = chosen
        {
            return Some((named, encoding));
        }
        offered.retain(|e| *e != chosen);
    }
}
