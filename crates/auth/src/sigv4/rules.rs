//! What a service demands of a signed request beyond a signature that matches.
//!
//! A correct signature only says that the signer saw what it signed. Whatever it did not sign
//! (an unsigned `X-Amz-Target`, a body declared `UNSIGNED-PAYLOAD`, a header added later) can be
//! replaced by anyone who captured the request, and a presigned URL can be replayed for days.
//! [`check_rules`] refuses such requests before any key is looked up.

use super::error::SigV4Error;
use super::parse::{AuthForm, SigV4Auth, SignedRequestParts};
use super::UNSIGNED_PAYLOAD;

/// The session token is a bearer credential checked against the access key it was issued with,
/// so leaving it unsigned changes nothing the server acts on; AWS's own test suite
/// (`post-sts-header-after`) adds it after signing.
const MAY_BE_UNSIGNED: &[&str] = &["x-amz-security-token"];

/// The demands of one service as Portcullis serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceRules<'a> {
    /// The signing name the credential scope must name (`ecr`, `iam`, `sts`).
    pub service: &'a str,
    /// The region the credential scope must name (`[auth] region`).
    pub region: &'a str,
    /// Whether query-string (presigned) authentication is accepted.
    pub presigned: bool,
    /// Whether the body may go unsigned (`UNSIGNED-PAYLOAD`, `STREAMING-*`): S3 only.
    pub unsigned_payload: bool,
    /// Headers that must be signed when present, besides every `x-amz-*` header.
    pub must_sign: &'a [&'a str],
}

impl<'a> ServiceRules<'a> {
    /// The rules of an AWS JSON or query API (ECR, IAM, STS): `Authorization` header only, the
    /// body's hash signed, and `content-type` and every `x-amz-*` header (the operation selector
    /// `X-Amz-Target` among them) signed. No AWS SDK presigns these APIs' requests.
    pub fn api(service: &'a str, region: &'a str) -> Self {
        ServiceRules {
            service,
            region,
            presigned: false,
            unsigned_payload: false,
            must_sign: &["content-type"],
        }
    }
}

/// Checks `auth` (parsed from `parts`) against `rules`: the auth form, the scope's service and
/// region, the payload hash claim, and that every header that must be signed is.
///
/// Call it before [`super::verify`], which checks the signature itself.
pub fn check_rules(
    auth: &SigV4Auth,
    parts: &SignedRequestParts<'_>,
    rules: &ServiceRules<'_>,
) -> Result<(), SigV4Error> {
    if !rules.presigned && matches!(auth.form(), AuthForm::Presigned { .. }) {
        return Err(SigV4Error::PresignedNotAccepted);
    }
    let scope = auth.scope();
    if scope.service() != rules.service {
        return Err(SigV4Error::InvalidScope(format!(
            "Credential should be scoped to correct service: '{}'. ",
            rules.service
        )));
    }
    if scope.region() != rules.region {
        return Err(SigV4Error::InvalidScope(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            scope.region()
        )));
    }
    if !rules.unsigned_payload {
        if let Some(claimed) = auth.content_sha256() {
            if claimed == UNSIGNED_PAYLOAD || claimed.starts_with("STREAMING-") {
                return Err(SigV4Error::UnsignedPayload(claimed.to_owned()));
            }
        }
    }
    let signed = auth.signed_headers();
    let mut unsigned: Vec<&str> = parts
        .headers
        .keys()
        .map(|name| name.as_str())
        .filter(|name| {
            (name.starts_with("x-amz-") || rules.must_sign.contains(name))
                && !MAY_BE_UNSIGNED.contains(name)
                && !signed.iter().any(|s| s.eq_ignore_ascii_case(name))
        })
        .collect();
    if !unsigned.is_empty() {
        unsigned.sort_unstable();
        unsigned.dedup();
        return Err(SigV4Error::HeadersNotSigned(unsigned.join(", ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use super::*;
    use crate::sigv4::{parse, Protocol};

    const RULES: ServiceRules<'static> = ServiceRules {
        service: "ecr",
        region: "us-east-1",
        presigned: false,
        unsigned_payload: false,
        must_sign: &["content-type"],
    };

    fn request(signed: &str, extra: &[(&'static str, &'static str)], query: &str) -> SigV4Error {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!(
                "AWS4-HMAC-SHA256 Credential=AKID/20240115/us-east-1/ecr/aws4_request, \
                 SignedHeaders={signed}, Signature=abcd"
            ))
            .unwrap(),
        );
        h.insert("host", HeaderValue::from_static("localhost"));
        h.insert("x-amz-date", HeaderValue::from_static("20240115T120000Z"));
        for (k, v) in extra {
            h.append(*k, HeaderValue::from_static(v));
        }
        let parts = SignedRequestParts::new("POST", "/", query, &h);
        match parse(&parts).unwrap() {
            Some(auth) => check_rules(&auth, &parts, &RULES).err(),
            None => None,
        }
        .unwrap_or(SigV4Error::MissingAuthenticationToken)
    }

    fn passes(signed: &str, extra: &[(&'static str, &'static str)]) -> bool {
        request(signed, extra, "") == SigV4Error::MissingAuthenticationToken
    }

    #[test]
    fn accepts_a_request_that_signs_everything_it_carries() {
        assert!(passes(
            "content-type;host;x-amz-date;x-amz-target",
            &[
                ("content-type", "application/x-amz-json-1.1"),
                (
                    "x-amz-target",
                    "AmazonEC2ContainerRegistry_V20150921.ListImages"
                ),
                ("user-agent", "aws-cli/2"),
            ],
        ));
    }

    #[test]
    fn rejects_an_unsigned_target() {
        let err = request(
            "host;x-amz-date",
            &[(
                "x-amz-target",
                "AmazonEC2ContainerRegistry_V20150921.ListImages",
            )],
            "",
        );
        assert_eq!(err, SigV4Error::HeadersNotSigned("x-amz-target".into()));
        assert_eq!(
            err.to_string(),
            "There were headers present in the request which were not signed: x-amz-target"
        );
        assert_eq!(
            err.aws_code_for(Protocol::Json),
            "IncompleteSignatureException"
        );
    }

    #[test]
    fn rejects_unsigned_content_type_and_any_x_amz_header() {
        let err = request(
            "host;x-amz-date",
            &[("content-type", "application/json"), ("x-amz-foo", "bar")],
            "",
        );
        assert_eq!(
            err,
            SigV4Error::HeadersNotSigned("content-type, x-amz-foo".into())
        );
        let err = request("host", &[], "");
        assert_eq!(err, SigV4Error::HeadersNotSigned("x-amz-date".into()));
    }

    #[test]
    fn a_session_token_may_be_unsigned() {
        assert!(passes("host;x-amz-date", &[("x-amz-security-token", "T")]));
    }

    #[test]
    fn rejects_unsigned_and_streaming_payloads() {
        for claim in ["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"] {
            let extra = [("x-amz-content-sha256", claim)];
            let err = request("host;x-amz-content-sha256;x-amz-date", &extra, "");
            assert_eq!(err, SigV4Error::UnsignedPayload(claim.into()));
            assert_eq!(err.aws_code_for(Protocol::Query), "SignatureDoesNotMatch");
            assert_eq!(err.http_status_for(Protocol::Query), 403);
        }
        assert!(passes(
            "host;x-amz-content-sha256;x-amz-date",
            &[("x-amz-content-sha256", crate::sigv4::EMPTY_SHA256)]
        ));
    }

    #[test]
    fn rejects_presigned_auth() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256\
                 &X-Amz-Credential=AKID%2F20240115%2Fus-east-1%2Fecr%2Faws4_request\
                 &X-Amz-Date=20240115T120000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host\
                 &X-Amz-Signature=abcd";
        let h = {
            let mut h = HeaderMap::new();
            h.insert("host", HeaderValue::from_static("localhost"));
            h
        };
        let parts = SignedRequestParts::new("POST", "/", q, &h);
        let auth = parse(&parts).unwrap().unwrap();
        let err = check_rules(&auth, &parts, &RULES).unwrap_err();
        assert_eq!(err, SigV4Error::PresignedNotAccepted);
        assert_eq!(
            err.aws_code_for(Protocol::Json),
            "IncompleteSignatureException"
        );
        let allowed = ServiceRules {
            presigned: true,
            ..RULES
        };
        assert_eq!(check_rules(&auth, &parts, &allowed), Ok(()));
    }

    #[test]
    fn rejects_another_region_or_service_with_aws_messages() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKID/20240115/xx-nowhere-9/ecr/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=abcd",
            ),
        );
        h.insert("x-amz-date", HeaderValue::from_static("20240115T120000Z"));
        let parts = SignedRequestParts::new("POST", "/", "", &h);
        let auth = parse(&parts).unwrap().unwrap();
        let err = check_rules(&auth, &parts, &RULES).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Credential should be scoped to a valid region, not 'xx-nowhere-9'. "
        );
        assert_eq!(
            err.aws_code_for(Protocol::Json),
            "InvalidSignatureException"
        );
        let there = ServiceRules {
            region: "xx-nowhere-9",
            ..RULES
        };
        assert_eq!(check_rules(&auth, &parts, &there), Ok(()));
        let iam = ServiceRules {
            service: "iam",
            region: "xx-nowhere-9",
            ..RULES
        };
        assert_eq!(
            check_rules(&auth, &parts, &iam).unwrap_err().to_string(),
            "Credential should be scoped to correct service: 'iam'. "
        );
    }

    #[test]
    fn api_rules_are_the_strict_ones() {
        let rules = ServiceRules::api("iam", "eu-west-1");
        assert!(!rules.presigned && !rules.unsigned_payload);
        assert_eq!(rules.must_sign, ["content-type"]);
    }
}
