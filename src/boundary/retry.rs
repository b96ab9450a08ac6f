//! The one retry policy: which failures are tried again, how often, and how long to wait.
//!
//! Every retry in the program goes through `RetryPolicy::run_counted` (registry requests, token
//! requests, mounts, resumed chunks, and the copy engine's restart of a blob stream), so there is
//! one loop, one default and one set of flags (`--retry`, `--retry-delay`).

use std::future::Future;
use std::time::Duration;

/// How a failure may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryClass {
    /// Trying again cannot help (a refusal, bad input, a refused connection).
    Never,
    /// A dropped connection, a 5xx or a 429: retried up to the policy's count.
    Transient,
    /// A peer that did not answer in time or stalled: retried at most
    /// [`RetryPolicy::timeout_retries`] times, since each try costs a whole time limit.
    Timeout,
}

/// What the retry loop needs to know about an error.
pub(crate) trait Retryable {
    /// Whether, and how, trying again may help.
    fn retry_class(&self) -> RetryClass;
    /// The wait the server asked for (`Retry-After`), if any.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
    /// The same error, noting that `attempts` attempts were made in all.
    fn gave_up(self, attempts: u32) -> Self;
}

/// How many times and how patiently to retry. Its waits and its decisions are private: the only
/// way to retry is `run_counted` (or `run`, `run_classified`), so no second loop can exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Extra attempts after the first. Default 3 (buildah's `--retry` default).
    pub retries: u32,
    /// The wait before the first retry; it doubles with each retry, times a random factor in
    /// [1, 1.5) so that transfers that failed together do not retry in lockstep. Default 1 s, as
    /// in buildah, so the default budget (1 + 2 + 4 s and more) outlasts a few seconds of
    /// throttling.
    pub base: Duration,
    /// No single wait is longer than this, whatever the attempt. Default 30 s.
    pub max: Duration,
    /// Of the retries, how many may follow a timeout or a stall. Default 1: a peer that hung
    /// twice will most likely hang again.
    pub timeout_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 3,
            base: Duration::from_secs(1),
            max: Duration::from_secs(30),
            timeout_retries: 1,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt + 1`: exponential from `base`, jittered, capped at
    /// `max`; at least what the server asked for (itself capped at twice `max`).
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self.base.saturating_mul(1u32 << attempt.min(16));
        let jittered = exponential
            .mul_f64(1.0 + fastrand::f64() * 0.5)
            .min(self.max);
        match retry_after {
            Some(asked) => jittered.max(asked.min(self.max.saturating_mul(2))),
            None => jittered,
        }
    }

    /// Whether a failure of `class` after `attempt` retries may be tried once more.
    fn allows(&self, class: RetryClass, attempt: u32) -> bool {
        match class {
            RetryClass::Never => false,
            RetryClass::Transient => attempt < self.retries,
            RetryClass::Timeout => attempt < self.retries.min(self.timeout_retries),
        }
    }

    /// Runs `op` until it succeeds, fails in a way that will not pass, or the retries are used
    /// up. An error after retries says how many attempts were made.
    pub(crate) async fn run<T, E, F, Fut>(&self, op: F) -> Result<T, E>
    where
        E: Retryable,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_classified(op, E::retry_class).await
    }

    /// Like [`RetryPolicy::run`], with `classify` deciding which failures are worth another
    /// try (for a request whose answers mean something special, such as a manifest PUT that a
    /// registry refuses for a moment after the blobs it names were uploaded).
    pub(crate) async fn run_classified<T, E, F, Fut, C>(&self, op: F, classify: C) -> Result<T, E>
    where
        E: Retryable,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Fn(&E) -> RetryClass,
    {
        match self.run_counted(op, classify).await {
            (Err(e), attempts) if attempts > 1 => Err(e.gave_up(attempts)),
            (result, _) => result,
        }
    }

    /// The loop itself: like [`RetryPolicy::run_classified`], but the last error is returned as
    /// it was, with how many attempts were made (for callers that name the count in their own
    /// context, such as a blob's copy).
    pub(crate) async fn run_counted<T, E, F, Fut, C>(
        &self,
        mut op: F,
        classify: C,
    ) -> (Result<T, E>, u32)
    where
        E: Retryable,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Fn(&E) -> RetryClass,
    {
        let mut attempt: u32 = 0;
        loop {
            match op().await {
                Ok(value) => return (Ok(value), attempt + 1),
                Err(e) if self.allows(classify(&e), attempt) => {
                    tokio::time::sleep(self.backoff(attempt, e.retry_after())).await;
                    attempt += 1;
                }
                Err(e) => return (Err(e), attempt + 1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Failure(RetryClass, Option<u32>);

    impl Retryable for Failure {
        fn retry_class(&self) -> RetryClass {
            self.0
        }
        fn gave_up(self, attempts: u32) -> Self {
            Failure(self.0, Some(attempts))
        }
    }

    fn quick(retries: u32) -> RetryPolicy {
        RetryPolicy {
            retries,
            base: Duration::from_millis(1),
            max: Duration::from_millis(5),
            timeout_retries: 1,
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let policy = RetryPolicy {
            base: Duration::from_millis(100),
            ..RetryPolicy::default()
        };
        for attempt in 0..4 {
            let d = policy.backoff(attempt, None);
            let nominal = policy.base * (1 << attempt);
            assert!(d >= nominal && d < nominal * 3 / 2, "{attempt}: {d:?}");
        }
        assert!(policy.backoff(40, None) <= policy.max);
        assert!(policy.backoff(0, Some(Duration::from_secs(5))) >= Duration::from_secs(5));
        assert!(policy.backoff(0, Some(Duration::from_secs(3600))) <= policy.max * 2);
    }

    #[test]
    fn the_default_budget_outlasts_five_seconds_of_throttling() {
        let policy = RetryPolicy::default();
        let least: Duration = (0..policy.retries).map(|a| policy.base * (1 << a)).sum();
        assert!(least >= Duration::from_secs(5), "{least:?}");
    }

    #[tokio::test]
    async fn transient_failures_use_the_whole_budget_and_say_so() {
        let mut calls = 0;
        let err = quick(2)
            .run(|| {
                calls += 1;
                async { Err::<(), _>(Failure(RetryClass::Transient, None)) }
            })
            .await
            .unwrap_err();
        assert_eq!(calls, 3);
        assert_eq!(err.1, Some(3));
    }

    #[tokio::test]
    async fn timeouts_are_retried_once_and_refusals_never() {
        let mut calls = 0;
        let err = quick(5)
            .run(|| {
                calls += 1;
                async { Err::<(), _>(Failure(RetryClass::Timeout, None)) }
            })
            .await
            .unwrap_err();
        assert_eq!((calls, err.1), (2, Some(2)));

        let mut calls = 0;
        let err = quick(5)
            .run(|| {
                calls += 1;
                async { Err::<(), _>(Failure(RetryClass::Never, None)) }
            })
            .await
            .unwrap_err();
        assert_eq!((calls, err.1), (1, None));

        let mut calls = 0;
        let ok = quick(0)
            .run(|| {
                calls += 1;
                async { Ok::<_, Failure>(7) }
            })
            .await
            .unwrap();
        assert_eq!((calls, ok), (1, 7));
    }
}
