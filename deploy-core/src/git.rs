//! What git says about the checkout a deploy runs from: the commit, its
//! tag, the branch (for `${git_commit}`, `${git_short_commit}`,
//! `${git_tag}`, `${git_branch}`), asked of a plain `git` process in the
//! config's directory only when a value is used; and a branch made safe as
//! a Docker tag (the Allume guide tags images by branch with the slashes
//! removed).

use std::path::Path;

/// Why git could not give a value.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let err = deploy_core::git::commit(dir.path()).unwrap_err();
/// assert!(matches!(err, deploy_core::git::GitError::NotARepository { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// `git` could not be started.
    #[error("`git` could not run: {reason}")]
    NotRun {
        /// Why.
        reason: String,
    },
    /// The directory is not inside a git repository.
    #[error("{dir} is not inside a git repository")]
    NotARepository {
        /// The directory.
        dir: String,
    },
    /// HEAD is not on a branch.
    #[error("HEAD is detached (a CI build of a tag or a commit checks out no branch)")]
    Detached,
    /// No tag points at HEAD.
    #[error("no tag points at HEAD")]
    NoTag,
    /// Another git failure, with what git said.
    #[error("`git {args}` failed: {said}")]
    Failed {
        /// The arguments.
        args: String,
        /// git's message.
        said: String,
    },
}

/// Runs `git -C dir args…` and returns its trimmed output.
fn git(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .map_err(|e| GitError::NotRun {
            reason: e.to_string(),
        })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    let said = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if said.contains("not a git repository") {
        return Err(GitError::NotARepository {
            dir: dir.display().to_string(),
        });
    }
    Err(GitError::Failed {
        args: args.join(" "),
        said: said.lines().next().unwrap_or("").to_owned(),
    })
}

/// The full commit id of HEAD (`${git_commit}`).
///
/// # Examples
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let git = |args: &[&str]| assert!(std::process::Command::new("git").arg("-C").arg(dir.path()).args(args).output().unwrap().status.success());
/// git(&["init", "-q", "-b", "main"]);
/// git(&["-c", "user.name=t", "-c", "user.email=t@example", "commit", "-q", "--allow-empty", "-m", "first"]);
/// let commit = deploy_core::git::commit(dir.path()).unwrap();
/// assert_eq!(commit.len(), 40);
/// assert!(commit.starts_with(&deploy_core::git::short_commit(dir.path()).unwrap()));
/// ```
pub fn commit(dir: &Path) -> Result<String, GitError> {
    git(dir, &["rev-parse", "--verify", "HEAD"])
}

/// True when the checkout has changes not committed (`git status
/// --porcelain` says anything).
///
/// # Examples
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let git = |args: &[&str]| assert!(std::process::Command::new("git").arg("-C").arg(dir.path()).args(args).output().unwrap().status.success());
/// git(&["init", "-q"]);
/// git(&["-c", "user.name=t", "-c", "user.email=t@example", "commit", "-q", "--allow-empty", "-m", "first"]);
/// assert!(!deploy_core::git::dirty(dir.path()).unwrap());
/// std::fs::write(dir.path().join("new"), "x").unwrap();
/// assert!(deploy_core::git::dirty(dir.path()).unwrap());
/// ```
pub fn dirty(dir: &Path) -> Result<bool, GitError> {
    git(dir, &["status", "--porcelain"]).map(|out| !out.is_empty())
}

/// The abbreviated commit id of HEAD: 7 characters, more only where 7 are
/// ambiguous in the repository (`git rev-parse --short=7`), so the same
/// commit gives the same id whatever the machine's `core.abbrev`
/// (`${git_short_commit}`).
///
/// # Examples
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let git = |args: &[&str]| assert!(std::process::Command::new("git").arg("-C").arg(dir.path()).args(args).output().unwrap().status.success());
/// git(&["init", "-q"]);
/// git(&["-c", "user.name=t", "-c", "user.email=t@example", "commit", "-q", "--allow-empty", "-m", "first"]);
/// assert!(deploy_core::git::short_commit(dir.path()).unwrap().len() >= 7);
/// ```
pub fn short_commit(dir: &Path) -> Result<String, GitError> {
    git(dir, &["rev-parse", "--short=7", "--verify", "HEAD"])
}

/// `commit` abbreviated as git abbreviates it in `dir` (at least 7
/// characters).
///
/// # Examples
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let git = |args: &[&str]| assert!(std::process::Command::new("git").arg("-C").arg(dir.path()).args(args).output().unwrap().status.success());
/// git(&["init", "-q"]);
/// git(&["-c", "user.name=t", "-c", "user.email=t@example", "commit", "-q", "--allow-empty", "-m", "first"]);
/// let commit = deploy_core::git::commit(dir.path()).unwrap();
/// assert_eq!(deploy_core::git::short_of(dir.path(), &commit).unwrap(), deploy_core::git::short_commit(dir.path()).unwrap());
/// ```
pub fn short_of(dir: &Path, commit: &str) -> Result<String, GitError> {
    git(
        dir,
        &[
            "rev-parse",
            "--short=7",
            "--verify",
            &format!("{commit}^{{commit}}"),
        ],
    )
}

/// The tag at HEAD, exactly (`${git_tag}`): what CI builds a release from.
///
/// # Examples
///
/// ```
/// use deploy_core::git::{tag, GitError};
/// # let dir = tempfile::tempdir().unwrap();
/// # let git = |args: &[&str]| assert!(std::process::Command::new("git").arg("-C").arg(dir.path()).args(args).output().unwrap().status.success());
/// git(&["init", "-q"]);
/// git(&["-c", "user.name=t", "-c", "user.email=t@example", "commit", "-q", "--allow-empty", "-m", "first"]);
/// assert_eq!(tag(dir.path()), Err(GitError::NoTag));
/// git(&["tag", "v1.4.2"]);
/// assert_eq!(tag(dir.path()).unwrap(), "v1.4.2");
/// ```
pub fn tag(dir: &Path) -> Result<String, GitError> {
    match git(dir, &["describe", "--tags", "--exact-match", "HEAD"]) {
        Err(GitError::Failed { said, .. })
            if said.contains("no tag exactly matches") || said.contains("No names found") =>
        {
            Err(GitError::NoTag)
        }
        other => other,
    }
}

/// The branch checked out (`${git_branch}`); [`GitError::Detached`] on a
/// detached HEAD.
///
/// # Examples
///
/// ```
/// use deploy_core::git::{branch, GitError};
/// # let dir = tempfile::tempdir().unwrap();
/// # let git = |args: &[&str]| assert!(std::process::Command::new("git").arg("-C").arg(dir.path()).args(args).output().unwrap().status.success());
/// git(&["init", "-q", "-b", "feature/rotate-collage"]);
/// git(&["-c", "user.name=t", "-c", "user.email=t@example", "commit", "-q", "--allow-empty", "-m", "first"]);
/// assert_eq!(branch(dir.path()).unwrap(), "feature/rotate-collage");
/// git(&["checkout", "-q", "--detach"]);
/// assert_eq!(branch(dir.path()), Err(GitError::Detached));
/// ```
pub fn branch(dir: &Path) -> Result<String, GitError> {
    // `symbolic-ref -q` exits 1 and says nothing on a detached HEAD.
    git(dir, &["rev-parse", "--git-dir"])?;
    match git(dir, &["symbolic-ref", "--short", "-q", "HEAD"]) {
        Err(GitError::Failed { said, .. }) if said.is_empty() => Err(GitError::Detached),
        other => other,
    }
}

/// The branch checked out in the repository containing `dir`, or `None`
/// (no repository, or a detached HEAD).
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::create_dir(dir.path().join(".git")).unwrap();
/// std::fs::write(dir.path().join(".git/HEAD"), "ref: refs/heads/feature/rotate-collage\n").unwrap();
/// std::fs::create_dir(dir.path().join("deploy")).unwrap();
/// let branch = deploy_core::git::current_branch(&dir.path().join("deploy"));
/// assert_eq!(branch.as_deref(), Some("feature/rotate-collage"));
/// ```
///
/// `deploy.toml`'s `${git_branch}` asks `git` instead (see [`branch`]);
/// made a Docker tag it is `${git_branch_tag}`:
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let git = |args: &[&str]| assert!(std::process::Command::new("git").arg("-C").arg(dir.path()).args(args).output().unwrap().status.success());
/// git(&["init", "-q", "-b", "feature/rotate-collage"]);
/// let source = r#"
/// [environments.qa]
/// hosts = ["qa-web1.example"]
/// [tasks.deploy]
/// params = { docker_tag = "${git_branch_tag}" }
/// steps = [{ exec = { cmd = ["docker", "pull", "allume/shop:${docker_tag}"] } }]
/// "#;
/// let config = deploy_core::Config::parse("deploy.toml", dir.path(), source).unwrap();
/// let registry = deploy_core::StepRegistry::with_builtins();
/// let plan = config.plan(Some("qa"), Some("deploy"), &[], &registry).unwrap();
/// assert!(deploy_core::render::text(&plan).contains("allume/shop:feature-rotate-collage"));
/// ```
pub fn current_branch(dir: &Path) -> Option<String> {
    let mut at = Some(dir);
    while let Some(dir) = at {
        let dot_git = dir.join(".git");
        let head = if dot_git.is_dir() {
            std::fs::read_to_string(dot_git.join("HEAD")).ok()
        } else if dot_git.is_file() {
            // A worktree or submodule: `.git` names the real git directory.
            let text = std::fs::read_to_string(&dot_git).ok()?;
            let git_dir = text.trim().strip_prefix("gitdir:")?.trim();
            std::fs::read_to_string(dir.join(git_dir).join("HEAD")).ok()
        } else {
            None
        };
        if let Some(head) = head {
            return head
                .trim()
                .strip_prefix("ref: refs/heads/")
                .map(str::to_owned);
        }
        at = dir.parent();
    }
    None
}

/// `text` as a valid Docker tag: every character Docker refuses becomes
/// `-`, leading `.` and `-` go, at most 128 characters; empty when nothing
/// is left.
///
/// # Examples
///
/// ```
/// use deploy_core::git::tag_safe;
///
/// assert_eq!(tag_safe("feature/rotate-collage"), "feature-rotate-collage");
/// assert_eq!(tag_safe("-hotfix/#12"), "hotfix--12");
/// assert_eq!(tag_safe("///"), "");
/// ```
pub fn tag_safe(text: &str) -> String {
    let replaced: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    replaced
        .trim_start_matches(['.', '-'])
        .chars()
        .take(128)
        .collect()
}
