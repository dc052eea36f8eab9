//! The perf server on the async adapters: answers every stream by its kind byte (see
//! [`super::protocol`]) and echoes datagrams, for any number of clients at once.

use std::time::Instant;

use jetstream_driver::{Connection, Endpoint, RecvStream, Runtime, SendStream, StreamError};

use super::protocol::{CPU_UNKNOWN, StreamKind, UNKNOWN_KIND};
use crate::{cpu, runtime};

/// Bytes per read.
const READ_SIZE: usize = 64 * 1024;

/// Serves clients until the endpoint closes, logging each connection to stdout when `log`.
pub(crate) async fn serve<R: Runtime>(runtime: R, endpoint: Endpoint<R>, log: bool) {
    while let Some(conn) = endpoint.accept().await {
        runtime::spawn(&runtime, serve_connection(runtime.clone(), conn, log));
    }
}

async fn serve_connection<R: Runtime>(runtime: R, conn: Connection, log: bool) {
    let peer = conn.remote_address().map_or_else(|| "?".to_string(), |a| a.to_string());
    let suite = conn.cipher_suite().map_or_else(String::new, |s| format!("{s:?}"));
    if log {
        println!("{peer}: connected ({suite})");
    }
    let start = Instant::now();
    let datagrams = conn.clone();
    runtime::spawn(&runtime, async move {
        // Ends with the connection; a full send queue drops the echo, as datagrams may be.
        while let Ok(datagram) = datagrams.read_datagram().await {
            let _ = datagrams.send_datagram(datagram);
        }
    });
    let why = loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => runtime::spawn(&runtime, async move {
                // A failed stream only ends itself; the connection's end is logged below.
                let _ = serve_stream(send, recv).await;
            }),
            Err(e) => break e,
        }
    };
    if log {
        let received = conn.stats().map_or(0, |s| s.stream_bytes_received);
        let secs = start.elapsed().as_secs_f64();
        println!("{peer}: closed after {secs:.2} s, {received} stream bytes received ({why})");
    }
}

/// Does what the stream's first byte asks.
async fn serve_stream(mut send: SendStream, mut recv: RecvStream) -> Result<(), StreamError> {
    let mut buf = vec![0u8; READ_SIZE];
    let Some(kind) = read_kind(&mut recv).await? else {
        return Ok(()); // an empty stream: nothing asked
    };
    match kind {
        Some(StreamKind::Upload) => {
            let mut count = 0u64;
            while let Some(n) = recv.read(&mut buf).await? {
                count += n as u64;
            }
            send.write_all(&count.to_be_bytes()).await?;
        }
        Some(StreamKind::Echo) => {
            while let Some(n) = recv.read(&mut buf).await? {
                send.write_all(&buf[..n]).await?;
            }
        }
        Some(StreamKind::Cpu) => {
            let before = cpu::process_cpu_time();
            while recv.read(&mut buf).await?.is_some() {}
            let used = cpu::process_cpu_time().zip(before).map(|(after, before)| after.saturating_sub(before));
            let micros = used.map_or(CPU_UNKNOWN, |d| u64::try_from(d.as_micros()).unwrap_or(CPU_UNKNOWN));
            send.write_all(&micros.to_be_bytes()).await?;
        }
        None => {
            recv.stop(UNKNOWN_KIND)?;
            return send.reset(UNKNOWN_KIND);
        }
    }
    send.finish()
}

/// The stream's kind byte: `None` for an empty stream, `Some(None)` for an unknown kind.
async fn read_kind(recv: &mut RecvStream) -> Result<Option<Option<StreamKind>>, StreamError> {
    let mut byte = [0u8; 1];
    Ok(recv.read(&mut byte).await?.map(|_| StreamKind::from_byte(byte[0])))
}
