//! Who is calling and may they: authentication of registry requests (registry tokens in Basic
//! or Bearer auth), the facts of the connection, and authorization with an audit event for every
//! decision.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::{header, request::Parts, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use portcullis_auth::sigv4::{self, Protocol, ServiceRules, SigV4Error, SignedRequestParts};
use portcullis_auth::{authorize, Caller, Facts, Outcome, Target, TokenError};
use portcullis_core::{AuditEvent, AuditResource, UserIdentity};
use portcullis_policy::Value;

use crate::AppState;

/// Unix seconds now.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

use portcullis_core::audit::rfc3339;

/// The network facts of a request: peer address (or the trusted-proxy client address), TLS,
/// and the endpoint tags of the listener it came through.
pub fn facts(parts: &Parts) -> Facts {
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(conn) = parts.extensions.get::<crate::listener::ConnectionInfo>() {
        return Facts {
            source_ip: crate::listener::client_ip(conn, &parts.headers),
            secure: conn.secure,
            endpoint_id: conn.endpoint_id.as_deref().map(str::to_owned),
            vpc_id: conn.vpc_id.as_deref().map(str::to_owned),
            user_agent,
            now_unix: now_unix(),
        };
    }
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    Facts {
        source_ip: peer,
        secure: false,
        endpoint_id: None,
        vpc_id: None,
        user_agent,
        now_unix: now_unix(),
    }
}

/// Why the credentials of a request were refused.
#[derive(Debug)]
pub enum AuthFailure {
    Malformed(&'static str),
    Token(TokenError),
    /// The token is genuine but its access key is gone or inactive.
    Revoked,
    Internal,
}

impl AuthFailure {
    pub fn message(&self) -> String {
        match self {
            AuthFailure::Malformed(m) => (*m).to_owned(),
            AuthFailure::Token(e) => e.to_string(),
            AuthFailure::Revoked => {
                "the authorization token's access key is inactive or deleted".to_owned()
            }
            AuthFailure::Internal => "authentication failed".to_owned(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AuthFailure::Malformed(_) => "MalformedCredentials",
            AuthFailure::Token(TokenError::Expired(_)) => "ExpiredToken",
            AuthFailure::Token(_) => "InvalidToken",
            AuthFailure::Revoked => "RevokedCredentials",
            AuthFailure::Internal => "InternalError",
        }
    }
}

/// What a registry request presented in `Authorization`.
enum Presented {
    /// No header, or Basic/Bearer with nothing in it (`containers/image` sends `Basic Og==`,
    /// an empty user and password, when it has no credentials): anonymous.
    Nothing,
    Token(String),
}

/// The registry token in `Authorization: Basic base64("AWS:" + token)` or `Bearer token`.
fn presented(headers: &HeaderMap) -> Result<Presented, AuthFailure> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Presented::Nothing);
    };
    let value = value
        .to_str()
        .map_err(|_| AuthFailure::Malformed("malformed Authorization header"))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(if rest.is_empty() {
            Presented::Nothing
        } else {
            Presented::Token(rest.to_owned())
        });
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthFailure::Malformed(
            "the registry accepts Basic or Bearer authorization",
        ));
    }
    let decoded = STANDARD
        .decode(rest)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(AuthFailure::Malformed("malformed Basic credentials"))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or(AuthFailure::Malformed("malformed Basic credentials"))?;
    if user.is_empty() && password.is_empty() {
        return Ok(Presented::Nothing);
    }
    Ok(Presented::Token(password.to_owned()))
}

/// How a registry caller authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    /// No credentials at all.
    Nothing,
    /// A token the token endpoint handed an anonymous client.
    AnonymousToken,
    /// A registry token (GetAuthorizationToken's), with its expiry.
    Token { token: String, expires_at: i64 },
    /// A download URL of GetDownloadUrlForLayer, standing for the key that obtained it.
    DownloadUrl,
}

/// A registry caller and how it proved who it is.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub caller: Caller,
    pub via: Via,
}

/// Resolves the caller of a registry request. No credentials make an anonymous caller; bad
/// ones fail.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Authenticated, AuthFailure> {
    let Presented::Token(token) = presented(headers)? else {
        return Ok(Authenticated {
            caller: Caller::Anonymous,
            via: Via::Nothing,
        });
    };
    let claims = state
        .tokens
        .verify(&token, now_unix())
        .map_err(AuthFailure::Token)?;
    if claims.is_anonymous() {
        return Ok(Authenticated {
            caller: Caller::Anonymous,
            via: Via::AnonymousToken,
        });
    }
    let caller = caller_for_key(state, &claims.access_key_id).await?;
    Ok(Authenticated {
        caller,
        via: Via::Token {
            token,
            expires_at: claims.expires_at,
        },
    })
}

/// The caller an access key stands for now; a deleted or inactive key stands for no one.
pub async fn caller_for_key(state: &AppState, access_key_id: &str) -> Result<Caller, AuthFailure> {
    match state.iam.principal_for_key(access_key_id).await {
        Ok(Some(principal)) => Ok(Caller::User {
            principal,
            access_key_id: access_key_id.to_owned(),
        }),
        Ok(None) => Err(AuthFailure::Revoked),
        Err(e) => {
            tracing::error!(error = %e, "resolving a token's principal failed");
            Err(AuthFailure::Internal)
        }
    }
}

pub fn identity(caller: &Caller) -> UserIdentity {
    match caller {
        Caller::Anonymous => UserIdentity {
            kind: "Anonymous".into(),
            ..UserIdentity::default()
        },
        Caller::User {
            principal,
            access_key_id,
        } => UserIdentity {
            kind: "IAMUser".into(),
            arn: Some(principal.arn.clone()),
            user_name: Some(principal.user.name.clone()),
            access_key_id: Some(access_key_id.clone()),
        },
    }
}

/// A skeleton audit event for a request; callers fill in the decision.
pub fn event(facts: &Facts, source: &str, name: &str, who: UserIdentity) -> AuditEvent {
    AuditEvent {
        event_time: rfc3339(facts.now_unix),
        event_name: name.to_owned(),
        event_source: source.to_owned(),
        user_identity: who,
        source_ip_address: facts.source_ip.to_string(),
        vpc_endpoint_id: facts.endpoint_id.clone(),
        user_agent: facts.user_agent.clone(),
        ..AuditEvent::default()
    }
}

/// Records a failed authentication.
pub fn audit_auth_failure(
    state: &AppState,
    facts: &Facts,
    source: &str,
    access_key_id: Option<&str>,
    failure_code: &str,
    message: &str,
) {
    let who = UserIdentity {
        kind: "Unknown".into(),
        access_key_id: access_key_id.map(str::to_owned),
        ..UserIdentity::default()
    };
    let mut e = event(facts, source, "Authenticate", who);
    e.decision = "error".into();
    e.error_code = Some(failure_code.to_owned());
    e.error_message = Some(message.to_owned());
    // The request is refused whatever happens here; a failed write is logged by the sink.
    let _ = state.audit.record(&e);
}

/// Why a SigV4-signed API request was refused.
#[derive(Debug)]
pub enum SignedAuthFailure {
    /// Answered with the protocol's name for the error.
    SigV4(SigV4Error),
    /// A server fault while looking up the key (logged; answered as a server error).
    Internal,
    /// The body is larger than the API takes, or was cut off.
    Body,
}

/// Verifies a SigV4-signed API request (over the SHA-256 of its `body`) for `service` (`ecr`,
/// `iam`) and resolves the caller. The request must meet [`ServiceRules::api`] for `service` and
/// `[auth] region`. Every failure is audited under the protocol's error name.
///
/// The body is read (at most `max_body` bytes) only once the signature's form and the key are
/// known good: a caller without a valid key cannot make the server hold its body.
#[allow(clippy::too_many_arguments)]
pub async fn authenticate_signed(
    state: &AppState,
    parts: &Parts,
    body: axum::body::Body,
    max_body: usize,
    facts: &Facts,
    service: &str,
    protocol: Protocol,
    source: &str,
) -> Result<(Caller, bytes::Bytes), SignedAuthFailure> {
    let fail_as = |key: Option<&str>, e: SigV4Error| {
        audit_auth_failure(
            state,
            facts,
            source,
            key,
            e.aws_code_for(protocol),
            &e.to_string(),
        );
        SignedAuthFailure::SigV4(e)
    };
    let signed = SignedRequestParts::from_http(parts);
    let auth = match sigv4::parse(&signed) {
        Ok(Some(a)) => a,
        Ok(None) => return Err(fail_as(None, SigV4Error::MissingAuthenticationToken)),
        Err(e) => return Err(fail_as(None, e)),
    };
    let fail = |e: SigV4Error| fail_as(Some(auth.access_key_id()), e);
    // Before any key is looked up: a request that leaves its body, its operation or any header
    // unsigned, or is signed for another region, is refused whoever signed it.
    let rules = ServiceRules::api(service, &state.iam.options().region);
    sigv4::check_rules(&auth, &signed, &rules).map_err(fail)?;
    if auth.session_token().is_some() {
        // Temporary credentials come with STS, a later issue; until then no session is valid.
        return Err(fail(SigV4Error::UnrecognizedClient));
    }
    let secret = match state.iam.active_key_secret(auth.access_key_id()).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(fail(SigV4Error::UnrecognizedClient)),
        Err(e) => {
            tracing::error!(error = %e, "looking up an access key failed");
            return Err(SignedAuthFailure::Internal);
        }
    };
    let body = {
        use http_body_util::BodyExt;
        match http_body_util::Limited::new(body, max_body).collect().await {
            Ok(c) => c.to_bytes(),
            Err(_) => return Err(SignedAuthFailure::Body),
        }
    };
    let body_hash = sigv4::sha256_hex(&body);
    sigv4::verify(
        &auth,
        &signed,
        Some(&body_hash),
        secret.expose(),
        now_unix(),
        service,
    )
    .map_err(fail)?;
    match state.iam.principal_for_key(auth.access_key_id()).await {
        Ok(Some(principal)) => Ok((
            Caller::User {
                principal,
                access_key_id: auth.access_key_id().to_owned(),
            },
            body,
        )),
        Ok(None) => Err(fail(SigV4Error::UnrecognizedClient)),
        Err(e) => {
            tracing::error!(error = %e, "resolving a principal failed");
            Err(SignedAuthFailure::Internal)
        }
    }
}

/// Authorizes one action and records the decision.
#[allow(clippy::too_many_arguments)]
pub async fn check(
    state: &AppState,
    caller: &Caller,
    facts: &Facts,
    source: &str,
    action: &str,
    target: &Target,
    reference: Option<String>,
    extra: &[(String, Vec<Value>)],
) -> Result<Outcome, portcullis_core::Error> {
    let outcome = authorize(
        &state.iam,
        &state.repositories,
        caller,
        action,
        target,
        facts,
        extra,
    )
    .await?;
    let mut e = event(
        facts,
        source,
        action.split_once(':').map_or(action, |(_, name)| name),
        identity(caller),
    );
    match target {
        Target::Repository(r) => {
            e.repository = Some(r.clone());
            e.resources = vec![AuditResource::from_arn(&state.repositories.arn(r))];
        }
        Target::Iam(arn) if arn != "*" => e.resources = vec![AuditResource::from_arn(arn)],
        Target::Iam(_) | Target::Registry => {}
    }
    e.reference = reference;
    e.decision = if outcome.allowed() { "allow" } else { "deny" }.into();
    e.deciding_statements = outcome.deciding_statements();
    if !outcome.allowed() {
        e.error_code = Some("AccessDenied".into());
        e.error_message = Some(outcome.denial_message());
    }
    state.audit.record(&e)?;
    metrics::counter!(
        "portcullis_authz_decisions_total",
        "decision" => if outcome.allowed() { "allow" } else { "deny" }
    )
    .increment(1);
    Ok(outcome)
}

/// Extra context keys of one decision: `(key, values)`.
pub type ExtraContext = Vec<(String, Vec<Value>)>;

/// `aws:RequestTag/<key>` for each tag a request sets, and `aws:TagKeys`: what a policy
/// conditions tagging on, in every API. Nothing for a request without tags.
pub fn request_tag_context(tags: &[(String, String)]) -> ExtraContext {
    if tags.is_empty() {
        return Vec::new();
    }
    let mut extra: ExtraContext = tags
        .iter()
        .map(|(k, v)| {
            (
                format!("aws:RequestTag/{k}"),
                vec![Value::string(v.clone())],
            )
        })
        .collect();
    extra.extend(tag_keys_context(tags.iter().map(|(k, _)| k.as_str())));
    extra
}

/// `aws:TagKeys` for the tag keys a request names (UntagResource, UntagUser).
pub fn tag_keys_context<'a>(keys: impl IntoIterator<Item = &'a str>) -> ExtraContext {
    vec![(
        "aws:TagKeys".to_owned(),
        keys.into_iter()
            .map(|k| Value::string(k.to_owned()))
            .collect(),
    )]
}

/// The response of an AWS JSON 1.1 operation (ECR, Secrets Manager): the body or the
/// protocol's error, with the request id the SDKs log.
pub fn json_response<E: axum::response::IntoResponse>(
    result: Result<serde_json::Value, E>,
    request_id: &str,
) -> axum::response::Response {
    use axum::http::HeaderValue;
    use axum::response::IntoResponse;
    let mut resp = match result {
        Ok(body) => {
            let mut r = axum::Json(body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-amz-json-1.1"),
            );
            r
        }
        Err(e) => e.into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}
