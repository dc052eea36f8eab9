//! The async runtimes the commands run on, and the few things the commands need from one
//! (spawn, sleep, timeout) written once over [`jetstream_driver::Runtime`], so each command
//! is one generic function whichever adapter carries it. mio has no executor; the commands
//! that offer it have a poll loop of their own.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future;
use jetstream_driver::{AsyncTimer, Runtime};
use jetstream_smol::SmolRuntime;
use jetstream_tokio::TokioRuntime;

/// Which adapter carries a command (`--runtime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum RuntimeKind {
    /// jetstream-tokio on a current-thread runtime.
    Tokio,
    /// jetstream-smol with the driver on the command's own executor.
    Smol,
    /// jetstream-mio in a hand-written poll loop.
    Mio,
}

impl RuntimeKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            RuntimeKind::Tokio => "tokio",
            RuntimeKind::Smol => "smol",
            RuntimeKind::Mio => "mio",
        }
    }
}

/// Runs the future `make` builds on a current-thread tokio runtime (the endpoint's driver
/// task shares the thread, which is the fastest arrangement for one connection).
pub(crate) fn on_tokio<F: Future>(make: impl FnOnce(TokioRuntime) -> F) -> Result<F::Output, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start tokio: {e}"))?;
    let runtime = TokioRuntime::new(rt.handle().clone());
    Ok(rt.block_on(make(runtime)))
}

/// Runs the future `make` builds on an executor of its own, on this thread, with the
/// driver task on the same executor (see `SmolRuntime::with_executor`).
pub(crate) fn on_smol<F: Future>(make: impl FnOnce(SmolRuntime) -> F) -> Result<F::Output, String> {
    let executor = Arc::new(smol::Executor::new());
    let runtime = SmolRuntime::with_executor(executor.clone());
    Ok(smol::block_on(executor.run(make(runtime))))
}

/// Runs `task` in the background on the runtime.
pub(crate) fn spawn<R: Runtime>(runtime: &R, task: impl Future<Output = ()> + Send + 'static) {
    runtime.spawn(Box::pin(task));
}

/// Waits until `deadline`.
pub(crate) async fn sleep_until<R: Runtime>(runtime: &R, deadline: Instant) {
    let mut timer = Box::pin(runtime.new_timer(deadline));
    future::poll_fn(|cx| timer.as_mut().poll_elapsed(cx)).await;
}

/// `work`'s output, or `None` when it takes longer than `limit`.
pub(crate) async fn timeout<R: Runtime, T>(runtime: &R, limit: Duration, work: impl Future<Output = T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    future::or(async { Some(work.await) }, async {
        sleep_until(runtime, deadline).await;
        None
    })
    .await
}
