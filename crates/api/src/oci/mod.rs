//! The OCI distribution API: one dispatcher that classifies the path, then thin handlers, one
//! file per family, each calling one registry method.

mod blobs;
pub mod error;
mod listings;
mod manifests;
mod token;
mod uploads;

pub(crate) use uploads::upload_principal;

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use portcullis_auth::{Caller, DownloadGrant, Facts, Target};
use portcullis_core::UserIdentity;
use portcullis_oci::RepoName;

use crate::access::{self, AuthFailure, Authenticated, Via};
use crate::classify::{classify, Authorization, ManifestRef, OciOperation, RequestShape};
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

/// The request announces a body (non-zero `Content-Length`, or chunked).
pub(crate) fn has_body(headers: &HeaderMap) -> bool {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok());
    match length {
        Some(l) => l.trim() != "0",
        None => headers.contains_key(header::TRANSFER_ENCODING),
    }
}

/// Serves every `/v2/...` request: classify (path and method make one operation), authenticate,
/// authorize the operation's actions, then route it.
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
    let shape = RequestShape {
        digest: req.query.contains_key("digest"),
        mount: req.query.contains_key("mount"),
        body: has_body(&req.headers),
    };
    let result = match classify(&req.method, rest, shape) {
        Ok(operation) => {
            let name = operation.name();
            let res = match authorize_request(&state, &operation, &req, &facts).await {
                Ok(who) => route(&state, operation, req, body, &who, &facts).await,
                Err(e) => Err(e),
            };
            let status = match &res {
                Ok(r) => r.status(),
                Err(e) => e.status,
            };
            metrics::counter!(
                "portcullis_http_requests_total",
                "api" => "oci",
                "operation" => name,
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

/// The `WWW-Authenticate` challenge. With anonymous access off it is ECR's: Basic, with the
/// registry URL as realm. With it on, it is the Docker token flow's Bearer challenge whose realm
/// is the token endpoint, which is what makes docker (and `containers/image`) fetch an
/// anonymous token instead of refusing to pull without credentials.
fn challenge(
    state: &AppState,
    req: &OciRequest,
    facts: &Facts,
    operation: Option<&OciOperation>,
) -> String {
    let url = state.public_url(&req.headers, facts.secure);
    if !state.anonymous_access {
        return format!("Basic realm=\"{url}/\",service=\"ecr.amazonaws.com\"");
    }
    let service = url.split_once("://").map_or(url.as_str(), |(_, h)| h);
    let mut c = format!("Bearer realm=\"{url}/v2/token\",service=\"{service}\"");
    if let Some(op) = operation {
        if let Some(repo) = op.repository() {
            let actions = match op.authorization() {
                Authorization::Repository(a) if a.iter().all(|a| PULL_ACTIONS.contains(a)) => {
                    "pull"
                }
                _ => "pull,push",
            };
            c.push_str(&format!(",scope=\"repository:{repo}:{actions}\""));
        }
    }
    c
}

/// The actions of reading operations, for the challenge's scope.
const PULL_ACTIONS: &[&str] = &[
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchCheckLayerAvailability",
    "ecr:ListImages",
];

fn unauthorized(
    state: &AppState,
    req: &OciRequest,
    facts: &Facts,
    operation: Option<&OciOperation>,
    message: String,
) -> OciError {
    OciError::new(OciCode::Unauthorized, message).with_header(
        header::WWW_AUTHENTICATE,
        challenge(state, req, facts, operation),
    )
}

/// Query parameters of the download URLs GetDownloadUrlForLayer hands out.
pub const DOWNLOAD_CREDENTIAL: &str = "X-Portcullis-Credential";
pub const DOWNLOAD_EXPIRES: &str = "X-Portcullis-Expires";
pub const DOWNLOAD_SIGNATURE: &str = "X-Portcullis-Signature";
/// How long a download URL works.
pub const DOWNLOAD_URL_TTL_SECS: i64 = 15 * 60;

/// A request through a download URL. The signature (made when an authorized caller asked for
/// the URL) stands in for that caller's credentials, for GET of that one blob only and until it
/// expires; the request is then authorized as any other, as the key's principal now and with
/// this request's own network facts, so a perimeter or a revocation holds for URLs too.
async fn download_url_caller(
    state: &AppState,
    operation: &OciOperation,
    req: &OciRequest,
    facts: &Facts,
) -> Result<Authenticated, OciError> {
    let key = req.query(DOWNLOAD_CREDENTIAL);
    let refuse = |message: &str| {
        let who = UserIdentity {
            kind: "Unknown".into(),
            access_key_id: key.map(str::to_owned),
            ..UserIdentity::default()
        };
        let mut e = access::event(facts, "registry", "GetDownloadUrlForLayer", who);
        e.repository = operation.repository().map(ToString::to_string);
        e.reference = operation.reference();
        e.decision = "deny".into();
        e.error_code = Some("AccessDenied".into());
        e.error_message = Some(message.to_owned());
        // A refusal stands whether or not it could be written down.
        let _ = state.audit.record(&e);
        OciError::new(OciCode::Denied, message)
    };
    let OciOperation::GetBlob { name, digest } = operation else {
        return Err(refuse(
            "a download URL serves GET of its one blob and nothing else",
        ));
    };
    let (Some(key), Some(expires), Some(signature)) = (
        key,
        req.query(DOWNLOAD_EXPIRES)
            .and_then(|e| e.parse::<i64>().ok()),
        req.query(DOWNLOAD_SIGNATURE),
    ) else {
        return Err(refuse("the download URL is incomplete"));
    };
    let digest = digest.to_string();
    let grant = DownloadGrant {
        repository: name.as_str(),
        digest: &digest,
        access_key_id: key,
        expires,
        signature,
    };
    if !state
        .tokens
        .verify_download(&grant, facts.now_unix, DOWNLOAD_URL_TTL_SECS)
    {
        return Err(refuse(
            "the download URL's signature does not match or the URL has expired",
        ));
    }
    match access::caller_for_key(state, key).await {
        Ok(caller) => Ok(Authenticated {
            caller,
            via: Via::DownloadUrl,
        }),
        Err(AuthFailure::Internal) => Err(OciError::new(OciCode::Unknown, "internal error")),
        Err(_) => Err(refuse(
            "the access key that obtained this download URL is inactive or deleted",
        )),
    }
}

/// Whether the request carries any part of a download URL's credentials.
fn is_download_url(req: &OciRequest) -> bool {
    [DOWNLOAD_CREDENTIAL, DOWNLOAD_EXPIRES, DOWNLOAD_SIGNATURE]
        .iter()
        .any(|k| req.query.contains_key(*k))
}

/// Authenticates the caller and decides the operation's [`Authorization`]. Anonymous callers
/// who are refused get 401 with a challenge, so that clients retry with credentials; known
/// callers get 403 with AWS's explanation. With anonymous access off (the default, as in ECR)
/// a request without credentials is never served.
async fn authorize_request(
    state: &AppState,
    operation: &OciOperation,
    req: &OciRequest,
    facts: &Facts,
) -> Result<Authenticated, OciError> {
    let who = if is_download_url(req) {
        download_url_caller(state, operation, req, facts).await?
    } else {
        match access::authenticate(state, &req.headers).await {
            Ok(who) => who,
            Err(failure) => {
                let message = failure.message();
                access::audit_auth_failure(
                    state,
                    facts,
                    "registry",
                    None,
                    failure.code(),
                    &message,
                );
                return Err(unauthorized(state, req, facts, Some(operation), message));
            }
        }
    };
    let anonymous = matches!(who.caller, Caller::Anonymous);
    let refused = |outcome: &portcullis_auth::Outcome| {
        if anonymous {
            unauthorized(state, req, facts, Some(operation), outcome.denial_message())
        } else {
            OciError::new(OciCode::Denied, outcome.denial_message())
        }
    };
    // With anonymous access on, the base check still challenges a client that sent nothing:
    // that 401 is how docker and `containers/image` learn where to get an (anonymous) token.
    let served_anonymously = state.anonymous_access
        && (operation != &OciOperation::Base || matches!(who.via, Via::AnonymousToken));
    if anonymous && !served_anonymously {
        return Err(unauthorized(
            state,
            req,
            facts,
            Some(operation),
            "authentication required".into(),
        ));
    }
    match operation.authorization() {
        Authorization::Authenticated | Authorization::EachRepository(_) => Ok(who),
        Authorization::Registry(action) => {
            if anonymous {
                // Only the token endpoint is registry-scoped; it hands anonymous clients a
                // token that grants nothing more than no token does.
                return Ok(who);
            }
            let outcome = access::check(
                state,
                &who.caller,
                facts,
                "registry",
                action,
                &Target::Registry,
                None,
                &[],
            )
            .await?;
            if outcome.allowed() {
                Ok(who)
            } else {
                Err(refused(&outcome))
            }
        }
        Authorization::Repository(actions) => {
            let Some(repo) = operation.repository() else {
                return Err(OciError::new(OciCode::Unknown, "internal error"));
            };
            let target = Target::Repository(repo.to_string());
            for action in actions {
                let outcome = access::check(
                    state,
                    &who.caller,
                    facts,
                    "registry",
                    action,
                    &target,
                    operation.reference(),
                    &[],
                )
                .await?;
                if !outcome.allowed() {
                    return Err(refused(&outcome));
                }
            }
            Ok(who)
        }
    }
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
    if state.repositories.get(name.as_str()).await?.is_some() {
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
            Caller::Anonymous => unauthorized(state, req, facts, None, outcome.denial_message()),
            Caller::User { .. } => OciError::new(OciCode::Denied, outcome.denial_message()),
        });
    }
    state.repositories.create_on_push(name).await?;
    Ok(())
}

async fn route(
    state: &AppState,
    operation: OciOperation,
    req: OciRequest,
    body: Body,
    who: &Authenticated,
    facts: &Facts,
) -> OciResult {
    use OciOperation as O;
    let registry = &state.registry;
    let caller = &who.caller;
    let unknown = |reference: &str| {
        OciError::new(
            OciCode::ManifestUnknown,
            format!("`{reference}` is neither a valid tag nor a digest, so no manifest has it"),
        )
    };
    match operation {
        O::Base => Ok((StatusCode::OK, axum::Json(serde_json::json!({}))).into_response()),
        O::Token => token::issue(state, who, facts),
        O::Catalog => listings::catalog(state, &req, caller, facts).await,
        O::ListTags { name } => listings::tags(registry, &name, &req).await,
        O::Referrers { name, digest } => listings::referrers(registry, &name, &digest, &req).await,
        O::GetManifest { name, reference } => match reference {
            ManifestRef::Valid(reference) => {
                manifests::get(registry, &name, &reference, &req).await
            }
            ManifestRef::Invalid(r) => Err(unknown(&r)),
        },
        O::PutManifest { name, reference } => {
            ensure_push_repository(state, &name, &req, caller, facts).await?;
            manifests::put(registry, &name, &reference, &req, body).await
        }
        O::DeleteManifest { name, reference } => match reference {
            ManifestRef::Valid(reference) => manifests::delete(registry, &name, &reference).await,
            ManifestRef::Invalid(r) => Err(unknown(&r)),
        },
        O::GetBlob { name, digest } | O::HeadBlob { name, digest } => {
            blobs::get(registry, &name, &digest, &req).await
        }
        O::DeleteBlob { name, digest } => blobs::delete(registry, &name, &digest).await,
        O::StartUpload { name, .. } => {
            ensure_push_repository(state, &name, &req, caller, facts).await?;
            uploads::start(state, &name, &req, body, caller, facts).await
        }
        O::UploadStatus { name, id } => uploads::status(registry, &name, &id, caller).await,
        O::PatchUpload { name, id } => uploads::patch(state, &name, &id, caller, &req, body).await,
        O::FinishUpload { name, id, .. } => {
            uploads::finish(state, &name, &id, caller, &req, body).await
        }
        O::CancelUpload { name, id } => uploads::cancel(registry, &name, &id, caller).await,
    }
}

/// Builds a header value from text we produced (digests, paths, numbers).
pub(crate) fn hv(s: impl AsRef<str>) -> HeaderValue {
    HeaderValue::from_str(s.as_ref()).unwrap_or_else(|_| HeaderValue::from_static(""))
}
