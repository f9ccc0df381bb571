use clover_signup::configuration::Settings;
use clover_signup::startup::Application;
use clover_signup::telemetry;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // A `.env` file is a convenience for local runs; real environment variables win.
    let dotenv = dotenvy::dotenv();
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

async fn run(settings: Settings) -> anyhow::Result<()> {
    let application = Application::build(settings).await?;
    application.run_until_stopped().await
}
