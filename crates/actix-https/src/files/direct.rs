//! The short road for a GET or HEAD of a file, a directory's index file, or
//! a precompressed sibling of either (with or without its original, as
//! `Files` would serve it; the only road to one): one `open` and one
//! `fstat` per candidate, where `Files` also stats the path twice and
//! resolves it with `realpath` (a `readlink` per path component) only to
//! throw the result away; on a 1 KiB file those calls were a sixth of the
//! server's CPU time.
//! actix-files' `NamedFile` still makes the answer (`ETag`, 304, `Range`,
//! MIME type, the body read on the worker thread up to
//! [`SYNC_READ_LIMIT`]), with the headers `Files` adds to a precompressed
//! one, so it is the answer `Files` would give.
//!
//! Every candidate is opened non-blocking and checked to be a regular file
//! before anything reads it: `Files` opens with a blocking `open`, which on a
//! FIFO (as `index.html`, or as `app.js.gz`) waits for a writer and stalls
//! the worker. A FIFO sibling is passed over; so `Files` is never asked
//! for siblings, and is left only what is neither a file nor a sibling:
//! missing files, directory listings and slash redirects.
//!
//! A GET's body is then read here rather than by `NamedFile`, which seeks
//! before each 64 KiB piece and reads it in 8, 16, 32 and 8 KiB (std's
//! `read_to_end` through `Take` does not know the length): a file of up to
//! [`PIECE`] is read whole with one `pread` before the answer is made, a
//! larger one with a `pread` per piece ([`Pieces`]), always into memory
//! that is never zeroed first (rustix's `spare_capacity`). A 1 MiB answer
//! went from 81 file system calls to 18 (with the `dup` and its `close`),
//! a 1 KiB one from 3 to 1.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_files::{NamedFile, PathBufWrap};
use actix_web::body::{BodySize, BoxBody, MessageBody as _, SizedStream};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, AcceptEncoding, ContentEncoding, Encoding, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, mime};
use futures_core::Stream;

use super::{INDEX_FILE, SYNC_READ_LIMIT, visible};

/// The encodings a sibling may have, with its file name suffix, in the
/// order `Files` offers them to the client's preferences.
const PRECOMPRESSED: [(ContentEncoding, &str); 3] = [
    (ContentEncoding::Brotli, ".br"),
    (ContentEncoding::Gzip, ".gz"),
    (ContentEncoding::Zstd, ".zst"),
];

/// Where a request goes after the short road.
pub(super) enum Road {
    /// Answered.
    Answer(ServiceResponse),
    /// Not found: a FIFO, socket or device (never read), answered 404 as
    /// nginx does, by the app's default service as `Files` answers a
    /// missing file.
    NotFound(ServiceRequest),
    /// For `Files`: missing files, listings, slash redirects, refusals.
    Files(ServiceRequest),
}

/// Where `req` goes: answered here when it can be.
pub(super) fn answer(dir: &Path, req: ServiceRequest) -> Road {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Road::Files(req);
    }
    // The same parsing `Files` does (`..` kept inside, `%2F` refused).
    let Ok(relative) = PathBufWrap::parse_path(req.match_info().unprocessed(), true) else {
        return Road::Files(req);
    };
    if !visible(relative.as_ref()) {
        return Road::Files(req);
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
        Found::File(named) => {
            let answer = match precompressed(req.request(), &path) {
                Some(sibling) => Served::Precompressed(sibling, named.content_type().clone()),
                None => Served::Plain(*named),
            };
            Road::Answer(serve(req, answer))
        }
        // A precompressed sibling is served without its original, or in
        // place of one never read, as `Files` would; with none, a FIFO is
        // 404 and `Files` says what is missing.
        Found::Nothing | Found::Unservable => match precompressed(req.request(), &path) {
            Some(sibling) => Road::Answer(serve(
                req,
                Served::Precompressed(sibling, original_mime(&path)),
            )),
            None if matches!(found, Found::Unservable) => Road::NotFound(req),
            None => Road::Files(req),
        },
        Found::Directory => Road::Files(req),
    }
}

/// What a path names, opened without waiting.
enum Found {
    /// A regular file, opened for reading.
    File(Box<NamedFile>),
    Directory,
    /// A FIFO, socket or device: never read.
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
    // `NamedFile` takes the file's metadata, which says what it is: one
    // `fstat`, and nothing read yet.
    let Ok(named) = NamedFile::from_file(file, path) else {
        return Found::Nothing;
    };
    let kind = named.metadata().file_type();
    if kind.is_file() {
        Found::File(Box::new(named))
    } else if kind.is_dir() {
        Found::Directory
    } else {
        Found::Unservable
    }
}

/// What is served for a file's URL.
enum Served {
    /// The file itself.
    Plain(NamedFile),
    /// The sibling the client prefers (`style.css.br`), with its encoding
    /// and the original's MIME type.
    Precompressed((NamedFile, ContentEncoding), mime::Mime),
}

/// The answer `Files` would give for what is served.
fn serve(req: ServiceRequest, served: Served) -> ServiceResponse {
    let (req, _) = req.into_parts();
    let response = match served {
        Served::Plain(named) => respond(&req, named),
        Served::Precompressed((sibling, encoding), mime) => {
            let mut response = respond(&req, sibling.set_content_type(mime));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(encoding.as_str()),
            );
            headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
            response
        }
    };
    ServiceResponse::new(req, response)
}

/// How a GET's body is read instead of by `NamedFile`.
enum Body {
    /// Up to [`PIECE`]: read whole, with one `pread`, before the answer is
    /// made (no seek, no stream).
    Whole(Bytes),
    /// Larger: [`Pieces`] of a duplicate of the file's descriptor.
    Pieces(File),
}

/// `NamedFile`'s answer (`ETag`, 304, `Range`, MIME type), with a GET's
/// body, whole or the range asked for, read as [`Body`] says.
fn respond(req: &HttpRequest, named: NamedFile) -> HttpResponse {
    let size = named.metadata().len();
    let body = if req.method() != Method::GET || size == 0 || size > SYNC_READ_LIMIT {
        None
    } else if size <= PIECE {
        // A conditional GET is mostly answered 304: nothing read for it.
        let conditional = [header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE]
            .iter()
            .any(|h| req.headers().contains_key(h));
        (!conditional)
            .then(|| read_whole(named.file(), size))
            .flatten()
            .map(Body::Whole)
    } else {
        named.file().try_clone().ok().map(Body::Pieces)
    };
    let response = named
        .disable_content_disposition()
        .read_mode_threshold(SYNC_READ_LIMIT)
        .into_response(req);
    let Some(body) = body else {
        return response;
    };
    let BodySize::Sized(len) = response.body().size() else {
        return response;
    };
    let offset = match response.status() {
        StatusCode::OK => 0,
        StatusCode::PARTIAL_CONTENT => match range_start(&response) {
            Some(offset) => offset,
            None => return response,
        },
        // 304, 412, 416: no body of the file's.
        _ => return response,
    };
    let body = match body {
        Body::Whole(whole) => {
            let range = usize::try_from(offset)
                .ok()
                .zip(usize::try_from(offset + len).ok());
            match range {
                Some((start, end)) if end <= whole.len() => BoxBody::new(whole.slice(start..end)),
                _ => return response,
            }
        }
        Body::Pieces(file) => BoxBody::new(SizedStream::new(
            len,
            Pieces {
                file,
                offset,
                left: len,
            },
        )),
    };
    response.set_body(body)
}

/// All `size` bytes of `file`, if one `pread` gives them all (a file that
/// changed meanwhile is left to `NamedFile`).
fn read_whole(file: &File, size: u64) -> Option<Bytes> {
    let mut whole = Vec::with_capacity(usize::try_from(size).ok()?);
    let read = rustix::io::pread(file, rustix::buffer::spare_capacity(&mut whole), 0).ok()?;
    (read as u64 == size).then(|| Bytes::from(whole))
}

/// Where a 206's `Content-Range: bytes START-END/SIZE` starts.
fn range_start(response: &HttpResponse) -> Option<u64> {
    let range = response
        .headers()
        .get(header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    let (start, _) = range.strip_prefix("bytes ")?.split_once('-')?;
    start.parse().ok()
}

/// How much of a file [`Pieces`] reads at a time, and the most read
/// whole: `NamedFile`'s piece, so a connection holds no more memory.
const PIECE: u64 = 64 * 1024;

/// `left` bytes of `file` from `offset`, a `pread` per piece.
struct Pieces {
    file: File,
    offset: u64,
    left: u64,
}

impl Stream for Pieces {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(self.left.min(PIECE)).unwrap_or(64 * 1024);
        let mut piece = Vec::with_capacity(want);
        let read = rustix::io::pread(
            &self.file,
            rustix::buffer::spare_capacity(&mut piece),
            self.offset,
        );
        Poll::Ready(Some(match read {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file became shorter while it was being sent",
            )),
            Ok(n) => {
                // Never more than was asked for, though the buffer may
                // have had room for more of a file that grew.
                let n = n.min(want);
                piece.truncate(n);
                self.offset += n as u64;
                self.left -= n as u64;
                Ok(Bytes::from(piece))
            }
            Err(e) => Err(e.into()),
        }))
    }
}

/// The MIME type of `path` by its extension, as `NamedFile` guesses it
/// when it opens a file.
fn original_mime(path: &Path) -> mime::Mime {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    actix_files::file_extension_to_mime(extension)
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
        if let Found::File(named) = open(&sibling)
            && let Encoding::Known(encoding) = chosen
        {
            return Some((*named, encoding));
        }
        offered.retain(|e| *e != chosen);
    }
}
