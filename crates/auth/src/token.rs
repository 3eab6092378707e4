//! Registry tokens: the password of `docker login --username AWS`, as GetAuthorizationToken
//! issues it.
//!
//! A token is `pc1.<claims>.<mac>`: base64url JSON claims (the access key that asked, issue and
//! expiry times, a random id) and an HMAC-SHA256 over them with a key derived from the master
//! key. It carries no permissions: each request re-resolves the key's principal and policies,
//! so deactivating the key or changing a policy takes effect on the next request. The alphabet
//! has no `:`, which `aws ecr get-login-password` requires.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Registry tokens are valid for 12 hours, as ECR's are.
pub const TOKEN_TTL_SECS: i64 = 12 * 3600;

const PREFIX: &str = "pc1.";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// The access key whose principal the token acts as.
    #[serde(rename = "k")]
    pub access_key_id: String,
    #[serde(rename = "iat")]
    pub issued_at: i64,
    #[serde(rename = "exp")]
    pub expires_at: i64,
    /// Random, so that two tokens issued in the same second differ.
    #[serde(rename = "n")]
    pub nonce: String,
}

impl TokenClaims {
    /// A token of [`TokenSigner::issue_anonymous`].
    pub fn is_anonymous(&self) -> bool {
        self.access_key_id.is_empty()
    }
}

/// What a download URL claims: one blob of one repository, for the holder of one access key,
/// until `expires`.
#[derive(Debug, Clone, Copy)]
pub struct DownloadGrant<'a> {
    pub repository: &'a str,
    pub digest: &'a str,
    pub access_key_id: &'a str,
    pub expires: i64,
    pub signature: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the authorization token is malformed")]
    Malformed,
    #[error("the authorization token has an invalid signature")]
    BadSignature,
    #[error("the authorization token expired at {0}")]
    Expired(i64),
}

/// Issues and checks registry tokens.
pub struct TokenSigner {
    key: [u8; 32],
}

impl TokenSigner {
    /// Derives the token key from the master key, so that one secret protects everything.
    pub fn from_master(master: &[u8; 32]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).unwrap_or_else(|_| {
            // INVARIANT: HMAC accepts keys of any length.
            unreachable!("hmac accepts any key length")
        });
        mac.update(b"portcullis registry token key v1");
        TokenSigner {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("hmac accepts any key length"));
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// A token valid for [`TOKEN_TTL_SECS`], as GetAuthorizationToken issues.
    pub fn issue(&self, access_key_id: &str, now: i64, nonce: &str) -> (String, TokenClaims) {
        self.issue_with_ttl(access_key_id, now, TOKEN_TTL_SECS, nonce)
    }

    /// A token valid for `ttl_secs` (shorter-lived tokens for scripts; tests of expiry).
    pub fn issue_with_ttl(
        &self,
        access_key_id: &str,
        now: i64,
        ttl_secs: i64,
        nonce: &str,
    ) -> (String, TokenClaims) {
        let claims = TokenClaims {
            access_key_id: access_key_id.to_owned(),
            issued_at: now,
            expires_at: now + ttl_secs,
            nonce: nonce.to_owned(),
        };
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let tag = URL_SAFE_NO_PAD.encode(self.mac(body.as_bytes()));
        (format!("{PREFIX}{body}.{tag}"), claims)
    }

    /// A token that stands for no one: what the token endpoint hands an anonymous client when
    /// anonymous access is on. It grants only what resource policies give `Principal: "*"`.
    pub fn issue_anonymous(&self, now: i64, ttl_secs: i64, nonce: &str) -> (String, TokenClaims) {
        self.issue_with_ttl("", now, ttl_secs, nonce)
    }

    /// The signature of a download URL for one blob of one repository, obtained by
    /// `access_key_id`, valid until `expires` (unix seconds). Domain-separated from tokens, so
    /// neither can stand in for the other.
    pub fn sign_download(
        &self,
        repository: &str,
        digest: &str,
        access_key_id: &str,
        expires: i64,
    ) -> String {
        let data = format!(
            "portcullis download url v2\n{repository}\n{digest}\n{access_key_id}\n{expires}"
        );
        URL_SAFE_NO_PAD.encode(self.mac(data.as_bytes()))
    }

    /// Whether a download URL's signature holds, has not expired, and expires no later than
    /// `max_ttl` from now (a URL can only be as long-lived as the server hands them out).
    pub fn verify_download(&self, url: &DownloadGrant<'_>, now: i64, max_ttl: i64) -> bool {
        let expected =
            self.sign_download(url.repository, url.digest, url.access_key_id, url.expires);
        let fresh = now < url.expires && url.expires <= now.saturating_add(max_ttl);
        let genuine = bool::from(expected.as_bytes().ct_eq(url.signature.as_bytes()));
        fresh && genuine
    }

    pub fn verify(&self, token: &str, now: i64) -> Result<TokenClaims, TokenError> {
        let rest = token.strip_prefix(PREFIX).ok_or(TokenError::Malformed)?;
        let (body, tag) = rest.split_once('.').ok_or(TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        if !bool::from(self.mac(body.as_bytes()).as_slice().ct_eq(&tag)) {
            return Err(TokenError::BadSignature);
        }
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Malformed)?;
        let claims: TokenClaims =
            serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if now >= claims.expires_at {
            return Err(TokenError::Expired(claims.expires_at));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_signatures_bind_repository_digest_key_and_expiry() {
        let signer = TokenSigner::from_master(&[1; 32]);
        let sig = signer.sign_download("team/app", "sha256:ab", "AKIA1", 2000);
        let grant = DownloadGrant {
            repository: "team/app",
            digest: "sha256:ab",
            access_key_id: "AKIA1",
            expires: 2000,
            signature: &sig,
        };
        let ttl = 900;
        assert!(signer.verify_download(&grant, 1999, ttl));
        assert!(!signer.verify_download(&grant, 2000, ttl));
        // A genuine signature over an expiry further out than the server grants is refused.
        assert!(!signer.verify_download(&grant, 1000, ttl));
        for changed in [
            DownloadGrant {
                expires: 2001,
                ..grant
            },
            DownloadGrant {
                repository: "team/other",
                ..grant
            },
            DownloadGrant {
                digest: "sha256:ac",
                ..grant
            },
            DownloadGrant {
                access_key_id: "AKIA2",
                ..grant
            },
            DownloadGrant {
                signature: "x",
                ..grant
            },
        ] {
            assert!(!signer.verify_download(&changed, 1999, ttl), "{changed:?}");
        }
    }

    #[test]
    fn anonymous_tokens_name_no_key() {
        let signer = TokenSigner::from_master(&[1; 32]);
        let (token, _) = signer.issue_anonymous(1000, 300, "n");
        assert!(signer.verify(&token, 1001).unwrap().is_anonymous());
        let (token, _) = signer.issue("AKIAEXAMPLE", 1000, "n");
        assert!(!signer.verify(&token, 1001).unwrap().is_anonymous());
    }

    #[test]
    fn issues_verifiable_tokens_without_colons() {
        let signer = TokenSigner::from_master(&[1; 32]);
        let (token, claims) = signer.issue("AKIAEXAMPLE", 1000, "n1");
        assert!(!token.contains(':'));
        assert_eq!(signer.verify(&token, 1001), Ok(claims));
        assert_eq!(
            signer.verify(&token, 1000 + TOKEN_TTL_SECS),
            Err(TokenError::Expired(1000 + TOKEN_TTL_SECS))
        );
    }

    #[test]
    fn refuses_tampered_and_foreign_tokens() {
        let signer = TokenSigner::from_master(&[1; 32]);
        let (token, _) = signer.issue("AKIAEXAMPLE", 1000, "n1");
        let other = TokenSigner::from_master(&[2; 32]);
        assert_eq!(other.verify(&token, 1001), Err(TokenError::BadSignature));
        let mut tampered = token.clone().into_bytes();
        tampered[6] ^= 1;
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(signer.verify(&tampered, 1001).is_err());
        assert_eq!(signer.verify("garbage", 1), Err(TokenError::Malformed));
        assert_eq!(signer.verify("pc1.a.b", 1), Err(TokenError::Malformed));
    }
}
