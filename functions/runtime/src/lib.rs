//! runtime

pub mod events;
pub mod handlers;
pub mod local;
pub mod process;
pub mod queues;
pub mod resources;
