//! `POST /hooks/{receiver}`: one webhook delivery, checked in order of cost, before the
//! body is parsed:
//!
//! 1. the receiver exists (this member's state: cheap; checked again after the barrier);
//! 2. content type `application/json` (415), declared length within the receiver's cap
//!    (413, nothing read), the receiver's rate on this member (429);
//! 3. the body, read up to the cap (413 past it) within [`READ_TIMEOUT`] (408);
//! 4. a read barrier, then the receiver's current secret: a rotated or deleted secret is
//!    never honoured by a lagging member;
//! 5. the signature (401 with what is wrong), then the payload (400 naming the field);
//! 6. `RecordDelivery` committed through the leader: the answer (200) is the recorded
//!    delivery, the original one for a redelivery. If the commit's outcome is unknown the
//!    answer is 503 and a redelivery is safe: it is deduplicated by its id.
//!
//! The fetch a push asks for happens after the answer, on the leader: CI systems wait
//! seconds at most (GitHub 10 s), and the record is what makes the work exactly once.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use moor_domain::command::{Command, CommandResult};
use moor_domain::hooks::receiver::DeliveryIn;
use moor_domain::hooks::receiver::ReceiverSpec;
use moor_domain::hooks::{AuditNote, HooksCommand, HooksResult};

use super::{payload, verify, HookHttp, Refusal};
use crate::api::auth::gate::connection;
use crate::errors::ApiError;
use crate::exec::executor::now_ms;

/// Longest a client may take to send the body.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn deliver(
    State(h): State<Arc<HookHttp>>,
    Path(receiver): Path<String>,
    request: Request,
) -> Response {
    let (peer, _) = connection(&request);
    let metrics = h.member.metrics.clone();
    match handle(&h, &receiver, &peer, request).await {
        Ok(response) => {
            metrics.http("/hooks/{receiver}", response.status().as_u16());
            response
        }
        Err(refusal) => {
            tracing::info!(%receiver, %peer, status = refusal.status.as_u16(), reason = %refusal.reason, "webhook delivery refused");
            let code = refusal.status.as_u16();
            metrics.http("/hooks/{receiver}", code);
            metrics
                .webhook_refused
                .get_or_create(&crate::metrics::Status {
                    status: code.to_string(),
                })
                .inc();
            refusal.into_response()
        }
    }
}

fn receiver_spec(h: &HookHttp, name: &str) -> Result<ReceiverSpec, Refusal> {
    let state = h.member.state.read().expect("state lock poisoned");
    state
        .hooks
        .receivers
        .get(name)
        .map(|r| r.spec.clone())
        .ok_or_else(|| {
            Refusal::not_found(format!(
                "no receiver {name:?}: create it with `moorctl receiver create {name} --type github --secret-file FILE`"
            ))
        })
}

async fn handle(
    h: &HookHttp,
    name: &str,
    peer: &str,
    request: Request,
) -> Result<Response, Refusal> {
    let spec = receiver_spec(h, name)?;
    let headers = request.headers().clone();
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(Refusal::unsupported(format!(
            "content type {content_type:?}: set the webhook's content type to application/json"
        )));
    }
    let cap = spec.max_body_bytes().min(super::MAX_BODY_BYTES as u64);
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared {
        if len > cap {
            return Err(Refusal::too_large(format!(
                "the body is {len} bytes; receiver {name} accepts at most {cap} (raise it with --max-body-bytes)"
            )));
        }
    }
    h.rate.admit(name, spec.rate_per_minute()).map_err(|wait| {
        Refusal::too_many(
            format!(
                "receiver {name} takes at most {} deliveries a minute on this member; retry in {wait} s",
                spec.rate_per_minute()
            ),
            wait,
        )
    })?;
    let body = match tokio::time::timeout(
        READ_TIMEOUT,
        axum::body::to_bytes(request.into_body(), cap as usize),
    )
    .await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return Err(Refusal::too_large(format!(
                "the body is over {cap} bytes, the most receiver {name} accepts (raise it with --max-body-bytes)"
            )))
        }
        Err(_) => {
            return Err(Refusal {
                status: StatusCode::REQUEST_TIMEOUT,
                reason: format!("the body did not arrive within {} s", READ_TIMEOUT.as_secs()),
                retry_after_s: None,
            })
        }
    };
    // The secret as the cluster holds it now, not as this member last heard of it.
    h.member.read_barrier().await.map_err(|e| {
        Refusal::unavailable(
            format!("the cluster cannot confirm its state now ({e}); redeliver later"),
            5,
        )
    })?;
    let spec = receiver_spec(h, name)?;
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let id = verify::verify(&spec, &headers, &body, now_s)?;
    let (event, payload) = payload::parse(spec.kind, &headers, &body)?;
    let command = Command::Hooks(HooksCommand::RecordDelivery {
        receiver: name.to_string(),
        delivery: DeliveryIn { id, event, payload },
        note: AuditNote {
            member: h.member.id,
            peer: peer.to_string(),
            retention: h.retention,
        },
        now_ms: now_ms(),
    });
    let result = h.member.write(command).await.map_err(|e| match e {
        ApiError::OutcomeUnknown { .. } => Refusal::unavailable(
            format!("the delivery may or may not be recorded ({e}): redeliver it; it is deduplicated by its id"),
            5,
        ),
        other => Refusal::unavailable(format!("the delivery was not recorded ({other}): redeliver it"), 5),
    })?;
    match result {
        (
            _,
            CommandResult::Hooks(HooksResult::Delivery {
                delivery,
                duplicate,
            }),
        ) => {
            tracing::info!(receiver = %name, id = %delivery.id, verdict = %delivery.verdict, duplicate, "webhook delivery recorded");
            h.member
                .metrics
                .webhook_deliveries
                .get_or_create(&crate::metrics::ReceiverVerdict {
                    receiver: name.to_string(),
                    verdict: if duplicate {
                        "duplicate".to_string()
                    } else {
                        delivery.verdict.to_string()
                    },
                })
                .inc();
            let body = serde_json::json!({
                "receiver": name,
                "id": delivery.id,
                "event": delivery.event,
                "verdict": delivery.verdict.to_string(),
                "detail": delivery.detail,
                "sources": delivery.sources,
                "duplicate": duplicate,
                "member": delivery.member,
            });
            Ok((
                StatusCode::OK,
                [(CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response())
        }
        (_, CommandResult::Hooks(HooksResult::Rejected(e))) => {
            Err(Refusal::not_found(format!("the delivery was refused: {e}")))
        }
        (_, other) => Err(Refusal::internal(format!(
            "recording the delivery answered {other:?}"
        ))),
    }
}
