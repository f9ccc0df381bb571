//! What one address may hold at once: connections without a proxy, requests in flight
//! behind one.

use std::any::Any;
use std::cell::Cell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};

use super::{SubmissionLimiter, limit_key};

/// Places per address, each held until it is dropped: connections open, or requests in
/// flight. An address is forgotten as its last place is given back, so memory stays flat
/// under a flood of new addresses.
pub struct PlacesPerAddress {
    per_address: usize,
    taken: Mutex<HashMap<IpAddr, usize>>,
}

impl PlacesPerAddress {
    pub fn new(per_address: usize) -> Arc<Self> {
        Arc::new(Self {
            per_address: per_address.max(1),
            taken: Mutex::default(),
        })
    }

    /// A place for `key`, held until dropped; `None` when the address has every place it
    /// may have.
    fn take(self: &Arc<Self>, key: IpAddr) -> Option<Place> {
        let mut taken = self.counts();
        let count = taken.entry(key).or_default();
        if *count >= self.per_address {
            return None;
        }
        *count += 1;
        Some(Place {
            places: Arc::clone(self),
            key,
        })
    }

    /// Addresses holding a place.
    pub fn tracked_addresses(&self) -> usize {
        self.counts().len()
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Plain counters, changed in one step each: a panic cannot leave them torn.
        self.taken.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One place in [`PlacesPerAddress`], given back when dropped (also when its request or
/// connection is dropped half-way, its client gone).
struct Place {
    places: Arc<PlacesPerAddress>,
    key: IpAddr,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut taken = self.places.counts();
        if let Some(count) = taken.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                taken.remove(&self.key);
            }
        }
    }
}

/// Behind a proxy (`CLIENT_IP_HEADER` set): requests in flight at once per visitor
/// address (`MAX_CONNECTIONS_PER_ADDRESS`). Every connection comes from the proxy, so
/// connections cannot be told apart by visitor, and the proxy bounds them itself; the
/// visitor's requests can be, as the submission limiter tells them apart (by the header,
/// IPv6 by /64). Without this, one visitor's slow requests could take every one of
/// `MAX_CONNECTIONS` the proxy opens and lock everyone else out.
pub struct InFlightLimit {
    places: Arc<PlacesPerAddress>,
    addresses: Arc<SubmissionLimiter>,
}

impl InFlightLimit {
    pub fn new(per_address: usize, addresses: Arc<SubmissionLimiter>) -> Self {
        Self {
            places: PlacesPerAddress::new(per_address),
            addresses,
        }
    }

    /// Addresses with a request in flight.
    pub fn tracked_addresses(&self) -> usize {
        self.places.tracked_addresses()
    }
}

/// How long a connection over [`ConnectionLimit`]'s cap has to send its request (and be
/// told `429`) before it is closed. A request head otherwise has 5 s, and connections
/// that send nothing, opened again as they are closed, could hold every one of
/// `MAX_CONNECTIONS` for the price of a few hundred connects a second.
pub const OVER_THE_CAP_GRACE: Duration = Duration::from_secs(1);

/// Without a proxy (`CLIENT_IP_HEADER` unset): connections open at once per TCP peer
/// address (`MAX_CONNECTIONS_PER_ADDRESS`, IPv6 by /64), counted from the moment actix
/// accepts them (see [`ConnectionLimit::on_connect`]) until they close. Requests alone
/// would not do: idle keep-alive connections, or connections that send nothing, hold one
/// of `MAX_CONNECTIONS` each without a request in flight. HTTP/1.1 has one request in
/// flight per connection, so this bounds requests in flight per address too.
pub struct ConnectionLimit {
    places: Arc<PlacesPerAddress>,
}

/// In a connection's extensions: its place, given back when actix drops the extensions
/// with the connection.
struct ConnectionPlace {
    _place: Place,
}

/// In a connection's extensions: its address had every connection it may have when this
/// one was accepted. Its first request is refused. Until then it holds `shutter`, a
/// second handle on the socket, which a timer uses to close a connection that sends no
/// request; the timer holds it weakly, so the handle goes (and the timer does nothing)
/// as soon as a request comes or the connection closes.
struct OverTheCap {
    shutter: Cell<Option<Rc<std::net::TcpStream>>>,
}

impl ConnectionLimit {
    pub fn new(per_address: usize) -> Self {
        Self {
            places: PlacesPerAddress::new(per_address),
        }
    }

    /// For `HttpServer::on_connect`, once per connection accepted, before anything has
    /// been read from it: counts it against its peer's address, or marks it as over the
    /// cap, to be refused at its first request and closed after [`OVER_THE_CAP_GRACE`]
    /// if it sends none.
    pub fn on_connect(&self, connection: &dyn Any, extensions: &mut Extensions) {
        let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
            return;
        };
        let Ok(peer) = stream.peer_addr() else {
            return;
        };
        match self.places.take(limit_key(Some(peer.ip()))) {
            Some(place) => {
                extensions.insert(ConnectionPlace { _place: place });
            }
            None => {
                extensions.insert(OverTheCap {
                    shutter: Cell::new(close_if_silent(stream)),
                });
            }
        }
    }

    /// Addresses with a connection open.
    pub fn tracked_addresses(&self) -> usize {
        self.places.tracked_addresses()
    }
}

/// Shuts the connection down after [`OVER_THE_CAP_GRACE`] if the handle returned (a
/// second one on the same socket) is still held then; actix then reads the end of the
/// stream and lets the connection go. On the worker's thread, where actix calls
/// `on_connect`.
#[cfg(unix)]
fn close_if_silent(stream: &actix_web::rt::net::TcpStream) -> Option<Rc<std::net::TcpStream>> {
    use std::os::fd::AsFd;
    let shutter = Rc::new(std::net::TcpStream::from(
        stream.as_fd().try_clone_to_owned().ok()?,
    ));
    let held = Rc::downgrade(&shutter);
    actix_web::rt::spawn(async move {
        actix_web::rt::time::sleep(OVER_THE_CAP_GRACE).await;
        if let Some(shutter) = held.upgrade() {
            let _ = shutter.shutdown(std::net::Shutdown::Both);
        }
    });
    Some(shutter)
}

/// Elsewhere such a connection has the 5 s of any request head.
#[cfg(not(unix))]
fn close_if_silent(_: &actix_web::rt::net::TcpStream) -> Option<Rc<std::net::TcpStream>> {
    None
}

/// Middleware: a request on a connection over [`ConnectionLimit`]'s cap, or from an
/// address that has [`InFlightLimit`]'s number in flight already, is answered at once,
/// `429` with `Retry-After: 1`, and its connection closed, which frees the connection
/// without reading a byte of its body.
pub async fn limit_per_address(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if let Some(over) = request.conn_data::<OverTheCap>() {
        // It sent a request: it is answered and closed now, not by the timer.
        drop(over.shutter.take());
        tracing::info!("a request was refused: its address has too many connections open");
        return Ok(request
            .into_response(too_many("Too many connections from this address"))
            .map_into_right_body());
    }
    let Some(limit) = request
        .app_data::<web::Data<InFlightLimit>>()
        .map(|data| data.clone().into_inner())
    else {
        return Ok(next.call(request).await?.map_into_left_body());
    };
    // Not `client_ip`: a request without the header (a health check sent straight to the
    // machine) is not worth a warning here; the limits on submissions warn.
    let key = limit_key(limit.addresses.address(request.request(), false));
    let Some(place) = limit.places.take(key) else {
        tracing::info!("a request was refused: its address has too many in flight");
        return Ok(request
            .into_response(too_many("Too many requests at once from this address"))
            .map_into_right_body());
    };
    let response = next.call(request).await;
    drop(place);
    Ok(response?.map_into_left_body())
}

/// `429`, try again in a second, and the connection closed.
fn too_many(what: &str) -> HttpResponse {
    HttpResponse::TooManyRequests()
        .insert_header((header::RETRY_AFTER, 1))
        .content_type("text/plain; charset=utf-8")
        .force_close()
        .body(format!("{what}; try again in a second."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_places_and_gets_them_back() {
        let places = PlacesPerAddress::new(2);
        let visitor: IpAddr = "203.0.113.9".parse().unwrap();
        let other: IpAddr = "198.51.100.7".parse().unwrap();

        let first = places.take(visitor).expect("a first place");
        let second = places.take(visitor).expect("a second place");
        assert!(places.take(visitor).is_none(), "a third is refused");
        let elsewhere = places.take(other).expect("another address has its own");
        drop(first);
        let again = places.take(visitor).expect("a place given back is free");

        drop((second, again, elsewhere));
        assert_eq!(
            places.tracked_addresses(),
            0,
            "idle addresses are forgotten"
        );
    }
}
