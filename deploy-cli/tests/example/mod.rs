//! What the seed examples' end-to-end tests share: an example's directory
//! copied into a git checkout of its own, a `$HOME` whose `~/.ssh/config`
//! names the example's hosts (each a fleet host, its key known), and
//! `deploy` run there as a user would run it.

#![allow(dead_code)] // each test crate uses some of these

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::cargo::cargo_bin;
use deploy_docker::testing::{Fleet, FleetOptions};

/// An example checked out and pointed at a fleet.
pub(crate) struct Example {
    /// The checkout (holding `deploy.toml`).
    pub(crate) project: PathBuf,
    home: PathBuf,
    env: Vec<(String, String)>,
    names: Vec<String>,
    user: String,
    _dir: tempfile::TempDir,
}

/// A fleet host login for `user` (made by the fleet's setup, again when a
/// host starts again): the key root has, a home, no password (locked
/// accounts cannot log in without PAM).
pub(crate) fn user_setup(user: &str) -> String {
    format!(
        "id -u {user} >/dev/null 2>&1 || useradd -m -s /bin/bash {user}; usermod -p '*' {user}; \
         home=$(getent passwd {user} | cut -d: -f6); mkdir -p $home/.ssh; \
         printf '%s\\n' \"$AUTHORIZED_KEY\" > $home/.ssh/authorized_keys; \
         chmod 700 $home/.ssh; chmod 600 $home/.ssh/authorized_keys; chown -R {user}: $home/.ssh;"
    )
}

/// Puts `user` in the group owning the mounted Docker socket, as `docker`
/// group members are on a server (so the SSH forwarding to the socket is
/// allowed).
pub(crate) fn docker_group(user: &str) -> String {
    "gid=$(stat -c %g /var/run/docker.sock); getent group $gid >/dev/null || groupadd -g $gid docker-host; \
     usermod -aG $(getent group $gid | cut -d: -f1) USER;"
        .replace("USER", user)
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
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples")
            .join(name);
        Example::boot(engine, name, names, user, options, |project| {
            let copied = std::process::Command::new("cp")
                .arg("-r")
                .arg(&source)
                .arg(project)
                .status()
                .expect("cp runs");
            assert!(copied.success(), "copying {}", source.display());
        })
        .await
    }

    /// [`Example::start`] with a checkout holding only `config` as its
    /// `deploy.toml`.
    pub(crate) async fn with_config(
        engine: &deploy_docker::Engine,
        name: &str,
        config: &str,
        names: &[&str],
        user: &str,
        options: &FleetOptions,
    ) -> (Example, Fleet) {
        Example::boot(engine, name, names, user, options, |project| {
            std::fs::create_dir_all(project).expect("mkdir");
            std::fs::write(project.join("deploy.toml"), config).expect("deploy.toml");
        })
        .await
    }

    async fn boot(
        engine: &deploy_docker::Engine,
        name: &str,
        names: &[&str],
        user: &str,
        options: &FleetOptions,
        check_out: impl FnOnce(&Path),
    ) -> (Example, Fleet) {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = deploy_ssh::testing::new_key();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".ssh")).expect("mkdir ~/.ssh");
        deploy_ssh::testing::write_key(&home.join(".ssh/id_ed25519"), &key);
        let public = key.public_key().to_openssh().expect("public key");
        let fleet = Fleet::start_with(
            engine,
            &format!("example-{name}"),
            names.len(),
            &public,
            options,
        )
        .await;
        let project = dir.path().join(name);
        check_out(&project);
        let example = Example {
            project,
            home,
            env: Vec::new(),
            names: names.iter().map(|n| n.to_string()).collect(),
            user: user.to_owned(),
            _dir: dir,
        };
        example.repoint(&fleet);
        example.git(&["init", "-q", "-b", "main"]);
        example.commit("the example as shipped");
        (example, fleet)
    }

    /// Writes `~/.ssh/config` and `known_hosts` for the fleet's addresses
    /// (again, after a host came back with a new one).
    pub(crate) fn repoint(&self, fleet: &Fleet) {
        let ssh = self.home.join(".ssh");
        let known = ssh.join("known_hosts");
        std::fs::write(&known, fleet.known_hosts()).expect("known_hosts");
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        let config = fleet.ssh_config(&names, &self.user, &ssh.join("id_ed25519"), &known);
        std::fs::write(ssh.join("config"), config).expect("ssh config");
    }

    /// Runs `deploy ARGS --json` and calls `on_event` with each event as
    /// it arrives (to inject a fault at a given step); the output, stdout
    /// holding every event line.
    pub(crate) fn watch(
        &self,
        args: &[&str],
        mut on_event: impl FnMut(&serde_json::Value),
    ) -> Output {
        use std::io::BufRead;
        let mut command = std::process::Command::new(cargo_bin("deploy"));
        self.prepare(&mut command);
        let mut child = command
            .args(args)
            .arg("--json")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("deploy starts");
        let stderr = child.stderr.take().expect("stderr");
        let errors = std::thread::spawn(move || {
            let mut text = Vec::new();
            std::io::Read::read_to_end(&mut std::io::BufReader::new(stderr), &mut text).ok();
            text
        });
        let mut stdout = Vec::new();
        for line in std::io::BufReader::new(child.stdout.take().expect("stdout")).lines() {
            let line = line.expect("a line");
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) {
                on_event(&event);
            }
            stdout.extend_from_slice(line.as_bytes());
            stdout.push(b'\n');
        }
        let status = child.wait().expect("deploy ends");
        Output {
            status,
            stdout,
            stderr: errors.join().expect("stderr reader"),
        }
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
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Runs `deploy ARGS` in the checkout, as its user would.
    pub(crate) fn deploy(&self, args: &[&str]) -> Output {
        let mut command = std::process::Command::new(cargo_bin("deploy"));
        self.prepare(&mut command);
        command.args(args).output().expect("deploy runs")
    }

    /// The directory, `$HOME` and environment every `deploy` run gets.
    fn prepare(&self, command: &mut std::process::Command) {
        command
            .current_dir(&self.project)
            .env("HOME", &self.home)
            .env_remove("DEPLOY_CONFIG")
            .env_remove("DEPLOY_STATE_DIR")
            .env_remove("SSH_AUTH_SOCK");
        for (name, value) in &self.env {
            command.env(name, value);
        }
    }

    /// [`Example::deploy`], which must exit 0; its stdout and stderr.
    pub(crate) fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.deploy(args);
        let (stdout, stderr) = texts(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "deploy {args:?}:\n{stdout}\n{stderr}"
        );
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
