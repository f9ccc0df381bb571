//! HTML pages, written with maud, which escapes everything interpolated: nothing a visitor
//! typed can become markup.

mod admin;
mod chart;
mod consent;
mod counter;
mod dashboard;
mod kiosk;
mod kiosks;
mod layout;
mod messages;
mod pages;
mod people;
mod signup;
mod signup_fields;

pub use admin::{admin_login_page, admin_page};
pub use consent::{ConfirmView, UnsubscribeView, Whose, confirm_page, unsubscribe_page};
pub use counter::{Paper, PosterView, QrView, Wording, poster_page, qr_page};
pub use dashboard::admin_search_page;
pub use kiosk::{KIOSK_HOME, KIOSK_SCRIPT, kiosk_form_page, kiosk_refused_page, kiosk_thanks_page};
pub use kiosks::{KiosksView, NewLink, kiosks_page, pairing_page};
pub use layout::{
    EMBED_SCRIPT, FORM_SCRIPT, PageContext, STYLESHEET, StaticAsset, content_version,
};
pub use messages::{Notice, VisitorError, error_map};
pub use pages::{error_page, not_found_page, notice_page, thanks_page, visitor_error_page};
pub use people::{PeopleView, erase_confirm_page, people_page};
pub use signup::{FormView, form_title, signup_page, success_url};
