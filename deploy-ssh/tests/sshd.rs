//! SshTarget against a real OpenSSH sshd started by the test.

use std::sync::Mutex;
use std::time::Duration;

use deploy_core::target::{Endpoint, OutputSink, OutputStream, SyncOptions, TargetError};
use deploy_core::testing::server::{Server, Stop};
use deploy_core::{Command, Target};
use deploy_ssh::testing::{self as support, Sshd};
use deploy_ssh::{HostKeyPolicy, SshOptions, SshTarget};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Keeps output lines.
#[derive(Default)]
struct Lines(Mutex<Vec<(OutputStream, String)>>);

impl OutputSink for Lines {
    fn line(&self, stream: OutputStream, line: &str) {
        self.0.lock().expect("lock").push((stream, line.to_owned()));
    }
}

impl Lines {
    fn of(&self, which: OutputStream) -> Vec<String> {
        self.0
            .lock()
            .expect("lock")
            .iter()
            .filter(|(s, _)| *s == which)
            .map(|(_, l)| l.clone())
            .collect()
    }
}

fn target(_sshd: &Sshd, options: SshOptions) -> SshTarget {
    SshTarget::new("web1", options).with_address("127.0.0.1")
}

/// Commands stream stdout and stderr lines and report exit codes; many run on one connection.
#[tokio::test]
async fn exec_streams_output_and_exit_codes() {
    let Some(sshd) = Sshd::start() else { return };
    let web1 = target(&sshd, sshd.options());
    let lines = Lines::default();
    let status = web1
        .run(
            &Command::shell("echo out; echo err >&2; printf 'no newline'"),
            &lines,
        )
        .await
        .expect("runs");
    assert!(status.success());
    assert_eq!(lines.of(OutputStream::Stdout), vec!["out", "no newline"]);
    assert_eq!(lines.of(OutputStream::Stderr), vec!["err"]);
    for code in [0, 3, 42] {
        let status = web1
            .run(&Command::shell(format!("exit {code}")), &Lines::default())
            .await
            .expect("runs");
        assert_eq!(status.code, Some(code));
    }
}

/// stdin, environment variables and the working directory reach the remote command.
#[tokio::test]
async fn exec_takes_stdin_env_and_cwd() {
    let Some(sshd) = Sshd::start() else { return };
    let web1 = target(&sshd, sshd.options());
    let dir = sshd.dir.path().display().to_string();
    let lines = Lines::default();
    let cmd = Command::shell("cat; echo \"$GREETING\"; pwd")
        .env("GREETING", "hello there")
        .cwd(dir.clone())
        .stdin("from stdin\n");
    assert!(web1.run(&cmd, &lines).await.expect("runs").success());
    assert_eq!(
        lines.of(OutputStream::Stdout),
        vec!["from stdin".to_owned(), "hello there".to_owned(), dir]
    );
}

/// Environment values never reach a command line on the host (anyone there
/// reads argv in `ps`), yet arrive byte for byte: quotes, backslashes,
/// newlines, `%`; plain and through sudo with a password on stdin, whose
/// own stdin still follows.
#[tokio::test]
async fn env_values_arrive_intact_and_stay_out_of_argv() {
    let Some(sshd) = Sshd::start() else { return };
    let value = "it's a \"s3cr3t\"\\n with %s and\na second line\n";
    let script = "printf %s \"$TOKEN\" | od -An -c | tr -s ' \\n' ' '; echo; \
                  cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' '\\n' | grep -c 's3cr[3]t'; cat";
    let expected = {
        let out = std::process::Command::new("sh")
            .args(["-c", "printf %s \"$TOKEN\" | od -An -c | tr -s ' \\n' ' '"])
            .env("TOKEN", value)
            .output()
            .expect("od runs here");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let password = "sudo-test-pw";
    let mut sudo = sshd.options();
    sudo.user = "deploy-pw".into();
    let plain = target(&sshd, sshd.options());
    let with_sudo = target(
        &sshd,
        sudo.sudo_password(deploy_core::Secret::new(password)),
    );
    for (web1, as_root) in [(plain, false), (with_sudo, true)] {
        let lines = Lines::default();
        let cmd = Command::shell(script)
            .env("TOKEN", value)
            .env("PLAIN", "1")
            .sudo(as_root)
            .stdin("the command's own stdin\n");
        assert!(!cmd.to_shell_line().0.contains("s3cr3t"));
        assert!(web1.run(&cmd, &lines).await.expect("runs").success());
        let out = lines.of(OutputStream::Stdout);
        assert_eq!(out[0].trim(), expected.trim(), "sudo {as_root}: {out:?}");
        assert_eq!(
            out[1], "0",
            "sudo {as_root}: a command line holds the value"
        );
        assert_eq!(out[2], "the command's own stdin");
    }
}

/// Strict: an unknown host is refused with its fingerprint, and nothing runs; known, it runs.
#[tokio::test]
async fn strict_refuses_an_unknown_host_and_runs_nothing() {
    let Some(sshd) = Sshd::start() else { return };
    let marker = sshd.dir.path().join("marker");
    let touch = Command::new(["touch", marker.to_str().expect("utf-8")]);
    let empty = sshd.dir.path().join("empty_known_hosts");
    let web1 = target(&sshd, sshd.options().known_hosts(&empty));
    let error = web1
        .run(&touch, &Lines::default())
        .await
        .expect_err("refused");
    let message = error.to_string();
    assert!(message.contains("is not in"), "{message}");
    assert!(message.contains("SHA256:"), "{message}");
    assert!(!marker.exists(), "the command must not run");
    // Positive control: the same host, listed.
    let web1 = target(&sshd, sshd.options());
    assert!(
        web1.run(&touch, &Lines::default())
            .await
            .expect("runs")
            .success()
    );
    assert!(marker.exists());
}

/// A changed host key is refused, naming the known_hosts line to edit; nothing runs.
#[tokio::test]
async fn changed_host_key_is_refused() {
    let Some(sshd) = Sshd::start() else { return };
    let other = support::new_key();
    let path = sshd.dir.path().join("changed_known_hosts");
    std::fs::write(
        &path,
        format!(
            "# old install\n[127.0.0.1]:{} {}\n",
            sshd.port,
            other.public_key().to_openssh().expect("encode")
        ),
    )
    .expect("write");
    let marker = sshd.dir.path().join("marker");
    let web1 = target(
        &sshd,
        sshd.options()
            .known_hosts(&path)
            .host_keys(HostKeyPolicy::AcceptNew),
    );
    let error = web1
        .run(
            &Command::new(["touch", marker.to_str().expect("utf-8")]),
            &Lines::default(),
        )
        .await
        .expect_err("refused");
    let message = error.to_string();
    assert!(message.contains("HOST KEY CHANGED"), "{message}");
    assert!(message.contains("changed_known_hosts:2"), "{message}");
    assert!(!marker.exists());
}

/// accept-new learns an unknown host once, then knows it.
#[tokio::test]
async fn accept_new_learns_the_host() {
    let Some(sshd) = Sshd::start() else { return };
    let path = sshd.dir.path().join("learned_known_hosts");
    let options = sshd
        .options()
        .known_hosts(&path)
        .host_keys(HostKeyPolicy::AcceptNew);
    let web1 = target(&sshd, options);
    assert!(
        web1.run(&Command::new(["true"]), &Lines::default())
            .await
            .expect("runs")
            .success()
    );
    let learned = std::fs::read_to_string(&path).expect("appended");
    assert_eq!(learned.lines().count(), 1);
    assert!(learned.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port)));
    let strict = target(&sshd, sshd.options().known_hosts(&path));
    assert!(
        strict
            .run(&Command::new(["true"]), &Lines::default())
            .await
            .expect("runs")
            .success()
    );
}

/// A key the server does not accept: the error names user@host and what was tried.
#[tokio::test]
async fn refused_key_names_what_was_tried() {
    let Some(sshd) = Sshd::start() else { return };
    let stranger = sshd.dir.path().join("stranger");
    support::write_key(&stranger, &support::new_key());
    let web1 = target(&sshd, sshd.options().identity_file(&stranger));
    let mut options = sshd.options();
    options.identity_files = vec![stranger.clone()];
    let web1_only_stranger = target(&sshd, options);
    let error = web1_only_stranger
        .run(&Command::new(["true"]), &Lines::default())
        .await
        .expect_err("refused");
    let message = error.to_string();
    assert!(message.contains("authentication refused"), "{message}");
    assert!(
        message.contains(&format!("{}@127.0.0.1", support::user())),
        "{message}"
    );
    assert!(message.contains("stranger"), "{message}");
    // Positive control: the right key after the stranger's.
    assert!(
        web1.run(&Command::new(["true"]), &Lines::default())
            .await
            .expect("runs")
            .success()
    );
}

/// A timeout (dropping the run) kills the remote process group, not just the channel.
#[tokio::test]
async fn dropped_command_kills_the_remote_process() {
    let Some(sshd) = Sshd::start() else { return };
    let web1 = target(&sshd, sshd.options());
    let pidfile = sshd.dir.path().join("sleep.pid");
    let cmd = Command::shell(format!("sleep 30 & echo $! > {}; wait", pidfile.display()));
    let result = tokio::time::timeout(
        Duration::from_millis(800),
        web1.run(&cmd, &Lines::default()),
    )
    .await;
    assert!(result.is_err(), "the sleep outlives the timeout");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid number");
    let mut gone = false;
    for _ in 0..100 {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if state.is_empty() || state.split_whitespace().nth(2) == Some("Z") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "remote sleep {pid} still runs");
}

/// Files go up and come back byte for byte, with their mode; a missing file is None.
#[tokio::test]
async fn files_round_trip() {
    let Some(sshd) = Sshd::start() else { return };
    let web1 = target(&sshd, sshd.options());
    let path = sshd.dir.path().join("deep/dir/secret.ini");
    let path_text = path.display().to_string();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    web1.write_file(&path_text, &bytes, Some(0o400))
        .await
        .expect("writes");
    assert_eq!(
        web1.read_file(&path_text).await.expect("reads"),
        Some(bytes)
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777,
        0o400
    );
    let missing = sshd.dir.path().join("nope").display().to_string();
    assert_eq!(web1.read_file(&missing).await.expect("reads"), None);
}

/// Sync: first copy, no change, one file changed, a deleted file, ignored files kept.
#[tokio::test]
async fn sync_sends_only_what_changed() {
    let Some(sshd) = Sshd::start() else { return };
    let web1 = target(&sshd, sshd.options());
    let src = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(src.path().join("static")).expect("mkdir");
    std::fs::write(src.path().join("app.py"), "print('v1')\n").expect("write");
    std::fs::write(src.path().join("static/site.css"), "body {}\n").expect("write");
    std::fs::write(src.path().join("old.txt"), "old\n").expect("write");
    std::fs::write(src.path().join(".deployignore"), "*.log\n").expect("write");
    let dest = sshd.dir.path().join("release");
    let dest_text = dest.display().to_string();
    let options = SyncOptions {
        delete: true,
        exclude: vec![],
    };

    let first = web1
        .sync_dir(src.path(), &dest_text, &options)
        .await
        .expect("syncs");
    assert_eq!((first.copied, first.unchanged), (4, 0));
    assert_eq!(
        std::fs::read_to_string(dest.join("static/site.css")).expect("copied"),
        "body {}\n"
    );

    let again = web1
        .sync_dir(src.path(), &dest_text, &options)
        .await
        .expect("syncs");
    assert_eq!((again.copied, again.unchanged, again.deleted), (0, 4, 0));

    std::fs::write(src.path().join("app.py"), "print('version 2')\n").expect("write");
    std::fs::remove_file(src.path().join("old.txt")).expect("rm");
    std::fs::write(dest.join("server.log"), "kept\n").expect("write");
    let changed = web1
        .sync_dir(src.path(), &dest_text, &options)
        .await
        .expect("syncs");
    assert_eq!((changed.copied, changed.deleted), (1, 1));
    assert_eq!(
        std::fs::read_to_string(dest.join("app.py")).expect("copied"),
        "print('version 2')\n"
    );
    assert!(!dest.join("old.txt").exists());
    assert!(
        dest.join("server.log").exists(),
        "ignored files on the target are kept"
    );
}

/// A stream to a unix socket on the server's side, through the connection.
#[tokio::test]
async fn connects_to_a_remote_unix_socket() {
    let Some(sshd) = Sshd::start() else { return };
    let socket = sshd.dir.path().join("app.sock");
    let listener = tokio::net::UnixListener::bind(&socket).expect("bind");
    tokio::spawn(async move {
        if let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 4];
            if stream.read_exact(&mut buf).await.is_ok() {
                let _ = stream.write_all(b"pong").await;
            }
        }
    });
    let web1 = target(&sshd, sshd.options());
    let mut stream = web1
        .connect(&Endpoint::Unix(socket.display().to_string()))
        .await
        .expect("opens");
    stream.write_all(b"ping").await.expect("writes");
    let mut answer = [0u8; 4];
    stream.read_exact(&mut answer).await.expect("reads");
    assert_eq!(&answer, b"pong");
}

/// An unreachable host fails within the connect timeout with a clear error.
#[tokio::test]
async fn unreachable_host_fails_within_the_timeout() {
    let Some(sshd) = Sshd::start() else { return };
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let web9 = target(
        &sshd,
        sshd.options()
            .port(closed)
            .connect_timeout(Duration::from_secs(2)),
    );
    let started = std::time::Instant::now();
    let error = web9
        .run(&Command::new(["true"]), &Lines::default())
        .await
        .expect_err("fails");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(error, TargetError::Connect { .. }), "{error:?}");
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{closed}")),
        "{error}"
    );
}

/// 200 hosts first seen at once under accept-new: every key is learned, one
/// whole line each, and the handshake bound keeps sshd from resetting any.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_hosts_are_accepted_at_once() {
    let Some(sshd) = Sshd::start() else { return };
    let path = sshd.dir.path().join("fleet_known_hosts");
    let options = sshd
        .options()
        .known_hosts(&path)
        .host_keys(HostKeyPolicy::AcceptNew);
    let targets: Vec<SshTarget> = (2..202)
        .map(|i| {
            let address = format!("127.0.0.{i}");
            SshTarget::new(address.clone(), options.clone()).with_address(address)
        })
        .collect();
    let runs = targets
        .iter()
        .map(|t| async move { t.run(&Command::new(["true"]), &Lines::default()).await });
    let results = futures_util::future::join_all(runs).await;
    let failures: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert!(
        failures.is_empty(),
        "{} failed, first: {:?}",
        failures.len(),
        failures.first()
    );
    let learned = std::fs::read_to_string(&path).expect("known_hosts");
    let lines: Vec<&str> = learned.lines().collect();
    assert_eq!(lines.len(), 200);
    let known = deploy_ssh::known_hosts::KnownHosts::parse(&path, &learned);
    assert!(
        known.malformed.is_empty(),
        "interleaved lines: {:?}",
        known.malformed
    );
    for i in 2..202 {
        assert_eq!(
            known.check(
                &format!("127.0.0.{i}"),
                sshd.port,
                sshd.host_key.public_key()
            ),
            deploy_ssh::known_hosts::HostKeyStatus::Known
        );
    }
}

/// A non-root user whose sudo needs no password: `sudo -n` runs as root.
#[tokio::test]
async fn sudo_without_a_password() {
    let Some(sshd) = Sshd::start() else { return };
    let mut options = sshd.options();
    options.user = "deploy-nopw".into();
    let web1 = target(&sshd, options);
    let lines = Lines::default();
    assert!(
        web1.run(&Command::new(["id", "-u"]), &lines)
            .await
            .expect("runs")
            .success()
    );
    assert_ne!(
        lines.of(OutputStream::Stdout),
        vec!["0"],
        "the control runs unprivileged"
    );
    let lines = Lines::default();
    let status = web1
        .run(&Command::new(["id", "-u"]).sudo(true), &lines)
        .await
        .expect("runs");
    assert!(status.success());
    assert_eq!(lines.of(OutputStream::Stdout), vec!["0"]);
}

/// A user whose sudo asks for a password: refused without one (never
/// prompting), accepted with it on stdin; stdin still reaches the command and
/// the password appears in no output.
#[tokio::test]
async fn sudo_with_a_password() {
    let Some(sshd) = Sshd::start() else { return };
    let password = "sudo-test-pw";
    let mut options = sshd.options();
    options.user = "deploy-pw".into();
    let without = target(&sshd, options.clone());
    let lines = Lines::default();
    let status = without
        .run(&Command::new(["id", "-u"]).sudo(true), &lines)
        .await
        .expect("runs");
    assert!(!status.success());
    assert!(
        lines
            .of(OutputStream::Stderr)
            .join(" ")
            .contains("password"),
        "{:?}",
        lines.of(OutputStream::Stderr)
    );

    let with = target(
        &sshd,
        options.sudo_password(deploy_core::Secret::new(password)),
    );
    let lines = Lines::default();
    let cmd = Command::shell("id -u; cat")
        .sudo(true)
        .stdin("after the password\n");
    assert!(with.run(&cmd, &lines).await.expect("runs").success());
    assert_eq!(
        lines.of(OutputStream::Stdout),
        vec!["0", "after the password"]
    );
    let everything: Vec<String> = lines
        .0
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, l)| l.clone())
        .collect();
    assert!(!everything.iter().any(|l| l.contains(password)));
}

/// The connection dropping mid-command is a clear, not-retry-safe error; the
/// next command reconnects by itself.
#[tokio::test]
async fn dropped_connection_mid_command_then_reconnect() {
    let Some(sshd) = Sshd::start() else { return };
    let web1 = target(&sshd, sshd.options());
    assert!(
        web1.run(&Command::new(["true"]), &Lines::default())
            .await
            .expect("runs")
            .success()
    );
    let (sleep, lines) = (Command::new(["sleep", "5"]), Lines::default());
    let running = web1.run(&sleep, &lines);
    let dropper = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sshd.drop_connections();
    };
    let (result, ()) = tokio::join!(running, dropper);
    let error = result.expect_err("the connection dropped");
    assert!(
        matches!(error, TargetError::ConnectionLost { started: true, .. }),
        "{error:?}"
    );
    assert!(!error.is_safe_to_retry());
    assert!(error.to_string().contains("web1"), "{error}");
    // The same target reconnects for the next command.
    assert!(
        web1.run(&Command::new(["true"]), &Lines::default())
            .await
            .expect("reconnects")
            .success()
    );
}

/// ProxyJump: a second sshd (its own host key) reached through the first;
/// both keys are checked, and an unknown target key behind the jump is refused.
#[tokio::test]
async fn proxy_jump_through_a_second_sshd() {
    let Some(bastion) = Sshd::start() else { return };
    let Some(inner) = Sshd::start() else { return };
    let known_hosts = bastion.dir.path().join("both_known_hosts");
    let line = |sshd: &Sshd| {
        format!(
            "[127.0.0.1]:{} {}\n",
            sshd.port,
            sshd.host_key.public_key().to_openssh().expect("encode")
        )
    };
    std::fs::write(&known_hosts, line(&bastion) + &line(&inner)).expect("write");
    let jump = std::sync::Arc::new(
        SshTarget::new("bastion", bastion.options().known_hosts(&known_hosts))
            .with_address("127.0.0.1"),
    );
    // The inner sshd accepts its own user key only.
    let inner_options = inner.options().known_hosts(&known_hosts);
    let db = SshTarget::new("db", inner_options.clone())
        .with_address("127.0.0.1")
        .via(std::sync::Arc::clone(&jump));
    let lines = Lines::default();
    let cmd = Command::shell("echo $SSH_CONNECTION");
    assert!(
        db.run(&cmd, &lines)
            .await
            .expect("runs through the jump")
            .success()
    );
    let seen = lines.of(OutputStream::Stdout).join("");
    assert!(seen.ends_with(&inner.port.to_string()), "{seen}");

    // Negative: the inner host's key unknown → refused, though the jump is fine.
    let only_bastion = bastion.dir.path().join("bastion_only");
    std::fs::write(&only_bastion, line(&bastion)).expect("write");
    let db = SshTarget::new("db", inner.options().known_hosts(&only_bastion))
        .with_address("127.0.0.1")
        .via(jump);
    let error = db
        .run(&Command::new(["true"]), &Lines::default())
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("is not in"), "{error}");
}

/// ssh-agent: its keys are offered first; with an empty agent and no key
/// files the error names the agent.
#[tokio::test]
async fn authenticates_with_an_agent() {
    let Some(sshd) = Sshd::start() else { return };
    let socket = sshd.dir.path().join("agent.sock");
    let _agent_process = Server::spawn(
        "ssh-agent",
        std::process::Command::new("ssh-agent")
            .args(["-D", "-a"])
            .arg(&socket)
            .stdout(std::process::Stdio::null()),
        Stop::Term,
    )
    .expect("ssh-agent (openssh-client) starts");
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut only_agent = sshd.options().agent(Some(socket.clone()));
    only_agent.identity_files.clear();

    let empty = target(&sshd, only_agent.clone());
    let error = empty
        .run(&Command::new(["true"]), &Lines::default())
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("no keys"), "{error}");

    let key = russh::keys::load_secret_key(&sshd.user_key_path, None).expect("key");
    let mut agent = russh::keys::agent::client::AgentClient::connect_uds(&socket)
        .await
        .expect("agent");
    agent.add_identity(&key, &[]).await.expect("added");
    let web1 = target(&sshd, only_agent);
    assert!(
        web1.run(&Command::new(["true"]), &Lines::default())
            .await
            .expect("runs")
            .success()
    );
}

/// A key file that is not a key, and an encrypted key with a wrong
/// passphrase, are named in the error; the right passphrase works.
#[tokio::test]
async fn bad_key_files_and_passphrases() {
    let Some(sshd) = Sshd::start() else { return };
    let junk = sshd.dir.path().join("junk_key");
    std::fs::write(&junk, "not a key\n").expect("write");
    let mut options = sshd.options();
    options.identity_files = vec![junk.clone()];
    let error = target(&sshd, options)
        .run(&Command::new(["true"]), &Lines::default())
        .await
        .expect_err("refused");
    assert!(
        error.to_string().contains("junk_key (unreadable"),
        "{error}"
    );

    let key = russh::keys::load_secret_key(&sshd.user_key_path, None).expect("key");
    let encrypted = key
        .encrypt(&mut getrandom::SysRng, "right horse battery")
        .expect("encrypts");
    let path = sshd.dir.path().join("encrypted_key");
    std::fs::write(
        &path,
        encrypted
            .to_openssh(russh::keys::ssh_key::LineEnding::LF)
            .expect("encode")
            .as_bytes(),
    )
    .expect("write");
    let mut options = sshd.options().passphrase(deploy_core::Secret::new("wrong"));
    options.identity_files = vec![path.clone()];
    let error = target(&sshd, options)
        .run(&Command::new(["true"]), &Lines::default())
        .await
        .expect_err("refused");
    assert!(
        error.to_string().contains("encrypted_key (unreadable"),
        "{error}"
    );
    assert!(
        !error.to_string().contains("wrong"),
        "the passphrase is not echoed: {error}"
    );
    let mut options = sshd
        .options()
        .passphrase(deploy_core::Secret::new("right horse battery"));
    options.identity_files = vec![path];
    assert!(
        target(&sshd, options)
            .run(&Command::new(["true"]), &Lines::default())
            .await
            .expect("runs")
            .success()
    );
}

/// A host with ed25519 and ECDSA host keys, known only by its ECDSA key:
/// the known algorithm is preferred, so strict checking passes instead of
/// reporting a "changed" key.
#[tokio::test]
async fn the_known_host_key_algorithm_is_preferred() {
    let Some(sshd) = Sshd::start() else { return };
    let ecdsa = russh::keys::PrivateKey::random(
        &mut rand_core::UnwrapErr(getrandom::SysRng),
        russh::keys::Algorithm::Ecdsa {
            curve: russh::keys::EcdsaCurve::NistP256,
        },
    )
    .expect("ecdsa key");
    // A second sshd process on the same directory, offering both keys.
    let dir = sshd.dir.path();
    support::write_key(&dir.join("host_ecdsa"), &ecdsa);
    let config = std::fs::read_to_string(dir.join("sshd_config")).expect("config");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let config = config
        .replace(&format!("Port {}", sshd.port), &format!("Port {port}"))
        .replace(
            &format!("HostKey {}/host_ed25519", dir.display()),
            &format!(
                "HostKey {d}/host_ed25519\nHostKey {d}/host_ecdsa",
                d = dir.display()
            ),
        )
        .replace("sshd.pid", "sshd2.pid");
    std::fs::write(dir.join("sshd2_config"), config).expect("write");
    let second = Server::spawn(
        "sshd",
        std::process::Command::new("/usr/sbin/sshd")
            .arg("-f")
            .arg(dir.join("sshd2_config"))
            .args(["-D", "-e"])
            .stderr(std::process::Stdio::null()),
        Stop::TermAll,
    )
    .expect("sshd");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let known = dir.join("ecdsa_known_hosts");
    std::fs::write(
        &known,
        format!(
            "[127.0.0.1]:{port} {}\n",
            ecdsa.public_key().to_openssh().expect("encode")
        ),
    )
    .expect("write");
    let web1 = target(&sshd, sshd.options().port(port).known_hosts(&known));
    let result = web1.run(&Command::new(["true"]), &Lines::default()).await;
    drop(second);
    assert!(
        result
            .expect("the ECDSA key is negotiated and known")
            .success()
    );
}

/// More hosts than the connection budget: every command still runs, idle
/// connections are closed to make room, and no more than the budget is ever
/// open (sampled while the commands run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_stay_within_the_budget() {
    let Some(sshd) = Sshd::start() else { return };
    let path = sshd.dir.path().join("budget_known_hosts");
    let options = sshd
        .options()
        .known_hosts(&path)
        .host_keys(HostKeyPolicy::AcceptNew)
        .max_connections(3);
    let budget = std::sync::Arc::clone(&options.connections);
    let targets: Vec<SshTarget> = (2..12)
        .map(|i| {
            let address = format!("127.0.0.{i}");
            SshTarget::new(address.clone(), options.clone()).with_address(address)
        })
        .collect();
    let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sampler = {
        let (budget, most) = (std::sync::Arc::clone(&budget), std::sync::Arc::clone(&most));
        tokio::spawn(async move {
            loop {
                most.fetch_max(budget.open(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        })
    };
    // Two rounds over all ten hosts at once: the second reconnects the hosts
    // whose idle connections made room for others.
    for round in 0..2 {
        let runs = targets.iter().map(|t| async move {
            t.run(&Command::shell("sleep 0.05; echo ok"), &Lines::default())
                .await
        });
        let results = futures_util::future::join_all(runs).await;
        for (target, result) in targets.iter().zip(results) {
            let status = result.unwrap_or_else(|e| panic!("round {round}, {target:?}: {e}"));
            assert!(status.success());
        }
    }
    sampler.abort();
    let most = most.load(std::sync::atomic::Ordering::Relaxed);
    assert!(most <= 3, "{most} connections were open at once");
    assert!(most >= 2, "the budget was used ({most})");
    assert!(budget.open() <= 3);
}

/// Password authentication (sshd with PasswordAuthentication on, the test
/// user's test-only password): the right password runs the command as that
/// user; a wrong one is refused naming the method and user@host:port.
#[tokio::test]
async fn authenticates_with_a_password() {
    let Some(sshd) = Sshd::start_with("PasswordAuthentication yes\n") else {
        return;
    };
    let login = |password: &str| {
        let mut options = sshd.options().password(deploy_core::Secret::new(password));
        options.user = "deploy-pw".into();
        options.identity_files.clear();
        target(&sshd, options)
    };
    let lines = Lines::default();
    let status = login("sudo-test-pw")
        .run(&Command::new(["id", "-un"]), &lines)
        .await
        .expect("the right password logs in");
    assert!(status.success());
    assert_eq!(lines.of(OutputStream::Stdout), vec!["deploy-pw"]);

    let err = login("wrong-password")
        .run(
            &Command::new(["touch", "/tmp/deploy-password-marker"]),
            &Lines::default(),
        )
        .await
        .expect_err("a wrong password is refused")
        .to_string();
    assert!(
        err.contains("password") && err.contains("deploy-pw@127.0.0.1"),
        "{err}"
    );
    assert!(
        !err.contains("wrong-password"),
        "the password is not shown: {err}"
    );
}
