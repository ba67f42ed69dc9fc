//! The health probe: a new process counts as started once something answers HTTP on its port.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Child;

/// How often a starting process is probed.
const PROBE_INTERVAL: Duration = Duration::from_millis(25);

/// Polls until something answers HTTP on the port, the process exits, or time runs out.
pub async fn wait_until_answering(child: &mut Child, port: u16, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited ({status}) before answering HTTP on port {port}"));
        }
        if answers_http(port).await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "nothing answered HTTP on 127.0.0.1:{port} within {}s (the app must listen on $PORT; STARTUP_TIMEOUT sets the wait)",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// Any HTTP response counts: a 404 or a 500 still proves the app is up.
pub async fn answers_http(port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\nUser-Agent: slipway-health\r\n\r\n").await.ok()?;
        let mut head = [0u8; 5];
        stream.read_exact(&mut head).await.ok()?;
        if &head != b"HTTP/" {
            return None;
        }
        // Read the rest too (briefly): closing early makes the app log a "connection reset".
        let (mut rest, mut sink) = ((&mut stream).take(1 << 20), Vec::new());
        let _ = tokio::time::timeout(Duration::from_millis(500), rest.read_to_end(&mut sink)).await;
        Some(())
    };
    tokio::time::timeout(Duration::from_secs(2), attempt).await.ok().flatten().is_some()
}
