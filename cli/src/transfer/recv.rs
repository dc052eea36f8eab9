//! The receiving side: stores each offered file in the target directory. A file is written
//! as a hidden partial file first and appears under its name only once its SHA-256 matched
//! the offer; an interrupted transfer leaves the partial file, and the next offer of the
//! same content continues from its end.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jetstream_driver::{Connection, Endpoint, RecvStream, Runtime, SendStream};
use sha2::{Digest, Sha256};

use super::protocol::{OFFER_HEAD, OFFER_TAIL, Offer, Reply, Verdict, check_name};
use super::{CHUNK, read_exact};
use crate::runtime;

/// Stream error code with which the receiver stops a stream it will not store.
const REFUSED: u64 = 1;

/// The directory files go to.
///
/// Two transfers of the same file may run at once (a sender that died leaves its
/// connection open until the idle timeout, and its resume arrives sooner). They share the
/// partial file, which is named by the content's hash, and each writes the same bytes at
/// the same offsets, so neither can spoil the other; the first to finish publishes it.
#[derive(Debug)]
pub(crate) struct Inbox {
    dir: PathBuf,
}

impl Inbox {
    /// An inbox in `dir`, which must be an existing directory.
    pub(crate) fn new(dir: PathBuf) -> Result<Arc<Self>, String> {
        if !dir.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        Ok(Arc::new(Inbox { dir }))
    }
}

/// Receives files from every client until the endpoint closes, logging to stdout.
pub(crate) async fn serve<R: Runtime>(runtime: R, endpoint: Endpoint<R>, inbox: Arc<Inbox>) {
    while let Some(conn) = endpoint.accept().await {
        runtime::spawn(&runtime, serve_connection(runtime.clone(), conn, inbox.clone()));
    }
}

async fn serve_connection<R: Runtime>(runtime: R, conn: Connection, inbox: Arc<Inbox>) {
    let peer = conn.remote_address().map_or_else(|| "?".to_string(), |a| a.to_string());
    println!("{peer}: connected");
    while let Ok((send, recv)) = conn.accept_bi().await {
        let (inbox, peer) = (inbox.clone(), peer.clone());
        runtime::spawn(&runtime, async move {
            match receive(send, recv, &inbox).await {
                Ok(line) => println!("{peer}: {line}"),
                Err(e) => println!("{peer}: {e}"),
            }
        });
    }
    println!("{peer}: disconnected");
}

/// One file: the offer, the reply, the bytes, the verdict. The log line on success.
async fn receive(mut send: SendStream, mut recv: RecvStream, inbox: &Arc<Inbox>) -> Result<String, String> {
    let offer = match read_offer(&mut recv).await {
        Ok(offer) => offer,
        Err(e) => {
            let _ = recv.stop(REFUSED); // the stream may have ended already
            let _ = send.write_all(&Reply::Refuse(e.clone()).encode()).await;
            return Err(format!("refused an offer: {e}"));
        }
    };
    let name = offer.name.clone();
    let refuse = async |send: &mut SendStream, recv: &mut RecvStream, why: String| {
        let _ = recv.stop(REFUSED);
        let _ = send.write_all(&Reply::Refuse(why.clone()).encode()).await;
        Err(format!("refused {name:?}: {why}"))
    };
    if let Err(why) = check_name(&offer.name) {
        return refuse(&mut send, &mut recv, why).await;
    }
    let target = inbox.dir.join(&offer.name);
    match already_there(&target, &offer) {
        Ok(true) => {
            let _ = recv.stop(0);
            send.write_all(&Reply::Have { size: offer.size }.encode()).await.map_err(|e| e.to_string())?;
            return Ok(format!("{name} is already here, identical ({} bytes)", offer.size));
        }
        Ok(false) => {}
        Err(why) => return refuse(&mut send, &mut recv, why).await,
    }
    let part_path = inbox.dir.join(part_name(&offer));
    let (mut part, hasher, offset) = match open_part(&part_path, offer.size) {
        Ok(opened) => opened,
        Err(why) => return refuse(&mut send, &mut recv, why).await,
    };
    send.write_all(&Reply::Send { offset }.encode()).await.map_err(|e| format!("{name}: {e}"))?;
    let received = store(&mut recv, &mut part, hasher, offset, &offer).await;
    let verdict = match received {
        Stored::Complete(digest) if digest == offer.sha256 => finish(part, &part_path, &target, &offer),
        Stored::Complete(_) => {
            let _ = std::fs::remove_file(&part_path);
            Err("the SHA-256 of the received file differs from the offer's; the file was discarded".to_string())
        }
        Stored::Failed(why) => {
            let _ = recv.stop(REFUSED);
            Err(why)
        }
        Stored::Interrupted(why) => {
            return Err(format!("{name}: interrupted ({why}); the partial file is kept for a resume"));
        }
    };
    let answer = match &verdict {
        Ok(()) => Verdict::Ok,
        Err(why) => Verdict::Failed(why.clone()),
    };
    // The sender may be gone; the log line says what happened either way.
    let _ = send.write_all(&answer.encode()).await;
    let _ = send.finish();
    let resumed = if offset > 0 { format!(", resumed at byte {offset}") } else { String::new() };
    verdict
        .map(|()| format!("received {name} ({} bytes{resumed}), SHA-256 verified", offer.size))
        .map_err(|why| format!("{name}: {why}"))
}

async fn read_offer(recv: &mut RecvStream) -> Result<Offer, String> {
    let truncated = || "the offer ended early".to_string();
    let mut head = [0u8; OFFER_HEAD];
    read_exact(recv, &mut head).await.map_err(|e| e.to_string())?.then_some(()).ok_or_else(truncated)?;
    let mut name = vec![0u8; Offer::name_len(&head)?];
    read_exact(recv, &mut name).await.map_err(|e| e.to_string())?.then_some(()).ok_or_else(truncated)?;
    let mut tail = [0u8; OFFER_TAIL];
    read_exact(recv, &mut tail).await.map_err(|e| e.to_string())?.then_some(()).ok_or_else(truncated)?;
    Offer::decode(name, &tail)
}

/// The partial file's name: hidden, and tied to the content, so that a different file of
/// the same name never continues another's bytes.
fn part_name(offer: &Offer) -> String {
    format!(".{}.{}.part", offer.name, hex::encode(&offer.sha256[..8]))
}

/// Whether `target` already holds the offered file; an error when something else is there.
fn already_there(target: &Path, offer: &Offer) -> Result<bool, String> {
    let meta = match std::fs::symlink_metadata(target) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("cannot inspect the existing file: {e}")),
    };
    let name = &offer.name;
    let different = || Err(format!("{name} exists with other content; it is not overwritten"));
    if !meta.is_file() || meta.len() != offer.size {
        return different();
    }
    let file = File::open(target).map_err(|e| format!("cannot read the existing file: {e}"))?;
    let (digest, _) = hash_prefix(file, offer.size).map_err(|e| format!("cannot read the existing file: {e}"))?;
    if digest.finalize()[..] == offer.sha256 { Ok(true) } else { different() }
}

/// Opens (or creates) the partial file: the file positioned at its end, the hash of what
/// it holds, and its length, which is where the sender continues. A partial file longer
/// than the offer cannot belong to it and starts over.
fn open_part(path: &Path, size: u64) -> Result<(File, Sha256, u64), String> {
    let io = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        // A link planted where the partial file goes must not redirect the write.
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io)?;
    let mut have = file.metadata().map_err(io)?.len();
    if have > size {
        file.set_len(0).map_err(io)?;
        have = 0;
    }
    let (hasher, read) = hash_prefix(&file, have).map_err(io)?;
    if read != have {
        return Err(format!("{} changed while being read", path.display()));
    }
    file.seek(SeekFrom::Start(have)).map_err(io)?;
    Ok((file, hasher, have))
}

/// The SHA-256 state over the first `len` bytes of `file`, and how many bytes there were.
fn hash_prefix(mut file: impl Read, len: u64) -> std::io::Result<(Sha256, u64)> {
    let (mut hasher, mut buf, mut read) = (Sha256::new(), vec![0u8; CHUNK], 0u64);
    while read < len {
        let want = usize::try_from(len - read).unwrap_or(usize::MAX).min(CHUNK);
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        read += n as u64;
    }
    Ok((hasher, read))
}

/// How receiving the bytes ended.
enum Stored {
    /// Every offered byte arrived: the file's SHA-256.
    Complete([u8; 32]),
    /// The stream or connection broke: keep the partial file.
    Interrupted(String),
    /// The sender or the disk misbehaved: the reason for the verdict.
    Failed(String),
}

async fn store(recv: &mut RecvStream, part: &mut File, mut hasher: Sha256, offset: u64, offer: &Offer) -> Stored {
    let mut buf = vec![0u8; CHUNK];
    let mut have = offset;
    loop {
        let n = match recv.read(&mut buf).await {
            Ok(Some(n)) => n,
            Ok(None) => break,
            Err(e) => {
                let _ = part.flush();
                return Stored::Interrupted(e.to_string());
            }
        };
        if have + n as u64 > offer.size {
            return Stored::Failed(format!("the sender sent more than the {} bytes it offered", offer.size));
        }
        if let Err(e) = part.write_all(&buf[..n]) {
            return Stored::Failed(format!("cannot write the file: {e}"));
        }
        hasher.update(&buf[..n]);
        have += n as u64;
    }
    if have != offer.size {
        return Stored::Interrupted(format!("the stream ended after {have} of {} bytes", offer.size));
    }
    Stored::Complete(hasher.finalize().into())
}

/// Makes the verified partial file appear under its name, never replacing a file that
/// appeared there meanwhile (unless it is this very file, published by a concurrent
/// transfer of it).
fn finish(part: File, part_path: &Path, target: &Path, offer: &Offer) -> Result<(), String> {
    part.sync_all().map_err(|e| format!("cannot write the file: {e}"))?;
    drop(part);
    match std::fs::hard_link(part_path, target) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && already_there(target, offer)? => {}
        Err(e) => return Err(format!("cannot create {}: {e}", target.display())),
    }
    match std::fs::remove_file(part_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("cannot remove the partial file: {e}")),
        _ => Ok(()),
    }
}
