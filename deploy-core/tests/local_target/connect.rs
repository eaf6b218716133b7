//! `LocalTarget::connect`: unix sockets and TCP round-trip bytes; failures
//! are connect errors naming the endpoint.
//!
//! Run: `cargo test -p deploy-core --test local_target connect::`.

use super::*;

// ---------------------------------------------------------------------------
// LocalTarget::connect
// ---------------------------------------------------------------------------

/// Reads what the peer sends up to EOF, then answers it reversed.
async fn reverse_echo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.expect("server read");
    buf.reverse();
    stream.write_all(&buf).await.expect("server write");
    stream.shutdown().await.expect("server shutdown");
}

/// Sends bytes through a connected stream, half-closes, and returns the answer.
async fn round_trip(mut stream: deploy_core::target::BoxedStream, bytes: &[u8]) -> Vec<u8> {
    stream.write_all(bytes).await.expect("client write");
    stream.shutdown().await.expect("client shutdown");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("client read");
    answer
}

/// connect to a unix socket (absolute, and relative to a base dir) round-trips bytes.
#[tokio::test]
async fn connect_unix_socket_round_trips() {
    let dir = tempdir();
    let path = dir.path().join("app.sock");
    let listener = UnixListener::bind(&path).expect("bind a unix socket");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(reverse_echo(stream));
        }
    });
    let stream = local()
        .connect(&Endpoint::Unix(s(&path)))
        .await
        .expect("connect");
    assert_eq!(round_trip(stream, b"ping").await, b"gnip");
    let based = LocalTarget::new("based").with_base_dir(dir.path());
    let stream = based
        .connect(&Endpoint::Unix("app.sock".to_owned()))
        .await
        .expect("connect relative");
    assert_eq!(round_trip(stream, b"abc").await, b"cba");
}

/// connect to a TCP listener on 127.0.0.1 round-trips bytes.
#[tokio::test]
async fn connect_tcp_round_trips() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local address").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(reverse_echo(stream));
        }
    });
    let endpoint = Endpoint::Tcp {
        host: "127.0.0.1".to_owned(),
        port,
    };
    let stream = local().connect(&endpoint).await.expect("connect");
    assert_eq!(round_trip(stream, b"hello").await, b"olleh");
}

/// Connecting to a closed port or a missing socket is TargetError::Connect naming the endpoint.
#[tokio::test]
async fn connect_failures_are_connect_errors() {
    let (port, _held) = closed_port().await;
    let err = match local()
        .connect(&Endpoint::Tcp {
            host: "127.0.0.1".to_owned(),
            port,
        })
        .await
    {
        Ok(_) => panic!("nothing listens on port {port}"),
        Err(err) => err,
    };
    match &err {
        TargetError::Connect { endpoint, .. } => assert_eq!(*endpoint, format!("127.0.0.1:{port}")),
        other => panic!("expected a Connect error, got {other:?}"),
    }
    let dir = tempdir();
    let missing = s(&dir.path().join("none.sock"));
    let err = match local().connect(&Endpoint::Unix(missing.clone())).await {
        Ok(_) => panic!("no socket at {missing}"),
        Err(err) => err,
    };
    match &err {
        TargetError::Connect { endpoint, .. } => assert_eq!(*endpoint, format!("unix:{missing}")),
        other => panic!("expected a Connect error, got {other:?}"),
    }
}
