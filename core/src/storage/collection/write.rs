//! The write path: validate, encode, log and apply an operation, and make it durable
//! (group commit under `Durability::Fsync`).

use super::{lock, Collection, Loc, State, Writer};
use crate::config::Durability;
use crate::error::StorageError;
use crate::models::{PointId, PointStruct, UpdateResult, UpdateStatus};
use crate::storage::codec::Operation;
use crate::storage::codec::Row;
use crate::storage::{read, write};

impl Collection {
    /// Insert or replace `batch`: all of it, or (on any invalid point) none of it.
    pub fn upsert(&self, batch: Vec<PointStruct>) -> Result<UpdateResult, StorageError> {
        let rows = self.rows(batch)?;
        self.write(Operation::Upsert(rows))
    }

    /// The points of an upsert as stored rows, refused whole if one is invalid.
    pub(super) fn rows(&self, mut batch: Vec<PointStruct>) -> Result<Vec<Row>, StorageError> {
        crate::models::depth::bound(&mut batch)?;
        let mut rows = Vec::with_capacity(batch.len());
        for point in batch {
            rows.push(Row {
                vector: self.spaces.take_row(&point.id, point.vector)?,
                id: point.id,
                payload: point.payload,
            });
        }
        Ok(rows)
    }

    /// Like [`write`](Self::write), but the operation is made from the state under the
    /// writers' lock, so that no other write comes between what it read and what it logs
    /// (deletes by filter, payload writes).
    pub(super) fn write_with(
        &self,
        make: impl FnOnce(&State) -> Result<Operation, StorageError>,
    ) -> Result<UpdateResult, StorageError> {
        self.check_writable()?;
        let op = {
            let mut writer = lock(&self.writer);
            let operation = make(&read(&self.state))?;
            let body = self.encode(&operation)?;
            self.log_and_apply(&mut writer, &body, operation)?
        };
        self.after_write(op)
    }

    pub(super) fn check_writable(&self) -> Result<(), StorageError> {
        match &self.read_only {
            Some(reason) => Err(StorageError::ReadOnly {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The log record of `operation` (nothing in memory).
    fn encode(&self, operation: &Operation) -> Result<Vec<u8>, StorageError> {
        let mut body = Vec::new();
        if self.dir.is_some() {
            operation
                .encode(&mut body)
                .map_err(StorageError::BadRequest)?;
        }
        Ok(body)
    }

    /// Append `body` under the next operation number and apply `operation`; the caller holds
    /// the writers' lock.
    fn log_and_apply(
        &self,
        writer: &mut Writer,
        body: &[u8],
        operation: Operation,
    ) -> Result<u64, StorageError> {
        let op = writer.next_op;
        if let Some(wal) = writer.wal.as_mut() {
            wal.append(op, body)?;
        }
        apply(&mut write(&self.state), op, operation);
        writer.next_op = op + 1;
        Ok(op)
    }

    /// Sync through `op` if the durability asks for it, and report the write.
    fn after_write(&self, op: u64) -> Result<UpdateResult, StorageError> {
        if matches!(
            self.options.as_ref().map(|o| o.durability),
            Some(Durability::Fsync)
        ) {
            self.sync_through(op)?;
        }
        Ok(UpdateResult {
            operation_id: op,
            status: UpdateStatus::Completed,
        })
    }

    /// Log `operation`, apply it, and (under `Durability::Fsync`) sync before returning.
    pub(super) fn write(&self, operation: Operation) -> Result<UpdateResult, StorageError> {
        self.check_writable()?;
        // Encoding is the expensive part of logging; do it before taking the writers' lock.
        let body = self.encode(&operation)?;
        let op = self.log_and_apply(&mut lock(&self.writer), &body, operation)?;
        self.after_write(op)
    }

    /// Make every operation up to `op` durable. Writers that arrive while a sync runs wait for
    /// it and then usually find their operation covered: one sync serves them all.
    fn sync_through(&self, op: u64) -> Result<(), StorageError> {
        let mut synced = lock(&self.synced);
        if *synced >= op {
            return Ok(());
        }
        // The current log file holds everything since the last rotation, and a rotation syncs
        // the file it leaves; so syncing it covers every operation appended so far.
        let (handle, appended) = {
            let writer = lock(&self.writer);
            match writer.wal.as_ref() {
                Some(wal) => (wal.sync_handle(), writer.next_op - 1),
                None => return Ok(()),
            }
        };
        handle.sync_and_mark(appended)?;
        *synced = appended;
        Ok(())
    }

    /// Sync the log now (the interval flusher calls this).
    pub(crate) fn sync_wal(&self) -> Result<(), StorageError> {
        let appended = lock(&self.writer).next_op - 1;
        self.sync_through(appended)
    }
}

/// Apply a logged operation to the state (live writes and replay alike).
pub(super) fn apply(state: &mut State, op: u64, operation: Operation) {
    match operation {
        Operation::Upsert(points) => apply_upsert(state, op, points),
        Operation::Delete(ids) => apply_delete(state, ids),
        Operation::Batch { delete, upsert } => {
            apply_delete(state, delete);
            apply_upsert(state, op, upsert);
        }
    }
}

fn apply_upsert(state: &mut State, op: u64, points: Vec<Row>) {
    let appendable = state.segments.len() - 1;
    for point in points {
        match state.index.get(&point.id).copied() {
            Some(loc) if loc.segment as usize == appendable => {
                state.segments[appendable].data_mut().overwrite(
                    loc.offset as usize,
                    &point.vector,
                    point.payload,
                    op,
                );
            }
            existing => {
                if let Some(loc) = existing {
                    if state.segments[loc.segment as usize]
                        .data
                        .version(loc.offset as usize)
                        > op
                    {
                        continue;
                    }
                    state.segments[loc.segment as usize].delete(loc.offset as usize);
                }
                let segment = &mut state.segments[appendable];
                let offset = segment
                    .data_mut()
                    .push(point.id, &point.vector, point.payload, op);
                segment.live += 1;
                state.index.insert(
                    point.id,
                    Loc {
                        segment: appendable as u32,
                        offset: offset as u32,
                    },
                );
            }
        }
    }
}

fn apply_delete(state: &mut State, ids: Vec<PointId>) {
    for id in ids {
        if let Some(loc) = state.index.remove(&id) {
            state.segments[loc.segment as usize].delete(loc.offset as usize);
        }
    }
}
