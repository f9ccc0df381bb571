//! The tests' fake Clover, run by hand next to the service, to try token or OAuth mode
//! without a Clover account: `cargo run --example fake_clover [PORT]` (default 8090). It
//! prints the variables that point the service at it, then serves until Ctrl-C,
//! printing each customer created and each breach of the facts in `docs/clover-api.md`
//! as they happen. Its merchant approves every OAuth connection at once.

#[allow(dead_code)]
#[path = "../tests/support/fake_clover.rs"]
mod fake_clover;

use std::time::Duration;

use fake_clover::{API_TOKEN, APP_ID, APP_SECRET, FakeClover, MERCHANT_ID};

#[tokio::main]
async fn main() {
    let port = match std::env::args().nth(1) {
        None => 8090,
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("usage: fake_clover [PORT]: {arg:?} is not a port number");
            std::process::exit(2);
        }),
    };
    let fake = FakeClover::start_on(port).await;
    println!("A fake Clover is listening on {}.", fake.base_url());
    println!("For token mode, set:");
    println!("  CLOVER_AUTH=token");
    println!("  CLOVER_API_BASE_URL={}", fake.base_url());
    println!("  CLOVER_MERCHANT_ID={MERCHANT_ID}");
    println!("  CLOVER_API_TOKEN={API_TOKEN}");
    println!("For OAuth mode, set:");
    println!("  CLOVER_AUTH=oauth");
    println!("  CLOVER_API_BASE_URL={}", fake.base_url());
    println!("  CLOVER_WEB_BASE_URL={}", fake.web_base_url());
    println!("  CLOVER_APP_ID={APP_ID}");
    println!("  CLOVER_APP_SECRET={APP_SECRET}");
    println!("Ctrl-C stops it; everything it holds is forgotten.");

    let (mut customers, mut violations) = (0, 0);
    let mut ticks = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = ticks.tick() => {}
        }
        let now = fake.customers();
        for customer in &now[customers.min(now.len())..] {
            println!("customer created: {}", customer.id);
        }
        customers = now.len();
        let breaches = fake.violations();
        for breach in &breaches[violations.min(breaches.len())..] {
            println!("breach of Clover's rules: {breach}");
        }
        violations = breaches.len();
    }
    fake.stop().await;
}
