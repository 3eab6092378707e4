//! Users, groups, roles, access keys and principal tags.

use portcullis_core::identity::PrincipalKind;

use super::input::page;
use super::xml::{self, Xml};
use super::{allow, allow_with, IamContext, IamError, IamOperation, Output};
use crate::access;
use crate::AppState;

const USER_NAME_MAX: usize = 64;
const GROUP_NAME_MAX: usize = 128;
const ROLE_NAME_MAX: usize = 64;

/// The ARN of an existing principal (with its path), or of the name at `/` when it does not
/// exist, so that authorization comes before the existence check as in IAM.
pub(super) async fn principal_arn(state: &AppState, kind: PrincipalKind, name: &str) -> String {
    let path = match kind {
        PrincipalKind::User => state.iam.user(name).await.ok().map(|u| u.path),
        PrincipalKind::Group => state.iam.group(name).await.ok().map(|g| g.path),
        PrincipalKind::Role => state.iam.role(name).await.ok().map(|r| r.path),
    };
    state
        .iam
        .iam_arn(kind.as_str(), path.as_deref().unwrap_or("/"), name)
}

/// `UserName`, defaulting to the caller as IAM does for the self-service operations.
fn user_name_or_caller(ctx: &IamContext) -> Result<&str, IamError> {
    match ctx.params.opt_name("UserName", USER_NAME_MAX)? {
        Some(n) => Ok(n),
        None => ctx
            .caller_name()
            .ok_or_else(|| IamError::validation("UserName is required")),
    }
}

pub(super) fn owner_member(kind: PrincipalKind) -> (&'static str, usize) {
    match kind {
        PrincipalKind::User => ("UserName", USER_NAME_MAX),
        PrincipalKind::Group => ("GroupName", GROUP_NAME_MAX),
        PrincipalKind::Role => ("RoleName", ROLE_NAME_MAX),
    }
}

// ---- users ----

pub async fn create_user(state: &AppState, ctx: &IamContext) -> Output {
    let name = ctx.params.name("UserName", USER_NAME_MAX)?;
    let path = ctx.params.path("Path")?;
    let tags = ctx.params.tags("Tags")?;
    let arn = state.iam.iam_arn("user", path, name);
    let request_tags = access::request_tag_context(&tags);
    allow_with(state, ctx, ctx.operation, &arn, &request_tags).await?;
    if !tags.is_empty() {
        allow_with(state, ctx, IamOperation::TagUser, &arn, &request_tags).await?;
    }
    let user = state.iam.create_user(name, path).await?;
    if !tags.is_empty() {
        state.iam.tag(PrincipalKind::User, name, &tags).await?;
    }
    let mut x = Xml::new();
    x.open("User");
    xml::user(&mut x, &user, &arn);
    if !tags.is_empty() {
        xml::tags(&mut x, "Tags", &tags);
    }
    x.close("User");
    Ok(Some(x))
}

pub async fn get_user(state: &AppState, ctx: &IamContext) -> Output {
    let name = user_name_or_caller(ctx)?;
    let arn = principal_arn(state, PrincipalKind::User, name).await;
    allow(state, ctx, &arn).await?;
    let user = state.iam.user(name).await?;
    let tags = state.iam.tags(PrincipalKind::User, name).await?;
    let mut x = Xml::new();
    x.open("User");
    xml::user(&mut x, &user, &arn);
    if !tags.is_empty() {
        xml::tags(&mut x, "Tags", &tags);
    }
    x.close("User");
    Ok(Some(x))
}

pub async fn list_users(state: &AppState, ctx: &IamContext) -> Output {
    let prefix = ctx.params.path_prefix()?;
    let (max, marker) = ctx.params.paging()?;
    allow(state, ctx, &state.iam.iam_arn("user", "/", "")).await?;
    let users: Vec<_> = state
        .iam
        .list_users()
        .await?
        .into_iter()
        .filter(|u| u.path.starts_with(prefix))
        .collect();
    let (users, next) = page(users, |u| &u.name, max, marker);
    let mut x = Xml::new();
    x.list("Users", &users, |x, u| {
        xml::user(x, u, &state.iam.iam_arn("user", &u.path, &u.name));
    })
    .page(next.as_deref());
    Ok(Some(x))
}

pub async fn delete_user(state: &AppState, ctx: &IamContext) -> Output {
    let name = ctx.params.name("UserName", USER_NAME_MAX)?;
    let arn = principal_arn(state, PrincipalKind::User, name).await;
    allow(state, ctx, &arn).await?;
    state.iam.delete_user(name).await?;
    Ok(None)
}

// ---- groups ----

pub async fn create_group(state: &AppState, ctx: &IamContext) -> Output {
    let name = ctx.params.name("GroupName", GROUP_NAME_MAX)?;
    let path = ctx.params.path("Path")?;
    let arn = state.iam.iam_arn("group", path, name);
    allow(state, ctx, &arn).await?;
    let group = state.iam.create_group(name, path).await?;
    let mut x = Xml::new();
    x.open("Group");
    xml::group(&mut x, &group, &arn);
    x.close("Group");
    Ok(Some(x))
}

pub async fn get_group(state: &AppState, ctx: &IamContext) -> Output {
    let name = ctx.params.name("GroupName", GROUP_NAME_MAX)?;
    let (max, marker) = ctx.params.paging()?;
    let arn = principal_arn(state, PrincipalKind::Group, name).await;
    allow(state, ctx, &arn).await?;
    let group = state.iam.group(name).await?;
    let members = state.iam.group_members(name).await?;
    let (members, next) = page(members, |u| &u.name, max, marker);
    let mut x = Xml::new();
    x.open("Group");
    xml::group(&mut x, &group, &arn);
    x.close("Group");
    x.list("Users", &members, |x, u| {
        xml::user(x, u, &state.iam.iam_arn("user", &u.path, &u.name));
    })
    .page(next.as_deref());
    Ok(Some(x))
}

pub async fn list_groups(state: &AppState, ctx: &IamContext) -> Output {
    let prefix = ctx.params.path_prefix()?;
    let (max, marker) = ctx.params.paging()?;
    allow(state, ctx, &state.iam.iam_arn("group", "/", "")).await?;
    let groups: Vec<_> = state
        .iam
        .list_groups()
        .await?
        .into_iter()
        .filter(|g| g.path.starts_with(prefix))
        .collect();
    let (groups, next) = page(groups, |g| &g.name, max, marker);
    let mut x = Xml::new();
    x.list("Groups", &groups, |x, g| {
        xml::group(x, g, &state.iam.iam_arn("group", &g.path, &g.name));
    })
    .page(next.as_deref());
    Ok(Some(x))
}

pub async fn list_groups_for_user(state: &AppState, ctx: &IamContext) -> Output {
    let name = ctx.params.name("UserName", USER_NAME_MAX)?;
    let (max, marker) = ctx.params.paging()?;
    let arn = principal_arn(state, PrincipalKind::User, name).await;
    allow(state, ctx, &arn).await?;
    let groups = state.iam.groups_of_user(name).await?;
    let (groups, next) = page(groups, |g| &g.name, max, marker);
    let mut x = Xml::new();
    x.list("Groups", &groups, |x, g| {
        xml::group(x, g, &state.iam.iam_arn("group", &g.path, &g.name));
    })
    .page(next.as_deref());
    Ok(Some(x))
}

pub async fn delete_group(state: &AppState, ctx: &IamContext) -> Output {
    let name = ctx.params.name("GroupName", GROUP_NAME_MAX)?;
    let arn = principal_arn(state, PrincipalKind::Group, name).await;
    allow(state, ctx, &arn).await?;
    state.iam.delete_group(name).await?;
    Ok(None)
}

pub async fn add_user_to_group(state: &AppState, ctx: &IamContext) -> Output {
    let group = ctx.params.name("GroupName", GROUP_NAME_MAX)?;
    let user = ctx.params.name("UserName", USER_NAME_MAX)?;
    let arn = principal_arn(state, PrincipalKind::Group, group).await;
    allow(state, ctx, &arn).await?;
    state.iam.add_user_to_group(group, user).await?;
    Ok(None)
}

pub async fn remove_user_from_group(state: &AppState, ctx: &IamContext) -> Output {
    let group = ctx.params.name("GroupName", GROUP_NAME_MAX)?;
    let user = ctx.params.name("UserName", USER_NAME_MAX)?;
    let arn = principal_arn(state, PrincipalKind::Group, group).await;
    allow(state, ctx, &arn).await?;
    state.iam.remove_user_from_group(group, user).await?;
    Ok(None)
}

// ---- roles ----

pub async fn create_role(state: &AppState, ctx: &IamContext) -> Output {
    let name = ctx.params.name("RoleName", ROLE_NAME_MAX)?;
    let path = ctx.params.path("Path")?;
    let trust = ctx.params.document("AssumeRolePolicyDocument")?;
    let description = ctx.params.get("Description");
    if description.is_some_and(|d| d.chars().count() > 1000) {
        return Err(IamError::validation(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000",
        ));
    }
    let max_session = match ctx.params.get("MaxSessionDuration") {
        None => 3600,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (3600..=43200).contains(&n) => n,
            _ => {
                return Err(IamError::validation(format!(
                    "1 validation error detected: Value '{v}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value between 3600 and 43200"
                )))
            }
        },
    };
    let tags = ctx.params.tags("Tags")?;
    let arn = state.iam.iam_arn("role", path, name);
    let request_tags = access::request_tag_context(&tags);
    allow_with(state, ctx, ctx.operation, &arn, &request_tags).await?;
    if !tags.is_empty() {
        allow_with(state, ctx, IamOperation::TagRole, &arn, &request_tags).await?;
    }
    let role = state
        .iam
        .create_role(name, path, trust, description, max_session)
        .await?;
    if !tags.is_empty() {
        state.iam.tag(PrincipalKind::Role, name, &tags).await?;
    }
    let mut x = Xml::new();
    x.open("Role");
    xml::role(&mut x, &role, &arn);
    if !tags.is_empty() {
        xml::tags(&mut x, "Tags", &tags);
    }
    x.close("Role");
    Ok(Some(x))
}

pub async fn get_role(state: &AppState, ctx: &IamContext) -> Output {
    let name = ctx.params.name("RoleName", ROLE_NAME_MAX)?;
    let arn = principal_arn(state, PrincipalKind::Role, name).await;
    allow(state, ctx, &arn).await?;
    let role = state.iam.role(name).await?;
    let tags = state.iam.tags(PrincipalKind::Role, name).await?;
    let mut x = Xml::new();
    x.open("Role");
    xml::role(&mut x, &role, &arn);
    if !tags.is_empty() {
        xml::tags(&mut x, "Tags", &tags);
    }
    x.close("Role");
    Ok(Some(x))
}

pub async fn list_roles(state: &AppState, ctx: &IamContext) -> Output {
    let prefix = ctx.params.path_prefix()?;
    let (max, marker) = ctx.params.paging()?;
    allow(state, ctx, &state.iam.iam_arn("role", "/", "")).await?;
    let roles: Vec<_> = state
        .iam
        .list_roles()
        .await?
        .into_iter()
        .filter(|r| r.path.starts_with(prefix))
        .collect();
    let (roles, next) = page(roles, |r| &r.name, max, marker);
    let mut x = Xml::new();
    x.list("Roles", &roles, |x, r| {
        xml::role(x, r, &state.iam.iam_arn("role", &r.path, &r.name));
    })
    .page(next.as_deref());
    Ok(Some(x))
}

pub async fn delete_role(state: &AppState, ctx: &IamContext) -> Output {
    let name = ctx.params.name("RoleName", ROLE_NAME_MAX)?;
    let arn = principal_arn(state, PrincipalKind::Role, name).await;
    allow(state, ctx, &arn).await?;
    state.iam.delete_role(name).await?;
    Ok(None)
}

// ---- access keys ----

pub async fn create_access_key(state: &AppState, ctx: &IamContext) -> Output {
    let user = user_name_or_caller(ctx)?;
    let arn = principal_arn(state, PrincipalKind::User, user).await;
    allow(state, ctx, &arn).await?;
    let key = state.iam.create_access_key_limited(user).await?;
    let record = state.iam.access_key_of(user, &key.access_key_id).await?;
    let mut x = Xml::new();
    x.open("AccessKey")
        .leaf("UserName", &key.user_name)
        .leaf("AccessKeyId", &key.access_key_id)
        .leaf("Status", "Active")
        .leaf("SecretAccessKey", key.secret_access_key.expose())
        .date("CreateDate", record.created_at)
        .close("AccessKey");
    Ok(Some(x))
}

pub async fn list_access_keys(state: &AppState, ctx: &IamContext) -> Output {
    let user = user_name_or_caller(ctx)?;
    let (max, marker) = ctx.params.paging()?;
    let arn = principal_arn(state, PrincipalKind::User, user).await;
    allow(state, ctx, &arn).await?;
    let keys = state.iam.access_keys_of(user).await?;
    let (keys, next) = page(keys, |k| &k.access_key_id, max, marker);
    let mut x = Xml::new();
    x.list("AccessKeyMetadata", &keys, |x, k| {
        xml::access_key_metadata(x, k)
    })
    .page(next.as_deref());
    Ok(Some(x))
}

pub async fn update_access_key(state: &AppState, ctx: &IamContext) -> Output {
    let user = user_name_or_caller(ctx)?;
    let key = ctx.params.access_key_id()?;
    let active = match ctx.params.required("Status")? {
        "Active" => true,
        "Inactive" => false,
        other => {
            return Err(IamError::validation(format!(
                "1 validation error detected: Value '{other}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
            )))
        }
    };
    let arn = principal_arn(state, PrincipalKind::User, user).await;
    allow(state, ctx, &arn).await?;
    state.iam.access_key_of(user, key).await?;
    state.iam.set_access_key_active(key, active).await?;
    Ok(None)
}

pub async fn delete_access_key(state: &AppState, ctx: &IamContext) -> Output {
    let user = user_name_or_caller(ctx)?;
    let key = ctx.params.access_key_id()?;
    let arn = principal_arn(state, PrincipalKind::User, user).await;
    allow(state, ctx, &arn).await?;
    state.iam.access_key_of(user, key).await?;
    state.iam.delete_access_key(key).await?;
    Ok(None)
}

// ---- tags ----

pub async fn tag(state: &AppState, ctx: &IamContext, kind: PrincipalKind) -> Output {
    let (member, max) = owner_member(kind);
    let name = ctx.params.name(member, max)?;
    let tags = ctx.params.tags("Tags")?;
    let arn = principal_arn(state, kind, name).await;
    let extra = access::request_tag_context(&tags);
    allow_with(state, ctx, ctx.operation, &arn, &extra).await?;
    state.iam.tag(kind, name, &tags).await?;
    Ok(None)
}

pub async fn untag(state: &AppState, ctx: &IamContext, kind: PrincipalKind) -> Output {
    let (member, max) = owner_member(kind);
    let name = ctx.params.name(member, max)?;
    let keys = ctx.params.tag_keys()?;
    let arn = principal_arn(state, kind, name).await;
    let extra = access::tag_keys_context(keys.iter().map(String::as_str));
    allow_with(state, ctx, ctx.operation, &arn, &extra).await?;
    state.iam.untag(kind, name, &keys).await?;
    Ok(None)
}

pub async fn list_tags(state: &AppState, ctx: &IamContext, kind: PrincipalKind) -> Output {
    let (member, max) = owner_member(kind);
    let name = ctx.params.name(member, max)?;
    let (max_items, marker) = ctx.params.paging()?;
    let arn = principal_arn(state, kind, name).await;
    allow(state, ctx, &arn).await?;
    let tags = state.iam.tags(kind, name).await?;
    let (tags, next) = page(tags, |(k, _)| k, max_items, marker);
    let mut x = Xml::new();
    xml::tags(&mut x, "Tags", &tags);
    x.page(next.as_deref());
    Ok(Some(x))
}
