//! What request logging may show of a request: its method and path, and its query with the
//! values of credential-bearing parameters replaced. Download URLs carry their signature and
//! presigned AWS URLs their credential in the query, and tower-http's default span prints the
//! whole URI; headers (Authorization, Cookie) are never recorded at all.

use axum::http::{Request, Uri};

/// Parameter names whose values are secrets or stand in for one, matched case-insensitively
/// anywhere in the name (`X-Amz-Signature`, `X-Amz-Security-Token`, `X-Portcullis-Credential`,
/// `access_token`, `password`...).
const SECRET_MARKERS: [&str; 7] = [
    "signature",
    "token",
    "credential",
    "security",
    "key",
    "password",
    "secret",
];

fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_MARKERS.iter().any(|m| name.contains(m))
}

/// `path?query` with every secret parameter's value shown as `REDACTED`.
pub fn uri(uri: &Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret(name) => format!("{name}=REDACTED"),
            _ if is_secret(pair) => "REDACTED".to_owned(),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{}?{}", uri.path(), query.join("&"))
}

/// The span tower-http opens per request, at DEBUG as its default one, without secrets.
pub fn span<B>(request: &Request<B>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        uri = %uri(request.uri()),
        version = ?request.version(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(s: &str) -> String {
        uri(&s.parse::<Uri>().expect("uri"))
    }

    #[test]
    fn signatures_tokens_and_credentials_are_hidden() {
        let out = redacted(
            "/v2/r/blobs/sha256:ab?X-Portcullis-Credential=AKIAX&X-Portcullis-Expires=17&X-Portcullis-Signature=deadbeef",
        );
        assert_eq!(
            out,
            "/v2/r/blobs/sha256:ab?X-Portcullis-Credential=REDACTED&X-Portcullis-Expires=17&X-Portcullis-Signature=REDACTED"
        );
        let out = redacted("/?X-Amz-Security-Token=t0k&X-Amz-Signature=s1g&Action=ListUsers");
        assert!(!out.contains("t0k") && !out.contains("s1g"), "{out}");
        assert!(out.contains("Action=ListUsers"));
        assert_eq!(
            redacted("/v2/token?account=AWS&access_token=abc"),
            "/v2/token?account=AWS&access_token=REDACTED"
        );
        assert_eq!(
            redacted("/v2/x/tags/list?n=10&last=a"),
            "/v2/x/tags/list?n=10&last=a"
        );
        assert_eq!(redacted("/v2/"), "/v2/");
        // A bare secret-named parameter hides itself too.
        assert_eq!(redacted("/p?password"), "/p?REDACTED");
    }
}
