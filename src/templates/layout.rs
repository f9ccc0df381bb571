use std::sync::LazyLock;

use maud::{DOCTYPE, Markup, html};
use sha2::{Digest, Sha256};

/// The stylesheet, built into the binary so a deployment cannot lose it, and addressed by
/// a content hash so browsers may cache it for a year and still see every change.
pub struct Stylesheet {
    pub body: &'static str,
    pub version: String,
}

pub static STYLESHEET: LazyLock<Stylesheet> = LazyLock::new(|| {
    let body = include_str!("../../static/style.css");
    let digest = Sha256::digest(body.as_bytes());
    Stylesheet {
        body,
        version: hex::encode(&digest[..6]),
    }
});

/// The page around every body: language, viewport for phones, the stylesheet.
pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href={ "/static/style.css?v=" (STYLESHEET.version) };
            }
            body {
                main class="page" { (body) }
            }
        }
    }
}
