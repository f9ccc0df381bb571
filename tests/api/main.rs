//! Black-box tests: the real application on a random loopback port, against the strict
//! fake Clover in `tests/support`. One test binary, so the crate is linked once.

#[path = "../support/mod.rs"]
mod support;

mod helpers;

mod admin;
mod alerts;
mod bots;
mod browser;
mod captcha;
mod check;
mod consent;
mod consent_mail;
mod counter;
mod delivery;
mod duplicates;
mod events;
mod form_fields;
mod health_and_assets;
mod hostile;
mod instances;
mod kiosk;
mod look_and_language;
mod metrics;
mod oauth;
mod outage;
mod permissions;
mod process;
mod rate_limit;
mod resilience;
mod security;
mod signup_form;
mod sources;
