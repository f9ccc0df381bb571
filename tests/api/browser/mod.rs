//! Tests in a real browser: headless Chromium through ChromeDriver (see `harness`).
//! They need Debian's `chromium` and `chromium-driver` and, for the accessibility checks,
//! `npm ci --prefix tests/browser`; `SKIP_BROWSER_TESTS=1` skips them where the browser
//! is missing.

pub mod harness;

mod consent_pages;
mod counter;
mod dashboard;
mod journeys;
mod kiosk;
