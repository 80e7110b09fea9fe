//! A collection's manifest: its configuration, which segments make it up, and which write
//! operations they contain. The manifest is the commit point of a checkpoint: files it does not
//! name are leftovers of an interrupted checkpoint and are removed at open.
//!
//! ## Format
//! `collections/<name>/manifest.bin`, a checked file (see `checked.rs`) with magic
//! `RROMAN\0\0`, version 1, `count` = number of segments, and as data the JSON of
//! [`Manifest`]. It is replaced atomically (write `manifest.tmp`, sync, rename, sync the
//! directory), so it is always either the previous or the next version.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::checked;
use crate::error::StorageError;
use crate::models::{
    ClusterParams, HnswConfig, OptimizersConfig, StrictModeConfig, VectorsConfig, WalConfig,
};

const MAGIC: [u8; 8] = *b"RROMAN\0\0";
const VERSION: u32 = 1;

/// File name of the manifest inside a collection's directory.
pub(crate) const MANIFEST_FILE: &str = "manifest.bin";

/// What a collection's directory holds, as of its last checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// The collection's vector space.
    pub(crate) params: VectorsConfig,
    /// Its HNSW parameters (absent in manifests written before indexes existed).
    #[serde(default)]
    pub(crate) hnsw_config: HnswConfig,
    /// Its optimizer thresholds.
    #[serde(default)]
    pub(crate) optimizers_config: OptimizersConfig,
    /// Qdrant's cluster settings as given at creation, kept only to report them back (absent
    /// when none were given, and in manifests written before they were kept).
    #[serde(default, skip_serializing_if = "ClusterParams::is_empty")]
    pub(crate) cluster: ClusterParams,
    /// Qdrant's log settings as given at creation, kept only to report them back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) wal_config: Option<WalConfig>,
    /// The request limits, when set (absent in manifests written before strict mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) strict_mode_config: Option<StrictModeConfig>,
    /// Sealed segments whose index was built with HNSW parameters that `update_collection`
    /// has since changed: the optimizer rebuilds them with the current ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) stale_indexes: Vec<u64>,
    /// Every write operation up to this number is in the segments; the log is replayed from
    /// the next one.
    pub(crate) applied_op: u64,
    /// The id the next new segment gets.
    pub(crate) next_segment_id: u64,
    /// The sealed segments, oldest first.
    pub(crate) segments: Vec<SegmentEntry>,
    /// Payload keys with an index, and their kinds (absent before payload indexes existed).
    #[serde(default)]
    pub(crate) payload_schema: std::collections::BTreeMap<String, crate::models::PayloadSchemaType>,
}

/// One sealed segment in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SegmentEntry {
    /// Its id: it lives in `segments/<id>/`.
    pub(crate) id: u64,
    /// Number of offsets, live or deleted.
    pub(crate) points: u64,
    /// Generation of its deletion file, 0 if nothing was deleted.
    pub(crate) deleted_gen: u64,
    /// Whether `hnsw.bin` holds its HNSW index.
    #[serde(default)]
    pub(crate) indexed: bool,
    /// Payload keys its per-value sub-graphs were built for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) sub_keys: Vec<String>,
    /// Its per-value sub-graphs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) sub_graphs: Vec<SubGraphEntry>,
}

/// One per-value sub-graph of a segment: the graph over the points whose `key` holds `value`
/// (a JSON string, integer or bool), in file `file` of the segment's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SubGraphEntry {
    pub(crate) key: String,
    pub(crate) value: serde_json::Value,
    /// Set for the graph of a named vector space (then `key` and `value` are unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) space: Option<String>,
    pub(crate) file: String,
}

impl Manifest {
    /// The bytes of the manifest file's data part.
    pub(crate) fn to_json(&self) -> Result<Vec<u8>, StorageError> {
        serde_json::to_vec_pretty(self)
            .map_err(|e| StorageError::BadRequest(format!("manifest cannot be serialized: {e}")))
    }

    /// Replace the manifest in `dir` atomically.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), StorageError> {
        checked::write_atomic(
            &dir.join(MANIFEST_FILE),
            MAGIC,
            VERSION,
            self.segments.len() as u64,
            &self.to_json()?,
        )
    }

    /// The complete manifest file, as [`write`](Self::write) would write it, for snapshots.
    pub(crate) fn file_bytes(&self) -> Result<Vec<u8>, StorageError> {
        checked::encode(
            MAGIC,
            VERSION,
            0,
            self.segments.len() as u64,
            &self.to_json()?,
        )
    }

    /// Read and check the manifest in `dir`.
    pub(crate) fn read(dir: &Path) -> Result<Manifest, StorageError> {
        let path = dir.join(MANIFEST_FILE);
        let (_, data) = checked::read(&path, MAGIC, VERSION)?;
        serde_json::from_slice(&data).map_err(|e| {
            StorageError::corrupted(&path, checked::HEADER_LEN as u64, format!("bad JSON: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest written before Qdrant's cluster and log settings were kept still loads,
    /// with none of them set, and one with them keeps them through a write and read.
    #[test]
    fn cluster_settings_are_optional_and_kept() {
        let old = br#"{"params": {"size": 4, "distance": "Dot"}, "applied_op": 7,
            "next_segment_id": 2, "segments": []}"#;
        let manifest: Manifest = serde_json::from_slice(old).unwrap();
        assert!(manifest.cluster.is_empty());
        assert_eq!(manifest.wal_config, None);
        assert_eq!(manifest.applied_op, 7);

        let dir = tempfile::tempdir().unwrap();
        let mut kept = manifest.clone();
        kept.cluster.shard_number = Some(6);
        kept.cluster.on_disk_payload = Some(true);
        kept.wal_config = Some(WalConfig {
            wal_capacity_mb: Some(32),
            ..WalConfig::default()
        });
        kept.write(dir.path()).unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), kept);
        // Nothing is written for settings that were not given.
        let json = String::from_utf8(manifest.to_json().unwrap()).unwrap();
        assert!(
            !json.contains("cluster") && !json.contains("wal_config"),
            "{json}"
        );
    }
}
