//! The signup intake: one path from a submission as it arrived to a signup stored and
//! queued, whichever door it came in by. The HTML form, its embedded copy and the JSON API
//! read their bodies, hand the submission to [`Intake::take`], and render the
//! [`Outcome`]; every rule about who is screened out, what counts against the limit, when
//! the CAPTCHA is asked and what an idempotency key means is decided here, once.

mod follow_up;
mod outcome;
mod pipeline;
mod record;
mod screening;
pub mod store;

pub use follow_up::{Confirmed, ConfirmedFrom, FollowUp};
pub use outcome::Outcome;
pub use pipeline::{Channel, FormDoor, Intake, Submission};
pub use screening::BotReason;
