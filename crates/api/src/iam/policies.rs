//! Inline policies of users, groups and roles; customer managed policies and their
//! attachments; the account authorization details.

use portcullis_core::identity::PrincipalKind;

use super::identities::{owner_member, principal_arn};
use super::input::page;
use super::xml::{self, Xml};
use super::{allow, allow_with, IamContext, IamError, Output};
use crate::AppState;

const POLICY_NAME_MAX: usize = 128;

/// `iam:PolicyARN`: the managed policy an Attach/Detach names, for the guards that keep a
/// delegated administrator from granting a policy it must not.
fn policy_arn_context(policy: &str) -> Vec<(String, Vec<portcullis_policy::Value>)> {
    vec![(
        "iam:PolicyARN".to_owned(),
        vec![portcullis_policy::Value::string(policy.to_owned())],
    )]
}

// ---- inline ----

pub async fn put_inline(state: &AppState, ctx: &IamContext, kind: PrincipalKind) -> Output {
    let (member, max) = owner_member(kind);
    let owner = ctx.params.name(member, max)?;
    let name = ctx.params.name("PolicyName", POLICY_NAME_MAX)?;
    let document = ctx.params.document("PolicyDocument")?;
    let arn = principal_arn(state, kind, owner).await;
    allow(state, ctx, &arn).await?;
    state
        .iam
        .put_inline_policy(kind, owner, name, document)
        .await?;
    Ok(None)
}

pub async fn get_inline(state: &AppState, ctx: &IamContext, kind: PrincipalKind) -> Output {
    let (member, max) = owner_member(kind);
    let owner = ctx.params.name(member, max)?;
    let name = ctx.params.name("PolicyName", POLICY_NAME_MAX)?;
    let arn = principal_arn(state, kind, owner).await;
    allow(state, ctx, &arn).await?;
    let document = state.iam.inline_policy(kind, owner, name).await?;
    let mut x = Xml::new();
    x.leaf(member, owner)
        .leaf("PolicyName", name)
        .leaf("PolicyDocument", &xml::url_encode(&document));
    Ok(Some(x))
}

pub async fn list_inline(state: &AppState, ctx: &IamContext, kind: PrincipalKind) -> Output {
    let (member, max) = owner_member(kind);
    let owner = ctx.params.name(member, max)?;
    let (max_items, marker) = ctx.params.paging()?;
    let arn = principal_arn(state, kind, owner).await;
    allow(state, ctx, &arn).await?;
    let names = state.iam.inline_policy_names(kind, owner).await?;
    let (names, next) = page(names, |n| n, max_items, marker);
    let mut x = Xml::new();
    x.strings("PolicyNames", &names).page(next.as_deref());
    Ok(Some(x))
}

pub async fn delete_inline(state: &AppState, ctx: &IamContext, kind: PrincipalKind) -> Output {
    let (member, max) = owner_member(kind);
    let owner = ctx.params.name(member, max)?;
    let name = ctx.params.name("PolicyName", POLICY_NAME_MAX)?;
    let arn = principal_arn(state, kind, owner).await;
    allow(state, ctx, &arn).await?;
    state.iam.delete_inline_policy(kind, owner, name).await?;
    Ok(None)
}

// ---- managed ----

pub async fn create_policy(state: &AppState, ctx: &IamContext) -> Output {
    let name = ctx.params.name("PolicyName", POLICY_NAME_MAX)?;
    let path = ctx.params.path("Path")?;
    let document = ctx.params.document("PolicyDocument")?;
    let description = ctx.params.get("Description");
    if description.is_some_and(|d| d.chars().count() > 1000) {
        return Err(IamError::validation(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000",
        ));
    }
    let arn = state.iam.iam_arn("policy", path, name);
    allow(state, ctx, &arn).await?;
    let policy = state
        .iam
        .create_policy(name, path, description, document)
        .await?;
    let mut x = Xml::new();
    x.open("Policy");
    xml::managed_policy(&mut x, &policy, 0);
    x.close("Policy");
    Ok(Some(x))
}

pub async fn get_policy(state: &AppState, ctx: &IamContext) -> Output {
    let arn = ctx.params.arn("PolicyArn")?;
    allow(state, ctx, arn).await?;
    let policy = state.iam.policy(arn).await?;
    let count = state.iam.policy_attachment_count(arn).await?;
    let mut x = Xml::new();
    x.open("Policy");
    xml::managed_policy(&mut x, &policy, count);
    x.close("Policy");
    Ok(Some(x))
}

pub async fn list_policies(state: &AppState, ctx: &IamContext) -> Output {
    let prefix = ctx.params.path_prefix()?;
    let (max, marker) = ctx.params.paging()?;
    let scope = ctx.params.get("Scope").unwrap_or("All");
    if !matches!(scope, "All" | "AWS" | "Local") {
        return Err(IamError::validation(format!(
            "1 validation error detected: Value '{scope}' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]"
        )));
    }
    let only_attached = ctx.params.get("OnlyAttached") == Some("true");
    allow(state, ctx, &state.iam.iam_arn("policy", "/", "")).await?;
    let mut policies = Vec::new();
    // Only customer managed policies exist here: scope AWS lists nothing.
    if scope != "AWS" {
        for p in state.iam.list_policies().await? {
            if !p.path.starts_with(prefix) {
                continue;
            }
            let count = state.iam.policy_attachment_count(&p.arn).await?;
            if only_attached && count == 0 {
                continue;
            }
            policies.push((p, count));
        }
    }
    let (policies, next) = page(policies, |(p, _)| &p.name, max, marker);
    let mut x = Xml::new();
    x.list("Policies", &policies, |x, (p, count)| {
        xml::managed_policy(x, p, *count)
    })
    .page(next.as_deref());
    Ok(Some(x))
}

pub async fn delete_policy(state: &AppState, ctx: &IamContext) -> Output {
    let arn = ctx.params.arn("PolicyArn")?;
    allow(state, ctx, arn).await?;
    state.iam.delete_policy(arn).await?;
    Ok(None)
}

pub async fn get_policy_version(state: &AppState, ctx: &IamContext) -> Output {
    let arn = ctx.params.arn("PolicyArn")?;
    let version = ctx.params.required("VersionId")?;
    if !version.starts_with('v') || version.len() < 2 {
        return Err(IamError::validation(format!(
            "1 validation error detected: Value '{version}' at 'versionId' failed to satisfy constraint: Member must satisfy regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?"
        )));
    }
    allow(state, ctx, arn).await?;
    let policy = state.iam.policy(arn).await?;
    let v = state.iam.policy_version(arn, version).await?;
    let mut x = Xml::new();
    x.open("PolicyVersion");
    xml::policy_version(&mut x, &v, v.version_id == policy.default_version);
    x.close("PolicyVersion");
    Ok(Some(x))
}

pub async fn attach(state: &AppState, ctx: &IamContext, kind: PrincipalKind) -> Output {
    let (member, max) = owner_member(kind);
    let owner = ctx.params.name(member, max)?;
    let policy = ctx.params.arn("PolicyArn")?;
    let arn = principal_arn(state, kind, owner).await;
    allow_with(state, ctx, ctx.operation, &arn, &policy_arn_context(policy)).await?;
    state.iam.attach_policy(kind, owner, policy).await?;
    Ok(None)
}

pub async fn detach(state: &AppState, ctx: &IamContext, kind: PrincipalKind) -> Output {
    let (member, max) = owner_member(kind);
    let owner = ctx.params.name(member, max)?;
    let policy = ctx.params.arn("PolicyArn")?;
    let arn = principal_arn(state, kind, owner).await;
    allow_with(state, ctx, ctx.operation, &arn, &policy_arn_context(policy)).await?;
    state.iam.detach_policy(kind, owner, policy).await?;
    Ok(None)
}

pub async fn list_attached(state: &AppState, ctx: &IamContext, kind: PrincipalKind) -> Output {
    let (member, max) = owner_member(kind);
    let owner = ctx.params.name(member, max)?;
    let prefix = ctx.params.path_prefix()?;
    let (max_items, marker) = ctx.params.paging()?;
    let arn = principal_arn(state, kind, owner).await;
    allow(state, ctx, &arn).await?;
    let account_prefix = state.iam.iam_arn("policy", prefix, "");
    let attached: Vec<_> = state
        .iam
        .attached_policies(kind, owner)
        .await?
        .into_iter()
        .filter(|(_, a)| a.starts_with(&account_prefix))
        .collect();
    let (attached, next) = page(attached, |(n, _)| n, max_items, marker);
    let mut x = Xml::new();
    x.list("AttachedPolicies", &attached, xml::attached_policy)
        .page(next.as_deref());
    Ok(Some(x))
}

// ---- everything at once ----

pub async fn account_authorization_details(state: &AppState, ctx: &IamContext) -> Output {
    let (max, marker) = ctx.params.paging()?;
    let filter: Vec<&str> = ctx.params.list("Filter");
    const FILTERS: [&str; 5] = [
        "User",
        "Role",
        "Group",
        "LocalManagedPolicy",
        "AWSManagedPolicy",
    ];
    if let Some(f) = filter.iter().find(|f| !FILTERS.contains(f)) {
        return Err(IamError::validation(format!(
            "1 validation error detected: Value '{f}' at 'filter' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            FILTERS.join(", ")
        )));
    }
    let wants = |f: &str| filter.is_empty() || filter.contains(&f);
    allow(state, ctx, "*").await?;

    // One ordered list of entries so that Marker and MaxItems page across all four lists.
    enum Entry {
        User(portcullis_core::identity::UserRecord),
        Group(portcullis_core::identity::GroupRecord),
        Role(portcullis_core::identity::RoleRecord),
        Policy(portcullis_core::identity::ManagedPolicyRecord),
    }
    let mut entries: Vec<(String, Entry)> = Vec::new();
    if wants("User") {
        let users = state.iam.list_users().await?.into_iter();
        entries.extend(users.map(|u| (format!("1/{}", u.name), Entry::User(u))));
    }
    if wants("Group") {
        let groups = state.iam.list_groups().await?.into_iter();
        entries.extend(groups.map(|g| (format!("2/{}", g.name), Entry::Group(g))));
    }
    if wants("Role") {
        let roles = state.iam.list_roles().await?.into_iter();
        entries.extend(roles.map(|r| (format!("3/{}", r.name), Entry::Role(r))));
    }
    if wants("LocalManagedPolicy") {
        let policies = state.iam.list_policies().await?.into_iter();
        entries.extend(policies.map(|p| (format!("4/{}", p.name), Entry::Policy(p))));
    }
    let (entries, next) = page(entries, |(k, _)| k, max, marker);

    let [mut users, mut groups, mut roles, mut policies] = [(); 4].map(|_| Xml::new());
    for (_, entry) in entries {
        match entry {
            Entry::User(u) => {
                let arn = state.iam.iam_arn("user", &u.path, &u.name);
                let name = u.name.clone();
                let d = state
                    .iam
                    .principal_detail(PrincipalKind::User, &name, u)
                    .await?;
                users.open("member");
                xml::user_detail(&mut users, &d, &arn);
                users.close("member");
            }
            Entry::Group(g) => {
                let arn = state.iam.iam_arn("group", &g.path, &g.name);
                let name = g.name.clone();
                let d = state
                    .iam
                    .principal_detail(PrincipalKind::Group, &name, g)
                    .await?;
                groups.open("member");
                xml::group_detail(&mut groups, &d, &arn);
                groups.close("member");
            }
            Entry::Role(r) => {
                let arn = state.iam.iam_arn("role", &r.path, &r.name);
                let name = r.name.clone();
                let d = state
                    .iam
                    .principal_detail(PrincipalKind::Role, &name, r)
                    .await?;
                roles.open("member");
                xml::role_detail(&mut roles, &d, &arn);
                roles.close("member");
            }
            Entry::Policy(p) => {
                let d = state.iam.managed_policy_detail(p).await?;
                policies.open("member");
                xml::managed_policy_detail(&mut policies, &d);
                policies.close("member");
            }
        }
    }
    let mut x = Xml::new();
    for (tag, part) in [
        ("UserDetailList", users),
        ("GroupDetailList", groups),
        ("RoleDetailList", roles),
        ("Policies", policies),
    ] {
        x.open(tag).raw(part).close(tag);
    }
    x.page(next.as_deref());
    Ok(Some(x))
}
