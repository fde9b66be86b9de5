//! Static files, as `--static [PATH=]DIR` serves them and any actix-web app
//! can mount them: `actix-files` does the serving (MIME types, `ETag` and
//! `Last-Modified` with 304s, single `Range` requests with 206 and 416,
//! `..` kept inside the directory, `%2F` refused); this module chooses its
//! settings and adds what it lacks: precompressed `.br`/`.gz`/`.zst`
//! siblings found without blocking, hidden files refused with 404 (except
//! `/.well-known/`, RFC 8615), and a directory listing that is HTML for
//! browsers and JSON when asked (`Accept: application/json`, in `listing`).
//!
//! A GET or HEAD of a file, an index file or a precompressed sibling takes
//! a shorter road (`direct`) than `Files` does, and never reads a FIFO;
//! what is left (missing files, listings, slash redirects, refusals) goes
//! to `Files`, and both roads answer through actix-files' `NamedFile`.

mod direct;
mod listing;

use std::fs;
use std::future::{Future, ready};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;

use actix_files::{Files, FilesService};
use actix_web::Error;
use actix_web::dev::{
    AppService, HttpServiceFactory, ResourceDef, Service, ServiceFactory, ServiceRequest,
    ServiceResponse,
};
use direct::Road;

/// Files up to this size are read on the worker thread, without a hop to
/// the blocking pool per 64 KiB chunk: from the page cache that is faster
/// than the hop, and a development server's files are almost all there.
pub const SYNC_READ_LIMIT: u64 = 4 * 1024 * 1024;

/// The file a directory's URL serves.
const INDEX_FILE: &str = "index.html";

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
        .index_file(INDEX_FILE)
        .show_files_listing()
        .files_listing_renderer(listing::render_listing)
        .redirect_to_slash_directory()
        // No `try_compressed`: `direct` finds the siblings, and `Files`
        // would open one with a blocking `open`, which waits on a FIFO.
        .read_mode_threshold(SYNC_READ_LIMIT)
        // No `Content-Disposition: inline; filename=…` on every file, as
        // nginx and Caddy send none: inline is what browsers do anyway.
        .disable_content_disposition()
        // Dots are judged by `visible` below, which lets `.well-known` through.
        .use_hidden_files()
        .path_filter(|path, _| visible(path));
    // Refuses every path, so its default service (the app's, once
    // registered) answers what `direct` found but will not read.
    // (It parses paths as the other does, `.well-known` included, or it
    // would refuse that with 400 before its filter.)
    let not_found = Files::new(mount, dir.clone())
        .use_hidden_files()
        .path_filter(|_, _| false);
    StaticFiles {
        mount: mount.trim_end_matches('/').to_owned(),
        // As `Files` resolves it, once, so both roads read the same files.
        dir: fs::canonicalize(&dir).unwrap_or(dir),
        files,
        not_found,
    }
}

/// What [`static_files`] returns: an actix-web service for `App::service`.
pub struct StaticFiles {
    mount: String,
    dir: PathBuf,
    files: Files,
    not_found: Files,
}

impl HttpServiceFactory for StaticFiles {
    fn register(mut self, config: &mut AppService) {
        // What `Files` would do when registered itself: the app's default
        // service answers what is not found.
        self.files = self.files.default_handler(config.default_service());
        self.not_found = self.not_found.default_handler(config.default_service());
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
        let not_found = self.not_found.new_service(());
        let dir = Rc::new(self.dir.clone());
        Box::pin(async move {
            Ok(StaticFilesService {
                dir,
                files: files.await?,
                not_found: not_found.await?,
            })
        })
    }
}

/// The running service of [`StaticFiles`].
pub struct StaticFilesService {
    dir: Rc<PathBuf>,
    files: FilesService,
    not_found: FilesService,
}

impl Service<ServiceRequest> for StaticFilesService {
    type Response = ServiceResponse;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<ServiceResponse, Error>>>>;

    actix_web::dev::always_ready!();

    fn call(&self, req: ServiceRequest) -> Self::Future {
        match direct::answer(&self.dir, req) {
            Road::Answer(response) => Box::pin(ready(Ok(response))),
            Road::NotFound(req) => self.not_found.call(req),
            Road::Files(req) => self.files.call(req),
        }
    }
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
