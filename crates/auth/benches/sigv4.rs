//! SigV4 verification of a typical ECR request (`BatchGetImage`, as `docker pull` through the
//! ECR API would send it with temporary credentials): parse, full verify (signing key derived
//! each time), and verify with a cached signing key.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::{HeaderMap, HeaderValue};
use portcullis_auth::sigv4::{self, SignedRequestParts, SigningParams};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const NOW: i64 = 1_705_320_000;

fn request() -> (HeaderMap, Vec<u8>) {
    let body = br#"{"repositoryName":"team/app","imageIds":[{"imageTag":"v1.2.3"}],"acceptedMediaTypes":["application/vnd.oci.image.manifest.v1+json","application/vnd.docker.distribution.manifest.v2+json"]}"#.to_vec();
    let mut h = HeaderMap::new();
    h.insert(
        "host",
        HeaderValue::from_static("api.ecr.us-east-1.example.internal:5000"),
    );
    h.insert("accept-encoding", HeaderValue::from_static("identity"));
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    h.insert(
        "x-amz-target",
        HeaderValue::from_static("AmazonEC2ContainerRegistry_V20150921.BatchGetImage"),
    );
    h.insert("content-length", HeaderValue::from(body.len()));
    h.insert(
        "user-agent",
        HeaderValue::from_static("aws-cli/2.15.0 Python/3.11.6 Linux/6.5 botocore/2.4.5"),
    );
    let params = SigningParams {
        access_key_id: "ASIAEXAMPLEEXAMPLE00",
        secret_access_key: SECRET,
        session_token: Some("IQoJb3JpZ2luX2VjEXAMPLETOKENAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="),
        region: "us-east-1",
        service: "ecr",
        time_unix: NOW,
    };
    let hash = sigv4::sha256_hex(&body);
    if sigv4::sign(&params, "POST", "/", "", &mut h, &hash).is_err() {
        std::process::exit(1);
    }
    (h, body)
}

fn bench(c: &mut Criterion) {
    let (headers, body) = request();
    let parts = SignedRequestParts::new("POST", "/", "", &headers);
    let hash = sigv4::sha256_hex(&body);
    let Ok(Some(auth)) = sigv4::parse(&parts) else {
        std::process::exit(1);
    };
    let scope = auth.scope();
    let key = sigv4::signing_key(SECRET, scope.date(), scope.region(), scope.service());

    c.bench_function("sigv4/parse", |b| {
        b.iter(|| sigv4::parse(black_box(&parts)))
    });
    c.bench_function("sigv4/verify_ecr_request", |b| {
        b.iter(|| sigv4::verify(black_box(&auth), &parts, Some(&hash), SECRET, NOW, "ecr"))
    });
    c.bench_function("sigv4/verify_with_cached_key", |b| {
        b.iter(|| sigv4::verify_with_key(black_box(&auth), &parts, Some(&hash), &key, NOW, "ecr"))
    });
    c.bench_function("sigv4/parse_and_verify", |b| {
        b.iter(|| {
            let auth = sigv4::parse(black_box(&parts)).ok().flatten();
            auth.map(|a| sigv4::verify(&a, &parts, Some(&hash), SECRET, NOW, "ecr"))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
