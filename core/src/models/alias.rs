//! Collection aliases: the body of `POST /collections/aliases` and the answers of
//! `GET /aliases` and `GET /collections/{name}/aliases`, in Qdrant's JSON.

use serde::{Deserialize, Serialize};

/// Body of `POST /collections/aliases`: `{"actions": [{"create_alias": {...}}, ...]}`. The
/// actions are applied in order and atomically: all of them, or none when one fails.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeAliases {
    /// The actions, applied in order.
    pub actions: Vec<AliasOperation>,
}

impl ChangeAliases {
    /// A batch of `actions`.
    pub fn new(actions: impl IntoIterator<Item = AliasOperation>) -> Self {
        ChangeAliases {
            actions: actions.into_iter().collect(),
        }
    }
}

/// One alias action: `{"create_alias": {...}}`, `{"delete_alias": {...}}` or
/// `{"rename_alias": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AliasOperation {
    /// Point an alias at a collection (re-pointing it if it exists, as Qdrant does).
    CreateAlias(CreateAlias),
    /// Remove an alias; it must exist.
    DeleteAlias(DeleteAlias),
    /// Give an existing alias a new name.
    RenameAlias(RenameAlias),
}

impl AliasOperation {
    /// Point `alias_name` at `collection_name`.
    pub fn create(collection_name: &str, alias_name: &str) -> Self {
        AliasOperation::CreateAlias(CreateAlias {
            collection_name: collection_name.to_owned(),
            alias_name: alias_name.to_owned(),
        })
    }

    /// Remove `alias_name`.
    pub fn delete(alias_name: &str) -> Self {
        AliasOperation::DeleteAlias(DeleteAlias {
            alias_name: alias_name.to_owned(),
        })
    }

    /// Rename alias `old_alias_name` to `new_alias_name`.
    pub fn rename(old_alias_name: &str, new_alias_name: &str) -> Self {
        AliasOperation::RenameAlias(RenameAlias {
            old_alias_name: old_alias_name.to_owned(),
            new_alias_name: new_alias_name.to_owned(),
        })
    }
}

/// `{"collection_name": "docs_v2", "alias_name": "docs"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAlias {
    /// The collection the alias stands for.
    pub collection_name: String,
    /// The alias.
    pub alias_name: String,
}

/// `{"alias_name": "docs"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteAlias {
    /// The alias to remove.
    pub alias_name: String,
}

/// `{"old_alias_name": "docs", "new_alias_name": "documents"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameAlias {
    /// The alias's current name.
    pub old_alias_name: String,
    /// Its new name.
    pub new_alias_name: String,
}

/// One alias and its collection: `{"alias_name": "docs", "collection_name": "docs_v2"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasDescription {
    /// The alias.
    pub alias_name: String,
    /// The collection it stands for.
    pub collection_name: String,
}

/// Answer of `GET /aliases` and `GET /collections/{name}/aliases`:
/// `{"aliases": [{"alias_name": .., "collection_name": ..}]}`, sorted by alias name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CollectionsAliasesResponse {
    /// The aliases, sorted by alias name.
    pub aliases: Vec<AliasDescription>,
}
