//! Everything that speaks to Clover: its hosts, the credential, request pacing within
//! Clover's limits, the HTTP client and the in-process stand-in used in demo mode.
//! Nothing outside this module sees Clover's JSON.

mod auth;
mod client;
mod demo;
mod directory;
mod error;
mod hosts;
pub mod oauth;
mod pacing;
pub mod vault;
mod wire;

pub use auth::{
    Access, AuthSnapshot, AuthState, Credential, EnteredTokens, StaticToken, UnauthorizedAction,
};
pub use client::{CloverClient, Verification};
pub use demo::{DemoClover, DemoCustomer, DemoCustomers};
pub use directory::{CustomerDirectory, CustomerDraft, ExistingCustomer};
pub use error::{CloverError, MissingPermission};
pub use hosts::{CloverEnvironment, CloverRegion, MerchantId};
pub use pacing::Pacer;
