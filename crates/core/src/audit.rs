//! The audit log: one JSON line per authentication or authorization decision, with
//! CloudTrail-like field names, so that every allow and deny can be traced to who, from where,
//! on what, and which statement decided. Secrets never enter an event: only access key ids.

use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;

#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// `IAMUser`, `Anonymous`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AuditResource {
    #[serde(rename = "ARN")]
    pub arn: String,
    /// `AWS::ECR::Repository`, `AWS::IAM::User`, ...
    #[serde(rename = "type")]
    pub kind: String,
}

impl AuditResource {
    /// The resource an ARN names, typed as CloudTrail types it.
    pub fn from_arn(arn: &str) -> AuditResource {
        let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
        let kind = match (arn.split(':').nth(2), resource.split('/').next()) {
            (Some("ecr"), Some("repository")) => "AWS::ECR::Repository",
            (Some("iam"), Some("user")) => "AWS::IAM::User",
            (Some("iam"), Some("group")) => "AWS::IAM::Group",
            (Some("iam"), Some("role")) => "AWS::IAM::Role",
            (Some("iam"), Some("policy")) => "AWS::IAM::Policy",
            (Some("secretsmanager"), _) if resource.starts_with("secret:") => {
                "AWS::SecretsManager::Secret"
            }
            _ => "AWS::Unknown",
        };
        AuditResource {
            arn: arn.to_owned(),
            kind: kind.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// RFC 3339, UTC.
    pub event_time: String,
    /// The ECR action or API operation (`PutImage`, `GetAuthorizationToken`, `Authenticate`).
    pub event_name: String,
    /// `ecr.amazonaws.com`, `iam.amazonaws.com`, `registry` (the OCI API).
    pub event_source: String,
    pub user_identity: UserIdentity,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_endpoint_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// What the decision was about, as CloudTrail's `resources` (an IAM user whose key is
    /// created, a repository); empty for registry-wide actions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<AuditResource>,
    /// `allow`, `deny`, or `error` for failed authentications.
    pub decision: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// `policy-id#sid` of the statements that decided.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deciding_statements: Vec<String>,
    #[serde(rename = "requestID", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// An audit event that could not be written.
/// A unix time as the audit log writes it (`eventTime`).
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Who the registry's own work (garbage collection, lifecycle expiry) is recorded as.
pub fn registry_identity() -> UserIdentity {
    UserIdentity {
        kind: "AWSService".into(),
        arn: None,
        user_name: Some("portcullis".into()),
        access_key_id: None,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the audit log cannot be written: {0}")]
pub struct AuditError(#[source] std::io::Error);

/// Where audit events go: a file (appended), standard output, or nowhere.
pub struct AuditLog {
    sink: Option<Mutex<Box<dyn Write + Send>>>,
    /// Serve requests whose decision could not be recorded (the operator chose availability
    /// over a complete trail). Off by default: a decision nobody can trace is not made.
    fail_open: bool,
}

impl AuditLog {
    pub fn disabled() -> Self {
        AuditLog {
            sink: None,
            fail_open: false,
        }
    }

    pub fn to_writer(w: Box<dyn Write + Send>) -> Self {
        AuditLog {
            sink: Some(Mutex::new(w)),
            fail_open: false,
        }
    }

    /// Keep serving when events cannot be written (each failure is still logged).
    pub fn fail_open(mut self, fail_open: bool) -> Self {
        self.fail_open = fail_open;
        self
    }

    /// Appends one event. An error means the decision it describes must not take effect.
    pub fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let Some(sink) = &self.sink else {
            return Ok(());
        };
        let mut line = serde_json::to_vec(event).map_err(|e| AuditError(e.into()))?;
        line.push(b'\n');
        let mut w = sink.lock().unwrap_or_else(|e| e.into_inner());
        // One write per line so that concurrent readers (`portcullis audit`, tail -f) never see a
        // torn event.
        match w.write_all(&line).and_then(|()| w.flush()) {
            Ok(()) => Ok(()),
            Err(e) => {
                metrics::counter!("portcullis_audit_write_failures_total").increment(1);
                tracing::error!(error = %e, fail_open = self.fail_open, "audit log write failed");
                if self.fail_open {
                    Ok(())
                } else {
                    Err(AuditError(e))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space",
            ))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_fails_closed_unless_the_operator_chose_availability() {
        let closed = AuditLog::to_writer(Box::new(Full));
        assert!(closed.record(&AuditEvent::default()).is_err());
        let open = AuditLog::to_writer(Box::new(Full)).fail_open(true);
        assert!(open.record(&AuditEvent::default()).is_ok());
        assert!(AuditLog::disabled().record(&AuditEvent::default()).is_ok());
    }

    #[test]
    fn one_line_per_event() {
        let buf = std::sync::Arc::new(Mutex::new(Vec::new()));
        struct Shared(std::sync::Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let log = AuditLog::to_writer(Box::new(Shared(buf.clone())));
        log.record(&AuditEvent::default()).expect("written");
        log.record(&AuditEvent::default()).expect("written");
        let text = String::from_utf8(buf.lock().expect("lock").clone()).expect("utf-8");
        assert_eq!(text.lines().count(), 2);
    }
}
