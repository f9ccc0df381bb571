use super::BotReason;
use crate::domain::{FormErrors, IdempotencyKey};
use crate::rate_limit::TooManyRequests;
use crate::storage::SubmissionId;

/// What became of a submission. Each door words it its own way: a page, a redirect, JSON.
#[derive(Debug)]
pub enum Outcome {
    /// Stored durably with its queue row, now or by an earlier send under the same key:
    /// the visitor is thanked.
    Stored(SubmissionId),
    /// A bot's: answered as a person's would be, so the bot learns nothing; nothing is
    /// kept but a count.
    Bot(BotReason),
    /// A served form left open longer than its token lives: it is offered again with the
    /// visitor's input, still as the form with this id, so a signup already stored from
    /// it is not stored twice.
    Expired(IdempotencyKey),
    /// The visitor's own mistakes: nothing was written and nothing counted.
    Invalid(FormErrors),
    /// Over the visitor's allowance. A flood's answer has already been held back by
    /// [`crate::rate_limit::FLOOD_DELAY`].
    TooMany(TooManyRequests),
    /// No CAPTCHA answer, or a wrong or used one.
    CaptchaFailed,
    /// The CAPTCHA's verifier could not be asked: nothing was stored.
    CaptchaUnavailable,
    /// One served form, one signup: this form already stored another one, so nothing was
    /// stored, and the visitor needs a fresh form to send this signup with.
    FormUsed,
}
