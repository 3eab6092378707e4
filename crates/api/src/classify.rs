//! Routing of `/v2/...` paths, pure. Repository names may have any number of components, so
//! the path is split from the right at the endpoint's fixed segments instead of being matched
//! by a router pattern.

use portcullis_oci::{Digest, Reference, RepoName};

/// One endpoint of the OCI distribution API, with its path parameters parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OciEndpoint {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/token`: the Bearer token endpoint of the Docker token flow.
    Token,
    /// `/v2/<name>/tags/list`
    Tags { name: RepoName },
    /// `/v2/<name>/manifests/<reference>`
    Manifest {
        name: RepoName,
        reference: Reference,
    },
    /// `/v2/<name>/blobs/<digest>`
    Blob { name: RepoName, digest: Digest },
    /// `/v2/<name>/blobs/uploads/`
    UploadStart { name: RepoName },
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload { name: RepoName, id: String },
    /// `/v2/<name>/referrers/<digest>`
    Referrers { name: RepoName, digest: Digest },
}

impl OciEndpoint {
    /// The operation name used in logs and metrics labels.
    pub fn operation(&self) -> &'static str {
        match self {
            OciEndpoint::Base => "base",
            OciEndpoint::Catalog => "catalog",
            OciEndpoint::Token => "token",
            OciEndpoint::Tags { .. } => "tags",
            OciEndpoint::Manifest { .. } => "manifest",
            OciEndpoint::Blob { .. } => "blob",
            OciEndpoint::UploadStart { .. } => "upload_start",
            OciEndpoint::Upload { .. } => "upload",
            OciEndpoint::Referrers { .. } => "referrers",
        }
    }

    pub fn repository(&self) -> Option<&RepoName> {
        match self {
            OciEndpoint::Base | OciEndpoint::Catalog | OciEndpoint::Token => None,
            OciEndpoint::Tags { name }
            | OciEndpoint::Manifest { name, .. }
            | OciEndpoint::Blob { name, .. }
            | OciEndpoint::UploadStart { name }
            | OciEndpoint::Upload { name, .. }
            | OciEndpoint::Referrers { name, .. } => Some(name),
        }
    }
}

/// Why a path is not an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassifyError {
    NotFound,
    Name(portcullis_oci::Error),
    Reference(portcullis_oci::Error),
}

fn name(s: &str) -> Result<RepoName, ClassifyError> {
    s.parse().map_err(ClassifyError::Name)
}

fn digest(s: &str) -> Result<Digest, ClassifyError> {
    s.parse().map_err(ClassifyError::Reference)
}

/// Classifies the part of the path after `/v2/`.
pub fn classify(rest: &str) -> Result<OciEndpoint, ClassifyError> {
    if rest.is_empty() {
        return Ok(OciEndpoint::Base);
    }
    if rest == "_catalog" {
        return Ok(OciEndpoint::Catalog);
    }
    if rest == "token" {
        return Ok(OciEndpoint::Token);
    }
    if let Some(n) = rest.strip_suffix("/tags/list") {
        return Ok(OciEndpoint::Tags { name: name(n)? });
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
            return Ok(if id.is_empty() {
                OciEndpoint::UploadStart { name }
            } else {
                OciEndpoint::Upload {
                    name,
                    id: id.to_owned(),
                }
            });
        }
    }
    let split = |marker: &str| {
        rest.rsplit_once(marker)
            .filter(|(n, p)| !n.is_empty() && !p.is_empty() && !p.contains('/'))
    };
    if let Some((n, r)) = split("/manifests/") {
        let reference = r.parse().map_err(ClassifyError::Reference)?;
        return Ok(OciEndpoint::Manifest {
            name: name(n)?,
            reference,
        });
    }
    if let Some((n, d)) = split("/referrers/") {
        return Ok(OciEndpoint::Referrers {
            name: name(n)?,
            digest: digest(d)?,
        });
    }
    if let Some((n, d)) = split("/blobs/") {
        return Ok(OciEndpoint::Blob {
            name: name(n)?,
            digest: digest(d)?,
        });
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

    #[test]
    fn classifies_every_endpoint() {
        assert_eq!(classify(""), Ok(OciEndpoint::Base));
        assert_eq!(classify("_catalog"), Ok(OciEndpoint::Catalog));
        assert_eq!(
            classify("a/b/tags/list"),
            Ok(OciEndpoint::Tags { name: n("a/b") })
        );
        assert_eq!(
            classify("team/app/api/manifests/latest"),
            Ok(OciEndpoint::Manifest {
                name: n("team/app/api"),
                reference: "latest".parse().unwrap()
            })
        );
        assert_eq!(
            classify(&format!("a/blobs/{D}")),
            Ok(OciEndpoint::Blob {
                name: n("a"),
                digest: D.parse().unwrap()
            })
        );
        assert_eq!(
            classify("a/blobs/uploads/"),
            Ok(OciEndpoint::UploadStart { name: n("a") })
        );
        assert_eq!(
            classify("a/blobs/uploads"),
            Ok(OciEndpoint::UploadStart { name: n("a") })
        );
        assert_eq!(
            classify("a/blobs/uploads/1234-ab"),
            Ok(OciEndpoint::Upload {
                name: n("a"),
                id: "1234-ab".into()
            })
        );
        assert_eq!(
            classify(&format!("x/y/referrers/{D}")),
            Ok(OciEndpoint::Referrers {
                name: n("x/y"),
                digest: D.parse().unwrap()
            })
        );
    }

    #[test]
    fn names_may_contain_endpoint_words() {
        assert_eq!(
            classify("blobs/manifests/manifests/v1"),
            Ok(OciEndpoint::Manifest {
                name: n("blobs/manifests"),
                reference: "v1".parse().unwrap()
            })
        );
    }

    #[test]
    fn rejects_bad_parts() {
        assert!(matches!(
            classify("A/manifests/latest"),
            Err(ClassifyError::Name(_))
        ));
        assert!(matches!(
            classify("a/manifests/bad:digest"),
            Err(ClassifyError::Reference(_))
        ));
        assert!(matches!(
            classify("a/blobs/latest"),
            Err(ClassifyError::Reference(_))
        ));
        assert_eq!(classify("a/unknown"), Err(ClassifyError::NotFound));
        assert_eq!(classify("a/manifests/"), Err(ClassifyError::NotFound));
    }
}
