//! A private supervisord for tests of the `service` step (Debian's
//! `supervisor`): its own configuration, socket, logs and programs in a
//! temp dir, stopped (SIGTERM: it stops its programs first) and waited for
//! on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::server::{Server, Stop};

/// A running supervisord and the configuration `supervisorctl -c` takes.
pub struct Supervisord {
    // Declared first: stopped before its directory goes.
    _server: Server,
    /// Its directory (configuration, socket, logs).
    pub dir: tempfile::TempDir,
}

impl Supervisord {
    /// Starts one running `programs` (`[program:NAME]` sections, appended
    /// to its own configuration); `None`, said loudly, when supervisord is
    /// not installed outside CI (under `CI=true` that fails the test).
    pub fn start(programs: &str) -> Option<Supervisord> {
        let binary = Path::new("/usr/bin/supervisord");
        if !binary.exists() {
            let message =
                "no /usr/bin/supervisord: run scripts/install-peers (it installs supervisor)";
            assert!(std::env::var("CI").is_err(), "{message}");
            eprintln!("SKIPPED, {message}");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display();
        let config = format!(
            "[unix_http_server]\nfile={d}/supervisor.sock\n\n\
             [supervisord]\nlogfile={d}/supervisord.log\npidfile={d}/supervisord.pid\n\
             childlogdir={d}\nnodaemon=true\n\n\
             [rpcinterface:supervisor]\n\
             supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
             [supervisorctl]\nserverurl=unix://{d}/supervisor.sock\n\n{programs}\n"
        );
        let conf = dir.path().join("supervisord.conf");
        std::fs::write(&conf, config).expect("supervisord.conf");
        let server = Server::spawn(
            "supervisord",
            Command::new(binary)
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            Stop::Term,
        )
        .expect("supervisord starts");
        let supervisord = Supervisord {
            _server: server,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !supervisord.answers() {
            assert!(Instant::now() < deadline, "supervisord did not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(supervisord)
    }

    /// Its configuration file (`supervisorctl -c`).
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("supervisord.conf")
    }

    fn answers(&self) -> bool {
        Command::new("supervisorctl")
            .arg("-c")
            .arg(self.conf())
            .arg("pid")
            .output()
            .is_ok_and(|o| o.status.success())
    }
}
