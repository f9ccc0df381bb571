//! The turn to deliver, in the row every instance renews or takes (see
//! [`crate::delivery::Queue::take_turn`]).

use std::time::Duration;

use tokio_postgres::Client;

use crate::delivery::Turn;
use crate::delivery::lease::lease_until;
use crate::storage::{StorageError, now_ms};

/// The turn is taken when nobody holds it or its holder's ran out; kept by its holder.
/// The pause only ever moves later.
pub(super) async fn take_turn(
    client: &Client,
    instance: &str,
    lease: Duration,
    clover_paused_until: Option<i64>,
) -> Result<Turn, StorageError> {
    let now = now_ms();
    let row = client
        .query_one(
            "INSERT INTO delivery_turn (id, holder, until_ms, clover_paused_until_ms)
             VALUES (1, $1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET
                 holder = CASE WHEN delivery_turn.holder = $1 OR delivery_turn.until_ms < $4
                          THEN $1 ELSE delivery_turn.holder END,
                 until_ms = CASE WHEN delivery_turn.holder = $1 OR delivery_turn.until_ms < $4
                            THEN $2 ELSE delivery_turn.until_ms END,
                 clover_paused_until_ms = GREATEST(delivery_turn.clover_paused_until_ms, $3)
             RETURNING holder, clover_paused_until_ms",
            &[
                &instance,
                &lease_until(now, lease),
                &clover_paused_until.unwrap_or(0),
                &now,
            ],
        )
        .await?;
    Ok(Turn::of(row.get(0), instance, row.get(1)))
}
