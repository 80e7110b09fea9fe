//! `points/batch`: several writes validated whole, turned into their net effect on the points
//! they touch, and logged and applied as one operation ([`Operation::Batch`]).
//!
//! Each write sees the ones before it: the batch is played in order against an overlay (the
//! points changed so far, on top of the collection's state), under the writers' lock, so
//! nothing else comes between the writes. A filter selects the overlay's points by their new
//! payloads. Nothing is applied until every write has been played, so a write that fails
//! (the first error, naming `operations[i]`) leaves the collection as it was.

use std::collections::BTreeMap;

use super::payload::{check_payload_update, check_selector, updated};
use super::{Collection, State};
use crate::error::StorageError;
use crate::models::{
    PayloadUpdate, PointId, PointsSelector, UpdateOperation, UpdateOperations, UpdateResult,
    UpdateVectors,
};
use crate::storage::codec::{Operation, Row};
use crate::storage::filter;
use crate::storage::space::Space;

/// A write of the batch after the checks that need no state.
enum Prepared {
    Upsert(Vec<Row>),
    Delete(PointsSelector),
    Payload(PayloadUpdate),
    UpdateVectors(UpdateVectors),
    DeleteVectors(PointsSelector, Vec<Space>),
}

/// The points the batch has changed so far (`None`: deleted), over the stored state.
struct Overlay<'a> {
    state: &'a State,
    changed: BTreeMap<PointId, Option<Row>>,
}

impl Overlay<'_> {
    /// The point as the writes so far left it.
    fn row(&self, id: &PointId) -> Option<Row> {
        if let Some(changed) = self.changed.get(id) {
            return changed.clone();
        }
        let loc = self.state.index.get(id)?;
        let data = &self.state.segments[loc.segment as usize].data;
        let offset = loc.offset as usize;
        Some(Row {
            id: *id,
            vector: data.vector(offset).to_vec(),
            payload: data.payload(offset),
        })
    }

    fn into_operation(self) -> Operation {
        let mut delete = Vec::new();
        let mut upsert = Vec::new();
        for (id, row) in self.changed {
            match row {
                Some(row) => upsert.push(row),
                None => delete.push(id),
            }
        }
        Operation::Batch { delete, upsert }
    }
}

/// `error` of the `i`-th write, saying which write it was. Refusals become `BadRequest`s that
/// keep the original message; `Unsupported` keeps its type with the field's path in the body.
fn at(i: usize, kind: &str, error: StorageError) -> StorageError {
    match error {
        StorageError::Unsupported { field, supported } => StorageError::Unsupported {
            field: format!("operations[{i}].{kind}.{field}"),
            supported,
        },
        StorageError::BadRequest(why) => {
            StorageError::BadRequest(format!("operations[{i}] ({kind}): {why}"))
        }
        e @ (StorageError::Io { .. }
        | StorageError::Corrupted { .. }
        | StorageError::ReadOnly { .. }) => e,
        other => StorageError::BadRequest(format!("operations[{i}] ({kind}): {other}")),
    }
}

impl Collection {
    /// Apply `batch`'s writes in order, all or none: every write is checked before any takes
    /// effect, and the whole batch is one logged operation (one operation number, which each
    /// write's result reports).
    pub fn batch(&self, batch: UpdateOperations) -> Result<Vec<UpdateResult>, StorageError> {
        let count = batch.operations.len();
        let mut prepared = Vec::with_capacity(count);
        for (i, operation) in batch.operations.into_iter().enumerate() {
            let kind = operation.kind();
            prepared.push(self.check_write(operation).map_err(|e| at(i, kind, e))?);
        }
        let result = self.write_with(|state| {
            let mut overlay = Overlay {
                state,
                changed: BTreeMap::new(),
            };
            for (i, write) in prepared.iter().enumerate() {
                self.play_write(&mut overlay, write)
                    .map_err(|e| at(i, kind_of(write), e))?;
            }
            Ok(overlay.into_operation())
        })?;
        Ok(vec![result; count])
    }

    /// The checks of one write that need no state.
    fn check_write(&self, operation: UpdateOperation) -> Result<Prepared, StorageError> {
        Ok(match operation {
            UpdateOperation::Upsert(upsert) => Prepared::Upsert(self.rows(upsert.points)?),
            UpdateOperation::Delete(selector) => {
                check_selector(&selector)?;
                Prepared::Delete(selector)
            }
            UpdateOperation::SetPayload(set) => payload(PayloadUpdate::Set(set))?,
            UpdateOperation::OverwritePayload(set) => payload(PayloadUpdate::Overwrite(set))?,
            UpdateOperation::DeletePayload(delete) => payload(PayloadUpdate::Delete(delete))?,
            UpdateOperation::ClearPayload(selector) => payload(PayloadUpdate::Clear(selector))?,
            UpdateOperation::UpdateVectors(request) => {
                for point in &request.points {
                    self.spaces.row(&point.id, &point.vector)?;
                }
                Prepared::UpdateVectors(request)
            }
            UpdateOperation::DeleteVectors(request) => {
                let spaces = self.deleted_spaces(&request)?;
                Prepared::DeleteVectors(request.selector, spaces)
            }
        })
    }

    /// Play one write on the overlay.
    fn play_write(&self, overlay: &mut Overlay<'_>, write: &Prepared) -> Result<(), StorageError> {
        match write {
            Prepared::Upsert(rows) => {
                for row in rows {
                    overlay.changed.insert(row.id, Some(row.clone()));
                }
            }
            Prepared::Delete(selector) => {
                for id in self.selected(overlay, selector) {
                    overlay.changed.insert(id, None);
                }
            }
            Prepared::Payload(update) => {
                for id in self.selected(overlay, update.selector()) {
                    if let Some(mut row) = overlay.row(&id) {
                        row.payload = updated(update, &id, row.payload.take())?;
                        overlay.changed.insert(id, Some(row));
                    }
                }
            }
            Prepared::UpdateVectors(request) => {
                for point in &request.points {
                    if let Some(mut row) = overlay.row(&point.id) {
                        self.spaces
                            .fill(&mut row.vector, &point.id, &point.vector)?;
                        overlay.changed.insert(point.id, Some(row));
                    }
                }
            }
            Prepared::DeleteVectors(selector, spaces) => {
                for id in self.selected(overlay, selector) {
                    if let Some(mut row) = overlay.row(&id) {
                        for space in spaces {
                            self.spaces.clear(&mut row.vector, space);
                        }
                        overlay.changed.insert(id, Some(row));
                    }
                }
            }
        }
        Ok(())
    }

    /// The points `selector` names: by id (each once), or those its filter matches as the
    /// writes so far left them.
    fn selected(&self, overlay: &Overlay<'_>, selector: &PointsSelector) -> Vec<PointId> {
        let PointsSelector::Filter(wanted) = selector else {
            return self.selected_ids(overlay.state, selector);
        };
        let mut ids: Vec<PointId> = self
            .matching_ids(overlay.state, wanted)
            .into_iter()
            .filter(|id| !overlay.changed.contains_key(id))
            .collect();
        for (id, row) in &overlay.changed {
            if let Some(row) = row {
                if filter::matches(wanted, id, row.payload.as_ref()) {
                    ids.push(*id);
                }
            }
        }
        ids
    }
}

fn payload(update: PayloadUpdate) -> Result<Prepared, StorageError> {
    check_payload_update(&update)?;
    Ok(Prepared::Payload(update))
}

fn kind_of(write: &Prepared) -> &'static str {
    match write {
        Prepared::Upsert(_) => "upsert",
        Prepared::Delete(_) => "delete",
        Prepared::Payload(PayloadUpdate::Set(_)) => "set_payload",
        Prepared::Payload(PayloadUpdate::Overwrite(_)) => "overwrite_payload",
        Prepared::Payload(PayloadUpdate::Delete(_)) => "delete_payload",
        Prepared::Payload(PayloadUpdate::Clear(_)) => "clear_payload",
        Prepared::UpdateVectors(_) => "update_vectors",
        Prepared::DeleteVectors(..) => "delete_vectors",
    }
}
