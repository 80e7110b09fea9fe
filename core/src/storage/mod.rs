//! The storage engine: plain synchronous Rust, called from pool threads.
//!
//! [`TableOfContent`] owns the collections of one instance. For now every collection lives in
//! memory (see [`Collection`]); durable segments and a WAL replace that layer without changing this
//! module's interface.

mod collection;
mod distance;
mod name;
mod vector;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

pub use collection::Collection;
pub use distance::{score, Order};
pub use name::validate_collection_name;

use crate::error::StorageError;
use crate::models::{CollectionDescription, CollectionsResponse, CreateCollection};

/// Every collection of one instance, by name.
#[derive(Debug, Default)]
pub struct TableOfContent {
    collections: RwLock<BTreeMap<String, Arc<Collection>>>,
}

impl TableOfContent {
    /// An empty, in-memory table of content.
    pub fn in_memory() -> Self {
        TableOfContent::default()
    }

    /// Create collection `name`; fails if it exists or the name or parameters are invalid.
    pub fn create_collection(
        &self,
        name: &str,
        create: CreateCollection,
    ) -> Result<(), StorageError> {
        validate_collection_name(name)?;
        let collection = Collection::new(create.vectors)?;
        let mut collections = write(&self.collections);
        if collections.contains_key(name) {
            return Err(StorageError::CollectionExists {
                name: name.to_owned(),
            });
        }
        collections.insert(name.to_owned(), Arc::new(collection));
        Ok(())
    }

    /// Delete collection `name`; `false` if there was none.
    pub fn delete_collection(&self, name: &str) -> Result<bool, StorageError> {
        validate_collection_name(name)?;
        Ok(write(&self.collections).remove(name).is_some())
    }

    /// Whether collection `name` exists.
    pub fn collection_exists(&self, name: &str) -> Result<bool, StorageError> {
        validate_collection_name(name)?;
        Ok(read(&self.collections).contains_key(name))
    }

    /// Every collection, sorted by name.
    pub fn list_collections(&self) -> CollectionsResponse {
        let collections = read(&self.collections)
            .keys()
            .map(|name| CollectionDescription { name: name.clone() })
            .collect();
        CollectionsResponse { collections }
    }

    /// Number of collections.
    pub fn collection_count(&self) -> usize {
        read(&self.collections).len()
    }

    /// Collection `name`, shared so that a long search does not hold the table's lock.
    pub fn collection(&self, name: &str) -> Result<Arc<Collection>, StorageError> {
        read(&self.collections)
            .get(name)
            .cloned()
            .ok_or_else(|| StorageError::CollectionNotFound {
                name: name.to_owned(),
            })
    }

    /// Persist everything written so far. The in-memory engine has nothing to persist.
    pub fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

// A panic while a lock is held (a bug, reported to the caller as `Internal`) must not take the
// whole table down with it: every mutation below is a single map operation, so the data behind
// a poisoned lock is still consistent and we keep using it.
pub(crate) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
