//! openraft's async runtime on `tokio::` — which is madsim-tokio: real tokio in the normal
//! build, madsim's simulated scheduler, clock and RNG under `--cfg madsim`. One runtime for both
//! builds (raft.md: with default features off openraft does not pull real tokio).
//!
//! - time: `std::time::Instant` (virtual under madsim, which intercepts the clock; openraft
//!   already implements its `Instant` trait for it); sleeps go through `tokio::time`.
//! - timeouts: our own future, polling the inner future before the deadline (biased), because
//!   madsim's `timeout` returns a type that cannot be named.
//! - randomness (election timeouts): `madsim::rand::thread_rng()`, seeded by the simulation's
//!   seed under madsim; in the normal build it is rand's thread RNG (real entropy; production
//!   elections need no reproducibility).
//! - `spawn_blocking` runs the closure inline: OS threads are forbidden in the simulator, and
//!   skiff never hands openraft blocking work.
//! - channels and the mutex wrap `tokio::sync` (madsim-tokio passes `sync` through).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use openraft::type_config::async_runtime::{
    AsyncRuntime, Mpsc, MpscReceiver, MpscSender, MpscWeakSender, Mutex, Oneshot, OneshotSender,
    RecvError, SendError, TryRecvError, Watch, WatchReceiver, WatchSender,
};
use tokio::sync::{mpsc, oneshot, watch};

/// The runtime marker type named in the type config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SkiffRuntime;

/// Why a [`Timeout`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed")
    }
}

/// A future bounded by a deadline; the inner future is polled first, so a future ready at the
/// deadline wins (deterministic, like `select! { biased; }`).
pub(crate) struct Timeout<F> {
    future: Pin<Box<F>>,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl<R, F: Future<Output = R>> Future for Timeout<F> {
    type Output = Result<R, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(value) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(value));
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Draws from madsim's RNG (seeded per simulation; rand's thread RNG in the normal build).
pub(crate) struct SimRng;

impl rand_core::TryRng for SimRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(madsim::rand::RngCore::next_u32(
            &mut madsim::rand::thread_rng(),
        ))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(madsim::rand::RngCore::next_u64(
            &mut madsim::rand::thread_rng(),
        ))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        madsim::rand::RngCore::fill_bytes(&mut madsim::rand::thread_rng(), dst);
        Ok(())
    }
}

fn sleep_until(deadline: Instant) -> tokio::time::Sleep {
    // Identity under madsim (its `Instant` is std's); a conversion in real tokio.
    #[allow(clippy::useless_conversion, reason = "not useless in the normal build")]
    tokio::time::sleep_until(deadline.into())
}

impl AsyncRuntime for SkiffRuntime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle<T: Send + 'static> = tokio::task::JoinHandle<T>;
    type Sleep = tokio::time::Sleep;
    type Instant = Instant;
    type TimeoutError = Elapsed;
    type Timeout<R, T: Future<Output = R> + Send> = Timeout<T>;
    type ThreadLocalRng = SimRng;
    type Mpsc = TokioMpsc;
    type Watch = TokioWatch;
    type Oneshot = TokioOneshot;
    type Mutex<T: Send + 'static> = TokioMutex<T>;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + Send + 'static,
        T::Output: Send + 'static,
    {
        tokio::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        sleep_until(deadline)
    }

    fn timeout<R, F: Future<Output = R> + Send>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        Timeout {
            future: Box::pin(future),
            sleep: Box::pin(tokio::time::sleep(duration)),
        }
    }

    fn timeout_at<R, F: Future<Output = R> + Send>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        Timeout {
            future: Box::pin(future),
            sleep: Box::pin(sleep_until(deadline)),
        }
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        join_error.is_panic()
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        SimRng
    }

    fn new(_threads: usize) -> Self {
        SkiffRuntime
    }

    /// skiff always runs openraft inside an existing runtime (tokio's or madsim's); openraft
    /// itself calls this only from its own tests and benchmarks.
    fn block_on<F, T>(&mut self, _future: F) -> T
    where
        F: Future<Output = T>,
    {
        panic!("skiff's raft runtime runs inside an existing tokio or madsim runtime")
    }

    fn spawn_blocking<F, T>(f: F) -> impl Future<Output = Result<T, io::Error>> + Send
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let value = f();
        async move { Ok(value) }
    }
}

/// `tokio::sync::mpsc` for openraft.
pub(crate) struct TokioMpsc;

/// Sending half.
pub(crate) struct MpscTx<T>(mpsc::Sender<T>);
/// Receiving half.
pub(crate) struct MpscRx<T>(mpsc::Receiver<T>);
/// Weak sending half.
pub(crate) struct MpscWeak<T>(mpsc::WeakSender<T>);

impl<T> Clone for MpscTx<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}
impl<T> Clone for MpscWeak<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl Mpsc for TokioMpsc {
    type Sender<T: Send> = MpscTx<T>;
    type Receiver<T: Send> = MpscRx<T>;
    type WeakSender<T: Send> = MpscWeak<T>;

    fn channel<T: Send>(buffer: usize) -> (Self::Sender<T>, Self::Receiver<T>) {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        (MpscTx(tx), MpscRx(rx))
    }
}

impl<T: Send> MpscSender<TokioMpsc, T> for MpscTx<T> {
    async fn send(&self, msg: T) -> Result<(), SendError<T>> {
        self.0.send(msg).await.map_err(|e| SendError(e.0))
    }
    fn downgrade(&self) -> MpscWeak<T> {
        MpscWeak(self.0.downgrade())
    }
}

impl<T: Send> MpscReceiver<T> for MpscRx<T> {
    async fn recv(&mut self) -> Option<T> {
        self.0.recv().await
    }
    fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.0.try_recv().map_err(|e| match e {
            mpsc::error::TryRecvError::Empty => TryRecvError::Empty,
            mpsc::error::TryRecvError::Disconnected => TryRecvError::Disconnected,
        })
    }
}

impl<T: Send> MpscWeakSender<TokioMpsc, T> for MpscWeak<T> {
    fn upgrade(&self) -> Option<MpscTx<T>> {
        self.0.upgrade().map(MpscTx)
    }
}

/// `tokio::sync::watch` for openraft.
pub(crate) struct TokioWatch;

/// Sending half.
pub(crate) struct WatchTx<T>(Arc<watch::Sender<T>>);
/// Receiving half.
pub(crate) struct WatchRx<T>(watch::Receiver<T>);

impl<T> Clone for WatchTx<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}
impl<T> Clone for WatchRx<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl Watch for TokioWatch {
    type Sender<T: Send + Sync> = WatchTx<T>;
    type Receiver<T: Send + Sync> = WatchRx<T>;
    type Ref<'a, T: Send + 'a> = watch::Ref<'a, T>;

    fn channel<T: Send + Sync>(init: T) -> (Self::Sender<T>, Self::Receiver<T>) {
        let (tx, rx) = watch::channel(init);
        (WatchTx(Arc::new(tx)), WatchRx(rx))
    }
}

impl<T: Send + Sync> WatchSender<TokioWatch, T> for WatchTx<T> {
    fn send(
        &self,
        value: T,
    ) -> Result<(), openraft::type_config::async_runtime::watch::SendError<T>> {
        self.0
            .send(value)
            .map_err(|e| openraft::type_config::async_runtime::watch::SendError(e.0))
    }
    fn send_if_modified<F>(&self, modify: F) -> bool
    where
        F: FnOnce(&mut T) -> bool,
    {
        self.0.send_if_modified(modify)
    }
    fn borrow_watched(&self) -> watch::Ref<'_, T> {
        self.0.borrow()
    }
    fn subscribe(&self) -> WatchRx<T> {
        WatchRx(self.0.subscribe())
    }
}

impl<T: Send + Sync> WatchReceiver<TokioWatch, T> for WatchRx<T> {
    async fn changed(&mut self) -> Result<(), RecvError> {
        self.0.changed().await.map_err(|_| RecvError(()))
    }
    fn borrow_watched(&self) -> watch::Ref<'_, T> {
        self.0.borrow()
    }
    fn borrow_and_update(&mut self) -> watch::Ref<'_, T> {
        self.0.borrow_and_update()
    }
}

/// `tokio::sync::oneshot` for openraft.
pub(crate) struct TokioOneshot;

/// Sending half.
pub(crate) struct OneshotTx<T>(oneshot::Sender<T>);

impl Oneshot for TokioOneshot {
    type Sender<T: Send> = OneshotTx<T>;
    type Receiver<T: Send> = oneshot::Receiver<T>;
    type ReceiverError = oneshot::error::RecvError;

    fn channel<T: Send>() -> (Self::Sender<T>, Self::Receiver<T>) {
        let (tx, rx) = oneshot::channel();
        (OneshotTx(tx), rx)
    }
}

impl<T: Send> OneshotSender<T> for OneshotTx<T> {
    fn send(self, t: T) -> Result<(), T> {
        self.0.send(t)
    }
}

/// `tokio::sync::Mutex` for openraft.
pub(crate) struct TokioMutex<T>(tokio::sync::Mutex<T>);

impl<T: Send + 'static> Mutex<T> for TokioMutex<T> {
    type Guard<'a> = tokio::sync::MutexGuard<'a, T>;

    fn new(value: T) -> Self {
        Self(tokio::sync::Mutex::new(value))
    }
    async fn lock(&self) -> Self::Guard<'_> {
        self.0.lock().await
    }
}
