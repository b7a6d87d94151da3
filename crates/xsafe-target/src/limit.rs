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
//!
//! One limit can cover several members, the replicas of one model: each
//! member adapts its own limit, by these rules, from the signals of its own
//! requests alone, so that one overloaded replica does not slow the
//! others, while the requests in flight across all members stay within the
//! one maximum.

use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// One member's limit and the requests it has in flight.
#[derive(Debug)]
struct Member {
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

impl Member {
    fn has_room(&self) -> bool {
        self.in_flight < self.limit
    }
}

#[derive(Debug)]
struct State {
    members: Vec<Member>,
    /// The requests in flight across all members.
    in_flight: usize,
}

/// How many requests may be in flight, adapting to overload signals: one
/// limit for one server, or one per member (the replicas of one model)
/// under a maximum for all of them together.
#[derive(Debug)]
pub struct AdaptiveLimit {
    /// The most in flight across all members, and the most any one
    /// member's limit grows to.
    max: usize,
    /// After a decrease, a member's limit holds for this long before it
    /// grows again.
    cooldown: Duration,
    state: Mutex<State>,
    /// Told when a place frees or a limit grows.
    released: Notify,
}

/// How a member of an [`AdaptiveLimit`] stands when a request chooses
/// where to go (see [`AdaptiveLimit::acquire_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberLoad {
    /// Its requests in flight.
    pub in_flight: usize,
    /// Whether it is below its own limit.
    pub has_room: bool,
}

/// A place in flight on one member; gives it back when dropped. Report how
/// its request fared with [`Permit::succeeded`] or [`Permit::overloaded`]:
/// only the member's own limit adapts.
pub struct Permit<'a> {
    limit: &'a AdaptiveLimit,
    member: usize,
    /// The member's decreases when the place was taken.
    decreases: u64,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        {
            let mut s = self.limit.state.lock().unwrap();
            s.members[self.member].in_flight -= 1;
            s.in_flight -= 1;
        }
        self.limit.released.notify_waiters();
    }
}

impl Permit<'_> {
    /// The member the place was taken on (its index, from 0).
    pub fn member(&self) -> usize {
        self.member
    }

    /// The request succeeded: a whole window of successes (as many as the
    /// member's limit) of requests sent since its last decrease grows that
    /// limit by one, once the cooldown after that decrease is over.
    pub fn succeeded(&self) {
        let l = self.limit;
        let mut s = l.state.lock().unwrap();
        let m = &mut s.members[self.member];
        let cooling = m.last_decrease.is_some_and(|t| t.elapsed() < l.cooldown);
        if self.decreases != m.decreases || cooling {
            return;
        }
        m.successes += 1;
        if m.successes >= m.limit && m.limit < l.max {
            m.limit += 1;
            m.successes = 0;
            drop(s);
            l.released.notify_waiters();
        }
    }

    /// The server said it is overloaded: halve what the member has in
    /// flight (this request included; its limit, if that is lower), unless
    /// the request was sent before the member's last decrease (its answer
    /// is an echo of the overload that decrease answered). Halving the
    /// load rather than the limit matters with several members: each starts
    /// at the maximum but carries only its share of it, and halving an
    /// unreached limit would not lower its load at all.
    pub fn overloaded(&self) {
        let mut s = self.limit.state.lock().unwrap();
        let m = &mut s.members[self.member];
        if self.decreases != m.decreases {
            return;
        }
        m.limit = (m.in_flight.min(m.limit) / 2).max(1);
        m.decreases += 1;
        m.last_decrease = Some(Instant::now());
        m.successes = 0;
    }
}

impl AdaptiveLimit {
    /// A limit for one server: starts at `max`, the most it will ever
    /// allow; after a decrease it holds for `cooldown` before growing
    /// again.
    pub fn new(max: usize, cooldown: Duration) -> Self {
        Self::with_members(1, max, cooldown)
    }

    /// A limit for `members` replicas: each has its own limit, starting at
    /// `max` and adapting as [`AdaptiveLimit::new`]'s does, while at most
    /// `max` requests are in flight across all of them.
    ///
    /// # Panics
    ///
    /// If `members` is 0.
    pub fn with_members(members: usize, max: usize, cooldown: Duration) -> Self {
        assert!(members > 0, "an adaptive limit needs at least one member");
        let max = max.max(1);
        let member = || Member {
            limit: max,
            in_flight: 0,
            decreases: 0,
            last_decrease: None,
            successes: 0,
        };
        AdaptiveLimit {
            max,
            cooldown,
            state: Mutex::new(State {
                members: (0..members).map(|_| member()).collect(),
                in_flight: 0,
            }),
            released: Notify::new(),
        }
    }

    /// The most requests in flight across all members.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The current limit: the sum of the members' limits, at most
    /// [`AdaptiveLimit::max`] (for one member, its limit).
    pub fn current(&self) -> usize {
        let s = self.state.lock().unwrap();
        s.members
            .iter()
            .map(|m| m.limit)
            .sum::<usize>()
            .min(self.max)
    }

    /// The current limit of member `member` alone.
    ///
    /// # Panics
    ///
    /// If there is no such member.
    pub fn current_of(&self, member: usize) -> usize {
        self.state.lock().unwrap().members[member].limit
    }

    /// The requests in flight on member `member`.
    ///
    /// # Panics
    ///
    /// If there is no such member.
    pub fn in_flight_of(&self, member: usize) -> usize {
        self.state.lock().unwrap().members[member].in_flight
    }

    /// Waits for a place in flight on the first member with room (for a
    /// limit of one member: on it).
    pub async fn acquire(&self) -> Permit<'_> {
        self.acquire_by(|members| members.iter().position(|m| m.has_room), || None)
            .await
    }

    /// Waits for a place in flight on the member `choose` picks. While
    /// fewer than [`AdaptiveLimit::max`] requests are in flight, `choose`
    /// is called with how each member stands (in the order of members) and
    /// returns the index of a member with room, or `None` to wait until a
    /// place frees on any member or a limit grows, and be asked again.
    /// A choice can also change with time alone (a member passed over for
    /// a while may be taken once that while is over), and nothing wakes
    /// the request then: so when `choose` returns `None`, `ask_again_in`
    /// says how long at most to wait before it is asked again all the same
    /// (`None`: until a place frees or a limit grows). Both are called with
    /// the limit locked: they must be quick and must not use this limit.
    ///
    /// Dropping the future before it is done takes no place.
    ///
    /// # Panics
    ///
    /// If `choose` returns a member that has no room.
    pub async fn acquire_by(
        &self,
        mut choose: impl FnMut(&[MemberLoad]) -> Option<usize>,
        mut ask_again_in: impl FnMut() -> Option<Duration>,
    ) -> Permit<'_> {
        let mut loads = Vec::new();
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Registered before checking, so a release between the check and
            // the wait is not missed.
            released.as_mut().enable();
            let mut bound = None;
            {
                let mut s = self.state.lock().unwrap();
                if s.in_flight < self.max {
                    loads.clear();
                    loads.extend(s.members.iter().map(|m| MemberLoad {
                        in_flight: m.in_flight,
                        has_room: m.has_room(),
                    }));
                    if let Some(i) = choose(&loads) {
                        let m = &mut s.members[i];
                        assert!(m.has_room(), "member {i} was chosen with no room");
                        m.in_flight += 1;
                        let decreases = m.decreases;
                        s.in_flight += 1;
                        return Permit {
                            limit: self,
                            member: i,
                            decreases,
                        };
                    }
                    bound = ask_again_in();
                }
            }
            match bound {
                Some(bound) => {
                    let _ = tokio::time::timeout(bound, released).await;
                }
                None => released.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn halves_on_overload_and_grows_by_one_per_window() {
        let l = AdaptiveLimit::new(8, Duration::ZERO);
        // With the limit's worth in flight, each overload halves it.
        for (in_flight, expected) in [(8, 4), (4, 2), (2, 1), (1, 1)] {
            take(&l, in_flight).await[0].overloaded();
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
        let early: Vec<_> = take(&l, 8).await;
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
        take(&l, 4).await[0].overloaded();
        assert_eq!(l.current(), 2);
    }

    /// An overload halves what is in flight, not a limit above it: a
    /// server that refuses with three requests in flight is sent one, not
    /// four.
    #[tokio::test]
    async fn an_overload_halves_the_load_not_an_unreached_limit() {
        let l = AdaptiveLimit::new(8, Duration::ZERO);
        take(&l, 3).await[0].overloaded();
        assert_eq!(l.current(), 1);
        let l = AdaptiveLimit::new(8, Duration::ZERO);
        l.acquire().await.overloaded();
        assert_eq!(l.current(), 1, "one in flight and refused: one at a time");
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
        take(&l, 8).await[0].overloaded();
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

    /// Chooses member `member` when it has room, else waits.
    fn on(member: usize) -> impl FnMut(&[MemberLoad]) -> Option<usize> {
        move |m| m[member].has_room.then_some(member)
    }

    #[tokio::test]
    async fn each_member_adapts_from_its_own_signals() {
        let l = AdaptiveLimit::with_members(2, 8, Duration::ZERO);
        for (in_flight, expected) in [(8, 4), (4, 2), (2, 1), (1, 1)] {
            let mut held = Vec::new();
            for _ in 0..in_flight {
                held.push(l.acquire_by(on(0), || None).await);
            }
            assert!(held.iter().all(|p| p.member() == 0));
            held[0].overloaded();
            assert_eq!(l.current_of(0), expected);
        }
        assert_eq!(l.current_of(1), 8, "the other member keeps its limit");
        assert_eq!(l.current(), 8, "the sum, at most the maximum");
        // Four in flight on member 1 (its share of eight): halved to two.
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(l.acquire_by(on(1), || None).await);
        }
        held[0].overloaded();
        drop(held);
        assert_eq!((l.current_of(1), l.current()), (2, 3));
        // Successes on one member grow only its limit.
        l.acquire_by(on(0), || None).await.succeeded();
        assert_eq!((l.current_of(0), l.current_of(1)), (2, 2));
    }

    #[tokio::test]
    async fn members_together_stay_within_the_maximum() {
        let l = std::sync::Arc::new(AdaptiveLimit::with_members(2, 3, Duration::ZERO));
        let held = take(&l, 3).await;
        assert!(held.iter().all(|p| p.member() == 0), "first with room");
        assert_eq!((l.in_flight_of(0), l.in_flight_of(1)), (3, 0));
        // Member 1 has room, but three are in flight in all.
        let l2 = l.clone();
        let waiter = tokio::spawn(async move { l2.acquire().await.member() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(held);
        let member = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("released")
            .unwrap();
        assert_eq!(member, 0);
    }

    /// A choice that changes with time alone, with nothing freed or grown
    /// meanwhile: the request is asked again as often as `ask_again_in`
    /// says.
    #[tokio::test]
    async fn a_waiting_request_is_asked_again_when_its_bound_is_over() {
        let l = AdaptiveLimit::with_members(2, 8, Duration::ZERO);
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let choose = |_: &[MemberLoad]| {
            (asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 3).then_some(1)
        };
        let permit = tokio::time::timeout(
            Duration::from_secs(10),
            l.acquire_by(choose, || Some(Duration::from_millis(1))),
        )
        .await
        .expect("asked again");
        assert_eq!(permit.member(), 1);
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 4);
    }

    /// A waker that counts how often it is woken.
    struct Wakes(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// A waiting request that is dropped takes no place, however near it
    /// came to taking one: dropped while it waits, or once a place has
    /// freed and it has been woken to take it but not yet polled again. A
    /// place is taken only in the poll that returns it as a permit, so
    /// there is no moment at which a dropped request holds one (a place
    /// handed to a waiter when it frees, or taken a poll before the permit
    /// is returned, would be lost here). Polled by hand, so that each step
    /// happens in this order.
    #[test]
    fn a_waiting_request_that_is_dropped_takes_no_place() {
        use std::future::Future;
        use std::sync::atomic::Ordering::SeqCst;
        use std::task::{Context, Poll, Waker};
        let wakes = std::sync::Arc::new(Wakes(std::sync::atomic::AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let l = AdaptiveLimit::with_members(2, 8, Duration::ZERO);
        let on_0 = || Box::pin(l.acquire_by(on(0), || None));
        // Member 0 at a limit of one, its place taken.
        let Poll::Ready(held) = on_0().as_mut().poll(&mut cx) else {
            panic!("member 0 has room");
        };
        held.overloaded();
        assert_eq!(l.current_of(0), 1);
        // Two wait for it; one is dropped while waiting.
        let mut dropped = on_0();
        let mut woken = on_0();
        assert!(dropped.as_mut().poll(&mut cx).is_pending());
        assert!(woken.as_mut().poll(&mut cx).is_pending());
        drop(dropped);
        // The place frees and the other is woken to take it, then dropped
        // before it is polled.
        drop(held);
        assert_eq!(wakes.0.load(SeqCst), 1, "the waiting request is woken");
        drop(woken);
        assert_eq!((l.in_flight_of(0), l.in_flight_of(1)), (0, 0));
        // The place is there for the next request, at once.
        let Poll::Ready(next) = on_0().as_mut().poll(&mut cx) else {
            panic!("the freed place was lost");
        };
        // One woken and polled takes the place in that very poll.
        let mut waiting = on_0();
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        drop(next);
        assert_eq!(l.in_flight_of(0), 0);
        let Poll::Ready(taken) = waiting.as_mut().poll(&mut cx) else {
            panic!("woken with a place free, it takes it when polled");
        };
        assert_eq!((taken.member(), l.in_flight_of(0)), (0, 1));
        drop(taken);
        assert_eq!(l.in_flight_of(0), 0);
    }

    #[tokio::test]
    async fn a_request_goes_to_a_member_with_room_or_waits_for_one() {
        let l = std::sync::Arc::new(AdaptiveLimit::with_members(2, 8, Duration::ZERO));
        let held = take(&l, 4).await;
        held[0].overloaded();
        assert_eq!(l.current_of(0), 2);
        let mut held = held.into_iter();
        let full = held.next().unwrap();
        drop(held);
        let second = l.acquire().await;
        assert_eq!(second.member(), 0);
        // Member 0 is at its limit: the next place is on member 1.
        assert_eq!(l.acquire().await.member(), 1);
        // One that may go only to member 0 waits for a place on it.
        let l2 = l.clone();
        let waiter = tokio::spawn(async move { l2.acquire_by(on(0), || None).await.member() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(second);
        let member = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("released")
            .unwrap();
        assert_eq!(member, 0);
        drop(full);
    }
}
