//! The HTTP edge: listeners, connection hygiene, routing, and the OCI distribution API.
//!
//! Handlers are thin: they parse the request, call one method of the registry service, and
//! build the response. Errors become wire errors in exactly one module per protocol
//! ([`oci::error`]).

#![expect(
    clippy::result_large_err,
    reason = "an OciError is built once per failed request and goes straight to the wire; \
              boxing it would only add an allocation"
)]

pub mod access;
pub mod body;
pub mod classify;
pub mod ecr;
pub mod health;
pub mod iam;
pub mod listener;
pub mod oci;
pub mod operation;
pub mod proxy_protocol;
pub mod secrets;
pub mod server;
mod unread;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::any;
use axum::Router;
use portcullis_auth::sigv4::{self, Protocol, SignedRequestParts};
use portcullis_auth::TokenSigner;
use portcullis_core::{AuditLog, Iam, Registry, Repositories, Secrets};

/// Connection and request limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Time a client has to send a request's headers (also the keep-alive idle limit).
    pub header_timeout: Duration,
    /// Longest pause allowed between two pieces of a request body.
    pub body_idle_timeout: Duration,
    /// Longest an upload request (a chunk or a whole blob) may take to send its body.
    pub upload_request_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(60),
            upload_request_timeout: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub iam: Arc<Iam>,
    pub repositories: Arc<Repositories>,
    /// Secrets Manager's secrets (`secretsmanager` API).
    pub secrets: Arc<Secrets>,
    pub tokens: Arc<TokenSigner>,
    pub audit: Arc<AuditLog>,
    pub limits: Limits,
    /// `scheme://host[:port]` clients reach the registry at; `None`: each request's `Host`.
    pub public_url: Option<String>,
    /// `[auth] anonymous_access`: serve requests without credentials as far as resource
    /// policies allow `Principal: "*"`. Off (ECR's behaviour): every such request is 401.
    pub anonymous_access: bool,
}

impl AppState {
    /// The registry's public URL (no trailing slash) as seen by a request with these headers.
    pub fn public_url(&self, headers: &axum::http::HeaderMap, secure: bool) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let scheme = if secure { "https" } else { "http" };
        format!("{scheme}://{host}")
    }
}

/// The application's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v2", any(oci::dispatch))
        .route("/v2/", any(oci::dispatch))
        .route("/v2/{*rest}", any(oci::dispatch))
        .route("/", axum::routing::post(api_root))
        .route("/healthz", any(health::live))
        .route("/readyz", any(health::ready))
        .fallback(not_found)
        .with_state(state)
}

/// The AWS APIs served on `POST /`, known by the signing name of the credential scope. A new
/// API (STS) is a variant here, its signing name and its dispatcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AwsApi {
    Ecr,
    Iam,
    SecretsManager,
}

impl AwsApi {
    fn from_signing_name(name: &str) -> Option<AwsApi> {
        match name {
            "ecr" => Some(AwsApi::Ecr),
            "iam" => Some(AwsApi::Iam),
            "secretsmanager" => Some(AwsApi::SecretsManager),
            _ => None,
        }
    }

    fn protocol(self) -> Protocol {
        match self {
            AwsApi::Ecr | AwsApi::SecretsManager => Protocol::Json,
            AwsApi::Iam => Protocol::Query,
        }
    }

    /// The API that answers requests of `protocol` that name no API of their own (JSON stays
    /// ECR's, as it was before Secrets Manager shared the protocol).
    fn for_protocol(protocol: Protocol) -> AwsApi {
        match protocol {
            Protocol::Json => AwsApi::Ecr,
            Protocol::Query => AwsApi::Iam,
        }
    }
}

/// `POST /` carries two AWS protocols: JSON with `X-Amz-Target` (ECR, Secrets Manager) and the
/// form-encoded query protocol (IAM). A signed request goes to the API its credential scope
/// names, so that a request for an API this server does not serve (`aws sts ...`, `aws s3api ...`) hears so, in
/// its own protocol, instead of a scope error naming another service. Unsigned or malformed
/// auth goes by protocol, and the API there refuses it.
async fn api_root(
    state: axum::extract::State<AppState>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let headers = request.headers();
    let protocol = if headers.contains_key("x-amz-target") {
        Some(Protocol::Json)
    } else if headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
    {
        Some(Protocol::Query)
    } else {
        None
    };
    let (parts, body) = request.into_parts();
    let scope_service = match sigv4::parse(&SignedRequestParts::from_http(&parts)) {
        Ok(Some(auth)) => Some(auth.scope().service().to_owned()),
        Ok(None) | Err(_) => None,
    };
    let api = match scope_service {
        Some(service) => match AwsApi::from_signing_name(&service) {
            // A request in the other API's protocol goes there, which names the right scope.
            Some(api) => match protocol {
                Some(p) if p != api.protocol() => Some(AwsApi::for_protocol(p)),
                _ => Some(api),
            },
            None => {
                return api_not_available(&state, &parts, &service, protocol);
            }
        },
        None => protocol.map(AwsApi::for_protocol),
    };
    let request = axum::extract::Request::from_parts(parts, body);
    match api {
        Some(AwsApi::Ecr) => ecr::dispatch(state, request).await,
        Some(AwsApi::Iam) => iam::dispatch(state, request).await,
        Some(AwsApi::SecretsManager) => secrets::dispatch(state, request).await,
        None => ecr::EcrError::new(
            "UnknownOperationException",
            "the request names no operation: send X-Amz-Target (ECR) or a form-encoded Action (IAM)",
        )
        .into_response(),
    }
}

/// The answer to a request signed for an AWS service this server does not serve: the JSON
/// protocol's `UnknownOperationException` or the query protocol's `InvalidAction` (both 400, so
/// that SDKs do not retry), audited as an authentication failure.
fn api_not_available(
    state: &AppState,
    parts: &axum::http::request::Parts,
    service: &str,
    protocol: Option<Protocol>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let message = format!(
        "the AWS service `{service}` is not available here: this Portcullis server serves the ECR \
         (`ecr`), IAM (`iam`) and Secrets Manager (`secretsmanager`) APIs"
    );
    let code = match protocol {
        Some(Protocol::Query) => "InvalidAction",
        Some(Protocol::Json) | None => "UnknownOperationException",
    };
    let facts = access::facts(parts);
    access::audit_auth_failure(state, &facts, "portcullis", None, code, &message);
    match protocol {
        Some(Protocol::Query) => iam::IamError::new(code, message)
            .with_request_id(&uuid::Uuid::new_v4().to_string())
            .into_response(),
        Some(Protocol::Json) | None => ecr::EcrError::new(code, message).into_response(),
    }
}

async fn not_found() -> oci::OciError {
    oci::OciError::new(oci::OciCode::NameUnknown, "no such endpoint")
        .with_status(axum::http::StatusCode::NOT_FOUND)
}
