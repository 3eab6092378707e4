//! Inline policies of users, groups and roles; customer managed policies and their
//! attachments; the account authorization details.

use portcullis_storage::PrincipalKind;

use super::identities::{owner_member, principal_arn};
use super::input::page;
use super::xml::{self, Xml};
use super::{allow, IamContext, IamError, Output};
use crate::AppState;

const POLICY_NAME_MAX: usize = 128;

fn noun(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::User => "User",
        PrincipalKind::Group => "Group",
        PrincipalKind::Role => "Role",
    }
}

// ---- inline ----

pub async fn put_inline(state: &AppState, ctx: &IamContext, kind: PrincipalKind) -> Output {
    let (member, max) = owner_member(kind);
    let owner = ctx.params.name(member, max)?;
    let name = ctx.params.name("PolicyName", POLICY_NAME_MAX)?;
    let document = ctx.params.document("PolicyDocument")?;
    let arn = principal_arn(state, kind, owner).await;
    allow(state, ctx, &format!("Put{}Policy", noun(kind)), &arn).await?;
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
    allow(state, ctx, &format!("Get{}Policy", noun(kind)), &arn).await?;
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
    allow(state, ctx, &format!("List{}Policies", noun(kind)), &arn).await?;
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
    allow(state, ctx, &format!("Delete{}Policy", noun(kind)), &arn).await?;
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
    allow(state, ctx, "CreatePolicy", &arn).await?;
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
    allow(state, ctx, "GetPolicy", arn).await?;
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
    allow(
        state,
        ctx,
        "ListPolicies",
        &state.iam.iam_arn("policy", "/", ""),
    )
    .await?;
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
    allow(state, ctx, "DeletePolicy", arn).await?;
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
    allow(state, ctx, "GetPolicyVersion", arn).await?;
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
    allow(state, ctx, &format!("Attach{}Policy", noun(kind)), &arn).await?;
    state.iam.attach_policy(kind, owner, policy).await?;
    Ok(None)
}

pub async fn detach(state: &AppState, ctx: &IamContext, kind: PrincipalKind) -> Output {
    let (member, max) = owner_member(kind);
    let owner = ctx.params.name(member, max)?;
    let policy = ctx.params.arn("PolicyArn")?;
    let arn = principal_arn(state, kind, owner).await;
    allow(state, ctx, &format!("Detach{}Policy", noun(kind)), &arn).await?;
    state.iam.detach_policy(kind, owner, policy).await?;
    Ok(None)
}

pub async fn list_attached(state: &AppState, ctx: &IamContext, kind: PrincipalKind) -> Output {
    let (member, max) = owner_member(kind);
    let owner = ctx.params.name(member, max)?;
    let prefix = ctx.params.path_prefix()?;
    let (max_items, marker) = ctx.params.paging()?;
    let arn = principal_arn(state, kind, owner).await;
    allow(
        state,
        ctx,
        &format!("ListAttached{}Policies", noun(kind)),
        &arn,
    )
    .await?;
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

/// Inline policies of a principal as `PolicyDetail`s.
async fn inline_details(
    state: &AppState,
    kind: PrincipalKind,
    owner: &str,
) -> Result<Vec<(String, String)>, IamError> {
    let mut out = Vec::new();
    for name in state.iam.inline_policy_names(kind, owner).await? {
        let doc = state.iam.inline_policy(kind, owner, &name).await?;
        out.push((name, doc));
    }
    Ok(out)
}

fn policy_details(x: &mut Xml, tag: &str, items: &[(String, String)]) {
    x.list(tag, items, |x, (name, doc)| {
        x.leaf("PolicyName", name)
            .leaf("PolicyDocument", &xml::url_encode(doc));
    });
}

pub async fn account_authorization_details(state: &AppState, ctx: &IamContext) -> Output {
    let (max, marker) = ctx.params.paging()?;
    let filter: Vec<&str> = ctx.params.list("Filter");
    for f in &filter {
        if !matches!(
            *f,
            "User" | "Role" | "Group" | "LocalManagedPolicy" | "AWSManagedPolicy"
        ) {
            return Err(IamError::validation(format!(
                "1 validation error detected: Value '{f}' at 'filter' failed to satisfy constraint: Member must satisfy enum value set: [User, Role, Group, LocalManagedPolicy, AWSManagedPolicy]"
            )));
        }
    }
    let wants = |f: &str| filter.is_empty() || filter.contains(&f);
    allow(state, ctx, "GetAccountAuthorizationDetails", "*").await?;

    // One ordered list of entries so that Marker and MaxItems page across all four lists.
    enum Entry {
        User(portcullis_storage::UserRecord),
        Group(portcullis_storage::iam::GroupRecord),
        Role(portcullis_storage::iam::RoleRecord),
        Policy(portcullis_storage::iam::ManagedPolicyRecord),
    }
    let mut entries: Vec<(String, Entry)> = Vec::new();
    if wants("User") {
        for u in state.iam.list_users().await? {
            entries.push((format!("1/{}", u.name), Entry::User(u)));
        }
    }
    if wants("Group") {
        for g in state.iam.list_groups().await? {
            entries.push((format!("2/{}", g.name), Entry::Group(g)));
        }
    }
    if wants("Role") {
        for r in state.iam.list_roles().await? {
            entries.push((format!("3/{}", r.name), Entry::Role(r)));
        }
    }
    if wants("LocalManagedPolicy") {
        for p in state.iam.list_policies().await? {
            entries.push((format!("4/{}", p.name), Entry::Policy(p)));
        }
    }
    let (entries, next) = page(entries, |(k, _)| k, max, marker);

    let mut users = Xml::new();
    let mut groups = Xml::new();
    let mut roles = Xml::new();
    let mut policies = Xml::new();
    for (_, entry) in &entries {
        match entry {
            Entry::User(u) => {
                let arn = state.iam.iam_arn("user", &u.path, &u.name);
                let inline = inline_details(state, PrincipalKind::User, &u.name).await?;
                let group_names: Vec<String> = state
                    .iam
                    .groups_of_user(&u.name)
                    .await?
                    .into_iter()
                    .map(|g| g.name)
                    .collect();
                let attached = state
                    .iam
                    .attached_policies(PrincipalKind::User, &u.name)
                    .await?;
                let tags = state.iam.tags(PrincipalKind::User, &u.name).await?;
                users.open("member");
                xml::user(&mut users, u, &arn);
                policy_details(&mut users, "UserPolicyList", &inline);
                users.strings("GroupList", &group_names);
                users.list("AttachedManagedPolicies", &attached, xml::attached_policy);
                xml::tags(&mut users, "Tags", &tags);
                users.close("member");
            }
            Entry::Group(g) => {
                let arn = state.iam.iam_arn("group", &g.path, &g.name);
                let inline = inline_details(state, PrincipalKind::Group, &g.name).await?;
                let attached = state
                    .iam
                    .attached_policies(PrincipalKind::Group, &g.name)
                    .await?;
                groups.open("member");
                xml::group(&mut groups, g, &arn);
                policy_details(&mut groups, "GroupPolicyList", &inline);
                groups.list("AttachedManagedPolicies", &attached, xml::attached_policy);
                groups.close("member");
            }
            Entry::Role(r) => {
                let arn = state.iam.iam_arn("role", &r.path, &r.name);
                let inline = inline_details(state, PrincipalKind::Role, &r.name).await?;
                let attached = state
                    .iam
                    .attached_policies(PrincipalKind::Role, &r.name)
                    .await?;
                let tags = state.iam.tags(PrincipalKind::Role, &r.name).await?;
                roles.open("member");
                xml::role(&mut roles, r, &arn);
                roles
                    .open("InstanceProfileList")
                    .close("InstanceProfileList");
                policy_details(&mut roles, "RolePolicyList", &inline);
                roles.list("AttachedManagedPolicies", &attached, xml::attached_policy);
                xml::tags(&mut roles, "Tags", &tags);
                roles.close("member");
            }
            Entry::Policy(p) => {
                let count = state.iam.policy_attachment_count(&p.arn).await?;
                let versions = state.iam.policy_versions(&p.arn).await?;
                policies.open("member");
                xml::managed_policy(&mut policies, p, count);
                policies.list("PolicyVersionList", &versions, |x, v| {
                    xml::policy_version(x, v, v.version_id == p.default_version)
                });
                policies.close("member");
            }
        }
    }
    let mut x = Xml::new();
    x.open("UserDetailList")
        .raw(users)
        .close("UserDetailList")
        .open("GroupDetailList")
        .raw(groups)
        .close("GroupDetailList")
        .open("RoleDetailList")
        .raw(roles)
        .close("RoleDetailList")
        .open("Policies")
        .raw(policies)
        .close("Policies")
        .page(next.as_deref());
    Ok(Some(x))
}
