//! Command-line arguments, as clap reads them (the raw stage; `commands`
//! turns them into library calls).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Exit codes: 0 success · 1 a step failed · 2 bad usage or configuration (nothing ran) · 3 an approval was refused (the run stopped there), or `deploy ci` matched no rule with on_no_match = \"fail\" · 4 the environment is locked by another run · 130 interrupted

Config: --config, else $DEPLOY_CONFIG, else the nearest deploy.toml in this directory or above.";

/// Ship web applications to servers from a typed, inspectable plan.
#[derive(Debug, Parser)]
#[command(name = "deploy", version, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    /// The deploy.toml to use.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "DEPLOY_CONFIG",
        value_name = "FILE"
    )]
    pub(crate) config: Option<PathBuf>,

    /// Say more (which config file, every output line).
    #[arg(long, short = 'v', global = true, env = "DEPLOY_VERBOSE")]
    pub(crate) verbose: bool,

    /// Say less (no progress, only errors and the report).
    #[arg(
        long,
        short = 'q',
        global = true,
        env = "DEPLOY_QUIET",
        conflicts_with = "verbose"
    )]
    pub(crate) quiet: bool,

    /// Colour on a terminal: auto (unless NO_COLOR; CLICOLOR_FORCE forces
    /// it), always or never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub(crate) color: crate::output::ColorChoice,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print what a task would do on each host; touches nothing.
    Plan(Selection),
    /// Run a task.
    Run(RunArgs),
    /// Run the environment that deploy.toml's [ci] rules pick from this CI
    /// build's branch or tag (GitHub Actions, GitLab CI, CircleCI, Travis CI).
    Ci(CiArgs),
    /// List tasks with their descriptions and parameters, and the
    /// environments.
    Tasks {
        /// Resolve parameter defaults for this environment (else for every
        /// environment: shown where they all agree).
        #[arg(value_name = "ENV")]
        environment: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The releases of an environment, newest first: the live one marked
    /// (`*`), failed ones shown as failed.
    Releases {
        /// The environment (else the default one).
        #[arg(value_name = "ENV")]
        environment: Option<String>,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Back up the environment's database (its `backup` setting) now.
    Backup {
        /// The environment (else the default one).
        #[arg(value_name = "ENV")]
        environment: Option<String>,
    },
    /// The backups of the environment's database, newest first: id, time,
    /// size, and the release that took it.
    Backups {
        /// The environment (else the default one).
        #[arg(value_name = "ENV")]
        environment: Option<String>,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Put a backup back into the environment's database (after approval).
    Restore {
        /// `[ENV] ID`: the environment (else the default one) and the
        /// backup's id (see `deploy backups`).
        #[arg(value_name = "ENV_ID", num_args = 1..=2, required = true)]
        words: Vec<String>,
        /// Approve in advance (needed when no one is at a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Put back what a release ran (default: the last successful release
    /// before the live one): its task and parameters again, every image
    /// pinned to the digest it recorded. Data are never rolled back.
    Rollback(RollbackArgs),
    /// Run TO's task with exactly what FROM's live release runs (the same
    /// image digests, code revision and parameters, unless overridden).
    Promote(PromoteArgs),
    /// Run a command on each selected host (or, with --service, in that
    /// service's container there), output streamed, each host's exit status
    /// reported; `-i` runs it on one host's terminal.
    Exec(ExecArgs),
    /// What runs on each host: the live release, the containers deploy
    /// manages (image, digest, state, health, uptime, restarts), `current`,
    /// and what differs from the release. Exit 1 when a host did not answer
    /// or something differs.
    Status(StatusArgs),
    /// What the services printed: the containers deploy manages and the
    /// environment's log files, every selected host at once, each line as
    /// `host service | …`; `-f` follows until Ctrl-C.
    Logs(LogsArgs),
    /// The audit log of an environment: who ran what, when, how it ended.
    Audit {
        /// The environment (else the default one).
        #[arg(value_name = "ENV")]
        environment: Option<String>,
        /// How many of the newest lines.
        #[arg(short = 'n', default_value_t = 20)]
        lines: usize,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The deploy lock of an environment: who holds it; take it across
    /// runs (maintenance); let go.
    Lock {
        #[command(subcommand)]
        action: LockAction,
        /// The environment (else the default one).
        #[arg(long, short = 'e', global = true, value_name = "ENV")]
        environment: Option<String>,
    },
    /// Write a commented deploy.toml for the project in this directory (a
    /// compose file, a Dockerfile, or neither: release directories over
    /// SSH); never overwrites one.
    Init {
        /// The project's directory (default: the working directory).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print a completion script for bash, zsh or fish (environment and
    /// task names come from the nearest deploy.toml as you type).
    Completions {
        /// The shell.
        #[arg(value_name = "SHELL")]
        shell: CompletionShell,
    },
    /// Print the man page (roff), or write every page to a directory.
    Man {
        /// A subcommand's page (`deploy man run` is deploy-run(1)).
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
        /// Write deploy.1 and one page per subcommand into DIR instead.
        #[arg(long, value_name = "DIR", conflicts_with = "command")]
        out_dir: Option<PathBuf>,
    },
    /// The environment and task names of the nearest deploy.toml, one a
    /// line (for the completion scripts).
    #[command(name = "__complete-names", hide = true)]
    CompleteNames {
        /// Which names.
        #[arg(value_enum, default_value_t = NameKind::All)]
        kind: NameKind,
    },
}

/// The shells `deploy completions` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CompletionShell {
    /// GNU bash (source it, or put it in bash-completion's directory).
    Bash,
    /// zsh (put it in a directory of `$fpath` as `_deploy`).
    Zsh,
    /// fish (put it in `~/.config/fish/completions/deploy.fish`).
    Fish,
}

/// What `deploy __complete-names` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum NameKind {
    /// Environments, then tasks.
    All,
    /// Environments only.
    Environments,
    /// Tasks only.
    Tasks,
}

/// What `deploy lock` does.
#[derive(Debug, Subcommand)]
pub(crate) enum LockAction {
    /// Who holds the lock, since when, for what.
    Status,
    /// Take the lock until `deploy lock release` (runs are refused meanwhile).
    Acquire {
        /// Why (shown to whoever is refused).
        #[arg(long, short = 'm')]
        message: Option<String>,
    },
    /// Let go of the lock (another's only with --force).
    Release {
        /// Release a lock someone else holds.
        #[arg(long)]
        force: bool,
    },
}

/// `[ENV] [TASK] [KEY=VALUE]...`
#[derive(Debug, Args)]
pub(crate) struct Selection {
    /// Environment, then task (either may be left to the config's defaults),
    /// then task arguments as key=value.
    #[arg(value_name = "ENV | TASK | KEY=VALUE")]
    pub(crate) words: Vec<String>,

    /// Print JSON (the plan, or for `run` JSON-lines events) on stdout.
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) on: HostSelection,
}

impl Selection {
    /// The hosts `-H`/`-R` limit a run to.
    pub(crate) fn limit(&self) -> deploy_core::plan::Limit {
        self.on.limit()
    }
}

/// `-H HOST,...` / `-R ROLE,...`: some of an environment's hosts.
#[derive(Clone, Debug, Default, Args)]
pub(crate) struct HostSelection {
    /// Limit it to these hosts of the environment (comma-separated);
    /// `once` steps and barriers apply within them.
    #[arg(long, short = 'H', value_name = "HOST,...", value_delimiter = ',')]
    pub(crate) hosts: Vec<String>,

    /// Limit it to hosts with any of these roles (comma-separated; with
    /// --hosts, a host must be named and have one).
    #[arg(long, short = 'R', value_name = "ROLE,...", value_delimiter = ',')]
    pub(crate) roles: Vec<String>,
}

impl HostSelection {
    /// The limit these flags say.
    pub(crate) fn limit(&self) -> deploy_core::plan::Limit {
        deploy_core::plan::Limit {
            hosts: self.hosts.clone(),
            roles: self.roles.clone(),
            ..deploy_core::plan::Limit::default()
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) selection: Selection,

    /// Print the plan and stop (the same as `deploy plan`).
    #[arg(long, short = 'n', env = "DEPLOY_DRY_RUN")]
    pub(crate) dry_run: bool,

    /// Approve approval gates in advance (needed when no one is at a terminal).
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,

    /// Most steps running at once across hosts.
    #[arg(long, value_name = "N")]
    pub(crate) concurrency: Option<usize>,

    /// How long running steps get to finish after Ctrl-C.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub(crate) grace: String,

    /// Wait this long for another run's deploy lock instead of failing at once.
    #[arg(long, value_name = "DURATION")]
    pub(crate) lock_wait: Option<String>,

    /// Why this run holds the lock (shown to whoever it blocks).
    #[arg(long, short = 'm')]
    pub(crate) message: Option<String>,
}

/// `deploy ci [TASK] [KEY=VALUE]...`
#[derive(Debug, Args)]
pub(crate) struct CiArgs {
    /// The task (when the matching rule names none; else the default task),
    /// then task arguments as key=value.
    #[arg(value_name = "TASK | KEY=VALUE")]
    pub(crate) words: Vec<String>,

    /// The build's branch (instead of the CI's variables).
    #[arg(long, value_name = "NAME", conflicts_with = "tag")]
    pub(crate) branch: Option<String>,

    /// The build's tag (instead of the CI's variables).
    #[arg(long, value_name = "NAME")]
    pub(crate) tag: Option<String>,

    /// The build's commit (instead of the CI's variables).
    #[arg(long, value_name = "SHA")]
    pub(crate) sha: Option<String>,

    /// Print which variables were read, which rule matched and what would
    /// run; run nothing.
    #[arg(long)]
    pub(crate) explain: bool,

    /// Approve approval gates (needed for an environment with `approval =
    /// "required"`: the CI's own approval gate is the approval).
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,

    /// Print JSON-lines events on stdout.
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) on: HostSelection,

    /// Most steps running at once across hosts.
    #[arg(long, value_name = "N")]
    pub(crate) concurrency: Option<usize>,

    /// How long running steps get to finish after Ctrl-C.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub(crate) grace: String,
}

/// `deploy rollback [ENV] [RELEASE] [KEY=VALUE]...`
#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    /// The run's options; its words are `[ENV] [RELEASE] [KEY=VALUE]...`
    /// (a release id, or a prefix naming one; KEY=VALUE gives a secret
    /// parameter the release recorded by name only).
    #[command(flatten)]
    pub(crate) run: RunArgs,

    /// List the releases a rollback may put back, and run nothing.
    #[arg(long)]
    pub(crate) list: bool,

    /// Also restore the backup the live release took (its
    /// `postgres.backup` step), after confirmation, before the code is
    /// put back.
    #[arg(long)]
    pub(crate) with_data: bool,
}

/// `deploy promote FROM TO [TASK] [KEY=VALUE]...`
#[derive(Debug, Args)]
pub(crate) struct PromoteArgs {
    /// The environment whose live release is shipped.
    #[arg(value_name = "FROM")]
    pub(crate) from: String,

    /// The environment it is shipped to.
    #[arg(value_name = "TO")]
    pub(crate) to: String,

    /// The run's options; its words are `[TASK] [KEY=VALUE]...` (default:
    /// the task FROM's release ran, with its parameters).
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

/// `deploy exec [ENV] [-H HOST,… | -R ROLE,…] [--once] [--service NAME] [-i] -- CMD…`
#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// The environment (else the default one).
    #[arg(value_name = "ENV")]
    pub(crate) environment: Option<String>,

    /// The command and its arguments (after `--`).
    #[arg(last = true, value_name = "CMD")]
    pub(crate) command: Vec<String>,

    #[command(flatten)]
    pub(crate) on: HostSelection,

    /// Only on the first selected host (a migration).
    #[arg(long)]
    pub(crate) once: bool,

    /// In this service's container: a `[containers]` entry, a compose
    /// service, or a container's name.
    #[arg(long, value_name = "NAME")]
    pub(crate) service: Option<String>,

    /// On a pseudo-terminal of one host (`./manage.py shell`, `psql`).
    #[arg(long, short = 'i')]
    pub(crate) interactive: bool,

    /// Print JSON-lines events on stdout.
    #[arg(long)]
    pub(crate) json: bool,

    /// Most hosts running it at once.
    #[arg(long, value_name = "N")]
    pub(crate) concurrency: Option<usize>,
}

/// `deploy status [ENV] [-H …] [-R …] [--json] [--timeout 10s]`
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The environment (else the default one).
    #[arg(value_name = "ENV")]
    pub(crate) environment: Option<String>,

    #[command(flatten)]
    pub(crate) on: HostSelection,

    /// One JSON line per host.
    #[arg(long)]
    pub(crate) json: bool,

    /// How long each host gets to answer.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub(crate) timeout: String,
}

/// `deploy logs [ENV] [SERVICE…] [-f] [--since 10m] [-n 100] [-H …] [-R …]`
#[derive(Clone, Debug, Args)]
pub(crate) struct LogsArgs {
    /// The environment (the default one when the first word is not one).
    #[arg(value_name = "ENV")]
    pub(crate) environment: Option<String>,

    /// Only these: a log file's name (`logs = { app = … }`), a container's
    /// name, or its compose or blue/green service.
    #[arg(value_name = "SERVICE")]
    pub(crate) services: Vec<String>,

    /// Keep following every source until Ctrl-C.
    #[arg(long, short = 'f')]
    pub(crate) follow: bool,

    /// Only lines since this long ago (containers).
    #[arg(long, value_name = "DURATION")]
    pub(crate) since: Option<String>,

    /// The last N lines of each source.
    #[arg(short = 'n', long = "lines", default_value_t = 100)]
    pub(crate) lines: u32,

    /// One JSON line per log line (host, service, time, line).
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) on: HostSelection,
}
