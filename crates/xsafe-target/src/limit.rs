//! An adaptive concurrency limit: additive increase, multiplicative
//! decrease (AIMD), as TCP does for congestion. A server that answers 429
//! is telling us we send too much at once; halving what we keep in flight
//! and creeping back up when it stops finds the rate it can take without
//! being told the number.

use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

#[derive(Debug)]
struct State {
    limit: f64,
    in_flight: usize,
    last_decrease: Option<Instant>,
}

/// How many requests may be in flight, adapting to overload signals.
#[derive(Debug)]
pub struct AdaptiveLimit {
    max: usize,
    /// After a decrease, further overload signals within this time are
    /// answers to requests sent before it and must not shrink it again.
    cooldown: Duration,
    state: Mutex<State>,
    released: Notify,
}

/// A place in flight; gives it back when dropped.
pub struct Permit<'a>(&'a AdaptiveLimit);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.state.lock().unwrap().in_flight -= 1;
        self.0.released.notify_waiters();
    }
}

impl AdaptiveLimit {
    /// Starts at `max`, the most it will ever allow.
    pub fn new(max: usize, cooldown: Duration) -> Self {
        let max = max.max(1);
        AdaptiveLimit {
            max,
            cooldown,
            state: Mutex::new(State {
                limit: max as f64,
                in_flight: 0,
                last_decrease: None,
            }),
            released: Notify::new(),
        }
    }

    /// The current limit, rounded down.
    pub fn current(&self) -> usize {
        self.state.lock().unwrap().limit as usize
    }

    /// Waits for a place in flight.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Registered before checking, so a release between the check and
            // the wait is not missed.
            released.as_mut().enable();
            {
                let mut s = self.state.lock().unwrap();
                if s.in_flight < (s.limit as usize).max(1) {
                    s.in_flight += 1;
                    return Permit(self);
                }
            }
            released.await;
        }
    }

    /// A request succeeded: grow by one per window of `limit` successes.
    pub fn on_success(&self) {
        let mut s = self.state.lock().unwrap();
        s.limit = (s.limit + 1.0 / s.limit).min(self.max as f64);
        drop(s);
        self.released.notify_waiters();
    }

    /// The server said it is overloaded: halve, at most once per cooldown.
    pub fn on_overload(&self) {
        let mut s = self.state.lock().unwrap();
        let now = Instant::now();
        if s.last_decrease
            .is_none_or(|t| now.duration_since(t) >= self.cooldown)
        {
            s.limit = (s.limit / 2.0).max(1.0);
            s.last_decrease = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn halves_on_overload_and_creeps_back() {
        let l = AdaptiveLimit::new(8, Duration::ZERO);
        l.on_overload();
        assert_eq!(l.current(), 4);
        l.on_overload();
        l.on_overload();
        l.on_overload();
        assert_eq!(l.current(), 1, "never below one");
        for _ in 0..3 {
            l.on_success();
        }
        assert_eq!(l.current(), 2);
        for _ in 0..200 {
            l.on_success();
        }
        assert_eq!(l.current(), 8, "never above the maximum");
    }

    #[tokio::test]
    async fn overload_signals_within_the_cooldown_count_once() {
        let l = AdaptiveLimit::new(8, Duration::from_secs(60));
        l.on_overload();
        l.on_overload();
        assert_eq!(l.current(), 4);
    }

    #[tokio::test]
    async fn acquire_waits_for_a_release() {
        let l = std::sync::Arc::new(AdaptiveLimit::new(1, Duration::ZERO));
        let first = l.acquire().await;
        let l2 = l.clone();
        let waiter = tokio::spawn(async move {
            let _p = l2.acquire().await;
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("released")
            .unwrap();
    }
}
