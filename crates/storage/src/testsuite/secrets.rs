//! The contract every [`SecretStore`] keeps, as cases a backend's tests run through
//! [`secret_store_suite!`](crate::secret_store_suite), each on a fresh database with an
//! [`Open`] that gives independent handles to it (as two nodes have).

use std::sync::Arc;

use super::meta::Open;
use crate::secrets::{
    CreateSecret, NewSecret, NewVersion, PutVersion, ScheduleDeletion, SecretStore, TagSecret,
    ValueKind, CURRENT, MAX_VERSIONS, PREVIOUS,
};
use crate::IamStore;

const REGION_ACCOUNT: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:";

fn arn(name: &str) -> String {
    format!("{REGION_ACCOUNT}{name}-AbC123")
}

fn version(id: &str, stages: &[&str], at: i64) -> NewVersion {
    NewVersion {
        version_id: id.to_owned(),
        kind: ValueKind::String,
        sealed: format!("sealed {id}").into_bytes(),
        stages: stages.iter().map(|s| (*s).to_owned()).collect(),
        created_at: at,
    }
}

fn secret(name: &str, first: Option<NewVersion>) -> NewSecret {
    NewSecret {
        arn: arn(name),
        name: name.to_owned(),
        description: Some(format!("about {name}")),
        tags: vec![("team".into(), "a".into()), ("env".into(), "prod".into())],
        created_at: 10,
        version: first,
    }
}

fn stages_of(record: &crate::secrets::SecretRecord) -> Vec<(String, Vec<String>)> {
    record
        .versions
        .iter()
        .map(|v| (v.version_id.clone(), v.stages.clone()))
        .collect()
}

fn labelled(pairs: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    pairs
        .iter()
        .map(|(id, stages)| {
            (
                (*id).to_owned(),
                stages.iter().map(|s| (*s).to_owned()).collect(),
            )
        })
        .collect()
}

pub async fn secrets_are_created_once_and_found_by_name_and_arn<S: SecretStore + IamStore>(
    open: Open<S>,
) {
    let store = open().await;
    let first = secret("db/password", Some(version("v1", &[CURRENT], 10)));
    assert_eq!(
        store.create_secret(&first, 10).await.expect("create"),
        CreateSecret::Created
    );
    let again = NewSecret {
        arn: arn("db/password").replace("AbC123", "XyZ789"),
        ..first.clone()
    };
    let CreateSecret::NameTaken(existing) = store.create_secret(&again, 10).await.expect("again")
    else {
        panic!("a second secret of that name is refused");
    };
    assert_eq!(existing.arn, first.arn, "and the first is left as it was");
    let record = store
        .secret_by_name("db/password")
        .await
        .expect("by name")
        .expect("exists");
    assert_eq!(record, existing);
    assert_eq!(record.description.as_deref(), Some("about db/password"));
    assert_eq!(
        record.tags,
        [
            ("env".to_owned(), "prod".to_owned()),
            ("team".to_owned(), "a".to_owned())
        ],
        "tags in key order"
    );
    assert_eq!(stages_of(&record), labelled(&[("v1", &[CURRENT])]));
    assert_eq!((record.created_at, record.last_changed_at), (10, 10));
    assert_eq!((record.deleted_at, record.deletion_date), (None, None));
    assert_eq!(
        store.secret_by_arn(&first.arn).await.expect("by arn"),
        Some(record)
    );
    assert_eq!(store.secret_by_arn(&again.arn).await.expect("other"), None);
    let value = store
        .secret_version(&first.arn, "v1")
        .await
        .expect("version")
        .expect("exists");
    assert_eq!(value.sealed, b"sealed v1");
    assert_eq!(value.kind, ValueKind::String);
    assert_eq!(value.stages, [CURRENT]);
    assert!(
        !format!("{value:?}").contains("sealed v1"),
        "Debug shows no value bytes"
    );
    assert_eq!(
        store.secret_version(&first.arn, "v2").await.expect("none"),
        None
    );

    // Without a value there is no version; byte order puts upper case and `-` first.
    for name in ["b", "a-b", "ab", "B"] {
        assert_eq!(
            store
                .create_secret(&secret(name, None), 10)
                .await
                .expect("create"),
            CreateSecret::Created
        );
    }
    let empty = store
        .secret_by_name("ab")
        .await
        .expect("get")
        .expect("exists");
    assert!(empty.versions.is_empty());
    let names = |page: Vec<crate::secrets::SecretRecord>| {
        page.into_iter().map(|r| r.name).collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.list_secrets(None, 10).await.expect("list")),
        ["B", "a-b", "ab", "b", "db/password"]
    );
    assert_eq!(
        names(store.list_secrets(Some("a-b"), 2).await.expect("page")),
        ["ab", "b"]
    );
    let listed = store.list_secrets(Some("b"), 10).await.expect("last page");
    assert_eq!(listed.len(), 1);
    assert_eq!(stages_of(&listed[0]), labelled(&[("v1", &[CURRENT])]));
    assert_eq!(listed[0].tags.len(), 2, "listed records carry their tags");
}

pub async fn versions_move_labels_as_secrets_manager_does<S: SecretStore + IamStore>(
    open: Open<S>,
) {
    let store = open().await;
    let s = secret("app", None);
    store.create_secret(&s, 10).await.expect("create");
    // A secret's first version is current, whatever it asked for.
    assert_eq!(
        store
            .put_secret_version(&s.arn, &version("v1", &["BLUE"], 20))
            .await
            .expect("first"),
        PutVersion::Added {
            stages: vec![CURRENT.to_owned(), "BLUE".to_owned()]
        }
    );
    assert_eq!(
        store
            .put_secret_version(&s.arn, &version("v2", &[CURRENT], 30))
            .await
            .expect("second"),
        PutVersion::Added {
            stages: vec![CURRENT.to_owned()]
        }
    );
    let record = store
        .secret_by_arn(&s.arn)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        stages_of(&record),
        labelled(&[("v1", &[PREVIOUS, "BLUE"]), ("v2", &[CURRENT])])
    );
    assert_eq!(record.last_changed_at, 30);

    // A label other than the current one moves alone.
    store
        .put_secret_version(&s.arn, &version("v3", &["BLUE"], 40))
        .await
        .expect("third");
    let record = store
        .secret_by_arn(&s.arn)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        stages_of(&record),
        labelled(&[("v1", &[PREVIOUS]), ("v2", &[CURRENT]), ("v3", &["BLUE"])])
    );
    // The current label moves on: the version that had it becomes the previous one, and the
    // version that was previous is deprecated (no label) but kept.
    store
        .put_secret_version(&s.arn, &version("v4", &[CURRENT], 50))
        .await
        .expect("fourth");
    let record = store
        .secret_by_arn(&s.arn)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        stages_of(&record),
        labelled(&[("v2", &[PREVIOUS]), ("v3", &["BLUE"]), ("v4", &[CURRENT])])
    );
    let deprecated = store
        .secret_version(&s.arn, "v1")
        .await
        .expect("get")
        .expect("kept");
    assert!(deprecated.stages.is_empty());

    // A version id is used once: the second request changes nothing and meets the first.
    let PutVersion::Exists(existing) = store
        .put_secret_version(&s.arn, &version("v3", &[CURRENT], 60))
        .await
        .expect("again")
    else {
        panic!("a version id is taken once");
    };
    assert_eq!(existing.sealed, b"sealed v3");
    assert_eq!(existing.stages, ["BLUE"]);
    assert_eq!(
        stages_of(
            &store
                .secret_by_arn(&s.arn)
                .await
                .expect("get")
                .expect("exists")
        ),
        labelled(&[("v2", &[PREVIOUS]), ("v3", &["BLUE"]), ("v4", &[CURRENT])])
    );
    assert_eq!(
        store
            .put_secret_version(&arn("missing"), &version("v1", &[CURRENT], 60))
            .await
            .expect("missing"),
        PutVersion::NotFound
    );

    // Deprecated versions beyond the limit go, oldest first; labelled ones stay.
    for i in 0..MAX_VERSIONS {
        store
            .put_secret_version(
                &s.arn,
                &version(&format!("n{i:03}"), &[CURRENT], 100 + i as i64),
            )
            .await
            .expect("put");
    }
    assert!(store
        .secret_version(&s.arn, "v1")
        .await
        .expect("get")
        .is_none());
    assert!(store
        .secret_version(&s.arn, "v3")
        .await
        .expect("get")
        .is_some());
    assert!(store
        .secret_version(&s.arn, "n000")
        .await
        .expect("get")
        .is_some());
    let record = store
        .secret_by_arn(&s.arn)
        .await
        .expect("get")
        .expect("exists");
    let last = format!("n{:03}", MAX_VERSIONS - 1);
    let before = format!("n{:03}", MAX_VERSIONS - 2);
    assert_eq!(
        stages_of(&record),
        vec![
            ("v3".to_owned(), vec!["BLUE".to_owned()]),
            (before, vec![PREVIOUS.to_owned()]),
            (last, vec![CURRENT.to_owned()]),
        ]
    );
}

pub async fn deletion_is_scheduled_then_final<S: SecretStore + IamStore>(open: Open<S>) {
    let store = open().await;
    let s = secret("gone", Some(version("v1", &[CURRENT], 10)));
    store.create_secret(&s, 10).await.expect("create");
    assert_eq!(
        store
            .schedule_secret_deletion(&s.arn, 100, 1_000)
            .await
            .expect("schedule"),
        ScheduleDeletion::Scheduled
    );
    assert_eq!(
        store
            .schedule_secret_deletion(&s.arn, 200, 2_000)
            .await
            .expect("again"),
        ScheduleDeletion::AlreadyScheduled
    );
    assert_eq!(
        store
            .schedule_secret_deletion(&arn("missing"), 200, 2_000)
            .await
            .expect("missing"),
        ScheduleDeletion::NotFound
    );
    let record = store
        .secret_by_arn(&s.arn)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(
        (record.deleted_at, record.deletion_date),
        (Some(100), Some(1_000))
    );
    assert_eq!(
        store
            .put_secret_version(&s.arn, &version("v2", &[CURRENT], 300))
            .await
            .expect("put"),
        PutVersion::ScheduledForDeletion
    );
    assert_eq!(
        store
            .tag_secret(&s.arn, &[("k".into(), "v".into())], 50, 300)
            .await
            .expect("tag"),
        TagSecret::ScheduledForDeletion
    );
    // Its name stays taken until its deletion date, then a new secret takes it.
    let new = NewSecret {
        arn: arn("gone").replace("AbC123", "NeW456"),
        ..secret("gone", None)
    };
    assert!(matches!(
        store.create_secret(&new, 999).await.expect("before"),
        CreateSecret::NameTaken(r) if r.arn == s.arn
    ));
    assert_eq!(
        store.create_secret(&new, 1_000).await.expect("after"),
        CreateSecret::Created
    );
    assert_eq!(store.secret_by_arn(&s.arn).await.expect("old"), None);
    assert_eq!(
        store.secret_version(&s.arn, "v1").await.expect("old value"),
        None
    );

    assert!(store.delete_secret(&new.arn).await.expect("delete"));
    assert!(!store.delete_secret(&new.arn).await.expect("again"));
    assert_eq!(store.secret_by_name("gone").await.expect("get"), None);
}

pub async fn tags_stay_within_the_limit_and_bump_the_iam_generation<S: SecretStore + IamStore>(
    open: Open<S>,
) {
    let store = open().await;
    let s = secret("tagged", None);
    let g0 = store.iam_generation().await.expect("generation");
    store.create_secret(&s, 10).await.expect("create");
    let g1 = store.iam_generation().await.expect("generation");
    assert!(g1 > g0, "a secret created with tags is authorization input");
    store
        .put_secret_version(&s.arn, &version("v1", &[CURRENT], 20))
        .await
        .expect("put");
    assert_eq!(
        store.iam_generation().await.expect("generation"),
        g1,
        "a value is not authorization input"
    );
    let many: Vec<(String, String)> = (0..49).map(|i| (format!("k{i:02}"), "v".into())).collect();
    assert_eq!(
        store.tag_secret(&s.arn, &many, 50, 30).await.expect("tag"),
        TagSecret::TooMany,
        "2 + 49 is more than 50"
    );
    assert_eq!(
        store
            .secret_by_arn(&s.arn)
            .await
            .expect("get")
            .expect("exists")
            .tags
            .len(),
        2,
        "and none was written"
    );
    assert_eq!(store.iam_generation().await.expect("generation"), g1);
    assert_eq!(
        store
            .tag_secret(&s.arn, &many[..48], 50, 30)
            .await
            .expect("tag"),
        TagSecret::Tagged
    );
    let g2 = store.iam_generation().await.expect("generation");
    assert!(g2 > g1, "tags bump the generation");
    // Overwriting a value takes no room.
    assert_eq!(
        store
            .tag_secret(&s.arn, &[("team".into(), "b".into())], 50, 40)
            .await
            .expect("overwrite"),
        TagSecret::Tagged
    );
    let record = store
        .secret_by_arn(&s.arn)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(record.tags.len(), 50);
    assert!(record.tags.contains(&("team".to_owned(), "b".to_owned())));
    assert_eq!(record.last_changed_at, 40);
    assert_eq!(
        store
            .tag_secret(&arn("missing"), &[("k".into(), "v".into())], 50, 40)
            .await
            .expect("missing"),
        TagSecret::NotFound
    );
    let g3 = store.iam_generation().await.expect("generation");
    assert!(store.delete_secret(&s.arn).await.expect("delete"));
    assert!(
        store.iam_generation().await.expect("generation") > g3,
        "tags that go with their secret bump it too"
    );
}

pub async fn concurrent_writers_keep_one_current_version<S: SecretStore + IamStore>(open: Open<S>) {
    let a = open().await;
    let b = open().await;
    let s = secret("raced", Some(version("v0", &[CURRENT], 10)));
    a.create_secret(&s, 10).await.expect("create");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store: Arc<S> = if i % 2 == 0 { a.clone() } else { b.clone() };
        let arn = s.arn.clone();
        tasks.push(tokio::spawn(async move {
            store
                .put_secret_version(&arn, &version(&format!("v{}", i + 1), &[CURRENT], 20 + i))
                .await
        }));
    }
    for t in tasks {
        assert!(matches!(
            t.await.expect("task").expect("put"),
            PutVersion::Added { .. }
        ));
    }
    let record = a.secret_by_arn(&s.arn).await.expect("get").expect("exists");
    let with = |label: &str| {
        record
            .versions
            .iter()
            .filter(|v| v.stages.iter().any(|s| s == label))
            .count()
    };
    assert_eq!(with(CURRENT), 1, "{record:?}");
    assert_eq!(with(PREVIOUS), 1, "{record:?}");
    for i in 0..=16 {
        assert!(
            a.secret_version(&s.arn, &format!("v{i}"))
                .await
                .expect("get")
                .is_some(),
            "every version is kept"
        );
    }

    // Two nodes creating one name: one wins, the other meets its secret.
    let racers: Vec<_> = ["AAAAAA", "BBBBBB"]
        .into_iter()
        .zip([a.clone(), b.clone()])
        .map(|(suffix, store)| {
            let new = NewSecret {
                arn: arn("one").replace("AbC123", suffix),
                ..secret("one", None)
            };
            tokio::spawn(async move { store.create_secret(&new, 10).await })
        })
        .collect();
    let mut created = 0;
    for r in racers {
        if r.await.expect("task").expect("create") == CreateSecret::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1);
}

/// Runs the secret store contract; `$make` is an async block that gives `Some((open, guard))`
/// for a fresh database, or `None` when the backend is not available here.
#[macro_export]
macro_rules! secret_store_suite {
    ($make:expr) => {
        $crate::secret_store_suite!(@cases $make;
            secrets_are_created_once_and_found_by_name_and_arn,
            versions_move_labels_as_secrets_manager_does,
            deletion_is_scheduled_then_final,
            tags_stay_within_the_limit_and_bump_the_iam_generation,
            concurrent_writers_keep_one_current_version,
        );
    };
    (@cases $make:expr; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some((open, _guard)) = $make.await else {
                    return;
                };
                $crate::testsuite::secrets::$case(open).await;
            }
        )*
    };
}
