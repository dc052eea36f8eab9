//! Sender and receiver together on loopback, and a hand-made sender for what the real one
//! never does (dying mid-file, escaping names, lying about the hash).

use std::path::{Path, PathBuf};
use std::time::Duration;

use jetstream_core::{PublicKey, StaticKeypair, TransportConfig};
use jetstream_driver::{Connection, Endpoint};
use jetstream_tokio::TokioRuntime;
use sha2::{Digest, Sha256};

use super::protocol::{Offer, Reply, Verdict};
use super::recv::{Inbox, serve};
use super::send::{SendOptions, Sent, send_files};
use crate::net;

const LIMIT: Duration = Duration::from_secs(30);

/// A fresh directory with `inbox/` and `outbox/`, removed on drop.
struct Dirs(PathBuf);

impl Dirs {
    fn new(name: &str) -> Dirs {
        let root = std::env::temp_dir().join(format!("jetstream-transfer-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for sub in ["inbox", "outbox"] {
            std::fs::create_dir_all(root.join(sub)).expect("temp dirs");
        }
        Dirs(root)
    }
    fn inbox(&self) -> PathBuf {
        self.0.join("inbox")
    }
    /// Writes `len` bytes of a position-dependent pattern into the outbox.
    fn file(&self, name: &str, len: usize) -> (PathBuf, Vec<u8>) {
        let data: Vec<u8> = (0..len as u64).map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8).collect();
        let path = self.0.join("outbox").join(name);
        std::fs::write(&path, &data).expect("write the source");
        (path, data)
    }
}

impl Drop for Dirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A receiver on loopback (running on the test's runtime) and its key.
fn receiver(rt: &TokioRuntime, inbox: &Path) -> (std::net::SocketAddr, PublicKey) {
    let key = StaticKeypair::from_secret_bytes([21; 32]);
    let public = key.public_key();
    let endpoint =
        net::server_endpoint(rt.clone(), "127.0.0.1:0".parse().expect("addr"), key, TransportConfig::lan(), None)
            .expect("receiver endpoint");
    let addr = endpoint.local_addr().expect("address");
    let inbox = Inbox::new(inbox.to_path_buf()).expect("inbox");
    tokio::spawn(serve(rt.clone(), endpoint, inbox));
    (addr, public)
}

fn options(addr: std::net::SocketAddr, key: PublicKey, files: Vec<PathBuf>) -> SendOptions {
    SendOptions {
        server: addr,
        server_key: key,
        transport: TransportConfig::lan(),
        files,
        retries: 0,
        connect_timeout: Duration::from_secs(5),
        progress: false,
    }
}

fn runtime() -> TokioRuntime {
    TokioRuntime::new(tokio::runtime::Handle::current())
}

/// A raw connection for the hand-made sender.
async fn raw_connection(addr: std::net::SocketAddr, key: PublicKey) -> (Endpoint<TokioRuntime>, Connection) {
    net::connect(runtime(), addr, net::client_config(key, TransportConfig::lan()), Duration::from_secs(5), None)
        .await
        .expect("connect")
}

fn offer_of(name: &str, data: &[u8]) -> Offer {
    Offer { name: name.into(), size: data.len() as u64, sha256: Sha256::digest(data).into() }
}

/// Offers `offer`, then sends `data` (all of it unless the reply says otherwise): the
/// reply and, when the stream ran to its end, the verdict.
async fn raw_send(conn: &Connection, offer: &Offer, data: &[u8]) -> (Reply, Option<Verdict>) {
    let (mut send, mut recv) = conn.open_bi().await.expect("open");
    send.write_all(&offer.encode().expect("encodes")).await.expect("offer");
    let mut bytes = Vec::new();
    let mut buf = [0u8; 1];
    let reply = loop {
        if let Some((reply, _)) = Reply::decode(&bytes).expect("a valid reply") {
            break reply;
        }
        assert!(recv.read(&mut buf).await.expect("read").is_some(), "a reply before the end");
        bytes.push(buf[0]);
    };
    let Reply::Send { offset } = reply else { return (reply, None) };
    send.write_all(&data[offset as usize..]).await.expect("data");
    send.finish().expect("finish");
    let verdict = Verdict::decode(&recv.read_to_end(4096).await.expect("verdict")).expect("a valid verdict");
    (reply, Some(verdict))
}

#[tokio::test]
async fn files_arrive_identical_and_an_identical_resend_sends_nothing() {
    let dirs = Dirs::new("roundtrip");
    let (big, big_data) = dirs.file("big.bin", (5 << 20) + 333);
    let (small, small_data) = dirs.file("small.txt", 10);
    let (empty, _) = dirs.file("empty", 0);
    tokio::time::timeout(LIMIT, async {
        let (addr, key) = receiver(&runtime(), &dirs.inbox());
        let sent = send_files(runtime(), &options(addr, key, vec![big.clone(), small, empty])).await.expect("sent");
        assert_eq!(sent.len(), 3);
        assert!(sent.iter().all(|s| !s.already_there && s.resumed_from == 0), "{sent:?}");
        assert!(std::fs::read(dirs.inbox().join("big.bin")).expect("arrived") == big_data);
        assert_eq!(std::fs::read(dirs.inbox().join("small.txt")).expect("arrived"), small_data);
        assert_eq!(std::fs::read(dirs.inbox().join("empty")).expect("arrived"), b"");

        let again = send_files(runtime(), &options(addr, key, vec![big])).await.expect("sent again");
        assert_eq!(
            again,
            vec![Sent {
                name: "big.bin".into(),
                size: big_data.len() as u64,
                resumed_from: big_data.len() as u64,
                already_there: true
            }]
        );
        let leftovers: Vec<_> =
            std::fs::read_dir(dirs.inbox()).expect("list").flatten().map(|e| e.file_name()).collect();
        assert_eq!(leftovers.len(), 3, "no partial files left: {leftovers:?}");
    })
    .await
    .expect("within the time limit");
}

#[tokio::test]
async fn an_interrupted_transfer_resumes_where_the_receiver_stopped() {
    let dirs = Dirs::new("resume");
    let (path, data) = dirs.file("video.bin", 4 << 20);
    tokio::time::timeout(LIMIT, async {
        let (addr, key) = receiver(&runtime(), &dirs.inbox());
        // A sender that dies halfway: the offer, half the bytes, then the connection ends.
        let (endpoint, conn) = raw_connection(addr, key).await;
        let (mut send, mut recv) = conn.open_bi().await.expect("open");
        send.write_all(&offer_of("video.bin", &data).encode().expect("encodes")).await.expect("offer");
        let mut reply = [0u8; 9];
        assert!(super::read_exact(&mut recv, &mut reply).await.expect("reply"));
        assert_eq!(Reply::decode(&reply), Ok(Some((Reply::Send { offset: 0 }, 9))));
        send.write_all(&data[..data.len() / 2]).await.expect("half");
        // Wait until the receiver stored a good part, then vanish without finishing.
        let part_len = || {
            std::fs::read_dir(dirs.inbox())
                .expect("list")
                .flatten()
                .find(|e| e.file_name().to_string_lossy().ends_with(".part"))
                .map_or(0, |e| e.metadata().expect("meta").len())
        };
        while part_len() < (data.len() / 4) as u64 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        std::mem::forget(send); // dropping it would finish the stream cleanly
        conn.close(0, b"crash");
        drop((endpoint, recv));
        assert!(!dirs.inbox().join("video.bin").exists(), "nothing published before the hash matched");

        let sent = send_files(runtime(), &options(addr, key, vec![path])).await.expect("resumed");
        assert!(sent[0].resumed_from >= (data.len() / 4) as u64, "resumed at {}", sent[0].resumed_from);
        assert!(std::fs::read(dirs.inbox().join("video.bin")).expect("arrived") == data, "byte-identical");
    })
    .await
    .expect("within the time limit");
}

#[tokio::test]
async fn escaping_names_wrong_hashes_and_existing_files_are_refused() {
    let dirs = Dirs::new("refusals");
    let data = b"payload".to_vec();
    tokio::time::timeout(LIMIT, async {
        let (addr, key) = receiver(&runtime(), &dirs.inbox());
        let (_endpoint, conn) = raw_connection(addr, key).await;
        for name in ["../escaped.txt", "/tmp/absolute.txt", "sub/dir.txt", ".hidden"] {
            let (reply, _) = raw_send(&conn, &offer_of(name, &data), &data).await;
            assert!(matches!(&reply, Reply::Refuse(why) if why.contains("plain file name")), "{name}: {reply:?}");
        }
        assert!(!dirs.0.join("escaped.txt").exists() && !Path::new("/tmp/absolute.txt").exists());

        // A hash that does not match the bytes: the verdict fails and nothing is kept.
        let mut lying = offer_of("lie.txt", &data);
        lying.sha256[0] ^= 1;
        let (_, verdict) = raw_send(&conn, &lying, &data).await;
        assert!(matches!(&verdict, Some(Verdict::Failed(why)) if why.contains("SHA-256")), "{verdict:?}");
        assert_eq!(std::fs::read_dir(dirs.inbox()).expect("list").count(), 0, "no file, no partial file");

        // An existing file with other content is never overwritten.
        std::fs::write(dirs.inbox().join("keep.txt"), b"mine").expect("write");
        let (reply, _) = raw_send(&conn, &offer_of("keep.txt", &data), &data).await;
        assert!(matches!(&reply, Reply::Refuse(why) if why.contains("not overwritten")), "{reply:?}");
        assert_eq!(std::fs::read(dirs.inbox().join("keep.txt")).expect("kept"), b"mine");
    })
    .await
    .expect("within the time limit");
}

#[tokio::test]
async fn the_sender_checks_its_files_before_connecting() {
    let dirs = Dirs::new("checks");
    // Nobody listens here: a check that needed the network would time out instead.
    let addr = "127.0.0.1:9".parse().expect("addr");
    let key = StaticKeypair::from_secret_bytes([1; 32]).public_key();
    for (path, words) in [
        (dirs.0.join("missing.bin"), "No such file"),
        (dirs.0.join("outbox"), "not a regular file"),
        (dirs.file(".dotfile", 3).0, "plain file name"),
    ] {
        let err = send_files(runtime(), &options(addr, key, vec![path])).await.expect_err("refused");
        assert!(err.contains(words), "{words:?} in {err}");
    }
}
