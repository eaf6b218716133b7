//! A command to run on a target: argv, never a hand-quoted string.
//!
//! Steps build [`Command`]s; targets run them. A transport that needs one
//! shell line (SSH sends a single string) calls [`Command::to_shell_line`]:
//! quoting happens there and nowhere else.

use std::fmt;

/// `sudo` that never prompts: fails at once when a password would be needed.
///
/// # Examples
///
/// ```
/// let cmd = deploy_core::Command::new(["id"]).sudo(true);
/// let argv = cmd.invocation(true, deploy_core::command::SUDO_NON_INTERACTIVE).argv;
/// assert_eq!(argv[..3], deploy_core::command::SUDO_NON_INTERACTIVE[..]);
/// ```
pub const SUDO_NON_INTERACTIVE: &[&str] = &["sudo", "-n", "--"];

/// `sudo` reading its password from the first line of stdin, with no prompt
/// (so the password never appears in argv, logs or events).
///
/// # Examples
///
/// ```
/// assert!(deploy_core::command::SUDO_PASSWORD_ON_STDIN.contains(&"-S"));
/// ```
pub const SUDO_PASSWORD_ON_STDIN: &[&str] = &["sudo", "-S", "-p", "", "--"];

/// A resolved command: what a [`Target`](crate::Target) runs.
///
/// `Debug` shows the argv but not environment values or stdin, which may hold
/// secrets.
///
/// # Examples
///
/// ```
/// use deploy_core::Command;
///
/// let cmd = Command::new(["python", "manage.py", "migrate"])
///     .cwd("/srv/app")
///     .env("DJANGO_SETTINGS_MODULE", "app.settings");
/// let (line, stdin) = cmd.to_shell_line();
/// assert!(line.starts_with("cd /srv/app && sh -c ") && line.ends_with(" sh python manage.py migrate"));
/// assert_eq!(stdin.as_deref(), Some(&b"app.settings\n"[..]));
///
/// let piped = Command::shell("ls -1t releases | tail -n +6");
/// assert_eq!(piped.to_shell_line().0, "sh -c 'ls -1t releases | tail -n +6'");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Command {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Working directory on the target.
    pub cwd: Option<String>,
    /// Run through non-interactive `sudo -n`.
    pub sudo: bool,
    /// Bytes written to the command's standard input (then closed).
    pub stdin: Option<Vec<u8>>,
}

impl Command {
    /// A command from program and arguments.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Command;
    ///
    /// let cmd = Command::new(["git", "rev-parse", "HEAD"]);
    /// assert_eq!(cmd.argv, ["git", "rev-parse", "HEAD"]);
    /// assert!(cmd.cwd.is_none() && cmd.env.is_empty() && !cmd.sudo);
    /// ```
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Command {
            argv: argv.into_iter().map(Into::into).collect(),
            ..Command::default()
        }
    }

    /// `sh -c SCRIPT`: the explicit form for pipes and redirections.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Command;
    ///
    /// let cmd = Command::shell("ls -1t releases | tail -n +6");
    /// assert_eq!(cmd.argv, ["sh", "-c", "ls -1t releases | tail -n +6"]);
    /// ```
    pub fn shell(script: impl Into<String>) -> Self {
        Command::new(["sh".to_owned(), "-c".to_owned(), script.into()])
    }

    /// Sets the working directory.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Command;
    ///
    /// let cmd = Command::new(["make"]).cwd("/srv/my app");
    /// assert_eq!(cmd.cwd.as_deref(), Some("/srv/my app"));
    /// assert_eq!(cmd.to_shell_line().0, "cd '/srv/my app' && make");
    /// ```
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Adds an environment variable.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Command;
    ///
    /// let cmd = Command::new(["rake", "db:migrate"]).env("RAILS_ENV", "production");
    /// assert_eq!(cmd.env, [("RAILS_ENV".to_string(), "production".to_string())]);
    /// ```
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs the command through `sudo -n`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Command;
    ///
    /// let cmd = Command::new(["systemctl", "restart", "app"]).sudo(true);
    /// assert_eq!(cmd.to_shell_line().0, "sudo -n -- systemctl restart app");
    /// ```
    pub fn sudo(mut self, sudo: bool) -> Self {
        self.sudo = sudo;
        self
    }

    /// Feeds these bytes to standard input.
    ///
    /// # Examples
    ///
    /// The bytes are kept, but `Debug` shows only their length:
    ///
    /// ```
    /// use deploy_core::Command;
    ///
    /// let cmd = Command::new(["chpasswd"]).stdin("app:hunter2\n");
    /// assert_eq!(cmd.stdin.as_deref(), Some(&b"app:hunter2\n"[..]));
    /// assert!(format!("{cmd:?}").contains("stdin: Some(12)"));
    /// ```
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// How a process runs this command: its argv (`sudo` wrapped around
    /// where asked) and the bytes for its stdin.
    ///
    /// With `env_set_by_caller`, the caller sets [`Command::env`] on the
    /// process itself and the argv is the command's. Otherwise (through
    /// `sudo`, which resets the environment, or over a transport that takes
    /// one shell line) environment values still never go in argv, where
    /// anyone on the host reads them in `ps`: a `sh` reads them from the
    /// first lines of stdin, exports them and `exec`s the command, which
    /// then reads the rest of stdin as its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Command;
    /// use deploy_core::command::SUDO_NON_INTERACTIVE;
    ///
    /// let cmd = Command::new(["printenv", "A"]).env("A", "s3cret");
    /// assert_eq!(cmd.invocation(true, SUDO_NON_INTERACTIVE).argv, ["printenv", "A"]);
    /// let through_sudo = cmd.sudo(true).invocation(false, SUDO_NON_INTERACTIVE);
    /// assert_eq!(through_sudo.argv[..5], ["sudo", "-n", "--", "sh", "-c"]);
    /// assert!(!through_sudo.argv.concat().contains("s3cret"));
    /// assert_eq!(through_sudo.stdin.as_deref(), Some(&b"s3cret\n"[..]));
    /// ```
    pub fn invocation(&self, env_set_by_caller: bool, sudo: &[&str]) -> Invocation {
        let mut argv = Vec::new();
        if self.sudo {
            argv.extend(sudo.iter().map(|s| (*s).to_owned()));
        }
        let mut stdin = self.stdin.clone();
        if !self.env.is_empty() && (self.sudo || !env_set_by_caller) {
            let (script, lines) = env_reader(&self.env);
            argv.extend(["sh".to_owned(), "-c".to_owned(), script, "sh".to_owned()]);
            let mut bytes = lines;
            bytes.extend_from_slice(self.stdin.as_deref().unwrap_or_default());
            stdin = Some(bytes);
        }
        argv.extend(self.argv.iter().cloned());
        Invocation { argv, stdin }
    }

    /// One POSIX shell line that runs this command (for transports that take
    /// a string, like SSH's `exec`): `cd DIR && sudo -n -- argv…`, and the
    /// bytes for its stdin (environment values first, as
    /// [`Command::invocation`] says).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Command;
    ///
    /// let (line, stdin) = Command::new(["echo", "hello world"]).cwd("/tmp").to_shell_line();
    /// assert_eq!(line, "cd /tmp && echo 'hello world'");
    /// assert!(stdin.is_none());
    /// let (line, stdin) = Command::new(["env"]).env("LANG", "C").to_shell_line();
    /// assert!(line.starts_with("sh -c ") && !line.contains("=C"));
    /// assert_eq!(stdin.as_deref(), Some(&b"C\n"[..]));
    /// ```
    pub fn to_shell_line(&self) -> (String, Option<Vec<u8>>) {
        self.to_shell_line_with_sudo(SUDO_NON_INTERACTIVE)
    }

    /// [`Command::to_shell_line`] with another sudo prefix.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::command::{Command, SUDO_PASSWORD_ON_STDIN};
    ///
    /// let cmd = Command::new(["id"]).sudo(true);
    /// assert_eq!(cmd.to_shell_line_with_sudo(SUDO_PASSWORD_ON_STDIN).0, "sudo -S -p '' -- id");
    /// ```
    pub fn to_shell_line_with_sudo(&self, sudo: &[&str]) -> (String, Option<Vec<u8>>) {
        let Invocation { argv, stdin } = self.invocation(false, sudo);
        let line = quote_argv(&argv);
        let line = match &self.cwd {
            Some(dir) => format!("cd {} && {line}", quote(dir)),
            None => line,
        };
        (line, stdin)
    }
}

/// What starts a [`Command`]: see [`Command::invocation`].
///
/// # Examples
///
/// ```
/// use deploy_core::{Command, command::SUDO_NON_INTERACTIVE};
///
/// let run = Command::new(["id", "-u"]).sudo(true).invocation(true, SUDO_NON_INTERACTIVE);
/// assert_eq!(run.argv, ["sudo", "-n", "--", "id", "-u"]);
/// assert!(run.stdin.is_none());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Bytes for standard input (then closed), if any.
    pub stdin: Option<Vec<u8>>,
}

impl fmt::Debug for Invocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invocation")
            .field("argv", &self.argv)
            .field("stdin", &self.stdin.as_ref().map(|s| s.len()))
            .finish()
    }
}

/// The `sh -c` script that reads `env`'s values from stdin, one line each
/// (`\` and newline escaped, undone by `printf %b`), exports them and
/// `exec`s its arguments; and those lines. A name that `sh` cannot export
/// (`A.B`) is passed by `env` in argv instead, its value with it.
fn env_reader(env: &[(String, String)]) -> (String, Vec<u8>) {
    let mut script = String::new();
    let mut lines = Vec::new();
    let mut by_env = Vec::new();
    for (key, value) in env {
        let exportable = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !exportable {
            by_env.push(quote(&format!("{key}={value}")));
            continue;
        }
        script.push_str(&format!(
            "IFS= read -r __deploy_v && {key}=$(printf '%b_' \"$__deploy_v\") && {key}=${{{key}%_}} && export {key} && "
        ));
        let escaped = value.replace('\\', "\\\\").replace('\n', "\\n");
        lines.extend_from_slice(escaped.as_bytes());
        lines.push(b'\n');
    }
    script.push_str("unset __deploy_v && exec ");
    if !by_env.is_empty() {
        script.push_str("env ");
        script.push_str(&by_env.join(" "));
        script.push(' ');
    }
    script.push_str("\"$@\"");
    (script, lines)
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("argv", &self.argv)
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("cwd", &self.cwd)
            .field("sudo", &self.sudo)
            .field("stdin", &self.stdin.as_ref().map(|s| s.len()))
            .finish()
    }
}

/// Quotes one word for a POSIX shell: the only place the project quotes.
///
/// A NUL byte cannot be passed to a program at all, so it is dropped.
///
/// # Examples
///
/// ```
/// assert_eq!(deploy_core::command::quote("plain"), "plain");
/// assert_eq!(deploy_core::command::quote("two words"), "'two words'");
/// assert_eq!(deploy_core::command::quote(""), "''");
/// ```
pub fn quote(word: &str) -> String {
    let word = if word.contains('\0') {
        std::borrow::Cow::Owned(word.replace('\0', ""))
    } else {
        std::borrow::Cow::Borrowed(word)
    };
    shlex::try_quote(&word)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| format!("'{}'", word.replace('\'', "'\\''")))
}

/// Quotes and joins an argv.
///
/// # Examples
///
/// ```
/// use deploy_core::command::quote_argv;
///
/// assert_eq!(quote_argv(&["grep", "-r", "two words", "src/"]), "grep -r 'two words' src/");
/// assert_eq!(quote_argv::<&str>(&[]), "");
/// ```
pub fn quote_argv<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| quote(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}
