//! Manifest classification and validation: what a registry must know about a manifest before it
//! stores it (its media type, the blobs and child manifests it references, its subject and
//! artifact type), without keeping anything but the original bytes.

use serde::Deserialize;
use serde_json::Value;

use crate::media_types::{self, is_schema1};
use crate::Digest;

/// Largest manifest the registry accepts (the spec says registries should accept at least 4 MiB).
pub const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest invalid: {0}")]
    Invalid(String),
    #[error("manifest is {0} bytes, larger than the 4 MiB limit")]
    TooLarge(usize),
    #[error(
        "docker schema 1 manifests are not supported: push with a current client, which sends schema 2 or OCI"
    )]
    Schema1,
    #[error("unsupported manifest media type `{0}`")]
    UnsupportedMediaType(String),
}

/// Whether a manifest describes one image (or artifact) or a list of manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    Image,
    Index,
}

/// A content descriptor as it appears in manifests.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Value>,
}

impl Descriptor {
    /// Non-distributable layers live elsewhere (their `urls`); the registry need not hold them.
    pub fn is_foreign(&self) -> bool {
        self.urls.as_ref().is_some_and(|u| !u.is_empty())
            && (self.media_type.contains("foreign") || self.media_type.contains("nondistributable"))
    }
}

/// What the registry learned from a manifest's bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedManifest {
    pub media_type: String,
    pub kind: ManifestKind,
    /// The config blob of an image manifest.
    pub config: Option<Descriptor>,
    /// Layers (image) or blobs (artifact) that must exist in the repository.
    pub layers: Vec<Descriptor>,
    /// Child manifests of an index that must exist in the repository.
    pub manifests: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    /// `artifactType`, or for an image manifest without one, its config media type (the
    /// referrers API reports that).
    pub artifact_type: Option<String>,
    pub annotations: Option<serde_json::Map<String, Value>>,
}

impl ParsedManifest {
    /// Every blob the registry must hold for this manifest to be accepted.
    pub fn required_blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(self.layers.iter().filter(|d| !d.is_foreign()))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<Value>,
    media_type: Option<Value>,
    artifact_type: Option<Value>,
    config: Option<Value>,
    layers: Option<Value>,
    manifests: Option<Value>,
    subject: Option<Value>,
    annotations: Option<Value>,
    // schema 1 marker fields
    fs_layers: Option<Value>,
}

fn invalid(msg: impl Into<String>) -> ManifestError {
    ManifestError::Invalid(msg.into())
}

fn descriptor(v: &Value, path: &str) -> Result<Descriptor, ManifestError> {
    serde_json::from_value(v.clone()).map_err(|e| invalid(format!("`{path}`: {e}")))
}

fn descriptors(v: Option<&Value>, path: &str) -> Result<Vec<Descriptor>, ManifestError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, d)| descriptor(d, &format!("{path}[{i}]")))
            .collect(),
        Some(_) => Err(invalid(format!("`{path}` must be an array"))),
    }
}

fn opt_string(v: Option<&Value>, path: &str) -> Result<Option<String>, ManifestError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("`{path}` must be a string"))),
    }
}

/// Parses and checks a manifest. `content_type` is the request's `Content-Type`; when both it and
/// the manifest's `mediaType` are given they must agree.
pub fn parse_manifest(
    bytes: &[u8],
    content_type: Option<&str>,
) -> Result<ParsedManifest, ManifestError> {
    if bytes.len() > MAX_MANIFEST_SIZE {
        return Err(ManifestError::TooLarge(bytes.len()));
    }
    let content_type = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim())
        .filter(|c| !c.is_empty());
    if content_type.is_some_and(is_schema1) {
        return Err(ManifestError::Schema1);
    }
    let raw: Raw = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("not a JSON manifest object: {e}")))?;
    if raw.fs_layers.is_some() {
        return Err(ManifestError::Schema1);
    }
    match &raw.schema_version {
        Some(Value::Number(n)) if n.as_u64() == Some(2) => {}
        Some(Value::Number(n)) if n.as_u64() == Some(1) => return Err(ManifestError::Schema1),
        Some(_) => return Err(invalid("`schemaVersion` must be 2")),
        None => return Err(invalid("`schemaVersion` is missing")),
    }
    let declared = opt_string(raw.media_type.as_ref(), "mediaType")?;
    if let (Some(d), Some(c)) = (declared.as_deref(), content_type) {
        if d != c && media_types::MANIFEST_TYPES.contains(&c) {
            return Err(invalid(format!(
                "`mediaType` `{d}` does not match the Content-Type `{c}`"
            )));
        }
    }
    let media_type = match (declared, content_type) {
        (Some(d), _) => d,
        (None, Some(c)) if media_types::MANIFEST_TYPES.contains(&c) => c.to_owned(),
        // Neither says: OCI allows an absent mediaType, so infer it from the shape.
        _ if raw.manifests.is_some() => media_types::OCI_INDEX.to_owned(),
        _ => media_types::OCI_MANIFEST.to_owned(),
    };
    if is_schema1(&media_type) {
        return Err(ManifestError::Schema1);
    }
    let kind = match media_type.as_str() {
        media_types::OCI_MANIFEST | media_types::DOCKER_MANIFEST_V2 => ManifestKind::Image,
        media_types::OCI_INDEX | media_types::DOCKER_MANIFEST_LIST => ManifestKind::Index,
        other => return Err(ManifestError::UnsupportedMediaType(other.to_owned())),
    };
    let subject = raw.subject.as_ref().map(|s| descriptor(s, "subject")).transpose()?;
    let mut artifact_type = opt_string(raw.artifact_type.as_ref(), "artifactType")?;
    let annotations = match raw.annotations {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => {
            if !m.values().all(Value::is_string) {
                return Err(invalid("`annotations` values must be strings"));
            }
            Some(m)
        }
        Some(_) => return Err(invalid("`annotations` must be an object")),
    };
    match kind {
        ManifestKind::Image => {
            if raw.manifests.is_some() {
                return Err(invalid("an image manifest has no `manifests`"));
            }
            let config = raw
                .config
                .as_ref()
                .ok_or_else(|| invalid("`config` is missing"))
                .and_then(|c| descriptor(c, "config"))?;
            let layers = match raw.layers.as_ref() {
                Some(l) => descriptors(Some(l), "layers")?,
                None => return Err(invalid("`layers` is missing")),
            };
            if media_type == media_types::DOCKER_MANIFEST_V2 && artifact_type.is_some() {
                return Err(invalid("docker manifests have no `artifactType`"));
            }
            if artifact_type.is_none() {
                artifact_type = Some(config.media_type.clone());
            }
            Ok(ParsedManifest {
                media_type,
                kind,
                config: Some(config),
                layers,
                manifests: Vec::new(),
                subject,
                artifact_type,
                annotations,
            })
        }
        ManifestKind::Index => {
            if raw.config.is_some() || raw.layers.is_some() {
                return Err(invalid("an index has no `config` or `layers`"));
            }
            let manifests = match raw.manifests.as_ref() {
                Some(m) => descriptors(Some(m), "manifests")?,
                None => return Err(invalid("`manifests` is missing")),
            };
            Ok(ParsedManifest {
                media_type,
                kind,
                config: None,
                layers: Vec::new(),
                manifests,
                subject,
                artifact_type,
                annotations,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{EMPTY}","size":2}},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{EMPTY}","size":2}}]{extra}}}"#
        )
    }

    #[test]
    fn parses_oci_image() {
        let m = parse_manifest(image("").as_bytes(), Some(media_types::OCI_MANIFEST)).unwrap();
        assert_eq!(m.kind, ManifestKind::Image);
        assert_eq!(m.required_blobs().count(), 2);
        assert_eq!(m.artifact_type.as_deref(), Some(media_types::OCI_CONFIG));
    }

    #[test]
    fn subject_and_artifact_type_are_read() {
        let extra = format!(
            r#","artifactType":"application/x-sig","subject":{{"mediaType":"{}","digest":"{EMPTY}","size":2}}"#,
            media_types::OCI_MANIFEST
        );
        let m = parse_manifest(image(&extra).as_bytes(), None).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some("application/x-sig"));
        assert!(m.subject.is_some());
    }

    #[test]
    fn refuses_schema1_and_mismatch() {
        let s1 = r#"{"schemaVersion":1,"name":"a","tag":"b","fsLayers":[]}"#;
        assert_eq!(parse_manifest(s1.as_bytes(), None), Err(ManifestError::Schema1));
        assert_eq!(
            parse_manifest(b"{}", Some(media_types::DOCKER_MANIFEST_V1_SIGNED)),
            Err(ManifestError::Schema1)
        );
        let err = parse_manifest(image("").as_bytes(), Some(media_types::OCI_INDEX));
        assert!(matches!(err, Err(ManifestError::Invalid(_))));
    }

    #[test]
    fn refuses_garbage_and_oversize() {
        assert!(parse_manifest(b"not json", None).is_err());
        assert!(parse_manifest(b"[]", None).is_err());
        let big = vec![b' '; MAX_MANIFEST_SIZE + 1];
        assert_eq!(parse_manifest(&big, None), Err(ManifestError::TooLarge(big.len())));
    }
}
