//! What runs beside the requests: periodic tasks that outlive a panic in one of their
//! turns, and retries of a step that must not be given up at the first failure.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use std::sync::Arc;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// A task running `tick` every period (see [`spawn_periodic`]).
pub struct Periodic {
    name: &'static str,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Periodic {
    /// Stops it at once, even in the middle of a turn: for tasks whose turn can be cut
    /// off safely.
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Stops it after the turn under way, if any: for turns that must not be cut off.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if self.task.await.is_err() {
            tracing::error!(task = self.name, "a periodic task ended abnormally");
        }
    }
}

/// Runs `tick` now and then every `period` (later, not more often, when a turn runs
/// long). A turn that panics is logged under `name`, and the next one runs all the same.
pub fn spawn_periodic<F, Fut>(name: &'static str, period: Duration, tick: F) -> Periodic
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stopped.changed() => return,
            }
            // The turn itself is never raced against the stop: it runs to its end.
            survive(name, tick()).await;
            if *stopped.borrow() {
                return;
            }
        }
    });
    Periodic { name, stop, task }
}

/// Runs `turn` now, then again each time `wake` is notified, and at the latest `poll`
/// after the last turn ended: for a task that drains an outbox as soon as something is
/// put in it. A turn that panics is logged under `name`, and the next one runs all the
/// same. Runs until aborted.
pub fn spawn_woken<F, Fut>(
    name: &'static str,
    poll: Duration,
    wake: Arc<Notify>,
    turn: F,
) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            survive(name, turn()).await;
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    })
}

/// Runs one turn of the task `name`; a panic in it is logged, not passed on.
async fn survive(name: &'static str, turn: impl Future<Output = ()>) {
    if AssertUnwindSafe(turn).catch_unwind().await.is_err() {
        tracing::error!(task = name, "a turn of a background task panicked");
    }
}

/// Tries `attempt` once, then once more after each of `waits` while it fails. Returns
/// its first success or its last failure; `on_failure` sees every failure.
pub async fn retry<T, E, Fut>(
    waits: &[Duration],
    mut attempt: impl FnMut() -> Fut,
    mut on_failure: impl FnMut(&E),
) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut result = attempt().await;
    for wait in waits {
        match &result {
            Ok(_) => break,
            Err(error) => on_failure(error),
        }
        tokio::time::sleep(*wait).await;
        result = attempt().await;
    }
    if let Err(error) = &result {
        on_failure(error);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_panicking_turn_does_not_end_the_task() {
        let turns = Arc::new(AtomicUsize::new(0));
        let periodic = spawn_periodic("test", Duration::from_secs(1), {
            let turns = Arc::clone(&turns);
            move || {
                let turn = turns.fetch_add(1, Ordering::SeqCst);
                async move {
                    if turn == 0 {
                        panic!("the first turn fails");
                    }
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert_eq!(turns.load(Ordering::SeqCst), 3);
        periodic.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_woken_task_outlives_a_panicking_turn_and_runs_when_woken_or_polled() {
        let turns = Arc::new(AtomicUsize::new(0));
        let wake = Arc::new(Notify::new());
        let task = spawn_woken("test", Duration::from_secs(60), Arc::clone(&wake), {
            let turns = Arc::clone(&turns);
            move || {
                let turn = turns.fetch_add(1, Ordering::SeqCst);
                async move {
                    if turn == 0 {
                        panic!("the first turn fails");
                    }
                }
            }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(turns.load(Ordering::SeqCst), 1, "a turn at once");
        wake.notify_one();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            turns.load(Ordering::SeqCst),
            2,
            "a turn when woken, after a panic"
        );
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            turns.load(Ordering::SeqCst),
            3,
            "a turn when the poll is due"
        );
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn stop_lets_the_turn_under_way_finish() {
        let finished = Arc::new(AtomicUsize::new(0));
        let periodic = spawn_periodic("test", Duration::from_secs(60), {
            let finished = Arc::clone(&finished);
            move || {
                let finished = Arc::clone(&finished);
                async move {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    finished.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        periodic.stop().await;
        assert_eq!(finished.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_stops_at_the_first_success_and_reports_each_failure() {
        let mut calls = 0;
        let mut failures = 0;
        let result: Result<u32, &str> = retry(
            &[Duration::from_secs(1); 3],
            || {
                calls += 1;
                let n = calls;
                async move { if n < 3 { Err("not yet") } else { Ok(n) } }
            },
            |_| failures += 1,
        )
        .await;
        assert_eq!(result, Ok(3));
        assert_eq!(failures, 2);

        let mut calls = 0;
        let result: Result<(), &str> = retry(
            &[Duration::from_secs(1); 2],
            || {
                calls += 1;
                async { Err("never") }
            },
            |_| {},
        )
        .await;
        assert_eq!(result, Err("never"));
        assert_eq!(calls, 3);
    }
}
