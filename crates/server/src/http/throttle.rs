//! Failed logins per client address: after [`LoginLimit::burst`] wrong passwords, an address
//! gets `429 Too Many Requests` without its password being checked until the count has
//! drained (one failure is forgiven every [`LoginLimit::forgive_every`]). It keeps a guesser
//! from trying passwords at argon2's pace and from spending the server's CPU on it; a user
//! whose password was accepted a moment ago (the authenticator remembers it) is let through.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use swiftgit_config::sections::http as http_keys;

/// How many failed logins an address may have in a row, and how fast they are forgiven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimit {
    /// Wrong passwords accepted before the address must wait. 0 turns the limit off.
    pub burst: u32,
    /// One failure is forgiven this often.
    pub forgive_every: Duration,
}

impl Default for LoginLimit {
    /// `[http] login_failures` wrong passwords (10), then one more every six seconds (ten a
    /// minute).
    fn default() -> Self {
        LoginLimit {
            burst: const { http_keys::LOGIN_FAILURES.default_number() as u32 },
            forgive_every: Duration::from_secs(6),
        }
    }
}

/// Addresses tracked at most; beyond, those whose count has drained are forgotten, and if
/// that is not enough, all of them.
const MAX_ADDRESSES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    /// Failures not forgiven yet, as of `at`.
    count: f64,
    at: Instant,
}

impl Failures {
    fn now(&self, limit: &LoginLimit, now: Instant) -> f64 {
        let forgiven = now.saturating_duration_since(self.at).as_secs_f64()
            / limit.forgive_every.as_secs_f64().max(f64::MIN_POSITIVE);
        (self.count - forgiven).max(0.0)
    }
}

/// The failed logins of every client address.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    limit: LoginLimit,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

impl LoginThrottle {
    pub fn new(limit: LoginLimit) -> LoginThrottle {
        LoginThrottle {
            limit,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` if `address` must wait this long before its next password is checked.
    pub fn check(&self, address: IpAddr) -> Result<(), Duration> {
        self.check_at(address, Instant::now())
    }

    /// Counts a wrong password from `address`.
    pub fn failed(&self, address: IpAddr) {
        self.failed_at(address, Instant::now());
    }

    fn check_at(&self, address: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.limit.burst == 0 {
            return Ok(());
        }
        let failures = self.lock();
        let Some(entry) = failures.get(&address) else {
            return Ok(());
        };
        let excess = entry.now(&self.limit, now) - f64::from(self.limit.burst) + 1.0;
        if excess <= 0.0 {
            return Ok(());
        }
        Err(self.limit.forgive_every.mul_f64(excess))
    }

    fn failed_at(&self, address: IpAddr, now: Instant) {
        if self.limit.burst == 0 {
            return;
        }
        let limit = self.limit;
        let mut failures = self.lock();
        if failures.len() >= MAX_ADDRESSES && !failures.contains_key(&address) {
            failures.retain(|_, entry| entry.now(&limit, now) > 0.0);
            if failures.len() >= MAX_ADDRESSES {
                failures.clear();
            }
        }
        let entry = failures.entry(address).or_insert(Failures {
            count: 0.0,
            at: now,
        });
        entry.count = entry.now(&limit, now) + 1.0;
        entry.at = now;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Failures>> {
        // Nothing panics while holding it; if something did, the counts are still usable.
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn a_burst_then_a_wait_that_drains() {
        let throttle = LoginThrottle::new(LoginLimit {
            burst: 3,
            forgive_every: Duration::from_secs(10),
        });
        let start = Instant::now();
        for _ in 0..2 {
            throttle.failed_at(A, start);
            assert_eq!(throttle.check_at(A, start), Ok(()));
        }
        throttle.failed_at(A, start);
        let wait = throttle.check_at(A, start).expect_err("three failures");
        assert_eq!(wait, Duration::from_secs(10));
        assert_eq!(
            throttle.check_at(B, start),
            Ok(()),
            "other addresses are not affected"
        );
        let later = start + Duration::from_secs(4);
        assert_eq!(
            throttle.check_at(A, later),
            Err(Duration::from_secs(6)),
            "partly forgiven"
        );
        let after = start + Duration::from_secs(10);
        assert_eq!(throttle.check_at(A, after), Ok(()), "one failure forgiven");
        throttle.failed_at(A, after);
        assert!(
            throttle.check_at(A, after).is_err(),
            "one more is one too many"
        );
    }

    #[test]
    fn a_zero_burst_turns_it_off() {
        let throttle = LoginThrottle::new(LoginLimit {
            burst: 0,
            forgive_every: Duration::from_secs(10),
        });
        for _ in 0..100 {
            throttle.failed(A);
        }
        assert_eq!(throttle.check(A), Ok(()));
    }
}
