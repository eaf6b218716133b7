//! `deploy`: plan and run the tasks of a `deploy.toml`.
//!
//! A thin binary: arguments become settings (clap), settings become library
//! objects (deploy-core), and `main` maps the result to a documented exit
//! code. See `deploy --help`.

mod adhoc;
mod approve;
mod args;
mod backups;
mod ci;
mod commands;
mod completions;
mod discover;
mod exit;
mod init;
mod interactive;
mod locking;
mod logs;
mod output;
mod progress;
mod releases;
mod rollback;
mod status;
mod targets;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
    output::set_colour(cli.color);
    raise_open_file_limit();
    let code = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            let code = runtime.block_on(commands::run(cli));
            // Not waiting for blocking reads still in flight (stdin, under
            // `deploy exec -i`): every task of the command has ended.
            runtime.shutdown_background();
            code
        }
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            exit::FAILURE
        }
    };
    std::process::ExitCode::from(code)
}

/// One SSH connection per host holds a socket: lift the soft limit on open
/// files to the hard one so thousands of hosts fit.
fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
