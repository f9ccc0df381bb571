//! The merchant's side of the counter tablets: `/admin/kiosks`, and the page a pairing
//! link opens on the tablet.

use maud::{Markup, html};

use super::layout::layout;
use crate::admin::status::at_ms;
use crate::kiosk::{DeviceState, KioskDevice, NAME_MAX_CHARS};

/// A pairing link just made, shown once: only its hash is kept.
pub struct NewLink {
    pub name: String,
    pub url: String,
    pub qr_svg: Option<Markup>,
    pub expires_at_ms: i64,
}

pub struct KiosksView<'a> {
    pub devices: &'a [KioskDevice],
    pub now_ms: i64,
    pub new_link: Option<NewLink>,
    /// What was wrong with the last form sent, naming the field.
    pub problem: Option<&'a str>,
    pub csrf_token: &'a str,
}

pub fn kiosks_page(view: &KiosksView<'_>) -> Markup {
    let csrf = view.csrf_token;
    layout(
        "Counter tablets",
        html! {
            div class="card card-wide" {
                h1 { "Counter tablets" }
                p { a href="/admin" { "Back to the dashboard" } }
                p { "A tablet on the counter takes signups from customers in the shop, through the same checks as the website. Name it here, then open its pairing link on the tablet within 15 minutes (or scan the link's code with the tablet's camera) and press Pair. Keep the tablet's browser in its kiosk mode (Guided Access on an iPad, screen pinning or a kiosk browser on Android) so customers see only the form." }
                @if let Some(problem) = view.problem {
                    div class="error-summary" role="alert" tabindex="-1" autofocus { p { (problem) } }
                }
                @if let Some(link) = &view.new_link {
                    section class="notice pairing" aria-labelledby="pairing-heading" {
                        h2 id="pairing-heading" { "Pairing link for " (link.name) }
                        p { "Open this on the tablet before " (at_ms(link.expires_at_ms)) ". It works once; it is shown only now." }
                        p { code class="pairing-link" { (link.url) } }
                        @if let Some(code) = &link.qr_svg { div class="pairing-code" { (code) } }
                    }
                }
                h2 { "Add a tablet" }
                form method="post" action="/admin/kiosks" class="inline-form" {
                    input type="hidden" name="csrf_token" value=(csrf);
                    div class="field" {
                        label for="kiosk_name" { "Name" }
                        input type="text" id="kiosk_name" name="name" required
                            maxlength=(NAME_MAX_CHARS) autocomplete="off" placeholder="Front counter";
                    }
                    button type="submit" class="button" { "Add and get a pairing link" }
                }
                h2 { "Tablets" }
                @if view.devices.is_empty() {
                    p class="muted" { "None yet." }
                } @else {
                    div class="table-scroll" {
                        table class="kiosks" {
                            thead { tr {
                                th scope="col" { "Name" } th scope="col" { "State" }
                                th scope="col" { "Last used" } th scope="col" { "Change" }
                            } }
                            tbody {
                                @for device in view.devices {
                                    (device_row(device, view.now_ms, csrf))
                                }
                            }
                        }
                    }
                }
                p class="muted" { "Signups from a tablet are kept under the source kiosk:<name>, shown on the dashboard and in each customer's note in Clover. Each tablet may send " "KIOSK_RATE_PER_MINUTE signups a minute, instead of the per-address limit." }
            }
        },
    )
}

fn device_row(device: &KioskDevice, now_ms: i64, csrf: &str) -> Markup {
    let state = device.state(now_ms);
    let words = match state {
        DeviceState::Waiting if device.paired_at_ms.is_some() => {
            "Paired; a new pairing link is open (using it unpairs this tablet)"
        }
        DeviceState::Waiting => "Waiting for pairing",
        DeviceState::Paired => "Paired",
        DeviceState::NotPaired => "Not paired: its link expired",
        DeviceState::Revoked => "Revoked",
    };
    let rename_id = format!("rename-{}", device.id);
    html! {
        tr {
            th scope="row" { (device.name) }
            td {
                (words)
                @if let (DeviceState::Paired, Some(at)) = (state, device.paired_at_ms) {
                    br; span class="muted" { "since " (at_ms(at)) }
                }
            }
            td { @match device.last_used_at_ms { Some(at) => (at_ms(at)), None => "never" } }
            td {
                @if state != DeviceState::Revoked {
                    form method="post" action="/admin/kiosks/rename" class="row-form" {
                        input type="hidden" name="csrf_token" value=(csrf);
                        input type="hidden" name="id" value=(device.id);
                        label for=(rename_id) class="visually-hidden" { "New name for " (device.name) }
                        input type="text" id=(rename_id) name="name" value=(device.name)
                            required maxlength=(NAME_MAX_CHARS) autocomplete="off";
                        button type="submit" class="button button-small" { "Rename" }
                    }
                    form method="post" action="/admin/kiosks/link" class="row-form" {
                        input type="hidden" name="csrf_token" value=(csrf);
                        input type="hidden" name="id" value=(device.id);
                        button type="submit" class="button button-small" aria-label={ "New pairing link for " (device.name) } { "New pairing link" }
                    }
                    form method="post" action="/admin/kiosks/revoke" class="row-form" {
                        input type="hidden" name="csrf_token" value=(csrf);
                        input type="hidden" name="id" value=(device.id);
                        button type="submit" class="button button-small button-danger" aria-label={ "Revoke " (device.name) } { "Revoke" }
                    }
                }
            }
        }
    }
}

/// What a pairing link opens on the tablet: a button, so that a link previewed or
/// scanned by something else pairs nothing; or why the link no longer works.
pub fn pairing_page(token_path: Option<&str>) -> Markup {
    layout(
        "Pair this tablet",
        html! {
            div class="card" {
                @match token_path {
                    Some(path) => {
                        h1 { "Pair this tablet" }
                        p { "This tablet will take signups for your shop at " code { "/kiosk" } ", until you revoke it on the admin page." }
                        form method="post" action=(path) {
                            button type="submit" class="button" { "Pair" }
                        }
                    }
                    None => {
                        h1 { "This pairing link does not work" }
                        p { "It was used already, expired (links work for 15 minutes), or its tablet was revoked. Make a new one on the admin page, under Counter tablets." }
                    }
                }
            }
        },
    )
}
