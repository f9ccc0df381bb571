//! The delivery worker: drains the queue into the merchant's Clover account (or the demo
//! stand-in), one customer per visitor, within Clover's limits, surviving restarts.

mod backoff;
pub mod lease;
mod note;
mod plan;
pub mod queue;
mod worker;

pub use backoff::Backoff;
pub use note::{consent_line, consent_note};
pub use plan::{Plan, plan_delivery};
pub use queue::{DeliveryOutcome, Queue, QueuedDelivery, Turn};
pub use worker::{DeliveryHandle, DeliveryWorker};
