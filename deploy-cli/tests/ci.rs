//! `deploy ci`: the `[ci]` rules pick the environment from the build's
//! branch or tag, read from each CI system's variables (set here with
//! `.env`, every other CI variable cleared) or `--branch` / `--tag`. The
//! environments are this machine (`transport = "local"`): a step writes a
//! file, so what ran is what is on disk.

use assert_cmd::Command;

/// Every variable `deploy ci` reads, cleared so the machine running the
/// tests (a CI job itself) does not leak its own build in.
const CI_VARS: &[&str] = &[
    "GITHUB_ACTIONS",
    "GITHUB_REF",
    "GITHUB_REF_NAME",
    "GITHUB_REF_TYPE",
    "GITHUB_SHA",
    "GITLAB_CI",
    "CI_COMMIT_BRANCH",
    "CI_COMMIT_TAG",
    "CI_COMMIT_SHA",
    "CI_COMMIT_REF_NAME",
    "CIRCLECI",
    "CIRCLE_BRANCH",
    "CIRCLE_TAG",
    "CIRCLE_SHA1",
    "TRAVIS",
    "TRAVIS_BRANCH",
    "TRAVIS_TAG",
    "TRAVIS_COMMIT",
    "TRAVIS_PULL_REQUEST",
    "DEPLOY_CONFIG",
];

/// Three environments on this machine; each writes `DIR/<env>` holding
/// what the step was given.
const CONFIG: &str = r#"
[ci]
rules = [
  { tag = "v*", environment = "production" },
  { branch = "develop", environment = "stage" },
  { tag = "uat", environment = "uat", vars = { note = "acceptance" } },
  { branch = "feature/*", environment = "stage", task = "review" },
]

[environments.production]
hosts = ["localhost"]
transport = "local"
approval = "required"

[environments.stage]
hosts = ["localhost"]
transport = "local"

[environments.uat]
hosts = ["localhost"]
transport = "local"

[tasks.deploy]
default = true
params = { note = "plain" }
steps = [{ write-file = { path = "DIR/${environment}", content = "${note} ${ci.tag | default('-')} ${ci.branch | default('-')} ${ci.sha | default('-')}" } }]

[tasks.review]
steps = [{ write-file = { path = "DIR/review", content = "image app:${ci.ref_tag}" } }]
"#;

struct Run {
    code: Option<i32>,
    out: String,
    err: String,
    dir: tempfile::TempDir,
}

impl Run {
    fn file(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join(name)).ok()
    }
}

/// `deploy ci ARGS` on `config` with `env` set and every other CI
/// variable cleared.
fn ci(config: &str, env: &[(&str, &str)], args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config.replace("DIR", &dir.path().display().to_string());
    std::fs::write(dir.path().join("deploy.toml"), config).expect("write config");
    let mut cmd = Command::cargo_bin("deploy").expect("deploy binary");
    cmd.current_dir(dir.path())
        .env("DEPLOY_STATE_DIR", dir.path().join(".state"));
    for var in CI_VARS {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.arg("ci").args(args).output().expect("runs");
    Run {
        code: out.status.code(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
        dir,
    }
}

#[test]
fn a_tag_rule_picks_production_which_needs_yes() {
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REF_TYPE", "tag"),
        ("GITHUB_REF_NAME", "v1.4.2"),
        ("GITHUB_SHA", "0a1b2c3"),
    ];
    let run = ci(CONFIG, &env, &[]);
    assert_eq!(run.code, Some(3), "{}", run.err);
    assert!(
        run.err
            .contains("production needs approval (approval = \"required\")")
            && run.err.contains("pass --yes"),
        "{}",
        run.err
    );
    assert_eq!(run.file("production"), None);

    let run = ci(CONFIG, &env, &["--yes"]);
    assert_eq!(run.code, Some(0), "{}", run.err);
    assert!(
        run.err
            .contains("tag `v1.4.2` matched rule 1 of 4 (rules[0]): { tag = \"v*\", environment = \"production\" }: task `deploy` on production"),
        "{}",
        run.err
    );
    assert_eq!(
        run.file("production").as_deref(),
        Some("plain v1.4.2 - 0a1b2c3")
    );
}

#[test]
fn a_branch_rule_picks_stage_from_gitlab_circleci_and_travis() {
    for env in [
        &[("CI_COMMIT_BRANCH", "develop"), ("CI_COMMIT_SHA", "g1")][..],
        &[("CIRCLE_BRANCH", "develop"), ("CIRCLE_SHA1", "g1")][..],
        &[
            ("TRAVIS_BRANCH", "develop"),
            ("TRAVIS_PULL_REQUEST", "false"),
            ("TRAVIS_COMMIT", "g1"),
        ][..],
    ] {
        let run = ci(CONFIG, env, &[]);
        assert_eq!(run.code, Some(0), "{env:?}: {}", run.err);
        assert_eq!(
            run.file("stage").as_deref(),
            Some("plain - develop g1"),
            "{env:?}"
        );
        assert_eq!(run.file("production"), None);
    }
}

#[test]
fn a_rule_sets_variables_and_the_command_line_gives_the_build() {
    // The GitLab variables lose to --tag; the rule's `note` gives the
    // parameter, a KEY=VALUE wins over it.
    let env = [("CI_COMMIT_BRANCH", "develop"), ("CI_COMMIT_SHA", "g2")];
    let run = ci(CONFIG, &env, &["--tag", "uat"]);
    assert_eq!(run.code, Some(0), "{}", run.err);
    assert_eq!(run.file("uat").as_deref(), Some("acceptance uat - g2"));
    let run = ci(CONFIG, &env, &["--tag", "uat", "--sha", "s", "note=given"]);
    assert_eq!(run.code, Some(0), "{}", run.err);
    assert_eq!(run.file("uat").as_deref(), Some("given uat - s"));
}

#[test]
fn ci_ref_tag_is_the_branch_made_a_docker_tag() {
    let env = [("GITHUB_REF", "refs/heads/feature/rotate-collage")];
    let run = ci(CONFIG, &env, &[]);
    assert_eq!(run.code, Some(0), "{}", run.err);
    assert_eq!(
        run.file("review").as_deref(),
        Some("image app:feature-rotate-collage")
    );
}

#[test]
fn no_rule_matched_exits_0_or_3_with_on_no_match_fail() {
    let env = [("CIRCLE_BRANCH", "hotfix/login")];
    let run = ci(CONFIG, &env, &[]);
    assert_eq!(run.code, Some(0), "{}", run.err);
    assert!(
        run.err.contains(
            "deploy ci: no [ci] rule matches branch `hotfix/login` (4 rules in deploy.toml): nothing to deploy"
        ),
        "{}",
        run.err
    );
    assert!(std::fs::read_dir(run.dir.path()).expect("dir").count() == 1);

    let failing = CONFIG.replace("[ci]\n", "[ci]\non_no_match = \"fail\"\n");
    let run = ci(&failing, &env, &[]);
    assert_eq!(run.code, Some(3), "{}", run.err);
    assert!(
        run.err.contains(
            "error: no [ci] rule matches branch `hotfix/login` (4 rules in deploy.toml): nothing to deploy (on_no_match = \"fail\")"
        ),
        "{}",
        run.err
    );
    // A pull request build matches no rule either.
    let run = ci(
        &failing,
        &[("TRAVIS_BRANCH", "develop"), ("TRAVIS_PULL_REQUEST", "12")],
        &[],
    );
    assert_eq!(run.code, Some(3), "{}", run.err);
    assert!(
        run.err.contains("no [ci] rule matches pull request #12"),
        "{}",
        run.err
    );
}

#[test]
fn no_build_found_is_a_usage_error() {
    let run = ci(CONFIG, &[], &[]);
    assert_eq!(run.code, Some(2), "{}", run.err);
    assert!(run.err.contains("error: no CI build found"), "{}", run.err);
    assert!(
        run.err.contains("pass --branch NAME or --tag NAME"),
        "{}",
        run.err
    );
}

#[test]
fn explain_says_what_was_read_what_matched_and_what_would_run() {
    let env = [
        ("GITHUB_REF_TYPE", "tag"),
        ("GITHUB_REF_NAME", "v2.0.0"),
        ("GITHUB_SHA", "feed"),
    ];
    let run = ci(CONFIG, &env, &["--explain"]);
    assert_eq!(run.code, Some(0), "{}", run.err);
    for line in [
        "read from GitHub Actions:",
        "  GITHUB_REF_TYPE=tag",
        "  GITHUB_REF_NAME=v2.0.0",
        "  GITHUB_SHA=feed",
        "build: tag `v2.0.0`, commit feed",
        "  ci.branch=(none) ci.tag=v2.0.0 ci.sha=feed ci.ref_tag=v2.0.0",
        "tag `v2.0.0` matched rule 1 of 4 (rules[0]): { tag = \"v*\", environment = \"production\" }",
        "would run: task `deploy` on production (approval required: pass --yes)",
        "plan: production / deploy",
    ] {
        assert!(
            run.out.lines().any(|l| l == line),
            "no {line:?} in\n{}",
            run.out
        );
    }
    assert_eq!(run.file("production"), None, "explain ran something");

    let run = ci(CONFIG, &[("CIRCLE_BRANCH", "main")], &["--explain"]);
    assert_eq!(run.code, Some(0), "{}", run.err);
    assert!(
        run.out
            .contains("read from CircleCI:\n  CIRCLE_BRANCH=main\n"),
        "{}",
        run.out
    );
    assert!(
        run.out.contains("no [ci] rule matches branch `main`"),
        "{}",
        run.out
    );
}

#[test]
fn ci_values_outside_deploy_ci_are_an_error_naming_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = CONFIG.replace("DIR", &dir.path().display().to_string());
    std::fs::write(dir.path().join("deploy.toml"), config).expect("write config");
    let out = Command::cargo_bin("deploy")
        .expect("deploy binary")
        .current_dir(dir.path())
        .env_remove("DEPLOY_CONFIG")
        .args(["plan", "stage", "review"])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`${ci.ref_tag}` has no value here: it is set only by `deploy ci`"),
        "{err}"
    );
}

#[test]
fn no_ci_table_and_extra_words_are_usage_errors() {
    let plain = CONFIG
        .split("[environments.production]")
        .nth(1)
        .expect("split");
    let run = ci(
        &format!("[environments.production]{plain}"),
        &[("CIRCLE_BRANCH", "develop")],
        &[],
    );
    assert_eq!(run.code, Some(2), "{}", run.err);
    assert!(
        run.err.contains("deploy.toml has no [ci] table"),
        "{}",
        run.err
    );
    let run = ci(
        CONFIG,
        &[("CIRCLE_BRANCH", "develop")],
        &["stage", "deploy"],
    );
    assert_eq!(run.code, Some(2), "{}", run.err);
    assert!(
        run.err.contains("unexpected argument `deploy`"),
        "{}",
        run.err
    );
}

/// `-H`/`-R` limit a CI run as they limit `deploy run`: an unknown host is
/// an error naming the hosts there are, and nothing runs.
#[test]
fn host_selection_applies_under_ci() {
    let run = ci(CONFIG, &[], &["--branch", "develop", "-H", "web9"]);
    assert_eq!(run.code, Some(2), "{}", run.err);
    assert!(
        run.err.contains("unknown host `web9`") && run.err.contains("localhost"),
        "{}",
        run.err
    );
    assert_eq!(run.file("stage"), None);
    let run = ci(CONFIG, &[], &["--branch", "develop", "-H", "localhost"]);
    assert_eq!(run.code, Some(0), "{}", run.err);
    assert!(run.file("stage").is_some());
}
