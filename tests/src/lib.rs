//! The harness of the end-to-end tests: it writes the fixture set once, runs
//! the verifiers we did not write (`openssl`, `curl`, `python3`) with a time
//! limit, and starts TLS servers on loopback that are killed when dropped, so
//! every test reads like a user's session and none can hang.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use pki_fixtures::Family;
use tempfile::TempDir;

/// What tests return: `?` works on `pki::Error`, `io::Error` and the rest.
pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// How long any one external command may run before it is killed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a server may take to accept connections after it was started.
pub const SERVER_START_TIMEOUT: Duration = Duration::from_secs(10);

/// Name prefix of the fixture directories in the system's temp directory.
const FIXTURES_PREFIX: &str = "pki-e2e-fixtures-";

/// The fixture set (`pki_fixtures::write_all`), written once per test
/// process into a temporary directory that lives as long as the process.
/// It holds `ecdsa/` and `rsa/`; the file names are in `README.md` there.
pub fn fixtures() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        remove_stale_fixture_sets();
        let dir = tempfile::Builder::new()
            .prefix(FIXTURES_PREFIX)
            .tempdir()
            .unwrap_or_else(|e| panic!("failed to create a directory for the fixtures: {e}"));
        // Kept for the whole process: tests on other threads read it until the end.
        let root = dir.keep();
        if let Err(e) = pki_fixtures::write_all(&root) {
            panic!(
                "failed to write the fixture set into {}: {e}",
                root.display()
            );
        }
        root
    })
}

/// Removes fixture sets earlier test processes left behind (statics are
/// never dropped, so no process removes its own). Only sets older than an
/// hour go, so a test run going on at the same time keeps its set.
fn remove_stale_fixture_sets() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with(FIXTURES_PREFIX)
        {
            continue;
        }
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(3600));
        if stale {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The fixture directory of one family (`<root>/ecdsa` or `<root>/rsa`).
pub fn family_dir(family: Family) -> PathBuf {
    fixtures().join(family.dir_name())
}

/// A fixture file of one family, for instance `fixture(Family::Rsa, "ca.pem")`.
pub fn fixture(family: Family, name: &str) -> PathBuf {
    let path = family_dir(family).join(name);
    assert!(
        path.is_file(),
        "fixture {} does not exist; is the file name in pki's fixtures README?",
        path.display()
    );
    path
}

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("pki-e2e-")
        .tempdir()
        .unwrap_or_else(|e| panic!("failed to create a temporary directory: {e}"))
}

/// Writes a test input file (a pass phrase, a config, a tampered PEM).
#[expect(
    clippy::disallowed_methods,
    reason = "test inputs need no atomic write, and writing them through pki::fs would test pki with itself"
)]
pub fn write_file(path: &Path, contents: impl AsRef<[u8]>) {
    fs::write(path, contents)
        .unwrap_or_else(|e| panic!("failed to write test input {}: {e}", path.display()));
}

/// Reads a file the test expects to be there.
pub fn read_file(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("failed to read {}: {e}", path.display()))
}

/// Reads a text file the test expects to be there.
pub fn read_text(path: &Path) -> String {
    String::from_utf8_lossy(&read_file(path)).into_owned()
}

/// The PEM blocks of a text labelled `label`, each with its BEGIN and END
/// lines and a final newline, in order. Used to split a chain file by hand,
/// without asking `pki` to parse what `pki` wrote.
pub fn pem_blocks(text: &str, label: &str) -> Vec<String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let Some(stop) = rest[start..].find(&end).map(|i| start + i + end.len()) else {
            break;
        };
        out.push(format!("{}\n", &rest[start..stop]));
        rest = &rest[stop..];
    }
    out
}

/// What `openssl x509 -noout -text` says about a certificate file.
pub fn x509_text(path: &Path) -> String {
    openssl(["x509", "-noout", "-text", "-in"])
        .arg(path)
        .assert_success()
        .stdout
}

/// A certificate's subject (`"subject"`) or issuer (`"issuer"`) as OpenSSL
/// prints it with `-nameopt sname,sep_comma_plus_space`: `O=…, OU=…, CN=…`,
/// the form `pki` uses in its messages.
pub fn openssl_name(path: &Path, which: &str) -> String {
    let out = openssl(["x509", "-noout", "-nameopt", "sname,sep_comma_plus_space"])
        .arg(format!("-{which}"))
        .arg("-in")
        .arg(path)
        .assert_success();
    let prefix = format!("{which}=");
    out.stdout
        .trim_end()
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("no {prefix} line\n{out}"))
        .to_owned()
}

/// The SHA-256 fingerprint of a file's first certificate as `openssl x509
/// -noout -fingerprint -sha256` prints it: uppercase hex pairs joined by colons.
pub fn openssl_fingerprint(path: &Path) -> String {
    let out = openssl(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(path)
        .assert_success();
    out.stdout
        .trim_end()
        .strip_prefix("sha256 Fingerprint=")
        .unwrap_or_else(|| panic!("no fingerprint\n{out}"))
        .to_owned()
}

/// A certificate's notBefore (`"startdate"`) or notAfter (`"enddate"`) as
/// `openssl x509 -dateopt iso_8601` prints it, in the form `pki`'s messages
/// use: `2026-10-23 11:15:44 UTC`.
pub fn openssl_date(path: &Path, which: &str) -> String {
    let out = openssl(["x509", "-noout", "-dateopt", "iso_8601"])
        .arg(format!("-{which}"))
        .arg("-in")
        .arg(path)
        .assert_success();
    let value = out
        .stdout
        .trim_end()
        .split_once('=')
        .map(|(_, v)| v.to_owned())
        .unwrap_or_else(|| panic!("no date\n{out}"));
    let date = value
        .strip_suffix('Z')
        .unwrap_or_else(|| panic!("not an ISO 8601 UTC date: {value:?}\n{out}"));
    format!("{date} UTC")
}

/// Seconds since 1970 of a date in the form [`openssl_date`] returns, so
/// tests can compute with dates without asking `pki`.
pub fn unix_seconds(date: &str) -> i64 {
    let bad = || -> ! { panic!("not a `YYYY-MM-DD HH:MM:SS UTC` date: {date:?}") };
    let digits: Vec<i64> = date
        .trim_end_matches(" UTC")
        .split(['-', ' ', ':'])
        .map(|part| part.parse().unwrap_or_else(|_| bad()))
        .collect();
    let [y, m, d, hh, mm, ss] = digits[..] else {
        bad()
    };
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3600 + mm * 60 + ss
}

/// One extension in `openssl x509 -text` (or `req -text`) output, found by
/// the name OpenSSL prints after `X509v3 `: whether it is critical, and its
/// value (the more indented lines under it, trimmed, joined by newlines).
pub fn extension(text: &str, name: &str) -> Option<Extension> {
    let header = format!("X509v3 {name}:");
    let mut lines = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(&header));
    let first = lines.next()?;
    let indent = first.len() - first.trim_start().len();
    let value = lines
        .take_while(|l| l.len() - l.trim_start().len() > indent)
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n");
    Some(Extension {
        critical: first.trim_end().ends_with("critical"),
        value,
    })
}

/// An extension as `openssl x509 -text` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// Whether it is marked critical.
    pub critical: bool,
    /// Its value as printed.
    pub value: String,
}

/// The names of the files in `dir` that `pki::fs` would leave behind if a
/// write failed halfway (its temp files start with `.pki-`).
pub fn leftover_temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("failed to list {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".pki-"))
        .collect()
}

/// The Unix permission bits of a file or directory.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("failed to stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// What `dir` holds, recursively: regular files by content (by length when
/// over 1 MiB), links by target, anything else by kind. Never opens a FIFO
/// or device, so it can describe the special files the tests make.
pub fn dir_snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let entries =
            fs::read_dir(dir).unwrap_or_else(|e| panic!("failed to list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("failed to list {}: {e}", dir.display()))
                .path();
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            let meta = fs::symlink_metadata(&path)
                .unwrap_or_else(|e| panic!("failed to look at {}: {e}", path.display()));
            let what = if meta.file_type().is_symlink() {
                let target = fs::read_link(&path)
                    .unwrap_or_else(|e| panic!("failed to read link {}: {e}", path.display()));
                format!("link to {}", target.display())
            } else if meta.is_dir() {
                walk(root, &path, out);
                "directory".to_owned()
            } else if meta.is_file() && meta.len() <= 1 << 20 {
                String::from_utf8_lossy(&read_file(&path)).into_owned()
            } else if meta.is_file() {
                format!("{} bytes", meta.len())
            } else {
                "special file".to_owned()
            };
            out.insert(rel, what);
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Runs `cmd` (a `pki` command in `dir`), which must fail with exit code 2,
/// an `error:` line holding every one of `needles`, and leave `dir` exactly
/// as it was: no output file, no CA, no temp file, nothing altered.
pub fn assert_refused_cleanly(dir: &Path, cmd: &mut TestCommand, needles: &[&str]) -> Output {
    let before = dir_snapshot(dir);
    let out = cmd.output();
    out.assert_code(2);
    assert!(
        out.stderr.starts_with("error:"),
        "the message should start with `error:`\n{out}"
    );
    for needle in needles {
        out.assert_stderr_contains(needle);
    }
    let after = dir_snapshot(dir);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "a refused command must write nothing\n{out}"
    );
    assert!(before == after, "a refused command changed a file\n{out}");
    out
}

/// Whether every tool is installed. A missing tool fails the test when the
/// `CI` environment variable is set (CI must have it); on a developer
/// machine the test is skipped, loudly, and should `return` at once.
pub fn require_tools(tools: &[&str]) -> bool {
    tools.iter().all(|tool| require_tool(tool))
}

/// [`require_tools`] for one tool.
pub fn require_tool(name: &str) -> bool {
    if find_in_path(name).is_some() {
        return true;
    }
    let package = debian_package(name);
    if std::env::var_os("CI").is_some() {
        panic!("{name} is not installed, and CI must run every test: apt-get install {package}");
    }
    skip(&format!(
        "{name} is not installed (Debian package {package}); this test did NOT run"
    ));
    false
}

/// Prints a line that makes a skipped check impossible to miss.
#[expect(
    clippy::print_stderr,
    reason = "a skipped check must be visible in the test output"
)]
pub fn skip(why: &str) {
    eprintln!("\n!!!!!!!! SKIP: {why} !!!!!!!!\n");
}

fn debian_package(tool: &str) -> &'static str {
    match tool {
        "openssl" => "openssl",
        "curl" => "curl",
        "python3" => "python3",
        "sh" => "dash",
        "keytool" | "java" => "openjdk-17-jdk-headless",
        "certutil" => "libnss3-tools",
        "chromium" => "chromium",
        "unshare" | "nsenter" | "setpriv" | "mount" => "util-linux",
        "update-ca-certificates" => "ca-certificates",
        _ => "(unknown: look it up with apt-file search)",
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A command to run with a time limit, its output captured for assertions
/// that show the whole session when they fail (after ripgrep's `TestCommand`).
#[derive(Debug)]
pub struct TestCommand {
    cmd: Command,
    timeout: Duration,
    stdin: Option<Vec<u8>>,
}

impl TestCommand {
    /// A command running `program`; stdin is empty unless [`TestCommand::stdin`]
    /// gives it input, so nothing can prompt.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        TestCommand {
            cmd: Command::new(program),
            timeout: COMMAND_TIMEOUT,
            stdin: None,
        }
    }

    /// Sets an environment variable for the command.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env(key, value);
        self
    }

    /// Removes an environment variable from the command's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env_remove(key);
        self
    }

    /// Adds one argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Runs in `dir`.
    pub fn current_dir(&mut self, dir: &Path) -> &mut Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Feeds `input` to the command's stdin (instead of an empty stdin),
    /// as `printf … | command` would.
    pub fn stdin(&mut self, input: impl Into<Vec<u8>>) -> &mut Self {
        self.stdin = Some(input.into());
        self
    }

    /// Changes the time limit.
    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// The command line, as a person would type it.
    pub fn command_line(&self) -> String {
        let mut parts: Vec<OsString> = vec![self.cmd.get_program().to_os_string()];
        parts.extend(self.cmd.get_args().map(OsStr::to_os_string));
        let line = parts
            .iter()
            .map(|p| {
                let s = p.to_string_lossy();
                if s.is_empty() || s.contains([' ', '\'', '"', '\n']) {
                    format!("'{}'", s.replace('\'', r"'\''"))
                } else {
                    s.into_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        match self.cmd.get_current_dir() {
            Some(dir) => format!("(cd {} && {line})", dir.display()),
            None => line,
        }
    }

    /// Runs the command to its end and returns what it did. Panics if it
    /// cannot start or outlives its time limit (it is killed first).
    pub fn output(&mut self) -> Output {
        let command = self.command_line();
        let stdin = if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let mut child = self
            .cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start `{command}`: {e}"));
        // Written from a thread, so a command that does not read cannot block
        // the test; dropping the pipe afterwards closes the command's stdin.
        if let (Some(mut pipe), Some(input)) = (child.stdin.take(), self.stdin.clone()) {
            thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("failed to wait for `{command}`: {e}"),
            }
        };
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        let Some(status) = status else {
            panic!(
                "`{command}` did not finish within {:?} and was killed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
                self.timeout
            );
        };
        Output {
            command,
            status,
            stdout,
            stderr,
        }
    }

    /// Runs the command and panics, showing everything, unless it succeeds.
    pub fn assert_success(&mut self) -> Output {
        let out = self.output();
        assert!(
            out.status.success(),
            "expected success, but it failed\n{out}"
        );
        out
    }

    /// Runs the command and panics, showing everything, unless it fails.
    /// Callers go on to assert the specific failure.
    pub fn assert_failure(&mut self) -> Output {
        let out = self.output();
        assert!(
            !out.status.success(),
            "expected a failure, but it succeeded\n{out}"
        );
        out
    }

    /// Runs `pki` with `PKI_TEST_PAUSE_AT=step`, waits until it says `paused
    /// at STEP` on stderr, and kills it there with SIGKILL, as a crash at that
    /// step would. Panics, showing the session, if it ends or outlives its
    /// time limit first.
    pub fn kill_at(&mut self, step: &str) -> Output {
        self.pause_at(step).kill()
    }

    /// Runs `pki` with `PKI_TEST_PAUSE_AT=step` and returns once it says
    /// `paused at STEP` on stderr (holding whatever it holds there, a lock
    /// included), to be killed with [`Paused::kill`]. Panics, showing the
    /// session, if it ends or outlives its time limit first.
    pub fn pause_at(&mut self, step: &str) -> Paused {
        use std::io::{BufRead, BufReader};

        self.cmd.env("PKI_TEST_PAUSE_AT", step);
        let command = format!("PKI_TEST_PAUSE_AT={step} {}", self.command_line());
        let mut child = self
            .cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start `{command}`: {e}"));
        let stdout = drain(child.stdout.take());
        let (lines_tx, lines) = std::sync::mpsc::channel();
        let stderr_pipe = child.stderr.take();
        let stderr = thread::spawn(move || {
            let mut seen = String::new();
            if let Some(pipe) = stderr_pipe {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    seen.push_str(&line);
                    seen.push('\n');
                    let _ = lines_tx.send(line);
                }
            }
            seen
        });
        let wanted = format!("paused at {step}");
        let deadline = Instant::now() + self.timeout;
        let mut paused = false;
        while Instant::now() < deadline {
            match lines.recv_timeout(Duration::from_millis(50)) {
                Ok(line) if line == wanted => {
                    paused = true;
                    break;
                }
                Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                // stderr closed: the command ended without pausing.
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let paused_run = Paused {
            command,
            child,
            stdout,
            stderr,
        };
        if !paused {
            let out = paused_run.kill();
            panic!("expected it to reach {step:?} and pause there\n{out}");
        }
        paused_run
    }
}

/// A `pki` run stopped at a named step ([`TestCommand::pause_at`]).
pub struct Paused {
    command: String,
    child: Child,
    stdout: thread::JoinHandle<String>,
    stderr: thread::JoinHandle<String>,
}

impl Paused {
    /// Kills it with SIGKILL (no destructor, no cleanup runs) and returns
    /// what it printed.
    pub fn kill(mut self) -> Output {
        let _ = self.child.kill();
        let status = self
            .child
            .wait()
            .unwrap_or_else(|e| panic!("failed to wait for `{}`: {e}", self.command));
        Output {
            command: self.command,
            status,
            stdout: self.stdout.join().unwrap_or_default(),
            stderr: self.stderr.join().unwrap_or_default(),
        }
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// What a finished command did. Its `Display` is the whole session, for
/// assertion messages.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line.
    pub command: String,
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl Output {
    /// The exit code (`None` if a signal ended it).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Asserts the exit code.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), Some(code), "expected exit code {code}\n{self}");
        self
    }

    /// Asserts that stdout contains `needle`.
    pub fn assert_stdout_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "expected stdout to contain {needle:?}\n{self}"
        );
        self
    }

    /// Asserts that stdout does not contain `needle`.
    pub fn assert_stdout_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stdout.contains(needle),
            "expected stdout not to contain {needle:?}\n{self}"
        );
        self
    }

    /// Asserts that stderr contains `needle`.
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "expected stderr to contain {needle:?}\n{self}"
        );
        self
    }

    /// Asserts that stdout or stderr contains `needle` (openssl prints
    /// verification errors on one or the other depending on the command).
    pub fn assert_output_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle) || self.stderr.contains(needle),
            "expected the output to contain {needle:?}\n{self}"
        );
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "command: {}\nstatus:  {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
            self.command,
            self.status,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// `openssl` with the given arguments.
pub fn openssl<I, S>(args: I) -> TestCommand
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = TestCommand::new("openssl");
    cmd.args(args);
    cmd
}

/// `openssl` with a command line split at whitespace, so recipes read as
/// typed: `openssl_line("genrsa -out root_ca.key 2048")`. There is no
/// quoting; arguments with spaces go through [`openssl()`] or `.arg()`.
pub fn openssl_line(line: &str) -> TestCommand {
    openssl(line.split_whitespace())
}

/// `curl` set up for tests: quiet but showing errors, bounded in time, and
/// never through a proxy from the environment. Add the URL and options.
pub fn curl() -> TestCommand {
    let mut cmd = TestCommand::new("curl");
    cmd.args([
        "--silent",
        "--show-error",
        "--max-time",
        "10",
        "--noproxy",
        "*",
    ]);
    cmd
}

/// A binary of this workspace (`pki`, `actix-https`), built on first use
/// with the profile the tests were built with, so `cargo test -p e2e` alone
/// never runs a stale binary.
pub fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    build_once(package, "--bin", bin, Path::new(bin))
}

/// [`workspace_bin`] for an example (`cargo build --example NAME`).
pub fn workspace_example(package: &str, example: &str) -> PathBuf {
    build_once(
        package,
        "--example",
        example,
        &Path::new("examples").join(example),
    )
}

/// Builds `package`'s `kind` target `name` once per test process (in the
/// profile the tests run in) and returns `target/<profile>/<path>`.
fn build_once(package: &str, kind: &str, name: &str, path: &Path) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    // target/<profile>/deps/e2e-… → target/<profile>
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("no current exe: {e}"));
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("{} is not under target/<profile>/deps", exe.display()))
        .to_path_buf();
    let built_path = profile_dir.join(path);
    let key = format!("{package} {kind} {name}");
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.contains(&key) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or_else(|| Path::new("."));
        let mut cmd = Command::new(cargo);
        cmd.current_dir(root)
            .args(["build", "--quiet", "--package", package, kind, name]);
        if profile_dir.file_name() == Some(OsStr::new("release")) {
            cmd.arg("--release");
        }
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("failed to run cargo build for {name}: {e}"));
        assert!(status.success(), "cargo build of {name} failed: {status}");
        built.push(key);
    }
    built_path
}

/// Whether this process runs as root (which ignores file modes, and may
/// change system state the tests must then isolate).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The `pki` command, run in `dir` with its CA in `dir/ca` (through
/// `CAROOT`), and nothing from the caller's environment that would change
/// where the CA is or how its key is opened.
pub fn pki(dir: &Path) -> TestCommand {
    let mut cmd = TestCommand::new(workspace_bin("pki-cli", "pki"));
    cmd.current_dir(dir)
        .env("CAROOT", dir.join("ca"))
        .env_remove("XDG_DATA_HOME")
        .env_remove("PKI_CA_PASSPHRASE_FILE")
        // A trust command must only touch the stores a test names.
        .env_remove("TRUST_STORES");
    cmd
}

/// `python3 -c script args…`: the script sees `args` as `sys.argv[1:]`.
pub fn python<I, S>(script: &str, args: I) -> TestCommand
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = TestCommand::new("python3");
    cmd.arg("-c").arg(script).args(args);
    cmd
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    free_port_on(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// A TCP port on `ip` that was free a moment ago.
pub fn free_port_on(ip: IpAddr) -> u16 {
    TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("failed to find a free port on {ip}: {e}"))
}

/// Whether this machine has IPv6 loopback (`::1`).
pub fn has_ipv6_loopback() -> bool {
    TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

/// A TLS server on loopback, started by the harness and killed when dropped.
/// Its stdout and stderr go to one log, shown by failed assertions.
#[derive(Debug)]
pub struct Server {
    child: Child,
    addr: SocketAddr,
    what: String,
    ready_marker: &'static str,
    log: PathBuf,
    _dir: TempDir,
}

impl Server {
    /// `openssl s_server -www -accept 127.0.0.1:PORT args…`, run in `dir`:
    /// it answers any GET with a status page ("Ciphers supported in s_server binary").
    pub fn openssl_www<I, S>(dir: &Path, args: I) -> Server
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::openssl_www_on(IpAddr::V4(Ipv4Addr::LOCALHOST), dir, args)
    }

    /// [`Server::openssl_www`] listening on `ip` (`::1` for IPv6 loopback).
    pub fn openssl_www_on<I, S>(ip: IpAddr, dir: &Path, args: I) -> Server
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<OsString> = args
            .into_iter()
            .map(|a| a.as_ref().to_os_string())
            .collect();
        // s_server prints ACCEPT once it listens.
        Self::start("openssl s_server", ip, "ACCEPT", |port| {
            let mut cmd = Command::new("openssl");
            cmd.current_dir(dir)
                .args(["s_server", "-www", "-accept"])
                .arg(SocketAddr::new(ip, port).to_string())
                .args(&args);
            cmd
        })
    }

    /// `python3 -u -c script args… PORT` on 127.0.0.1: the script gets the
    /// port to listen on as its last argument, and prints a line `READY`
    /// once it listens.
    pub fn python<I, S>(dir: &Path, script: &str, args: I) -> Server
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<OsString> = args
            .into_iter()
            .map(|a| a.as_ref().to_os_string())
            .collect();
        Self::start(
            "python3 TLS server",
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "READY",
            |port| {
                let mut cmd = Command::new("python3");
                cmd.current_dir(dir)
                    .args(["-u", "-c", script])
                    .args(&args)
                    .arg(port.to_string());
                cmd
            },
        )
    }

    /// Starts the command `make(port)` builds and waits, at most
    /// [`SERVER_START_TIMEOUT`], until it has printed `ready_marker` and
    /// accepts connections on `ip:port`. If another test took the port in
    /// the meantime, it tries another.
    pub fn start(
        what: &str,
        ip: IpAddr,
        ready_marker: &'static str,
        make: impl Fn(u16) -> Command,
    ) -> Server {
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = tempdir();
            let port = free_port_on(ip);
            let log = dir.path().join("server.log");
            let file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&log)
                .unwrap_or_else(|e| panic!("failed to create {}: {e}", log.display()));
            let file2 = file
                .try_clone()
                .unwrap_or_else(|e| panic!("failed to share {}: {e}", log.display()));
            let mut cmd = make(port);
            let child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::from(file))
                .stderr(Stdio::from(file2))
                .spawn()
                .unwrap_or_else(|e| panic!("failed to start {what} ({cmd:?}): {e}"));
            let mut server = Server {
                child,
                addr: SocketAddr::new(ip, port),
                what: format!("{what} ({cmd:?})"),
                ready_marker,
                log,
                _dir: dir,
            };
            match server.wait_until_ready() {
                Ok(()) => return server,
                // Another test took the port between free_port and bind.
                Err(log) if log.contains("in use") => last_log = log,
                Err(log) => panic!(
                    "{} did not start\n--- server log ---\n{log}\n------------------",
                    server.what
                ),
            }
        }
        panic!("{what} found no free port in three attempts\n--- last log ---\n{last_log}");
    }

    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + SERVER_START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited early with {status}\n{}", self.log()));
            }
            // The marker first: a connection alone could reach another
            // process that holds the port, while ours fails to bind.
            if self.log().contains(self.ready_marker)
                && TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                return Err(format!(
                    "not accepting connections on {} after {SERVER_START_TIMEOUT:?}\n{}",
                    self.addr,
                    self.log()
                ));
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The server's process id (for `/proc/PID/…`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `https://host:port/`, with brackets around an IPv6 address.
    pub fn url(&self, host: &str) -> String {
        if host.contains(':') {
            format!("https://[{host}]:{}/", self.port())
        } else {
            format!("https://{host}:{}/", self.port())
        }
    }

    /// Everything the server printed so far.
    pub fn log(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits (at most five seconds) until the server's log contains
    /// `needle`, and panics with the log if it never does.
    pub fn assert_log_contains(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return;
            }
            thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "expected the log of {} to contain {needle:?}\n--- server log ---\n{}\n------------------",
            self.what,
            self.log()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh HOME under `parent` with an empty NSS database in `.pki/nssdb`,
/// where Chromium on Linux keeps the certificates it trusts.
pub fn nss_home(parent: &Path) -> PathBuf {
    let home = parent.join("home");
    nss_db(&home.join(".pki").join("nssdb"));
    home
}

/// Creates an empty NSS database (`cert9.db`) in `dir` with `certutil -N`.
pub fn nss_db(dir: &Path) {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("failed to create {}: {e}", dir.display()));
    TestCommand::new("certutil")
        .arg("-N")
        .arg("-d")
        .arg(format!("sql:{}", dir.display()))
        .arg("--empty-password")
        .assert_success();
}

/// `chromium --headless --dump-dom url` with `HOME=home` and a fresh profile,
/// without `--ignore-certificate-errors`: the page's DOM on stdout, or a
/// certificate error in its log.
pub fn chromium_dump(home: &Path, url: &str) -> Output {
    let profile = home.join("profile");
    let mut cmd = TestCommand::new("chromium");
    for var in [
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "XDG_DATA_HOME",
        "https_proxy",
        "HTTPS_PROXY",
        "http_proxy",
        "HTTP_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-proxy-server",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .timeout(Duration::from_secs(60));
    cmd.output()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_split_a_chain() {
        let text = "x\n-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBB\n-----END CERTIFICATE-----\n";
        let blocks = pem_blocks(text, "CERTIFICATE");
        assert_eq!(blocks.len(), 2);
        assert!(blocks[1].contains("BB"));
        assert!(blocks[0].ends_with("-----END CERTIFICATE-----\n"));
    }

    #[test]
    fn unix_seconds_counts_from_1970() {
        assert_eq!(unix_seconds("1970-01-01 00:00:00 UTC"), 0);
        assert_eq!(unix_seconds("2000-02-29 00:00:00 UTC"), 951_782_400);
        assert_eq!(unix_seconds("2025-06-11 14:03:00 UTC"), 1_749_650_580);
    }

    #[test]
    fn command_line_quotes_what_needs_it() {
        let mut cmd = TestCommand::new("openssl");
        cmd.args(["req", "-subj", "/CN=a b"]);
        assert_eq!(cmd.command_line(), "openssl req -subj '/CN=a b'");
    }
}
