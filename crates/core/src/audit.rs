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

/// Where audit events go: a file (appended), standard output, or nowhere.
pub struct AuditLog {
    sink: Option<Mutex<Box<dyn Write + Send>>>,
}

impl AuditLog {
    pub fn disabled() -> Self {
        AuditLog { sink: None }
    }

    pub fn to_writer(w: Box<dyn Write + Send>) -> Self {
        AuditLog {
            sink: Some(Mutex::new(w)),
        }
    }

    pub fn record(&self, event: &AuditEvent) {
        let Some(sink) = &self.sink else { return };
        let Ok(mut line) = serde_json::to_vec(event) else {
            return;
        };
        line.push(b'\n');
        let mut w = sink.lock().unwrap_or_else(|e| e.into_inner());
        // One write per line so that concurrent readers (`portcullis audit`, tail -f) never see a
        // torn event; a failing sink must not fail the request it describes.
        if let Err(e) = w.write_all(&line).and_then(|()| w.flush()) {
            tracing::error!(error = %e, "audit log write failed");
        }
    }
}
