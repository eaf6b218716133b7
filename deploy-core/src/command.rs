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
/// assert_eq!(cmd.wrapped_argv(false)[..3], deploy_core::command::SUDO_NON_INTERACTIVE[..]);
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
/// assert_eq!(
///     cmd.to_shell_line(),
///     "cd /srv/app && env 'DJANGO_SETTINGS_MODULE=app.settings' python manage.py migrate"
/// );
///
/// let piped = Command::shell("ls -1t releases | tail -n +6");
/// assert_eq!(piped.to_shell_line(), "sh -c 'ls -1t releases | tail -n +6'");
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
    /// assert_eq!(cmd.to_shell_line(), "cd '/srv/my app' && make");
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
    /// assert_eq!(cmd.to_shell_line(), "sudo -n -- systemctl restart app");
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

    /// The argv a process is started with: `sudo -n --` and `env K=V` wrapped
    /// around the command where needed. Without sudo, environment variables are
    /// expected to be set on the process instead, unless `env_in_argv`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Command;
    ///
    /// let cmd = Command::new(["printenv", "A"]).env("A", "1");
    /// assert_eq!(cmd.wrapped_argv(false), ["printenv", "A"]);
    /// assert_eq!(cmd.wrapped_argv(true), ["env", "A=1", "printenv", "A"]);
    /// let sudo = cmd.sudo(true);
    /// assert_eq!(sudo.wrapped_argv(false), ["sudo", "-n", "--", "env", "A=1", "printenv", "A"]);
    /// ```
    pub fn wrapped_argv(&self, env_in_argv: bool) -> Vec<String> {
        self.wrapped_argv_with_sudo(env_in_argv, SUDO_NON_INTERACTIVE)
    }

    /// [`Command::wrapped_argv`] with another sudo prefix (a transport that
    /// feeds a sudo password on stdin uses [`SUDO_PASSWORD_ON_STDIN`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::command::{Command, SUDO_PASSWORD_ON_STDIN};
    ///
    /// let cmd = Command::new(["whoami"]).sudo(true);
    /// assert_eq!(
    ///     cmd.wrapped_argv_with_sudo(true, SUDO_PASSWORD_ON_STDIN),
    ///     ["sudo", "-S", "-p", "", "--", "whoami"]
    /// );
    /// ```
    pub fn wrapped_argv_with_sudo(&self, env_in_argv: bool, sudo: &[&str]) -> Vec<String> {
        let mut argv = Vec::new();
        if self.sudo {
            argv.extend(sudo.iter().map(|s| (*s).to_owned()));
        }
        if !self.env.is_empty() && (self.sudo || env_in_argv) {
            argv.push("env".to_owned());
            argv.extend(self.env.iter().map(|(k, v)| format!("{k}={v}")));
        }
        argv.extend(self.argv.iter().cloned());
        argv
    }

    /// One POSIX shell line that runs this command (for transports that take a
    /// string, like SSH's `exec`): `cd DIR && sudo -n -- env K=V argv…`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Command;
    ///
    /// let cmd = Command::new(["echo", "hello world"]).cwd("/tmp").env("LANG", "C");
    /// assert_eq!(cmd.to_shell_line(), "cd /tmp && env 'LANG=C' echo 'hello world'");
    /// ```
    pub fn to_shell_line(&self) -> String {
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
    /// assert_eq!(cmd.to_shell_line_with_sudo(SUDO_PASSWORD_ON_STDIN), "sudo -S -p '' -- id");
    /// ```
    pub fn to_shell_line_with_sudo(&self, sudo: &[&str]) -> String {
        let line = quote_argv(&self.wrapped_argv_with_sudo(true, sudo));
        match &self.cwd {
            Some(dir) => format!("cd {} && {line}", quote(dir)),
            None => line,
        }
    }
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
