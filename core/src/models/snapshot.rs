//! Snapshot descriptions, as Qdrant lists them.

use serde::{Deserialize, Serialize};

/// One snapshot file: `{"name": "docs-1732450150123.snapshot", "creation_time":
/// "2026-11-24T12:09:10", "size": 1048576}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotDescription {
    /// File name, unique among the snapshots of its collection (or of the instance).
    pub name: String,
    /// When it was taken, UTC, `YYYY-MM-DDTHH:MM:SS`.
    pub creation_time: Option<String>,
    /// Size of the archive in bytes.
    pub size: u64,
    /// Where the archive is, to copy it elsewhere or to recover from it (not in Qdrant's JSON).
    #[serde(skip)]
    pub path: std::path::PathBuf,
}
