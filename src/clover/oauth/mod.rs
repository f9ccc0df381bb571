//! Clover's OAuth v2 with expiring tokens: the merchant connects once in a browser, and
//! the service keeps a valid access token from then on.

mod api;
mod connect;
mod credential;
mod refresh_plan;

pub use api::{OAuthApi, OAuthApp, TokenError, TokenPair, pkce_challenge, pkce_pair};
pub use connect::{
    CONNECT_TTL, ConnectOrigin, ConnectRefusal, ConnectStart, PendingConnect, PendingConnects,
};
pub use credential::{MigrateError, OAuthCredential};
