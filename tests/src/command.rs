//! Running a program as a test does: `TestCommand` (ripgrep's shape) with a
//! time limit, captured `Output` with assertions that print the whole
//! session, the workspace's own binaries built once, and stopping `pki` at
//! a named step to kill it there.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::*;

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

    /// A command built elsewhere (arguments, environment, directory), run
    /// with the same time limit and empty stdin.
    pub fn from_command(cmd: Command) -> Self {
        TestCommand {
            cmd,
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

/// The Python of the apps and clients around `actix-https --proxy`: the
/// venv `.ci/run` (and the README) make in `target/apps-venv` with Flask,
/// requests, Starlette, uvicorn and websockets at known versions, else the
/// system's `python3`.
pub fn apps_python_path() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/apps-venv/bin/python3");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// [`python`] with [`apps_python_path`].
pub fn app_python<I, S>(script: &str, args: I) -> TestCommand
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = TestCommand::new(apps_python_path());
    cmd.arg("-c").arg(script).args(args);
    cmd
}
