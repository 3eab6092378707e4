//! The OCI distribution API: one dispatcher that classifies the path, then thin handlers, one
//! file per family, each calling one registry method.

mod blobs;
pub mod error;
mod listings;
mod manifests;
mod token;
mod uploads;

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use portcullis_auth::{Caller, Facts, Target};
use portcullis_oci::RepoName;

use crate::access;
use crate::classify::{classify, OciEndpoint};
use crate::AppState;
pub use error::{OciCode, OciError};

pub type OciResult = Result<Response, OciError>;

/// Everything a handler may read from the request.
pub struct OciRequest {
    pub method: Method,
    pub headers: HeaderMap,
    pub query: HashMap<String, String>,
}

impl OciRequest {
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn query(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }
}

fn parse_query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// Serves every `/v2/...` request.
pub async fn dispatch(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let uri = parts.uri.clone();
    let rest = uri.path().strip_prefix("/v2").unwrap_or("");
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let facts = access::facts(&parts);
    let req = OciRequest {
        method: parts.method.clone(),
        headers: parts.headers.clone(),
        query: parse_query(&uri),
    };
    let result = match classify(rest) {
        Ok(endpoint) => {
            let operation = endpoint.operation();
            let res = match authorize_request(&state, &endpoint, &req, &facts).await {
                Ok(caller) => route(&state, endpoint, req, body, &caller, &facts).await,
                Err(e) => Err(e),
            };
            let status = match &res {
                Ok(r) => r.status(),
                Err(e) => e.status,
            };
            metrics::counter!(
                "portcullis_http_requests_total",
                "api" => "oci",
                "operation" => operation,
                "status" => status.as_str().to_owned()
            )
            .increment(1);
            res
        }
        Err(e) => Err(OciError::from(e)),
    };
    let mut resp = result.unwrap_or_else(IntoResponse::into_response);
    resp.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

fn method_not_allowed(method: &Method) -> OciError {
    OciError::new(
        OciCode::Unsupported,
        format!("method `{method}` is not supported here"),
    )
}

/// The `WWW-Authenticate` challenge of the registry: Basic, as ECR's, with the registry URL as
/// realm.
fn challenge(state: &AppState, req: &OciRequest, facts: &Facts) -> String {
    let url = state.public_url(&req.headers, facts.secure);
    format!("Basic realm=\"{url}/\",service=\"ecr.amazonaws.com\"")
}

fn unauthorized(state: &AppState, req: &OciRequest, facts: &Facts, message: String) -> OciError {
    OciError::new(OciCode::Unauthorized, message)
        .with_header(header::WWW_AUTHENTICATE, challenge(state, req, facts))
}

/// Query parameters of the download URLs GetDownloadUrlForLayer hands out.
pub const DOWNLOAD_EXPIRES: &str = "X-Portcullis-Expires";
pub const DOWNLOAD_SIGNATURE: &str = "X-Portcullis-Signature";

/// A blob GET through a download URL: the signature (made when an authorized caller asked for
/// the URL) stands in for credentials, for that one blob and until it expires.
fn presigned_download(
    state: &AppState,
    facts: &Facts,
    name: &RepoName,
    digest: &portcullis_oci::Digest,
    expires: &str,
    signature: &str,
) -> Result<Caller, OciError> {
    let valid = expires.parse::<i64>().is_ok_and(|expires| {
        state.tokens.verify_download(
            name.as_str(),
            &digest.to_string(),
            expires,
            signature,
            facts.now_unix,
        )
    });
    let mut e = access::event(
        facts,
        "registry",
        "GetDownloadUrlForLayer",
        access::identity(&Caller::Anonymous),
    );
    e.repository = Some(name.to_string());
    e.reference = Some(digest.to_string());
    e.decision = if valid { "allow" } else { "deny" }.into();
    if !valid {
        e.error_code = Some("AccessDenied".into());
        e.error_message = Some("download URL invalid or expired".into());
    }
    state.audit.record(&e);
    if valid {
        Ok(Caller::Anonymous)
    } else {
        Err(OciError::new(
            OciCode::Denied,
            "the download URL's signature does not match or the URL has expired",
        ))
    }
}

/// Authenticates the caller and checks every ECR action the endpoint needs. Anonymous callers
/// who are refused get 401 with a challenge, so that clients retry with credentials; known
/// callers get 403 with AWS's explanation.
async fn authorize_request(
    state: &AppState,
    endpoint: &OciEndpoint,
    req: &OciRequest,
    facts: &Facts,
) -> Result<Caller, OciError> {
    if let (OciEndpoint::Blob { name, digest }, Some(expires), Some(signature)) = (
        endpoint,
        req.query(DOWNLOAD_EXPIRES),
        req.query(DOWNLOAD_SIGNATURE),
    ) {
        return presigned_download(state, facts, name, digest, expires, signature);
    }
    let caller = match access::authenticate(state, &req.headers).await {
        Ok(c) => c,
        Err(failure) => {
            let message = failure.message();
            access::audit_auth_failure(state, facts, "registry", None, failure.code(), &message);
            return Err(unauthorized(state, req, facts, message));
        }
    };
    if matches!(endpoint, OciEndpoint::Base | OciEndpoint::Token)
        && matches!(caller, Caller::Anonymous)
    {
        return Err(unauthorized(
            state,
            req,
            facts,
            "authentication required".into(),
        ));
    }
    let Some(repo) = endpoint.repository() else {
        return Ok(caller);
    };
    let body_present = req
        .headers
        .get(header::CONTENT_LENGTH)
        .is_some_and(|l| l != "0")
        || req.headers.contains_key(header::TRANSFER_ENCODING);
    let target = Target::Repository(repo.to_string());
    let reference = match endpoint {
        OciEndpoint::Manifest { reference, .. } => Some(reference.to_string()),
        OciEndpoint::Blob { digest, .. } | OciEndpoint::Referrers { digest, .. } => {
            Some(digest.to_string())
        }
        _ => None,
    };
    for action in access::oci_actions(endpoint, &req.method, &req.query, body_present) {
        let outcome = access::check(
            state,
            &caller,
            facts,
            "registry",
            action,
            &target,
            reference.clone(),
            &[],
        )
        .await?;
        if !outcome.allowed() {
            return Err(match caller {
                Caller::Anonymous => unauthorized(state, req, facts, outcome.denial_message()),
                Caller::User { .. } => OciError::new(OciCode::Denied, outcome.denial_message()),
            });
        }
    }
    Ok(caller)
}

/// A push into a repository that does not exist creates it from the creation template that
/// covers its name (create-on-push), if the caller may create repositories; with no template
/// the push fails with NAME_UNKNOWN, as ECR refuses pushes to missing repositories.
async fn ensure_push_repository(
    state: &AppState,
    name: &RepoName,
    req: &OciRequest,
    caller: &Caller,
    facts: &Facts,
) -> Result<(), OciError> {
    if state.iam.repository(name.as_str()).await?.is_some() {
        return Ok(());
    }
    let outcome = access::check(
        state,
        caller,
        facts,
        "registry",
        "ecr:CreateRepository",
        &Target::Repository(name.to_string()),
        None,
        &[],
    )
    .await?;
    if !outcome.allowed() {
        return Err(match caller {
            Caller::Anonymous => unauthorized(state, req, facts, outcome.denial_message()),
            Caller::User { .. } => OciError::new(OciCode::Denied, outcome.denial_message()),
        });
    }
    if state.registry.create_on_push(name).await? {
        state.iam.repositories_changed();
    }
    Ok(())
}

async fn route(
    state: &AppState,
    endpoint: OciEndpoint,
    req: OciRequest,
    body: Body,
    caller: &Caller,
    facts: &Facts,
) -> OciResult {
    let registry = &state.registry;
    match (endpoint, req.method.clone()) {
        (OciEndpoint::Base, Method::GET | Method::HEAD) => {
            Ok((StatusCode::OK, axum::Json(serde_json::json!({}))).into_response())
        }
        (OciEndpoint::Token, Method::GET | Method::POST) => token::issue(state, caller, facts),
        (OciEndpoint::Catalog, Method::GET) => listings::catalog(state, &req, caller, facts).await,
        (OciEndpoint::Tags { name }, Method::GET) => listings::tags(registry, &name, &req).await,
        (OciEndpoint::Referrers { name, digest }, Method::GET) => {
            listings::referrers(registry, &name, &digest, &req).await
        }
        (OciEndpoint::Manifest { name, reference }, Method::GET | Method::HEAD) => {
            manifests::get(registry, &name, &reference, &req).await
        }
        (OciEndpoint::Manifest { name, reference }, Method::PUT) => {
            ensure_push_repository(state, &name, &req, caller, facts).await?;
            manifests::put(registry, &name, &reference, &req, body).await
        }
        (OciEndpoint::Manifest { name, reference }, Method::DELETE) => {
            manifests::delete(registry, &name, &reference).await
        }
        (OciEndpoint::Blob { name, digest }, Method::GET | Method::HEAD) => {
            blobs::get(registry, &name, &digest, &req).await
        }
        (OciEndpoint::Blob { name, digest }, Method::DELETE) => {
            blobs::delete(registry, &name, &digest).await
        }
        (OciEndpoint::UploadStart { name }, Method::POST) => {
            ensure_push_repository(state, &name, &req, caller, facts).await?;
            uploads::start(state, &name, &req, body, caller, facts).await
        }
        (OciEndpoint::Upload { name, id }, Method::GET) => {
            uploads::status(registry, &name, &id).await
        }
        (OciEndpoint::Upload { name, id }, Method::PATCH) => {
            uploads::patch(state, &name, &id, &req, body).await
        }
        (OciEndpoint::Upload { name, id }, Method::PUT) => {
            uploads::finish(state, &name, &id, &req, body).await
        }
        (OciEndpoint::Upload { name, id }, Method::DELETE) => {
            uploads::cancel(registry, &name, &id).await
        }
        (_, method) => Err(method_not_allowed(&method)),
    }
}

/// Builds a header value from text we produced (digests, paths, numbers).
pub(crate) fn hv(s: impl AsRef<str>) -> HeaderValue {
    HeaderValue::from_str(s.as_ref()).unwrap_or_else(|_| HeaderValue::from_static(""))
}
