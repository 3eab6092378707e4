//! Policies shared by the benches: the CI push policy of spec 7a and a 20-statement
//! repository policy with conditions.

#![allow(dead_code)]

use portcullis_policy::*;

pub const R: &str = "arn:aws:ecr:ap-northeast-1:111122223333:repository/";

pub fn ci_push() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
  {{"Sid":"GetToken","Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"}},
  {{"Sid":"PushOneRepo","Effect":"Allow","Action":["ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload","ecr:PutImage"],
    "Resource":"{R}web-api"}}]}}"#
    )
}

/// Twenty statements of the shapes seen in real repository policies: perimeter denies,
/// per-team grants with tag and ARN conditions, cross-account pulls, TLS and time limits.
pub fn repository_policy(statements: usize) -> String {
    let mut out = Vec::new();
    for i in 0..statements {
        let s = match i % 5 {
            0 => format!(
                r#"{{"Sid":"Perimeter{i}","Effect":"Deny","Principal":"*","Action":"ecr:*",
  "Condition":{{"StringNotEquals":{{"aws:SourceVpce":"vpce-0a1b2c3d4e5f6789{i}"}},
    "NotIpAddress":{{"aws:SourceIp":["198.51.100.0/24","2001:db8:1234:5678::/64"]}},
    "BoolIfExists":{{"aws:PrincipalIsAWSService":"false"}}}}}}"#
            ),
            1 => format!(
                r#"{{"Sid":"TeamPush{i}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:role/team-{i}"}},
  "Action":["ecr:PutImage","ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload"],
  "Condition":{{"StringEquals":{{"aws:PrincipalTag/team":["team-{i}","platform"]}},
    "ArnLike":{{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/team-{i}*"}}}}}}"#
            ),
            2 => format!(
                r#"{{"Sid":"CrossAccountPull{i}","Effect":"Allow","Principal":{{"AWS":["44445555{i:04}","arn:aws:iam::44445555{i:04}:root"]}},
  "Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"],
  "Condition":{{"StringLike":{{"aws:PrincipalArn":"arn:aws:iam::44445555{i:04}:role/deploy-*"}}}}}}"#
            ),
            3 => format!(
                r#"{{"Sid":"TlsOnly{i}","Effect":"Deny","Principal":"*","Action":"ecr:*",
  "Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}"#
            ),
            _ => format!(
                r#"{{"Sid":"Window{i}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:user/release-{i}"}},
  "Action":"ecr:Batch*","Condition":{{"DateLessThan":{{"aws:CurrentTime":"2030-01-01T00:00:00Z"}},
    "NumericGreaterThan":{{"aws:EpochTime":1700000000}},"ForAnyValue:StringEquals":{{"aws:TagKeys":["release","hotfix"]}}}}}}"#
            ),
        };
        out.push(s);
    }
    format!(
        r#"{{"Version":"2012-10-17","Id":"Bench","Statement":[{}]}}"#,
        out.join(",\n")
    )
}

pub fn push_request() -> Request {
    let p = Principal::from_arn("arn:aws:iam::111122223333:user/ci-pusher")
        .unwrap_or(Principal::Anonymous);
    let mut req = Request::new(p, "ecr:PutImage", &format!("{R}web-api"));
    if let Ok(ip) = "198.51.100.7".parse() {
        req.context.insert("aws:SourceIp", Value::ip(ip));
    }
    req.context.insert("aws:SecureTransport", Value::bool(true));
    req.context
        .insert("aws:CurrentTime", Value::date(1_780_272_000));
    req.context
        .insert("aws:EpochTime", Value::integer(1_780_272_000));
    req.context
        .insert("aws:RequestedRegion", Value::string("ap-northeast-1"));
    req.context
        .insert("aws:UserAgent", Value::string("docker/27.0"));
    req
}
