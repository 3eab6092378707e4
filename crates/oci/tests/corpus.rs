//! Runs the fuzz targets' invariant checks over the seed corpus in `tests/corpus/`, so every
//! seed and every crash a fuzzer ever found is replayed by an ordinary `cargo test`.

use std::fs;
use std::path::PathBuf;

use portcullis_oci::fuzzing;
use portcullis_oci::manifest::{parse_manifest, ManifestError, ManifestKind};

fn corpus(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
}

fn seed(kind: &str, name: &str) -> Vec<u8> {
    corpus(kind).into_iter().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn manifest_seeds_hold_invariants() {
    for (_, data) in corpus("manifest") {
        fuzzing::manifest_parse(&data);
    }
}

#[test]
fn reference_seeds_hold_invariants() {
    for (_, data) in corpus("reference") {
        fuzzing::reference_parse(&data);
    }
}

#[test]
fn content_range_seeds_hold_invariants() {
    for (_, data) in corpus("content_range") {
        fuzzing::content_range(&data);
    }
}

#[test]
fn real_manifest_seeds_are_accepted_or_refused_as_expected() {
    let kind = |name: &str| parse_manifest(&seed("manifest", name), None).map(|m| m.kind);
    for name in [
        "oci_image.json",
        "oci_artifact_subject.json",
        "docker_v2.json",
    ] {
        assert_eq!(kind(name), Ok(ManifestKind::Image), "{name}");
    }
    for name in [
        "oci_index.json",
        "oci_index_no_media_type.json",
        "docker_list.json",
    ] {
        assert_eq!(kind(name), Ok(ManifestKind::Index), "{name}");
    }
    assert_eq!(
        kind("oci_index_subject_artifact_type.json"),
        Ok(ManifestKind::Index)
    );
    assert_eq!(kind("schema1_signed.json"), Err(ManifestError::Schema1));
    for name in [
        "ambiguous_manifests_and_layers.json",
        "array_form.json",
        "truncated.json",
        "wrong_types.json",
        "garbage.bin",
        "regression_invalid_utf8_in_unknown_field.json",
    ] {
        assert!(
            matches!(kind(name), Err(ManifestError::Invalid(_))),
            "{name}: {:?}",
            kind(name)
        );
    }
    let foreign = parse_manifest(&seed("manifest", "docker_v2_foreign_layer.json"), None).unwrap();
    assert_eq!(foreign.layers.len(), 2);
    assert_eq!(
        foreign.required_blobs().count(),
        2,
        "config and the one local layer"
    );
}
