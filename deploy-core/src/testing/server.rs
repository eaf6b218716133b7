//! The servers tests start on this machine (nginx, Caddy, a registry, sshd):
//! each in a process group of its own, and stopped the way it is meant to
//! be stopped, waiting until every process of it is gone, so a test run
//! leaves nothing behind (no workers holding ports and deleted temp files).
//!
//! SIGKILL of the first process alone is what left nginx's workers running
//! with no master: here it is the last resort, and it takes the whole group.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// How a server stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGQUIT to the server, which stops its workers and waits for them
    /// (nginx's graceful stop).
    Quit,
    /// SIGTERM to the server (Caddy, `docker-registry`, `ssh-agent`).
    Term,
    /// SIGTERM to the server and to every process under it (sshd: each
    /// connection is a process in a session of its own, which the listener
    /// leaves running when it stops).
    TermAll,
}

/// A server process a test started; stopped on drop.
///
/// # Examples
///
/// ```
/// use deploy_core::testing::server::{Server, Stop};
///
/// let mut command = std::process::Command::new("sh");
/// command.args(["-c", "exec sleep 300"]);
/// let mut server = Server::spawn("sleeper", &mut command, Stop::Term).unwrap();
/// assert!(server.running());
/// server.stop();
/// assert!(!server.running());
/// ```
#[derive(Debug)]
pub struct Server {
    name: String,
    child: Child,
    how: Stop,
    grace: Duration,
    stopped: bool,
}

impl Server {
    /// Starts `command` as `name` (for messages), in a new process group.
    pub fn spawn(name: &str, command: &mut Command, how: Stop) -> std::io::Result<Server> {
        use std::os::unix::process::CommandExt;
        let child = command.process_group(0).spawn()?;
        Ok(Server {
            name: name.to_owned(),
            child,
            how,
            grace: Duration::from_secs(10),
            stopped: false,
        })
    }

    /// How long a stop waits before it kills what is left (10 s unless set).
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Server {
        self.grace = grace;
        self
    }

    /// The server's first process (its process group has the same id).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// True while the first process runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops it (once; again does nothing): the signal of its [`Stop`],
    /// then a wait of up to the grace for the first process and every other
    /// process of its group (and, for [`Stop::TermAll`], under it) to exit;
    /// what is left then is killed, and said on stderr. Returns true when
    /// it stopped by itself.
    pub fn stop(&mut self) -> bool {
        if std::mem::replace(&mut self.stopped, true) {
            return true;
        }
        let pid = self.id();
        let under = descendants(pid);
        let signal = match self.how {
            Stop::Quit => Signal::SIGQUIT,
            Stop::Term | Stop::TermAll => Signal::SIGTERM,
        };
        if self.how == Stop::TermAll && self.running() {
            // The processes under it first, so that it reaps them (nothing
            // reaps an orphan here: it would stay a zombie).
            for process in &under {
                let _ = kill(to_pid(process.pid), signal);
            }
            let deadline = Instant::now() + self.grace;
            while under.iter().any(Process::running) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if self.running() {
            let _ = kill(to_pid(pid), signal);
        } else {
            // It exited by itself: nothing will stop what it left behind.
            let _ = killpg(to_pid(pid), signal);
        }
        if self.wait_gone(pid, &under, self.grace) {
            return true;
        }
        let left = self.left(pid, &under);
        let _ = killpg(to_pid(pid), Signal::SIGKILL);
        for process in under.iter().filter(|p| p.running()) {
            let _ = kill(to_pid(process.pid), Signal::SIGKILL);
        }
        let gone = self.wait_gone(pid, &under, Duration::from_secs(5));
        eprintln!(
            "{} (pid {pid}) was still running {:?} after {}: killed {}{}",
            self.name,
            self.grace,
            signal.as_str(),
            describe(&left),
            if gone { "" } else { " (some would not die)" }
        );
        false
    }

    /// Waits until the first process has exited (and is reaped) and no other
    /// process of the group or of `under` is left; true if that happened.
    fn wait_gone(&mut self, pid: u32, under: &[Process], limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let exited = !self.running();
            if exited && self.left(pid, under).is_empty() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The live processes of the server: the members of its group (the
    /// first one among them) and those of `under` still running.
    fn left(&self, pid: u32, under: &[Process]) -> Vec<Process> {
        processes()
            .into_iter()
            .filter(|p| p.alive() && (p.group == pid || under.iter().any(|u| u.same(p))))
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn to_pid(pid: u32) -> Pid {
    Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX))
}

fn describe(processes: &[Process]) -> String {
    let listed: Vec<String> = processes
        .iter()
        .map(|p| format!("{} ({})", p.pid, p.name))
        .collect();
    if listed.is_empty() {
        "nothing".to_owned()
    } else {
        listed.join(", ")
    }
}

/// One process, from `/proc/PID/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Process {
    pid: u32,
    parent: u32,
    group: u32,
    state: char,
    /// Clock ticks after boot: with the pid, the process (pids are reused).
    started: u64,
    name: String,
}

impl Process {
    fn read(pid: u32) -> Option<Process> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (head, rest) = stat.rsplit_once(')')?;
        let name = head.split_once('(')?.1.to_owned();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        Some(Process {
            pid,
            state: fields.first()?.chars().next()?,
            parent: fields.get(1)?.parse().ok()?,
            group: fields.get(2)?.parse().ok()?,
            started: fields.get(19)?.parse().ok()?,
            name,
        })
    }

    /// Running or sleeping: not a zombie (nothing may reap an orphan here)
    /// nor dead.
    fn alive(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }

    /// True while this very process (not a later one with its pid) is
    /// alive.
    fn running(&self) -> bool {
        Process::read(self.pid).is_some_and(|now| now.same(self) && now.alive())
    }

    fn same(&self, other: &Process) -> bool {
        self.pid == other.pid && self.started == other.started
    }
}

fn processes() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(Process::read)
        .collect()
}

/// Output into the file at `path` (created anew), or nowhere when it cannot
/// be made: a server's log.
pub fn log_file(path: &std::path::Path) -> Stdio {
    std::fs::File::create(path)
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

/// The live processes whose parent is `parent`.
pub fn children(parent: u32) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|p| p.parent == parent && p.alive())
        .map(|p| p.pid)
        .collect()
}

/// Every live process under `root` (children, their children, ...).
fn descendants(root: u32) -> Vec<Process> {
    let all = processes();
    let mut found: Vec<Process> = Vec::new();
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for process in all.iter().filter(|p| p.parent == parent && p.alive()) {
            if !found.iter().any(|f| f.same(process)) {
                parents.push(process.pid);
                found.push(process.clone());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sh -c script` as a server stopped by `how` within `grace`, once it
    /// has `workers` children (waited for up to 5 s), and those children.
    fn start(script: &str, how: Stop, grace: Duration, workers: usize) -> (Server, Vec<u32>) {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        let server = Server::spawn("test", &mut command, how)
            .expect("sh")
            .grace(grace);
        for _ in 0..250 {
            let found = children(server.id());
            if found.len() >= workers {
                return (server, found);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{} never had {workers} children", server.id());
    }

    fn all_gone(pids: &[u32]) -> bool {
        !pids
            .iter()
            .any(|pid| Process::read(*pid).is_some_and(|p| p.alive()))
    }

    /// The signal reaches the server, which stops its workers: nothing is
    /// killed, nothing is left.
    #[test]
    fn a_server_that_stops_its_workers_stops_by_itself() {
        let script =
            "trap 'kill $a $b; wait; exit 0' QUIT; sleep 300 & a=$!; sleep 300 & b=$!; wait";
        let (mut server, workers) = start(script, Stop::Quit, Duration::from_secs(10), 2);
        assert!(server.stop(), "stopped by itself");
        assert!(!server.running());
        assert!(all_gone(&workers), "{workers:?}");
    }

    /// The first process exits at the signal but leaves its workers
    /// running (what SIGKILL of nginx's master did): the wait sees them, and
    /// the group is killed.
    #[test]
    fn workers_left_by_their_master_are_killed_with_the_group() {
        let script = "trap 'exit 0' TERM; (trap '' TERM; sleep 300) & sleep 300 & wait";
        let (mut server, workers) = start(script, Stop::Term, Duration::from_millis(500), 2);
        assert!(!server.stop(), "the workers had to be killed");
        assert!(all_gone(&workers), "{workers:?}");
    }

    /// A server that ignores the signal is killed after the grace.
    #[test]
    fn a_server_that_ignores_the_signal_is_killed_after_the_grace() {
        let script = "trap '' TERM; sleep 300 & wait";
        let (mut server, sleeper) = start(script, Stop::Term, Duration::from_millis(300), 1);
        let started = Instant::now();
        assert!(!server.stop());
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!server.running());
        assert!(all_gone(&sleeper));
    }

    /// TermAll reaches processes that left the server's group (sshd's
    /// connections run in sessions of their own).
    #[test]
    fn term_all_reaches_processes_outside_the_group() {
        let script = "setsid sleep 300 & wait";
        let (mut server, connection) = start(script, Stop::TermAll, Duration::from_secs(5), 1);
        assert!(server.stop(), "stopped by its signals");
        assert!(all_gone(&connection));
    }

    /// Dropping one stops it.
    #[test]
    fn drop_stops_it() {
        let script = "trap 'kill $!; exit 0' TERM; sleep 300 & wait";
        let (server, sleeper) = start(script, Stop::Term, Duration::from_secs(10), 1);
        let pid = server.id();
        drop(server);
        assert!(all_gone(&[pid]));
        assert!(all_gone(&sleeper));
    }
}
