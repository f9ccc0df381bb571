//! The dashboard's parts of the admin page: the open alerts, the counts at a glance, the
//! time signups take to reach Clover, the chart, and the forms to find a signup and to
//! export them; and the page of a search's results.

use maud::{Markup, html};

use super::chart::signups_chart;
use super::layout::layout;
use crate::admin::dashboard::duration_words;
use crate::admin::search::FoundSubmission;
use crate::admin::status::StatusReport;

/// What needs the merchant now, first on the page.
pub(super) fn open_alerts(report: &StatusReport) -> Markup {
    html! {
        @if !report.alerts.is_empty() {
            section class="alerts" aria-labelledby="alerts-heading" {
                h2 id="alerts-heading" { "Needs your attention" }
                ul class="alert-list" {
                    @for alert in &report.alerts {
                        li class="notice notice-error" {
                            p { strong { (alert.headline) } }
                            p { "Since " (alert.opened_at) ". " (alert.what_to_do) }
                        }
                    }
                }
            }
        } @else if report.queue.is_some() {
            p class="all-clear" { "No open alerts: nothing needs you." }
        }
    }
}

/// Delivered, waiting and failed, large.
pub(super) fn at_a_glance(report: &StatusReport) -> Markup {
    html! {
        @if let Some(queue) = &report.queue {
            dl class="tiles" {
                div class="tile" { dt { "Delivered to Clover" } dd { (queue.delivered) } }
                div class="tile" { dt { "Waiting" } dd { (queue.pending) } }
                div class=(if queue.failed > 0 { "tile tile-failed" } else { "tile" }) {
                    dt { "Failed" } dd { (queue.failed) }
                }
            }
        }
    }
}

/// Signups per day and how long they took to reach Clover.
pub(super) fn trends(report: &StatusReport) -> Markup {
    html! {
        @if !report.signups_per_day.is_empty() {
            h2 { "Signups per day, last 30 days" }
            (signups_chart(&report.signups_per_day, &report.time_zone))
        }
        @if let Some(times) = &report.time_to_clover {
            h2 { "Time from signup to Clover" }
            @match (times.median_ms, times.slowest_ms) {
                (Some(median), Some(slowest)) => {
                    dl class="facts" {
                        dt { "Median" } dd { (duration_words(median)) }
                        dt { "Slowest" } dd { (duration_words(slowest)) }
                    }
                    p class="muted" { "Over the " (times.delivered) " signup(s) of the last 30 days that reached Clover." }
                }
                _ => { p class="muted" { "No signup of the last 30 days has reached Clover yet." } }
            }
        }
    }
}

/// Signups of the last 30 days by source, once any signup came with one.
pub(super) fn sources(report: &StatusReport) -> Markup {
    html! {
        @if report.sources.iter().any(|count| count.source.is_some()) {
            h2 id="sources-heading" { "Where signups came from, last 30 days" }
            table class="sources" aria-labelledby="sources-heading" {
                thead { tr { th scope="col" { "Source" } th scope="col" class="number" { "Signups" } } }
                tbody {
                    @for count in &report.sources {
                        tr {
                            td { @match &count.source { Some(source) => (source), None => span class="muted" { "no source (the plain address)" } } }
                            td class="number" { (count.signups) }
                        }
                    }
                }
            }
            p class="muted" { "Sources are the " code { "src" } " of the form's address (" a href="/admin/qr" { "QR codes and posters" } ") and the counter tablets (" a href="/admin/kiosks" { "kiosks" } ")." }
        }
    }
}

/// Find a signup by email, and export a range of days as CSV.
pub(super) fn find_and_export(report: &StatusReport, csrf_token: &str) -> Markup {
    let first = report.signups_per_day.first().map(|d| d.date.as_str());
    let last = report.signups_per_day.last().map(|d| d.date.as_str());
    html! {
        h2 { "Find a signup" }
        (search_form(csrf_token, None))
        p { a href="/admin/people" { "People and consent" } ": a person's consent history, an access or erasure request, a withdrawal on their behalf, and the current consents as CSV." }
        p { a href="/admin/qr" { "QR codes and posters" } " and " a href="/admin/kiosks" { "counter tablets" } ": signups in the shop, counted by source." }
        h2 { "Export signups" }
        form method="get" action="/admin/export.csv" class="inline-form" {
            div class="field" {
                label for="export_from" { "First day" }
                input type="date" id="export_from" name="from" required value=[first];
            }
            div class="field" {
                label for="export_to" { "Last day" }
                input type="date" id="export_to" name="to" required value=[last];
            }
            button type="submit" class="button" { "Download CSV" }
        }
        p class="muted" {
            "Days in " (report.time_zone) ". One line per signup; a cell that begins like a spreadsheet formula (=, +, -, @) starts with a single quote, so phone numbers read '+1…. Signups whose personal data was erased after delivery have empty names, email and phone."
        }
    }
}

fn search_form(csrf_token: &str, email: Option<&str>) -> Markup {
    html! {
        form method="post" action="/admin/search" class="inline-form" {
            input type="hidden" name="csrf_token" value=(csrf_token);
            div class="field" {
                label for="search_email" { "Email address (exact, any case)" }
                input type="email" id="search_email" name="email" required autocomplete="off" value=[email];
            }
            button type="submit" class="button" { "Search" }
        }
    }
}

/// The submissions stored under the address the merchant searched for, in full.
pub fn admin_search_page(email: &str, found: &[FoundSubmission], csrf_token: &str) -> Markup {
    layout(
        "Find a signup",
        html! {
            div class="card card-wide" {
                h1 { "Find a signup" }
                p { a href="/admin" { "Back to the dashboard" } }
                (search_form(csrf_token, Some(email)))
                h2 id="results" { "Signups with " (email) }
                @if found.is_empty() {
                    p { "No signup was stored with this email address. Signups whose personal data was erased after delivery cannot be found." }
                } @else {
                    div class="table-scroll" {
                        table aria-labelledby="results" {
                            thead { tr { th scope="col" { "Received" } th scope="col" { "Email" } th scope="col" { "State" } th scope="col" { "Delivered" } th scope="col" { "Clover customer" } th scope="col" { "Attempts" } th scope="col" { "Last error" } } }
                            tbody {
                                @for row in found {
                                    tr {
                                        td { (row.received_at) }
                                        td { (row.email) }
                                        td { (row.state) @if let Some(outcome) = row.outcome { " (" (outcome) ")" } }
                                        td { (row.delivered_at.as_deref().unwrap_or("—")) }
                                        td { (row.clover_customer_id.as_deref().unwrap_or("—")) }
                                        td { (row.attempts) }
                                        td { (row.last_error.as_deref().unwrap_or("")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
