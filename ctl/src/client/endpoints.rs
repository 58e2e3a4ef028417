//! [`Client`]: the endpoints a call may use and their connections (TLS unless plaintext was
//! asked for), made on first use and shared by every service a member serves.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use super::handshake::explain;
use super::security::{Security, Transport};
use super::status::flatten;

/// How often an idle connection is pinged, and how long a ping may go unanswered before the
/// connection is taken for dead.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// One endpoint and its connection, made on first use.
struct Slot {
    addr: String,
    channel: Option<Channel>,
}

/// The member's APIs over a list of endpoints. See the folder's docs for the retry rules and
/// [`Client::call`] for the one way a request is sent.
pub struct Client {
    slots: Vec<Slot>,
    timeout: Duration,
    security: Security,
}

impl Client {
    /// A client over `endpoints` (host:port, already validated); every call ends within
    /// `timeout` and is protected as `security` says. Connects nothing yet.
    pub fn new(endpoints: &[String], timeout: Duration, security: Security) -> Client {
        assert!(!endpoints.is_empty(), "at least one endpoint is required");
        Client {
            slots: endpoints
                .iter()
                .map(|addr| Slot {
                    addr: addr.clone(),
                    channel: None,
                })
                .collect(),
            timeout,
            security,
        }
    }

    /// The transport and credentials of every call.
    pub fn security(&self) -> &Security {
        &self.security
    }

    /// The deadline of every call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How long a connect may take: a share of the deadline, so one unreachable endpoint
    /// cannot use the whole of it, but not so short that a slow network fails every connect.
    pub(super) fn connect_timeout(&self) -> Duration {
        let share = self.timeout / (2 * self.slots.len()) as u32;
        share.clamp(Duration::from_millis(500), Duration::from_secs(3))
    }

    /// Pause between rounds over the endpoints: long enough to span a typical election.
    pub(super) fn backoff(&self) -> Duration {
        (self.timeout / 10).clamp(Duration::from_millis(100), Duration::from_secs(1))
    }

    /// The address of endpoint `i`.
    pub fn addr(&self, i: usize) -> &str {
        &self.slots[i].addr
    }

    /// How many endpoints there are.
    pub fn endpoint_count(&self) -> usize {
        self.slots.len()
    }

    /// Drops the connection to endpoint `i`, so the next call there reconnects (after a
    /// transport failure, or after a stream broke on it).
    pub fn disconnect(&mut self, i: usize) {
        self.slots[i].channel = None;
    }

    /// The connection to endpoint `i`, connecting now if there is none.
    pub(super) async fn connect(&mut self, i: usize, budget: Duration) -> Result<Channel, String> {
        let slot = &mut self.slots[i];
        if let Some(c) = &slot.channel {
            return Ok(c.clone());
        }
        let scheme = self.security.scheme();
        // Keep-alive pings find a member that stopped answering (SIGSTOP, a dead host)
        // under a long-lived watch stream, where no request deadline would.
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{}", slot.addr))
            .map_err(|e| format!("bad endpoint: {}", flatten(&e)))?
            .connect_timeout(budget)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        if let Transport::Tls(tls) = &self.security.transport {
            // Without a server name, tonic checks the certificate against the host.
            endpoint = endpoint
                .tls_config(tls.config().clone())
                .map_err(|e| format!("bad TLS settings: {}", flatten(&e)))?;
        }
        // The outer timeout also bounds name resolution, which connect_timeout does not.
        let channel = match tokio::time::timeout(budget, endpoint.connect()).await {
            Ok(Ok(channel)) => channel,
            Ok(Err(e)) => {
                return Err(match explain(&e, &self.security) {
                    Some(why) => format!("cannot connect: {why} ({})", flatten(&e)),
                    None => format!("cannot connect: {}", flatten(&e)),
                })
            }
            Err(_) => {
                return Err(format!(
                    "cannot connect: no connection within {} ms",
                    budget.as_millis()
                ))
            }
        };
        slot.channel = Some(channel.clone());
        Ok(channel)
    }
}
