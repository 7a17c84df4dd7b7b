//! The versioned catalog: repositories, branches and commits in DynamoDB
//! ([`catalog`]), and each commit's tree as immutable, content-addressed Parquet files
//! in the repository's storage namespace ([`tree`]: entries, the range and metarange
//! codec, the tree writer, cursors), with diffs and three-way merges that skip the
//! ranges two trees share ([`diff`]).
//!
//! A read goes down this crate top to bottom: a ref (branch, commit id, `~N`) resolves
//! to a commit, the commit names its metarange, the metarange lists ranges by path,
//! the range holds the entry, and the entry's address names the bytes, read from where
//! they are (for an imported object, its original bucket, pinned to its version id).
//! Writes go the other way: entries in path order through a [`tree::TreeWriter`] into
//! ranges and a metarange, then a commit, then the branch moved by a conditional write.
//! Users' writes wait on their branch as uncommitted changes until a commit applies
//! them to the head's tree, taking whole the ranges no change touches
//! ([`catalog::changes`]).
//!
//! It must not know about S3 Inventory, import jobs, queues or Lambda: an import hands
//! it entries like any other writer would. It knows one thing of imports: the name of
//! the branch they commit to, which it keeps users from writing to.

pub mod catalog;
pub mod diff;
pub mod tree;
