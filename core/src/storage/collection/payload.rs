//! Payload writes (set, overwrite, delete keys, clear), deletes by filter, and payload field
//! indexes.
//!
//! ## Payload writes are logged as upserts
//! A payload write picks its points (by id, or every live point a filter matches) under the
//! writers' lock, computes each point's new payload, and logs the result as an upsert of
//! those points with their current vectors. Replay therefore needs no filter evaluation and
//! cannot pick different points than the original write did, whatever changed since; and a
//! point in a sealed (immutable) segment moves to the write segment like any overwritten
//! point. The cost is the vectors in the log record.
//!
//! ## Payload indexes
//! The schema (key → kind) is part of the manifest and changes only under the checkpoint
//! lock, committed before it takes effect. Index contents are derived data: each sealed
//! segment builds its indexes from its payloads when it is sealed, loaded, or rebuilt, or when
//! the schema changes. Until a segment has them, its filters are evaluated on the payloads,
//! so results never depend on whether an index is ready. A persisted segment caches them in
//! its directory (`payload_index.bin`, see `payload_index.rs`), so that reopening the collection
//! loads them instead of parsing every payload; a missing, damaged or outdated cache is
//! rebuilt and rewritten.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{lock, read, write, Collection, State, SEGMENTS_DIR};
use crate::error::StorageError;
use crate::models::depth;
use crate::models::{
    parse_key, path, CreateFieldIndex, DeleteVectors, Payload, PayloadIndexInfo, PayloadSchemaType,
    PayloadUpdate, PointId, PointsSelector, UpdateResult, UpdateStatus, UpdateVectors,
};
use crate::storage::codec::{Operation, Row};
use crate::storage::field_index::FieldIndex;
use crate::storage::payload_index::FieldIndexes;
use crate::storage::space::Space;

/// The payload `update` gives a point whose payload is `old`, refused if it would nest deeper
/// than [`MAX_PAYLOAD_DEPTH`](crate::models::MAX_PAYLOAD_DEPTH) (a payload set at a key lands
/// below the objects on the way).
pub(super) fn updated(
    update: &PayloadUpdate,
    id: &PointId,
    old: Option<Payload>,
) -> Result<Option<Payload>, StorageError> {
    let new = merged(update, old);
    if let Some(payload) = &new {
        depth::check_payload(payload, &format!("the new payload of point {id}"))?;
    }
    Ok(new)
}

fn merged(update: &PayloadUpdate, old: Option<Payload>) -> Option<Payload> {
    match update {
        PayloadUpdate::Set(set) => {
            let mut payload = old.unwrap_or_default();
            let mut merge = |target: &mut Payload| {
                for (k, v) in &set.payload {
                    target.insert(k.clone(), v.clone());
                }
            };
            match &set.key {
                Some(key) => path::for_each_object(&mut payload, key, &mut merge),
                None => merge(&mut payload),
            }
            Some(payload)
        }
        PayloadUpdate::Overwrite(set) => match &set.key {
            Some(key) => {
                let mut payload = old.unwrap_or_default();
                path::for_each_object(&mut payload, key, &mut |target| {
                    *target = set.payload.clone();
                });
                Some(payload)
            }
            None => Some(set.payload.clone()),
        },
        PayloadUpdate::Delete(delete) => {
            let mut payload = old?;
            for key in &delete.keys {
                path::remove(&mut payload, key);
            }
            Some(payload)
        }
        PayloadUpdate::Clear(_) => None,
    }
}

/// The stored points `ids` (those that exist) as rows, each changed by `change`: what a write
/// that rewrites existing points logs. The first refused change refuses them all.
fn rewritten(
    state: &State,
    ids: Vec<PointId>,
    mut change: impl FnMut(&mut Row) -> Result<(), StorageError>,
) -> Result<Vec<Row>, StorageError> {
    ids.into_iter()
        .filter_map(|id| {
            let loc = state.index.get(&id)?;
            let data = &state.segments[loc.segment as usize].data;
            let offset = loc.offset as usize;
            let mut row = Row {
                id,
                vector: data.vector(offset).to_vec(),
                payload: data.payload(offset),
            };
            Some(change(&mut row).map(|()| row))
        })
        .collect()
}

/// Refuse a payload update that no point could take (bad selector, key or payload).
pub(super) fn check_payload_update(update: &PayloadUpdate) -> Result<(), StorageError> {
    check_selector(update.selector())?;
    match update {
        PayloadUpdate::Set(set) | PayloadUpdate::Overwrite(set) => {
            depth::check_payload(&set.payload, "payload")?;
            if let Some(key) = &set.key {
                check_key("payload key", key)?;
            }
        }
        PayloadUpdate::Delete(delete) => {
            for key in &delete.keys {
                check_key("payload key", key)?;
            }
        }
        PayloadUpdate::Clear(_) => {}
    }
    Ok(())
}

fn check_key(what: &str, key: &str) -> Result<(), StorageError> {
    parse_key(key)
        .map(|_| ())
        .map_err(|why| StorageError::BadRequest(format!("{what} \"{key}\": {why}")))
}

pub(super) fn check_selector(selector: &PointsSelector) -> Result<(), StorageError> {
    match selector {
        PointsSelector::Points(_) => Ok(()),
        PointsSelector::Filter(filter) => filter.validate().map_err(StorageError::from),
    }
}

impl Collection {
    /// The ids a selector names (each once), or the live points its filter matches now.
    pub(super) fn selected_ids(&self, state: &State, selector: &PointsSelector) -> Vec<PointId> {
        match selector {
            PointsSelector::Points(ids) => {
                let mut seen = std::collections::HashSet::new();
                ids.iter().filter(|id| seen.insert(**id)).copied().collect()
            }
            PointsSelector::Filter(filter) => self.matching_ids(state, filter),
        }
    }

    /// Delete the selected points (by id, or every point a filter matches when the delete
    /// runs); ids that do not exist are ignored.
    pub fn delete(&self, selector: &PointsSelector) -> Result<UpdateResult, StorageError> {
        check_selector(selector)?;
        match selector {
            PointsSelector::Points(ids) => self.write(Operation::Delete(ids.clone())),
            PointsSelector::Filter(filter) => {
                self.write_with(|state| Ok(Operation::Delete(self.matching_ids(state, filter))))
            }
        }
    }

    /// Change the payloads of the selected points: merge keys in, replace the payload, remove
    /// keys, or clear it. Vectors are untouched. Missing ids are ignored.
    pub fn update_payload(&self, update: &PayloadUpdate) -> Result<UpdateResult, StorageError> {
        check_payload_update(update)?;
        self.write_with(|state| {
            let ids = self.selected_ids(state, update.selector());
            let points = rewritten(state, ids, |row| {
                row.payload = updated(update, &row.id, row.payload.take())?;
                Ok(())
            })?;
            Ok(Operation::Upsert(points))
        })
    }

    /// Replace some vectors of existing points (named ones by name; a point's other vectors
    /// and its payload stay). Missing points are ignored; an unknown name or a bad vector
    /// refuses the whole request.
    pub fn update_vectors(&self, request: &UpdateVectors) -> Result<UpdateResult, StorageError> {
        // Check every vector up front, so that a bad one changes nothing.
        for point in &request.points {
            self.spaces.row(&point.id, &point.vector)?;
        }
        self.write_with(|state| {
            let mut rows: Vec<Row> = Vec::with_capacity(request.points.len());
            // Several entries for one point add up, in request order.
            let mut at: std::collections::HashMap<PointId, usize> = Default::default();
            for point in &request.points {
                if let Some(&k) = at.get(&point.id) {
                    self.spaces
                        .fill(&mut rows[k].vector, &point.id, &point.vector)?;
                    continue;
                }
                let Some(loc) = state.index.get(&point.id) else {
                    continue;
                };
                let data = &state.segments[loc.segment as usize].data;
                let offset = loc.offset as usize;
                let mut vector = data.vector(offset).to_vec();
                self.spaces.fill(&mut vector, &point.id, &point.vector)?;
                at.insert(point.id, rows.len());
                rows.push(Row {
                    id: point.id,
                    vector,
                    payload: data.payload(offset),
                });
            }
            Ok(Operation::Upsert(rows))
        })
    }

    /// Remove named vectors from the selected points (by id or filter). Only collections with
    /// named vectors have vectors a point may lack.
    pub fn delete_vectors(&self, request: &DeleteVectors) -> Result<UpdateResult, StorageError> {
        let spaces = self.deleted_spaces(request)?;
        self.write_with(|state| {
            let ids = self.selected_ids(state, &request.selector);
            let rows = rewritten(state, ids, |row| {
                for space in &spaces {
                    self.spaces.clear(&mut row.vector, space);
                }
                Ok(())
            })?;
            Ok(Operation::Upsert(rows))
        })
    }

    /// The spaces a vector delete removes, refused if the request is bad.
    pub(super) fn deleted_spaces(
        &self,
        request: &DeleteVectors,
    ) -> Result<Vec<Space>, StorageError> {
        check_selector(&request.selector)?;
        if !self.spaces.is_named() {
            return Err(StorageError::BadRequest(
                "only named vectors can be deleted; this collection has one unnamed vector".into(),
            ));
        }
        let mut spaces = Vec::with_capacity(request.vector.len());
        for name in &request.vector {
            spaces.push(self.spaces.get(name)?.clone());
        }
        Ok(spaces)
    }

    /// Index payload key `field_name` as `field_schema` (replacing an index of another kind on
    /// the same key). Persisted with the collection; sealed segments build it at once.
    pub fn create_field_index(
        &self,
        request: &CreateFieldIndex,
    ) -> Result<UpdateResult, StorageError> {
        check_key("field_name", &request.field_name)?;
        request.check_supported()?;
        let kind = request.field_schema.kind;
        self.change_schema(|schema| {
            schema.insert(request.field_name.clone(), kind);
        })
    }

    /// Drop the index of payload key `field`; dropping one that does not exist is not an error.
    pub fn delete_field_index(&self, field: &str) -> Result<UpdateResult, StorageError> {
        self.change_schema(|schema| {
            schema.remove(field);
        })
    }

    fn change_schema(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, PayloadSchemaType>),
    ) -> Result<UpdateResult, StorageError> {
        self.check_writable()?;
        {
            let mut committed = lock(&self.checkpoint);
            let mut manifest = committed.clone();
            change(&mut manifest.payload_schema);
            if manifest.payload_schema != committed.payload_schema {
                if let Some(dir) = &self.dir {
                    manifest.write(dir)?;
                }
                write(&self.state).schema = manifest.payload_schema.clone();
                *committed = manifest;
            }
        }
        self.refresh_field_indexes();
        Ok(UpdateResult {
            operation_id: lock(&self.writer).next_op.saturating_sub(1),
            status: UpdateStatus::Completed,
        })
    }

    /// Build the payload indexes of every sealed segment whose indexes do not fit the current
    /// schema, or load them from the segment's payload index file when it was written for that
    /// schema. Building happens without locks; a segment replaced meanwhile is skipped (its
    /// replacement is built by the call that follows its commit).
    pub(crate) fn refresh_field_indexes(&self) {
        loop {
            let todo = {
                let state = read(&self.state);
                let sealed = state.segments.len().saturating_sub(1);
                state.segments[..sealed]
                    .iter()
                    .find(|s| !s.fields.fits(&state.schema))
                    .map(|s| (s.id, s.persisted, s.data.clone(), state.schema.clone()))
            };
            let Some((id, persisted, data, schema)) = todo else {
                return;
            };
            // Only a segment with files of its own has a directory to cache its indexes in
            // (an empty one has none, and is cheap to build anyway).
            let seg_dir = match &self.dir {
                Some(dir) if persisted && data.len() > 0 => {
                    Some(dir.join(SEGMENTS_DIR).join(id.to_string()))
                }
                _ => None,
            };
            let loaded = seg_dir
                .as_deref()
                .and_then(|d| FieldIndexes::load(d, &schema, data.len()));
            let from_file = loaded.is_some();
            let built =
                Arc::new(loaded.unwrap_or_else(|| {
                    FieldIndexes::build(&schema, data.len(), |o| data.payload(o))
                }));
            let installed = {
                let mut state = write(&self.state);
                let current = state.schema == schema;
                match state.segments.iter_mut().find(|s| s.id == id) {
                    Some(segment) if current => {
                        segment.fields = built.clone();
                        true
                    }
                    // The schema changed meanwhile: the next round builds for the new one.
                    Some(_) => false,
                    None => false,
                }
            };
            // Cache what was built, outside the lock; a collection that refuses writes leaves
            // its files alone. A failed write only costs a build at the next open.
            let cache = seg_dir.filter(|_| installed && !from_file && self.read_only.is_none());
            if let Some(seg_dir) = cache {
                if let Err(e) = built.write(&seg_dir, &schema, data.len()) {
                    log::warn!("could not cache the payload indexes of segment {id}: {e}");
                }
            }
        }
    }

    /// The payload schema with the number of live-or-recent points holding each indexed kind
    /// of value: summed over sealed segments' indexes (which count points deleted since the
    /// segment was sealed until it is vacuumed, as Qdrant's count does) and the write segment.
    pub(super) fn payload_schema_info(&self) -> BTreeMap<String, PayloadIndexInfo> {
        let state = read(&self.state);
        let sealed = state.segments.len().saturating_sub(1);
        state
            .schema
            .iter()
            .map(|(key, kind)| {
                let mut points = 0u64;
                for (position, segment) in state.segments.iter().enumerate() {
                    points += match segment.fields.get(key) {
                        Some(index) if index.kind() == *kind => index.points() as u64,
                        _ if position < sealed || segment.data.len() > 0 => {
                            let data = &segment.data;
                            FieldIndex::build(key, *kind, data.len(), |o| data.payload(o)).points()
                                as u64
                        }
                        _ => 0,
                    };
                }
                (
                    key.clone(),
                    PayloadIndexInfo {
                        data_type: *kind,
                        points,
                    },
                )
            })
            .collect()
    }
}
