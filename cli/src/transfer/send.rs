//! The sending side: hashes each file, offers it, sends what the receiver lacks, and
//! waits for the receiver's verdict on the whole file's SHA-256. A lost connection is
//! re-established and the file continues where the receiver's copy ends.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jetstream_core::{PublicKey, TransportConfig};
use jetstream_driver::{Connection, Endpoint, RecvStream, Runtime, SendStream, StreamError};
use sha2::{Digest, Sha256};

use super::protocol::{Offer, Reply, Verdict, check_name};
use super::{CHUNK, read_exact};
use crate::{net, progress, runtime};

/// Stream error code for a transfer the sender abandons (its file could not be read).
const ABANDONED: u64 = 2;
/// The longest verdict or refusal read.
const MAX_ANSWER: usize = 2048;

/// A `jetstream send` run.
#[derive(Debug, Clone)]
pub(crate) struct SendOptions {
    pub(crate) server: SocketAddr,
    pub(crate) server_key: PublicKey,
    pub(crate) transport: TransportConfig,
    pub(crate) files: Vec<PathBuf>,
    /// Reconnections allowed after a lost connection, for the whole run.
    pub(crate) retries: u32,
    pub(crate) connect_timeout: Duration,
    pub(crate) progress: bool,
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sent {
    pub(crate) name: String,
    pub(crate) size: u64,
    /// Where the last attempt started: the bytes the receiver already had.
    pub(crate) resumed_from: u64,
    /// The receiver had an identical file; nothing was sent.
    pub(crate) already_there: bool,
}

/// A file to send, checked and hashed.
struct Outgoing {
    path: PathBuf,
    offer: Offer,
}

/// Why sending one file stopped.
enum Failure {
    /// The connection broke: reconnect and offer the file again.
    Interrupted(String),
    /// Anything else: report it.
    Fatal(String),
}

impl From<StreamError> for Failure {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Connection(_) => Failure::Interrupted(e.to_string()),
            e => Failure::Fatal(e.to_string()),
        }
    }
}

/// Sends every file, one after another on one connection.
pub(crate) async fn send_files<R: Runtime>(runtime: R, options: &SendOptions) -> Result<Vec<Sent>, String> {
    // Everything that can be checked without the network is checked first.
    let outgoing = options.files.iter().map(|path| prepare(path, options.progress)).collect::<Result<Vec<_>, _>>()?;
    let config = || net::client_config(options.server_key, options.transport.clone());
    let (mut endpoint, mut conn) =
        net::connect(runtime.clone(), options.server, config(), options.connect_timeout, None).await?;
    let mut retries_left = options.retries;
    let mut results = Vec::with_capacity(outgoing.len());
    for file in &outgoing {
        loop {
            match send_one(&conn, file, options.progress).await {
                Ok(sent) => {
                    results.push(sent);
                    break;
                }
                Err(Failure::Fatal(e)) => {
                    close(&runtime, &endpoint, &conn).await;
                    return Err(format!("{}: {e}", file.path.display()));
                }
                Err(Failure::Interrupted(e)) if retries_left > 0 => {
                    retries_left -= 1;
                    eprintln!("{}: connection lost ({e}); reconnecting to resume", file.path.display());
                    runtime::sleep_until(&runtime, Instant::now() + Duration::from_secs(1)).await;
                    (endpoint, conn) =
                        net::connect(runtime.clone(), options.server, config(), options.connect_timeout, None).await?;
                }
                Err(Failure::Interrupted(e)) => {
                    return Err(format!(
                        "{}: connection lost ({e}); run the same command again to resume",
                        file.path.display()
                    ));
                }
            }
        }
    }
    close(&runtime, &endpoint, &conn).await;
    Ok(results)
}

async fn close<R: Runtime>(runtime: &R, endpoint: &Endpoint<R>, conn: &Connection) {
    conn.close(0, b"done");
    runtime::timeout(runtime, Duration::from_secs(1), endpoint.wait_idle()).await;
}

/// Checks that `path` is a readable regular file with a name the receiver accepts, and
/// hashes it.
fn prepare(path: &Path, show_progress: bool) -> Result<Outgoing, String> {
    let shown = path.display();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{shown}: the path must end in a UTF-8 file name"))?
        .to_string();
    check_name(&name).map_err(|e| format!("{shown}: {e}"))?;
    let mut file = File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    let bar = if show_progress { progress::bytes_bar(meta.len()) } else { indicatif::ProgressBar::hidden() };
    bar.set_message(format!("hashing {name}"));
    let (mut hasher, mut buf, mut size) = (Sha256::new(), vec![0u8; CHUNK], 0u64);
    loop {
        let n = file.read(&mut buf).map_err(|e| format!("{shown}: {e}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
        bar.set_position(size);
    }
    bar.finish_and_clear();
    Ok(Outgoing { path: path.to_path_buf(), offer: Offer { name, size, sha256: hasher.finalize().into() } })
}

/// One attempt at one file.
async fn send_one(conn: &Connection, file: &Outgoing, show_progress: bool) -> Result<Sent, Failure> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| Failure::Interrupted(e.to_string()))?;
    send.write_all(&file.offer.encode().map_err(Failure::Fatal)?).await?;
    let offer = &file.offer;
    let sent =
        |resumed_from, already_there| Sent { name: offer.name.clone(), size: offer.size, resumed_from, already_there };
    let offset = match read_reply(&mut recv).await? {
        Reply::Send { offset } if offset <= offer.size => offset,
        Reply::Send { offset } => return Err(Failure::Fatal(format!("the receiver asked for byte {offset} onwards"))),
        Reply::Have { .. } => {
            let _ = send.finish();
            return Ok(sent(offer.size, true));
        }
        Reply::Refuse(why) => return Err(Failure::Fatal(format!("the receiver refused it: {why}"))),
    };
    let bar = if show_progress { progress::bytes_bar(offer.size) } else { indicatif::ProgressBar::hidden() };
    bar.set_message(offer.name.clone());
    bar.set_position(offset);
    let written = stream_file(&mut send, &file.path, offset, offer.size, &bar).await;
    bar.finish_and_clear();
    if let Err(failure) = written {
        // A refusal mid-way (the receiver stopped the stream) comes with its reason.
        if let (Failure::Fatal(_), Ok(Verdict::Failed(why))) = (&failure, read_verdict(&mut recv).await) {
            return Err(Failure::Fatal(format!("the receiver failed: {why}")));
        }
        return Err(failure);
    }
    match read_verdict(&mut recv).await? {
        Verdict::Ok => Ok(sent(offset, false)),
        Verdict::Failed(why) => Err(Failure::Fatal(format!("the receiver failed: {why}"))),
    }
}

async fn read_reply(recv: &mut RecvStream) -> Result<Reply, Failure> {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    // Replies are short: read a byte at a time so nothing after the reply is consumed.
    while bytes.len() < MAX_ANSWER {
        if let Some((reply, _)) = Reply::decode(&bytes).map_err(Failure::Fatal)? {
            return Ok(reply);
        }
        if !read_exact(recv, &mut byte).await? {
            return Err(Failure::Interrupted("the receiver ended the stream without a reply".into()));
        }
        bytes.push(byte[0]);
    }
    Err(Failure::Fatal("the receiver's reply is too long".into()))
}

async fn read_verdict(recv: &mut RecvStream) -> Result<Verdict, Failure> {
    match recv.read_to_end(MAX_ANSWER).await {
        Ok(bytes) => Verdict::decode(&bytes).map_err(Failure::Interrupted),
        Err(jetstream_driver::ReadToEndError::Stream(e)) => Err(e.into()),
        Err(e) => Err(Failure::Fatal(e.to_string())),
    }
}

/// Streams the file from `offset` to `size`, then finishes the stream.
async fn stream_file(
    send: &mut SendStream,
    path: &Path,
    offset: u64,
    size: u64,
    bar: &indicatif::ProgressBar,
) -> Result<(), Failure> {
    let abandon = |send: &mut SendStream, e: std::io::Error| {
        // Dropping the stream would finish it: a truncated file. Reset it instead.
        let _ = send.reset(ABANDONED);
        Failure::Fatal(format!("cannot read the file: {e}"))
    };
    let mut file = match File::open(path).and_then(|mut f| f.seek(SeekFrom::Start(offset)).map(|_| f)) {
        Ok(file) => file,
        Err(e) => return Err(abandon(send, e)),
    };
    let (mut buf, mut position) = (vec![0u8; CHUNK], offset);
    while position < size {
        let want = usize::try_from(size - position).unwrap_or(usize::MAX).min(CHUNK);
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => return Err(abandon(send, std::io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => n,
            Err(e) => return Err(abandon(send, e)),
        };
        send.write_all(&buf[..n]).await?;
        position += n as u64;
        bar.set_position(position);
    }
    send.finish()?;
    Ok(())
}
