//! The program's time source. In production it is the wall clock; tests and the demo may
//! run it faster than real time (so a minute of Telegram rate limits passes in a second)
//! or move it forward by hand. Times are unix milliseconds, as stored in the database.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug)]
struct Inner {
    started: Instant,
    start_ms: i64,
    /// Virtual milliseconds per real millisecond, times 1000 (so 1000 = real time).
    speed_milli: i64,
    offset_ms: AtomicI64,
}

/// A cheap-to-clone clock.
#[derive(Debug, Clone)]
pub struct Clock(Arc<Inner>);

impl Default for Clock {
    fn default() -> Self {
        Clock::real()
    }
}

fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Clock {
    /// The wall clock.
    pub fn real() -> Clock {
        Clock::with_speed(1.0)
    }

    /// A clock starting now that runs `speed` times faster than real time.
    pub fn with_speed(speed: f64) -> Clock {
        Clock::starting_at(wall_ms(), speed)
    }

    /// A clock starting at `start_ms` that runs `speed` times faster than real time.
    pub fn starting_at(start_ms: i64, speed: f64) -> Clock {
        let speed_milli = (speed * 1000.0).round().max(1.0) as i64;
        Clock(Arc::new(Inner { started: Instant::now(), start_ms, speed_milli, offset_ms: AtomicI64::new(0) }))
    }

    pub fn speed(&self) -> f64 {
        self.0.speed_milli as f64 / 1000.0
    }

    /// Now, in unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        let real = self.0.started.elapsed().as_micros() as i64;
        self.0.start_ms + real * self.0.speed_milli / 1_000_000 + self.0.offset_ms.load(Ordering::Relaxed)
    }

    /// Now, in unix microseconds (the benches' latencies, finer than a millisecond).
    pub fn now_us(&self) -> i64 {
        let real = self.0.started.elapsed().as_micros() as i64;
        (self.0.start_ms + self.0.offset_ms.load(Ordering::Relaxed)) * 1_000 + real * self.0.speed_milli / 1_000
    }

    /// Move the clock forward by hand (tests).
    pub fn advance(&self, by: Duration) {
        self.0.offset_ms.fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }

    /// How long in real time until the clock shows `at_ms`.
    pub fn real_until(&self, at_ms: i64) -> Duration {
        let left = at_ms - self.now_ms();
        if left <= 0 {
            return Duration::ZERO;
        }
        Duration::from_micros((left * 1_000_000 / self.0.speed_milli) as u64)
    }

    /// Sleep for `ms` virtual milliseconds.
    pub async fn sleep_ms(&self, ms: i64) {
        let at = self.now_ms() + ms;
        tokio::time::sleep(self.real_until(at)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fast_clock_runs_ahead_and_advance_moves_it() {
        let c = Clock::starting_at(1_000, 100.0);
        std::thread::sleep(Duration::from_millis(20));
        let now = c.now_ms();
        assert!(now >= 1_000 + 1_900, "{now}");
        c.advance(Duration::from_secs(60));
        assert!(c.now_ms() >= now + 60_000);
        assert!(c.real_until(c.now_ms() + 10_000) <= Duration::from_millis(100));
    }
}
