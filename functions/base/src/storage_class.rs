//! S3's storage classes, as entries of inventories and of the catalog carry them.

use std::borrow::Cow;

/// An S3 storage class. Those S3 names are shared static strings, so that entries
/// decoded by the million allocate none for it; any other name is kept as listed.
pub type StorageClass = Cow<'static, str>;

/// The storage classes S3 lists in its inventories.
const STORAGE_CLASSES: [&str; 11] = [
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
];

/// `name` as a [`StorageClass`]: S3's own names without allocating.
pub fn storage_class(name: &str) -> StorageClass {
    match STORAGE_CLASSES.iter().find(|known| **known == name) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(name.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_classes_of_s3_are_shared_and_others_kept_as_listed() {
        for name in STORAGE_CLASSES {
            assert!(matches!(storage_class(name), Cow::Borrowed(shared) if shared == name));
        }
        assert!(matches!(storage_class("standard"), Cow::Owned(kept) if kept == "standard"));
        assert!(matches!(storage_class("NEW_CLASS"), Cow::Owned(kept) if kept == "NEW_CLASS"));
    }
}
