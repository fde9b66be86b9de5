//! Encrypted keys in the `actix-https` binary: the pass phrase from a file,
//! the environment or a terminal prompt, and refusals that name the key and
//! never show a pass phrase.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use e2e::{Output, Server, fixture, free_port, python, require_tools, tempdir, write_file};
use e2e::{READY, inherited_actix_settings};
use pki_fixtures::{FIXTURE_PASSPHRASE, Family};

use crate::server::{HTTPS_PAGE, actix_bin, curl_ok, os_args, refused, start_env};

// ---------------------------------------------------------------------------
// Encrypted keys
// ---------------------------------------------------------------------------

/// `--cert server.pem --key encrypted-key.pem` of a family.
fn encrypted_args(family: Family) -> Vec<OsString> {
    os_args([
        OsString::from("--cert"),
        fixture(family, "server.pem").into_os_string(),
        OsString::from("--key"),
        fixture(family, "encrypted-key.pem").into_os_string(),
    ])
}

fn assert_serves_fixture_ca(family: Family, server: &Server) {
    let ca = fixture(family, "ca.pem");
    curl_ok(&ca, &server.url("localhost"), None).assert_stdout_contains(HTTPS_PAGE);
    curl_ok(&ca, &server.url("127.0.0.1"), None).assert_stdout_contains(HTTPS_PAGE);
}

fn assert_no_secret(out: &str, secret: &str) {
    assert!(
        !out.contains(secret),
        "the pass phrase {secret:?} appears in the output\n{out}"
    );
}

#[test]
fn encrypted_key_opens_with_a_pass_phrase_file() {
    for family in Family::ALL {
        let dir = tempdir();
        let mut args = encrypted_args(family);
        args.push("--key-passphrase-file".into());
        args.push(fixture(family, "encrypted-key.pass").into());
        let server = start_env(dir.path(), &args, &[]);
        assert_serves_fixture_ca(family, &server);
        assert_no_secret(&server.log(), FIXTURE_PASSPHRASE);
    }
}

#[test]
fn encrypted_key_opens_with_the_pass_phrase_file_from_the_environment() {
    let dir = tempdir();
    let pass = fixture(Family::Ecdsa, "encrypted-key.pass");
    let server = start_env(
        dir.path(),
        encrypted_args(Family::Ecdsa),
        &[("ACTIX_HTTPS_KEY_PASSPHRASE_FILE", pass.to_str().unwrap())],
    );
    assert_serves_fixture_ca(Family::Ecdsa, &server);
}

#[test]
fn encrypted_key_opens_with_the_pass_phrase_in_the_environment() {
    let dir = tempdir();
    let server = start_env(
        dir.path(),
        encrypted_args(Family::Rsa),
        &[("ACTIX_HTTPS_KEY_PASSPHRASE", FIXTURE_PASSPHRASE)],
    );
    assert_serves_fixture_ca(Family::Rsa, &server);
    assert_no_secret(&server.log(), FIXTURE_PASSPHRASE);
}

#[test]
fn wrong_pass_phrase_file_is_refused_naming_the_key_and_hiding_both_pass_phrases() {
    let dir = tempdir();
    let wrong = "definitely not the pass phrase";
    let pass = dir.path().join("wrong.pass");
    write_file(&pass, format!("{wrong}\n"));
    let key = fixture(Family::Ecdsa, "encrypted-key.pem");
    let mut args = encrypted_args(Family::Ecdsa);
    args.push("--key-passphrase-file".into());
    args.push(pass.into());
    let out = refused(dir.path(), &args, &[]);
    out.assert_stderr_contains(&format!("the pass phrase for {} is wrong", key.display()));
    for secret in [wrong, FIXTURE_PASSPHRASE] {
        assert_no_secret(&out.stdout, secret);
        assert_no_secret(&out.stderr, secret);
    }
}

#[test]
fn wrong_pass_phrase_in_the_environment_is_refused_without_showing_it() {
    let dir = tempdir();
    let wrong = "wrong env pass phrase";
    let key = fixture(Family::Ecdsa, "encrypted-key.pem");
    let out = refused(
        dir.path(),
        encrypted_args(Family::Ecdsa),
        &[("ACTIX_HTTPS_KEY_PASSPHRASE", wrong)],
    );
    out.assert_stderr_contains(&format!("the pass phrase for {} is wrong", key.display()));
    assert_no_secret(&out.stdout, wrong);
    assert_no_secret(&out.stderr, wrong);
}

#[test]
fn encrypted_key_without_a_pass_phrase_or_terminal_is_refused() {
    let dir = tempdir();
    let key = fixture(Family::Ecdsa, "encrypted-key.pem");
    // TestCommand's stdin is /dev/null: not a terminal.
    let out = refused(dir.path(), encrypted_args(Family::Ecdsa), &[]);
    out.assert_stderr_contains(&format!("the key {} is encrypted", key.display()))
        .assert_stderr_contains("--key-passphrase-file")
        .assert_stderr_contains("$ACTIX_HTTPS_KEY_PASSPHRASE");
}

/// Runs `actix-https --cert CERT --key KEY` on a pseudo-terminal, waits for
/// the pass phrase prompt and for the terminal to stop echoing, types the
/// pass phrase and Enter, then either sees "Serving" (and fetches the page
/// with curl trusting CA), or sees the server exit. Prints `PROMPTED`,
/// `CURL-EXIT: n` and curl's output, or `EXIT: n`, then the whole terminal
/// transcript between `TRANSCRIPT-BEGIN` and `TRANSCRIPT-END`.
const PTY_SERVER: &str = r#"
import os, pty, select, signal, subprocess, sys, termios, time
binary, cert, key, port, cacert, typed = sys.argv[1:7]
pid, fd = pty.fork()
if pid == 0:
    os.execv(binary, [binary, "--bind", "127.0.0.1:" + port, "--workers", "1",
                      "--cert", cert, "--key", key])
seen = b""
closed = False
def read_until(markers, timeout=20):
    global seen, closed
    deadline = time.monotonic() + timeout
    while not any(m in seen for m in markers) and not closed:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                closed = True
            seen += chunk
    return any(m in seen for m in markers)
def finish(code):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    print("TRANSCRIPT-BEGIN")
    print(seen.decode(errors="replace"))
    print("TRANSCRIPT-END")
    sys.exit(code)
if not read_until([b"Pass phrase"]):
    print("NO PROMPT")
    finish(3)
print("PROMPTED")
# Type only once the terminal no longer echoes, so nothing typed could show.
deadline = time.monotonic() + 10
while termios.tcgetattr(fd)[3] & termios.ECHO:
    if time.monotonic() > deadline:
        print("ECHO NEVER TURNED OFF")
        finish(3)
    time.sleep(0.02)
os.write(fd, typed.encode() + b"\n")
if read_until([b"Serving"]):
    curl = subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "10", "--noproxy", "*",
         "--cacert", cacert, "https://localhost:" + port + "/"],
        capture_output=True, text=True)
    print("CURL-EXIT:", curl.returncode)
    print(curl.stdout)
    print(curl.stderr)
    read_until([b"\x00never"], timeout=0.3)
    finish(0)
# The server stopped (or never said anything): its exit code.
read_until([b"\x00never"], timeout=5)
deadline = time.monotonic() + 10
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("EXIT:", os.waitstatus_to_exitcode(status))
        break
    if time.monotonic() > deadline:
        print("STILL RUNNING")
        break
    time.sleep(0.05)
finish(0)
"#;

fn pty_session(dir: &Path, typed: &str) -> Output {
    let family = Family::Ecdsa;
    let mut cmd = python(
        PTY_SERVER,
        [
            actix_bin().into_os_string(),
            fixture(family, "server.pem").into_os_string(),
            fixture(family, "encrypted-key.pem").into_os_string(),
            OsString::from(free_port().to_string()),
            fixture(family, "ca.pem").into_os_string(),
            OsString::from(typed),
        ],
    );
    for key in inherited_actix_settings() {
        cmd.env_remove(key);
    }
    cmd.current_dir(dir)
        .env("CAROOT", dir.join("ca"))
        .timeout(Duration::from_secs(60))
        .assert_success()
}

/// The part of the transcript the server printed on its terminal.
fn transcript(out: &Output) -> &str {
    let start = out
        .stdout
        .find("TRANSCRIPT-BEGIN")
        .unwrap_or_else(|| panic!("no transcript\n{out}"));
    &out.stdout[start..]
}

#[test]
fn encrypted_key_on_a_terminal_is_asked_for_and_served() {
    if !require_tools(&["python3", "curl"]) {
        return;
    }
    let dir = tempdir();
    let key = fixture(Family::Ecdsa, "encrypted-key.pem");
    let out = pty_session(dir.path(), FIXTURE_PASSPHRASE);
    out.assert_stdout_contains("PROMPTED")
        .assert_stdout_contains("CURL-EXIT: 0")
        .assert_stdout_contains(HTTPS_PAGE);
    let screen = transcript(&out);
    assert!(
        screen.contains(&format!("Pass phrase for {}:", key.display())),
        "the prompt should name the key\n{out}"
    );
    assert!(screen.contains(READY), "{out}");
    assert_no_secret(screen, FIXTURE_PASSPHRASE);
}

#[test]
fn wrong_pass_phrase_on_a_terminal_is_refused() {
    if !require_tools(&["python3", "curl"]) {
        return;
    }
    let dir = tempdir();
    let wrong = "typed the wrong thing";
    let key = fixture(Family::Ecdsa, "encrypted-key.pem");
    let out = pty_session(dir.path(), wrong);
    out.assert_stdout_contains("PROMPTED")
        .assert_stdout_contains("EXIT: 2");
    let screen = transcript(&out);
    assert!(
        screen.contains(&format!("the pass phrase for {} is wrong", key.display())),
        "{out}"
    );
    assert!(!screen.contains(READY), "{out}");
    assert_no_secret(screen, wrong);
}
