-- The IAM generation: one counter that every change to what authorization reads (identities,
-- keys, identity/repository/registry policies, repository tags and settings) bumps, in the same
-- transaction as the change, whoever makes it: the server's API, an offline command such as
-- `portcullis admin reset-bootstrap-key`, a hand edit, or later another node on a shared
-- database. Every cache of parsed IAM state compares it before trusting an entry.
-- Triggers rather than application code, so that no write path can forget it.

CREATE TABLE iam_generation (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  INTEGER NOT NULL
);
INSERT INTO iam_generation (id, generation) VALUES (1, 1);

CREATE TRIGGER iam_users_ins_generation AFTER INSERT ON iam_users
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_users_upd_generation AFTER UPDATE ON iam_users
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_users_del_generation AFTER DELETE ON iam_users
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_groups_ins_generation AFTER INSERT ON iam_groups
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_groups_upd_generation AFTER UPDATE ON iam_groups
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_groups_del_generation AFTER DELETE ON iam_groups
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_group_members_ins_generation AFTER INSERT ON iam_group_members
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_group_members_upd_generation AFTER UPDATE ON iam_group_members
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_group_members_del_generation AFTER DELETE ON iam_group_members
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_roles_ins_generation AFTER INSERT ON iam_roles
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_roles_upd_generation AFTER UPDATE ON iam_roles
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_roles_del_generation AFTER DELETE ON iam_roles
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_principal_tags_ins_generation AFTER INSERT ON iam_principal_tags
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_principal_tags_upd_generation AFTER UPDATE ON iam_principal_tags
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_principal_tags_del_generation AFTER DELETE ON iam_principal_tags
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_access_keys_ins_generation AFTER INSERT ON iam_access_keys
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_access_keys_upd_generation AFTER UPDATE ON iam_access_keys
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_access_keys_del_generation AFTER DELETE ON iam_access_keys
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_inline_policies_ins_generation AFTER INSERT ON iam_inline_policies
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_inline_policies_upd_generation AFTER UPDATE ON iam_inline_policies
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_inline_policies_del_generation AFTER DELETE ON iam_inline_policies
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_managed_policies_ins_generation AFTER INSERT ON iam_managed_policies
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_managed_policies_upd_generation AFTER UPDATE ON iam_managed_policies
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_managed_policies_del_generation AFTER DELETE ON iam_managed_policies
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_policy_versions_ins_generation AFTER INSERT ON iam_policy_versions
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_policy_versions_upd_generation AFTER UPDATE ON iam_policy_versions
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_policy_versions_del_generation AFTER DELETE ON iam_policy_versions
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_policy_attachments_ins_generation AFTER INSERT ON iam_policy_attachments
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_policy_attachments_upd_generation AFTER UPDATE ON iam_policy_attachments
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER iam_policy_attachments_del_generation AFTER DELETE ON iam_policy_attachments
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER repository_tags_ins_generation AFTER INSERT ON repository_tags
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER repository_tags_upd_generation AFTER UPDATE ON repository_tags
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER repository_tags_del_generation AFTER DELETE ON repository_tags
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER registry_settings_ins_generation AFTER INSERT ON registry_settings
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER registry_settings_upd_generation AFTER UPDATE ON registry_settings
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER registry_settings_del_generation AFTER DELETE ON registry_settings
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;

-- Repositories: their policy, settings and existence are authorization input; the lifecycle
-- bookkeeping (`lifecycle_evaluated_at`) is not, and must not flush every cache.
CREATE TRIGGER repositories_ins_generation AFTER INSERT ON repositories
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER repositories_upd_generation AFTER UPDATE OF name, policy, settings ON repositories
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER repositories_del_generation AFTER DELETE ON repositories
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
