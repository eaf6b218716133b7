//! The HttpCheck step against a tiny local server: success, waiting for
//! health, body mismatch, giving up, closed ports, `from_target()`, IPv6.
//!
//! Run: `cargo test -p deploy-core --test local_target http_check::`.

use super::*;

// ---------------------------------------------------------------------------
// HttpCheck
// ---------------------------------------------------------------------------

/// An HttpCheck on a fast interval.
fn check(url: &str) -> HttpCheck {
    HttpCheck::new(url).interval(Duration::from_millis(50))
}

/// HttpCheck succeeds against a healthy server, with the body check, sending the path and reporting the try.
#[tokio::test]
async fn http_check_succeeds() {
    let server = HttpServer::start("127.0.0.1:0", 0, "demo version 1.2.3 ok").await;
    let url = format!("http://127.0.0.1:{}/health?full=1", server.port);
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(
                check(&url).body_contains("version ${release} "),
            )],
        ),
        "1.2.3",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Done]);
    assert_eq!(server.requests(), ["GET /health?full=1 HTTP/1.1"]);
    assert!(
        ran.output(OutputStream::Stdout)
            .contains(&format!("GET {url}: 200 (try 1)")),
        "{:?}",
        ran.output(OutputStream::Stdout)
    );
}

/// HttpCheck waits through 503s until the server turns healthy.
#[tokio::test]
async fn http_check_waits_for_health() {
    let server = HttpServer::start("127.0.0.1:0", 2, "ok").await;
    let url = format!("http://127.0.0.1:{}/", server.port);
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(check(&url).attempts(10))],
        ),
        "r",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Done]);
    assert_eq!(server.requests().len(), 3);
    let stderr = ran.output(OutputStream::Stderr);
    assert!(
        stderr.contains(&format!("GET {url}: answered 503 (try 1)")),
        "{stderr:?}"
    );
}

/// HttpCheck fails, naming the URL, when the body lacks the expected text.
#[tokio::test]
async fn http_check_body_mismatch_fails() {
    let server = HttpServer::start("127.0.0.1:0", 0, "maintenance page").await;
    let url = format!("http://127.0.0.1:{}/", server.port);
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(
                check(&url).body_contains("version 9").attempts(2),
            )],
        ),
        "r",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Failed]);
    let error = ran.error(0);
    assert!(error.contains(&url), "{error}");
    assert!(
        error.contains("did not answer 200 with \"version 9\" in the body after 2 tries"),
        "says which condition failed: {error}"
    );
    assert!(error.contains("without \"version 9\""), "{error}");
    assert_eq!(server.requests().len(), 2);
}

/// HttpCheck gives up after `attempts(3)` against a server that never becomes healthy.
#[tokio::test]
async fn http_check_gives_up_after_attempts() {
    let server = HttpServer::start("127.0.0.1:0", usize::MAX, "never").await;
    let url = format!("http://127.0.0.1:{}/health", server.port);
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(check(&url).attempts(3))],
        ),
        "r",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Failed]);
    let error = ran.error(0);
    assert!(error.contains(&url), "{error}");
    assert!(error.contains("after 3 tries"), "{error}");
    assert!(error.contains("answered 503"), "{error}");
    assert_eq!(server.requests().len(), 3);
}

/// HttpCheck to a closed port fails with the connection error.
#[tokio::test]
async fn http_check_closed_port_fails() {
    let (port, _held) = closed_port().await;
    let url = format!("http://127.0.0.1:{port}/");
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(check(&url).attempts(2))],
        ),
        "r",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Failed]);
    let error = ran.error(0);
    assert!(error.contains(&url), "{error}");
    assert!(
        error.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{error}"
    );
}

/// HttpCheck `from_target()` goes through the LocalTarget's connect and succeeds.
#[tokio::test]
async fn http_check_from_target() {
    let server = HttpServer::start("127.0.0.1:0", 1, "ok").await;
    let url = format!("http://127.0.0.1:{}/", server.port);
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(check(&url).attempts(5).from_target())],
        ),
        "r",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Done]);
    assert_eq!(server.requests().len(), 2);
}

/// HttpCheck handles a bracketed IPv6 URL (`http://[::1]:PORT/`).
#[tokio::test]
async fn http_check_ipv6_loopback() {
    let server = HttpServer::start("[::1]:0", 0, "ok").await;
    let url = format!("http://[::1]:{}/", server.port);
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(check(&url).attempts(2))],
        ),
        "r",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Done], "{:?}", ran.steps());
    assert_eq!(server.requests().len(), 1);
}
