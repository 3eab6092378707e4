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
        self.config
            .iter()
            .chain(self.layers.iter().filter(|d| !d.is_foreign()))
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
    // serde would also build a struct from a JSON array of its fields in order.
    if !v.is_object() {
        return Err(invalid(format!("`{path}` must be an object")));
    }
    let d: Descriptor =
        serde_json::from_value(v.clone()).map_err(|e| invalid(format!("`{path}`: {e}")))?;
    if !is_media_type(&d.media_type) {
        return Err(invalid(format!(
            "`{path}.mediaType` `{}` is not a media type",
            d.media_type
        )));
    }
    // The image-spec types `size` as int64.
    if i64::try_from(d.size).is_err() {
        return Err(invalid(format!("`{path}.size` is larger than an int64")));
    }
    if let Some(t) = d.artifact_type.as_deref().filter(|t| !t.is_empty()) {
        if !is_media_type(t) {
            return Err(invalid(format!(
                "`{path}.artifactType` `{t}` is not a media type"
            )));
        }
    }
    if let Some(a) = &d.annotations {
        check_annotations(a, &format!("{path}.annotations"))?;
    }
    if let Some(p) = &d.platform {
        check_platform(p, &format!("{path}.platform"))?;
    }
    Ok(d)
}

fn check_annotations(a: &serde_json::Map<String, Value>, path: &str) -> Result<(), ManifestError> {
    if a.values().all(Value::is_string) {
        Ok(())
    } else {
        Err(invalid(format!("`{path}` values must be strings")))
    }
}

/// The image-index `platform` object: `architecture` and `os` are required strings.
fn check_platform(p: &Value, path: &str) -> Result<(), ManifestError> {
    let Value::Object(p) = p else {
        return Err(invalid(format!("`{path}` must be an object")));
    };
    for key in ["architecture", "os"] {
        if !p.get(key).is_some_and(Value::is_string) {
            return Err(invalid(format!("`{path}.{key}` must be a string")));
        }
    }
    for key in ["os.version", "variant"] {
        if p.get(key).is_some_and(|v| !v.is_string()) {
            return Err(invalid(format!("`{path}.{key}` must be a string")));
        }
    }
    for key in ["os.features", "features"] {
        let ok = match p.get(key) {
            None => true,
            Some(Value::Array(items)) => items.iter().all(Value::is_string),
            Some(_) => false,
        };
        if !ok {
            return Err(invalid(format!(
                "`{path}.{key}` must be an array of strings"
            )));
        }
    }
    Ok(())
}

/// RFC 6838 `type/subtype`, each a restricted-name; parameters after `;` are not checked.
fn is_media_type(s: &str) -> bool {
    let base = s.split(';').next().unwrap_or(s).trim_end();
    let restricted_name = |n: &str| {
        let b = n.as_bytes();
        (1..=127).contains(&b.len())
            && b.first().is_some_and(u8::is_ascii_alphanumeric)
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(c))
    };
    base.split_once('/')
        .is_some_and(|(t, sub)| restricted_name(t) && restricted_name(sub))
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
    // A derived `Deserialize` also accepts a JSON array of the fields in order: only an object
    // is a manifest.
    let first = bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(invalid("a manifest is a JSON object"));
    }
    // serde_json skips the strings of unknown fields without checking their UTF-8, so a
    // document that is not JSON at all (RFC 8259 requires UTF-8) would otherwise get through.
    let text = std::str::from_utf8(bytes).map_err(|_| invalid("a manifest is UTF-8 JSON"))?;
    let raw: Raw = serde_json::from_str(text)
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
    let declared_absent = declared.is_none();
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
    let docker = media_type == media_types::DOCKER_MANIFEST_V2
        || media_type == media_types::DOCKER_MANIFEST_LIST;
    if docker && declared_absent {
        // Docker's schema 2 formats require the field, unlike OCI where it is only recommended.
        return Err(invalid(format!(
            "`mediaType` is missing; `{media_type}` requires it"
        )));
    }
    let kind = match media_type.as_str() {
        media_types::OCI_MANIFEST | media_types::DOCKER_MANIFEST_V2 => ManifestKind::Image,
        media_types::OCI_INDEX | media_types::DOCKER_MANIFEST_LIST => ManifestKind::Index,
        other => return Err(ManifestError::UnsupportedMediaType(other.to_owned())),
    };
    let subject = raw
        .subject
        .as_ref()
        .map(|s| descriptor(s, "subject"))
        .transpose()?;
    // The distribution spec treats an empty `artifactType` as a missing one.
    let mut artifact_type =
        opt_string(raw.artifact_type.as_ref(), "artifactType")?.filter(|t| !t.is_empty());
    if let Some(t) = artifact_type.as_deref() {
        if docker {
            return Err(invalid("docker manifests have no `artifactType`"));
        }
        if !is_media_type(t) {
            return Err(invalid(format!("`artifactType` `{t}` is not a media type")));
        }
    }
    let annotations = match raw.annotations {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => {
            check_annotations(&m, "annotations")?;
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
        assert_eq!(
            parse_manifest(s1.as_bytes(), None),
            Err(ManifestError::Schema1)
        );
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
        assert_eq!(
            parse_manifest(&big, None),
            Err(ManifestError::TooLarge(big.len()))
        );
    }

    fn invalid_err(bytes: &[u8], ct: Option<&str>) -> bool {
        matches!(parse_manifest(bytes, ct), Err(ManifestError::Invalid(_)))
    }

    #[test]
    fn rejects_manifest_written_as_json_array() {
        let arr = format!(
            r#"[2,"{}",null,{{"mediaType":"a/b","digest":"{EMPTY}","size":2}},[],null,null,null,null]"#,
            media_types::OCI_MANIFEST
        );
        assert!(invalid_err(arr.as_bytes(), None));
    }

    #[test]
    fn rejects_descriptor_written_as_json_array() {
        let m = image("").replace(
            &format!(r#"{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{EMPTY}","size":2}}"#),
            &format!(r#"["application/vnd.oci.image.config.v1+json","{EMPTY}",2,null,null,null,null]"#),
        );
        assert!(invalid_err(m.as_bytes(), None));
    }

    /// The test image with its config's `"size":2}` replaced by `"size":<size>}`.
    fn config_size(size: &str) -> String {
        image("").replacen(r#""size":2}"#, &format!(r#""size":{size}}}"#), 1)
    }

    #[test]
    fn rejects_size_beyond_int64() {
        assert!(invalid_err(
            config_size("9223372036854775808").as_bytes(),
            None
        ));
        assert!(parse_manifest(config_size("9223372036854775807").as_bytes(), None).is_ok());
    }

    #[test]
    fn rejects_non_string_descriptor_annotations() {
        let bad = config_size(r#"2,"annotations":{"a":1}"#);
        assert!(invalid_err(bad.as_bytes(), None));
        let ok = config_size(r#"2,"annotations":{"a":""}"#);
        assert!(parse_manifest(ok.as_bytes(), None).is_ok());
    }

    #[test]
    fn rejects_media_types_outside_rfc6838() {
        let m = image("").replace("application/vnd.oci.image.layer.v1.tar", "not a media type");
        assert!(invalid_err(m.as_bytes(), None));
        assert!(invalid_err(
            image(r#","artifactType":"nonsense""#).as_bytes(),
            None
        ));
        assert!(is_media_type("application/vnd.example+json; charset=utf-8"));
        assert!(!is_media_type("application/"));
        assert!(!is_media_type("/json"));
    }

    #[test]
    fn empty_artifact_type_falls_back_to_config_media_type() {
        let m = parse_manifest(image(r#","artifactType":"""#).as_bytes(), None).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some(media_types::OCI_CONFIG));
    }

    fn index(media_type: &str, entry_extra: &str, extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{media_type}","manifests":[{{"mediaType":"{}","digest":"{EMPTY}","size":2{entry_extra}}}]{extra}}}"#,
            media_types::OCI_MANIFEST
        )
    }

    #[test]
    fn parses_index_and_docker_list() {
        let plat = r#","platform":{"architecture":"amd64","os":"linux","os.features":["x"]}"#;
        for mt in [media_types::OCI_INDEX, media_types::DOCKER_MANIFEST_LIST] {
            let m = parse_manifest(index(mt, plat, "").as_bytes(), Some(mt)).unwrap();
            assert_eq!(m.kind, ManifestKind::Index);
            assert_eq!(m.manifests.len(), 1);
            assert_eq!(m.required_blobs().count(), 0);
            assert_eq!(m.artifact_type, None);
        }
    }

    #[test]
    fn rejects_malformed_platform() {
        let mt = media_types::OCI_INDEX;
        for bad in [
            r#","platform":"linux""#,
            r#","platform":{"os":"linux"}"#,
            r#","platform":{"architecture":"arm","os":"linux","features":"x"}"#,
        ] {
            assert!(invalid_err(index(mt, bad, "").as_bytes(), None), "{bad}");
        }
    }

    #[test]
    fn docker_manifests_need_media_type_and_have_no_artifact_type() {
        let list = index(
            media_types::DOCKER_MANIFEST_LIST,
            "",
            r#","artifactType":"application/x""#,
        );
        assert!(invalid_err(list.as_bytes(), None));
        let oci_index = index(
            media_types::OCI_INDEX,
            "",
            r#","artifactType":"application/x""#,
        );
        let m = parse_manifest(oci_index.as_bytes(), None).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some("application/x"));
        let bare = image("").replace(
            r#""mediaType":"application/vnd.oci.image.manifest.v1+json","#,
            "",
        );
        assert!(invalid_err(
            bare.as_bytes(),
            Some(media_types::DOCKER_MANIFEST_V2)
        ));
        assert!(parse_manifest(bare.as_bytes(), Some(media_types::OCI_MANIFEST)).is_ok());
    }

    #[test]
    fn content_type_parameters_are_ignored() {
        let ct = "application/vnd.oci.image.manifest.v1+json; charset=utf-8";
        assert!(parse_manifest(image("").as_bytes(), Some(ct)).is_ok());
    }

    #[test]
    fn rejects_invalid_utf8_in_an_unknown_field() {
        let mut m = image(r#","x-unknown":"a?b""#).into_bytes();
        let at = m.iter().position(|&b| b == b'?').unwrap();
        m[at] = 0x8f;
        assert!(invalid_err(&m, None));
    }
}
