//! Probe.
#[tokio::test(start_paused = true)]
async fn probe() {}
