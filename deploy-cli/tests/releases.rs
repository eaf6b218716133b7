//! Releases, rollback and promotion through the real `deploy` binary:
//! containers on this machine's Docker engine, release directories on this
//! machine (`transport = "local"`, the state directory in a temp dir). Three
//! releases with one failed are listed newest first with the live one
//! marked; a rollback puts back the previous container image by digest
//! after its tag moved, and a named release; a release-directory rollback
//! points `current` back without copying; promote ships staging's digest to
//! production; every one leaves an audit line, and no secret value is in
//! any record or line.
//!
//! Run: `cargo test -p deploy-cli --test releases`

use std::path::Path;

use assert_cmd::Command;
use deploy_docker::Engine;
use deploy_docker::image::ImageRef;

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(config: &str) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = config.replace("DIR", &dir.path().display().to_string());
        std::fs::write(dir.path().join("deploy.toml"), config).expect("config");
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn deploy(&self, args: &[&str]) -> std::process::Output {
        Command::cargo_bin("deploy")
            .expect("deploy binary")
            .current_dir(self.path())
            .env_remove("DEPLOY_CONFIG")
            .env("DEPLOY_STATE_DIR", self.path().join(".state"))
            .env("DB_PASSWORD", "s3cr3t-pw-value")
            .args(args)
            .output()
            .expect("runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.deploy(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "deploy {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `deploy releases ENV --json`, newest first.
    fn releases(&self, env: &str) -> Vec<serde_json::Value> {
        self.ok(&["releases", env, "--json"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    fn audit(&self, env: &str) -> Vec<serde_json::Value> {
        self.ok(&["audit", env, "--json", "-n", "100"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// Everything deploy wrote in the state directories.
    fn state_text(&self) -> String {
        let mut text = String::new();
        let mut dirs = vec![self.path().join(".state")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    text.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
                }
            }
        }
        text
    }
}

fn ids(releases: &[serde_json::Value]) -> Vec<String> {
    releases
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn image_of(engine: &Engine, container: &str) -> String {
    engine
        .inspect(container)
        .await
        .expect("inspect")
        .expect("the container exists")
        .image_id
}

async fn id_of(engine: &Engine, image: &str) -> String {
    engine
        .image_id(image)
        .await
        .expect("inspect image")
        .expect("the image exists")
}

async fn point(engine: &Engine, tag: &str, at: &str) {
    engine
        .tag(at, &ImageRef::parse(tag).expect("a reference"))
        .await
        .expect("tag");
}

/// A runtime, this machine's engine, and the test app at versions 1 and
/// 2 (`None`, said, when there is no engine outside CI).
fn engine_with_apps() -> Option<(tokio::runtime::Runtime, Engine, [String; 2])> {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let engine = runtime.block_on(deploy_docker::testing::engine())?;
    let versions = runtime.block_on(async {
        [
            deploy_docker::testing::app_image(&engine, "1", true).await,
            deploy_docker::testing::app_image(&engine, "2", true).await,
        ]
    });
    Some((runtime, engine, versions))
}

const SECRETS: &str = "[secrets]\nDB_PASSWORD = { env = \"DB_PASSWORD\" }\n\n";

/// Three releases, the third failed: listed newest first, the second live;
/// `deploy rollback` puts back the first's image by its id although the tag
/// it was deployed from now names another image, then a named release is
/// put back; bad input (an unknown release, the live one) changes nothing.
#[test]
fn releases_and_rollback_by_digest() {
    let Some((runtime, engine, [v1, v2])) = engine_with_apps() else {
        return;
    };
    let pid = std::process::id();
    let (repo, container, test) = (
        format!("deploy-test-rollback-{pid}"),
        format!("deploy-test-rollback-web-{pid}"),
        format!("releases-{pid}"),
    );
    let tag = format!("{repo}:live");
    let project = Project::new(&format!(
        r#"{SECRETS}[environments.e]
hosts = ["localhost"]
transport = "local"

[tasks.deploy]
params = {{ version = "1", fail = "no" }}
steps = [
  {{ docker.recreate = {{ name = "{container}", image = "{tag}", env = {{ DB_PASSWORD = "${{secret.DB_PASSWORD}}" }}, labels = {{ "deploy.test" = "{test}" }}, version = "${{version}}", stop_grace = "1s", wait = "30s" }} }},
  {{ exec = {{ shell = "test \"$FAIL\" = no", env = {{ FAIL = "${{fail}}" }} }} }},
]
"#
    ));
    let (id1, id2) = runtime.block_on(async {
        point(&engine, &tag, &v1).await;
        (id_of(&engine, &v1).await, id_of(&engine, &v2).await)
    });

    project.ok(&["run", "e", "deploy", "version=1"]);
    runtime.block_on(point(&engine, &tag, &v2));
    project.ok(&["run", "e", "deploy", "version=2"]);
    let failed = project.deploy(&["run", "e", "deploy", "version=3", "fail=yes"]);
    assert_eq!(failed.status.code(), Some(1));

    let releases = project.releases("e");
    assert_eq!(releases.len(), 3, "{releases:?}");
    let [r3, r2, r1] = [0, 1, 2].map(|i| ids(&releases)[i].clone());
    assert!(r3 > r2 && r2 > r1, "newest first: {:?}", ids(&releases));
    assert_eq!(releases[0]["succeeded"], false);
    assert_eq!(releases[1]["live_on"], serde_json::json!(["localhost"]));
    assert_eq!(releases[2]["live_on"], serde_json::json!([]));
    assert_eq!(releases[2]["records"][0]["images"][0]["id"], id1.as_str());
    assert_eq!(releases[1]["records"][0]["images"][0]["id"], id2.as_str());
    let text = project.ok(&["releases", "e"]);
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("      ")).collect();
    assert!(
        lines[0].contains(&r3) && lines[0].contains("failed on localhost"),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!("* {r2}")) && lines[1].contains("live"),
        "{text}"
    );

    // Bad input: nothing changes.
    let unknown = project.deploy(&["rollback", "e", "1999", "-y"]);
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(2), "{said}");
    assert!(
        said.contains("no release `1999`") && said.contains(&r1),
        "{said}"
    );
    let live = project.deploy(&["rollback", "e", &r2, "-y"]);
    assert_eq!(live.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&live.stderr).contains("is the live one"));
    let not_succeeded = project.deploy(&["rollback", "e", &r3, "-y"]);
    assert!(String::from_utf8_lossy(&not_succeeded.stderr).contains("did not succeed"));
    assert_eq!(runtime.block_on(image_of(&engine, &container)), id2);

    // The plan first: what a rollback would do.
    let plan = project.ok(&["plan", "e", "rollback"]);
    assert!(
        plan.contains(&format!("rollback: puts back release {r1} of e")),
        "{plan}"
    );
    assert!(
        plan.contains(&format!("pinned: {container} {tag} → {id1}")),
        "{plan}"
    );
    let listed = project.ok(&["rollback", "e", "--list"]);
    assert!(listed.contains(&r1) && !listed.contains(&r3), "{listed}");

    // The tag now names v2; the rollback runs v1 by its id.
    let out = project.ok(&["rollback", "e", "-y"]);
    assert!(
        out.contains("rollback: puts back"),
        "the plan is shown first: {out}"
    );
    assert_eq!(runtime.block_on(image_of(&engine, &container)), id1);
    let releases = project.releases("e");
    assert_eq!(releases.len(), 4);
    let r4 = &releases[0];
    assert_eq!(r4["records"][0]["command"], "rollback");
    assert_eq!(r4["records"][0]["source"]["release"], r1.as_str());
    assert_eq!(r4["records"][0]["params"]["version"], "1");
    assert_eq!(r4["live_on"], serde_json::json!(["localhost"]));

    // A named release, by a prefix only it has.
    let prefix = &r2[..r2.len() - 1];
    if releases
        .iter()
        .filter(|r| r["id"].as_str().is_some_and(|id| id.starts_with(prefix)))
        .count()
        == 1
    {
        project.ok(&["rollback", "e", prefix, "-y"]);
    } else {
        project.ok(&["rollback", "e", &r2, "-y"]);
    }
    assert_eq!(runtime.block_on(image_of(&engine, &container)), id2);

    let commands: Vec<String> = project
        .audit("e")
        .iter()
        .map(|l| {
            format!(
                "{} {}",
                l["command"].as_str().unwrap_or(""),
                l["outcome"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        commands,
        [
            "run succeeded",
            "run succeeded",
            "run failed",
            "rollback succeeded",
            "rollback succeeded"
        ]
    );
    assert!(
        !project.state_text().contains("s3cr3t-pw-value"),
        "a secret in the state"
    );
    runtime.block_on(async {
        deploy_docker::testing::clean_up(&engine, &test).await;
        let _ = engine.remove_image(&tag).await;
    });
}

/// `deploy promote staging production` runs production's task with the
/// image staging's live release runs, by digest, although the tag staging
/// deployed has moved since; an environment with no live release cannot
/// be promoted from.
#[test]
fn promote_ships_the_same_digest() {
    let Some((runtime, engine, [v1, v2])) = engine_with_apps() else {
        return;
    };
    let pid = std::process::id();
    let (repo, test) = (
        format!("deploy-test-promote-{pid}"),
        format!("promote-{pid}"),
    );
    let tag = format!("{repo}:candidate");
    let project = Project::new(&format!(
        r#"{SECRETS}[environments.staging]
hosts = ["localhost"]
transport = "local"
vars = {{ name = "deploy-test-promote-staging-{pid}" }}

[environments.production]
hosts = ["localhost"]
transport = "local"
vars = {{ name = "deploy-test-promote-production-{pid}" }}

[tasks.deploy]
params = {{ version = "1" }}
steps = [
  {{ docker.recreate = {{ name = "${{name}}", image = "{tag}", env = {{ DB_PASSWORD = "${{secret.DB_PASSWORD}}" }}, labels = {{ "deploy.test" = "{test}" }}, version = "${{version}}", stop_grace = "1s", wait = "30s" }} }},
]
"#
    ));
    let none = project.deploy(&["promote", "staging", "production", "-y"]);
    let said = String::from_utf8_lossy(&none.stderr);
    assert_eq!(none.status.code(), Some(2), "{said}");
    assert!(
        said.contains("staging has no live release") && said.contains("deploy run staging"),
        "{said}"
    );

    runtime.block_on(point(&engine, &tag, &v1));
    project.ok(&["run", "staging", "deploy", "version=1.0"]);
    runtime.block_on(point(&engine, &tag, &v2));
    let out = project.ok(&["promote", "staging", "production", "-y"]);
    assert!(out.contains("promote: ships what release"), "{out}");
    let id1 = runtime.block_on(id_of(&engine, &v1));
    let production = format!("deploy-test-promote-production-{pid}");
    assert_eq!(runtime.block_on(image_of(&engine, &production)), id1);

    let staging = project.releases("staging");
    let promoted = project.releases("production");
    assert_eq!(promoted.len(), 1);
    let record = &promoted[0]["records"][0];
    assert_eq!(record["command"], "promote");
    assert_eq!(record["params"]["version"], "1.0", "staging's parameters");
    assert_eq!(record["source"]["environment"], "staging");
    assert_eq!(record["source"]["release"], staging[0]["id"]);
    assert_eq!(record["images"][0]["id"], id1.as_str());
    let audit = project.audit("production");
    assert_eq!(
        audit.last().map(|l| l["command"].clone()),
        Some("promote".into())
    );
    assert!(
        !project.state_text().contains("s3cr3t-pw-value"),
        "a secret in the state"
    );
    runtime.block_on(async {
        deploy_docker::testing::clean_up(&engine, &test).await;
        let _ = engine.remove_image(&tag).await;
    });
}

/// A release-directory deploy (`current` symlink): rolled back, `current`
/// points at the previous release's directory again, whose files are what
/// it shipped (nothing is copied, though the local files changed); the
/// rollback of the oldest has nothing to roll back to.
#[test]
fn release_directory_rollback() {
    let project = Project::new(
        r#"[environments.e]
hosts = ["localhost"]
transport = "local"

[tasks.deploy]
steps = [
  { sync = { from = "site", to = "DIR/srv/releases/${release}" } },
  { symlink = { link = "DIR/srv/current", to = "DIR/srv/releases/${release}" } },
]

[tasks.status]
ships = false
steps = [{ exec = { cmd = ["ls", "DIR/srv/current/"] } }]
"#,
    );
    let site = project.path().join("site");
    std::fs::create_dir_all(&site).expect("site");
    let current = project.path().join("srv/current/index.html");
    std::fs::write(site.join("index.html"), "v1").expect("v1");
    project.ok(&["run", "e", "deploy"]);
    std::fs::write(site.join("index.html"), "v2").expect("v2");
    project.ok(&["run", "e", "deploy"]);
    assert_eq!(std::fs::read_to_string(&current).expect("current"), "v2");

    let status = project.deploy(&["run", "e", "status"]);
    let said = String::from_utf8_lossy(&status.stderr);
    assert!(
        !said.contains("release"),
        "a task that does not ship shows no release id: {said}"
    );
    assert_eq!(
        project.releases("e").len(),
        2,
        "no release for `ships = false`"
    );

    let plan = project.ok(&["rollback", "e", "--dry-run"]);
    assert!(
        plan.contains("as its release shipped it (a rollback copies nothing)"),
        "{plan}"
    );
    project.ok(&["rollback", "e", "-y"]);
    assert_eq!(std::fs::read_to_string(&current).expect("current"), "v1");
    let releases = std::fs::read_dir(project.path().join("srv/releases"))
        .expect("releases")
        .count();
    assert_eq!(releases, 2, "no new release directory");

    let nothing = project.deploy(&["rollback", "e", "-y"]);
    let said = String::from_utf8_lossy(&nothing.stderr);
    assert_eq!(nothing.status.code(), Some(2), "{said}");
    assert!(said.contains("nothing to roll back to"), "{said}");
    assert_eq!(std::fs::read_to_string(&current).expect("current"), "v1");
    let audit: Vec<String> = project
        .audit("e")
        .iter()
        .map(|l| l["command"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(audit, ["run", "run", "run", "rollback"]);
    assert!(
        project.audit("e")[2]["release"].is_null(),
        "status has no release id"
    );
}

/// Builds `tag` from the test app with one label more (an image of its own,
/// so removing it touches no other test's).
async fn unique_image(engine: &Engine, base: &str, tag: &str, label: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {base}\nLABEL deploy.test.unique=\"{label}\"\n"),
    )
    .expect("Dockerfile");
    engine
        .build(
            &deploy_docker::BuildSpec::new(dir.path(), tag),
            &deploy_core::target::DiscardOutput,
        )
        .await
        .expect("build");
    id_of(engine, tag).await
}

/// Images that went through a registry are recorded by their registry
/// digest: a rollback after the host lost the old image pulls it by that
/// digest (the tag now names the new one) and runs it.
#[test]
fn rollback_pulls_a_lost_image_by_its_registry_digest() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(engine) = runtime.block_on(deploy_docker::testing::engine()) else {
        return;
    };
    let registry = deploy_docker::testing::Registry::start();
    let base = runtime.block_on(deploy_docker::testing::app_image(&engine, "1", true));
    let pid = std::process::id();
    let (tag, container, test) = (
        format!("{}/deploy-test-pinned-{pid}:live", registry.address),
        format!("deploy-test-pinned-web-{pid}"),
        format!("pinned-{pid}"),
    );
    let push = |image: String| {
        let engine = &engine;
        async move {
            engine
                .push(
                    &ImageRef::parse(&image).expect("reference"),
                    &deploy_docker::Credentials::default(),
                    &deploy_core::target::DiscardOutput,
                )
                .await
                .expect("push");
        }
    };
    let project = Project::new(&format!(
        r#"[environments.e]
hosts = ["localhost"]
transport = "local"

[tasks.deploy]
steps = [
  {{ docker.pull = {{ image = "{tag}" }} }},
  {{ docker.recreate = {{ name = "{container}", image = "{tag}", labels = {{ "deploy.test" = "{test}" }}, stop_grace = "1s", wait = "30s" }} }},
]
"#
    ));
    let old = runtime.block_on(async {
        let old = unique_image(&engine, &base, &tag, &format!("{pid}-old")).await;
        push(tag.clone()).await;
        old
    });
    project.ok(&["run", "e", "deploy"]);
    let new = runtime.block_on(async {
        let new = unique_image(&engine, &base, &tag, &format!("{pid}-new")).await;
        push(tag.clone()).await;
        new
    });
    project.ok(&["run", "e", "deploy"]);
    assert_eq!(runtime.block_on(image_of(&engine, &container)), new);
    let releases = project.releases("e");
    let digest = releases[1]["records"][0]["images"][0]["repo_digest"]
        .as_str()
        .expect("a registry digest was recorded")
        .to_owned();

    // The host loses the old image: the kept container goes, then the image.
    runtime.block_on(async {
        engine
            .remove(&format!("{container}-previous"))
            .await
            .expect("remove the kept container");
        engine
            .remove_image(&old)
            .await
            .expect("remove the old image");
        assert!(engine.image_id(&digest).await.expect("inspect").is_none());
    });
    let plan = project.ok(&["plan", "e", "rollback"]);
    assert!(plan.contains(&format!("pull image {digest}")), "{plan}");
    project.ok(&["rollback", "e", "-y"]);
    assert_eq!(runtime.block_on(image_of(&engine, &container)), old);
    runtime.block_on(async {
        deploy_docker::testing::clean_up(&engine, &test).await;
        for image in [tag.as_str(), digest.as_str(), new.as_str(), old.as_str()] {
            let _ = engine.remove_image(image).await;
        }
    });
}

/// Over SSH, on two addresses of a real sshd: each host gets its own
/// record (the two share a filesystem here, as hosts with an NFS home
/// do), `deploy releases` shows one release live on both, and a rollback
/// limited to one host (`-H`) puts back only that host's `current`.
#[test]
fn releases_over_ssh_per_host() {
    let Some(sshd) = deploy_ssh::testing::Sshd::start() else {
        return;
    };
    let port = sshd.port;
    let project = Project::new(&format!(
        r#"[ssh]
user = "{user}"
identity_files = ["{key}"]
known_hosts = "{known_hosts}"
host_keys = "accept-new"

[environments.prod]
hosts = ["127.0.0.2:{port}", "127.0.0.3:{port}"]

[tasks.deploy]
steps = [
  {{ sync = {{ from = "site", to = "DIR/srv/${{host}}/releases/${{release}}" }} }},
  {{ symlink = {{ link = "DIR/srv/${{host}}/current", to = "DIR/srv/${{host}}/releases/${{release}}" }} }},
]
"#,
        user = deploy_ssh::testing::user(),
        key = sshd.user_key_path.display(),
        known_hosts = sshd.dir.path().join("releases_known_hosts").display(),
    ));
    let site = project.path().join("site");
    std::fs::create_dir_all(&site).expect("site");
    let current = |host: &str| {
        std::fs::read_to_string(
            project
                .path()
                .join(format!("srv/{host}:{port}/current/index.html")),
        )
        .expect("current")
    };
    for version in ["v1", "v2"] {
        std::fs::write(site.join("index.html"), version).expect("site");
        project.ok(&["run", "prod", "deploy"]);
    }
    let releases = project.releases("prod");
    assert_eq!(releases.len(), 2, "{releases:?}");
    let hosts = [format!("127.0.0.2:{port}"), format!("127.0.0.3:{port}")];
    assert_eq!(releases[0]["live_on"], serde_json::json!(hosts));
    assert_eq!(releases[0]["records"].as_array().map(Vec::len), Some(2));

    project.ok(&["rollback", "prod", "-y", "-H", &hosts[0]]);
    assert_eq!(current("127.0.0.2"), "v1");
    assert_eq!(current("127.0.0.3"), "v2", "the other host was left alone");
    let releases = project.releases("prod");
    assert_eq!(releases[0]["records"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        releases[0]["live_on"],
        serde_json::json!([hosts[0].clone()])
    );
    assert_eq!(
        releases[1]["live_on"],
        serde_json::json!([hosts[1].clone()])
    );
}
