//! `deploy logs`: what the services printed, on every selected host at
//! once — the containers deploy manages, through each host's engine, and
//! the log files the environment names (`logs = { app = "…" }`, the
//! RandoPony guide's `tail_*_log` tasks) — each line prefixed `host
//! service |`, containers' lines in time order. `-f` follows every source
//! until Ctrl-C; a source whose host drops is reported and reconnected.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deploy_core::config::Config;
use deploy_core::target::{OutputSink, OutputStream};
use deploy_core::{Command, Target};
use deploy_docker::Engine;
use deploy_docker::container::LogRequest;

use crate::args::LogsArgs;
use crate::exit;

/// How long a dropped source waits before it reconnects.
const RECONNECT: Duration = Duration::from_secs(2);

/// One place logs come from on one host.
#[derive(Clone)]
enum Source {
    Container(String),
    File(String),
}

/// One line, with the engine's time when it has one.
#[derive(serde::Serialize)]
struct Entry {
    host: String,
    service: String,
    time: Option<String>,
    line: String,
}

impl Entry {
    /// `web1 app | text`, or one JSON line.
    fn shown(&self, json: bool) -> String {
        if json {
            crate::output::json_line(self)
        } else {
            format!("{} {} | {}", self.host, self.service, self.line)
        }
    }
}

/// `deploy logs [ENV] [SERVICE…] [-f] [--since 10m] [-n 100] [-H …] [-R …]`.
pub(crate) async fn logs(config: &Config, args: &LogsArgs) -> Result<u8, String> {
    let env = config
        .environment(args.environment.as_deref())
        .map_err(|e| e.with_snippet())?;
    let targets = crate::targets::for_environment(&env, &config.ssh(), config.dir())?;
    let hosts = crate::targets::selected(&env, &args.on)?;
    let since = args
        .since
        .as_deref()
        .map(deploy_core::duration::parse)
        .transpose()?
        .map(|ago| now().saturating_sub(i64::try_from(ago.as_secs()).unwrap_or(i64::MAX)));
    let wanted: BTreeSet<&str> = args.services.iter().map(String::as_str).collect();

    // Every host's sources, asked at once.
    let mut found = tokio::task::JoinSet::new();
    for host in &hosts {
        let Some(target) = targets.get(&host.name).cloned() else {
            continue;
        };
        let files = env.logs.clone();
        found.spawn(async move {
            // (the name shown, the names it answers to, the source)
            let mut sources: Vec<(String, Vec<String>, Source)> = files
                .iter()
                .map(|(name, path)| (name.clone(), vec![name.clone()], Source::File(path.clone())))
                .collect();
            let containers = containers(target.clone()).await;
            if let Ok(containers) = &containers {
                sources.extend(containers.iter().map(|(name, names)| {
                    (name.clone(), names.clone(), Source::Container(name.clone()))
                }));
            }
            (target, sources, containers.err())
        });
    }
    let mut plan: Vec<(Arc<dyn Target>, String, Source)> = Vec::new();
    let mut known = BTreeSet::new();
    let mut matched = BTreeSet::new();
    while let Some(done) = found.join_next().await {
        let Ok((target, sources, engine_error)) = done else {
            continue;
        };
        if let Some(why) = engine_error
            && env.logs.is_empty()
        {
            eprintln!("{}: no containers to read: {why}", target.name());
        }
        for (shown, names, source) in sources {
            known.extend(names.iter().cloned());
            let hits: Vec<&String> = names
                .iter()
                .filter(|n| wanted.contains(n.as_str()))
                .collect();
            matched.extend(hits.iter().map(|n| (*n).clone()));
            if wanted.is_empty() || !hits.is_empty() {
                plan.push((target.clone(), shown, source));
            }
        }
    }
    if let Some(missing) = wanted.iter().find(|w| !matched.contains(**w)) {
        return Err(format!(
            "no service `{missing}` on the selected hosts of {} (there are: {})",
            env.name,
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.into_iter().collect::<Vec<_>>().join(", ")
            }
        ));
    }
    plan.sort_by(|a, b| (a.0.name(), &a.1).cmp(&(b.0.name(), &b.1)));
    if args.follow {
        follow(plan, args.lines, since, args.json).await;
        return Ok(exit::OK);
    }
    show(plan, args.lines, since, args.json).await
}

/// The last lines of every source, containers' in time order, then each
/// file's (which carry no time deploy can read).
async fn show(
    plan: Vec<(Arc<dyn Target>, String, Source)>,
    lines: u32,
    since: Option<i64>,
    json: bool,
) -> Result<u8, String> {
    let mut reads = tokio::task::JoinSet::new();
    for (target, service, source) in plan {
        reads.spawn(async move {
            let host = target.name().to_owned();
            let sink = Collect::default();
            let read = read(&target, &source, lines, since, false, &sink).await;
            (
                host,
                service,
                sink,
                read,
                matches!(source, Source::Container(_)),
            )
        });
    }
    let mut timed: Vec<Entry> = Vec::new();
    let mut untimed: Vec<Entry> = Vec::new();
    let mut failed = false;
    while let Some(done) = reads.join_next().await {
        let Ok((host, service, sink, read, has_time)) = done else {
            continue;
        };
        if let Err(why) = read {
            eprintln!("{host} {service} | cannot be read: {why}");
            failed = true;
        }
        for line in sink.take() {
            let (time, line) = if has_time {
                split_time(&line)
            } else {
                (None, line)
            };
            let entry = Entry {
                host: host.clone(),
                service: service.clone(),
                time,
                line,
            };
            if entry.time.is_some() {
                timed.push(entry);
            } else {
                untimed.push(entry);
            }
        }
    }
    // RFC 3339 times of one engine sort as text.
    timed.sort_by(|a, b| a.time.cmp(&b.time));
    let mut out = std::io::stdout().lock();
    for entry in timed.iter().chain(&untimed) {
        use std::io::Write;
        let _ = writeln!(out, "{}", entry.shown(json));
    }
    Ok(if failed { exit::FAILURE } else { exit::OK })
}

/// Follows every source at once until Ctrl-C; a source that drops is
/// said and read again from where it was.
async fn follow(
    plan: Vec<(Arc<dyn Target>, String, Source)>,
    lines: u32,
    since: Option<i64>,
    json: bool,
) {
    let mut followers = tokio::task::JoinSet::new();
    for (target, service, source) in plan {
        followers.spawn(async move {
            let prefix = format!("{} {service} |", target.name());
            let sink = Print {
                host: target.name().to_owned(),
                service: service.clone(),
                json,
                position: Mutex::default(),
            };
            let (mut tail, mut since) = (lines, since);
            loop {
                let started = now();
                let read = match &source {
                    Source::File(path) => follow_file(&target, path, tail, &sink).await,
                    Source::Container(_) => read(&target, &source, tail, since, true, &sink).await,
                };
                match read {
                    Ok(()) if matches!(source, Source::Container(_)) => {
                        eprintln!("{prefix} (the container stopped)");
                        return;
                    }
                    Ok(()) => {}
                    Err(why) => eprintln!(
                        "{prefix} (lost: {why}; reconnecting in {}s)",
                        RECONNECT.as_secs()
                    ),
                }
                tokio::time::sleep(RECONNECT).await;
                // Again from where it was: nothing older is repeated.
                tail = 0;
                since = Some(started);
            }
        });
    }
    let _ = tokio::signal::ctrl_c().await;
    followers.abort_all();
}

/// Follows a log file: from its last `lines` lines the first time, then
/// (after a drop) from the line after the last one printed, so nothing is
/// lost or repeated while the host was away.
async fn follow_file(
    target: &Arc<dyn Target>,
    path: &str,
    lines: u32,
    sink: &Print,
) -> Result<(), String> {
    let from = match sink.next_line() {
        Some(next) => next.to_string(),
        None => format!("$(( $(wc -l < \"$1\") - {lines} + 1 ))"),
    };
    let script = format!(
        "start={from}; [ \"$start\" -ge 1 ] || start=1; echo \"{START_MARK}$start\"; exec tail -n +\"$start\" -F -- \"$1\""
    );
    let status = target
        .run(&Command::new(["sh", "-c", &script, "sh", path]), sink)
        .await
        .map_err(|e| deploy_core::cause::chain(&e))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`tail -F {path}` {status}"))
    }
}

/// The first stdout line of a followed file (before tail's own, on the same
/// stream, so counting starts right): the line number it starts at.
const START_MARK: &str = "@@deploy-logs-start ";

/// Reads (or follows) one source into `sink`.
async fn read(
    target: &Arc<dyn Target>,
    source: &Source,
    lines: u32,
    since: Option<i64>,
    follow: bool,
    sink: &dyn OutputSink,
) -> Result<(), String> {
    match source {
        Source::Container(name) => {
            let engine = engine(target.clone()).await?;
            let request = LogRequest {
                tail: Some(lines),
                follow,
                since,
                timestamps: !follow,
            };
            engine
                .logs(name, &request, sink)
                .await
                .map_err(|e| deploy_core::cause::chain(&e))
        }
        Source::File(path) => {
            let count = lines.to_string();
            let mut argv = vec!["tail", "-n", count.as_str()];
            if follow {
                argv.push("-F");
            }
            argv.extend(["--", path.as_str()]);
            let status = target
                .run(&Command::new(argv), sink)
                .await
                .map_err(|e| deploy_core::cause::chain(&e))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("`tail {path}` {status}"))
            }
        }
    }
}

/// The containers deploy manages on `target`, each with the names it
/// answers to (its own, its compose or blue/green service's).
async fn containers(target: Arc<dyn Target>) -> Result<Vec<(String, Vec<String>)>, String> {
    let engine = engine(target).await?;
    let found = engine
        .list(&[(deploy_docker::container::MANAGED_LABEL, "true")])
        .await
        .map_err(|e| deploy_core::cause::chain(&e))?;
    Ok(found
        .into_iter()
        .map(|c| {
            let mut names = vec![c.name.clone()];
            for label in [
                deploy_docker::compose::SERVICE_LABEL,
                deploy_docker::bluegreen::SERVICE_LABEL,
            ] {
                if let Some(service) = c.labels.get(label) {
                    names.push(service.clone());
                }
            }
            (c.name, names)
        })
        .collect())
}

async fn engine(target: Arc<dyn Target>) -> Result<Engine, String> {
    let endpoint = deploy_docker::engine::default_endpoint(target.as_ref())
        .map_err(|e| deploy_core::cause::chain(&e))?;
    Engine::new(target, endpoint)
        .negotiate()
        .await
        .map_err(|e| deploy_core::cause::chain(&e))
}

/// `2026-12-03T16:20:00.123456789Z text` → the time and the text.
fn split_time(line: &str) -> (Option<String>, String) {
    match line.split_once(' ') {
        Some((time, rest)) if time.len() >= 20 && time.as_bytes().get(10) == Some(&b'T') => {
            (Some(time.to_owned()), rest.to_owned())
        }
        _ => (None, line.to_owned()),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// Keeps lines (both streams: a container's stderr is its log too).
#[derive(Default)]
struct Collect(Mutex<Vec<String>>);

impl Collect {
    fn take(self) -> Vec<String> {
        self.0.into_inner().unwrap_or_default()
    }
}

impl OutputSink for Collect {
    fn line(&self, _: OutputStream, line: &str) {
        if let Ok(mut lines) = self.0.lock() {
            lines.push(line.to_owned());
        }
    }
}

/// Prints each line at once, prefixed; for a followed file, counts the
/// lines from where it started.
struct Print {
    host: String,
    service: String,
    json: bool,
    /// The file's line the follow started at, and how many were printed.
    position: Mutex<Option<(u64, u64)>>,
}

impl Print {
    /// The file's next line number, once a follow has said where it started.
    fn next_line(&self) -> Option<u64> {
        let position = self.position.lock().ok()?;
        position.map(|(start, printed)| start + printed)
    }
}

impl OutputSink for Print {
    fn line(&self, stream: OutputStream, line: &str) {
        use std::io::Write;
        if stream == OutputStream::Stdout
            && let Some(start) = line.strip_prefix(START_MARK)
        {
            if let (Ok(mut position), Ok(start)) = (self.position.lock(), start.trim().parse()) {
                *position = Some((start, 0));
            }
            return;
        }
        if stream == OutputStream::Stdout
            && let Ok(mut position) = self.position.lock()
            && let Some((_, printed)) = position.as_mut()
        {
            *printed += 1;
        }
        let entry = Entry {
            host: self.host.clone(),
            service: self.service.clone(),
            time: None,
            line: line.to_owned(),
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", entry.shown(self.json));
        let _ = out.flush();
    }
}
