//! The intake: what becomes of a signup between the visitor's request and the delivery queue.

pub mod store;
