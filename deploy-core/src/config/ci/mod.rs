//! `[ci]`: which environment a CI build deploys to, picked by the build's
//! branch or tag, and the `${ci.*}` built-ins of such a run.
//!
//! The build is read from a map of variables ([`CiBuild::read`]), not only
//! the process environment, so every CI system's variables are testable:
//! GitHub Actions, GitLab CI, CircleCI and Travis CI, or `--branch` /
//! `--tag` / `--sha` given by hand (which win). Rules are tried in order;
//! the first whose glob matches picks the environment (and may name the
//! task and set variables).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use toml::Spanned;

use super::Config;
use super::error::{ConfigError, ConfigErrorKind};
use super::interpolate::{self, Unavailable, Value};
use super::raw::Scalar;

/// The `${ci.*}` built-ins.
pub(super) const CI_BUILTINS: &[&str] = &["ci.branch", "ci.ref_tag", "ci.sha", "ci.tag"];

/// `[ci]` as serde reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCi {
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    on_no_match: OnNoMatch,
}

/// One rule: a `branch` or a `tag` glob, the environment, optionally the
/// task and variables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    branch: Option<Spanned<String>>,
    tag: Option<Spanned<String>>,
    environment: Spanned<String>,
    task: Option<Spanned<String>>,
    #[serde(default)]
    vars: BTreeMap<String, Spanned<Scalar>>,
}

/// What `deploy ci` does when no rule matches the build.
///
/// # Examples
///
/// ```
/// use deploy_core::{Config, config::OnNoMatch};
///
/// let toml = "[ci]\non_no_match = \"fail\"\n";
/// assert_eq!(Config::parse("deploy.toml", ".", toml).unwrap().ci_on_no_match(), OnNoMatch::Fail);
/// assert_eq!(Config::parse("deploy.toml", ".", "").unwrap().ci_on_no_match(), OnNoMatch::Skip);
/// ```
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OnNoMatch {
    /// Say so and succeed: a feature branch's build must not fail.
    #[default]
    Skip,
    /// Say so and fail (`deploy ci` exits 3).
    Fail,
}

/// Where a build's branch or tag was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CiSystem {
    /// `GITHUB_REF_TYPE` / `GITHUB_REF_NAME`, or `GITHUB_REF`.
    GitHubActions,
    /// `CI_COMMIT_TAG` / `CI_COMMIT_BRANCH`.
    GitLabCi,
    /// `CIRCLE_TAG` / `CIRCLE_BRANCH`.
    CircleCi,
    /// `TRAVIS_TAG` / `TRAVIS_BRANCH`.
    TravisCi,
    /// `--branch` / `--tag`.
    CommandLine,
}

impl fmt::Display for CiSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CiSystem::GitHubActions => "GitHub Actions",
            CiSystem::GitLabCi => "GitLab CI",
            CiSystem::CircleCi => "CircleCI",
            CiSystem::TravisCi => "Travis CI",
            CiSystem::CommandLine => "the command line",
        })
    }
}

/// What a build is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CiRef {
    /// A branch.
    Branch(String),
    /// A tag.
    Tag(String),
    /// Neither (a pull or merge request build): no rule matches it. The
    /// text says what it is.
    Other(String),
}

impl fmt::Display for CiRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CiRef::Branch(b) => write!(f, "branch `{b}`"),
            CiRef::Tag(t) => write!(f, "tag `{t}`"),
            CiRef::Other(what) => f.write_str(what),
        }
    }
}

/// What `--branch`, `--tag` and `--sha` give (each wins over the CI's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CiOverrides {
    /// `--branch`.
    pub branch: Option<String>,
    /// `--tag`.
    pub tag: Option<String>,
    /// `--sha`.
    pub sha: Option<String>,
}

/// Why no build could be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CiError {
    /// No CI system's variables are set and no `--branch` / `--tag`.
    #[error(
        "no CI build found: no GitHub Actions (GITHUB_REF_NAME, GITHUB_REF), GitLab CI (CI_COMMIT_BRANCH, CI_COMMIT_TAG), CircleCI (CIRCLE_BRANCH, CIRCLE_TAG) or Travis CI (TRAVIS_BRANCH, TRAVIS_TAG) variable is set; pass --branch NAME or --tag NAME"
    )]
    NoBuild,
    /// Both `--branch` and `--tag`.
    #[error("give --branch or --tag, not both (a build is for one of them)")]
    BranchAndTag,
}

/// A CI build: what it is for, its commit, and the variables read.
///
/// # Examples
///
/// ```
/// use std::collections::BTreeMap;
/// use deploy_core::config::{CiBuild, CiOverrides, CiRef, CiSystem};
///
/// let vars = BTreeMap::from([
///     ("GITHUB_REF_TYPE".to_string(), "branch".to_string()),
///     ("GITHUB_REF_NAME".to_string(), "feature/rotate-collage".to_string()),
///     ("GITHUB_SHA".to_string(), "4f2a9c1".to_string()),
/// ]);
/// let build = CiBuild::read(&vars, &CiOverrides::default()).unwrap();
/// assert_eq!(build.system, CiSystem::GitHubActions);
/// assert_eq!(build.reference, CiRef::Branch("feature/rotate-collage".into()));
/// assert_eq!(build.ref_tag().as_deref(), Some("feature-rotate-collage"));
/// assert_eq!(build.sha.as_deref(), Some("4f2a9c1"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CiBuild {
    /// Where the branch or tag came from.
    pub system: CiSystem,
    /// The branch or tag.
    pub reference: CiRef,
    /// The commit, when known.
    pub sha: Option<String>,
    /// Every variable read (`NAME`, or `--flag` for the command line) and
    /// its value, in the order read.
    pub read: Vec<(String, String)>,
}

/// Reads variables, noting each non-empty one read.
struct Reader<'a> {
    vars: &'a BTreeMap<String, String>,
    read: Vec<(String, String)>,
}

impl Reader<'_> {
    fn get(&mut self, name: &str) -> Option<String> {
        let value = self.vars.get(name).filter(|v| !v.is_empty())?.clone();
        if !self.read.iter().any(|(n, _)| n == name) {
            self.read.push((name.to_owned(), value.clone()));
        }
        Some(value)
    }

    fn has(&self, name: &str) -> bool {
        self.vars.get(name).is_some_and(|v| !v.is_empty())
    }
}

impl CiBuild {
    /// Reads the build from `vars` (the process environment, or a map in a
    /// test): the first CI system whose variables are set, in the order
    /// GitHub Actions, GitLab CI, CircleCI, Travis CI; `overrides` win.
    /// A pull or merge request build is [`CiRef::Other`] (no rule matches
    /// it), so CI does not fail for one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use deploy_core::config::{CiBuild, CiOverrides, CiRef, CiSystem};
    ///
    /// let vars = BTreeMap::from([("CI_COMMIT_TAG".to_string(), "v1.4.2".to_string())]);
    /// let build = CiBuild::read(&vars, &CiOverrides::default()).unwrap();
    /// assert_eq!((build.system, build.reference), (CiSystem::GitLabCi, CiRef::Tag("v1.4.2".into())));
    ///
    /// let by_hand = CiOverrides { branch: Some("develop".into()), ..CiOverrides::default() };
    /// let build = CiBuild::read(&vars, &by_hand).unwrap();
    /// assert_eq!((build.system, build.reference), (CiSystem::CommandLine, CiRef::Branch("develop".into())));
    ///
    /// assert!(CiBuild::read(&BTreeMap::new(), &CiOverrides::default()).is_err());
    /// ```
    pub fn read(
        vars: &BTreeMap<String, String>,
        overrides: &CiOverrides,
    ) -> Result<CiBuild, CiError> {
        let mut r = Reader {
            vars,
            read: Vec::new(),
        };
        let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let (branch, tag) = (given(&overrides.branch), given(&overrides.tag));
        let detected = if branch.is_some() || tag.is_some() {
            None
        } else {
            Some(detect(&mut r).ok_or(CiError::NoBuild)?)
        };
        let (system, reference, sha_var) = match (branch, tag, detected) {
            (Some(_), Some(_), _) => return Err(CiError::BranchAndTag),
            (Some(b), None, _) => {
                r.read.push(("--branch".into(), b.clone()));
                (CiSystem::CommandLine, CiRef::Branch(b), None)
            }
            (None, Some(t), _) => {
                r.read.push(("--tag".into(), t.clone()));
                (CiSystem::CommandLine, CiRef::Tag(t), None)
            }
            (None, None, Some((system, reference))) => {
                (system, reference, Some(sha_variable(system)))
            }
            (None, None, None) => return Err(CiError::NoBuild),
        };
        let sha = match given(&overrides.sha) {
            Some(sha) => {
                r.read.push(("--sha".into(), sha.clone()));
                Some(sha)
            }
            // A branch or tag given by hand takes the CI's commit if a CI
            // system is there.
            None => match sha_var {
                Some(var) => r.get(var),
                None => [
                    "GITHUB_SHA",
                    "CI_COMMIT_SHA",
                    "CIRCLE_SHA1",
                    "TRAVIS_COMMIT",
                ]
                .iter()
                .find_map(|var| r.get(var)),
            },
        };
        Ok(CiBuild {
            system,
            reference,
            sha,
            read: r.read,
        })
    }

    /// Reads the build from this process's environment.
    pub fn from_process_env(overrides: &CiOverrides) -> Result<CiBuild, CiError> {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        CiBuild::read(&vars, overrides)
    }

    /// The branch, for a branch build.
    pub fn branch(&self) -> Option<&str> {
        match &self.reference {
            CiRef::Branch(b) => Some(b),
            _ => None,
        }
    }

    /// The tag, for a tag build.
    pub fn tag(&self) -> Option<&str> {
        match &self.reference {
            CiRef::Tag(t) => Some(t),
            _ => None,
        }
    }

    /// The branch or tag made a valid Docker tag (`feature/rotate-collage`
    /// → `feature-rotate-collage`); `None` when nothing is left of it or the
    /// build is for neither.
    pub fn ref_tag(&self) -> Option<String> {
        let name = self.branch().or(self.tag())?;
        Some(crate::git::tag_safe(name)).filter(|t| !t.is_empty())
    }
}

fn sha_variable(system: CiSystem) -> &'static str {
    match system {
        CiSystem::GitHubActions => "GITHUB_SHA",
        CiSystem::GitLabCi => "CI_COMMIT_SHA",
        CiSystem::CircleCi => "CIRCLE_SHA1",
        CiSystem::TravisCi | CiSystem::CommandLine => "TRAVIS_COMMIT",
    }
}

/// The first CI system whose variables are set, and what its build is for.
fn detect(r: &mut Reader<'_>) -> Option<(CiSystem, CiRef)> {
    if r.has("GITHUB_REF_NAME") || r.has("GITHUB_REF") {
        return Some((CiSystem::GitHubActions, github(r)));
    }
    if r.has("CI_COMMIT_TAG") || r.has("CI_COMMIT_BRANCH") || r.has("GITLAB_CI") {
        let reference = match (r.get("CI_COMMIT_TAG"), r.get("CI_COMMIT_BRANCH")) {
            (Some(t), _) => CiRef::Tag(t),
            (None, Some(b)) => CiRef::Branch(b),
            (None, None) => CiRef::Other(format!(
                "a merge request pipeline (no CI_COMMIT_BRANCH or CI_COMMIT_TAG{})",
                r.get("CI_COMMIT_REF_NAME")
                    .map(|n| format!("; CI_COMMIT_REF_NAME={n}"))
                    .unwrap_or_default()
            )),
        };
        return Some((CiSystem::GitLabCi, reference));
    }
    if r.has("CIRCLE_TAG") || r.has("CIRCLE_BRANCH") {
        let reference = match r.get("CIRCLE_TAG") {
            Some(t) => CiRef::Tag(t),
            None => CiRef::Branch(r.get("CIRCLE_BRANCH").unwrap_or_default()),
        };
        return Some((CiSystem::CircleCi, reference));
    }
    if r.has("TRAVIS_TAG") || r.has("TRAVIS_BRANCH") {
        let reference = match r.get("TRAVIS_TAG") {
            Some(t) => CiRef::Tag(t),
            None => match r.get("TRAVIS_PULL_REQUEST").filter(|p| p != "false") {
                // TRAVIS_BRANCH is then the branch the request targets:
                // deploying it would ship code that is not on it.
                Some(number) => CiRef::Other(format!("pull request #{number}")),
                None => CiRef::Branch(r.get("TRAVIS_BRANCH").unwrap_or_default()),
            },
        };
        return Some((CiSystem::TravisCi, reference));
    }
    None
}

/// GitHub Actions: `GITHUB_REF_TYPE` / `GITHUB_REF_NAME`, else `GITHUB_REF`.
fn github(r: &mut Reader<'_>) -> CiRef {
    let full = r.vars.get("GITHUB_REF").filter(|v| !v.is_empty()).cloned();
    if let Some(full) = &full
        && full.starts_with("refs/pull/")
    {
        r.get("GITHUB_REF");
        return CiRef::Other(format!("a pull request build ({full})"));
    }
    if r.has("GITHUB_REF_TYPE") && r.has("GITHUB_REF_NAME") {
        let kind = r.get("GITHUB_REF_TYPE").unwrap_or_default();
        let name = r.get("GITHUB_REF_NAME").unwrap_or_default();
        match kind.as_str() {
            "branch" => return CiRef::Branch(name),
            "tag" => return CiRef::Tag(name),
            _ => {}
        }
    }
    match r.get("GITHUB_REF") {
        Some(full) => {
            if let Some(b) = full.strip_prefix("refs/heads/") {
                CiRef::Branch(b.to_owned())
            } else if let Some(t) = full.strip_prefix("refs/tags/") {
                CiRef::Tag(t.to_owned())
            } else {
                CiRef::Other(format!("`{full}`, neither a branch nor a tag"))
            }
        }
        None => CiRef::Other("a build with no GITHUB_REF".into()),
    }
}

/// The rule a build matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CiMatch {
    /// Its position in `rules`, from 0.
    pub index: usize,
    /// The rule as written in deploy.toml.
    pub text: String,
    /// The environment it picks.
    pub environment: String,
    /// The task it names, if any.
    pub task: Option<String>,
}

/// The build of a `deploy ci` run and the rule it matched (whose
/// variables join the run's).
#[derive(Clone, Debug)]
pub(super) struct CiRun {
    build: CiBuild,
    rule: Option<usize>,
}

fn matcher(pattern: &str) -> Result<globset::GlobMatcher, String> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.kind().to_string())
}

impl RawRule {
    fn matches(&self, build: &CiBuild) -> bool {
        let (pattern, name) = match (&build.reference, &self.branch, &self.tag) {
            (CiRef::Branch(b), Some(p), _) => (p, b),
            (CiRef::Tag(t), _, Some(p)) => (p, t),
            _ => return false,
        };
        matcher(pattern.get_ref()).is_ok_and(|m| m.is_match(name))
    }
}

impl Config {
    fn raw_ci(&self) -> Option<&RawCi> {
        self.raw.ci.as_ref()
    }

    /// Whether deploy.toml has a `[ci]` table.
    pub fn has_ci(&self) -> bool {
        self.raw_ci().is_some()
    }

    /// What `deploy ci` does when no rule matches (`on_no_match`).
    pub fn ci_on_no_match(&self) -> OnNoMatch {
        self.raw_ci().map(|c| c.on_no_match).unwrap_or_default()
    }

    /// How many `[ci]` rules there are.
    pub fn ci_rule_count(&self) -> usize {
        self.raw_ci().map_or(0, |c| c.rules.len())
    }

    /// The first `[ci]` rule that matches `build`: `*` and `?` match within
    /// a `/`-separated part, `**` across parts.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Config, config::{CiBuild, CiOverrides}};
    ///
    /// let toml = r#"
    /// [ci]
    /// rules = [
    ///   { tag = "v*", environment = "production" },
    ///   { branch = "release/*", environment = "stage" },
    ///   { branch = "release/**", environment = "uat" },
    /// ]
    /// [environments.production]
    /// [environments.stage]
    /// [environments.uat]
    /// "#;
    /// let config = Config::parse("deploy.toml", ".", toml).unwrap();
    /// let on = |branch: &str| {
    ///     let by_hand = CiOverrides { branch: Some(branch.into()), ..CiOverrides::default() };
    ///     let build = CiBuild::read(&Default::default(), &by_hand).unwrap();
    ///     config.ci_match(&build).map(|m| (m.index, m.environment))
    /// };
    /// assert_eq!(on("release/2.0"), Some((1, "stage".into())));
    /// assert_eq!(on("release/2.0/rc1"), Some((2, "uat".into())));
    /// assert_eq!(on("v1.0"), None); // a branch named like a tag is a branch
    /// ```
    pub fn ci_match(&self, build: &CiBuild) -> Option<CiMatch> {
        let ci = self.raw_ci()?;
        let (index, rule) = ci
            .rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.get_ref().matches(build))?;
        let rule_ref = rule.get_ref();
        Some(CiMatch {
            index,
            text: self
                .source
                .get(rule.span())
                .map(|t| t.trim().to_owned())
                .unwrap_or_default(),
            environment: rule_ref.environment.get_ref().clone(),
            task: rule_ref.task.as_ref().map(|t| t.get_ref().clone()),
        })
    }

    /// This config for a `deploy ci` run of `build`: `${ci.branch}`,
    /// `${ci.tag}`, `${ci.sha}` and `${ci.ref_tag}` have its values, and the
    /// variables of the rule `matched` (if any) join the run's (one named
    /// like a task parameter gives it, unless the command line does).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Config, StepRegistry, render, config::{CiBuild, CiOverrides}};
    ///
    /// let toml = r#"
    /// [ci]
    /// rules = [{ branch = "feature/*", environment = "review", vars = { image = "app:${ci.ref_tag}" } }]
    /// [environments.review]
    /// hosts = ["web1"]
    /// [tasks.deploy]
    /// steps = [{ exec = { cmd = ["docker", "pull", "${image}"] } }]
    /// "#;
    /// let by_hand = CiOverrides { branch: Some("feature/rotate-collage".into()), ..CiOverrides::default() };
    /// let build = CiBuild::read(&Default::default(), &by_hand).unwrap();
    /// let config = Config::parse("deploy.toml", ".", toml).unwrap();
    /// let matched = config.ci_match(&build).unwrap();
    /// let config = config.with_ci(build, Some(&matched));
    /// let plan = config.plan(Some("review"), Some("deploy"), &[], &StepRegistry::with_builtins()).unwrap();
    /// assert!(render::text(&plan).contains("docker pull app:feature-rotate-collage"));
    /// ```
    pub fn with_ci(mut self, build: CiBuild, matched: Option<&CiMatch>) -> Self {
        self.ci = Some(CiRun {
            build,
            rule: matched.map(|m| m.index),
        });
        self
    }

    /// The `${ci.*}` built-ins: values under `deploy ci`, else why not.
    pub(super) fn ci_values(&self) -> Vec<(String, Value)> {
        let unavailable = |name: &str, why: String| {
            (
                name.to_owned(),
                Err(Unavailable {
                    builtin: name.to_owned(),
                    why,
                }),
            )
        };
        let Some(run) = &self.ci else {
            return CI_BUILTINS
                .iter()
                .map(|name| {
                    unavailable(
                        name,
                        "it is set only by `deploy ci`, from the CI build's branch, tag and commit"
                            .into(),
                    )
                })
                .collect();
        };
        let build = &run.build;
        let value = |name: &str, v: Option<String>, why: String| match v {
            Some(v) => (name.to_owned(), Ok(v.replace("${", "$${"))),
            None => unavailable(name, why),
        };
        vec![
            value(
                "ci.branch",
                build.branch().map(str::to_owned),
                format!("this CI build is for {}, not a branch", build.reference),
            ),
            value(
                "ci.tag",
                build.tag().map(str::to_owned),
                format!("this CI build is for {}, not a tag", build.reference),
            ),
            value(
                "ci.sha",
                build.sha.clone(),
                format!(
                    "{} gave no commit (pass --sha)",
                    match build.system {
                        CiSystem::CommandLine => "the command line".to_owned(),
                        system => format!("{system} ({})", sha_variable(system)),
                    }
                ),
            ),
            value(
                "ci.ref_tag",
                build.ref_tag(),
                format!("nothing of {} is left as a Docker tag", build.reference),
            ),
        ]
    }

    /// The matched rule's variables: name, raw text, where written.
    pub(super) fn ci_rule_vars(&self) -> BTreeMap<String, (String, usize)> {
        let rule = self
            .ci
            .as_ref()
            .and_then(|run| run.rule)
            .and_then(|i| self.raw_ci()?.rules.get(i));
        rule.map(|r| {
            r.get_ref()
                .vars
                .iter()
                .map(|(k, v)| (k.clone(), (v.get_ref().text(), v.span().start)))
                .collect()
        })
        .unwrap_or_default()
    }

    /// `[ci]` at load time: every rule has a `branch` or a `tag` glob that
    /// parses, names an environment and a task that exist, and variables
    /// that take no built-in's name and whose `${…}` parse.
    pub(super) fn check_ci(&self) -> Result<(), ConfigError> {
        let Some(ci) = self.raw_ci() else {
            return Ok(());
        };
        for (i, rule) in ci.rules.iter().enumerate() {
            let r = rule.get_ref();
            let invalid = |at: usize, message: String| {
                self.error_at(
                    at,
                    ConfigErrorKind::Invalid(format!("[ci] rules[{i}]: {message}")),
                )
            };
            let pattern = match (&r.branch, &r.tag) {
                (Some(p), None) | (None, Some(p)) => p,
                (None, None) => {
                    return Err(invalid(
                        rule.span().start,
                        "a rule needs `branch` or `tag` (a glob such as \"develop\" or \"v*\")"
                            .into(),
                    ));
                }
                (Some(_), Some(tag)) => {
                    return Err(invalid(
                        tag.span().start,
                        "a rule has `branch` or `tag`, not both (write two rules)".into(),
                    ));
                }
            };
            if let Err(why) = matcher(pattern.get_ref()) {
                return Err(invalid(
                    pattern.span().start,
                    format!("{:?} is not a glob: {why}", pattern.get_ref()),
                ));
            }
            let env = &r.environment;
            if !self.raw.environments.contains_key(env.get_ref()) {
                return Err(
                    self.error_at(env.span().start, self.unknown_environment(env.get_ref()))
                );
            }
            if let Some(task) = &r.task
                && !self.raw.tasks.contains_key(task.get_ref())
            {
                return Err(self.error_at(task.span().start, self.unknown_task(task.get_ref())));
            }
            for (name, value) in &r.vars {
                if let Some(what) = super::check::builtin_meaning(name) {
                    let at = self.source[..value.span().start]
                        .rfind(name.as_str())
                        .unwrap_or(value.span().start);
                    return Err(self.error_at(
                        at,
                        ConfigErrorKind::ShadowsBuiltin {
                            name: name.clone(),
                            what: what.to_owned(),
                        },
                    ));
                }
                if self.secret_params().contains(name) {
                    let at = self.source[..value.span().start]
                        .rfind(name.as_str())
                        .unwrap_or(value.span().start);
                    return Err(self.error_at(
                        at,
                        ConfigErrorKind::Invalid(format!(
                            "[ci] rule vars: `{name}` is a secret parameter: a rule cannot give it \
                             (it would be written in deploy.toml); give it a `[secrets]` source"
                        )),
                    ));
                }
                if let Scalar::Text(text) = value.get_ref() {
                    interpolate::check(text).map_err(|e| {
                        self.interpolation_error(e, value.span().start, &BTreeMap::new())
                    })?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
