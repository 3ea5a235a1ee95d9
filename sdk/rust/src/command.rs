// SPDX-License-Identifier: Apache-2.0
//! Commands: how they are described (the command-line rule, options) and
//! how they end.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};

/// How a command ended, and its output when it was captured.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ExecResult {
    /// Its status: 128+N if signal N killed it (137 when its timeout
    /// killed it), 127 if it was not found, 126 if it could not run, as a
    /// shell reports them.
    pub exit_code: i32,
    /// The signal that killed it, 0 if it exited.
    pub signal: i32,
    /// Its timeout ([`Command::timeout`](crate::Command::timeout)) killed
    /// it (with SIGKILL).
    pub timed_out: bool,
    /// Its stdout (empty when it went to a callback, or was streamed).
    pub stdout: Vec<u8>,
    /// Its stderr, as stdout.
    pub stderr: Vec<u8>,
}

impl ExecResult {
    /// Whether it exited 0 (not killed, not timed out).
    pub fn success(&self) -> bool {
        self.exit_code == 0 && self.signal == 0 && !self.timed_out
    }

    /// stdout as text (invalid UTF-8 replaced).
    pub fn stdout_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// stderr as text (invalid UTF-8 replaced).
    pub fn stderr_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }

    /// `Err(Error::Exit)` unless it exited 0.
    pub fn check(self) -> Result<ExecResult> {
        if self.success() {
            Ok(self)
        } else {
            Err(Error::Exit(Box::new(crate::error::ExitError { result: self })))
        }
    }
}

impl fmt::Debug for ExecResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecResult")
            .field("exit_code", &self.exit_code)
            .field("signal", &self.signal)
            .field("timed_out", &self.timed_out)
            .field("stdout", &self.stdout_str())
            .field("stderr", &self.stderr_str())
            .finish()
    }
}

/// One thing a streamed command did, or that happened to it, in order.
/// More kinds may come: match with a `_` arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExecEvent {
    /// A chunk of its stdout.
    Stdout(Vec<u8>),
    /// A chunk of its stderr.
    Stderr(Vec<u8>),
    /// The sandbox was paused because its host disk is full: the
    /// supervisor's words ("sandbox NAME is paused: the host disk under
    /// DIR is full ..."). The command waits, and goes on by itself once
    /// there is room.
    Paused(String),
    /// The sandbox runs again ("sandbox NAME runs again: the host disk has
    /// room (paused N s)"), said 2 s after it does.
    Resumed(String),
    /// It ended (the output fields are empty).
    Exit(ExecResult),
}

/// Splits a command line into words the way a POSIX shell splits a simple
/// command, and nothing more (the rule `exec` uses, the same as Python's
/// `shlex.split` and the other SDKs'):
///
/// - blanks (space, tab, newline, carriage return) separate words;
/// - `'single quotes'` keep everything between them as it is;
/// - `"double quotes"` keep everything as it is but `\"` and `\\`;
/// - outside quotes, a backslash keeps the next character as it is;
/// - quoted and unquoted parts next to each other make one word
///   (`a"b c"d` is `ab cd`); `""` and `''` make an empty word.
///
/// Nothing is expanded: no variables, globs or `~`; `| ; & < >` are
/// ordinary characters. For any of that use `shell`, which runs `sh -c`.
/// An unterminated quote or a trailing backslash is [`Error::Invalid`].
pub fn split_command(line: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        match quote {
            Some('\'') => {
                if ch == '\'' {
                    quote = None;
                } else {
                    cur.push(ch);
                }
            }
            Some(_) => match ch {
                '"' => quote = None,
                '\\' if matches!(chars.peek(), Some('"') | Some('\\')) => cur.push(chars.next().unwrap()),
                _ => cur.push(ch),
            },
            None => match ch {
                ' ' | '\t' | '\n' | '\r' => {
                    if in_word {
                        words.push(std::mem::take(&mut cur));
                        in_word = false;
                    }
                }
                '\'' | '"' => {
                    quote = Some(ch);
                    in_word = true;
                }
                '\\' => match chars.next() {
                    Some(next) => {
                        cur.push(next);
                        in_word = true;
                    }
                    None => {
                        return Err(Error::invalid(
                            "split command",
                            format!("the command line ends with a lone backslash: {line:?}"),
                        ))
                    }
                },
                _ => {
                    cur.push(ch);
                    in_word = true;
                }
            },
        }
    }
    if let Some(q) = quote {
        return Err(Error::invalid(
            "split command",
            format!("the command line has an unterminated {q} quote: {line:?}"),
        ));
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// A callback given each chunk of a stream as it comes.
pub(crate) type ChunkFn = Box<dyn FnMut(&[u8]) + Send>;

/// What a command is: its words and options, shared by the blocking and
/// the async `Command`.
#[derive(Default)]
pub(crate) struct ExecSpec {
    pub(crate) argv: Vec<String>,
    /// A command line that did not split, reported when it runs.
    pub(crate) bad: Option<Error>,
    pub(crate) env: Vec<String>,
    pub(crate) cwd: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) tty: Option<(u32, u32)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) stdin: Option<Vec<u8>>,
    pub(crate) stdin_piped: bool,
    pub(crate) check: bool,
    pub(crate) on_stdout: Option<ChunkFn>,
    pub(crate) on_stderr: Option<ChunkFn>,
}

impl ExecSpec {
    pub(crate) fn program(program: &str) -> ExecSpec {
        ExecSpec { argv: vec![program.to_owned()], ..Default::default() }
    }

    pub(crate) fn line(line: &str) -> ExecSpec {
        match split_command(line) {
            Ok(argv) => ExecSpec { argv, ..Default::default() },
            Err(e) => ExecSpec { bad: Some(e), ..Default::default() },
        }
    }

    pub(crate) fn argv<I, S>(argv: I) -> ExecSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ExecSpec { argv: argv.into_iter().map(Into::into).collect(), ..Default::default() }
    }

    pub(crate) fn shell(script: &str) -> ExecSpec {
        ExecSpec::argv(["sh", "-c", script])
    }

    /// "exec PROGRAM", for messages.
    pub(crate) fn op(&self) -> String {
        match self.argv.first() {
            Some(p) => format!("exec {p}"),
            None => "exec".to_owned(),
        }
    }
}

/// The builder methods of `Command`, the same in the blocking and the
/// async API.
macro_rules! command_options {
    () => {
        /// Adds an argument.
        pub fn arg(mut self, arg: impl Into<String>) -> Self {
            self.spec.argv.push(arg.into());
            self
        }

        /// Adds arguments.
        pub fn args<I, S>(mut self, args: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.spec.argv.extend(args.into_iter().map(Into::into));
            self
        }

        /// Sets an environment variable of the command (on top of the
        /// sandbox's).
        pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
            self.spec.env.push(format!("{}={}", key.into(), value.into()));
            self
        }

        /// Sets environment variables of the command.
        pub fn envs<I, K, V>(mut self, vars: I) -> Self
        where
            I: IntoIterator<Item = (K, V)>,
            K: Into<String>,
            V: Into<String>,
        {
            for (k, v) in vars {
                self.spec.env.push(format!("{}={}", k.into(), v.into()));
            }
            self
        }

        /// The command's working directory in the guest.
        pub fn current_dir(mut self, dir: impl Into<String>) -> Self {
            self.spec.cwd = Some(dir.into());
            self
        }

        /// The guest user it runs as: a name, a uid or uid:gid.
        pub fn user(mut self, user: impl Into<String>) -> Self {
            self.spec.user = Some(user.into());
            self
        }

        /// A pseudo-terminal of @rows x @cols (0: 24x80); stdout and
        /// stderr are then one stream, on stdout.
        pub fn tty(mut self, rows: u32, cols: u32) -> Self {
            self.spec.tty = Some((rows, cols));
            self
        }

        /// Kills the command's process group (SIGKILL) @d after it
        /// started, on the host's clock, even if this program goes away;
        /// it then ends with `timed_out` set (exit code 137, signal 9).
        pub fn timeout(mut self, d: std::time::Duration) -> Self {
            self.spec.timeout = Some(d);
            self
        }

        /// Feeds the command @data on its stdin, then end of file.
        pub fn stdin_bytes(mut self, data: impl Into<Vec<u8>>) -> Self {
            self.spec.stdin = Some(data.into());
            self
        }

        /// Keeps the command's stdin open for `Process::stdin` (`spawn`);
        /// without it (and without `stdin_bytes`) it reads end of file.
        pub fn stdin_piped(mut self) -> Self {
            self.spec.stdin_piped = true;
            self
        }

        /// A command that does not exit 0 is an [`Error::Exit`](crate::Error::Exit)
        /// holding its result; without it any exit status is data.
        pub fn check(mut self) -> Self {
            self.spec.check = true;
            self
        }

        /// Calls @f with each chunk of stdout as it comes, instead of
        /// capturing it (`output`).
        pub fn on_stdout(mut self, f: impl FnMut(&[u8]) + Send + 'static) -> Self {
            self.spec.on_stdout = Some(Box::new(f));
            self
        }

        /// Calls @f with each chunk of stderr as it comes, instead of
        /// capturing it (`output`).
        pub fn on_stderr(mut self, f: impl FnMut(&[u8]) + Send + 'static) -> Self {
            self.spec.on_stderr = Some(Box::new(f));
            self
        }
    };
}

pub(crate) use command_options;

#[cfg(test)]
mod tests {
    use super::split_command;

    /// The command-line rule, case by case (Python's shlex.split and the
    /// Go SDK agree on every one of these).
    #[test]
    fn split() {
        let cases: &[(&str, &[&str])] = &[
            ("pip install numpy pandas torch", &["pip", "install", "numpy", "pandas", "torch"]),
            ("  echo \t a\n b  ", &["echo", "a", "b"]),
            (r#"python -c "print('hello')""#, &["python", "-c", "print('hello')"]),
            (r#"echo 'a "b" c'"#, &["echo", r#"a "b" c"#]),
            (r#"echo "a \"b\" \\ \$x""#, &["echo", r#"a "b" \ \$x"#]),
            (r"echo a\ b \'c", &["echo", "a b", "'c"]),
            (r#"echo a"b c"d"#, &["echo", "ab cd"]),
            (r#"echo "" ''"#, &["echo", "", ""]),
            ("echo $HOME *.txt ~ a|b ; c > d", &["echo", "$HOME", "*.txt", "~", "a|b", ";", "c", ">", "d"]),
            ("echo 'it''s'", &["echo", "its"]),
            ("", &[]),
            ("   ", &[]),
            ("émoji ✓ 'ünï'", &["émoji", "✓", "ünï"]),
        ];
        for (line, want) in cases {
            assert_eq!(split_command(line).unwrap(), *want, "{line:?}");
        }
        for bad in [r#"echo "abc"#, "echo 'abc", r"echo abc\"] {
            let e = split_command(bad).unwrap_err();
            assert_eq!(e.name(), "MSB_E_INVALID", "{bad:?}");
        }
    }
}
