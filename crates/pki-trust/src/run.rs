//! Running the stores' tools: found on the environment's path, run as root
//! through `sudo` only when needed (and announced first), failures turned
//! into errors that quote what the tool said.

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::environment::Environment;
use crate::report::TrustError;
use pki::fs::{Overwrite, Secrecy};

/// Who a command runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum As {
    /// The current user.
    User,
    /// Root: directly when we are root, else through sudo.
    Root,
}

pub(crate) struct Runner<'a> {
    pub(crate) env: &'a Environment,
    announce: &'a mut dyn FnMut(&str),
}

impl<'a> Runner<'a> {
    pub(crate) fn new(env: &'a Environment, announce: &'a mut dyn FnMut(&str)) -> Self {
        Runner { env, announce }
    }

    /// The program `name` on the path, or an error saying which package has it.
    pub(crate) fn program(
        &self,
        name: &'static str,
        hint: &'static str,
    ) -> Result<PathBuf, TrustError> {
        self.env
            .find_program(name)
            .ok_or(TrustError::ToolMissing { tool: name, hint })
    }

    /// Runs `program args…`, feeding `input` on stdin; returns its stdout.
    pub(crate) fn run(
        &mut self,
        program: &Path,
        args: &[&OsStr],
        input: Option<&[u8]>,
        who: As,
    ) -> Result<String, TrustError> {
        let mut line = quote(program.as_os_str());
        for arg in args {
            line.push(' ');
            line.push_str(&quote(arg));
        }
        let mut command = if who == As::Root && !self.env.root {
            let sudo = self
                .env
                .find_program("sudo")
                .ok_or_else(|| TrustError::NoSudo { what: line.clone() })?;
            line = format!("sudo {line}");
            (self.announce)(&line);
            let mut c = Command::new(sudo);
            c.arg("--").arg(program);
            c
        } else {
            Command::new(program)
        };
        command
            .args(args)
            .env("LC_ALL", "C")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| TrustError::Spawn {
            program: program.to_path_buf(),
            cause: source,
        })?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            // A tool that exits early closes its stdin; its status says why.
            let _ = stdin.write_all(input);
        }
        let output = child
            .wait_with_output()
            .map_err(|source| TrustError::Spawn {
                program: program.to_path_buf(),
                cause: source,
            })?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            return Ok(stdout);
        }
        let said = format!("{}\n{stdout}", String::from_utf8_lossy(&output.stderr));
        let lines: Vec<&str> = said
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let tail = lines[lines.len().saturating_sub(4)..].join(" / ");
        Err(TrustError::CommandFailed {
            command: line,
            status: output.status.code().map_or_else(
                || "killed by a signal".to_owned(),
                |c| format!("exit status {c}"),
            ),
            output: if tail.is_empty() {
                "no output".to_owned()
            } else {
                tail
            },
        })
    }

    /// A system administration program, looked for in the `sbin` directories too.
    pub(crate) fn admin_program(
        &self,
        name: &'static str,
        hint: &'static str,
    ) -> Result<PathBuf, TrustError> {
        self.env
            .find_admin_program(name)
            .ok_or(TrustError::ToolMissing { tool: name, hint })
    }

    /// Writes a public file into a root-owned directory: atomically when we
    /// are root, else through `sudo install -m 0644` (not `tee`, whose file
    /// would get the user's umask and could end up unreadable to the user).
    pub(crate) fn write_root_file(
        &mut self,
        path: &Path,
        contents: &[u8],
    ) -> Result<(), TrustError> {
        if self.env.root {
            return pki::fs::write_atomic(path, contents, Secrecy::Public, Overwrite::Replace)
                .map_err(|e| TrustError::NotApplied(e.to_string()));
        }
        let install = self.program("install", "it is part of coreutils")?;
        let args = [
            OsStr::new("-m"),
            OsStr::new("0644"),
            OsStr::new("/dev/stdin"),
            path.as_os_str(),
        ];
        self.run(&install, &args, Some(contents), As::Root)
            .map(drop)
    }

    /// Removes a file from a root-owned directory.
    pub(crate) fn remove_root_file(&mut self, path: &Path) -> Result<(), TrustError> {
        if self.env.root {
            return std::fs::remove_file(path).map_err(|source| TrustError::Io {
                action: "remove",
                path: path.to_path_buf(),
                cause: source,
            });
        }
        let rm = self.program("rm", "it is part of coreutils")?;
        self.run(
            &rm,
            &[OsStr::new("-f"), OsStr::new("--"), path.as_os_str()],
            None,
            As::Root,
        )
        .map(drop)
    }
}

/// Quotes an argument for display the way a shell would need it.
pub(crate) fn quote(arg: &OsStr) -> String {
    let s = arg.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@=,%".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Os;

    fn env(root: bool) -> Environment {
        Environment {
            home: None,
            java_home: None,
            path: std::env::var_os("PATH"),
            root,
            os: Os::Other,
        }
    }

    #[test]
    fn failures_quote_the_command_and_what_it_said() {
        let env = env(true);
        let mut heard = Vec::new();
        let mut announce = |l: &str| heard.push(l.to_owned());
        let mut runner = Runner::new(&env, &mut announce);
        let sh = runner.program("sh", "").unwrap();
        let e = runner
            .run(
                &sh,
                &[
                    OsStr::new("-c"),
                    OsStr::new("echo one; echo two >&2; exit 3"),
                ],
                None,
                As::Root,
            )
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("-c 'echo one; echo two >&2; exit 3'"),
            "{text}"
        );
        assert!(text.contains("exit status 3"), "{text}");
        assert!(text.contains("two / one"), "{text}");
        assert!(heard.is_empty(), "root needs no sudo: {heard:?}");
    }

    #[test]
    fn input_reaches_the_program() {
        let env = env(false);
        let mut announce = |_: &str| {};
        let mut runner = Runner::new(&env, &mut announce);
        let cat = runner.program("cat", "").unwrap();
        assert_eq!(
            runner.run(&cat, &[], Some(b"abc"), As::User).unwrap(),
            "abc"
        );
    }

    #[test]
    fn missing_tools_say_which_package_has_them() {
        let runner_env = Environment {
            path: Some("/nonexistent".into()),
            ..env(false)
        };
        let mut announce = |_: &str| {};
        let runner = Runner::new(&runner_env, &mut announce);
        let e = runner
            .program("certutil", "install libnss3-tools")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "certutil is not installed; install libnss3-tools"
        );
    }
}
