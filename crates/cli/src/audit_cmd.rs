//! `portcullis audit`: filter the audit log (JSON lines) by principal, action, decision and time.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use serde_json::Value;

/// Filters are ANDed; each event that passes is printed as its original JSON line.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The audit log to read (`-` for standard input). [default: ./portcullis-data/audit.log]
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Only events of this principal: a user name, an ARN, or an access key id.
    #[arg(long)]
    principal: Option<String>,
    /// Only this action or operation, e.g. `PutImage` or `ecr:PutImage` (case-insensitive).
    #[arg(long)]
    action: Option<String>,
    /// Only this decision: allow, deny, or error (failed authentication).
    #[arg(long, value_parser = ["allow", "deny", "error"])]
    decision: Option<String>,
    /// Only events at or after this time (RFC 3339, e.g. 2026-11-23T06:00:00Z).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only events on this repository.
    #[arg(long)]
    repository: Option<String>,
}

fn parse_time(s: &str, flag: &str) -> anyhow::Result<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .with_context(|| format!("--{flag} `{s}` is not an RFC 3339 time"))
}

fn matches(
    event: &Value,
    args: &AuditArgs,
    since: Option<time::OffsetDateTime>,
    until: Option<time::OffsetDateTime>,
) -> bool {
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    if let Some(p) = &args.principal {
        let id = &event["userIdentity"];
        let hit = [&id["arn"], &id["userName"], &id["accessKeyId"]]
            .iter()
            .any(|v| s(v) == *p);
        if !hit {
            return false;
        }
    }
    if let Some(a) = &args.action {
        let want = a.trim_start_matches("ecr:").trim_start_matches("iam:");
        if !s(&event["eventName"]).eq_ignore_ascii_case(want) {
            return false;
        }
    }
    if args
        .decision
        .as_ref()
        .is_some_and(|d| s(&event["decision"]) != *d)
    {
        return false;
    }
    if args
        .repository
        .as_ref()
        .is_some_and(|r| s(&event["repository"]) != *r)
    {
        return false;
    }
    if since.is_some() || until.is_some() {
        let Ok(at) = parse_time(&s(&event["eventTime"]), "eventTime") else {
            return false;
        };
        if since.is_some_and(|t| at < t) || until.is_some_and(|t| at >= t) {
            return false;
        }
    }
    true
}

pub fn run(args: AuditArgs) -> anyhow::Result<i32> {
    let since = args
        .since
        .as_deref()
        .map(|t| parse_time(t, "since"))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|t| parse_time(t, "until"))
        .transpose()?;
    let path = args
        .file
        .clone()
        .unwrap_or_else(|| PathBuf::from("./portcullis-data/audit.log"));
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(&path)
            .with_context(|| format!("opening the audit log `{}`", path.display()))?;
        Box::new(std::io::BufReader::new(f))
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let Ok(event) = serde_json::from_str::<Value>(&line) else {
            eprintln!(
                "portcullis audit: line {} is not a JSON event; skipped",
                n + 1
            );
            continue;
        };
        if matches(&event, &args, since, until) && writeln!(out, "{line}").is_err() {
            break; // the reader went away (e.g. `| head`)
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> AuditArgs {
        AuditArgs {
            file: None,
            principal: None,
            action: None,
            decision: None,
            since: None,
            until: None,
            repository: None,
        }
    }

    #[test]
    fn filters_combine() {
        let e: Value = serde_json::from_str(
            r#"{"eventTime":"2026-11-23T06:49:08Z","eventName":"PutImage","decision":"deny",
                "repository":"app","userIdentity":{"arn":"arn:aws:iam::1:user/ci","userName":"ci"}}"#,
        )
        .unwrap();
        assert!(matches(&e, &args(), None, None));
        let a = AuditArgs {
            principal: Some("ci".into()),
            action: Some("ecr:putimage".into()),
            ..args()
        };
        assert!(matches(&e, &a, None, None));
        let a = AuditArgs {
            decision: Some("allow".into()),
            ..args()
        };
        assert!(!matches(&e, &a, None, None));
        let t = |s| Some(parse_time(s, "x").unwrap());
        assert!(matches(
            &e,
            &args(),
            t("2026-11-23T06:00:00Z"),
            t("2026-11-23T07:00:00Z")
        ));
        assert!(!matches(&e, &args(), t("2026-11-23T07:00:00Z"), None));
    }
}
