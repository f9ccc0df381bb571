//! clover-signup: a signup form for a merchant's website that turns every visitor into a
//! customer in the merchant's Clover account.
//!
//! The flow, module by module: [`routes`] take the form, [`intake`] screens it, has
//! [`domain`] parse it and [`storage`] commit it with its queue row, and the [`delivery`]
//! worker hands it to [`clover`].

pub mod admin;
pub mod alerts;
pub mod captcha;
pub mod check;
pub mod clover;
pub mod configuration;
pub mod consent;
pub mod delivery;
pub mod domain;
pub mod events;
pub mod form_token;
pub mod i18n;
pub mod intake;
pub mod kiosk;
pub mod mail;
pub mod metrics;
pub mod origin_check;
pub mod qr;
pub mod rate_limit;
pub mod request_deadline;
pub mod routes;
pub mod security_headers;
pub mod startup;
pub mod storage;
pub mod tasks;
pub mod telemetry;
pub mod templates;
