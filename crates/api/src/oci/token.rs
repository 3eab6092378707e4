//! `GET /v2/token`: the token endpoint of the Docker registry token flow. The caller has
//! already authenticated with its registry token (Basic `AWS:<token>`); the answer hands the
//! same token back as a Bearer token, with its remaining lifetime.

use axum::response::IntoResponse;
use portcullis_auth::{Caller, Facts};
use serde_json::json;

use super::{OciCode, OciError, OciResult};
use crate::AppState;

pub fn issue(state: &AppState, caller: &Caller, facts: &Facts) -> OciResult {
    let Caller::User { access_key_id, .. } = caller else {
        return Err(OciError::new(
            OciCode::Unauthorized,
            "authentication required",
        ));
    };
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let (token, claims) = state.tokens.issue(access_key_id, facts.now_unix, &nonce);
    let issued_at = time::OffsetDateTime::from_unix_timestamp(claims.issued_at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    Ok(axum::Json(json!({
        "token": token,
        "access_token": token,
        "expires_in": claims.expires_at - claims.issued_at,
        "issued_at": issued_at,
    }))
    .into_response())
}
