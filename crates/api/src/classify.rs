//! Routing of `/v2/...` requests, pure: the path and the method together make one
//! [`OciOperation`], and each operation says how it is authorized ([`Authorization`]). The
//! dispatcher decides that authorization before it routes, and routes only operations, so a
//! route without an authorization decision cannot be written: a new variant does not compile
//! until [`OciOperation::authorization`] names its actions.
//!
//! Repository names may have any number of components, so the path is split from the right at
//! the endpoint's fixed segments instead of being matched by a router pattern.

use axum::http::Method;
use portcullis_oci::{Digest, Reference, RepoName};

/// A manifest reference as the path gave it: GET, HEAD and DELETE of one that does not parse
/// answer MANIFEST_UNKNOWN (nothing can be stored under it), while PUT refuses it as invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRef {
    Valid(Reference),
    Invalid(String),
}

impl std::fmt::Display for ManifestRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManifestRef::Valid(r) => r.fmt(f),
            ManifestRef::Invalid(s) => f.write_str(s),
        }
    }
}

/// How `POST /v2/<name>/blobs/uploads/` is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartKind {
    /// Opens a session (also the fallback of a mount that cannot be made).
    Session,
    /// `?digest=`: the whole blob in this one request.
    Monolithic,
    /// `?mount=` (with or without `from=`).
    Mount,
}

/// One operation of the OCI distribution API (the endpoint and the method), with its path
/// parameters parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OciOperation {
    /// `GET|HEAD /v2/`
    Base,
    /// `GET|POST /v2/token`: the token endpoint of the Docker registry token flow.
    Token,
    /// `GET /v2/_catalog`
    Catalog,
    /// `GET|HEAD /v2/<name>/tags/list`
    ListTags { name: RepoName },
    /// `GET|HEAD /v2/<name>/manifests/<reference>`
    GetManifest {
        name: RepoName,
        reference: ManifestRef,
    },
    /// `PUT /v2/<name>/manifests/<reference>`
    PutManifest {
        name: RepoName,
        reference: Reference,
    },
    /// `DELETE /v2/<name>/manifests/<reference>`
    DeleteManifest {
        name: RepoName,
        reference: ManifestRef,
    },
    /// `GET /v2/<name>/blobs/<digest>`: the one operation a download URL may stand for.
    GetBlob { name: RepoName, digest: Digest },
    /// `HEAD /v2/<name>/blobs/<digest>`
    HeadBlob { name: RepoName, digest: Digest },
    /// `DELETE /v2/<name>/blobs/<digest>`
    DeleteBlob { name: RepoName, digest: Digest },
    /// `POST /v2/<name>/blobs/uploads/`
    StartUpload { name: RepoName, kind: StartKind },
    /// `GET /v2/<name>/blobs/uploads/<id>`
    UploadStatus { name: RepoName, id: String },
    /// `PATCH /v2/<name>/blobs/uploads/<id>`
    PatchUpload { name: RepoName, id: String },
    /// `PUT /v2/<name>/blobs/uploads/<id>`; `with_body`: the last chunk comes with it.
    FinishUpload {
        name: RepoName,
        id: String,
        with_body: bool,
    },
    /// `DELETE /v2/<name>/blobs/uploads/<id>`
    CancelUpload { name: RepoName, id: String },
    /// `GET|HEAD /v2/<name>/referrers/<digest>`
    Referrers { name: RepoName, digest: Digest },
}

/// How an operation is authorized (`../shared/spec/iam-policy.md` section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization {
    /// The base check: the caller must be authenticated, nothing more.
    Authenticated,
    /// An action on the registry (resource `*`).
    Registry(&'static str),
    /// The handler lists repositories and keeps those this action is allowed on, each
    /// decision audited.
    EachRepository(&'static str),
    /// Every one of these actions on the request's repository.
    Repository(&'static [&'static str]),
}

const PULL_LAYER: &[&str] = &["ecr:GetDownloadUrlForLayer"];
const CHECK_LAYER: &[&str] = &["ecr:BatchCheckLayerAvailability"];
const GET_IMAGE: &[&str] = &["ecr:BatchGetImage"];
const DELETE_IMAGE: &[&str] = &["ecr:BatchDeleteImage"];
const PUT_IMAGE: &[&str] = &["ecr:PutImage"];
const LIST_IMAGES: &[&str] = &["ecr:ListImages"];
const INITIATE: &[&str] = &["ecr:InitiateLayerUpload"];
const UPLOAD_PART: &[&str] = &["ecr:UploadLayerPart"];
const COMPLETE: &[&str] = &["ecr:CompleteLayerUpload"];
const PART_AND_COMPLETE: &[&str] = &["ecr:UploadLayerPart", "ecr:CompleteLayerUpload"];
const WHOLE_UPLOAD: &[&str] = &[
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
];

impl OciOperation {
    /// The actions this operation needs. Exhaustive on purpose: see the module docs.
    pub fn authorization(&self) -> Authorization {
        use OciOperation as O;
        match self {
            O::Base => Authorization::Authenticated,
            O::Token => Authorization::Registry("ecr:GetAuthorizationToken"),
            O::Catalog => Authorization::EachRepository("ecr:DescribeRepositories"),
            O::ListTags { .. } => Authorization::Repository(LIST_IMAGES),
            O::GetManifest { .. } | O::Referrers { .. } => Authorization::Repository(GET_IMAGE),
            O::PutManifest { .. } => Authorization::Repository(PUT_IMAGE),
            O::DeleteManifest { .. } | O::DeleteBlob { .. } => {
                Authorization::Repository(DELETE_IMAGE)
            }
            O::GetBlob { .. } => Authorization::Repository(PULL_LAYER),
            O::HeadBlob { .. } => Authorization::Repository(CHECK_LAYER),
            O::StartUpload { kind, .. } => Authorization::Repository(match kind {
                StartKind::Monolithic => WHOLE_UPLOAD,
                StartKind::Session | StartKind::Mount => INITIATE,
            }),
            O::UploadStatus { .. } | O::PatchUpload { .. } | O::CancelUpload { .. } => {
                Authorization::Repository(UPLOAD_PART)
            }
            O::FinishUpload { with_body, .. } => Authorization::Repository(if *with_body {
                PART_AND_COMPLETE
            } else {
                COMPLETE
            }),
        }
    }

    /// The operation name used in logs and metrics labels.
    pub fn name(&self) -> &'static str {
        use OciOperation as O;
        match self {
            O::Base => "base",
            O::Token => "token",
            O::Catalog => "catalog",
            O::ListTags { .. } => "tags",
            O::GetManifest { .. } => "get_manifest",
            O::PutManifest { .. } => "put_manifest",
            O::DeleteManifest { .. } => "delete_manifest",
            O::GetBlob { .. } => "get_blob",
            O::HeadBlob { .. } => "head_blob",
            O::DeleteBlob { .. } => "delete_blob",
            O::StartUpload { .. } => "upload_start",
            O::UploadStatus { .. } => "upload_status",
            O::PatchUpload { .. } => "upload_patch",
            O::FinishUpload { .. } => "upload_finish",
            O::CancelUpload { .. } => "upload_cancel",
            O::Referrers { .. } => "referrers",
        }
    }

    pub fn repository(&self) -> Option<&RepoName> {
        use OciOperation as O;
        match self {
            O::Base | O::Catalog | O::Token => None,
            O::ListTags { name }
            | O::GetManifest { name, .. }
            | O::PutManifest { name, .. }
            | O::DeleteManifest { name, .. }
            | O::GetBlob { name, .. }
            | O::HeadBlob { name, .. }
            | O::DeleteBlob { name, .. }
            | O::StartUpload { name, .. }
            | O::UploadStatus { name, .. }
            | O::PatchUpload { name, .. }
            | O::FinishUpload { name, .. }
            | O::CancelUpload { name, .. }
            | O::Referrers { name, .. } => Some(name),
        }
    }

    /// The manifest reference or blob digest the operation acts on, for the audit log.
    pub fn reference(&self) -> Option<String> {
        use OciOperation as O;
        match self {
            O::GetManifest { reference, .. } | O::DeleteManifest { reference, .. } => {
                Some(reference.to_string())
            }
            O::PutManifest { reference, .. } => Some(reference.to_string()),
            O::GetBlob { digest, .. }
            | O::HeadBlob { digest, .. }
            | O::DeleteBlob { digest, .. }
            | O::Referrers { digest, .. } => Some(digest.to_string()),
            _ => None,
        }
    }
}

/// Why a request is not an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassifyError {
    NotFound,
    /// The path is an endpoint, but not for this method.
    MethodNotAllowed,
    Name(portcullis_oci::Error),
    Reference(portcullis_oci::Error),
}

fn name(s: &str) -> Result<RepoName, ClassifyError> {
    s.parse().map_err(ClassifyError::Name)
}

fn digest(s: &str) -> Result<Digest, ClassifyError> {
    s.parse().map_err(ClassifyError::Reference)
}

/// What of the request besides its path and method decides the operation.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestShape {
    /// `?digest=` is present.
    pub digest: bool,
    /// `?mount=` is present.
    pub mount: bool,
    /// The request announces a body (non-zero `Content-Length`, or chunked).
    pub body: bool,
}

/// Classifies a request by its method and the part of the path after `/v2/`.
pub fn classify(
    method: &Method,
    rest: &str,
    shape: RequestShape,
) -> Result<OciOperation, ClassifyError> {
    use OciOperation as O;
    let m = method;
    let read = m == Method::GET || m == Method::HEAD;
    let only = |ok: bool, op: OciOperation| {
        if ok {
            Ok(op)
        } else {
            Err(ClassifyError::MethodNotAllowed)
        }
    };
    if rest.is_empty() {
        return only(read, O::Base);
    }
    if rest == "_catalog" {
        return only(m == Method::GET, O::Catalog);
    }
    if rest == "token" {
        return only(m == Method::GET || m == Method::POST, O::Token);
    }
    if let Some(n) = rest.strip_suffix("/tags/list") {
        let name = name(n)?;
        return only(read, O::ListTags { name });
    }
    for marker in ["/blobs/uploads/", "/blobs/uploads"] {
        if let Some((n, id)) = rest.rsplit_once(marker) {
            if marker == "/blobs/uploads" && !id.is_empty() {
                continue;
            }
            if id.contains('/') {
                return Err(ClassifyError::NotFound);
            }
            let name = name(n)?;
            if id.is_empty() {
                let kind = if shape.mount {
                    StartKind::Mount
                } else if shape.digest {
                    StartKind::Monolithic
                } else {
                    StartKind::Session
                };
                return only(m == Method::POST, O::StartUpload { name, kind });
            }
            let id = id.to_owned();
            return match *m {
                Method::GET => Ok(O::UploadStatus { name, id }),
                Method::PATCH => Ok(O::PatchUpload { name, id }),
                Method::PUT => Ok(O::FinishUpload {
                    name,
                    id,
                    with_body: shape.body,
                }),
                Method::DELETE => Ok(O::CancelUpload { name, id }),
                _ => Err(ClassifyError::MethodNotAllowed),
            };
        }
    }
    let split = |marker: &str| {
        rest.rsplit_once(marker)
            .filter(|(n, p)| !n.is_empty() && !p.is_empty() && !p.contains('/'))
    };
    if let Some((n, r)) = split("/manifests/") {
        let name = name(n)?;
        let parsed = r.parse::<Reference>();
        if m == Method::PUT {
            let reference = parsed.map_err(ClassifyError::Reference)?;
            return Ok(O::PutManifest { name, reference });
        }
        let reference = match parsed {
            Ok(r) => ManifestRef::Valid(r),
            Err(_) => ManifestRef::Invalid(r.to_owned()),
        };
        return match *m {
            Method::GET | Method::HEAD => Ok(O::GetManifest { name, reference }),
            Method::DELETE => Ok(O::DeleteManifest { name, reference }),
            _ => Err(ClassifyError::MethodNotAllowed),
        };
    }
    if let Some((n, d)) = split("/referrers/") {
        let (name, digest) = (name(n)?, digest(d)?);
        return only(read, O::Referrers { name, digest });
    }
    if let Some((n, d)) = split("/blobs/") {
        let (name, digest) = (name(n)?, digest(d)?);
        return match *m {
            Method::GET => Ok(O::GetBlob { name, digest }),
            Method::HEAD => Ok(O::HeadBlob { name, digest }),
            Method::DELETE => Ok(O::DeleteBlob { name, digest }),
            _ => Err(ClassifyError::MethodNotAllowed),
        };
    }
    Err(ClassifyError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn n(s: &str) -> RepoName {
        s.parse().unwrap()
    }

    fn get(rest: &str) -> Result<OciOperation, ClassifyError> {
        classify(&Method::GET, rest, RequestShape::default())
    }

    #[test]
    fn classifies_every_endpoint() {
        assert_eq!(get(""), Ok(OciOperation::Base));
        assert_eq!(get("_catalog"), Ok(OciOperation::Catalog));
        assert_eq!(get("token"), Ok(OciOperation::Token));
        assert_eq!(
            get("a/b/tags/list"),
            Ok(OciOperation::ListTags { name: n("a/b") })
        );
        assert_eq!(
            get("team/app/api/manifests/latest"),
            Ok(OciOperation::GetManifest {
                name: n("team/app/api"),
                reference: ManifestRef::Valid("latest".parse().unwrap())
            })
        );
        assert_eq!(
            get(&format!("a/blobs/{D}")),
            Ok(OciOperation::GetBlob {
                name: n("a"),
                digest: D.parse().unwrap()
            })
        );
        for path in ["a/blobs/uploads/", "a/blobs/uploads"] {
            assert_eq!(
                classify(&Method::POST, path, RequestShape::default()),
                Ok(OciOperation::StartUpload {
                    name: n("a"),
                    kind: StartKind::Session
                })
            );
        }
        assert_eq!(
            classify(
                &Method::PATCH,
                "a/blobs/uploads/1234-ab",
                RequestShape::default()
            ),
            Ok(OciOperation::PatchUpload {
                name: n("a"),
                id: "1234-ab".into()
            })
        );
        assert_eq!(
            get(&format!("x/y/referrers/{D}")),
            Ok(OciOperation::Referrers {
                name: n("x/y"),
                digest: D.parse().unwrap()
            })
        );
    }

    #[test]
    fn names_may_contain_endpoint_words() {
        assert_eq!(
            get("blobs/manifests/manifests/v1"),
            Ok(OciOperation::GetManifest {
                name: n("blobs/manifests"),
                reference: ManifestRef::Valid("v1".parse().unwrap())
            })
        );
    }

    #[test]
    fn an_invalid_reference_is_unknown_to_reads_and_invalid_to_put() {
        for m in [Method::GET, Method::HEAD] {
            assert_eq!(
                classify(&m, "a/manifests/.INVALID", RequestShape::default()),
                Ok(OciOperation::GetManifest {
                    name: n("a"),
                    reference: ManifestRef::Invalid(".INVALID".into())
                })
            );
        }
        assert_eq!(
            classify(
                &Method::DELETE,
                "a/manifests/.INVALID",
                RequestShape::default()
            ),
            Ok(OciOperation::DeleteManifest {
                name: n("a"),
                reference: ManifestRef::Invalid(".INVALID".into())
            })
        );
        assert!(matches!(
            classify(
                &Method::PUT,
                "a/manifests/.INVALID",
                RequestShape::default()
            ),
            Err(ClassifyError::Reference(_))
        ));
    }

    #[test]
    fn rejects_bad_parts() {
        assert!(matches!(
            get("A/manifests/latest"),
            Err(ClassifyError::Name(_))
        ));
        assert!(matches!(
            get("a/blobs/latest"),
            Err(ClassifyError::Reference(_))
        ));
        assert_eq!(get("a/unknown"), Err(ClassifyError::NotFound));
        assert_eq!(get("a/manifests/"), Err(ClassifyError::NotFound));
    }

    /// Every method on every endpoint: either an operation or 405, never a path through.
    #[test]
    fn every_method_of_every_route_is_decided() {
        let paths = [
            String::new(),
            "_catalog".into(),
            "token".into(),
            "a/tags/list".into(),
            "a/manifests/v1".into(),
            format!("a/blobs/{D}"),
            "a/blobs/uploads/".into(),
            "a/blobs/uploads/x1".into(),
            format!("a/referrers/{D}"),
        ];
        let methods = [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
            Method::TRACE,
            Method::CONNECT,
            Method::from_bytes(b"PROPFIND").unwrap(),
        ];
        let mut served = 0;
        for path in &paths {
            for m in &methods {
                match classify(m, path, RequestShape::default()) {
                    Ok(op) => {
                        served += 1;
                        // An operation on a repository names at least one action.
                        if op.repository().is_some() {
                            assert!(
                                matches!(op.authorization(), Authorization::Repository(a) if !a.is_empty()),
                                "{m} {path}"
                            );
                        }
                    }
                    Err(e) => assert_eq!(e, ClassifyError::MethodNotAllowed, "{m} {path}"),
                }
            }
        }
        assert_eq!(served, 21);
    }

    #[test]
    fn actions_follow_the_spec_table() {
        let shape = |digest, mount, body| RequestShape {
            digest,
            mount,
            body,
        };
        type Case<'a> = (&'a str, Method, RequestShape, Authorization);
        let blob = format!("a/blobs/{D}");
        let referrers = format!("a/referrers/{D}");
        let cases: &[Case] = &[
            (
                "",
                Method::GET,
                shape(false, false, false),
                Authorization::Authenticated,
            ),
            (
                "token",
                Method::GET,
                shape(false, false, false),
                Authorization::Registry("ecr:GetAuthorizationToken"),
            ),
            (
                "_catalog",
                Method::GET,
                shape(false, false, false),
                Authorization::EachRepository("ecr:DescribeRepositories"),
            ),
            (
                &blob,
                Method::HEAD,
                shape(false, false, false),
                Authorization::Repository(CHECK_LAYER),
            ),
            (
                &blob,
                Method::GET,
                shape(false, false, false),
                Authorization::Repository(PULL_LAYER),
            ),
            (
                &blob,
                Method::DELETE,
                shape(false, false, false),
                Authorization::Repository(DELETE_IMAGE),
            ),
            (
                "a/blobs/uploads/",
                Method::POST,
                shape(false, false, false),
                Authorization::Repository(INITIATE),
            ),
            (
                "a/blobs/uploads/",
                Method::POST,
                shape(true, false, true),
                Authorization::Repository(WHOLE_UPLOAD),
            ),
            (
                "a/blobs/uploads/",
                Method::POST,
                shape(true, true, false),
                Authorization::Repository(INITIATE),
            ),
            (
                "a/blobs/uploads/x1",
                Method::PATCH,
                shape(false, false, true),
                Authorization::Repository(UPLOAD_PART),
            ),
            (
                "a/blobs/uploads/x1",
                Method::PUT,
                shape(true, false, false),
                Authorization::Repository(COMPLETE),
            ),
            (
                "a/blobs/uploads/x1",
                Method::PUT,
                shape(true, false, true),
                Authorization::Repository(PART_AND_COMPLETE),
            ),
            (
                "a/blobs/uploads/x1",
                Method::GET,
                shape(false, false, false),
                Authorization::Repository(UPLOAD_PART),
            ),
            (
                "a/blobs/uploads/x1",
                Method::DELETE,
                shape(false, false, false),
                Authorization::Repository(UPLOAD_PART),
            ),
            (
                "a/manifests/v1",
                Method::HEAD,
                shape(false, false, false),
                Authorization::Repository(GET_IMAGE),
            ),
            (
                "a/manifests/v1",
                Method::PUT,
                shape(false, false, true),
                Authorization::Repository(PUT_IMAGE),
            ),
            (
                "a/manifests/v1",
                Method::DELETE,
                shape(false, false, false),
                Authorization::Repository(DELETE_IMAGE),
            ),
            (
                "a/tags/list",
                Method::GET,
                shape(false, false, false),
                Authorization::Repository(LIST_IMAGES),
            ),
            (
                &referrers,
                Method::GET,
                shape(false, false, false),
                Authorization::Repository(GET_IMAGE),
            ),
        ];
        for (path, method, shape, want) in cases {
            let op = classify(method, path, *shape).unwrap();
            assert_eq!(op.authorization(), *want, "{method} {path}");
        }
    }
}
