//! The IAM admin API: the AWS query protocol (form-encoded `POST /` with
//! `Action=<Operation>&Version=2010-05-08`), signed with SigV4 (signing name `iam`), answered
//! in XML. Each operation is authorized by its `iam:` action against the IAM resource ARN it
//! acts on, by the caller's identity policies.

mod error;
mod identities;
mod input;
mod policies;
mod simulate;
pub mod xml;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_auth::sigv4::Protocol;
use portcullis_auth::{Caller, Facts, Target};

pub use error::IamError;
use input::Params;
use xml::Xml;

use crate::access;
use crate::operation::{operations, Decided};
use crate::AppState;

const VERSION: &str = "2010-05-08";
const SOURCE: &str = "iam.amazonaws.com";
/// Policy documents are at most 131072 characters; the form encoding at most triples that.
const MAX_BODY: usize = 1024 * 1024;

/// What every operation handler gets.
pub struct IamContext {
    pub caller: Caller,
    pub facts: Facts,
    pub params: Params,
    /// The operation `Action=` names; handlers authorize this one.
    pub operation: IamOperation,
    pub decided: Decided,
}

impl IamContext {
    /// The user the request acts as (the default of the optional `UserName` members).
    fn caller_name(&self) -> Option<&str> {
        match &self.caller {
            Caller::User { principal, .. } => Some(&principal.user.name),
            Caller::Anonymous => None,
        }
    }
}

/// What a handler answers: the `XResult` content, or nothing for operations without output.
type Output = Result<Option<Xml>, IamError>;

/// Serves form-encoded `POST /` requests (the query protocol).
pub async fn dispatch(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = request.into_parts();
    let facts = access::facts(&parts);
    let result = handle(&state, &parts, body, facts).await;
    let (status, operation) = match &result {
        Ok((op, _)) => (200, op.as_str()),
        Err((op, e)) => (e.status().as_u16(), op.as_str()),
    };
    metrics::counter!(
        "portcullis_http_requests_total",
        "api" => "iam",
        "operation" => IamOperation::parse(operation).map_or("other", IamOperation::name),
        "status" => status_label(status)
    )
    .increment(1);
    match result {
        Ok((op, out)) => {
            let body = xml::envelope(&op, out, &request_id);
            let mut resp = (StatusCode::OK, body).into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                resp.headers_mut().insert("x-amzn-RequestId", v);
            }
            resp
        }
        Err((_, e)) => e.with_request_id(&request_id).into_response(),
    }
}

fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        400 => "400",
        403 => "403",
        404 => "404",
        409 => "409",
        _ => "500",
    }
}

async fn handle(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: Body,
    facts: Facts,
) -> Result<(String, Option<Xml>), (String, IamError)> {
    let (caller, bytes) = authenticate(state, parts, body, &facts)
        .await
        .map_err(|e| (String::new(), e))?;
    // Parameters go in the signed body; one in the query string too would leave two
    // candidates for what the request asks (and the request log would name the other).
    if parts.uri.query().is_some_and(|q| !q.is_empty()) {
        return Err((
            String::new(),
            IamError::new(
                "InvalidInput",
                "the query protocol's parameters go in the request body, not the URL",
            ),
        ));
    }
    let params = Params::parse(&bytes).map_err(|e| (String::new(), e))?;
    let operation = params.get("Action").unwrap_or_default().to_owned();
    let fail = |e: IamError| (operation.clone(), e);
    if operation.is_empty() {
        return Err(fail(IamError::new(
            "MissingAction",
            "the request names no Action",
        )));
    }
    if params.get("Version").is_some_and(|v| v != VERSION) {
        return Err(fail(IamError::new(
            "InvalidAction",
            format!(
                "Could not find operation {operation} for version {}",
                params.get("Version").unwrap_or_default()
            ),
        )));
    }
    let Some(op) = IamOperation::parse(&operation) else {
        return Err(fail(IamError::new(
            "InvalidAction",
            format!("Could not find operation {operation} for version {VERSION}"),
        )));
    };
    let ctx = IamContext {
        caller,
        facts,
        params,
        operation: op,
        decided: Decided::default(),
    };
    match run(state, &ctx).await {
        // An answer no decision stood behind would be a route without authorization: refuse it.
        Ok(_) if !ctx.decided.get() => {
            tracing::error!(
                operation = op.name(),
                "an IAM operation answered without an authorization decision; refused"
            );
            Err(fail(IamError::server()))
        }
        Ok(out) => Ok((operation.clone(), out)),
        Err(e) => Err(fail(e)),
    }
}

operations! {
    /// Every operation of the IAM API this server serves; `iam:<Name>` authorizes it.
    pub enum IamOperation: "iam" {
        CreateUser,
        GetUser,
        ListUsers,
        DeleteUser,
        CreateGroup,
        GetGroup,
        ListGroups,
        DeleteGroup,
        AddUserToGroup,
        RemoveUserFromGroup,
        ListGroupsForUser,
        CreateRole,
        GetRole,
        ListRoles,
        DeleteRole,
        CreateAccessKey,
        ListAccessKeys,
        UpdateAccessKey,
        DeleteAccessKey,
        PutUserPolicy,
        GetUserPolicy,
        ListUserPolicies,
        DeleteUserPolicy,
        PutGroupPolicy,
        GetGroupPolicy,
        ListGroupPolicies,
        DeleteGroupPolicy,
        PutRolePolicy,
        GetRolePolicy,
        ListRolePolicies,
        DeleteRolePolicy,
        CreatePolicy,
        GetPolicy,
        ListPolicies,
        DeletePolicy,
        GetPolicyVersion,
        AttachUserPolicy,
        DetachUserPolicy,
        ListAttachedUserPolicies,
        AttachGroupPolicy,
        DetachGroupPolicy,
        ListAttachedGroupPolicies,
        AttachRolePolicy,
        DetachRolePolicy,
        ListAttachedRolePolicies,
        TagUser,
        UntagUser,
        ListUserTags,
        TagRole,
        UntagRole,
        ListRoleTags,
        GetAccountAuthorizationDetails,
        SimulateCustomPolicy,
        SimulatePrincipalPolicy,
    }
}

async fn run(state: &AppState, ctx: &IamContext) -> Output {
    use portcullis_core::identity::PrincipalKind::{Group, Role, User};
    use IamOperation as Op;
    match ctx.operation {
        Op::CreateUser => identities::create_user(state, ctx).await,
        Op::GetUser => identities::get_user(state, ctx).await,
        Op::ListUsers => identities::list_users(state, ctx).await,
        Op::DeleteUser => identities::delete_user(state, ctx).await,
        Op::CreateGroup => identities::create_group(state, ctx).await,
        Op::GetGroup => identities::get_group(state, ctx).await,
        Op::ListGroups => identities::list_groups(state, ctx).await,
        Op::DeleteGroup => identities::delete_group(state, ctx).await,
        Op::AddUserToGroup => identities::add_user_to_group(state, ctx).await,
        Op::RemoveUserFromGroup => identities::remove_user_from_group(state, ctx).await,
        Op::ListGroupsForUser => identities::list_groups_for_user(state, ctx).await,
        Op::CreateRole => identities::create_role(state, ctx).await,
        Op::GetRole => identities::get_role(state, ctx).await,
        Op::ListRoles => identities::list_roles(state, ctx).await,
        Op::DeleteRole => identities::delete_role(state, ctx).await,
        Op::CreateAccessKey => identities::create_access_key(state, ctx).await,
        Op::ListAccessKeys => identities::list_access_keys(state, ctx).await,
        Op::UpdateAccessKey => identities::update_access_key(state, ctx).await,
        Op::DeleteAccessKey => identities::delete_access_key(state, ctx).await,
        Op::TagUser => identities::tag(state, ctx, User).await,
        Op::UntagUser => identities::untag(state, ctx, User).await,
        Op::ListUserTags => identities::list_tags(state, ctx, User).await,
        Op::TagRole => identities::tag(state, ctx, Role).await,
        Op::UntagRole => identities::untag(state, ctx, Role).await,
        Op::ListRoleTags => identities::list_tags(state, ctx, Role).await,
        Op::PutUserPolicy => policies::put_inline(state, ctx, User).await,
        Op::GetUserPolicy => policies::get_inline(state, ctx, User).await,
        Op::ListUserPolicies => policies::list_inline(state, ctx, User).await,
        Op::DeleteUserPolicy => policies::delete_inline(state, ctx, User).await,
        Op::PutGroupPolicy => policies::put_inline(state, ctx, Group).await,
        Op::GetGroupPolicy => policies::get_inline(state, ctx, Group).await,
        Op::ListGroupPolicies => policies::list_inline(state, ctx, Group).await,
        Op::DeleteGroupPolicy => policies::delete_inline(state, ctx, Group).await,
        Op::PutRolePolicy => policies::put_inline(state, ctx, Role).await,
        Op::GetRolePolicy => policies::get_inline(state, ctx, Role).await,
        Op::ListRolePolicies => policies::list_inline(state, ctx, Role).await,
        Op::DeleteRolePolicy => policies::delete_inline(state, ctx, Role).await,
        Op::CreatePolicy => policies::create_policy(state, ctx).await,
        Op::GetPolicy => policies::get_policy(state, ctx).await,
        Op::ListPolicies => policies::list_policies(state, ctx).await,
        Op::DeletePolicy => policies::delete_policy(state, ctx).await,
        Op::GetPolicyVersion => policies::get_policy_version(state, ctx).await,
        Op::AttachUserPolicy => policies::attach(state, ctx, User).await,
        Op::DetachUserPolicy => policies::detach(state, ctx, User).await,
        Op::ListAttachedUserPolicies => policies::list_attached(state, ctx, User).await,
        Op::AttachGroupPolicy => policies::attach(state, ctx, Group).await,
        Op::DetachGroupPolicy => policies::detach(state, ctx, Group).await,
        Op::ListAttachedGroupPolicies => policies::list_attached(state, ctx, Group).await,
        Op::AttachRolePolicy => policies::attach(state, ctx, Role).await,
        Op::DetachRolePolicy => policies::detach(state, ctx, Role).await,
        Op::ListAttachedRolePolicies => policies::list_attached(state, ctx, Role).await,
        Op::GetAccountAuthorizationDetails => {
            policies::account_authorization_details(state, ctx).await
        }
        Op::SimulateCustomPolicy => simulate::custom(state, ctx).await,
        Op::SimulatePrincipalPolicy => simulate::principal(state, ctx).await,
    }
}

/// Authorizes the request's operation on `resource` by the caller's identity policies (IAM
/// has no resource policies, and the registry policy governs ECR actions only). The target's
/// tags (`aws:ResourceTag/*`, `iam:ResourceTag/*`) are added by the decision itself. Every
/// decision is audited; a denial is `AccessDenied` with AWS's sentence.
async fn allow(state: &AppState, ctx: &IamContext, resource: &str) -> Result<(), IamError> {
    allow_with(state, ctx, ctx.operation, resource, &[]).await
}

/// [`allow`] for `operation` (the request's own, or a second one it needs: `iam:TagUser` for
/// a CreateUser with tags) with the request's own condition keys (`aws:RequestTag/*`,
/// `aws:TagKeys`, `iam:PolicyARN`).
async fn allow_with(
    state: &AppState,
    ctx: &IamContext,
    operation: IamOperation,
    resource: &str,
    extra: &[(String, Vec<portcullis_policy::Value>)],
) -> Result<(), IamError> {
    let target = Target::Iam(resource.to_owned());
    let outcome = access::check(
        state,
        &ctx.caller,
        &ctx.facts,
        SOURCE,
        operation.action(),
        &target,
        None,
        extra,
    )
    .await?;
    ctx.decided.mark();
    if outcome.allowed() {
        Ok(())
    } else {
        Err(IamError::new("AccessDenied", outcome.denial_message()))
    }
}

/// Verifies the SigV4 signature (signing name `iam`) and resolves the caller.
async fn authenticate(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: Body,
    facts: &Facts,
) -> Result<(Caller, bytes::Bytes), IamError> {
    access::authenticate_signed(
        state,
        parts,
        body,
        MAX_BODY,
        facts,
        "iam",
        Protocol::Query,
        SOURCE,
    )
    .await
    .map_err(|f| match f {
        access::SignedAuthFailure::SigV4(e) => IamError::from(e),
        access::SignedAuthFailure::Internal => IamError::server(),
        access::SignedAuthFailure::Body => IamError::new(
            "InvalidInput",
            "the request body is too large or was cut off",
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::IamOperation;

    /// The policy validator knows every action this API authorizes, so it never calls a
    /// served action unknown (and hides a real warning among false ones).
    #[test]
    fn every_operation_is_in_the_policy_catalog() {
        for op in IamOperation::ALL {
            assert!(
                portcullis_policy::catalog::action(op.action()).is_some(),
                "{} is missing from portcullis_policy::catalog::ACTIONS",
                op.action()
            );
        }
    }
}
