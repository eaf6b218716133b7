//! The demo web app that `deploy.toml`'s `local` environment ships.
//!
//! Run: `cargo run -p demo-app -- --port 8787`, then `curl localhost:8787/`.
//!
//! Standard library only, so it builds fast and links statically for an
//! empty container image. It answers `/` with its version (read from `.env`
//! in its working directory, or `$VERSION`) and release (its directory's
//! name); `/health` with 200, or 503 after `/health/fail` (or when started
//! with `DEMO_UNHEALTHY=1`) until `/health/recover`; `--check` is its own
//! health check (for images without a shell). Keep-alive is supported,
//! so load tests can hold connections open across a deploy.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

struct App {
    version: String,
    release: String,
    unhealthy: AtomicBool,
}

fn version_from_env_file() -> Option<String> {
    let text = std::fs::read_to_string(".env").ok()?;
    text.lines().rev().find_map(|line| {
        let line = line.trim().trim_start_matches("export ").trim();
        let value = line
            .strip_prefix("VERSION")?
            .trim_start()
            .strip_prefix('=')?;
        Some(value.trim().trim_matches(['"', '\'']).to_owned())
    })
}

fn healthy(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    if stream
        .write_all(b"GET /health HTTP/1.0\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut status = String::new();
    BufReader::new(stream).read_line(&mut status).is_ok() && status.contains(" 200 ")
}

fn main() {
    let mut port: u16 = 8787;
    let mut bind = "127.0.0.1".to_owned();
    let mut check = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse().ok()).unwrap_or(port),
            "--bind" => bind = args.next().unwrap_or(bind),
            "--check" => check = true,
            "--help" | "-h" => {
                println!("usage: demo-app [--port N] [--bind ADDR] [--check]");
                return;
            }
            other => {
                eprintln!("demo-app: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    if check {
        // A health check for images with no shell or curl: exit 0 when the
        // app on this port answers /health with 200.
        std::process::exit(i32::from(!healthy(port)));
    }
    let release = std::env::current_dir()
        .ok()
        .and_then(|d| d.canonicalize().ok())
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".to_owned());
    let app = Arc::new(App {
        version: version_from_env_file()
            .or_else(|| std::env::var("VERSION").ok())
            .unwrap_or_else(|| "unknown".to_owned()),
        release,
        unhealthy: AtomicBool::new(std::env::var("DEMO_UNHEALTHY").is_ok_and(|v| v == "1")),
    });
    let listener = match TcpListener::bind((bind.as_str(), port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("demo-app: cannot listen on {bind}:{port}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!(
        "demo-app {} (release {}) listening on {bind}:{port}",
        app.version, app.release
    );
    for stream in listener.incoming().flatten() {
        let app = Arc::clone(&app);
        std::thread::spawn(move || serve(&app, stream));
    }
}

/// Serves requests on one connection until the client closes it.
fn serve(app: &App, stream: TcpStream) {
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut close = request_line.contains("HTTP/1.0");
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let lower = header.to_ascii_lowercase();
            if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
            if header == "\r\n" || header == "\n" {
                break;
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        let (status, body) = route(app, path);
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Version: {}\r\n{}\r\n{body}",
            body.len(),
            app.version,
            if close { "Connection: close\r\n" } else { "" },
        );
        if writer.write_all(response.as_bytes()).is_err() || close {
            return;
        }
    }
}

fn route(app: &App, path: &str) -> (&'static str, String) {
    match path {
        "/" => (
            "200 OK",
            format!(
                "demo-app version {} (release {})\n",
                app.version, app.release
            ),
        ),
        "/version" => ("200 OK", format!("{}\n", app.version)),
        "/health" if app.unhealthy.load(Ordering::Relaxed) => {
            ("503 Service Unavailable", "unhealthy\n".to_owned())
        }
        "/health" => ("200 OK", format!("ok {}\n", app.version)),
        "/health/fail" => {
            app.unhealthy.store(true, Ordering::Relaxed);
            ("200 OK", "now unhealthy\n".to_owned())
        }
        "/health/recover" => {
            app.unhealthy.store(false, Ordering::Relaxed);
            ("200 OK", "healthy again\n".to_owned())
        }
        _ => ("404 Not Found", "not found\n".to_owned()),
    }
}
