//! The test protocol on the async adapters, written once over the shared driver types and
//! run on tokio or smol.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::thread::JoinHandle;

use futures_lite::FutureExt;
use jetstream_core::{PublicKey, ServerConfig, StaticKeypair};
use jetstream_driver::{Connection, Endpoint, EndpointOptions, RecvStream, Runtime, SendStream};

use crate::PeerOptions;
use crate::digest::{ANSWER_LEN, Digest, Sender, check_answer};

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;
type Spawn = fn(Task);
pub(crate) type Started = (SocketAddr, Box<dyn FnOnce() + Send>, JoinHandle<()>);

/// Serves connections until `stop` fires, then closes them and waits until they drained.
async fn serve<R: Runtime>(endpoint: Endpoint<R>, spawn: Spawn, stop: async_channel::Receiver<()>) {
    let accept_loop = async {
        while let Some(conn) = endpoint.accept().await {
            spawn(Box::pin(serve_connection(conn, spawn)));
        }
    };
    accept_loop
        .or(async {
            let _ = stop.recv().await;
        })
        .await;
    endpoint.close(0, b"server stopped");
    endpoint.wait_idle().await;
}

async fn serve_connection(conn: Connection, spawn: Spawn) {
    while let Ok((send, recv)) = conn.accept_bi().await {
        spawn(Box::pin(answer_stream(send, recv)));
    }
}

async fn answer_stream(mut send: SendStream, mut recv: RecvStream) {
    let mut digest = Digest::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match recv.read(&mut buf).await {
            Ok(Some(n)) => digest.update(&buf[..n]),
            Ok(None) => break,
            Err(_) => return,
        }
    }
    if send.write_all(&digest.answer()).await.is_ok() && send.finish().is_ok() {
        let _ = send.finished().await;
    }
}

/// One connection, one stream per entry of `lens`, every answer checked.
async fn exchange<R: Runtime>(
    endpoint: &Endpoint<R>,
    addr: SocketAddr,
    key: PublicKey,
    lens: &[usize],
) -> Result<(), String> {
    let conn = endpoint.connect(addr, key).await.map_err(|e| format!("connect: {e}"))?;
    for (seed, &len) in lens.iter().enumerate() {
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| format!("open: {e}"))?;
        let mut sender = Sender::new(seed as u64, len);
        loop {
            let piece = sender.pending();
            if piece.is_empty() {
                break;
            }
            let n = send.write(piece).await.map_err(|e| format!("write: {e}"))?;
            sender.advance(n);
        }
        send.finish().map_err(|e| format!("finish: {e}"))?;
        let answer = recv.read_to_end(ANSWER_LEN).await.map_err(|e| format!("read answer: {e}"))?;
        check_answer(sender.into_digest(), &answer)?;
    }
    conn.close(0, b"done");
    Ok(())
}

fn server_options(keypair: StaticKeypair, options: &PeerOptions) -> EndpointOptions {
    let mut endpoint_options = EndpointOptions::server(ServerConfig::new(keypair)).expect("OS RNG");
    endpoint_options.socket = options.socket.clone();
    endpoint_options
}

fn client_options(options: &PeerOptions) -> EndpointOptions {
    let mut endpoint_options = EndpointOptions::client().expect("OS RNG");
    endpoint_options.socket = options.socket.clone();
    endpoint_options
}

/// Runs `future` with a time limit on the runtime's own timer (`timer` sleeps that long).
async fn limited<T>(
    future: impl Future<Output = Result<T, String>>,
    timer: impl Future<Output = ()>,
) -> Result<T, String> {
    future
        .or(async {
            timer.await;
            Err("time limit exceeded".to_string())
        })
        .await
}

fn start_server<R: Runtime>(
    keypair: StaticKeypair,
    options: &PeerOptions,
    run: fn(Pin<Box<dyn Future<Output = ()> + Send>>),
    runtime: fn() -> R,
    spawn: Spawn,
) -> Started {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    let endpoint_options = server_options(keypair, options);
    let bind = options.bind;
    let thread = std::thread::spawn(move || {
        run(Box::pin(async move {
            let socket = std::net::UdpSocket::bind(bind).expect("bind server");
            let endpoint = Endpoint::with_runtime(runtime(), socket, endpoint_options).expect("server endpoint");
            addr_tx.send(endpoint.local_addr().expect("addr")).expect("test is waiting");
            serve(endpoint, spawn, stop_rx).await;
        }))
    });
    let addr = addr_rx.recv().expect("server started");
    let stop = Box::new(move || {
        let _ = stop_tx.try_send(());
    });
    (addr, stop, thread)
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

pub(crate) fn start_tokio_server(keypair: StaticKeypair, options: &PeerOptions) -> Started {
    start_server(
        keypair,
        options,
        |f| tokio_runtime().block_on(f),
        || jetstream_tokio::TokioRuntime::new(tokio::runtime::Handle::current()),
        |t| drop(tokio::spawn(t)),
    )
}

pub(crate) fn start_smol_server(keypair: StaticKeypair, options: &PeerOptions) -> Started {
    start_server(keypair, options, smol::block_on, jetstream_smol::SmolRuntime::default, |t| smol::spawn(t).detach())
}

pub(crate) fn tokio_client(
    addr: SocketAddr,
    key: PublicKey,
    lens: &[usize],
    options: &PeerOptions,
) -> Result<(), String> {
    tokio_runtime().block_on(async {
        let endpoint =
            jetstream_tokio::Endpoint::bind(options.bind, client_options(options)).map_err(|e| e.to_string())?;
        limited(exchange(&endpoint, addr, key, lens), tokio::time::sleep(options.time_limit)).await
    })
}

pub(crate) fn smol_client(
    addr: SocketAddr,
    key: PublicKey,
    lens: &[usize],
    options: &PeerOptions,
) -> Result<(), String> {
    smol::block_on(async {
        let endpoint =
            jetstream_smol::Endpoint::bind(options.bind, client_options(options)).map_err(|e| e.to_string())?;
        let timer = async {
            smol::Timer::after(options.time_limit).await;
        };
        limited(exchange(&endpoint, addr, key, lens), timer).await
    })
}

/// `connections` tokio clients on one endpoint at once, each sending one stream of `len`.
pub(crate) fn tokio_concurrent(
    addr: SocketAddr,
    key: PublicKey,
    connections: usize,
    len: usize,
    options: &PeerOptions,
) -> Result<(), String> {
    tokio_runtime().block_on(async {
        let endpoint =
            jetstream_tokio::Endpoint::bind(options.bind, client_options(options)).map_err(|e| e.to_string())?;
        let tasks: Vec<_> = (0..connections)
            .map(|_| {
                let endpoint = endpoint.clone();
                tokio::spawn(async move { exchange(&endpoint, addr, key, &[len]).await })
            })
            .collect();
        let all = async {
            for (i, task) in tasks.into_iter().enumerate() {
                task.await.map_err(|e| e.to_string())?.map_err(|e| format!("connection {i}: {e}"))?;
            }
            Ok(())
        };
        limited(all, tokio::time::sleep(options.time_limit)).await
    })
}
