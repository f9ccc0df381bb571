//! The counter's printed side: `/admin/qr`'s codes scan back to the form's address, and
//! only the merchant may make them.

use crate::helpers::{Config, spawn_app};
use crate::support::fake_clover::FakeClover;

const PUBLIC_URL: &str = "https://signup.shop.example";

/// The error correction level in a code's format bits: M 0, L 1, H 2, Q 3.
const LEVEL_Q: u16 = 3;

/// What a phone's camera reads in a greyscale image `width` pixels across. Every code in
/// it is at error correction level Q (M or better is what a printed code needs).
pub(crate) fn scan(width: usize, pixels: &[u8]) -> Vec<String> {
    let height = pixels.len() / width;
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    image
        .detect_grids()
        .into_iter()
        .map(|grid| {
            let (meta, content) = grid.decode().expect("a readable code");
            assert_eq!(meta.ecc_level, LEVEL_Q, "error correction level Q");
            content
        })
        .collect()
}

/// The PNG's pixels, as it decodes.
fn png_pixels(bytes: &[u8]) -> (usize, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    pixels.truncate(info.buffer_size());
    (info.width as usize, pixels)
}

/// The SVG drawn as a browser would, 4 pixels a module: its one path of `M x y h w v1 h-w z`
/// rectangles on white.
pub(crate) fn svg_pixels(svg: &str) -> (usize, Vec<u8>) {
    let size: usize = svg
        .split("viewBox=\"0 0 ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    let path = svg
        .split(" d=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let scale = 4;
    let side = size * scale;
    let mut pixels = vec![255u8; side * side];
    for rectangle in path.split('z').filter(|r| !r.is_empty()) {
        let numbers: Vec<usize> = rectangle
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .map(|n| n.parse().unwrap())
            .collect();
        let (x, y, run) = (numbers[0], numbers[1], numbers[2]);
        for row in y * scale..(y + 1) * scale {
            pixels[row * side + x * scale..row * side + (x + run) * scale].fill(0);
        }
    }
    (side, pixels)
}

#[tokio::test]
async fn the_qr_code_scans_back_to_exactly_the_forms_address() {
    let mut config = Config::demo();
    config.set("PUBLIC_URL", PUBLIC_URL);
    let app = spawn_app(&config).await;

    let png = app.get("/admin/qr.png?src=counter&lang=fr").await;
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    let (width, pixels) = png_pixels(&png.bytes().await.unwrap());
    assert_eq!(
        scan(width, &pixels),
        [format!("{PUBLIC_URL}/?src=counter&lang=fr")]
    );

    let svg = app.get("/admin/qr.svg?src=spring-sale").await;
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let (side, pixels) = svg_pixels(&svg.text().await.unwrap());
    assert_eq!(
        scan(side, &pixels),
        [format!("{PUBLIC_URL}/?src=spring-sale")]
    );

    let plain = app.get("/admin/qr.png").await.bytes().await.unwrap();
    let (width, pixels) = png_pixels(&plain);
    assert_eq!(scan(width, &pixels), [format!("{PUBLIC_URL}/")]);
    app.stop().await;
}

#[tokio::test]
async fn the_qr_page_offers_the_code_the_downloads_and_the_posters() {
    let mut config = Config::demo();
    config
        .set("PUBLIC_URL", PUBLIC_URL)
        .set("FORM_FIELDS", "first_name,email,phone,sms_consent")
        .set("MERCHANT_NAME", "Corner Bakery");
    let app = spawn_app(&config).await;

    let page = app.get("/admin/qr?src=counter&lang=es").await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    for expected in [
        "https://signup.shop.example/?src=counter&amp;lang=es",
        "href=\"/admin/qr.svg?src=counter&amp;lang=es\" download=\"signup-counter.svg\"",
        "href=\"/admin/qr.png?src=counter&amp;lang=es\" download=\"signup-counter.png\"",
        "/admin/qr/poster?src=counter&amp;lang=es&amp;paper=a4",
        "/admin/qr/poster?src=counter&amp;lang=es&amp;paper=letter",
    ] {
        assert!(page.contains(expected), "{expected} in {page}");
    }

    let wrong = app.get("/admin/qr?src=Front+Counter").await;
    assert_eq!(wrong.status(), 422);
    let wrong = wrong.text().await.unwrap();
    assert!(
        wrong.contains("Source: use 1 to 32 lowercase letters"),
        "{wrong}"
    );
    assert!(
        wrong.contains("value=\"Front Counter\""),
        "the input is kept"
    );

    let poster = app
        .get("/admin/qr/poster?src=counter&lang=fr&paper=letter")
        .await
        .text()
        .await
        .unwrap();
    assert!(poster.contains("<html lang=\"fr\""));
    assert!(poster.contains("poster-letter"));
    assert!(poster.contains("signup.shop.example/?src=counter&amp;lang=fr"));
    assert!(
        poster.contains("Inscrivez-vous à notre liste"),
        "the invitation in the chosen language"
    );
    let english = app
        .get("/admin/qr/poster?src=counter&lang=en&paper=a4")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        english.contains("Yes, Corner Bakery may send me offers by text message."),
        "the text messages' box is on the form, so its words are on the poster"
    );
    app.stop().await;
}

#[tokio::test]
async fn only_the_merchant_makes_codes_and_posters() {
    let fake = FakeClover::start().await;
    let app = spawn_app(&Config::token(&fake)).await;
    for path in [
        "/admin/qr",
        "/admin/qr.png?src=counter",
        "/admin/qr.svg",
        "/admin/qr/poster?paper=a4",
    ] {
        let response = app.get(path).await;
        assert_ne!(response.status(), 200, "{path}");
        assert!(
            response.status().is_redirection() || response.status() == 401,
            "{path}: {}",
            response.status()
        );
    }
    app.sign_in().await;
    assert_eq!(app.get("/admin/qr.svg").await.status(), 200);
    app.stop().await;
}
