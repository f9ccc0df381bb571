use clover_signup::configuration::Settings;
use clover_signup::startup::Application;
use clover_signup::{check, telemetry};

const USAGE: &str = "usage: clover-signup          serve the signup form and deliver signups
       clover-signup check    check the configuration, the database and Clover, storing nothing
       clover-signup check --send-test
                              the same, and send a test message on every alert channel";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // A `.env` file is a convenience for local runs; real environment variables win.
    let dotenv = dotenvy::dotenv();
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match arguments
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {}
        ["check", rest @ ..] if rest.iter().all(|arg| *arg == "--send-test") => {
            let options = check::CheckOptions {
                send_test: !rest.is_empty(),
            };
            let report = check::run(|name| std::env::var(name).ok(), options).await;
            print!("{}", report.render());
            return exit_code(report.passed());
        }
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            return std::process::ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return std::process::ExitCode::from(2);
        }
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("clover-signup cannot start: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    telemetry::init(settings.log_format);
    if let Err(error) = dotenv
        && !error.not_found()
    {
        tracing::warn!(%error, "the .env file could not be read");
    }
    match run(settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("clover-signup stopped: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn exit_code(passed: bool) -> std::process::ExitCode {
    if passed {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let application = Application::build(settings).await?;
    application.run_until_stopped().await
}
