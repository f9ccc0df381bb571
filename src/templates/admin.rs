use maud::{Markup, html};

use super::dashboard::{at_a_glance, find_and_export, open_alerts, sources, trends};
use super::layout::layout;
use crate::admin::status::StatusReport;
use crate::clover::AuthState;
use crate::configuration::AuthMode;

/// The merchant's dashboard: what needs them first, then what reached Clover, what waits
/// and what failed, the trend, a search and an export, then the connection's details.
pub fn admin_page(report: &StatusReport, message: Option<&str>, csrf_token: &str) -> Markup {
    layout(
        "Signup status",
        html! {
            div class="card card-wide" {
                h1 { "Signup status" }
                @if let Some(message) = message {
                    div class="error-summary" role="alert" tabindex="-1" autofocus { p { (message) } }
                }
                (notices(report))
                (open_alerts(report))
                (queue(report, csrf_token))
                (trends(report))
                (sources(report))
                @if report.queue.is_some() { (find_and_export(report, csrf_token)) }
                (recent(report))
                (bots(report))
                h2 { "Connection" }
                (connection(report, csrf_token))
                p class="muted" { a href="/admin/status.json" { "This page as JSON" } }
                (sign_out(csrf_token))
            }
        },
    )
}

/// Demo mode, a paused delivery, or a connection that ends soon.
fn notices(report: &StatusReport) -> Markup {
    html! {
        @if report.mode == AuthMode::Demo {
            div class="notice" role="status" {
                p { strong { "Demo mode. " } "Nothing reaches Clover: customers are kept by a stand-in inside this service. Set CLOVER_AUTH=token to deliver to your Clover account." }
            }
        }
        @if report.auth.state != AuthState::Ok {
            div class="notice notice-error" role="alert" {
                p { strong { "Delivery to Clover is paused. " } (report.auth.reason.as_deref().unwrap_or("Clover refuses the credential.")) }
                @if report.mode == AuthMode::OAuth {
                    p { a class="button" href="/oauth/connect" { "Connect Clover" } }
                }
            }
        } @else if report.auth.refresh_expires_soon {
            div class="notice notice-error" role="alert" {
                p { strong { "The Clover connection ends soon. " } "Its refresh token expires on " (report.auth.refresh_expires_at.as_deref().unwrap_or("")) ". Reconnect before then so deliveries never pause." }
                p { a class="button" href="/oauth/connect" { "Reconnect Clover" } }
            }
        }
    }
}

/// The deployment and its Clover credential, and the forms that change it.
fn connection(report: &StatusReport, csrf_token: &str) -> Markup {
    html! {
        dl class="facts" {
            dt { "Mode" } dd { (report.mode.as_str()) }
            dt { "Merchant" } dd { (report.merchant_id.as_deref().unwrap_or("—")) }
            dt { "Clover" } dd { (report.environment) " · " (report.region) }
            dt { "Connection" } dd { (report.auth.state.as_str()) }
            @if let Some(at) = &report.auth.access_expires_at {
                dt { "Access token until" } dd { (at) }
            }
            @if let Some(at) = &report.auth.refresh_expires_at {
                dt { "Refresh token until" } dd { (at) }
            }
            @if let Some(at) = &report.auth.last_refresh_at {
                dt { "Last refresh" } dd { (at) }
            }
            dt { "Duplicates" } dd { (report.duplicate_policy) }
        }
        @if report.mode == AuthMode::OAuth && report.auth.state == AuthState::Ok {
            p { a href="/oauth/connect" { "Reconnect or switch the Clover account" } }
        }
        @if report.mode == AuthMode::Token { (token_form(report, csrf_token)) }
        @if report.mode == AuthMode::OAuth { (migrate_form(csrf_token)) }
    }
}

fn queue(report: &StatusReport, csrf_token: &str) -> Markup {
    html! {
        h2 { "Signups" }
        @if let Some(queue) = &report.queue {
            (at_a_glance(report))
            @if queue.failed > 0 || queue.pending > 0 {
                form method="post" action="/admin/retry" {
                    input type="hidden" name="csrf_token" value=(csrf_token);
                    button type="submit" class="button" { "Retry now" }
                }
            }
        } @else {
            div class="notice notice-error" role="alert" {
                p {
                    strong { "The database does not answer. " }
                    "The queue cannot be shown, and visitors are asked to send the form again in a moment; nothing they were told was saved is lost. This page shows the rest."
                }
            }
        }
    }
}

fn bots(report: &StatusReport) -> Markup {
    html! {
        @if !report.bots.is_empty() {
            h2 { "Bots turned away" }
            p class="muted" { "Never stored, never sent to Clover." }
            dl class="facts" {
                @for (reason, count) in &report.bots {
                    dt { (bot_reason(reason)) } dd { (count) }
                }
            }
        }
    }
}

fn recent(report: &StatusReport) -> Markup {
    html! {
        h2 { "Latest submissions" }
        @if report.recent.is_empty() {
            p class="muted" { "No submissions yet." }
        } @else {
            div class="table-scroll" {
                table {
                    thead { tr { th { "Received" } th { "Email" } th { "State" } th { "Attempts" } th { "Clover customer" } th { "Last error" } } }
                    tbody {
                        @for row in &report.recent {
                            tr {
                                td { (row.received_at) }
                                td { (row.email) }
                                td { (row.state) @if let Some(outcome) = &row.outcome { " (" (outcome) ")" } }
                                td { (row.attempts) }
                                td { (row.clover_customer_id.as_deref().unwrap_or("—")) }
                                td { (row.last_error.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn sign_out(csrf_token: &str) -> Markup {
    html! {
        form method="post" action="/admin/logout" {
            input type="hidden" name="csrf_token" value=(csrf_token);
            button type="submit" class="link-button" { "Sign out everywhere" }
            " (ends every admin session, on every device)"
        }
    }
}

fn bot_reason(reason: &str) -> &str {
    match reason {
        "honeypot" => "Filled the hidden field",
        "bad_token" => "Form not served here",
        "too_fast" => "Sent too fast",
        other => other,
    }
}

/// Enter or replace the merchant's API token; Clover checks it before it is saved.
fn token_form(report: &StatusReport, csrf_token: &str) -> Markup {
    html! {
        details open[report.auth.state != AuthState::Ok] {
            summary { "Enter or replace the API token" }
            form method="post" action="/admin/token" {
                input type="hidden" name="csrf_token" value=(csrf_token);
                div class="field" {
                    label for="merchant_id" { "Merchant id" }
                    input type="text" id="merchant_id" name="merchant_id" required
                        value=[report.merchant_id.as_deref()] autocomplete="off";
                }
                div class="field" {
                    label for="api_token" { "API token (Customers read and write)" }
                    input type="password" id="api_token" name="api_token" required autocomplete="off";
                }
                button type="submit" class="button" { "Check with Clover and save" }
            }
        }
    }
}

/// Trade a legacy (v1, non-expiring) token for an expiring pair.
fn migrate_form(csrf_token: &str) -> Markup {
    html! {
        details {
            summary { "Migrate a legacy Clover token" }
            form method="post" action="/admin/migrate" {
                input type="hidden" name="csrf_token" value=(csrf_token);
                div class="field" {
                    label for="migrate_merchant_id" { "Merchant id" }
                    input type="text" id="migrate_merchant_id" name="merchant_id" required autocomplete="off";
                }
                div class="field" {
                    label for="legacy_token" { "Legacy token" }
                    input type="password" id="legacy_token" name="legacy_token" required autocomplete="off";
                }
                button type="submit" class="button" { "Migrate" }
            }
        }
    }
}

pub fn admin_login_page(error: Option<&str>) -> Markup {
    layout(
        "Admin sign-in",
        html! {
            div class="card" {
                h1 { "Admin sign-in" }
                @if let Some(error) = error {
                    div class="error-summary" role="alert" tabindex="-1" autofocus { p { (error) } }
                }
                form method="post" action="/admin/login" {
                    div class="field" {
                        label for="token" { "Admin token" }
                        input type="password" id="token" name="token" autocomplete="current-password" required;
                    }
                    button type="submit" class="button" { "Sign in" }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::QueueCounts;
    use crate::admin::status::{AuthReport, StatusReport};

    fn report(refresh_expires_soon: bool) -> StatusReport {
        StatusReport {
            mode: AuthMode::OAuth,
            merchant_id: Some("TC4DGCJW1K4EW".into()),
            environment: "sandbox",
            region: "na",
            duplicate_policy: "update",
            auth: AuthReport {
                state: AuthState::Ok,
                reason: None,
                access_expires_at: Some("2026-11-22T12:00:00Z".into()),
                refresh_expires_at: Some("2026-12-01T12:00:00Z".into()),
                last_refresh_at: Some("2026-11-22T11:30:00Z".into()),
                refresh_expires_soon,
                missing_permission: None,
            },
            queue: Some(QueueCounts::default()),
            bots: Default::default(),
            recent: Vec::new(),
            alerts: Vec::new(),
            time_zone: "UTC".into(),
            signups_per_day: Vec::new(),
            time_to_clover: None,
            sources: Vec::new(),
        }
    }

    #[test]
    fn the_page_warns_when_the_refresh_token_ends_within_two_weeks() {
        let soon = admin_page(&report(true), None, "t").into_string();
        let later = admin_page(&report(false), None, "t").into_string();
        assert!(soon.contains("The Clover connection ends soon"));
        assert!(soon.contains("2026-12-01T12:00:00Z"));
        assert!(!later.contains("ends soon"));
        assert!(later.contains("Last refresh"));
    }
}
