//! Static files, as `--static [PATH=]DIR` serves them and any actix-web app
//! can mount them: `actix-files` does the serving (MIME types, `ETag` and
//! `Last-Modified` with 304s, single `Range` requests with 206 and 416,
//! precompressed `.br`/`.gz`/`.zst` siblings, `..` kept inside the
//! directory, `%2F` refused); this module chooses its settings and adds
//! what it lacks: hidden files refused with 404 (except `/.well-known/`,
//! RFC 8615), and a directory listing that is HTML for browsers and JSON
//! when asked (`Accept: application/json`, in `listing`).
//!
//! A request for a plain file takes a shorter road than `Files` does: one
//! `open` and one `fstat`, where `Files` also stats the path twice and
//! resolves it with `realpath` (a `readlink` per path component) only to
//! throw the result away. On a 1 KiB file those calls were a sixth of the
//! server's CPU time. Everything else (directories, precompressed
//! siblings, refusals) goes to `Files`, so both roads answer alike.

mod listing;

use std::fs;
use std::future::{Future, ready};
use std::io;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;

use actix_files::{Files, FilesService, NamedFile, PathBufWrap};
use actix_web::dev::{
    AppService, HttpServiceFactory, ResourceDef, Service, ServiceFactory, ServiceRequest,
    ServiceResponse,
};
use actix_web::http::Method;
use actix_web::http::header::{AcceptEncoding, ContentEncoding, Encoding};
use actix_web::{Error, HttpMessage as _, HttpResponse};

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
pub fn static_files(mount: &str, dir: impl Into<PathBuf>) -> StaticFiles {
    let dir = dir.into();
    let files = Files::new(mount, dir.clone())
        .index_file("index.html")
        .show_files_listing()
        .files_listing_renderer(listing::render_listing)
        .redirect_to_slash_directory()
        .try_compressed()
        .read_mode_threshold(SYNC_READ_LIMIT)
        // No `Content-Disposition: inline; filename=…` on every file, as
        // nginx and Caddy send none: inline is what browsers do anyway.
        .disable_content_disposition()
        // Dots are judged by `visible` below, which lets `.well-known` through.
        .use_hidden_files()
        .path_filter(|path, _| visible(path));
    StaticFiles {
        mount: mount.trim_end_matches('/').to_owned(),
        // As `Files` resolves it, once, so both roads read the same files.
        dir: fs::canonicalize(&dir).unwrap_or(dir),
        files,
    }
}

/// What [`static_files`] returns: an actix-web service for `App::service`.
pub struct StaticFiles {
    mount: String,
    dir: PathBuf,
    files: Files,
}

impl HttpServiceFactory for StaticFiles {
    fn register(mut self, config: &mut AppService) {
        // What `Files` would do when registered itself: the app's default
        // service answers what is not found.
        self.files = self.files.default_handler(config.default_service());
        let rdef = if config.is_root() {
            ResourceDef::root_prefix(&self.mount)
        } else {
            ResourceDef::prefix(&self.mount)
        };
        config.register_service(rdef, None, self, None);
    }
}

impl ServiceFactory<ServiceRequest> for StaticFiles {
    type Response = ServiceResponse;
    type Error = Error;
    type Config = ();
    type Service = StaticFilesService;
    type InitError = ();
    type Future = Pin<Box<dyn Future<Output = Result<StaticFilesService, ()>>>>;

    fn new_service(&self, _: ()) -> Self::Future {
        let files = self.files.new_service(());
        let dir = Rc::new(self.dir.clone());
        Box::pin(async move {
            Ok(StaticFilesService {
                dir,
                files: files.await?,
            })
        })
    }
}

/// The running service of [`StaticFiles`].
pub struct StaticFilesService {
    dir: Rc<PathBuf>,
    files: FilesService,
}

impl Service<ServiceRequest> for StaticFilesService {
    type Response = ServiceResponse;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<ServiceResponse, Error>>>>;

    actix_web::dev::always_ready!();

    fn call(&self, req: ServiceRequest) -> Self::Future {
        match self.plain_file(&req) {
            Ok(Some(file)) => {
                let (req, _) = req.into_parts();
                let response = file.into_response(&req);
                Box::pin(ready(Ok(ServiceResponse::new(req, response))))
            }
            Ok(None) => self.files.call(req),
            Err(NotServable) => Box::pin(ready(Ok(
                req.into_response(HttpResponse::NotFound().finish())
            ))),
        }
    }
}

/// A path that names neither a file nor a directory (a FIFO, a socket, a
/// device): 404, as nginx answers, and never opened for reading, which
/// for a FIFO would stall the worker until some writer came.
struct NotServable;

impl StaticFilesService {
    /// The file a GET or HEAD names, opened, when it is a plain visible
    /// file and no precompressed sibling could be chosen; `None` leaves
    /// the request to `Files`.
    fn plain_file(&self, req: &ServiceRequest) -> Result<Option<NamedFile>, NotServable> {
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            return Ok(None);
        }
        // The same parsing `Files` does (`..` kept inside, `%2F` refused).
        let Ok(relative) = PathBufWrap::parse_path(req.match_info().unprocessed(), true) else {
            return Ok(None);
        };
        if !visible(relative.as_ref()) {
            return Ok(None);
        }
        let path = self.dir.join(relative);
        // Non-blocking, so opening a FIFO returns at once; reads of a
        // regular file ignore the flag.
        let Ok(file) = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
        else {
            return Ok(None);
        };
        let Ok(named) = NamedFile::from_file(file, &path) else {
            return Ok(None);
        };
        let kind = named.metadata().file_type();
        if !kind.is_file() && !kind.is_dir() {
            return Err(NotServable);
        }
        if kind.is_dir() || may_take_precompressed(req) {
            return Ok(None);
        }
        Ok(Some(
            named
                .disable_content_disposition()
                .read_mode_threshold(SYNC_READ_LIMIT),
        ))
    }
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
}
