//! What can go wrong reading or writing a tree.

use inventory_base::location::S3Url;
use inventory_base::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("tree file {file} is damaged: {reason}")]
    Damaged { file: S3Url, reason: String },
    #[error(
        "entries must be added in strictly increasing path order: {path:?} came after {previous:?}"
    )]
    OutOfOrder { previous: String, path: String },
    #[error("range {range} can only be taken whole between two ranges")]
    NotAtRangeBoundary { range: String },
    #[error("{path}: size {size} is larger than a tree can store")]
    TooLarge { path: String, size: u64 },
}
