//! Every XML document the IAM API sends: the response envelope, the error document, and the
//! shapes of botocore's IAM model (`User`, `Group`, `Role`, `Policy`, `AccessKey`, ...). Lists
//! are `<Name><member>...</member></Name>`, timestamps ISO 8601, policy documents URL-encoded
//! as IAM sends them.

use portcullis_core::iam::{ManagedPolicyDetail, PrincipalDetail};
use portcullis_core::identity::{
    AccessKeyRecord, GroupRecord, ManagedPolicyRecord, PolicyVersionRecord, RoleRecord, UserRecord,
};

pub const NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// An XML fragment under construction.
#[derive(Debug, Default)]
pub struct Xml(String);

impl Xml {
    pub fn new() -> Self {
        Xml(String::new())
    }

    pub fn open(&mut self, tag: &str) -> &mut Self {
        self.0.push('<');
        self.0.push_str(tag);
        self.0.push('>');
        self
    }

    pub fn close(&mut self, tag: &str) -> &mut Self {
        self.0.push_str("</");
        self.0.push_str(tag);
        self.0.push('>');
        self
    }

    /// `<tag>text</tag>`, escaped.
    pub fn leaf(&mut self, tag: &str, text: &str) -> &mut Self {
        self.open(tag);
        escape_into(&mut self.0, text);
        self.close(tag)
    }

    pub fn opt(&mut self, tag: &str, text: Option<&str>) -> &mut Self {
        if let Some(t) = text {
            self.leaf(tag, t);
        }
        self
    }

    pub fn date(&mut self, tag: &str, millis: i64) -> &mut Self {
        self.leaf(tag, &iso8601(millis))
    }

    pub fn bool(&mut self, tag: &str, b: bool) -> &mut Self {
        self.leaf(tag, if b { "true" } else { "false" })
    }

    pub fn num(&mut self, tag: &str, n: i64) -> &mut Self {
        self.leaf(tag, &n.to_string())
    }

    /// `<tag><member>..</member>...</tag>`, each member written by `each`.
    pub fn list<T>(
        &mut self,
        tag: &str,
        items: &[T],
        mut each: impl FnMut(&mut Xml, &T),
    ) -> &mut Self {
        self.open(tag);
        for item in items {
            self.open("member");
            each(self, item);
            self.close("member");
        }
        self.close(tag)
    }

    pub fn strings(&mut self, tag: &str, items: &[String]) -> &mut Self {
        self.list(tag, items, |x, s| {
            escape_into(&mut x.0, s);
        })
    }

    /// `IsTruncated` and, when truncated, `Marker`.
    pub fn page(&mut self, next: Option<&str>) -> &mut Self {
        self.bool("IsTruncated", next.is_some());
        self.opt("Marker", next)
    }

    /// Appends an already built fragment.
    pub fn raw(&mut self, fragment: Xml) -> &mut Self {
        self.0.push_str(&fragment.0);
        self
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

pub fn iso8601(millis: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// RFC 3986 percent-encoding, as IAM encodes policy documents (space is `%20`, never `+`).
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `<XResponse xmlns=..><XResult>result</XResult><ResponseMetadata>..</ResponseMetadata></XResponse>`;
/// operations without output have no `XResult`.
pub fn envelope(action: &str, result: Option<Xml>, request_id: &str) -> String {
    let mut x = Xml::new();
    x.0.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    x.0.push_str(&format!(r#"<{action}Response xmlns="{NAMESPACE}">"#));
    if let Some(r) = result {
        x.open(&format!("{action}Result"));
        x.0.push_str(&r.0);
        x.close(&format!("{action}Result"));
    }
    x.open("ResponseMetadata")
        .leaf("RequestId", request_id)
        .close("ResponseMetadata");
    x.close(&format!("{action}Response"));
    x.0
}

pub fn error_document(fault: &str, code: &str, message: &str, request_id: &str) -> String {
    let mut x = Xml::new();
    x.0.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    x.0.push_str(&format!(r#"<ErrorResponse xmlns="{NAMESPACE}">"#));
    x.open("Error")
        .leaf("Type", fault)
        .leaf("Code", code)
        .leaf("Message", message)
        .close("Error")
        .leaf("RequestId", request_id)
        .close("ErrorResponse");
    x.0
}

// ---- shapes ----

pub fn tags(x: &mut Xml, tag: &str, tags: &[(String, String)]) {
    x.list(tag, tags, |x, (k, v)| {
        x.leaf("Key", k).leaf("Value", v);
    });
}

/// `User` members; `arn` is computed by the caller (it knows the account).
pub fn user(x: &mut Xml, u: &UserRecord, arn: &str) {
    x.leaf("Path", &u.path)
        .leaf("UserName", &u.name)
        .leaf("UserId", &u.user_id)
        .leaf("Arn", arn)
        .date("CreateDate", u.created_at);
}

pub fn group(x: &mut Xml, g: &GroupRecord, arn: &str) {
    x.leaf("Path", &g.path)
        .leaf("GroupName", &g.name)
        .leaf("GroupId", &g.group_id)
        .leaf("Arn", arn)
        .date("CreateDate", g.created_at);
}

/// `Role` members (without tags; callers add them where the operation returns them).
pub fn role(x: &mut Xml, r: &RoleRecord, arn: &str) {
    x.leaf("Path", &r.path)
        .leaf("RoleName", &r.name)
        .leaf("RoleId", &r.role_id)
        .leaf("Arn", arn)
        .date("CreateDate", r.created_at)
        .leaf(
            "AssumeRolePolicyDocument",
            &url_encode(&r.assume_role_policy),
        )
        .opt("Description", r.description.as_deref())
        .num("MaxSessionDuration", r.max_session_duration);
}

pub fn managed_policy(x: &mut Xml, p: &ManagedPolicyRecord, attachments: u64) {
    x.leaf("PolicyName", &p.name)
        .leaf("PolicyId", &p.policy_id)
        .leaf("Arn", &p.arn)
        .leaf("Path", &p.path)
        .leaf("DefaultVersionId", &p.default_version)
        .num("AttachmentCount", attachments as i64)
        .num("PermissionsBoundaryUsageCount", 0)
        .bool("IsAttachable", true)
        .opt("Description", p.description.as_deref())
        .date("CreateDate", p.created_at)
        .date("UpdateDate", p.updated_at);
}

pub fn policy_version(x: &mut Xml, v: &PolicyVersionRecord, is_default: bool) {
    x.leaf("Document", &url_encode(&v.document))
        .leaf("VersionId", &v.version_id)
        .bool("IsDefaultVersion", is_default)
        .date("CreateDate", v.created_at);
}

pub fn access_key_metadata(x: &mut Xml, k: &AccessKeyRecord) {
    x.leaf("UserName", &k.user_name)
        .leaf("AccessKeyId", &k.access_key_id)
        .leaf("Status", if k.active { "Active" } else { "Inactive" })
        .date("CreateDate", k.created_at);
}

/// `AttachedPolicy`: `(name, arn)`.
pub fn attached_policy(x: &mut Xml, (name, arn): &(String, String)) {
    x.leaf("PolicyName", name).leaf("PolicyArn", arn);
}

/// `PolicyDetail` list: inline policies with their URL-encoded documents.
fn policy_details(x: &mut Xml, tag: &str, items: &[(String, String)]) {
    x.list(tag, items, |x, (name, doc)| {
        x.leaf("PolicyName", name)
            .leaf("PolicyDocument", &url_encode(doc));
    });
}

pub fn user_detail(x: &mut Xml, d: &PrincipalDetail<UserRecord>, arn: &str) {
    user(x, &d.record, arn);
    policy_details(x, "UserPolicyList", &d.inline);
    x.strings("GroupList", &d.groups);
    x.list("AttachedManagedPolicies", &d.attached, attached_policy);
    tags(x, "Tags", &d.tags);
}

pub fn group_detail(x: &mut Xml, d: &PrincipalDetail<GroupRecord>, arn: &str) {
    group(x, &d.record, arn);
    policy_details(x, "GroupPolicyList", &d.inline);
    x.list("AttachedManagedPolicies", &d.attached, attached_policy);
}

pub fn role_detail(x: &mut Xml, d: &PrincipalDetail<RoleRecord>, arn: &str) {
    role(x, &d.record, arn);
    // Instance profiles do not exist here; the list is always empty.
    x.open("InstanceProfileList").close("InstanceProfileList");
    policy_details(x, "RolePolicyList", &d.inline);
    x.list("AttachedManagedPolicies", &d.attached, attached_policy);
    tags(x, "Tags", &d.tags);
}

pub fn managed_policy_detail(x: &mut Xml, d: &ManagedPolicyDetail) {
    managed_policy(x, &d.policy, d.attachments);
    x.list("PolicyVersionList", &d.versions, |x, v| {
        policy_version(x, v, v.version_id == d.policy.default_version)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_encodes_and_wraps() {
        let mut x = Xml::new();
        x.leaf("A", "<&\"'>");
        assert_eq!(x.into_string(), "<A>&lt;&amp;&quot;&apos;&gt;</A>");
        assert_eq!(url_encode("{\"a\": 1}"), "%7B%22a%22%3A%201%7D");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        let doc = envelope("DeleteUser", None, "r1");
        assert!(doc.contains("<DeleteUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ResponseMetadata><RequestId>r1</RequestId>"));
        let mut r = Xml::new();
        r.strings("PolicyNames", &["p1".to_owned()]).page(None);
        let doc = envelope("ListUserPolicies", Some(r), "r2");
        assert!(doc.contains("<ListUserPoliciesResult><PolicyNames><member>p1</member></PolicyNames><IsTruncated>false</IsTruncated></ListUserPoliciesResult>"));
    }
}
