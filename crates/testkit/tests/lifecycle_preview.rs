//! Lifecycle policy previews against a running server: boto3 drives Start and Get with every
//! raw response checked against botocore's model (`lifecycle_preview.py`, on `ecr_boto.py`'s
//! validating client), and the ECR user guide's examples ("Examples of lifecycle policies")
//! that count images are previewed with the aws CLI and then run with `portcullis lifecycle
//! run`, which must leave exactly the images the preview did not list. The guide's examples
//! that count days cannot wait days between pushes: they run in core's unit tests
//! (`registry/preview.rs`) with push times set in the store.

use std::collections::{BTreeSet, HashMap};

use portcullis_testkit::fixtures::{
    oci_manifest, to_bytes, Blob, Registry, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST,
};
use portcullis_testkit::scenario::assert_script_passes;
use portcullis_testkit::scenario::{admin, start};
use portcullis_testkit::TestServer;
use serde_json::Value;

#[test]
fn start_and_get_through_boto3_match_the_model() {
    let server = TestServer::start();
    assert_script_passes(&server, "lifecycle_preview.py");
}

/// An example of the guide: a policy, images pushed in this order (oldest first) with their
/// tags (none: untagged), and the images it expires with the rule that does.
struct Example {
    name: &'static str,
    policy: &'static str,
    images: &'static [(&'static str, &'static [&'static str])],
    expired: &'static [(&'static str, u64)],
}

const EXAMPLES: &[Example] = &[
    // "Filtering on image count" gives only the policy: the images are ours.
    Example {
        name: "image-count",
        policy: r#"{"rules":[{"rulePriority":1,"description":"Keep only one untagged image, expire all others","selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
        images: &[("u1", &[]), ("v1", &["v1"]), ("u2", &[]), ("u3", &[])],
        expired: &[("u1", 1), ("u2", 1)],
    },
    Example {
        name: "multiple-rules-a",
        policy: r#"{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"tagged","tagPrefixList":["beta"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
        images: &[
            ("A", &["beta-1", "prod-1"]),
            ("B", &["beta-2", "prod-2"]),
            ("C", &["beta-3"]),
        ],
        expired: &[("A", 1)],
    },
    // The current guide writes example A with patterns.
    Example {
        name: "multiple-rules-a-patterns",
        policy: r#"{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"tagged","tagPatternList":["beta*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
        images: &[
            ("A", &["beta-1", "prod-1"]),
            ("B", &["beta-2", "prod-2"]),
            ("C", &["beta-3"]),
        ],
        expired: &[("A", 1)],
    },
    Example {
        name: "multiple-rules-b",
        policy: r#"{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPrefixList":["beta"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
        images: &[
            ("A", &["beta-1", "prod-1"]),
            ("B", &["beta-2", "prod-2"]),
            ("C", &["beta-3"]),
        ],
        expired: &[("A", 1), ("B", 1)],
    },
    Example {
        name: "multiple-tags-b",
        policy: r#"{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPrefixList":["alpha","beta"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
        images: &[
            ("A", &["alpha-1", "beta-1", "gamma-1"]),
            ("B", &["alpha-2", "beta-2"]),
            ("C", &["alpha-3", "beta-3", "gamma-2"]),
        ],
        expired: &[("A", 1), ("B", 1)],
    },
    Example {
        name: "all-images-a",
        policy: r#"{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
        images: &[
            ("A", &["alpha-1"]),
            ("B", &["beta-1"]),
            ("C", &[]),
            ("D", &["alpha-2"]),
        ],
        expired: &[("A", 1), ("B", 1), ("C", 1)],
    },
];

/// Pushes an image with `tags` (the first push creates it, each further tag points at it);
/// without tags it is pushed by digest. Returns its digest.
fn push(reg: &Registry, repo: &str, tags: &[&str]) -> String {
    let config = Blob::config(OCI_CONFIG);
    let layer = Blob::random(64, OCI_LAYER);
    reg.push(repo, &config);
    reg.push(repo, &layer);
    let manifest = to_bytes(&oci_manifest(&config, &[&layer]));
    let digest = portcullis_testkit::fixtures::sha256_digest(&manifest);
    let references: Vec<&str> = if tags.is_empty() {
        vec![&digest]
    } else {
        tags.to_vec()
    };
    for reference in references {
        reg.push_manifest(repo, reference, OCI_MANIFEST, &manifest);
    }
    digest
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The preview's results as (image name, rule), oldest push first, checking the summary.
fn previewed(server: &TestServer, repo: &str, names: &HashMap<String, &str>) -> Vec<(String, u64)> {
    let out = json(&admin(
        server,
        &[
            "ecr",
            "get-lifecycle-policy-preview",
            "--repository-name",
            repo,
        ],
    ));
    assert_eq!(out["status"], "COMPLETE", "{out}");
    let results = out["previewResults"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        out["summary"]["expiringImageTotalCount"].as_u64(),
        Some(results.len() as u64),
        "{out}"
    );
    results
        .iter()
        .map(|r| {
            assert_eq!(r["action"]["type"], "EXPIRE", "{r}");
            let digest = r["imageDigest"].as_str().unwrap_or_default();
            let name = names
                .get(digest)
                .unwrap_or_else(|| panic!("unknown digest in {r}"));
            (
                name.to_string(),
                r["appliedRulePriority"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn digests_left(server: &TestServer, repo: &str) -> BTreeSet<String> {
    let out = json(&admin(
        server,
        &["ecr", "describe-images", "--repository-name", repo],
    ));
    out["imageDetails"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["imageDigest"].as_str().map(str::to_owned))
        .collect()
}

fn lifecycle_run(server: &TestServer, repo: &str) -> String {
    let config = server
        .data_dir()
        .parent()
        .expect("data dir has a parent")
        .join("portcullis.toml");
    let out = server
        .command()
        .args(["lifecycle", "run", "--repository", repo, "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(server.data_dir())
        .output()
        .expect("portcullis lifecycle run");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "lifecycle run: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_user_guide_examples_preview_what_a_run_then_expires() {
    let server = start("");
    let reg = Registry::new(&server);
    for example in EXAMPLES {
        let repo = format!("examples/{}", example.name);
        let mut names: HashMap<String, &str> = HashMap::new();
        for (name, tags) in example.images {
            names.insert(push(&reg, &repo, tags), name);
            // Push times are in milliseconds: apart, so that "newest" is well defined.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let want: Vec<(String, u64)> = example
            .expired
            .iter()
            .map(|(n, r)| (n.to_string(), *r))
            .collect();

        // A candidate, before the repository has a policy of its own.
        let started = json(&admin(
            &server,
            &[
                "ecr",
                "start-lifecycle-policy-preview",
                "--repository-name",
                &repo,
                "--lifecycle-policy-text",
                example.policy,
            ],
        ));
        assert_eq!(started["status"], "COMPLETE", "{}: {started}", example.name);
        assert_eq!(
            previewed(&server, &repo, &names),
            want,
            "{}: candidate",
            example.name
        );

        // The stored policy, as a run will apply it.
        admin(
            &server,
            &[
                "ecr",
                "put-lifecycle-policy",
                "--repository-name",
                &repo,
                "--lifecycle-policy-text",
                example.policy,
            ],
        );
        admin(
            &server,
            &[
                "ecr",
                "start-lifecycle-policy-preview",
                "--repository-name",
                &repo,
            ],
        );
        assert_eq!(
            previewed(&server, &repo, &names),
            want,
            "{}: stored",
            example.name
        );
        assert_eq!(
            digests_left(&server, &repo).len(),
            example.images.len(),
            "{}: a preview expires nothing",
            example.name
        );

        let out = lifecycle_run(&server, &repo);
        assert!(
            out.contains(&format!("expired {} images", example.expired.len())),
            "{}: {out}",
            example.name
        );
        let expired: BTreeSet<&str> = example.expired.iter().map(|(n, _)| *n).collect();
        let kept: BTreeSet<String> = names
            .iter()
            .filter(|(_, n)| !expired.contains(**n))
            .map(|(d, _)| d.clone())
            .collect();
        assert_eq!(
            digests_left(&server, &repo),
            kept,
            "{}: what the run left",
            example.name
        );
    }
}
