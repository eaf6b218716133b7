//! The git branch a deploy runs from, read from `.git/HEAD` (no `git`
//! process), and a branch made safe as a Docker tag: the Allume guide tags
//! images by branch with the slashes removed.

use std::path::Path;

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
/// `deploy.toml` sees it as `${git_branch}` and, made a Docker tag,
/// `${git_branch_tag}`:
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # std::fs::create_dir(dir.path().join(".git")).unwrap();
/// # std::fs::write(dir.path().join(".git/HEAD"), "ref: refs/heads/feature/rotate-collage\n").unwrap();
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
