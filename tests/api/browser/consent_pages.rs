//! The pages a visitor reaches from an email, in a real browser and in each language:
//! the confirmation of a double opt-in and the consent page, each passing axe.

use super::harness::{Browser, BrowserOptions, assert_no_serious_violations, text_of, wait_for};
use crate::consent_mail::{link, mailing, mails_to, sign_up};
use crate::helpers::spawn_app;
use crate::support::fake_clover::FakeClover;
use crate::support::smtp_sink::SmtpSink;

/// Each language's words for what the test checks: the confirmation page's heading once
/// confirmed, and the consent page's button and what it says once pressed.
const LANGUAGES: [(&str, &str, &str, &str); 3] = [
    (
        "en",
        "your address is confirmed",
        "Unsubscribe",
        "You are unsubscribed",
    ),
    (
        "es",
        "tu dirección está confirmada",
        "Darme de baja",
        "Te has dado de baja",
    ),
    (
        "fr",
        "votre adresse est confirmée",
        "Me désinscrire",
        "Vous êtes désinscrit",
    ),
];

#[tokio::test]
async fn the_confirmation_and_consent_pages_speak_each_language_and_pass_axe() {
    crate::require_browser!();
    let fake = FakeClover::start().await;
    let sink = SmtpSink::start().await;
    let app = spawn_app(&mailing(&fake, &sink, &[("DOUBLE_OPT_IN", "marketing")])).await;
    let browser = Browser::open(BrowserOptions::phone()).await;
    for (language, confirmed, button, unsubscribed) in LANGUAGES {
        let email = format!("visitor.{language}@example.com");
        sign_up(&app, &email, true, language).await;
        let mail = &mails_to(&sink, &email, 1).await[0];

        let confirm = link(mail, "http");
        assert!(confirm.ends_with(&format!("?lang={language}")), "{confirm}");
        browser.goto(&confirm).await.unwrap();
        let page = format!("the confirmation page in {language}");
        assert_no_serious_violations(&browser, &page).await;
        wait_for(&browser, "form button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
        wait_for(&browser, "p[role=status]").await;
        let heading = text_of(&browser, "h1").await;
        assert!(heading.contains(confirmed), "{language}: {heading}");
        assert_no_serious_violations(&browser, &format!("{page}, confirmed")).await;

        let text = mail.part("text/plain").unwrap();
        let preferences = text
            .split_whitespace()
            .find(|word| word.contains("/preferences/"))
            .expect("the consent page's link")
            .to_owned();
        browser.goto(&preferences).await.unwrap();
        let page = format!("the consent page in {language}");
        assert_no_serious_violations(&browser, &page).await;
        let unsubscribe = wait_for(&browser, "form button[type=submit]").await;
        assert_eq!(unsubscribe.text().await.unwrap(), button);
        unsubscribe.click().await.unwrap();
        wait_for(&browser, "p[role=status]").await;
        assert_eq!(text_of(&browser, "h1").await, unsubscribed);
        assert_no_serious_violations(&browser, &format!("{page}, unsubscribed")).await;
    }
    browser.close().await;
    app.stop().await;
}
