//! From an inventory's row to the catalog's entry: what the import turns each kept
//! row into.

use inventory_catalog::tree::{Entry, imported_address};
use inventory_delivery::reader::InventoryEntry;

/// An entry for an object imported from `bucket`, at its own key.
pub fn imported_entry(bucket: &str, entry: InventoryEntry) -> Entry {
    Entry {
        address: imported_address(bucket, &entry.key),
        path: entry.key,
        version_id: entry.version_id,
        size: entry.size,
        etag: entry.etag,
        last_modified_ms: entry.last_modified_ms,
        storage_class: entry.storage_class,
    }
}
