//! What a delivery's data files tell before they are read: for a Parquet file, its
//! footer's row count and, per row group, the least and greatest key. Planning reads
//! them to show progress out of a known total and to cut the key space into
//! partitions; one ranged read of the file's tail each, never the file.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::statistics::Statistics;

use inventory_base::location::S3Url;
use inventory_base::storage::{ObjectStore, StorageError};

use crate::manifest::{DataFormat, Manifest};

/// Bytes read from a file's end at first: the footer of an inventory data file is a few
/// kilobytes; a larger one is read whole in a second request.
const TAIL_BYTES: u64 = 64 * 1024;
/// Files whose footers are read at once.
const CONCURRENT_FILES: usize = 32;

/// One row group: its rows and bounds of the keys in it (the least and greatest, or
/// shorter bounds when the writer truncated them), when the file keeps statistics for
/// the key column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowGroupKeys {
    pub rows: u64,
    pub keys: Option<(String, String)>,
}

/// What a data file's footer tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileStatistics {
    pub rows: u64,
    pub row_groups: Vec<RowGroupKeys>,
}

#[derive(Debug, thiserror::Error)]
pub enum StatisticsError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("data file {file} has no readable Parquet footer: {reason}")]
    Footer { file: S3Url, reason: String },
}

/// The statistics of every data file of a Parquet delivery, in manifest order; `None`
/// for a delivery in a format whose files tell nothing before they are decoded.
pub async fn delivery_statistics(
    store: &ObjectStore,
    manifest: &Manifest,
) -> Result<Option<Vec<FileStatistics>>, StatisticsError> {
    if manifest.format != DataFormat::Parquet {
        return Ok(None);
    }
    // Owned arguments: the futures are sent across threads by whoever awaits this.
    let files: Vec<(ObjectStore, S3Url, u64)> = manifest
        .files
        .iter()
        .map(|file| (store.clone(), manifest.file_url(file), file.size))
        .collect();
    let stats = futures::stream::iter(files)
        .map(|(store, url, size)| file_statistics(store, url, size))
        .buffered(CONCURRENT_FILES)
        .try_collect()
        .await?;
    Ok(Some(stats))
}

async fn read(
    store: &ObjectStore,
    url: &S3Url,
    range: std::ops::Range<u64>,
) -> Result<Bytes, StorageError> {
    let (_, body) = store.open_range(url, None, Some(range)).await?;
    body.collect()
        .await
        .map(|data| data.into_bytes())
        .map_err(|err| StorageError::S3 {
            url: url.clone(),
            message: err.to_string(),
        })
}

/// One data file's footer, read from its tail.
async fn file_statistics(
    store: ObjectStore,
    url: S3Url,
    size: u64,
) -> Result<FileStatistics, StatisticsError> {
    let store = &store;
    let bad = |reason: String| StatisticsError::Footer {
        file: url.clone(),
        reason,
    };
    if size < 12 {
        return Err(bad(format!("it is {size} bytes long")));
    }
    let tail_start = size.saturating_sub(TAIL_BYTES);
    let mut tail = read(store, &url, tail_start..size).await?;
    let footer_len = tail
        .len()
        .checked_sub(8)
        .and_then(|at| tail.get(at..at + 4))
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| bad("the file ends early".into()))? as u64;
    if tail.get(tail.len().saturating_sub(4)..) != Some(b"PAR1".as_slice()) {
        return Err(bad("it does not end with PAR1".into()));
    }
    let needed = footer_len + 8;
    if needed > size {
        return Err(bad(format!(
            "its footer says {footer_len} bytes, more than the file"
        )));
    }
    if needed > tail.len() as u64 {
        tail = read(store, &url, size - needed..size).await?;
    }
    let start = tail.len() as u64 - needed;
    let metadata_bytes = tail.slice(start as usize..tail.len() - 8);
    let metadata = ParquetMetaDataReader::decode_metadata(&metadata_bytes)
        .map_err(|err| bad(err.to_string()))?;
    let key_column = metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().parts().len() == 1 && c.name().eq_ignore_ascii_case("key"));
    let row_groups = metadata
        .row_groups()
        .iter()
        .map(|group| {
            let keys = key_column
                .and_then(|i| group.columns().get(i))
                .and_then(|c| c.statistics())
                .and_then(|s| match s {
                    Statistics::ByteArray(s) => {
                        let text = |v: &parquet::data_type::ByteArray| {
                            std::str::from_utf8(v.data()).ok().map(str::to_string)
                        };
                        // A truncated minimum is a prefix of the real one, still a
                        // lower bound; a truncated maximum is rounded up, still an
                        // upper bound.
                        match (s.min_opt().and_then(text), s.max_opt().and_then(text)) {
                            (Some(min), Some(max)) => Some((min, max)),
                            _ => None,
                        }
                    }
                    _ => None,
                });
            RowGroupKeys {
                rows: group.num_rows().max(0) as u64,
                keys,
            }
        })
        .collect();
    Ok(FileStatistics {
        rows: metadata.file_metadata().num_rows().max(0) as u64,
        row_groups,
    })
}
