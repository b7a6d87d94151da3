//! An adaptive concurrency limit: additive increase, multiplicative
//! decrease (AIMD), as TCP does for congestion. A server that answers 429
//! is telling us we send too much at once; halving what we keep in flight
//! and creeping back up when it stops finds the rate it can take without
//! being told the number.
//!
//! Three rules make it settle rather than swing, even at a limit of one:
//! an overload signal lowers the limit only for a request sent after the
//! last decrease (the answers to requests sent before it are echoes of the
//! same overload); the limit grows by one only after a whole window of
//! successes (as many as the limit) of requests sent at the current limit;
//! and it does not grow at all for a cooldown after a decrease.

use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

#[derive(Debug)]
struct State {
    limit: usize,
    in_flight: usize,
    /// Decreases so far: a permit taken before the latest one was sent at
    /// a higher limit.
    decreases: u64,
    last_decrease: Option<Instant>,
    /// Successes towards the next increase, of requests sent since the
    /// last decrease.
    successes: usize,
}

/// How many requests may be in flight, adapting to overload signals.
#[derive(Debug)]
pub struct AdaptiveLimit {
    max: usize,
    /// After a decrease, the limit holds for this long before it grows again.
    cooldown: Duration,
    state: Mutex<State>,
    released: Notify,
}

/// A place in flight; gives it back when dropped. Report how its request
/// fared with [`Permit::succeeded`] or [`Permit::overloaded`].
pub struct Permit<'a> {
    limit: &'a AdaptiveLimit,
    /// The limit's decreases when the place was taken.
    decreases: u64,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.limit.state.lock().unwrap().in_flight -= 1;
        self.limit.released.notify_waiters();
    }
}

impl Permit<'_> {
    /// The request succeeded: a whole window of successes (as many as the
    /// limit) of requests sent since the last decrease grows it by one,
    /// once the cooldown after that decrease is over.
    pub fn succeeded(&self) {
        let l = self.limit;
        let mut s = l.state.lock().unwrap();
        let cooling = s.last_decrease.is_some_and(|t| t.elapsed() < l.cooldown);
        if self.decreases != s.decreases || cooling {
            return;
        }
        s.successes += 1;
        if s.successes >= s.limit && s.limit < l.max {
            s.limit += 1;
            s.successes = 0;
            drop(s);
            l.released.notify_waiters();
        }
    }

    /// The server said it is overloaded: halve the limit, unless the
    /// request was sent before the last decrease (its answer is an echo of
    /// the overload that decrease answered).
    pub fn overloaded(&self) {
        let mut s = self.limit.state.lock().unwrap();
        if self.decreases != s.decreases {
            return;
        }
        s.limit = (s.limit / 2).max(1);
        s.decreases += 1;
        s.last_decrease = Some(Instant::now());
        s.successes = 0;
    }
}

impl AdaptiveLimit {
    /// Starts at `max`, the most it will ever allow; after a decrease it
    /// holds for `cooldown` before growing again.
    pub fn new(max: usize, cooldown: Duration) -> Self {
        let max = max.max(1);
        AdaptiveLimit {
            max,
            cooldown,
            state: Mutex::new(State {
                limit: max,
                in_flight: 0,
                decreases: 0,
                last_decrease: None,
                successes: 0,
            }),
            released: Notify::new(),
        }
    }

    /// The current limit.
    pub fn current(&self) -> usize {
        self.state.lock().unwrap().limit
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
                if s.in_flight < s.limit {
                    s.in_flight += 1;
                    return Permit {
                        limit: self,
                        decreases: s.decreases,
                    };
                }
            }
            released.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn halves_on_overload_and_grows_by_one_per_window() {
        let l = AdaptiveLimit::new(8, Duration::ZERO);
        for expected in [4, 2, 1, 1] {
            l.acquire().await.overloaded();
            assert_eq!(l.current(), expected, "never below one");
        }
        // At 1, one success makes 2; at 2, two more make 3.
        l.acquire().await.succeeded();
        assert_eq!(l.current(), 2);
        l.acquire().await.succeeded();
        assert_eq!(l.current(), 2, "half a window");
        l.acquire().await.succeeded();
        assert_eq!(l.current(), 3);
        for _ in 0..200 {
            l.acquire().await.succeeded();
        }
        assert_eq!(l.current(), 8, "never above the maximum");
    }

    #[tokio::test]
    async fn answers_to_requests_sent_before_a_decrease_do_not_count() {
        let l = AdaptiveLimit::new(8, Duration::ZERO);
        let early: Vec<_> = take(&l, 3).await;
        early[0].overloaded();
        assert_eq!(l.current(), 4);
        // Echoes of the same overload: no further halving.
        early[1].overloaded();
        assert_eq!(l.current(), 4);
        // A success sent at the old limit says nothing of the new one.
        for _ in 0..4 {
            early[2].succeeded();
        }
        assert_eq!(l.current(), 4);
        drop(early);
        // A request sent after the decrease that is refused halves again.
        l.acquire().await.overloaded();
        assert_eq!(l.current(), 2);
    }

    /// Takes `n` places at once.
    async fn take(l: &AdaptiveLimit, n: usize) -> Vec<Permit<'_>> {
        let mut permits = Vec::new();
        for _ in 0..n {
            permits.push(l.acquire().await);
        }
        permits
    }

    #[tokio::test]
    async fn no_growth_during_the_cooldown_after_a_decrease() {
        let l = AdaptiveLimit::new(8, Duration::from_secs(3600));
        l.acquire().await.overloaded();
        for _ in 0..100 {
            l.acquire().await.succeeded();
        }
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
