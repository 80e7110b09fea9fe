//! Changing a collection's configuration while it serves requests (`update_collection`), and
//! the strict-mode checks requests pass before they run.
//!
//! An update is validated whole, committed by rewriting the manifest (under the checkpoint
//! lock, so it is ordered with checkpoints and optimizer commits), then published; searches
//! and the optimizer read the settings by copy at the start of each request or plan, so
//! nothing waits for the update but other updates and checkpoints. A change of `m` or
//! `ef_construct` marks every indexed segment stale: the optimizer rebuilds them with the new
//! parameters in the background (`optimize.rs`), one at a time, and searches use the old
//! graphs meanwhile.

use super::open::{check_hnsw, check_optimizers};
use super::{lock, Collection, Settings};
use crate::error::StorageError;
use crate::models::{
    Filter, HnswConfig, PointsSelector, SearchParams, StrictModeConfig, UpdateCollection,
    UpdateOperation,
};
use crate::storage::{read, write};

impl Collection {
    /// A copy of the current settings.
    pub(crate) fn settings(&self) -> Settings {
        read(&self.settings).clone()
    }

    /// The collection's current HNSW settings (a space may have its own over them); read on
    /// every search, so it copies just them.
    pub(crate) fn hnsw(&self) -> HnswConfig {
        read(&self.settings).hnsw
    }

    /// The current strict mode, if any; read by every request a limit may apply to.
    fn strict_mode(&self) -> Option<StrictModeConfig> {
        read(&self.settings).strict_mode.clone()
    }

    /// Remember that segment `id`'s index predates the current HNSW parameters.
    pub(super) fn mark_stale(&self, id: u64) {
        write(&self.settings).stale_indexes.insert(id);
    }

    /// Apply `update` (HNSW and optimizer parameters, cluster settings, strict mode) without
    /// stopping the collection, and persist it in the manifest. Fields it leaves out keep
    /// their value; anything rro cannot change is refused before anything changes.
    pub fn update_config(&self, update: &UpdateCollection) -> Result<(), StorageError> {
        update.check_supported()?;
        if let Some(reason) = &self.read_only {
            return Err(StorageError::ReadOnly {
                reason: reason.clone(),
            });
        }
        let mut committed = lock(&self.checkpoint);
        let current = self.settings();
        let mut next = current.clone();
        if let Some(diff) = &update.hnsw_config {
            next.hnsw = diff.applied_to(&current.hnsw);
            check_hnsw(&next.hnsw, "hnsw_config")?;
            next.hnsw.check_supported()?;
        }
        if let Some(diff) = &update.optimizers_config {
            next.optimizers = diff.applied_to(&current.optimizers);
            check_optimizers(&next.optimizers)?;
        }
        if let Some(diff) = &update.params {
            next.cluster = diff.applied_to(&current.cluster);
        }
        if let Some(strict) = &update.strict_mode_config {
            next.strict_mode = Some(current.strict_mode.unwrap_or_default().merged(strict));
        }
        let rebuild =
            (next.hnsw.m, next.hnsw.ef_construct) != (current.hnsw.m, current.hnsw.ef_construct);
        if rebuild {
            let state = read(&self.state);
            for segment in &state.segments {
                if !segment.indexes.entries.is_empty() {
                    next.stale_indexes.insert(segment.id);
                }
            }
        }
        if let Some(dir) = &self.dir {
            let mut manifest = committed.clone();
            manifest.hnsw_config = next.hnsw;
            manifest.optimizers_config = next.optimizers;
            manifest.cluster = next.cluster;
            manifest.strict_mode_config = next.strict_mode.clone();
            manifest.stale_indexes = next
                .stale_indexes
                .iter()
                .copied()
                .filter(|id| manifest.segments.iter().any(|s| s.id == *id))
                .collect();
            manifest.write(dir)?;
            *committed = manifest;
        }
        *write(&self.settings) = next;
        Ok(())
    }

    /// Check a read against strict mode: its `limit`, filter and search parameters.
    pub(crate) fn check_strict_read(
        &self,
        limit: Option<usize>,
        filter: Option<&Filter>,
        params: Option<&SearchParams>,
    ) -> Result<(), StorageError> {
        let Some(strict) = self.strict_mode() else {
            return Ok(());
        };
        let schema = self.indexed_keys(strict.needs_schema());
        strict.check_read(limit, filter, params, &|key| schema.contains(key))
    }

    /// Check the selector of a write by filter against strict mode.
    pub(crate) fn check_strict_update(
        &self,
        selector: &PointsSelector,
    ) -> Result<(), StorageError> {
        let (Some(strict), PointsSelector::Filter(filter)) = (self.strict_mode(), selector) else {
            return Ok(());
        };
        let schema = self.indexed_keys(strict.needs_schema());
        strict.check_update_filter(Some(filter), &|key| schema.contains(key))
    }

    /// Check the number of points of an upsert or vector update against strict mode.
    pub(crate) fn check_strict_batch(&self, points: usize) -> Result<(), StorageError> {
        match self.strict_mode() {
            Some(strict) => strict.check_batch(points),
            None => Ok(()),
        }
    }

    /// Check every write of a batch as it would be checked alone; an error names the write
    /// (`operations[2] (delete): ...`).
    pub(crate) fn check_strict_operations(
        &self,
        operations: &[UpdateOperation],
    ) -> Result<(), StorageError> {
        for (i, operation) in operations.iter().enumerate() {
            let checked = match operation {
                UpdateOperation::Upsert(upsert) => self.check_strict_batch(upsert.points.len()),
                UpdateOperation::UpdateVectors(update) => {
                    self.check_strict_batch(update.points.len())
                }
                UpdateOperation::Delete(selector) | UpdateOperation::ClearPayload(selector) => {
                    self.check_strict_update(selector)
                }
                UpdateOperation::SetPayload(set) | UpdateOperation::OverwritePayload(set) => {
                    self.check_strict_update(&set.selector)
                }
                UpdateOperation::DeletePayload(delete) => {
                    self.check_strict_update(&delete.selector)
                }
                UpdateOperation::DeleteVectors(delete) => {
                    self.check_strict_update(&delete.selector)
                }
            };
            checked.map_err(|error| match error {
                StorageError::StrictMode { description, help } => StorageError::StrictMode {
                    description: format!("operations[{i}] ({}): {description}", operation.kind()),
                    help,
                },
                other => other,
            })?;
        }
        Ok(())
    }

    /// The indexed payload keys, when `wanted`.
    fn indexed_keys(&self, wanted: bool) -> std::collections::BTreeSet<String> {
        if !wanted {
            return Default::default();
        }
        read(&self.state).schema.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{
        CreateCollection, Distance, HnswConfigDiff, OptimizersConfig, OptimizersConfigDiff,
        PointStruct, VectorParams,
    };

    fn points(n: u64) -> Vec<PointStruct> {
        (0..n)
            .map(|i| {
                let x = i as f32;
                PointStruct::new(i, vec![(x * 0.37).sin(), (x * 0.11).cos(), x.sqrt(), 1.0])
            })
            .collect()
    }

    /// New `m` re-plans: every index built with the old one is rebuilt, and the links take
    /// the room the new `m` gives them (a quarter of it for a quarter of `m`).
    #[test]
    fn new_hnsw_parameters_rebuild_the_indexes() {
        let create = CreateCollection::new(VectorParams::new(4, Distance::Dot)).optimizers_config(
            OptimizersConfig {
                indexing_threshold: Some(4),
                ..OptimizersConfig::default()
            },
        );
        let c = Collection::with_config(create).unwrap();
        c.upsert(points(2000)).unwrap();
        c.optimize(1).unwrap();
        let before = c.index_links_bytes();
        assert!(before > 0);
        assert!(c.plan().is_none());
        let update = UpdateCollection::default().hnsw_config(HnswConfigDiff {
            m: Some(4),
            ..HnswConfigDiff::default()
        });
        c.update_config(&update).unwrap();
        assert_eq!(c.info().config.hnsw_config.m, 4);
        assert!(c.plan().is_some(), "the update gives the optimizer work");
        c.optimize(1).unwrap();
        assert!(c.plan().is_none());
        let after = c.index_links_bytes();
        assert!(after * 2 < before, "links {before} -> {after} bytes");
        assert_eq!(c.info().points_count, 2000);
    }

    /// A lower indexing threshold indexes what now passes it; fields left out keep their value.
    #[test]
    fn a_lower_indexing_threshold_indexes() {
        let c = Collection::new(VectorParams::new(4, Distance::Dot)).unwrap();
        c.upsert(points(600)).unwrap();
        assert!(
            c.plan().is_none(),
            "600 4-d points are below the default threshold"
        );
        let update = UpdateCollection::default().optimizers_config(OptimizersConfigDiff {
            indexing_threshold: Some(2),
            ..OptimizersConfigDiff::default()
        });
        c.update_config(&update).unwrap();
        let info = c.info().config.optimizer_config;
        assert_eq!(info.indexing_threshold, Some(2));
        assert_eq!(
            info.deleted_threshold,
            OptimizersConfig::default().deleted_threshold
        );
        c.optimize(1).unwrap();
        assert!(c.info().indexed_vectors_count > 0);
    }

    /// Out-of-range values are refused and change nothing.
    #[test]
    fn bad_values_change_nothing() {
        let c = Collection::new(VectorParams::new(4, Distance::Dot)).unwrap();
        for update in [
            UpdateCollection::default().hnsw_config(HnswConfigDiff {
                m: Some(1),
                ..HnswConfigDiff::default()
            }),
            UpdateCollection::default().optimizers_config(OptimizersConfigDiff {
                deleted_threshold: Some(2.0),
                ..OptimizersConfigDiff::default()
            }),
        ] {
            assert!(matches!(
                c.update_config(&update),
                Err(StorageError::BadRequest(_))
            ));
        }
        assert_eq!(c.info().config.hnsw_config.m, 16);
        assert_eq!(c.info().config.optimizer_config.deleted_threshold, 0.2);
    }
}
