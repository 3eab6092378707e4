//! The ECR test vector of `shared/spec/ecr-api.md` 3.3, and every rejection `verify` makes,
//! each with the AWS error code and message the SDKs expect.

use http::{HeaderMap, HeaderValue};
use portcullis_auth::sigv4::{
    self, presign, sign, Protocol, SigV4Auth, SigV4Error, SignedRequestParts, SigningParams,
};

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const BODY: &[u8] = br#"{"repositoryName": "team/app"}"#;
/// 2024-01-15T12:00:00Z.
const NOW: i64 = 1_705_320_000;
const SIGNATURE: &str = "eae570f7ce28878700aef3a8e700f228b3eaf644c24a954c56704fcc8c257641";
const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240115/us-east-1/ecr/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=eae570f7ce28878700aef3a8e700f228b3eaf644c24a954c56704fcc8c257641";

fn base_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("127.0.0.1:5000"));
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    h.insert(
        "x-amz-target",
        HeaderValue::from_static("AmazonEC2ContainerRegistry_V20150921.CreateRepository"),
    );
    h
}

fn spec_request() -> HeaderMap {
    let mut h = base_headers();
    h.insert("x-amz-date", HeaderValue::from_static("20240115T120000Z"));
    h.insert("authorization", HeaderValue::from_static(AUTHORIZATION));
    h
}

fn parts(h: &HeaderMap) -> SignedRequestParts<'_> {
    SignedRequestParts::new("POST", "/", "", h)
}

fn auth_of(h: &HeaderMap) -> SigV4Auth {
    sigv4::parse(&parts(h)).unwrap().unwrap()
}

fn body_hash() -> String {
    sigv4::sha256_hex(BODY)
}

#[test]
fn spec_vector_canonical_request_string_to_sign_and_signature() {
    let h = spec_request();
    let auth = auth_of(&h);
    assert_eq!(auth.access_key_id(), AKID);
    assert_eq!(
        auth.scope().to_string(),
        "20240115/us-east-1/ecr/aws4_request"
    );
    assert_eq!(
        body_hash(),
        "9b1852142e2b4da66bf563491d28e3aa424f81bc531df655b8893704aa543c83"
    );

    let creq = sigv4::canonical_request(&auth, &parts(&h), &body_hash());
    assert_eq!(
        String::from_utf8(creq.clone()).unwrap(),
        "POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:127.0.0.1:5000\n\
         x-amz-date:20240115T120000Z\n\
         x-amz-target:AmazonEC2ContainerRegistry_V20150921.CreateRepository\n\n\
         content-type;host;x-amz-date;x-amz-target\n\
         9b1852142e2b4da66bf563491d28e3aa424f81bc531df655b8893704aa543c83"
    );
    let sts = sigv4::string_to_sign(&auth, &creq);
    assert_eq!(
        sts,
        "AWS4-HMAC-SHA256\n20240115T120000Z\n20240115/us-east-1/ecr/aws4_request\n\
         a35d52b9b313d63b76e8b8bcf61a244a35a4cce133afd0a628faffaebbf62aac"
    );
    let key = sigv4::signing_key(SECRET, "20240115", "us-east-1", "ecr");
    assert_eq!(
        hex::encode(key.as_bytes()),
        "17db6c3c8936cbb5ddb27a77e8333a6d6cac1db5ef78ec7ed673a699d2e60db9"
    );
    assert_eq!(key.sign(&sts), SIGNATURE);
    assert_eq!(
        sigv4::verify(&auth, &parts(&h), Some(&body_hash()), SECRET, NOW, "ecr"),
        Ok(())
    );
    assert_eq!(
        sigv4::verify_with_key(&auth, &parts(&h), Some(&body_hash()), &key, NOW, "ecr"),
        Ok(())
    );
}

fn params(token: Option<&'static str>) -> SigningParams<'static> {
    SigningParams {
        access_key_id: AKID,
        secret_access_key: SECRET,
        session_token: token,
        region: "us-east-1",
        service: "ecr",
        time_unix: NOW,
    }
}

#[test]
fn signer_reproduces_spec_vector() {
    let mut h = base_headers();
    h.insert("user-agent", HeaderValue::from_static("aws-cli/1.0"));
    let authorization = sign(&params(None), "POST", "/", "", &mut h, &body_hash()).unwrap();
    assert_eq!(authorization, AUTHORIZATION);
    assert_eq!(h["authorization"], AUTHORIZATION);
}

#[test]
fn spec_vector_with_session_token() {
    let mut h = base_headers();
    let authorization = sign(
        &params(Some("EXAMPLESESSIONTOKEN")),
        "POST",
        "/",
        "",
        &mut h,
        &body_hash(),
    )
    .unwrap();
    assert!(authorization.contains(
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, \
         Signature=d7f2d26113dba8894b16b6b94b8dea9d8e4d8d7e0534a27a2730ff950bd8e8cf"
    ));
    let auth = auth_of(&h);
    assert_eq!(auth.session_token(), Some("EXAMPLESESSIONTOKEN"));
    assert_eq!(
        sigv4::verify(&auth, &parts(&h), Some(&body_hash()), SECRET, NOW, "ecr"),
        Ok(())
    );
}

#[test]
fn accepts_clock_skew_up_to_fifteen_minutes_both_ways() {
    let h = spec_request();
    let auth = auth_of(&h);
    for now in [NOW - 900, NOW + 900] {
        assert_eq!(
            sigv4::verify(&auth, &parts(&h), Some(&body_hash()), SECRET, now, "ecr"),
            Ok(())
        );
    }
}

#[test]
fn rejects_old_request_with_aws_message() {
    let h = spec_request();
    let err = sigv4::verify(
        &auth_of(&h),
        &parts(&h),
        Some(&body_hash()),
        SECRET,
        NOW + 901,
        "ecr",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Signature expired: 20240115T120000Z is now earlier than 20240115T120001Z \
         (20240115T121501Z - 15 min.)"
    );
    assert_eq!(err.aws_code(), "InvalidSignatureException");
    assert_eq!(err.aws_code_for(Protocol::Query), "SignatureDoesNotMatch");
    assert_eq!(err.http_status_for(Protocol::Json), 400);
    assert_eq!(err.http_status_for(Protocol::Query), 403);
}

#[test]
fn rejects_future_request_with_aws_message() {
    let h = spec_request();
    let err = sigv4::verify(
        &auth_of(&h),
        &parts(&h),
        Some(&body_hash()),
        SECRET,
        NOW - 901,
        "ecr",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Signature not yet current: 20240115T120000Z is still later than 20240115T115959Z \
         (20240115T114459Z + 15 min.)"
    );
    assert_eq!(err.aws_code(), "InvalidSignatureException");
}

#[test]
fn rejects_wrong_secret_with_aws_message() {
    let h = spec_request();
    let err = sigv4::verify(
        &auth_of(&h),
        &parts(&h),
        Some(&body_hash()),
        "x",
        NOW,
        "ecr",
    )
    .unwrap_err();
    assert_eq!(err, SigV4Error::SignatureMismatch);
    assert_eq!(
        err.to_string(),
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. Consult the service documentation \
         for details."
    );
    assert_eq!(err.aws_code(), "InvalidSignatureException");
    assert_eq!(err.aws_code_for(Protocol::Query), "SignatureDoesNotMatch");
}

#[test]
fn rejects_other_body() {
    let h = spec_request();
    let other = sigv4::sha256_hex(br#"{"repositoryName": "team/apq"}"#);
    let err =
        sigv4::verify(&auth_of(&h), &parts(&h), Some(&other), SECRET, NOW, "ecr").unwrap_err();
    assert_eq!(err, SigV4Error::SignatureMismatch);
}

#[test]
fn needs_body_hash_without_content_sha256_header() {
    let h = spec_request();
    let err = sigv4::verify(&auth_of(&h), &parts(&h), None, SECRET, NOW, "ecr").unwrap_err();
    assert_eq!(err, SigV4Error::BodyHashRequired);
    assert_eq!(err.aws_code(), "InternalFailure");
    assert_eq!(err.http_status_for(Protocol::Json), 500);
}

#[test]
fn rejects_other_service_scope() {
    let h = spec_request();
    let err = sigv4::verify(
        &auth_of(&h),
        &parts(&h),
        Some(&body_hash()),
        SECRET,
        NOW,
        "iam",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Credential should be scoped to correct service: 'iam'. "
    );
    assert_eq!(err.aws_code(), "InvalidSignatureException");
}

#[test]
fn rejects_scope_date_other_than_request_date() {
    let mut h = spec_request();
    h.insert("x-amz-date", HeaderValue::from_static("20240116T000500Z"));
    let err = sigv4::verify(
        &auth_of(&h),
        &parts(&h),
        Some(&body_hash()),
        SECRET,
        NOW + 12 * 3600,
        "ecr",
    )
    .unwrap_err();
    assert!(matches!(err, SigV4Error::InvalidScope(_)), "{err:?}");
    assert!(
        err.to_string().contains("'20240115' != '20240116'"),
        "{err}"
    );
}

#[test]
fn rejects_unsigned_host() {
    let mut h = base_headers();
    h.remove("host");
    h.insert("host", HeaderValue::from_static("127.0.0.1:5000"));
    let mut signed = HeaderMap::new();
    signed.insert("x-amz-target", h["x-amz-target"].clone());
    sign(&params(None), "POST", "/", "", &mut signed, &body_hash()).unwrap();
    signed.insert("host", HeaderValue::from_static("127.0.0.1:5000"));
    let err = sigv4::verify(
        &auth_of(&signed),
        &parts(&signed),
        Some(&body_hash()),
        SECRET,
        NOW,
        "ecr",
    )
    .unwrap_err();
    assert_eq!(err.aws_code(), "IncompleteSignatureException");
}

#[test]
fn signed_content_sha256_must_match_body() {
    let mut h = base_headers();
    h.insert(
        "x-amz-content-sha256",
        HeaderValue::from_str(&body_hash()).unwrap(),
    );
    sign(&params(None), "POST", "/", "", &mut h, &body_hash()).unwrap();
    let auth = auth_of(&h);
    // Streaming callers verify first and compare the hash once the body is read.
    assert_eq!(
        sigv4::verify(&auth, &parts(&h), None, SECRET, NOW, "ecr"),
        Ok(())
    );
    assert_eq!(
        sigv4::verify(&auth, &parts(&h), Some(&body_hash()), SECRET, NOW, "ecr"),
        Ok(())
    );
    let err = sigv4::verify(
        &auth,
        &parts(&h),
        Some(sigv4::EMPTY_SHA256),
        SECRET,
        NOW,
        "ecr",
    )
    .unwrap_err();
    assert_eq!(err, SigV4Error::PayloadHashMismatch);
    assert_eq!(auth.check_body_hash(&body_hash()), Ok(()));
    assert_eq!(
        auth.check_body_hash(sigv4::EMPTY_SHA256),
        Err(SigV4Error::PayloadHashMismatch)
    );
}

#[test]
fn unsigned_payload_is_accepted_and_reported() {
    let mut h = base_headers();
    h.insert(
        "x-amz-content-sha256",
        HeaderValue::from_static("UNSIGNED-PAYLOAD"),
    );
    sign(&params(None), "POST", "/", "", &mut h, "UNSIGNED-PAYLOAD").unwrap();
    let auth = auth_of(&h);
    assert!(auth.payload_is_unsigned());
    assert_eq!(
        sigv4::verify(&auth, &parts(&h), Some(&body_hash()), SECRET, NOW, "ecr"),
        Ok(())
    );
}

#[test]
fn presigned_request_verifies_until_it_expires() {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("127.0.0.1:5000"));
    let q = presign(
        &params(Some("TOKEN")),
        "GET",
        "/",
        "Action=GetCallerIdentity&Version=2011-06-15",
        &h,
        300,
        sigv4::EMPTY_SHA256,
    );
    let p = SignedRequestParts::new("GET", "/", &q, &h);
    let auth = sigv4::parse(&p).unwrap().unwrap();
    assert_eq!(auth.session_token(), Some("TOKEN"));
    for now in [NOW - 900, NOW, NOW + 300] {
        assert_eq!(
            sigv4::verify(&auth, &p, Some(sigv4::EMPTY_SHA256), SECRET, now, "ecr"),
            Ok(())
        );
    }
    let err = sigv4::verify(
        &auth,
        &p,
        Some(sigv4::EMPTY_SHA256),
        SECRET,
        NOW + 301,
        "ecr",
    )
    .unwrap_err();
    assert_eq!(err, SigV4Error::PresignedExpired);
    assert_eq!(err.to_string(), "Request has expired");
    assert_eq!(err.aws_code(), "AccessDeniedException");
    assert_eq!(err.aws_code_for(Protocol::Query), "AccessDenied");
    let err = sigv4::verify(
        &auth,
        &p,
        Some(sigv4::EMPTY_SHA256),
        SECRET,
        NOW - 901,
        "ecr",
    )
    .unwrap_err();
    assert!(
        matches!(err, SigV4Error::SignatureNotYetCurrent { .. }),
        "{err:?}"
    );
}

#[test]
fn presigned_unsigned_payload_is_not_believed_for_a_body() {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("127.0.0.1:5000"));
    let q = presign(&params(None), "POST", "/", "", &h, 300, "UNSIGNED-PAYLOAD");
    let p = SignedRequestParts::new("POST", "/", &q, &h);
    let auth = sigv4::parse(&p).unwrap().unwrap();
    assert_eq!(sigv4::verify(&auth, &p, None, SECRET, NOW, "ecr"), Ok(()));
    assert_eq!(
        sigv4::verify(&auth, &p, Some(sigv4::EMPTY_SHA256), SECRET, NOW, "ecr"),
        Ok(())
    );
    assert_eq!(
        sigv4::verify(&auth, &p, Some(&body_hash()), SECRET, NOW, "ecr"),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn caller_decided_errors_have_aws_names() {
    let cases = [
        (
            SigV4Error::UnrecognizedClient,
            "UnrecognizedClientException",
            "InvalidClientTokenId",
        ),
        (
            SigV4Error::ExpiredToken,
            "ExpiredTokenException",
            "ExpiredToken",
        ),
        (
            SigV4Error::MissingAuthenticationToken,
            "MissingAuthenticationTokenException",
            "MissingAuthenticationToken",
        ),
        (
            SigV4Error::Incomplete("x".into()),
            "IncompleteSignatureException",
            "IncompleteSignature",
        ),
    ];
    for (err, json, query) in cases {
        assert_eq!(err.aws_code_for(Protocol::Json), json);
        assert_eq!(err.aws_code_for(Protocol::Query), query);
    }
    assert_eq!(
        SigV4Error::UnrecognizedClient.to_string(),
        "The security token included in the request is invalid."
    );
    assert_eq!(
        SigV4Error::ExpiredToken.to_string(),
        "The security token included in the request is expired"
    );
    assert_eq!(
        SigV4Error::MissingAuthenticationToken.to_string(),
        "Missing Authentication Token"
    );
}

#[test]
fn http_request_parts_are_read_as_received() {
    let mut req = http::Request::builder()
        .method("POST")
        .uri("/")
        .body(())
        .unwrap();
    *req.headers_mut() = spec_request();
    let (head, ()) = req.into_parts();
    let p = SignedRequestParts::from_http(&head);
    let auth = sigv4::parse(&p).unwrap().unwrap();
    assert_eq!(
        sigv4::verify(&auth, &p, Some(&body_hash()), SECRET, NOW, "ecr"),
        Ok(())
    );
}
