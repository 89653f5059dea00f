//! `fieldcrew`: drive a crew device from a terminal, or run the demo. See `fieldcrew --help`.

use std::process::ExitCode;

use clap::Parser;
use fieldcrew_cli::cli::{Cli, run};
use fieldcrew_cli::error::EXIT_NEEDS_CONFIRMATION;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.exit == EXIT_NEEDS_CONFIRMATION {
                if json {
                    let body = serde_json::json!({ "needs_confirmation": e.warnings });
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&body).unwrap_or_default()
                    );
                } else {
                    let mut t = fieldcrew_cli::output::table(&[
                        "warning",
                        "register",
                        "message",
                        "confirm with",
                    ]);
                    for w in &e.warnings {
                        t.add_row(vec![
                            w.code.to_string(),
                            w.register.to_string(),
                            w.message.clone(),
                            format!("--confirm '{}:{}:REASON'", w.code, w.register),
                        ]);
                    }
                    println!("{t}");
                }
            }
            eprintln!("fieldcrew: {e}");
            ExitCode::from(e.exit)
        }
    }
}
