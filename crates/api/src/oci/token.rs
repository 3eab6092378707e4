//! `GET|POST /v2/token`: the token endpoint of the Docker registry token flow.
//!
//! A caller who authenticated with a registry token (Basic `AWS:<token>`, as docker login
//! stores it) and is allowed `ecr:GetAuthorizationToken` gets that same token back as a Bearer
//! token with its remaining lifetime: the endpoint never mints a longer-lived credential than the
//! one presented, so a token cannot be renewed past its 12 hours. With anonymous access on, a
//! client without credentials gets a short-lived anonymous token, which grants what resource
//! policies give `Principal: "*"` and nothing else.

use axum::response::IntoResponse;
use portcullis_auth::Facts;
use serde_json::json;

use super::{OciCode, OciError, OciResult};
use crate::access::{self, Authenticated, Via};
use crate::AppState;

/// Lifetime of an anonymous token; clients fetch a new one when it runs out.
const ANONYMOUS_TOKEN_TTL_SECS: i64 = 15 * 60;

fn rfc3339(unix: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
}

pub fn issue(state: &AppState, who: &Authenticated, facts: &Facts) -> OciResult {
    let now = facts.now_unix;
    let (token, expires_at) = match &who.via {
        Via::Token { token, expires_at } => (token.clone(), *expires_at),
        Via::Nothing | Via::AnonymousToken => {
            let nonce = uuid::Uuid::new_v4().simple().to_string();
            let (token, claims) =
                state
                    .tokens
                    .issue_anonymous(now, ANONYMOUS_TOKEN_TTL_SECS, &nonce);
            // The only decision here is the operator's (anonymous access on); record it, so
            // that the audit log shows every token handed out.
            let mut e = access::event(
                facts,
                "registry",
                "GetAuthorizationToken",
                access::identity(&who.caller),
            );
            e.decision = "allow".into();
            state
                .audit
                .record(&e)
                .map_err(portcullis_core::Error::from)?;
            (token, claims.expires_at)
        }
        Via::DownloadUrl => {
            return Err(OciError::new(
                OciCode::Denied,
                "a download URL cannot be exchanged for a token",
            ))
        }
    };
    Ok(axum::Json(json!({
        "token": token,
        "access_token": token,
        "expires_in": (expires_at - now).max(0),
        "issued_at": rfc3339(now),
    }))
    .into_response())
}
