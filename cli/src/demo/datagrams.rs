//! The demo's datagram step: numbered datagrams to the perf server, which echoes them;
//! each echo gives a round-trip time, and whatever does not come back is counted lost
//! (datagrams are never retransmitted).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use jetstream_driver::{Connection, Runtime};

use crate::perf::{new_histogram, record};
use crate::runtime;

/// Datagrams sent and not yet echoed, at most.
const WINDOW: usize = 32;
/// An echo later than this counts as lost.
const ECHO_TIMEOUT: Duration = Duration::from_millis(250);

/// What the datagram step saw.
#[derive(Debug)]
pub(crate) struct DatagramOutcome {
    pub(crate) sent: u64,
    pub(crate) echoed: u64,
    pub(crate) elapsed: Duration,
    pub(crate) rtt: Histogram<u64>,
}

/// Sends `count` datagrams of `size` bytes (at least 8), `WINDOW` in flight at a time.
pub(crate) async fn echo_datagrams<R: Runtime>(
    runtime: &R,
    conn: &Connection,
    count: u64,
    size: usize,
    bar: &ProgressBar,
) -> Result<DatagramOutcome, String> {
    let size = size.max(8);
    let start = Instant::now();
    let mut in_flight: HashMap<u64, Instant> = HashMap::with_capacity(WINDOW);
    let (mut next, mut echoed, mut rtt) = (0u64, 0u64, new_histogram());
    while next < count || !in_flight.is_empty() {
        while next < count && in_flight.len() < WINDOW {
            let mut datagram = vec![0u8; size];
            datagram[..8].copy_from_slice(&next.to_be_bytes());
            conn.send_datagram(Bytes::from(datagram)).map_err(|e| format!("datagram {next}: {e}"))?;
            in_flight.insert(next, Instant::now());
            next += 1;
        }
        match runtime::timeout(runtime, ECHO_TIMEOUT, conn.read_datagram()).await {
            Some(Ok(echo)) => {
                let seq = echo.get(..8).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")));
                // Unknown numbers are late echoes already counted lost.
                if let Some(sent_at) = seq.and_then(|seq| in_flight.remove(&seq)) {
                    record(&mut rtt, sent_at.elapsed());
                    echoed += 1;
                }
            }
            Some(Err(e)) => return Err(format!("connection lost: {e}")),
            // Nothing for a while: whatever is in flight is lost.
            None => in_flight.clear(),
        }
        bar.set_position(next);
    }
    Ok(DatagramOutcome { sent: count, echoed, elapsed: start.elapsed(), rtt })
}
