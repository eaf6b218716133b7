//! `[ci]`: reading each CI system's variables, globs, first-match order,
//! rule variables and the load-time checks.

use super::*;
use crate::{StepRegistry, render};

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn read(pairs: &[(&str, &str)]) -> CiBuild {
    CiBuild::read(&vars(pairs), &CiOverrides::default()).expect("a build")
}

fn branch(name: &str) -> CiRef {
    CiRef::Branch(name.into())
}

fn tag(name: &str) -> CiRef {
    CiRef::Tag(name.into())
}

#[test]
fn github_actions() {
    let build = read(&[
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REF_TYPE", "tag"),
        ("GITHUB_REF_NAME", "v1.4.2"),
        ("GITHUB_REF", "refs/tags/v1.4.2"),
        ("GITHUB_SHA", "0a1b2c3"),
    ]);
    assert_eq!(build.system, CiSystem::GitHubActions);
    assert_eq!(build.reference, tag("v1.4.2"));
    assert_eq!(build.sha.as_deref(), Some("0a1b2c3"));
    let names: Vec<(&str, &str)> = build
        .read
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("GITHUB_REF_TYPE", "tag"),
            ("GITHUB_REF_NAME", "v1.4.2"),
            ("GITHUB_SHA", "0a1b2c3")
        ]
    );
    // Only GITHUB_REF: refs/heads and refs/tags.
    let build = read(&[("GITHUB_REF", "refs/heads/feature/rotate-collage")]);
    assert_eq!(build.reference, branch("feature/rotate-collage"));
    assert_eq!(build.sha, None);
    let build = read(&[("GITHUB_REF", "refs/tags/release/2.0")]);
    assert_eq!(build.reference, tag("release/2.0"));
    // A pull request is neither, whatever GITHUB_REF_TYPE says.
    let build = read(&[
        ("GITHUB_REF", "refs/pull/12/merge"),
        ("GITHUB_REF_TYPE", "branch"),
        ("GITHUB_REF_NAME", "12/merge"),
    ]);
    assert!(matches!(build.reference, CiRef::Other(_)), "{build:?}");
}

#[test]
fn gitlab_ci() {
    let build = read(&[
        ("GITLAB_CI", "true"),
        ("CI_COMMIT_BRANCH", "develop"),
        ("CI_COMMIT_SHA", "deadbeef"),
    ]);
    assert_eq!(
        (build.system, build.reference, build.sha.as_deref()),
        (CiSystem::GitLabCi, branch("develop"), Some("deadbeef"))
    );
    let build = read(&[("CI_COMMIT_TAG", "uat"), ("CI_COMMIT_BRANCH", "")]);
    assert_eq!(build.reference, tag("uat"));
    let build = read(&[("GITLAB_CI", "true"), ("CI_COMMIT_REF_NAME", "feature/x")]);
    assert!(matches!(build.reference, CiRef::Other(_)));
}

#[test]
fn circleci() {
    let build = read(&[
        ("CIRCLECI", "true"),
        ("CIRCLE_BRANCH", "develop"),
        ("CIRCLE_SHA1", "c1"),
    ]);
    assert_eq!(
        (build.system, build.reference, build.sha.as_deref()),
        (CiSystem::CircleCi, branch("develop"), Some("c1"))
    );
    let build = read(&[("CIRCLE_TAG", "v2.0.0"), ("CIRCLE_SHA1", "c2")]);
    assert_eq!(build.reference, tag("v2.0.0"));
}

#[test]
fn travis_ci() {
    // On a tag build Travis sets TRAVIS_BRANCH to the tag too.
    let build = read(&[
        ("TRAVIS_BRANCH", "v3.1"),
        ("TRAVIS_TAG", "v3.1"),
        ("TRAVIS_COMMIT", "t1"),
    ]);
    assert_eq!(
        (build.system, build.reference, build.sha.as_deref()),
        (CiSystem::TravisCi, tag("v3.1"), Some("t1"))
    );
    let build = read(&[
        ("TRAVIS_BRANCH", "develop"),
        ("TRAVIS_TAG", ""),
        ("TRAVIS_PULL_REQUEST", "false"),
    ]);
    assert_eq!(build.reference, branch("develop"));
    // A pull request build's TRAVIS_BRANCH is the branch it targets.
    let build = read(&[("TRAVIS_BRANCH", "develop"), ("TRAVIS_PULL_REQUEST", "7")]);
    assert_eq!(build.reference, CiRef::Other("pull request #7".into()));
}

#[test]
fn the_command_line_wins() {
    let ci = vars(&[("CI_COMMIT_BRANCH", "develop"), ("CI_COMMIT_SHA", "abc")]);
    let flags = CiOverrides {
        tag: Some("v9".into()),
        ..CiOverrides::default()
    };
    let build = CiBuild::read(&ci, &flags).expect("a build");
    assert_eq!(
        (build.system, build.reference, build.sha.as_deref()),
        (CiSystem::CommandLine, tag("v9"), Some("abc"))
    );
    let flags = CiOverrides {
        branch: Some("main".into()),
        sha: Some("123".into()),
        ..CiOverrides::default()
    };
    let build = CiBuild::read(&ci, &flags).expect("a build");
    assert_eq!(build.sha.as_deref(), Some("123"));
    assert_eq!(
        build.read,
        [
            ("--branch".into(), "main".into()),
            ("--sha".into(), "123".into())
        ]
    );
    let both = CiOverrides {
        branch: Some("a".into()),
        tag: Some("b".into()),
        sha: None,
    };
    assert_eq!(CiBuild::read(&ci, &both), Err(CiError::BranchAndTag));
    assert_eq!(
        CiBuild::read(&vars(&[("CI", "true")]), &CiOverrides::default()),
        Err(CiError::NoBuild)
    );
}

#[test]
fn a_tag_with_slashes_is_one_name_and_a_docker_tag_without_them() {
    let build = read(&[("CI_COMMIT_TAG", "release/2026.01/rc1")]);
    assert_eq!(build.reference, tag("release/2026.01/rc1"));
    assert_eq!(build.ref_tag().as_deref(), Some("release-2026.01-rc1"));
    let config = config(RULES);
    let m = config.ci_match(&build).expect("matches");
    assert_eq!((m.index, m.environment.as_str()), (3, "uat"));
}

const RULES: &str = r#"
[ci]
rules = [
  { tag = "v*", environment = "production" },
  { branch = "develop", environment = "stage", task = "ship" },
  { tag = "uat", environment = "uat" },
  { tag = "release/**", environment = "uat" },
  { branch = "feature/*", environment = "review", vars = { image = "app:${ci.ref_tag}" } },
  { branch = "*", environment = "stage" },
]
[environments.production]
hosts = ["web1"]
[environments.stage]
hosts = ["web1"]
[environments.uat]
hosts = ["web1"]
[environments.review]
hosts = ["web1"]
[tasks.deploy]
default = true
params = { version = "latest" }
steps = [{ exec = { cmd = ["echo", "${version}", "${ci.ref_tag}", "${ci.sha}"] } }]
[tasks.ship]
steps = [{ exec = { cmd = ["echo", "${image | default('none')}"] } }]
"#;

fn config(source: &str) -> Config {
    Config::parse("deploy.toml", ".", source).expect("parses")
}

fn on(config: &Config, reference: CiRef) -> Option<(usize, String)> {
    let build = CiBuild {
        system: CiSystem::CommandLine,
        reference,
        sha: None,
        read: Vec::new(),
    };
    config.ci_match(&build).map(|m| (m.index, m.environment))
}

#[test]
fn globs_and_first_match_order() {
    let config = config(RULES);
    assert_eq!(on(&config, tag("v1.4.2")), Some((0, "production".into())));
    assert_eq!(on(&config, tag("uat")), Some((2, "uat".into())));
    assert_eq!(on(&config, tag("1.0")), None);
    // `develop` matches rules 1 and 5: the first wins.
    assert_eq!(on(&config, branch("develop")), Some((1, "stage".into())));
    assert_eq!(
        on(&config, branch("feature/rotate-collage")),
        Some((4, "review".into()))
    );
    // `*` stays within a `/`-separated part.
    assert_eq!(on(&config, branch("feature/a/b")), None);
    assert_eq!(on(&config, branch("hotfix")), Some((5, "stage".into())));
    assert_eq!(on(&config, CiRef::Other("a pull request".into())), None);
    let m = config
        .ci_match(&CiBuild {
            system: CiSystem::CommandLine,
            reference: branch("develop"),
            sha: None,
            read: Vec::new(),
        })
        .expect("matches");
    assert_eq!(
        m.text,
        r#"{ branch = "develop", environment = "stage", task = "ship" }"#
    );
    assert_eq!(m.task.as_deref(), Some("ship"));
    // `?` is one character.
    let q = Config::parse(
        "deploy.toml",
        ".",
        "[ci]\nrules = [{ tag = \"v?\", environment = \"e\" }]\n[environments.e]\n",
    )
    .expect("parses");
    assert_eq!(on(&q, tag("v1")), Some((0, "e".into())));
    assert_eq!(on(&q, tag("v10")), None);
}

fn plan_text(config: Config, build: CiBuild, args: &[(&str, &str)]) -> String {
    let matched = config.ci_match(&build).expect("matches");
    let config = config.with_ci(build, Some(&matched));
    let args: Vec<(String, String)> = args
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let plan = config
        .plan(
            Some(&matched.environment),
            matched.task.as_deref(),
            &args,
            &StepRegistry::with_builtins(),
        )
        .expect("plans");
    render::text(&plan)
}

#[test]
fn ci_values_and_rule_vars_fill_steps() {
    let build = read(&[
        ("GITHUB_REF", "refs/heads/feature/rotate-collage"),
        ("GITHUB_SHA", "4f2a"),
    ]);
    // Rule 4 sets `image`, which the default task does not use: it is
    // a variable; `${ci.*}` fill the step.
    let text = plan_text(config(RULES), build.clone(), &[]);
    assert!(
        text.contains("echo latest feature-rotate-collage 4f2a"),
        "{text}"
    );
    // A rule variable named like a parameter gives it; the command
    // line still wins.
    let with_version = RULES.replace(
        "vars = { image = \"app:${ci.ref_tag}\" }",
        "vars = { version = \"${ci.branch}\" }",
    );
    let text = plan_text(config(&with_version), build.clone(), &[]);
    assert!(
        text.contains("echo feature/rotate-collage feature-rotate-collage 4f2a"),
        "{text}"
    );
    let text = plan_text(config(&with_version), build, &[("version", "9")]);
    assert!(text.contains("echo 9 feature-rotate-collage"), "{text}");
}

#[test]
fn ci_values_name_why_they_are_missing() {
    let config = config(RULES);
    let registry = StepRegistry::with_builtins();
    let err = config
        .plan(Some("stage"), Some("deploy"), &[], &registry)
        .expect_err("no ci here");
    assert!(
        err.to_string()
            .contains("`${ci.ref_tag}` has no value here: it is set only by `deploy ci`"),
        "{err}"
    );
    // A branch build has no `${ci.tag}`; no sha was read.
    let source = RULES.replace("\"${ci.sha}\"", "\"${ci.tag}\"");
    let config = Config::parse("deploy.toml", ".", &source).expect("parses");
    let build = read(&[("CIRCLE_BRANCH", "hotfix")]);
    let config = config.with_ci(build, None);
    let err = config
        .plan(Some("stage"), Some("deploy"), &[], &registry)
        .expect_err("no tag");
    assert!(
        err.to_string().contains(
            "`${ci.tag}` has no value here: this CI build is for branch `hotfix`, not a tag"
        ),
        "{err}"
    );
}

fn refused(source: &str) -> String {
    Config::parse("deploy.toml", ".", source)
        .expect_err("refused")
        .to_string()
}

#[test]
fn a_malformed_ci_table_is_refused_at_load_time() {
    const ENV: &str = "[environments.stage]\n[tasks.t]\n";
    assert_eq!(
        refused(&format!("[ci]\nrule = []\n{ENV}")),
        "deploy.toml:2:1: unknown field `rule`, expected `rules` or `on_no_match`"
    );
    assert_eq!(
        refused(&format!(
            "[ci]\nrules = [{{ environment = \"stage\" }}]\n{ENV}"
        )),
        "deploy.toml:2:10: [ci] rules[0]: a rule needs `branch` or `tag` (a glob such as \"develop\" or \"v*\")"
    );
    assert_eq!(
        refused(&format!(
            "[ci]\nrules = [{{ branch = \"develop\", environment = \"stag\" }}]\n{ENV}"
        )),
        "deploy.toml:2:46: unknown environment `stag` (did you mean `stage`?) (environments: stage)"
    );
    assert_eq!(
        refused(&format!(
            "[ci]\nrules = [{{ branch = \"a\", tag = \"b\", environment = \"stage\" }}]\n{ENV}"
        )),
        "deploy.toml:2:32: [ci] rules[0]: a rule has `branch` or `tag`, not both (write two rules)"
    );
    assert!(
        refused(&format!(
            "[ci]\nrules = [{{ tag = \"v[\", environment = \"stage\" }}]\n{ENV}"
        ))
        .starts_with("deploy.toml:2:18: [ci] rules[0]: \"v[\" is not a glob: ")
    );
    assert_eq!(
        refused(&format!(
            "[ci]\nrules = [{{ tag = \"v*\", environment = \"stage\", task = \"x\" }}]\n{ENV}"
        )),
        "deploy.toml:2:54: unknown task `x` (tasks: t)"
    );
    assert!(
        refused(&format!(
            "[ci]\nrules = [{{ tag = \"v*\", environment = \"stage\", vars = {{ task = \"x\" }} }}]\n{ENV}"
        ))
        .starts_with("deploy.toml:2:56: `task` is a built-in variable")
    );
    assert!(
        refused(&format!("[ci]\non_no_match = \"ignore\"\n{ENV}"))
            .starts_with("deploy.toml:2:15: unknown variant `ignore`")
    );
}
