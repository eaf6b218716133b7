//! What the seed examples' end-to-end tests share: an example's directory
//! copied into a git checkout of its own, a `$HOME` whose `~/.ssh/config`
//! names the example's hosts (each a fleet host, its key known), and
//! `deploy` run there as a user would run it.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use deploy_docker::testing::{Fleet, FleetOptions};

/// An example checked out and pointed at a fleet.
pub(crate) struct Example {
    /// The checkout (holding `deploy.toml`).
    pub(crate) project: PathBuf,
    home: PathBuf,
    env: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

/// A fleet host login for `user` (made by the fleet's setup): the key root
/// has, a home, no password (locked accounts cannot log in without PAM).
pub(crate) fn user_setup(user: &str) -> String {
    format!(
        "useradd -m -s /bin/bash {user}; usermod -p '*' {user}; mkdir -p /home/{user}/.ssh; \
         printf '%s\\n' \"$AUTHORIZED_KEY\" > /home/{user}/.ssh/authorized_keys; \
         chmod 700 /home/{user}/.ssh; chmod 600 /home/{user}/.ssh/authorized_keys; \
         chown -R {user}: /home/{user}/.ssh;"
    )
}

impl Example {
    /// Starts `names.len()` fleet hosts set up by `options` and checks out
    /// `examples/<name>`, each of `names` an `~/.ssh/config` entry for one
    /// host, logging in as `user`.
    pub(crate) async fn start(
        engine: &deploy_docker::Engine,
        name: &str,
        names: &[&str],
        user: &str,
        options: &FleetOptions,
    ) -> (Example, Fleet) {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = deploy_ssh::testing::new_key();
        let home = dir.path().join("home");
        let ssh = home.join(".ssh");
        std::fs::create_dir_all(&ssh).expect("mkdir ~/.ssh");
        let identity = ssh.join("id_ed25519");
        deploy_ssh::testing::write_key(&identity, &key);
        let public = key.public_key().to_openssh().expect("public key");
        let fleet = Fleet::start_with(engine, &format!("example-{name}"), names.len(), &public, options).await;
        let known = ssh.join("known_hosts");
        std::fs::write(&known, fleet.known_hosts()).expect("known_hosts");
        std::fs::write(ssh.join("config"), fleet.ssh_config(names, user, &identity, &known))
            .expect("ssh config");
        let project = dir.path().join(name);
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name);
        let copied = std::process::Command::new("cp")
            .arg("-r")
            .arg(&source)
            .arg(&project)
            .status()
            .expect("cp runs");
        assert!(copied.success(), "copying {}", source.display());
        let example = Example {
            project,
            home,
            env: Vec::new(),
            _dir: dir,
        };
        example.git(&["init", "-q", "-b", "main"]);
        example.commit("the example as shipped");
        (example, fleet)
    }

    /// Sets an environment variable for every `deploy` run (a secret's source).
    pub(crate) fn env(mut self, name: &str, value: &str) -> Example {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Writes `text` to `path` in the checkout and commits it.
    pub(crate) fn change(&self, path: &str, text: &str, message: &str) {
        std::fs::write(self.project.join(path), text).expect("write");
        self.commit(message);
    }

    /// The checkout's file `path`.
    pub(crate) fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.project.join(path)).expect("read")
    }

    fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
    }

    /// Runs `git` in the checkout; panics when it fails.
    pub(crate) fn git(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(&self.project)
            .env("HOME", &self.home)
            .env("GIT_AUTHOR_NAME", "Rando Pony")
            .env("GIT_AUTHOR_EMAIL", "ops@example.invalid")
            .env("GIT_COMMITTER_NAME", "Rando Pony")
            .env("GIT_COMMITTER_EMAIL", "ops@example.invalid")
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Runs `deploy ARGS` in the checkout, as its user would.
    pub(crate) fn deploy(&self, args: &[&str]) -> Output {
        let mut command = Command::cargo_bin("deploy").expect("deploy binary");
        command
            .current_dir(&self.project)
            .env("HOME", &self.home)
            .env_remove("DEPLOY_CONFIG")
            .env_remove("DEPLOY_STATE_DIR")
            .env_remove("SSH_AUTH_SOCK")
            .args(args);
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command.output().expect("deploy runs")
    }

    /// [`Example::deploy`], which must exit 0; its stdout and stderr.
    pub(crate) fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.deploy(args);
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(0), "deploy {args:?}:\n{stdout}\n{stderr}");
        (stdout, stderr)
    }
}

/// An output's stdout and stderr as text.
pub(crate) fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
