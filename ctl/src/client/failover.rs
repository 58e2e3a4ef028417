//! [`Client::call`]: the one helper that sends a request with failover, for every RPC of
//! every service. The retry rules of the folder's docs are applied here and nowhere else.

use std::error::Error as _;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tonic::{Response, Status};

use super::endpoints::Client;
use super::error::RpcError;
use super::handshake::with_hint;
use super::retry::{classify, local_timeout, Access, Verdict};
use super::security::Security;
use super::service::Service;
use super::status::describe_status;

/// The metadata key of the bearer token.
const AUTHORIZATION: &str = "authorization";

/// How many times each endpoint is tried within one call.
pub const ROUNDS: usize = 2;

/// A read attempt gets at least this long (when the deadline allows) even when the remaining
/// time is shared between many attempts.
const MIN_READ_ATTEMPT: Duration = Duration::from_secs(1);

/// Which endpoints a call may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Targets {
    /// Any endpoint, in the order given.
    All,
    /// Only the first endpoint (for `cluster init`: which member initialises must not depend
    /// on which one happened to be reachable).
    First,
}

/// How a call may be sent: whether it changes state, where, and which command shows the
/// outcome of a write that may or may not have been applied.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub access: Access,
    pub targets: Targets,
    /// The command for [`RpcError::OutcomeUnknown`] (unused by reads, which never end so).
    pub check: &'a str,
    /// Each attempt may wait all the time left for its answer, as a write does, instead of
    /// a share of it: for a read the member takes long to prepare (a backup).
    pub patient: bool,
}

impl<'a> Call<'a> {
    /// A read: changes nothing, so it is retried after any failure, on any endpoint.
    pub fn read() -> Call<'static> {
        Call {
            access: Access::Read,
            targets: Targets::All,
            check: "",
            patient: false,
        }
    }

    /// A write, whose outcome `check` shows when it is unknown.
    pub fn write(check: &'a str) -> Call<'a> {
        Call {
            access: Access::Write,
            targets: Targets::All,
            check,
            patient: false,
        }
    }

    /// The same call, sent to the first endpoint only.
    pub fn first_only(self) -> Call<'a> {
        Call {
            targets: Targets::First,
            ..self
        }
    }

    /// The same call, each attempt waiting all the time left (a read whose answer takes
    /// long to prepare: sharing the deadline would give up on a member that is working).
    /// Failures that leave time are still retried as the access allows.
    pub fn patient(self) -> Call<'a> {
        Call {
            patient: true,
            ..self
        }
    }
}

/// How one attempt ended.
enum Attempt<T> {
    Answered(T),
    /// Nothing was applied (or it was a read): this line joins [`RpcError::Unavailable`].
    Retry(String),
    Stop(RpcError),
}

impl Client {
    /// Sends `message` with failover, as `how` allows. `send` makes one attempt: it gets a
    /// client of service `S` on the endpoint's connection and the request, which carries
    /// the attempt's deadline; it is called again for each retry.
    pub async fn call<S, Req, Resp, F, Fut>(
        &mut self,
        how: Call<'_>,
        message: Req,
        send: F,
    ) -> Result<Resp, RpcError>
    where
        S: Service,
        Req: Clone,
        F: FnMut(S, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        self.call_from(0, how, message, send)
            .await
            .map(|(answer, _)| answer)
    }

    /// [`Client::call`], trying the endpoints in order from endpoint `start` (wrapping
    /// around); also says which endpoint answered.
    pub async fn call_from<S, Req, Resp, F, Fut>(
        &mut self,
        start: usize,
        how: Call<'_>,
        message: Req,
        mut send: F,
    ) -> Result<(Resp, usize), RpcError>
    where
        S: Service,
        Req: Clone,
        F: FnMut(S, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        let deadline = Instant::now() + self.timeout();
        let n = match how.targets {
            Targets::All => self.endpoint_count(),
            Targets::First => 1,
        };
        let start = start % n;
        let total = n * ROUNDS;
        let mut attempts = Vec::new();
        for attempt in 0..total {
            let i = (start + attempt) % n;
            if attempt > 0 && attempt % n == 0 {
                let pause = self.backoff().min(left(deadline));
                tokio::time::sleep(pause).await;
            }
            if left(deadline).is_zero() {
                attempts.push(format!(
                    "gave up: --timeout-ms {} elapsed",
                    self.timeout().as_millis()
                ));
                break;
            }
            let connect_budget = self.connect_timeout().min(left(deadline));
            let channel = match self.connect(i, connect_budget).await {
                Ok(c) => c,
                Err(e) => {
                    attempts.push(format!("{}: {e}", self.addr(i)));
                    continue;
                }
            };
            let budget = if how.patient {
                left(deadline)
            } else {
                attempt_budget(how.access, left(deadline), total - attempt)
            };
            let request = request(message.clone(), budget, self.security());
            match self
                .attempt(i, how, budget, send(S::on(channel), request))
                .await
            {
                Attempt::Answered(answer) => return Ok((answer, i)),
                Attempt::Retry(line) => attempts.push(line),
                Attempt::Stop(err) => return Err(err),
            }
        }
        Err(RpcError::Unavailable { attempts })
    }

    /// Waits for one attempt's answer on endpoint `i` for at most `budget`, and decides
    /// what its failure allows.
    async fn attempt<T>(
        &mut self,
        i: usize,
        how: Call<'_>,
        budget: Duration,
        answer: impl Future<Output = Result<Response<T>, Status>>,
    ) -> Attempt<T> {
        let endpoint = self.addr(i).to_string();
        let no_answer = || format!("no answer within {} ms", budget.as_millis());
        let status = match tokio::time::timeout(budget, answer).await {
            Ok(Ok(response)) => return Attempt::Answered(response.into_inner()),
            Ok(Err(status)) => status,
            Err(_elapsed) => {
                self.disconnect(i);
                return match how.access {
                    Access::Read => Attempt::Retry(format!("{endpoint}: {}", no_answer())),
                    Access::Write => Attempt::Stop(unknown(endpoint, no_answer(), how)),
                };
            }
        };
        if status.source().is_some() {
            // A transport failure: reconnect on the next attempt here.
            self.disconnect(i);
        }
        let detail = if local_timeout(&status) {
            no_answer()
        } else {
            with_hint(describe_status(&status), &status, self.security())
        };
        match classify(&status, how.access) {
            Verdict::Retry => Attempt::Retry(format!("{endpoint}: {detail}")),
            Verdict::Unknown => Attempt::Stop(unknown(endpoint, detail, how)),
            Verdict::Final => Attempt::Stop(RpcError::Rejected { endpoint, status }),
        }
    }
}

/// The error of a write sent to `endpoint` whose outcome is unknown.
fn unknown(endpoint: String, detail: String, how: Call<'_>) -> RpcError {
    RpcError::OutcomeUnknown {
        endpoint,
        detail,
        check: how.check.to_string(),
    }
}

/// The time left until `deadline`.
fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// How long one attempt may wait for its answer. A write gets all the time left: if it times
/// out it cannot be retried anyway. A read shares it with the `attempts_left` still possible,
/// so one hung member cannot use the whole deadline.
fn attempt_budget(access: Access, remaining: Duration, attempts_left: usize) -> Duration {
    match access {
        Access::Write => remaining,
        Access::Read => {
            let share = remaining / attempts_left as u32;
            share.max(MIN_READ_ATTEMPT.min(remaining))
        }
    }
}

/// A request carrying its deadline, so the member can give up when the caller has, and the
/// bearer token when there is one. Every request of every call is made here: this is the
/// one place credentials are attached.
fn request<T>(message: T, timeout: Duration, security: &Security) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.set_timeout(timeout);
    if let Some(token) = &security.token {
        r.metadata_mut()
            .insert(AUTHORIZATION, token.header().clone());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{count, fake_member, Mode};
    use moor_proto::api::ReadConsistency;
    use tonic::Code;

    #[test]
    fn reads_share_the_time_left_writes_take_all_of_it() {
        let ten = Duration::from_secs(10);
        assert_eq!(attempt_budget(Access::Write, ten, 4), ten);
        assert_eq!(attempt_budget(Access::Read, ten, 4), ten / 4);
        // Never less than a second, when that much is left...
        assert_eq!(
            attempt_budget(Access::Read, Duration::from_secs(2), 4),
            MIN_READ_ATTEMPT
        );
        // ... and never more than is left.
        let little = Duration::from_millis(300);
        assert_eq!(attempt_budget(Access::Read, little, 4), little);
    }

    #[tokio::test]
    async fn unreachable_endpoints_are_unavailable() {
        // Ports that were just free on loopback: every connect is refused at once.
        let free_port = || {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("127.0.0.1:{}", l.local_addr().unwrap().port())
        };
        let endpoints = [free_port(), free_port()];
        let mut client = crate::fake::client(&endpoints, Duration::from_millis(5_000));
        let err = client.put("k".into(), b"v".to_vec()).await.unwrap_err();
        let RpcError::Unavailable { attempts } = &err else {
            panic!("expected unavailable, got {err}");
        };
        assert_eq!(attempts.len(), 2 * ROUNDS, "{err}");
        for (i, a) in attempts.iter().enumerate() {
            let expected = format!("{}: cannot connect", endpoints[i % 2]);
            assert!(a.starts_with(&expected), "{err}");
        }
    }

    #[tokio::test]
    async fn server_unavailable_fails_over() {
        let (down, down_calls) = fake_member(Mode::Unavailable).await;
        let (up, up_calls) = fake_member(Mode::Ok).await;
        let mut client = crate::fake::client(&[down, up], Duration::from_secs(10));
        let r = client.put("k".into(), b"v".to_vec()).await.unwrap();
        assert_eq!(r.log_index, 7);
        assert_eq!((count(&down_calls), count(&up_calls)), (1, 1));
    }

    #[tokio::test]
    async fn all_unavailable_tries_each_endpoint_twice() {
        let (a, a_calls) = fake_member(Mode::Unavailable).await;
        let (b, b_calls) = fake_member(Mode::Unavailable).await;
        let mut client = crate::fake::client(&[a, b], Duration::from_secs(10));
        let err = client.put("k".into(), b"v".to_vec()).await.unwrap_err();
        assert!(matches!(err, RpcError::Unavailable { .. }), "{err}");
        assert!(err.to_string().contains("UNAVAILABLE: no leader"), "{err}");
        assert_eq!((count(&a_calls), count(&b_calls)), (ROUNDS, ROUNDS));
    }

    #[tokio::test]
    async fn a_write_that_times_out_is_not_retried() {
        let (hung, hung_calls) = fake_member(Mode::Hang).await;
        let (up, up_calls) = fake_member(Mode::Ok).await;
        let mut client = crate::fake::client(&[hung, up], Duration::from_millis(1_500));
        let err = client.put("k".into(), b"v".to_vec()).await.unwrap_err();
        assert!(matches!(err, RpcError::OutcomeUnknown { .. }), "{err}");
        assert!(err.to_string().contains("no answer within"), "{err}");
        assert!(err.to_string().contains("moorctl var get k"), "{err}");
        assert_eq!((count(&hung_calls), count(&up_calls)), (1, 0));
    }

    #[tokio::test]
    async fn a_read_that_times_out_moves_on() {
        let (hung, _) = fake_member(Mode::Hang).await;
        let (up, up_calls) = fake_member(Mode::Ok).await;
        let mut client = crate::fake::client(&[hung, up], Duration::from_secs(10));
        let r = client
            .get("k".into(), ReadConsistency::Linearizable)
            .await
            .unwrap();
        assert_eq!(r.read_index, 7);
        assert_eq!(count(&up_calls), 1);
    }

    #[tokio::test]
    async fn a_final_answer_is_not_retried() {
        let (nf, nf_calls) = fake_member(Mode::NotFound).await;
        let (up, up_calls) = fake_member(Mode::Ok).await;
        let mut client = crate::fake::client(&[nf, up], Duration::from_secs(10));
        let err = client.put("k".into(), b"v".to_vec()).await.unwrap_err();
        assert_eq!(err.code(), Some(Code::NotFound), "{err}");
        assert_eq!((count(&nf_calls), count(&up_calls)), (1, 0));
    }

    #[tokio::test]
    async fn init_goes_to_the_first_endpoint_only() {
        let (down, down_calls) = fake_member(Mode::Unavailable).await;
        let (up, up_calls) = fake_member(Mode::Ok).await;
        let mut client = crate::fake::client(&[down, up], Duration::from_secs(10));
        let err = client
            .cluster_init(std::collections::HashMap::new())
            .await
            .unwrap_err();
        assert!(matches!(err, RpcError::Unavailable { .. }), "{err}");
        assert_eq!((count(&down_calls), count(&up_calls)), (ROUNDS, 0));
    }
}
