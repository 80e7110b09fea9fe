//! Collection aliases: other names for collections, which every request that takes a
//! collection name accepts. [`AliasTable`] is the mapping and its rules; the table of content
//! holds it beside the collections and resolves names through it in one place
//! (`TableOfContent::collection`).
//!
//! ## Rules (Qdrant's)
//! - An alias names an existing collection; a collection has any number of aliases.
//! - An alias never has the name of a collection, and a collection is never created under the
//!   name of an alias, so a name means one thing.
//! - `create_alias` of an existing alias re-points it; `delete_alias` and `rename_alias` need
//!   the alias to exist; `rename_alias` onto an existing alias replaces it.
//! - A batch of actions is applied in order to a copy and published whole, so a reader sees
//!   the table before the batch or after it, never between two actions (a swap of an alias
//!   from one collection to another never shows the alias missing).
//! - Deleting a collection drops its aliases.
//!
//! ## Format
//! `<data>/aliases.bin`, a checked file (`checked.rs`) with magic [`MAGIC`], version
//! [`VERSION`], `count` = number of aliases, and as data the JSON object `{alias: collection}`.
//! It is replaced atomically (written beside, synced, renamed), so it is the table before or
//! after a batch. A missing file is an empty table; a damaged one, or one whose count or names
//! do not check, is [`StorageError::Corrupted`].

use std::collections::BTreeMap;
use std::path::Path;

use super::checked;
use super::name::validate_collection_name;
use crate::error::StorageError;
use crate::models::{AliasDescription, AliasOperation, CollectionsAliasesResponse};

/// File name of the alias table inside the data directory.
pub(crate) const ALIASES_FILE: &str = "aliases.bin";
/// Magic of the alias file.
const MAGIC: [u8; 8] = *b"RROALIAS";
/// Format version of the alias file.
const VERSION: u32 = 1;

/// Every alias of an instance, by alias name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AliasTable {
    map: BTreeMap<String, String>,
}

impl AliasTable {
    /// The collection `alias` stands for, if it is an alias.
    pub(crate) fn get(&self, alias: &str) -> Option<&str> {
        self.map.get(alias).map(String::as_str)
    }

    /// Whether `name` is an alias.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The aliases (of `collection` only, when given), sorted by alias name.
    pub(crate) fn list(&self, collection: Option<&str>) -> CollectionsAliasesResponse {
        let aliases = self
            .map
            .iter()
            .filter(|(_, target)| collection.is_none_or(|c| c == target.as_str()))
            .map(|(alias, target)| AliasDescription {
                alias_name: alias.clone(),
                collection_name: target.clone(),
            })
            .collect();
        CollectionsAliasesResponse { aliases }
    }

    /// `actions` applied in order to a copy of this table; `is_collection` says which names
    /// are collections. The first failing action fails the batch with its index.
    pub(crate) fn apply(
        &self,
        actions: &[AliasOperation],
        is_collection: impl Fn(&str) -> bool,
    ) -> Result<AliasTable, StorageError> {
        let mut next = self.clone();
        for (index, action) in actions.iter().enumerate() {
            next.apply_one(action, &is_collection)
                .map_err(|error| StorageError::AliasAction {
                    index,
                    error: Box::new(error),
                })?;
        }
        Ok(next)
    }

    fn apply_one(
        &mut self,
        action: &AliasOperation,
        is_collection: &impl Fn(&str) -> bool,
    ) -> Result<(), StorageError> {
        match action {
            AliasOperation::CreateAlias(create) => {
                check_new_alias(&create.alias_name, is_collection)?;
                validate_collection_name(&create.collection_name)?;
                if !is_collection(&create.collection_name) {
                    return Err(StorageError::CollectionNotFound {
                        name: create.collection_name.clone(),
                    });
                }
                self.map
                    .insert(create.alias_name.clone(), create.collection_name.clone());
            }
            AliasOperation::DeleteAlias(delete) => {
                if self.map.remove(&delete.alias_name).is_none() {
                    return Err(StorageError::AliasNotFound {
                        name: delete.alias_name.clone(),
                    });
                }
            }
            AliasOperation::RenameAlias(rename) => {
                let Some(target) = self.map.remove(&rename.old_alias_name) else {
                    return Err(StorageError::AliasNotFound {
                        name: rename.old_alias_name.clone(),
                    });
                };
                check_new_alias(&rename.new_alias_name, is_collection)?;
                self.map.insert(rename.new_alias_name.clone(), target);
            }
        }
        Ok(())
    }

    /// Drop the aliases of collection `name`; whether there were any.
    pub(crate) fn drop_collection(&mut self, name: &str) -> bool {
        let before = self.map.len();
        self.map.retain(|_, target| target != name);
        self.map.len() != before
    }

    /// Drop aliases that name no collection or that have a collection's name (what a crash
    /// between a collection change and the alias file, or a restored snapshot, can leave);
    /// each is logged.
    pub(crate) fn retain_valid(&mut self, is_collection: impl Fn(&str) -> bool) {
        self.map.retain(|alias, target| {
            let keep = is_collection(target) && !is_collection(alias);
            if !keep {
                log::warn!(
                    "dropping alias `{alias}` of `{target}`: it no longer fits the collections"
                );
            }
            keep
        });
    }

    /// Read the table of the data directory `root`; empty when there is no alias file.
    pub(crate) fn read(root: &Path) -> Result<AliasTable, StorageError> {
        let path = root.join(ALIASES_FILE);
        if !path.exists() {
            return Ok(AliasTable::default());
        }
        let (header, data) = checked::read(&path, MAGIC, VERSION)?;
        let at = checked::HEADER_LEN as u64;
        let map: BTreeMap<String, String> = serde_json::from_slice(&data)
            .map_err(|e| StorageError::corrupted(&path, at, format!("bad JSON: {e}")))?;
        if map.len() as u64 != header.count {
            return Err(StorageError::corrupted(
                &path,
                checked::COUNT_OFFSET as u64,
                format!(
                    "header counts {} aliases, the data holds {}",
                    header.count,
                    map.len()
                ),
            ));
        }
        for (alias, target) in &map {
            if validate_collection_name(alias).is_err() || validate_collection_name(target).is_err()
            {
                return Err(StorageError::corrupted(
                    &path,
                    at,
                    format!("alias `{alias}` of `{target}` is not a valid name"),
                ));
            }
        }
        Ok(AliasTable { map })
    }

    /// Replace the alias file of `root` with this table, atomically.
    pub(crate) fn write(&self, root: &Path) -> Result<(), StorageError> {
        let data = serde_json::to_vec(&self.map)
            .map_err(|e| StorageError::BadRequest(format!("aliases cannot be serialized: {e}")))?;
        checked::write_atomic(
            &root.join(ALIASES_FILE),
            MAGIC,
            VERSION,
            self.map.len() as u64,
            &data,
        )
    }

    /// The table as a JSON object `{alias: collection}`, for full snapshots.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!(self.map)
    }

    /// Add the aliases of a full snapshot's JSON object whose collections `restored` holds and
    /// whose names are no collection's; returns how many were skipped.
    pub(crate) fn merge_json(
        &mut self,
        json: &serde_json::Value,
        restored: &[String],
        is_collection: impl Fn(&str) -> bool,
    ) -> usize {
        let Some(object) = json.as_object() else {
            return 0;
        };
        let mut skipped = 0;
        for (alias, target) in object {
            match target.as_str() {
                Some(target)
                    if restored.iter().any(|r| r == target)
                        && !is_collection(alias)
                        && validate_collection_name(alias).is_ok() =>
                {
                    self.map.insert(alias.clone(), target.to_owned());
                }
                _ => skipped += 1,
            }
        }
        skipped
    }
}

/// An alias may take `name`: a valid name that no collection has.
fn check_new_alias(name: &str, is_collection: &impl Fn(&str) -> bool) -> Result<(), StorageError> {
    validate_collection_name(name)?;
    if is_collection(name) {
        return Err(StorageError::BadRequest(format!(
            "alias `{name}` cannot be created: a collection has that name"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collections(name: &str) -> bool {
        ["a", "b"].contains(&name)
    }

    #[test]
    fn a_failing_action_leaves_the_table_unchanged_and_is_named() {
        let table = AliasTable::default()
            .apply(&[AliasOperation::create("a", "x")], collections)
            .unwrap();
        let batch = [
            AliasOperation::delete("x"),
            AliasOperation::create("b", "x"),
            AliasOperation::delete("missing"),
        ];
        match table.apply(&batch, collections) {
            Err(StorageError::AliasAction { index, error }) => {
                assert_eq!(index, 2);
                assert_eq!(
                    *error,
                    StorageError::AliasNotFound {
                        name: "missing".into()
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(table.get("x"), Some("a"));
    }

    #[test]
    fn an_alias_never_takes_a_collection_name() {
        let refused = AliasTable::default().apply(&[AliasOperation::create("a", "b")], collections);
        assert!(matches!(
            refused,
            Err(StorageError::AliasAction { index: 0, .. })
        ));
        let table = AliasTable::default()
            .apply(&[AliasOperation::create("a", "x")], collections)
            .unwrap();
        let refused = table.apply(&[AliasOperation::rename("x", "b")], collections);
        assert!(matches!(
            refused,
            Err(StorageError::AliasAction { index: 0, .. })
        ));
    }

    #[test]
    fn the_file_round_trips_and_damage_is_typed() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(AliasTable::read(dir.path()).unwrap(), AliasTable::default());
        let table = AliasTable::default()
            .apply(
                &[
                    AliasOperation::create("a", "x"),
                    AliasOperation::create("b", "y"),
                ],
                collections,
            )
            .unwrap();
        table.write(dir.path()).unwrap();
        assert_eq!(AliasTable::read(dir.path()).unwrap(), table);
        let path = dir.path().join(ALIASES_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0x55;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            AliasTable::read(dir.path()),
            Err(StorageError::Corrupted { .. })
        ));
        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(
            AliasTable::read(dir.path()),
            Err(StorageError::Corrupted { .. })
        ));
    }
}
