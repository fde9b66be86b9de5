//! The short road for a GET or HEAD of a plain file: one `open` and one
//! `fstat`, where `Files` also stats the path twice and resolves it with
//! `realpath` (a `readlink` per path component) only to throw the result
//! away; on a 1 KiB file those calls were a sixth of the server's CPU time.
//! actix-files' `NamedFile` still makes the answer (`ETag`, 304, `Range`,
//! MIME type, the body read on the worker thread up to
//! [`SYNC_READ_LIMIT`]), so it is the answer `Files` would give.
//!
//! (Reading bodies with `pread` in 128 KiB pieces instead of `NamedFile`'s
//! seek and 8-to-32 KiB reads cut a 1 MiB answer from 80 system calls to 8,
//! but zeroing each buffer first, as safe Rust must, cost as much: the
//! CPU time per request did not move, so `NamedFile` reads.)

use std::fs;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use actix_files::{NamedFile, PathBufWrap};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{AcceptEncoding, ContentEncoding, Encoding};
use actix_web::{HttpMessage as _, HttpResponse};

use super::{SYNC_READ_LIMIT, visible};

/// The answer for `req`, when the short road has one: the file, or 404 for
/// a path that names neither a file nor a directory (a FIFO, a socket, a
/// device), as nginx answers, never opened for reading (which for a FIFO
/// would stall the worker until some writer came). Otherwise the request
/// comes back, for `Files`.
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
    let path = dir.join(relative);
    // Non-blocking, so opening a FIFO returns at once; reads of a regular
    // file ignore the flag.
    let Ok(file) = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
    else {
        return Err(req);
    };
    let Ok(named) = NamedFile::from_file(file, &path) else {
        return Err(req);
    };
    let kind = named.metadata().file_type();
    if !kind.is_file() && !kind.is_dir() {
        return Ok(req.into_response(HttpResponse::NotFound().finish()));
    }
    if kind.is_dir() || may_take_precompressed(&req) {
        return Err(req);
    }
    let (req, _) = req.into_parts();
    let response = named
        .disable_content_disposition()
        .read_mode_threshold(SYNC_READ_LIMIT)
        .into_response(&req);
    Ok(ServiceResponse::new(req, response))
}

/// Whether the client accepts an encoding `Files` might find a
/// precompressed sibling for (`br`, `gzip`, `zstd`).
fn may_take_precompressed(req: &ServiceRequest) -> bool {
    let Some(accept) = req.get_header::<AcceptEncoding>() else {
        return false;
    };
    let offered = [
        ContentEncoding::Brotli,
        ContentEncoding::Gzip,
        ContentEncoding::Zstd,
        ContentEncoding::Identity,
    ]
    .map(Encoding::Known);
    !matches!(
        accept.negotiate(offered.iter()),
        None | Some(Encoding::Known(ContentEncoding::Identity))
    )
}
