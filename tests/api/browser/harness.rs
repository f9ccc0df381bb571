//! Real-browser tests: Debian's Chromium driven through its ChromeDriver with
//! `fantoccini`, plus axe-core for accessibility checks and full-page screenshots.
//!
//! One ChromeDriver serves the whole test binary; at most [`MAX_SESSIONS`] browsers run
//! at once, each with a fresh profile. Every browser test starts with
//! [`require_browser!`](crate::require_browser).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, SemaphorePermit};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Browsers running at once across the test binary: each Chromium takes a few hundred MB
/// and a good share of a CPU, and CI machines have two cores.
pub const MAX_SESSIONS: usize = 2;

/// How long the `wait_*` helpers wait by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// Whether the browser tests can run. Panics, saying what to install, when Chromium or
/// ChromeDriver is missing, unless `SKIP_BROWSER_TESTS=1`, which makes it return `false`
/// (the test then returns early). Use it through [`require_browser!`](crate::require_browser).
pub fn browser_tools_available(test: &str) -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("SKIP_BROWSER_TESTS").as_deref() == Ok("1") {
        eprintln!(
            "skipped {test}: {} not found and SKIP_BROWSER_TESTS=1",
            missing.join(" and ")
        );
        return false;
    }
    panic!(
        "the browser tests need {}. Install Debian's packages as .ci/run does:\n    \
         sudo apt-get install chromium chromium-driver\n\
         or set SKIP_BROWSER_TESTS=1 to skip the browser tests.",
        missing.join(" and ")
    );
}

/// First line of every browser test: returns from the test (with a note on stderr) when
/// the browser is missing and `SKIP_BROWSER_TESTS=1`; panics, saying what to install,
/// when it is missing otherwise.
#[macro_export]
macro_rules! require_browser {
    () => {
        if !$crate::browser::harness::browser_tools_available(module_path!()) {
            return;
        }
    };
}

/// The shared ChromeDriver.
struct Driver {
    url: String,
    addr: SocketAddr,
    /// The watchdog shell that runs ChromeDriver (see [`start_driver`]). Never waited
    /// for: it lives exactly as long as this process.
    _watchdog: Child,
    /// The write end of the watchdog's stdin. Nothing is ever written; the kernel closes
    /// it when this process ends, however it ends.
    _lifeline: ChildStdin,
}

fn driver() -> &'static Driver {
    static DRIVER: OnceLock<Driver> = OnceLock::new();
    DRIVER.get_or_init(start_driver)
}

/// Starts ChromeDriver on a free port and waits until it is ready. ChromeDriver accepts
/// local connections only.
///
/// Statics are never dropped, so nothing in this process can stop ChromeDriver at exit.
/// Instead it runs under a small shell that blocks reading a pipe from this process and
/// kills ChromeDriver when the pipe reaches end-of-file, which happens when this process
/// exits, panics, aborts or is killed. Each Chromium is started with
/// `--remote-debugging-pipe`, so ChromeDriver talks to it over a pipe and it quits on
/// its own when ChromeDriver goes (with ChromeDriver's default debugging port it would
/// outlive it). The chain leaves no process behind, without `libc` or `prctl`.
fn start_driver() -> Driver {
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let log_path = target_dir().join("chromedriver.log");
    std::fs::create_dir_all(target_dir()).expect("create the target folder");
    // Appended to: another test run may be using it at the same time.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .expect("open chromedriver.log");
    const WATCHDOG: &str = r#"
        "$1" --port="$2" </dev/null &
        driver=$!
        read -r _
        kill "$driver" 2>/dev/null
        wait
    "#;
    let mut watchdog = Command::new("/bin/sh")
        .args(["-c", WATCHDOG, "chromedriver-watchdog", CHROMEDRIVER])
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(
            log.try_clone()
                .expect("a second handle on chromedriver.log"),
        )
        .stderr(log)
        .spawn()
        .expect("start /bin/sh to run chromedriver");
    let lifeline = watchdog.stdin.take().expect("the watchdog's stdin");

    // Asks for its status rather than just connecting: should another program take the
    // port first, that program would accept the connection.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !blocking_request(addr, "GET", "/status").is_ok_and(|s| s.contains(r#""ready":true"#)) {
        if Instant::now() > deadline {
            panic!(
                "chromedriver was not ready on {addr} within 20 s; see {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        url: format!("http://{addr}"),
        addr,
        _watchdog: watchdog,
        _lifeline: lifeline,
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// How to start a browser.
#[derive(Clone, Debug)]
pub struct BrowserOptions {
    /// The viewport (not window) size in CSS pixels.
    pub width: u32,
    pub height: u32,
    /// Whether pages may run scripts. WebDriver's own scripts (`execute`, [`axe`]) run
    /// either way. Off means off in the browser's first tab, which is the one tests
    /// use; a tab a page opens itself would run scripts.
    pub javascript: bool,
    /// The `Accept-Language` header and `navigator.languages`, such as `"es"` or
    /// `"fr-CA,fr"`; Chromium's default when `None`.
    pub accept_language: Option<String>,
}

impl BrowserOptions {
    /// A phone: 375 × 800.
    pub fn phone() -> Self {
        Self::sized(375, 800)
    }

    /// A desktop: 1280 × 900.
    pub fn desktop() -> Self {
        Self::sized(1280, 900)
    }

    pub fn sized(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            javascript: true,
            accept_language: None,
        }
    }

    /// Pages' scripts do not run, as for a visitor who turned JavaScript off.
    pub fn without_javascript(mut self) -> Self {
        self.javascript = false;
        self
    }

    /// Sets the languages the browser asks for, most preferred first (`"es"`, `"fr-CA,fr"`).
    pub fn accept_language(mut self, languages: &str) -> Self {
        self.accept_language = Some(languages.to_owned());
        self
    }

    fn capabilities(&self, profile: &Path) -> Capabilities {
        let mut prefs = serde_json::Map::new();
        if let Some(languages) = &self.accept_language {
            // On Linux Chromium ignores `--lang` for the Accept-Language header (checked
            // against 156); this preference is what sets it.
            prefs.insert("intl.accept_languages".into(), json!(languages));
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            // Chromium quits when ChromeDriver does (see `start_driver`).
            "--remote-debugging-pipe",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain([
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={},{}", self.width, self.height),
        ])
        .collect::<Vec<_>>();
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
                "prefs": prefs,
            },
        });
        match capabilities {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }
}

/// A running browser: a WebDriver session in its own Chromium with a fresh profile.
/// Derefs to fantoccini's [`Client`]. Call [`Browser::close`] at the end of a test; if
/// the test panics first, dropping the `Browser` ends the session anyway.
pub struct Browser {
    client: Client,
    session_id: String,
    javascript: bool,
    closed: bool,
    // Field order matters for `Drop`: the profile folder goes after Chromium quits.
    _profile: tempfile::TempDir,
    _permit: SemaphorePermit<'static>,
}

impl Browser {
    /// Starts a browser, waiting first while [`MAX_SESSIONS`] others run.
    pub async fn open(options: BrowserOptions) -> Browser {
        static SESSIONS: Semaphore = Semaphore::const_new(MAX_SESSIONS);
        let permit = SESSIONS
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let driver = driver();
        let profile = tempfile::Builder::new()
            .prefix("clover-signup-chromium-")
            .tempdir()
            .expect("a temporary profile folder");
        // chromedriver listens on loopback over plain http: no TLS connector is needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(options.capabilities(profile.path()))
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no Chromium session from chromedriver at {}: {e}",
                    driver.url
                )
            });
        let session_id = client
            .session_id()
            .await
            .expect("the session id")
            .expect("a session id");
        let browser = Browser {
            client,
            session_id,
            javascript: options.javascript,
            closed: false,
            _profile: profile,
            _permit: permit,
        };
        browser.set_viewport(options.width, options.height).await;
        if !options.javascript {
            browser.set_page_scripts(false).await;
        }
        browser
    }

    /// Turns page scripts on or off in the current tab, from the next script on: a page
    /// loaded with scripts off stays without the effects of its scripts.
    ///
    /// Chromium's content setting (the `profile.managed_default_content_settings.javascript`
    /// preference) would turn scripts off as firmly, but also stops every timer that
    /// WebDriver's scripts set, and so axe-core. This DevTools switch behaves the same for
    /// pages (no inline or external script runs, `<noscript>` shows; checked against
    /// Chromium 156) and can be lifted while axe-core runs. It lasts across navigations
    /// in the tab.
    async fn set_page_scripts(&self, on: bool) {
        cdp(
            &self.client,
            "Emulation.setScriptExecutionDisabled",
            json!({ "value": !on }),
        )
        .await;
    }

    /// Resizes the window so that the viewport is `width` × `height`. Headless Chromium
    /// keeps room for browser chrome it does not draw (143 px of height in 156), so the
    /// window is set, measured and corrected.
    pub async fn set_viewport(&self, width: u32, height: u32) {
        let mut window = (width, height);
        for _ in 0..3 {
            self.client
                .set_window_size(window.0, window.1)
                .await
                .expect("set the window size");
            let (inner_width, inner_height) = self.viewport().await;
            if (inner_width, inner_height) == (width, height) {
                return;
            }
            window = (
                (window.0 + width).saturating_sub(inner_width),
                (window.1 + height).saturating_sub(inner_height),
            );
        }
        panic!(
            "could not make the viewport {width}×{height}: it is {:?}",
            self.viewport().await
        );
    }

    /// The viewport's size in CSS pixels.
    pub async fn viewport(&self) -> (u32, u32) {
        let size = self
            .client
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await
            .expect("read the viewport size");
        let number = |i: usize| size[i].as_u64().expect("a size") as u32;
        (number(0), number(1))
    }

    /// Ends the session; Chromium quits and its profile is deleted.
    pub async fn close(mut self) {
        let closed = self.client.clone().close().await;
        // On failure `Drop` tries again.
        self.closed = closed.is_ok();
        closed.expect("close the browser session");
    }
}

impl Deref for Browser {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for Browser {
    /// When a test panics before [`Browser::close`], its runtime is going away and
    /// fantoccini cannot end the session, so this does it with a blocking request. The
    /// wait is short: ChromeDriver answers once Chromium has quit.
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let path = format!("/session/{}", self.session_id);
        if let Err(e) = blocking_request(driver().addr, "DELETE", &path) {
            eprintln!("could not end browser session {}: {e}", self.session_id);
        }
    }
}

/// Sends a request to ChromeDriver at `addr` without an async runtime and returns the
/// response body. ChromeDriver keeps connections open, so the body is read by its length.
fn blocking_request(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    // Quitting Chromium takes well under a second; this is only a backstop.
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut reply = std::io::BufReader::new(stream);
    let mut content_length = 0;
    loop {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut reply, &mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; content_length];
    reply.read_exact(&mut body)?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A Chrome DevTools Protocol command for [`Client::issue_cmd`].
#[derive(Debug)]
struct CdpCommand {
    method: String,
    params: Value,
}

impl WebDriverCompatibleCommand for CdpCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session_id = session_id.expect("a CDP command needs a session");
        base_url.join(&format!("session/{session_id}/goog/cdp/execute"))
    }

    fn method_and_body(&self, _: &url::Url) -> (reqwest::Method, Option<String>) {
        let body = json!({ "cmd": self.method, "params": self.params });
        (reqwest::Method::POST, Some(body.to_string()))
    }
}

/// Sends a Chrome DevTools Protocol command through ChromeDriver and returns its result.
pub async fn cdp(client: &Client, method: &str, params: Value) -> Value {
    client
        .issue_cmd(CdpCommand {
            method: method.to_owned(),
            params,
        })
        .await
        .unwrap_or_else(|e| panic!("CDP {method}: {e}"))
}

/// Waits up to [`DEFAULT_WAIT`] for an element matching `css`.
pub async fn wait_for(client: &Client, css: &str) -> Element {
    wait_for_within(client, css, DEFAULT_WAIT).await
}

/// Waits up to `timeout` for an element matching `css`.
pub async fn wait_for_within(client: &Client, css: &str, timeout: Duration) -> Element {
    match client
        .wait()
        .at_most(timeout)
        .every(Duration::from_millis(50))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(element) => element,
        Err(e) => panic!(
            "no element matches {css:?} within {timeout:?} on {}: {e}",
            describe_page(client).await
        ),
    }
}

/// Waits up to [`DEFAULT_WAIT`] until the page's path is `path` (such as `/thanks`):
/// after a click that navigates, this tells the old page from the new one.
pub async fn wait_for_path(client: &Client, path: &str) {
    let deadline = Instant::now() + DEFAULT_WAIT;
    loop {
        if let Ok(url) = client.current_url().await
            && url.path() == path
        {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "the browser never reached {path} within {DEFAULT_WAIT:?}: {}",
                describe_page(client).await
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks the field matching `css` and types `text` into it, as a person would.
pub async fn type_into(client: &Client, css: &str, text: &str) {
    let field = wait_for(client, css).await;
    field.click().await.expect("click the field");
    field.send_keys(text).await.expect("type into the field");
}

/// The trimmed visible text of the first element matching `css`.
pub async fn text_of(client: &Client, css: &str) -> String {
    let text = wait_for(client, css)
        .await
        .text()
        .await
        .expect("read an element's text");
    text.trim().to_owned()
}

/// The focused element as a short CSS-like description, such as `div#x.error-summary`,
/// for assertions and failure messages.
pub async fn describe_active_element(client: &Client) -> String {
    let description = client
        .execute(
            "const e = document.activeElement;
             if (!e) return '(none)';
             let d = e.tagName.toLowerCase();
             if (e.id) d += '#' + e.id;
             for (const c of e.classList) d += '.' + c;
             return d;",
            vec![],
        )
        .await
        .expect("describe the focused element");
    description.as_str().unwrap_or_default().to_owned()
}

/// The URL and title of the current page, for failure messages.
async fn describe_page(client: &Client) -> String {
    let url = client
        .current_url()
        .await
        .map_or_else(|e| format!("(no URL: {e})"), |url| url.to_string());
    let title = client.title().await.unwrap_or_default();
    format!("{url} ({title:?})")
}

/// One accessibility rule that a page breaks, as axe-core reports it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    /// The rule, such as `color-contrast`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    /// What the rule asks for, in a sentence.
    pub help: String,
    pub help_url: String,
    /// The elements that break it.
    pub nodes: Vec<ViolatingNode>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ViolatingNode {
    /// Selectors leading to the element, outermost document first (one unless the
    /// element is in a frame; a step into a shadow root is joined with ` >>> `).
    pub target: Vec<String>,
    /// The start of the element's HTML.
    pub html: String,
}

impl Violation {
    /// Whether this is `serious` or `critical`.
    pub fn is_serious(&self) -> bool {
        matches!(self.impact.as_deref(), Some("serious" | "critical"))
    }

    /// The selectors of the elements that break the rule.
    pub fn targets(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| node.target.join(" "))
            .collect()
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} ({}): {} <{}>",
            self.id,
            self.impact.as_deref().unwrap_or("no impact given"),
            self.help,
            self.help_url
        )?;
        for node in &self.nodes {
            writeln!(f, "    at {}: {}", node.target.join(" "), node.html)?;
        }
        Ok(())
    }
}

/// axe-core's script, from `tests/browser/node_modules` (`npm ci --prefix tests/browser`).
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/browser/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e}. Install axe-core with `npm ci --prefix tests/browser` \
                 (as .ci/run does).",
                path.display()
            )
        })
    })
}

/// Runs axe-core on the current page and returns every rule it breaks.
///
/// The script goes in through WebDriver, which Chromium runs outside the page's Content
/// Security Policy. In a browser without JavaScript, page scripts are allowed for the
/// duration of the check (axe-core needs timers); the page's own scripts, skipped when
/// it loaded, stay skipped.
pub async fn axe(browser: &Browser) -> Vec<Violation> {
    if !browser.javascript {
        browser.set_page_scripts(true).await;
    }
    let violations = run_axe(browser).await;
    if !browser.javascript {
        browser.set_page_scripts(false).await;
    }
    violations
}

async fn run_axe(client: &Client) -> Vec<Violation> {
    let loaded = client
        .execute("return typeof window.axe === 'object';", vec![])
        .await
        .expect("look for axe-core on the page");
    if loaded != Value::Bool(true) {
        client
            .execute(axe_source(), vec![])
            .await
            .expect("inject axe-core into the page");
    }
    const RUN: &str = r#"
        const done = arguments[arguments.length - 1];
        const selector = (step) => Array.isArray(step) ? step.join(" >>> ") : String(step);
        window.axe
            .run(document, { resultTypes: ["violations"] })
            .then((results) => done({
                violations: results.violations.map((v) => ({
                    id: v.id,
                    impact: v.impact,
                    help: v.help,
                    helpUrl: v.helpUrl,
                    nodes: v.nodes.map((n) => ({ target: n.target.map(selector), html: n.html })),
                })),
            }))
            .catch((error) => done({ error: String((error && error.stack) || error) }));
    "#;
    let outcome = client
        .execute_async(RUN, vec![])
        .await
        .expect("run axe-core");
    if let Some(error) = outcome.get("error") {
        panic!(
            "axe-core failed on {}: {error}",
            describe_page(client).await
        );
    }
    serde_json::from_value(outcome["violations"].clone()).expect("axe-core's violations")
}

/// Runs axe-core on the current page and fails, listing each of them, if it finds any
/// serious or critical violation. Returns the lesser ones.
pub async fn assert_no_serious_violations(browser: &Browser, page_name: &str) -> Vec<Violation> {
    let (serious, lesser): (Vec<_>, Vec<_>) = axe(browser)
        .await
        .into_iter()
        .partition(Violation::is_serious);
    if !serious.is_empty() {
        let list: String = serious.iter().map(Violation::to_string).collect();
        panic!(
            "axe-core found {} serious or critical accessibility violation(s) on {page_name} \
             ({}):\n{list}",
            serious.len(),
            describe_page(browser).await
        );
    }
    lesser
}

/// Where screenshots go: `target/screenshots` (under `CARGO_TARGET_DIR` when set).
pub fn screenshot_dir() -> PathBuf {
    target_dir().join("screenshots")
}

fn target_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => manifest.join(dir),
        None => manifest.join("target"),
    }
}

/// Saves a PNG of the whole page, beyond the viewport, as
/// `target/screenshots/<name>.png` and returns its path. The viewport is left as it was.
pub async fn screenshot(client: &Client, name: &str) -> PathBuf {
    // What Puppeteer's `fullPage` does: clip to the content's size and let Chromium
    // capture beyond the viewport.
    let metrics = cdp(client, "Page.getLayoutMetrics", json!({})).await;
    let content = &metrics["cssContentSize"];
    let dimension = |value: &Value| value.as_f64().expect("a layout size");
    // The content's width leaves out the vertical scrollbar, which the capture has no
    // need of: the viewport's full width is what a visitor sees.
    let viewport_width = client
        .execute("return window.innerWidth;", vec![])
        .await
        .expect("read the viewport width");
    let width = dimension(&content["width"]).max(dimension(&viewport_width));
    let shot = cdp(
        client,
        "Page.captureScreenshot",
        json!({
            "format": "png",
            "captureBeyondViewport": true,
            "clip": {
                "x": 0, "y": 0, "width": width, "height": content["height"], "scale": 1,
            },
        }),
    )
    .await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().expect("screenshot data"))
        .expect("screenshot base64");
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("create target/screenshots");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write the screenshot");
    path
}

/// The width and height in a PNG's header.
pub fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(png.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]), "not a PNG");
    let number = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (number(16), number(20))
}

/// Checks of the harness itself, against pages served by [`TestSite`].
mod self_tests {
    use super::*;

    /// A tiny web server on loopback for the harness's own tests; see
    /// [`TestSite::respond`] for its pages.
    struct TestSite {
        port: u16,
    }

    impl TestSite {
        fn start() -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test site");
            let port = listener.local_addr().unwrap().port();
            // Lives until the test binary exits; one thread per connection because
            // Chromium opens connections it does not use at once.
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    std::thread::spawn(move || Self::serve(stream));
                }
            });
            Self { port }
        }

        /// `path` at `http://127.0.0.1:<port>`.
        fn url(&self, path: &str) -> String {
            format!("http://127.0.0.1:{}{path}", self.port)
        }

        /// `path` at `http://localhost:<port>`: another site, so Chromium loads it in
        /// another renderer process.
        fn other_site_url(&self, path: &str) -> String {
            format!("http://localhost:{}{path}", self.port)
        }

        /// Answers one request (its body, if any, is ignored) and closes the connection.
        fn serve(mut stream: TcpStream) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut head = Vec::new();
            let mut byte = [0; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => return,
                }
            }
            let head = String::from_utf8_lossy(&head);
            let mut request_line = head.split(' ');
            let method = request_line.next().unwrap_or("GET");
            let path = request_line.next().unwrap_or("/");
            let accept_language = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("accept-language")
                        .then(|| value.trim().to_owned())
                })
                .unwrap_or_else(|| "(none)".to_owned());
            let (content_type, csp, body) = Self::respond(method, path, &accept_language);
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n\
                 Content-Security-Policy: {csp}\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }

        /// Every page shows the request's method (`#method[data-method]`) and
        /// `Accept-Language` (`#accept-language`). `/scripts` has an external script
        /// (`/script.js`) and an inline one that mark `#external` and `#inline`, a
        /// `<noscript>` and a form that posts back to it; `/tall` is 3000 px tall; other
        /// pages forbid all scripts.
        fn respond(
            method: &str,
            path: &str,
            accept_language: &str,
        ) -> (&'static str, &'static str, String) {
            let page = |body: &str| {
                format!(
                    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                     <title>Test page</title></head><body><main><h1>Test page</h1>\
                     <p id=\"method\" data-method=\"{method}\">{method}</p>\
                     <p id=\"accept-language\">{accept_language}</p>{body}</main></body></html>"
                )
            };
            const HTML: &str = "text/html; charset=utf-8";
            match path {
                "/script.js" => (
                    "text/javascript",
                    "default-src 'none'",
                    "document.getElementById('external').textContent = 'ran';".to_owned(),
                ),
                "/scripts" => (
                    HTML,
                    "default-src 'self'; script-src 'self' 'unsafe-inline'",
                    page(
                        r#"<p id="external">did not run</p><p id="inline">did not run</p>
                           <noscript><p id="noscript">scripting is off</p></noscript>
                           <form method="post" action="/scripts"><button>Send</button></form>
                           <script src="/script.js"></script>
                           <script>document.getElementById('inline').textContent = 'ran';</script>"#,
                    ),
                ),
                "/tall" => (
                    HTML,
                    "default-src 'none'; style-src 'unsafe-inline'",
                    page(r#"<div style="height: 3000px">tall</div>"#),
                ),
                _ => (HTML, "default-src 'none'", page("")),
            }
        }
    }

    /// Asserts that the page's scripts ran, or did not, as `javascript` says.
    async fn assert_page_scripts_ran(browser: &Browser, javascript: bool, step: &str) {
        let expected = if javascript { "ran" } else { "did not run" };
        assert_eq!(text_of(browser, "#external").await, expected, "{step}");
        assert_eq!(text_of(browser, "#inline").await, expected, "{step}");
        let noscript = browser.find_all(Locator::Css("#noscript")).await.unwrap();
        assert_eq!(noscript.len(), usize::from(!javascript), "{step}");
    }

    #[tokio::test]
    async fn page_scripts_run_only_when_javascript_is_on() {
        crate::require_browser!();
        let site = TestSite::start();
        for javascript in [true, false] {
            let mut options = BrowserOptions::desktop();
            options.javascript = javascript;
            let browser = Browser::open(options).await;

            browser.goto(&site.url("/scripts")).await.unwrap();
            assert_page_scripts_ran(&browser, javascript, "first page").await;
            // WebDriver's own scripts run either way.
            let sum = browser.execute("return 1 + 1;", vec![]).await.unwrap();
            assert_eq!(sum, json!(2));

            wait_for(&browser, "form button")
                .await
                .click()
                .await
                .unwrap();
            wait_for(&browser, "#method[data-method=POST]").await;
            assert_page_scripts_ran(&browser, javascript, "after a form post").await;

            browser
                .goto(&site.other_site_url("/scripts"))
                .await
                .unwrap();
            assert_page_scripts_ran(&browser, javascript, "on another site").await;

            // axe-core lifts the switch while it runs, and only then.
            axe(&browser).await;
            assert_page_scripts_ran(&browser, javascript, "after axe-core").await;
            browser.refresh().await.unwrap();
            assert_page_scripts_ran(&browser, javascript, "reloaded after axe-core").await;
            browser.close().await;
        }
    }

    #[tokio::test]
    async fn accept_language_is_what_the_options_say() {
        crate::require_browser!();
        let site = TestSite::start();
        for (option, header) in [("es", "es"), ("fr-CA,fr", "fr-CA,fr;q=0.9")] {
            let browser = Browser::open(BrowserOptions::phone().accept_language(option)).await;
            browser.goto(&site.url("/")).await.unwrap();
            assert_eq!(text_of(&browser, "#accept-language").await, header);
            let languages = browser
                .execute("return navigator.languages.join(',');", vec![])
                .await
                .unwrap();
            assert_eq!(languages, json!(option));
            browser.close().await;
        }
    }

    #[tokio::test]
    async fn viewport_is_the_size_asked_for() {
        crate::require_browser!();
        for (width, height) in [(375, 800), (1280, 900)] {
            let browser = Browser::open(BrowserOptions::sized(width, height)).await;
            assert_eq!(browser.viewport().await, (width, height));
            browser.close().await;
        }
    }

    #[tokio::test]
    async fn axe_runs_despite_a_csp_that_forbids_all_scripts_and_with_javascript_off() {
        crate::require_browser!();
        let site = TestSite::start();
        let browser = Browser::open(BrowserOptions::desktop().without_javascript()).await;
        browser.goto(&site.url("/strict")).await.unwrap();
        let violations = axe(&browser).await;
        assert!(violations.is_empty(), "{violations:#?}");
        // A known problem: an image without a text alternative.
        browser
            .execute(
                "const img = document.createElement('img');
                 img.src = 'data:,'; img.id = 'no-alt';
                 document.querySelector('main').append(img);",
                vec![],
            )
            .await
            .unwrap();
        let violations = axe(&browser).await;
        let image_alt = violations
            .iter()
            .find(|v| v.id == "image-alt")
            .unwrap_or_else(|| panic!("image-alt not reported: {violations:#?}"));
        assert!(image_alt.is_serious(), "{image_alt}");
        assert_eq!(image_alt.targets(), ["#no-alt"]);
        browser.close().await;
    }

    #[tokio::test]
    async fn screenshots_show_the_whole_page() {
        crate::require_browser!();
        let site = TestSite::start();
        let browser = Browser::open(BrowserOptions::phone()).await;
        browser.goto(&site.url("/tall")).await.unwrap();
        let path = screenshot(&browser, "harness-self-test-tall").await;
        let (width, height) = png_size(&std::fs::read(&path).unwrap());
        assert_eq!(width, 375);
        assert!(height > 3000, "the PNG is only {height} px tall");
        assert_eq!(browser.viewport().await, (375, 800));
        browser.close().await;
    }

    #[tokio::test]
    async fn a_browser_dropped_without_close_ends_its_session() {
        crate::require_browser!();
        let browser = Browser::open(BrowserOptions::phone()).await;
        let session = browser.session_id.clone();
        drop(browser);
        let path = format!("/session/{session}/url");
        let reply = blocking_request(driver().addr, "GET", &path).unwrap();
        assert!(reply.contains("invalid session id"), "{reply}");
    }
}
