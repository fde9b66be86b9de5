//! Servers on loopback for the tests: free ports, and `Server`, a child
//! process that is ready once it prints its line and accepts a connection,
//! and is killed when dropped.

use std::ffi::{OsStr, OsString};
use std::fs::{self, OpenOptions};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::*;

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
            match Self::try_start(
                what,
                SocketAddr::new(ip, free_port_on(ip)),
                ready_marker,
                &make,
            ) {
                Ok(server) => return server,
                // Another test took the port between free_port and bind.
                Err(log) if log.contains("in use") => last_log = log,
                Err(log) => {
                    panic!("{what} did not start\n--- server log ---\n{log}\n------------------")
                }
            }
        }
        panic!("{what} found no free port in three attempts\n--- last log ---\n{last_log}");
    }

    /// [`Server::start`] on this very address (a server coming back where
    /// a client expects it), failing with the log if it does not start.
    pub fn start_at(
        what: &str,
        addr: SocketAddr,
        ready_marker: &'static str,
        make: impl Fn(u16) -> Command,
    ) -> Server {
        Self::try_start(what, addr, ready_marker, &make).unwrap_or_else(|log| {
            panic!("{what} did not start on {addr}\n--- server log ---\n{log}\n------------------")
        })
    }

    fn try_start(
        what: &str,
        addr: SocketAddr,
        ready_marker: &'static str,
        make: &impl Fn(u16) -> Command,
    ) -> Result<Server, String> {
        let dir = tempdir();
        let log = dir.path().join("server.log");
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("failed to create {}: {e}", log.display()));
        let file2 = file
            .try_clone()
            .unwrap_or_else(|e| panic!("failed to share {}: {e}", log.display()));
        let mut cmd = make(addr.port());
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(file2))
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start {what} ({cmd:?}): {e}"));
        let mut server = Server {
            child,
            addr,
            what: format!("{what} ({cmd:?})"),
            ready_marker,
            log,
            _dir: dir,
        };
        server.wait_until_ready().map(|()| server)
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
