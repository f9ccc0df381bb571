//! An HTTP endpoint on loopback that records every POST made to it and refuses the first
//! tries of each event, to test a sender's retries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// One request as it arrived, with the status it was answered.
#[derive(Debug, Clone)]
pub struct Received {
    /// Header names are lowercase.
    pub headers: HashMap<String, String>,
    pub body: String,
    pub status: u16,
}

struct State {
    received: Mutex<Vec<Received>>,
    /// Tries of each event (by `X-Signup-Event-Id`) answered 500 before one is taken.
    refuse_first: usize,
}

pub struct WebhookReceiver {
    pub url: String,
    state: Arc<State>,
    server: ServerHandle,
}

impl WebhookReceiver {
    pub async fn start_on(port: u16, refuse_first: usize) -> WebhookReceiver {
        let state = Arc::new(State {
            received: Mutex::new(Vec::new()),
            refuse_first,
        });
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(record))
        })
        .workers(1)
        .bind(("127.0.0.1", port))
        .expect("the receiver's port is free")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        WebhookReceiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            state,
            server: handle,
        }
    }

    pub async fn start(refuse_first: usize) -> WebhookReceiver {
        Self::start_on(free_port(), refuse_first).await
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// The requests answered 2xx.
    pub fn taken(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn record(request: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let headers: HashMap<String, String> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let id = headers
        .get("x-signup-event-id")
        .cloned()
        .unwrap_or_default();
    let mut received = state.received.lock().unwrap();
    let earlier = received
        .iter()
        .filter(|r| r.headers.get("x-signup-event-id") == Some(&id))
        .count();
    let status = if earlier < state.refuse_first {
        500
    } else {
        200
    };
    received.push(Received {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        status,
    });
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}
