//! Deadlines for each request with a body. actix times out a slow request head but not a
//! slow body: a client that declares 4 KiB and sends a byte a second would hold its
//! connection (and one of `MAX_CONNECTIONS`) for over an hour. Two bounds apply: the
//! whole request within `REQUEST_TIMEOUT_SECONDS`, and its body at a minimum average
//! rate once a short grace has passed, so a trickle is cut in seconds, not at the
//! deadline.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage, web};
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

/// `REQUEST_TIMEOUT_SECONDS`: long enough for the slowest legitimate request (a CAPTCHA
/// check of up to 5 s, a token check with Clover of up to `CLOVER_TIMEOUT_SECONDS`), short
/// enough to shed a trickle.
#[derive(Clone, Copy)]
pub struct RequestDeadline(pub Duration);

/// The slowest average a body may arrive at once [`BODY_GRACE`] has passed: a phone on a
/// poor 2G link still sends several times this, and the largest body accepted (32 KiB)
/// then has half a minute.
pub const MIN_BODY_BYTES_PER_SECOND: u64 = 1024;
/// Every body has this long whatever its rate, as a request head has (a usual signup of a
/// few hundred bytes comes in one packet with its head): room for a lost packet or two.
pub const BODY_GRACE: Duration = Duration::from_secs(5);

pub async fn enforce_deadline(
    mut request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    // Only a body can be sent slowly; a GET is answered in microseconds once its head
    // has arrived, which actix already times. A timer per page view is saved.
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.call(request).await;
    }
    let deadline = request
        .app_data::<web::Data<RequestDeadline>>()
        .map_or(Duration::from_secs(30), |d| d.0);
    let too_slow = Rc::new(Cell::new(false));
    let body = MinimumRate::new(request.take_payload(), Rc::clone(&too_slow));
    let body: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(body);
    request.set_payload(Payload::from(body));
    match tokio::time::timeout(deadline, next.call(request)).await {
        // The handler saw its body fail to arrive, and answered as for a broken one;
        // the answer is the deadline's.
        Ok(_) if too_slow.get() => {
            tracing::warn!("a request body arrived too slowly and was cut off");
            Err(actix_web::error::ErrorRequestTimeout(
                "The request body arrived too slowly.",
            ))
        }
        Ok(response) => response,
        Err(_) => {
            tracing::warn!("a request took longer than its deadline and was cut off");
            // actix answers 408 for this error and closes the connection.
            Err(actix_web::error::ErrorRequestTimeout(
                "The request took too long to arrive.",
            ))
        }
    }
}

/// A request body that fails, and says so in `too_slow`, when after its grace it has
/// arrived at less than its minimum rate on average.
struct MinimumRate {
    body: Payload,
    grace: Duration,
    bytes_per_second: u64,
    started: Instant,
    received: u64,
    /// When the body will be too slow unless more arrives; armed while it waits.
    check: Option<Pin<Box<Sleep>>>,
    too_slow: Rc<Cell<bool>>,
}

impl MinimumRate {
    fn new(body: Payload, too_slow: Rc<Cell<bool>>) -> Self {
        Self {
            body,
            grace: BODY_GRACE,
            bytes_per_second: MIN_BODY_BYTES_PER_SECOND,
            started: Instant::now(),
            received: 0,
            check: None,
            too_slow,
        }
    }

    /// The moment what has arrived so far falls below the minimum average.
    fn due(&self) -> Instant {
        let earned = Duration::from_millis(
            self.received.saturating_mul(1000) / self.bytes_per_second.max(1),
        );
        self.started + earned.max(self.grace)
    }
}

impl Stream for MinimumRate {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.received = this.received.saturating_add(chunk.len() as u64);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(other) => {
                this.check = None;
                Poll::Ready(other)
            }
            Poll::Pending => {
                let due = this.due();
                let check = this
                    .check
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                if check.deadline() != due {
                    check.as_mut().reset(due);
                }
                if check.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.check = None;
                this.too_slow.set(true);
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the body arrived too slowly",
                )))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use futures_util::StreamExt;

    type Boxed = Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>;

    /// A body that sends `chunks` of `size` bytes, `every` apart, then ends.
    fn paced(chunks: usize, size: usize, every: Duration) -> Payload {
        let stream = futures_util::stream::unfold(0, move |sent| async move {
            if sent == chunks {
                return None;
            }
            tokio::time::sleep(every).await;
            Some((Ok(Bytes::from(vec![b'a'; size])), sent + 1))
        });
        Payload::from(Box::pin(stream) as Boxed)
    }

    /// Reads `body` with a grace of 200 ms and a minimum of 1 KiB/s (the service's rate,
    /// a shorter grace): what arrived or the error, whether it was too slow, how long.
    async fn read_all(body: Payload) -> (Result<usize, PayloadError>, bool, Duration) {
        let too_slow = Rc::new(Cell::new(false));
        let started = Instant::now();
        let mut body = MinimumRate {
            grace: Duration::from_millis(200),
            ..MinimumRate::new(body, Rc::clone(&too_slow))
        };
        let mut total = 0;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => total += chunk.len(),
                Err(error) => return (Err(error), too_slow.get(), started.elapsed()),
            }
        }
        (Ok(total), too_slow.get(), started.elapsed())
    }

    #[tokio::test]
    async fn a_trickle_is_cut_once_the_grace_has_passed() {
        let (read, too_slow, took) = read_all(paced(100, 1, Duration::from_millis(50))).await;
        assert!(read.is_err() && too_slow);
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(took < Duration::from_millis(600), "{took:?}");
    }

    #[tokio::test]
    async fn a_body_that_stops_is_cut_when_its_average_falls_below_the_minimum() {
        // 512 bytes at once, then nothing: half a second's worth at the minimum.
        let body = futures_util::stream::iter([Ok(Bytes::from(vec![b'a'; 512]))])
            .chain(futures_util::stream::pending());
        let (read, too_slow, took) = read_all(Payload::from(Box::pin(body) as Boxed)).await;
        assert!(read.is_err() && too_slow);
        assert!(took >= Duration::from_millis(500), "{took:?}");
        assert!(took < Duration::from_millis(900), "{took:?}");
    }

    #[tokio::test]
    async fn a_steady_body_above_the_minimum_passes_however_long_it_takes() {
        // 2 KiB at about 3 KiB a second: over half a second, well past the grace.
        let (read, too_slow, took) = read_all(paced(32, 64, Duration::from_millis(20))).await;
        assert_eq!(read.unwrap(), 2048);
        assert!(!too_slow);
        assert!(took > Duration::from_millis(600), "{took:?}");
    }
}
