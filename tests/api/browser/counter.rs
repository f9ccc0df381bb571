//! The counter's poster in Chromium: printed to PDF as `Ctrl+P` prints it (the page size
//! from its CSS), it is one page of A4 or of US Letter, nothing cut off at its edges.

use base64::Engine as _;
use serde_json::json;

use super::harness::{
    Browser, BrowserOptions, assert_no_serious_violations, cdp, screenshot, wait_for,
};
use crate::helpers::{Config, spawn_app};

/// A consent text as long as merchants write them: the poster prints it in full.
const LONG_CONSENT: &str = "Yes, send me Corner Bakery's news, seasonal offers and \
    invitations to tastings by email, about twice a month. I can unsubscribe at any time \
    with the link in every email or at the counter; my details are never sold or shared \
    with anyone else, and are kept only as long as I stay on the list.";

/// Pages in a PDF Chromium made, and the size of the first (points).
fn pages_of(pdf: &[u8]) -> (usize, String) {
    let text = String::from_utf8_lossy(pdf);
    let pages = text.matches("/Type /Page").count() - text.matches("/Type /Pages").count();
    let media = text
        .split("/MediaBox [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_default()
        .to_owned();
    (pages, media)
}

#[tokio::test]
async fn the_poster_prints_on_one_page_of_a4_and_of_letter_with_nothing_cut_off() {
    crate::require_browser!();
    let mut config = Config::demo();
    config
        .set("PUBLIC_URL", "https://signup.cornerbakery.example")
        .set("MERCHANT_NAME", "Corner Bakery")
        .set("ACCENT_COLOR", "#8a3b12")
        .set("CONSENT_TEXT", LONG_CONSENT)
        .set("PRIVACY_URL", "https://cornerbakery.example/privacy");
    let app = spawn_app(&config).await;
    let browser = Browser::open(BrowserOptions::desktop()).await;

    // Printable widths in CSS pixels (96 a inch): the sheet less the page's margins.
    for (paper, media, printable_width) in [
        ("a4", "0 0 595.91998 842.88", 688),
        ("letter", "0 0 612 792", 710),
    ] {
        let path = format!("/admin/qr/poster?src=counter&paper={paper}");
        browser.goto(&app.url(&path)).await.unwrap();
        wait_for(&browser, ".poster-code svg").await;
        let printed = cdp(
            &browser,
            "Page.printToPDF",
            json!({"preferCSSPageSize": true, "printBackground": true}),
        )
        .await;
        let pdf = base64::engine::general_purpose::STANDARD
            .decode(printed["data"].as_str().unwrap())
            .unwrap();
        let (pages, size) = pages_of(&pdf);
        assert_eq!(pages, 1, "{paper}: one page");
        let close = |a: &str, b: &str| {
            let numbers = |s: &str| -> Vec<f64> {
                s.split_whitespace().map(|n| n.parse().unwrap()).collect()
            };
            numbers(a)
                .iter()
                .zip(numbers(b))
                .all(|(x, y)| (x - y).abs() < 2.0)
        };
        assert!(close(&size, media), "{paper}: page of {size}, not {media}");

        // Laid out as for print at the page's printable width: no line runs past the
        // sheet's edge, no text box hides part of its text.
        browser.set_viewport(printable_width, 1000).await;
        cdp(
            &browser,
            "Emulation.setEmulatedMedia",
            json!({"media": "print"}),
        )
        .await;
        let cut = browser
            .execute(
                "const width = document.documentElement.clientWidth;
                 return [...document.querySelectorAll('.poster-sheet, .poster-sheet *')]
                   .filter(e => e.getBoundingClientRect().right > width + 0.5
                             || e.scrollWidth > e.clientWidth + 1)
                   .map(e => e.className || e.tagName);",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(cut, json!([]), "{paper}: cut off at the edge");
        screenshot(&browser, &format!("poster-{paper}")).await;
        let consent = browser
            .execute(
                "return document.querySelector('.poster-consent').innerText;",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            consent
                .as_str()
                .unwrap()
                .contains("as long as I stay on the list."),
            "the consent text in full"
        );
        cdp(&browser, "Emulation.setEmulatedMedia", json!({"media": ""})).await;
    }
    assert_no_serious_violations(&browser, "the poster").await;
    browser
        .goto(&app.url("/admin/qr?src=counter"))
        .await
        .unwrap();
    wait_for(&browser, ".qr-preview").await;
    assert_no_serious_violations(&browser, "the QR page").await;
    browser.close().await;
    app.stop().await;
}
