//! `cargo bench --bench load`: how the service holds up, measured beside what this machine
//! can do at all, in one run. See BENCHMARKS.md for the figures and what limits each.
//!
//! The service runs as its real release binary on loopback (so its memory and start-up
//! are its own), against the fake Clover of the tests. Load comes from wrk, a well-kept
//! HTTP load generator whose latencies are kept in an HDR histogram; it must be on PATH
//! (Debian: `apt-get install wrk`). Every baseline is measured in the same run, on the
//! same machine, with the same load: a bare actix-web handler serving the form's bytes,
//! bare fsync-bound inserts into the service's own SQLite file, and bare single-row
//! inserts into the same PostgreSQL server the service then runs on.
//!
//! The PostgreSQL phases use the cluster that `BENCH_POSTGRES_URL` names, or else
//! `TEST_POSTGRES_URL` (a superuser URL; each phase creates a fresh database in it and
//! drops it afterwards). With neither set, the benchmark starts a throwaway cluster with
//! `.ci/postgres start` in a temporary folder, turns its durability back on (that
//! script switches fsync off for the tests), and stops it at the end. The report names
//! the server and its `fsync` and `synchronous_commit`, since they decide the figures.
//!
//! `cargo bench --bench load -- --quick` runs shorter phases and smaller delivery bursts,
//! to check that the benchmark works; its figures are not for BENCHMARKS.md.
//! `--postgres-only` runs the PostgreSQL phases alone (with or without `--quick`).

#[allow(dead_code)]
#[path = "../tests/support/fake_clover.rs"]
mod fake_clover;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_clover::FakeClover;

/// The service's binary, built by cargo for this benchmark.
const SERVICE: &str = env!("CARGO_BIN_EXE_clover-signup");
/// Connections for the throughput runs: enough to keep two cores busy.
const CONNECTIONS: u32 = 16;
/// The admin token of the benchmarked service.
const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdefghij";
/// Clover's per-token limit, which the fake enforces.
const CLOVER_REQUESTS_PER_SECOND: f64 = 16.0;

struct Plan {
    /// Seconds per throughput run.
    seconds: u64,
    /// Signups in the delivery burst.
    burst: usize,
    /// Signups in each delivery backlog on PostgreSQL (one, two and three instances).
    backlog: usize,
    /// Start-ups timed for the time to ready.
    starts: usize,
    /// Only the PostgreSQL phases.
    postgres_only: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, port, file] = args.as_slice()
        && flag == "--serve-bare"
    {
        serve_bare(port, file);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let postgres_only = args.iter().any(|a| a == "--postgres-only");
    let plan = if quick {
        Plan {
            seconds: 2,
            burst: 60,
            backlog: 30,
            starts: 3,
            postgres_only,
        }
    } else {
        Plan {
            seconds: 10,
            burst: 1_000,
            backlog: 300,
            starts: 9,
            postgres_only,
        }
    };
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed: `sudo apt-get install wrk` (Debian), then run again");
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let report = runtime.block_on(run(&plan));
    println!("{report}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-results.md");
    std::fs::write(&out, &report).expect("write target/bench-results.md");
    eprintln!("written to {}", out.display());
}

async fn run(plan: &Plan) -> String {
    let postgres = PostgresServer::start().await;
    let mut report = String::new();
    let machine = machine_description();
    writeln!(report, "Machine: {machine}").unwrap();
    writeln!(report, "PostgreSQL: {}", postgres.description).unwrap();
    writeln!(
        report,
        "Phases of {} s, {CONNECTIONS} connections, wrk with 1 thread; `GET /` and its \
         baseline in three alternating rounds of {} s, median shown.\n",
        plan.seconds,
        (plan.seconds / 3).max(1)
    )
    .unwrap();
    writeln!(report, "| measure | service | baseline | ratio |").unwrap();
    writeln!(report, "|---|---|---|---|").unwrap();

    let fake = FakeClover::start().await;
    if !plan.postgres_only {
        sqlite_phases(&mut report, plan, &fake).await;
    }
    postgres_phases(&mut report, plan, &fake, &postgres).await;
    postgres.stop().await;
    report
}

/// Start-up, `GET /`, `POST /`, the flood, memory and delivery, on SQLite.
async fn sqlite_phases(report: &mut String, plan: &Plan, fake: &FakeClover) {
    // Start-up: exec to the first 200 from /healthz, on a fresh database each time.
    let mut starts = Vec::new();
    for _ in 0..plan.starts {
        let (service, ready) = Service::start(&[]);
        starts.push(ready);
        service.stop();
    }
    starts.sort();
    let median = starts[starts.len() / 2];
    row(
        report,
        "time from exec to the first `200` from `/healthz` (median)",
        &format!("{:.1} ms", ms(median)),
        "goal < 100 ms",
        "",
    );

    let (service, _) = Service::start(&[
        ("CLOVER_AUTH", "token"),
        ("CLOVER_MERCHANT_ID", fake_clover::MERCHANT_ID),
        ("CLOVER_API_TOKEN", fake_clover::API_TOKEN),
        ("CLOVER_API_BASE_URL", &fake.base_url()),
        ("CLIENT_IP_HEADER", "Fly-Client-IP"),
    ]);
    let idle_rss = service.rss_kib();

    // GET /: the service's form beside a bare handler serving the very same bytes.
    let page = http_get(service.port, "/");
    let bare = BareServer::start(&page.body);
    // Alternating rounds, and the median of each: the machine is shared, and a neighbour
    // busy during one run must not decide the ratio.
    let round = (plan.seconds / 3).max(1);
    let mut forms = Vec::new();
    let mut baselines = Vec::new();
    for _ in 0..3 {
        forms.push(wrk(&WrkRun::get(service.port, "/", CONNECTIONS, round)));
        baselines.push(wrk(&WrkRun::get(bare.port, "/", CONNECTIONS, round)));
    }
    let form = median_run(forms);
    let baseline = median_run(baselines);
    row(
        report,
        "`GET /` requests/s",
        &format!("{:.0}", form.requests_per_second),
        &format!(
            "{:.0} (bare actix-web, same bytes)",
            baseline.requests_per_second
        ),
        &percent(form.requests_per_second / baseline.requests_per_second),
    );
    row(
        report,
        "`GET /` latency p50 / p99",
        &format!("{} / {}", form.p50, form.p99),
        &format!("{} / {}", baseline.p50, baseline.p99),
        "",
    );

    // POST /: durable signups beside bare inserts into the same SQLite file.
    let raw = raw_insert_rate(&service.database, Duration::from_secs(plan.seconds.min(5)));
    // One served form stores one signup: each signup gets a form of its own, signed
    // here with the service's key, as many as the run can use.
    let forms = signup_script(&signed_forms(plan.seconds as usize * 12_000));
    let signups = wrk(&WrkRun::get(service.port, "/", CONNECTIONS, plan.seconds)
        .script(&forms.lua)
        .client_ip("192.0.2.1"));
    row(
        report,
        "`POST /` durable signups/s (each committed before its `303`)",
        &format!("{:.0}", signups.requests_per_second),
        &format!("{raw:.0} bare inserts/s, one transaction each"),
        &percent(signups.requests_per_second / raw),
    );
    row(
        report,
        "`POST /` latency p50 / p99",
        &format!("{} / {}", signups.p50, signups.p99),
        "",
        "",
    );
    assert_eq!(signups.errors, 0, "signups were refused: {signups:?}");

    // A flood from one address, and a second address meanwhile.
    let (flood, quiet, quiet_alone) = flood_with_bystander(plan.seconds);
    row(
        report,
        "flood from one IP: answered `429`",
        &format!(
            "{} of {} ({})",
            flood.errors,
            flood.requests,
            percent(flood.errors as f64 / flood.requests.max(1) as f64)
        ),
        "",
        "",
    );
    row(
        report,
        "a second IP during the flood: `GET /` p50 / p99",
        &format!("{} / {}", quiet.p50, quiet.p99),
        &format!(
            "{} / {} without the flood",
            quiet_alone.p50, quiet_alone.p99
        ),
        "",
    );

    // Memory: idle, and with 1,000 connections open and busy; the bare server the same.
    let seconds = plan.seconds.min(5);
    let bare_idle = bare.rss_kib();
    let (busy_rss, thousand) =
        rss_under_connections(service.port, || service.rss_kib(), 1_000, seconds);
    // From one address, as every run here: the per-address cap is lifted for them (see
    // `Service::start`), so a refusal would mean something else went wrong.
    assert_eq!(
        (thousand.errors, thousand.socket_errors),
        (0, 0),
        "the 1,000-connection run was refused or cut: {thousand:?}"
    );
    let (bare_busy, bare_thousand) =
        rss_under_connections(bare.port, || bare.rss_kib(), 1_000, seconds);
    row(
        report,
        "resident memory idle / with 1,000 open connections (goal < 30 MiB)",
        &format!("{:.1} MiB / {:.1} MiB", mib(idle_rss), mib(busy_rss)),
        &format!("{:.1} MiB / {:.1} MiB", mib(bare_idle), mib(bare_busy)),
        "",
    );
    row(
        report,
        "`GET /` requests/s with 1,000 connections",
        &format!("{:.0}", thousand.requests_per_second),
        &format!("{:.0}", bare_thousand.requests_per_second),
        &percent(thousand.requests_per_second / bare_thousand.requests_per_second),
    );
    drop(bare);
    service.stop();

    // Delivery: a burst of signups to a fake Clover that enforces Clover's limits.
    let delivery = deliver_burst(fake, plan.burst).await;
    row(
        report,
        &format!("delivery of {} queued signups", plan.burst),
        &format!(
            "{:.1} s to drain, {:.2} signups/s",
            delivery.drain.as_secs_f64(),
            plan.burst as f64 / delivery.drain.as_secs_f64()
        ),
        &format!(
            "{} requests to Clover, {:.2}/s of {CLOVER_REQUESTS_PER_SECOND}/s allowed",
            delivery.requests, delivery.requests_per_second
        ),
        &percent(delivery.requests_per_second / CLOVER_REQUESTS_PER_SECOND),
    );
    row(
        report,
        "`429` answers from Clover during the burst",
        &delivery.throttled.to_string(),
        "goal 0",
        "",
    );
}

/// The run with the median throughput.
fn median_run(mut runs: Vec<WrkResult>) -> WrkResult {
    runs.sort_by(|a, b| a.requests_per_second.total_cmp(&b.requests_per_second));
    runs.swap_remove(runs.len() / 2)
}

fn row(report: &mut String, measure: &str, service: &str, baseline: &str, ratio: &str) {
    writeln!(report, "| {measure} | {service} | {baseline} | {ratio} |").unwrap();
}

fn percent(share: f64) -> String {
    format!("{:.0} %", share * 100.0)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn machine_description() -> String {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map_or_else(String::new, |kib| {
            format!(", {:.0} GiB", kib as f64 / 1048576.0)
        });
    format!("{cpus} CPUs ({model}){memory}")
}

/// The service as an operator runs it: its release binary, on a fresh database.
struct Service {
    child: Child,
    port: u16,
    database: PathBuf,
    _dir: tempfile::TempDir,
}

impl Service {
    /// Starts the binary and waits for `/healthz`; returns it with the time that took.
    fn start(extra: &[(&str, &str)]) -> (Service, Duration) {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let database = dir.path().join("signup.db");
        let port = free_port();
        let mut command = Command::new(SERVICE);
        command
            .env_clear()
            .env("PORT", port.to_string())
            .env("DATABASE_URL", format!("sqlite://{}", database.display()))
            .env("RUST_LOG", "warn")
            .env("FORM_MIN_FILL_SECONDS", "0")
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SECRET_KEY", "5e".repeat(32))
            // Throughput runs measure the service, not its per-visitor limits: every
            // connection here comes from 127.0.0.1, and a thousand of them would be far
            // over MAX_CONNECTIONS_PER_ADDRESS. The flood phase turns the limits back on.
            .env("RATE_LIMIT_PER_MINUTE", "100000000")
            .env("RATE_LIMIT_BURST", "100000000")
            .env("MAX_CONNECTIONS_PER_ADDRESS", "100000")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, value) in extra {
            command.env(name, value);
        }
        let started = Instant::now();
        let child = command.spawn().expect("start the service");
        loop {
            if healthz(port) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the service did not answer /healthz"
            );
            std::thread::sleep(Duration::from_micros(500));
        }
        let ready = started.elapsed();
        (
            Service {
                child,
                port,
                database,
                _dir: dir,
            },
            ready,
        )
    }

    /// Resident memory now, in KiB.
    fn rss_kib(&self) -> u64 {
        process_status(self.child.id(), "VmRSS:")
    }

    fn stop(self) {
        drop(self);
    }
}

/// A phase that panics must not leave release binaries running, holding connections to
/// the PostgreSQL server that is about to be stopped.
impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A figure from `/proc/<pid>/status`, in KiB.
fn process_status(pid: u32, name: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("read /proc/<pid>/status")
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn healthz(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && &head[9..12] == b"200"
}

struct Page {
    body: String,
}

fn http_get(port: u16, path: &str) -> Page {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    // The host wrk asks for too: the service answers `421` to any name but PUBLIC_URL's
    // and, with no PUBLIC_URL, loopback's.
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Page { body }
}

/// The value of the hidden input `name` of a served form.
fn hidden_input(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let Some(start) = html.find(&marker) else {
        // What came instead (an error page, a refusal) says why.
        let shown: String = html.chars().take(400).collect();
        panic!("the page has no input {name}: {shown:?}");
    };
    let start = start + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// The hidden fields (`form_token`, `form_id`) of a form served by `html`.
fn served_form(html: &str) -> (String, String) {
    (
        hidden_input(html, "form_token"),
        hidden_input(html, "form_id"),
    )
}

/// `count` forms' hidden fields, each with its own id, signed with the benchmarked
/// service's `SECRET_KEY` as the service signs the forms it serves.
fn signed_forms(count: usize) -> Vec<(String, String)> {
    let key = hex::decode("5e".repeat(32)).expect("hex");
    let tokens = clover_signup::form_token::FormTokens::new(Some(&key.into()), Duration::ZERO);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs() as i64;
    (0..count)
        .map(|_| {
            let id = clover_signup::domain::IdempotencyKey::random();
            (tokens.issue(now, id.as_ref()), id.as_ref().to_owned())
        })
        .collect()
}

/// A wrk script, with the file of forms it reads; the file must outlive the run.
struct SignupScript {
    lua: String,
    _forms: tempfile::NamedTempFile,
}

/// A wrk script that posts a valid signup with a new email each time, through `forms`
/// in turn (starting over when they run out: those signups then get the form back).
/// The forms are read from a file when each wrk thread starts: as literals in the
/// script, a full run's 120,000 would be over LuaJIT's 65,536 constants a function.
fn signup_script(forms: &[(String, String)]) -> SignupScript {
    let mut file = tempfile::NamedTempFile::new().expect("a file for the forms");
    {
        let mut lines = std::io::BufWriter::new(file.as_file_mut());
        for (token, id) in forms {
            assert!(
                !format!("{token}{id}").contains(char::is_whitespace),
                "a form's fields hold no space"
            );
            writeln!(lines, "{token} {id}").expect("write the forms");
        }
        lines.flush().expect("write the forms");
    }
    let path = file.path().to_str().expect("a UTF-8 temporary path");
    assert!(!path.contains("]==]"), "a path a Lua long string can hold");
    let lua = format!(
        r#"forms = {{}}
init = function(args)
  local count = 0
  for line in io.lines([==[{path}]==]) do
    local token, id = line:match("^(%S+) (%S+)$")
    count = count + 1
    forms[count] = {{token, id}}
  end
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
counter = 0
request = function()
  counter = counter + 1
  local form = forms[(counter - 1) % #forms + 1]
  local body = "first_name=Ada&last_name=Lovelace&phone=5551234567&marketing_consent=on"
    .. "&form_token=" .. form[1] .. "&form_id=" .. form[2]
    .. "&email=visitor" .. counter .. "-" .. math.random(1, 1000000000) .. "%40example.com"
  return wrk.format(nil, "/", nil, body)
end
"#
    );
    SignupScript { lua, _forms: file }
}

/// One wrk run.
struct WrkRun {
    port: u16,
    path: String,
    connections: u32,
    threads: u32,
    seconds: u64,
    script: Option<String>,
    client_ip: Option<String>,
}

impl WrkRun {
    fn get(port: u16, path: &str, connections: u32, seconds: u64) -> Self {
        Self {
            port,
            path: path.to_owned(),
            connections,
            threads: 1,
            seconds,
            script: None,
            client_ip: None,
        }
    }

    fn script(mut self, lua: &str) -> Self {
        self.script = Some(lua.to_owned());
        self
    }

    fn client_ip(mut self, ip: &str) -> Self {
        self.client_ip = Some(ip.to_owned());
        self
    }

    fn threads(mut self, threads: u32) -> Self {
        self.threads = threads;
        self
    }

    fn command(&self, scripts: &Path) -> Command {
        let mut command = Command::new("wrk");
        command
            .arg(format!("-t{}", self.threads))
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.seconds))
            .arg("--latency");
        if let Some(ip) = &self.client_ip {
            command.arg("-H").arg(format!("Fly-Client-IP: {ip}"));
        }
        if let Some(lua) = &self.script {
            let file = scripts.join(format!("script-{}.lua", rand::random::<u64>()));
            std::fs::write(&file, lua).expect("write a wrk script");
            command.arg("-s").arg(file);
        }
        command.arg(format!("http://127.0.0.1:{}{}", self.port, self.path));
        command
    }
}

#[derive(Debug, Clone, Default)]
struct WrkResult {
    requests_per_second: f64,
    requests: u64,
    /// Answers other than 2xx and 3xx.
    errors: u64,
    /// Connections wrk could not open, read from or write to, and requests that timed out.
    socket_errors: u64,
    p50: String,
    p99: String,
}

fn wrk(run: &WrkRun) -> WrkResult {
    let scripts = tempfile::tempdir().expect("a folder for wrk scripts");
    let output = run.command(scripts.path()).output().expect("run wrk");
    parse_wrk(&String::from_utf8_lossy(&output.stdout))
}

fn parse_wrk(text: &str) -> WrkResult {
    let mut result = WrkResult::default();
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", rate] => result.requests_per_second = rate.parse().unwrap_or(0.0),
            ["50%", latency] => result.p50 = (*latency).to_owned(),
            ["99%", latency] => result.p99 = (*latency).to_owned(),
            ["Non-2xx", "or", "3xx", "responses:", count] => {
                result.errors = count.parse().unwrap_or(0)
            }
            [count, "requests", "in", ..] => result.requests = count.parse().unwrap_or(0),
            ["Socket", "errors:", counts @ ..] => {
                // connect 0, read 0, write 0, timeout 0
                result.socket_errors = counts
                    .iter()
                    .filter_map(|word| word.trim_end_matches(',').parse::<u64>().ok())
                    .sum()
            }
            _ => {}
        }
    }
    result
}

/// A bare actix-web handler serving `body`, in a process of its own (this benchmark run
/// again with `--serve-bare`), with as many workers as the service: the most this
/// machine gives an actix-web server for these bytes, in speed and in memory.
struct BareServer {
    port: u16,
    child: Child,
    _body: tempfile::NamedTempFile,
}

impl BareServer {
    fn start(body: &str) -> Self {
        let mut file = tempfile::NamedTempFile::new().expect("a file for the page");
        file.write_all(body.as_bytes()).expect("write the page");
        let port = free_port();
        let child = Command::new(std::env::current_exe().expect("this benchmark's path"))
            .arg("--serve-bare")
            .arg(port.to_string())
            .arg(file.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the bare server");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no bare server"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        Self {
            port,
            child,
            _body: file,
        }
    }

    fn rss_kib(&self) -> u64 {
        process_status(self.child.id(), "VmRSS:")
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `--serve-bare <port> <file>`: the bare server's process.
fn serve_bare(port: &str, file: &str) -> ! {
    let body = actix_web::web::Bytes::from(std::fs::read(file).expect("read the page"));
    let port: u16 = port.parse().expect("a port");
    actix_web::rt::System::new().block_on(async move {
        actix_web::HttpServer::new(move || {
            let body = body.clone();
            actix_web::App::new().default_service(actix_web::web::to(move || {
                let body = body.clone();
                async move {
                    actix_web::HttpResponse::Ok()
                        .content_type("text/html; charset=utf-8")
                        .body(body)
                }
            }))
        })
        .bind(("127.0.0.1", port))
        .expect("bind the bare server's port")
        .run()
        .await
        .expect("the bare server runs");
    });
    std::process::exit(0)
}

/// Inserts rows, one transaction each, into the service's SQLite file with the service's
/// own settings (WAL, `synchronous=FULL`): the fastest a durable signup could be stored.
fn raw_insert_rate(database: &Path, duration: Duration) -> f64 {
    let connection = rusqlite::Connection::open(database).expect("open the service's database");
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS bench_raw (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
        )
        .expect("prepare the table");
    let started = Instant::now();
    let mut rows = 0u64;
    while started.elapsed() < duration {
        connection
            .execute_batch(
                "BEGIN IMMEDIATE;
                 INSERT INTO bench_raw (body) VALUES ('first_name=Ada&last_name=Lovelace&email=visitor@example.com');
                 COMMIT;",
            )
            .expect("insert");
        rows += 1;
    }
    connection
        .execute_batch("DROP TABLE bench_raw;")
        .expect("drop the table");
    rows as f64 / started.elapsed().as_secs_f64()
}

/// One address floods `POST /` while a second loads `GET /` lightly, on a service with
/// the default per-visitor limits (6 a minute, bursts of 3; 16 requests in flight); the
/// second's latency is compared with the same load without the flood.
fn flood_with_bystander(seconds: u64) -> (WrkResult, WrkResult, WrkResult) {
    let (limited, _) = Service::start(&[
        ("CLIENT_IP_HEADER", "Fly-Client-IP"),
        ("RATE_LIMIT_PER_MINUTE", "6"),
        ("RATE_LIMIT_BURST", "3"),
        ("MAX_CONNECTIONS_PER_ADDRESS", "16"),
    ]);
    let bystander = WrkRun::get(limited.port, "/", 2, seconds).client_ip("198.51.100.2");
    let alone = wrk(&bystander);
    let script = signup_script(&[served_form(&http_get(limited.port, "/").body)]);
    let flood = WrkRun::get(limited.port, "/", CONNECTIONS, seconds)
        .script(&script.lua)
        .client_ip("203.0.113.66");
    let flooding = std::thread::spawn(move || wrk(&flood));
    // Let the flood get going before measuring the bystander.
    std::thread::sleep(Duration::from_millis(200));
    let during = wrk(&WrkRun {
        seconds: seconds.saturating_sub(1).max(1),
        ..bystander
    });
    let flood = flooding.join().expect("the flood's wrk");
    drop(script);
    limited.stop();
    (flood, during, alone)
}

/// Memory while `connections` connections load `GET /`; returns the peak resident set
/// seen and the run's figures.
fn rss_under_connections(
    port: u16,
    rss_kib: impl Fn() -> u64,
    connections: u32,
    seconds: u64,
) -> (u64, WrkResult) {
    let run = WrkRun::get(port, "/", connections, seconds).threads(2);
    let loading = std::thread::spawn(move || wrk(&run));
    let mut peak = 0;
    while !loading.is_finished() {
        peak = peak.max(rss_kib());
        std::thread::sleep(Duration::from_millis(100));
    }
    (peak, loading.join().expect("wrk"))
}

struct Delivery {
    drain: Duration,
    requests: usize,
    requests_per_second: f64,
    throttled: usize,
}

/// Queues `count` signups as fast as the API takes them, then waits until every one is
/// delivered to the fake Clover.
async fn deliver_burst(fake: &FakeClover, count: usize) -> Delivery {
    let (service, _) = Service::start(&[
        ("CLOVER_AUTH", "token"),
        ("CLOVER_MERCHANT_ID", fake_clover::MERCHANT_ID),
        ("CLOVER_API_TOKEN", fake_clover::API_TOKEN),
        ("CLOVER_API_BASE_URL", &fake.base_url()),
    ]);
    let before = fake.requests().len();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}/api/signups", service.port);
    let started = Instant::now();
    let posts = (0..count).map(|n| {
        let client = client.clone();
        let url = url.clone();
        async move { post_signup(&client, &url, &format!("burst{n}@example.com")).await }
    });
    futures_util::future::join_all(posts).await;
    let status_url = format!("http://127.0.0.1:{}/admin/status.json", service.port);
    loop {
        let status: serde_json::Value = client
            .get(&status_url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("status JSON");
        if status["queue"]["delivered"].as_u64() == Some(count as u64) {
            break;
        }
        assert_eq!(status["queue"]["failed"], 0, "deliveries failed: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drain = started.elapsed();
    service.stop();
    delivered(fake, before, drain)
}

/// What the fake Clover saw from its `before`th request on, for a burst that took
/// `drain` from its first signup posted to its last one delivered.
fn delivered(fake: &FakeClover, before: usize, drain: Duration) -> Delivery {
    let requests: Vec<_> = fake.requests().into_iter().skip(before).collect();
    let throttled = requests.iter().filter(|r| r.status == 429).count();
    // The rate Clover saw: from the first request to the last.
    let span = match (requests.first(), requests.last()) {
        (Some(first), Some(last)) => last.at.duration_since(first.at),
        _ => drain,
    };
    Delivery {
        drain,
        requests: requests.len(),
        requests_per_second: requests.len().saturating_sub(1) as f64 / span.as_secs_f64(),
        throttled,
    }
}

/// `POST /` and delivery with one, two and three instances, on PostgreSQL.
async fn postgres_phases(
    report: &mut String,
    plan: &Plan,
    fake: &FakeClover,
    postgres: &PostgresServer,
) {
    // POST /: durable signups beside bare inserts into the same server, each phase with
    // as many connections as the other. The service runs as for the SQLite phase, on a
    // database of its own.
    let database = postgres.fresh_database().await;
    let (service, _) = Service::start(&[
        ("DATABASE_URL", &database),
        ("CLOVER_AUTH", "token"),
        ("CLOVER_MERCHANT_ID", fake_clover::MERCHANT_ID),
        ("CLOVER_API_TOKEN", fake_clover::API_TOKEN),
        ("CLOVER_API_BASE_URL", &fake.base_url()),
        ("CLIENT_IP_HEADER", "Fly-Client-IP"),
    ]);
    let raw = raw_postgres_insert_rate(&database, Duration::from_secs(plan.seconds)).await;
    let forms = signup_script(&signed_forms(plan.seconds as usize * 12_000));
    let signups = wrk(&WrkRun::get(service.port, "/", CONNECTIONS, plan.seconds)
        .script(&forms.lua)
        .client_ip("192.0.2.1"));
    service.stop();
    row(
        report,
        "`POST /` on PostgreSQL: durable signups/s (each committed before its `303`)",
        &format!("{:.0}", signups.requests_per_second),
        &format!(
            "{raw:.0} bare inserts/s, one transaction each, {CONNECTIONS} connections; goal ≥ 70 %"
        ),
        &percent(signups.requests_per_second / raw),
    );
    row(
        report,
        "`POST /` on PostgreSQL: latency p50 / p99",
        &format!("{} / {}", signups.p50, signups.p99),
        "",
        "",
    );
    assert_eq!(signups.errors, 0, "signups were refused: {signups:?}");

    // Delivery: the same backlog drained by one, two and three instances on one database.
    for instances in 1..=3 {
        let database = postgres.fresh_database().await;
        let delivery = deliver_with_instances(fake, &database, instances, plan.backlog).await;
        let goal = if instances > 1 { "; goal ≥ 90 %" } else { "" };
        row(
            report,
            &format!(
                "delivery of {} queued signups by {instances} instance{} on one PostgreSQL database",
                plan.backlog,
                if instances == 1 { "" } else { "s" }
            ),
            &format!(
                "{:.1} s to drain; {} requests to Clover, {:.2}/s; {} answered `429`",
                delivery.drain.as_secs_f64(),
                delivery.requests,
                delivery.requests_per_second,
                delivery.throttled
            ),
            &format!("{CLOVER_REQUESTS_PER_SECOND}/s allowed{goal}"),
            &percent(delivery.requests_per_second / CLOVER_REQUESTS_PER_SECOND),
        );
    }
}

/// The PostgreSQL server of the PostgreSQL phases: the cluster `BENCH_POSTGRES_URL` or
/// else `TEST_POSTGRES_URL` names, or else a throwaway one started with `.ci/postgres`.
struct PostgresServer {
    /// A superuser URL, to create and drop the phases' databases.
    cluster: String,
    /// Which server, with the settings that decide the figures, for the report.
    description: String,
    /// The folder of the cluster this run started, if it did.
    throwaway: Option<tempfile::TempDir>,
    /// The databases this run created, dropped at its end.
    databases: std::sync::Mutex<Vec<String>>,
}

impl PostgresServer {
    async fn start() -> Self {
        let named = ["BENCH_POSTGRES_URL", "TEST_POSTGRES_URL"]
            .into_iter()
            .find_map(|name| {
                let url = std::env::var(name).ok().filter(|url| !url.is_empty())?;
                Some((name, url))
            });
        let (cluster, source, throwaway) = match named {
            Some((name, url)) => (url, format!("the cluster {name} names"), None),
            None => {
                // A short path: the server's unix socket lives in the folder.
                let dir = tempfile::Builder::new()
                    .prefix("bench-pg-")
                    .tempdir_in("/tmp")
                    .expect("a folder for the throwaway cluster");
                let url = ci_postgres("start", dir.path());
                (
                    url,
                    "a throwaway cluster started by the benchmark (`.ci/postgres`)".to_owned(),
                    Some(dir),
                )
            }
        };
        // Built before anything else can fail, so that its drop stops the cluster.
        let mut server = Self {
            cluster,
            description: String::new(),
            throwaway,
            databases: std::sync::Mutex::new(Vec::new()),
        };
        if server.throwaway.is_some() {
            // `.ci/postgres` switches durability off so that tests run fast; signups are
            // benchmarked as a production server keeps them, each commit on disk.
            let client = postgres_connect(&server.cluster).await;
            for setting in ["fsync", "full_page_writes", "synchronous_commit"] {
                // One statement each: ALTER SYSTEM cannot run in a transaction, which
                // several statements in one simple query would be.
                client
                    .batch_execute(&format!("ALTER SYSTEM SET {setting} = on"))
                    .await
                    .expect("turn the throwaway cluster's durability on");
            }
            client
                .batch_execute("SELECT pg_reload_conf()")
                .await
                .expect("reload the throwaway cluster's settings");
        }
        // The reload reaches new sessions a moment later.
        let started = Instant::now();
        let description = loop {
            let client = postgres_connect(&server.cluster).await;
            let settings = client
                .query_one(
                    "SELECT current_setting('server_version'), current_setting('fsync'), \
                     current_setting('synchronous_commit')",
                    &[],
                )
                .await
                .expect("read the server's settings");
            let (version, fsync, synchronous): (String, String, String) =
                (settings.get(0), settings.get(1), settings.get(2));
            let durable = fsync == "on" && synchronous == "on";
            if durable || server.throwaway.is_none() {
                break format!(
                    "{version}, {source}; fsync {fsync}, synchronous_commit {synchronous}"
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the throwaway cluster kept fsync {fsync}, synchronous_commit {synchronous}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        server.description = description;
        server
    }

    /// Creates an empty database and returns its URL.
    async fn fresh_database(&self) -> String {
        let name = {
            let mut databases = self.databases.lock().unwrap();
            let name = format!(
                "clover_signup_bench_{}_{}",
                std::process::id(),
                databases.len()
            );
            databases.push(name.clone());
            name
        };
        postgres_connect(&self.cluster)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create a database for the benchmark");
        let mut url = url::Url::parse(&self.cluster).expect("the PostgreSQL URL is a URL");
        url.set_path(&format!("/{name}"));
        url.to_string()
    }

    /// Drops the databases this run created; the throwaway cluster stops when dropped.
    async fn stop(self) {
        let client = postgres_connect(&self.cluster).await;
        let databases = std::mem::take(&mut *self.databases.lock().unwrap());
        for name in databases {
            // FORCE: a service killed a moment ago may not have closed its sessions yet.
            if let Err(error) = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
            {
                eprintln!("could not drop the benchmark's database {name}: {error}");
            }
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if let Some(dir) = &self.throwaway {
            ci_postgres("stop", dir.path());
        }
    }
}

/// Runs `.ci/postgres start|stop DIR`; returns the URL `start` prints.
fn ci_postgres(action: &str, dir: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/postgres");
    let output = Command::new(&script)
        .arg(action)
        .arg(dir)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|error| panic!("run .ci/postgres {action}: {error}"));
    assert!(
        output.status.success(),
        ".ci/postgres {action} failed ({})",
        output.status
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("TEST_POSTGRES_URL="))
        .unwrap_or_default()
        .to_owned()
}

/// A connection as the service opens one: TLS when the server offers it and the URL
/// allows it (`sslmode=prefer` by default), else plain.
async fn postgres_connect(url: &str) -> tokio_postgres::Client {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let (client, connection) =
        tokio_postgres::connect(url, tokio_postgres_rustls::MakeRustlsConnect::new(tls))
            .await
            .unwrap_or_else(|error| panic!("cannot reach PostgreSQL: {error}"));
    // A connection that fails shows up as an error on the client's next query.
    tokio::spawn(connection);
    client
}

/// Inserts rows, each in a transaction of its own (autocommit), from [`CONNECTIONS`]
/// connections at once for `duration`, into a table of the database at `url`: the
/// fastest a durable signup could be stored one by one on that server, with as many
/// clients as wrk has connections to the service.
async fn raw_postgres_insert_rate(url: &str, duration: Duration) -> f64 {
    postgres_connect(url)
        .await
        .batch_execute(
            "CREATE TABLE bench_raw (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
             body TEXT NOT NULL)",
        )
        .await
        .expect("create the baseline's table");
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        clients.push(postgres_connect(url).await);
    }
    let started = Instant::now();
    let inserting = clients.into_iter().map(|client| {
        tokio::spawn(async move {
            let insert = client
                .prepare("INSERT INTO bench_raw (body) VALUES ($1)")
                .await
                .expect("prepare the insert");
            let mut rows = 0u64;
            while started.elapsed() < duration {
                client
                    .execute(
                        &insert,
                        &[&"first_name=Ada&last_name=Lovelace&email=visitor@example.com"],
                    )
                    .await
                    .expect("insert");
                rows += 1;
            }
            rows
        })
    });
    let rows: u64 = futures_util::future::join_all(inserting)
        .await
        .into_iter()
        .map(|rows| rows.expect("an inserting task"))
        .sum();
    rows as f64 / started.elapsed().as_secs_f64()
}

/// Starts `instances` instances on the database at `url`, posts `count` signups spread
/// over them as fast as they take them, and waits until every one is delivered to the
/// fake Clover, which they share.
async fn deliver_with_instances(
    fake: &FakeClover,
    url: &str,
    instances: usize,
    count: usize,
) -> Delivery {
    let services: Vec<Service> = (0..instances)
        .map(|_| {
            Service::start(&[
                ("DATABASE_URL", url),
                ("CLOVER_AUTH", "token"),
                ("CLOVER_MERCHANT_ID", fake_clover::MERCHANT_ID),
                ("CLOVER_API_TOKEN", fake_clover::API_TOKEN),
                ("CLOVER_API_BASE_URL", &fake.base_url()),
            ])
            .0
        })
        .collect();
    let before = fake.requests().len();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let posts = (0..count).map(|n| {
        let client = client.clone();
        let url = format!(
            "http://127.0.0.1:{}/api/signups",
            services[n % instances].port
        );
        // New to the fake Clover, which keeps every earlier phase's customers: a known
        // email would be found, not created, and cost one request instead of two.
        let email = format!("backlog{instances}-{n}@example.com");
        async move { post_signup(&client, &url, &email).await }
    });
    futures_util::future::join_all(posts).await;
    // Every instance counts the shared queue; one is asked. Two requests a signup at
    // Clover's pace, three times over, is long enough to mean the drain is stuck.
    let patience =
        Duration::from_secs_f64(3.0 * 2.0 * count as f64 / CLOVER_REQUESTS_PER_SECOND + 30.0);
    let status_url = format!("http://127.0.0.1:{}/admin/status.json", services[0].port);
    loop {
        let status: serde_json::Value = client
            .get(&status_url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("status JSON");
        if status["queue"]["delivered"].as_u64() == Some(count as u64) {
            break;
        }
        assert_eq!(status["queue"]["failed"], 0, "deliveries failed: {status}");
        assert!(
            started.elapsed() < patience,
            "{count} signups not delivered by {instances} instances in {patience:?}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drain = started.elapsed();
    drop(services);
    delivered(fake, before, drain)
}

/// Posts one signup to the JSON API at `url`, which must take it.
async fn post_signup(client: &reqwest::Client, url: &str, email: &str) {
    let response = client
        .post(url)
        .json(&serde_json::json!({
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": email,
        }))
        .send()
        .await
        .expect("post a signup");
    assert_eq!(response.status(), 202, "a signup was refused");
}
