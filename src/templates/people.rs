//! `/admin/people`: one person's signups and consent, and what the merchant can do for
//! them.

use maud::{Markup, html};

use super::layout::layout;
use crate::admin::people::Person;
use crate::admin::status::at_ms;
use crate::consent::{ConsentEvent, ConsentState, Standing};

/// What the people page shows below its lookup form.
pub enum PeopleView<'a> {
    /// Nothing looked up yet.
    Empty,
    /// What a lookup found.
    Found {
        query: &'a str,
        people: &'a [Person],
    },
    /// A lookup the page could not read.
    Unreadable { query: &'a str },
    /// What was done, in a sentence, with the person as they are now.
    Done { said: &'a str, people: &'a [Person] },
}

pub fn people_page(view: PeopleView<'_>, csrf_token: &str) -> Markup {
    let query = match &view {
        PeopleView::Found { query, .. } | PeopleView::Unreadable { query } => Some(*query),
        _ => None,
    };
    layout(
        "People",
        html! {
            div class="card card-wide" {
                h1 { "People" }
                p { a href="/admin" { "Back to the dashboard" } }
                p {
                    "Look a person up to see their signups and their consent, send them everything kept about them, withdraw their consent for them, or erase them. Every look and every action is recorded in the consent ledger."
                }
                form method="post" action="/admin/people" class="inline-form" {
                    input type="hidden" name="csrf_token" value=(csrf_token);
                    div class="field" {
                        label for="who" { "Email address or phone number" }
                        input type="text" id="who" name="who" required autocomplete="off" value=[query];
                    }
                    button type="submit" class="button" { "Look up" }
                }
                p { a href="/admin/consents.csv" { "Download current consents (CSV)" } " — everyone who may be sent marketing now, since when, and with which words." }
                @match view {
                    PeopleView::Empty => {},
                    PeopleView::Unreadable { .. } => {
                        p role="alert" { "That is neither an email address nor a phone number." }
                    },
                    PeopleView::Found { query, people } => {
                        @if people.is_empty() {
                            p role="status" { "No one is stored with " (query) "." }
                        }
                        @for person in people { (person_card(person, csrf_token)) }
                    },
                    PeopleView::Done { said, people } => {
                        p role="status" class="notice" { (said) }
                        @for person in people { (person_card(person, csrf_token)) }
                    },
                }
            }
        },
    )
}

fn person_card(person: &Person, csrf_token: &str) -> Markup {
    html! {
        section aria-label=(person.email) {
            h2 { (person.email) }
            (summary(person))
            (actions(person, csrf_token))
            h3 { "Signups" }
            (signups(person))
            h3 { "Consent history" }
            (history(person))
        }
    }
}

/// Their Clover customers and where each consent stands.
fn summary(person: &Person) -> Markup {
    html! {
        dl {
            dt { "Clover customer" }
            dd {
                @let customers = person.clover_customers();
                @if customers.is_empty() { "none yet" } @else { (customers.join(", ")) }
            }
            @if person.standing.is_empty() {
                dt { "Consent" }
                dd { "none given" }
            }
            @for (channel, standing) in &person.standing {
                dt { "Consent to " (channel.as_str()) }
                dd { (standing_words(standing)) }
            }
        }
    }
}

/// Export, a withdrawal for each consent still standing, and erasure.
fn actions(person: &Person, csrf_token: &str) -> Markup {
    let hidden = html! {
        input type="hidden" name="csrf_token" value=(csrf_token);
        input type="hidden" name="email" value=(person.email);
    };
    html! {
        div class="inline-form" {
            form method="post" action="/admin/people/export" {
                (hidden)
                button type="submit" class="button" { "Download everything kept (JSON)" }
            }
            @for (channel, standing) in &person.standing {
                @if standing.state != ConsentState::Withdrawn {
                    form method="post" action="/admin/people/withdraw" {
                        (hidden)
                        input type="hidden" name="channel" value=(channel.as_str());
                        button type="submit" class="button" { "Withdraw their " (channel.as_str()) " consent" }
                    }
                }
            }
            form method="post" action="/admin/people/erase" {
                (hidden)
                button type="submit" class="button button-danger" { "Erase this person…" }
            }
        }
    }
}

fn signups(person: &Person) -> Markup {
    if person.submissions.is_empty() {
        return html! { p { "None kept." } };
    }
    html! {
        div class="table-scroll" {
            table {
                thead { tr { th scope="col" { "Received" } th scope="col" { "State" } th scope="col" { "Clover customer" } } }
                tbody {
                    @for row in &person.submissions {
                        tr {
                            td { (row.received_at) }
                            td { (row.state) @if let Some(outcome) = row.outcome { " (" (outcome) ")" } }
                            td { (row.clover_customer_id.as_deref().unwrap_or("—")) }
                        }
                    }
                }
            }
        }
    }
}

fn history(person: &Person) -> Markup {
    if person.history.is_empty() {
        return html! { p { "No consent events." } };
    }
    html! {
        div class="table-scroll" {
            table {
                thead { tr {
                    th scope="col" { "When (UTC)" } th scope="col" { "Event" } th scope="col" { "By" }
                    th scope="col" { "Where" } th scope="col" { "Words agreed to" } th scope="col" { "Address and browser" }
                } }
                tbody { @for event in &person.history { (history_row(event)) } }
            }
        }
    }
}

fn standing_words(standing: &Standing) -> Markup {
    let given = standing.given.as_ref();
    html! {
        (standing.state.as_str()) " since " (at_ms(standing.since_ms))
        @if let Some(wording) = given.and_then(|g| g.wording.as_ref()) {
            br; "“" (wording.text) "” (version " (wording.version) ", " (wording.language) ")"
        }
    }
}

fn history_row(event: &ConsentEvent) -> Markup {
    let evidence = event.evidence.as_ref();
    html! {
        tr {
            td { (at_ms(event.occurred_at_ms)) }
            td { (event.kind.as_str()) @if let Some(channel) = event.channel { " (" (channel.as_str()) ")" } }
            td { (event.actor.as_str()) }
            td {
                (event.source.as_deref().unwrap_or("—"))
                @if let Some(form) = &event.form_id { br; "form " (form) }
            }
            td { @if let Some(wording) = &event.wording { "“" (wording.text) "”" } @else { "—" } }
            td {
                @match evidence {
                    Some(e) => {
                        (e.ip_address.as_deref().unwrap_or("no address kept"))
                        @if let Some(agent) = &e.user_agent { br; small { (agent) } }
                    },
                    None => "—",
                }
            }
        }
    }
}

/// The second step of an erasure: what will happen, named, before it does.
pub fn erase_confirm_page(person: &Person, csrf_token: &str) -> Markup {
    let customers = person.clover_customers();
    layout(
        "Erase this person?",
        html! {
            div class="card card-wide" {
                h1 { "Erase " (person.email) "?" }
                p { "Erasing cannot be undone. At once, here:" }
                ul {
                    li { (person.submissions.len()) " signup(s) lose the name, email address, phone number, birthday, address and note kept with them; one not yet sent to Clover is not sent." }
                    li { "The address, phone number, IP address and browser kept with their " (person.history.len()) " consent event(s) are removed." }
                    li { "Events for the event webhook that name them and are not yet sent are dropped." }
                    li { "The consent events themselves stay, under a keyed hash of the address, as proof of what was agreed and when; an \"erased\" event is added." }
                }
                @if customers.is_empty() {
                    p { "No Clover customer was made from their signups." }
                } @else {
                    p {
                        "Their signups made the Clover customer " strong { (customers.join(", ")) } ". "
                        "Erasing here leaves it in your Clover account. If the request covers Clover too, the second button also deletes it there, as deleting it in the Clover dashboard would: the customer is gone from your customer list in Clover, and this cannot be undone either."
                    }
                }
                form method="post" action="/admin/people/erase" class="inline-form" {
                    input type="hidden" name="csrf_token" value=(csrf_token);
                    input type="hidden" name="email" value=(person.email);
                    input type="hidden" name="confirm" value="yes";
                    button type="submit" class="button button-danger" { "Erase " (person.email) " here" }
                }
                @if !customers.is_empty() {
                    form method="post" action="/admin/people/erase" class="inline-form" {
                        input type="hidden" name="csrf_token" value=(csrf_token);
                        input type="hidden" name="email" value=(person.email);
                        input type="hidden" name="confirm" value="yes";
                        input type="hidden" name="clover" value="delete";
                        button type="submit" class="button button-danger" {
                            "Erase here and delete Clover customer " (customers.join(", "))
                        }
                    }
                }
                p { a href="/admin/people" { "Cancel" } }
            }
        },
    )
}
