//! catalog

pub mod catalog;
pub mod diff;
pub mod tree;
