//! Findings about a policy document: errors reject it, warnings do not.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem, located by a JSON path such as `Statement[2].Condition.IpAddress`. The empty
/// path is the document itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Finding {
    pub severity: Severity,
    pub path: String,
    pub message: String,
}

impl Finding {
    pub(crate) fn error(path: &str, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Error,
            path: path.to_owned(),
            message: message.into(),
        }
    }
    pub(crate) fn warning(path: &str, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Warning,
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(document)"
        } else {
            &self.path
        };
        write!(f, "{}: {}: {}", self.severity.as_str(), path, self.message)
    }
}

/// A document that failed the error checks; holds every error found, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub(crate) errors: Vec<Finding>,
}

impl ParseError {
    pub fn errors(&self) -> &[Finding] {
        &self.errors
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.first() {
            None => f.write_str("invalid policy"),
            Some(first) => {
                let path = if first.path.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", first.path)
                };
                write!(f, "{path}{}", first.message)?;
                if self.errors.len() > 1 {
                    write!(f, " (and {} more)", self.errors.len() - 1)?;
                }
                Ok(())
            }
        }
    }
}
