//! `fieldcrew-server`: run the server, or administer its data directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use fieldcrew_server::{Caller, Capacity, Crew, Member, Role, SqliteStorage, Storage, issue_token};

#[derive(Parser)]
#[command(
    name = "fieldcrew-server",
    version,
    about = "fieldcrew reference sync and back-office server"
)]
struct Cli {
    /// The data directory (holds the SQLite database).
    #[arg(
        long,
        global = true,
        default_value = "./fieldcrew-data",
        env = "FIELDCREW_DATA"
    )]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API: over HTTPS with --tls-cert and --tls-key, else plain HTTP (meant for
    /// loopback, or behind a TLS-terminating proxy; a warning is logged otherwise).
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// PEM certificate chain: the server's certificate first, then any intermediates.
        #[arg(long, requires = "tls_key", env = "FIELDCREW_TLS_CERT")]
        tls_cert: Option<PathBuf>,
        /// PEM private key of the certificate (PKCS#8, PKCS#1 or SEC1).
        #[arg(long, requires = "tls_cert", env = "FIELDCREW_TLS_KEY")]
        tls_key: Option<PathBuf>,
    },
    /// Add a crew with its daily capacity.
    AddCrew {
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 6)]
        surveys: u32,
        #[arg(long, default_value_t = 8)]
        installs: u32,
        #[arg(long, default_value_t = 10)]
        checks: u32,
    },
    /// Add a member: a crew member (with --crew), a dispatcher or an admin.
    AddMember {
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "crew")]
        role: String,
        #[arg(long)]
        crew: Option<String>,
    },
    /// Issue a token for a member's device; prints it once.
    IssueToken {
        member: String,
        #[arg(long)]
        device: String,
        #[arg(long)]
        expires_at: Option<DateTime<Utc>>,
    },
    /// Revoke a token by its id.
    RevokeToken { token_id: String },
    /// List crews.
    Crews,
    /// Import orders from a JSON file (`{"orders": [...]}`, as `POST /v1/office/orders`) or a
    /// CSV file with a header row (as `POST /v1/office/orders/import`, see docs/sync-protocol.md).
    ImportOrders {
        file: PathBuf,
        /// Read the file as CSV (the default for a `.csv` file name).
        #[arg(long)]
        csv: bool,
        /// The member recorded as creating the orders (a dispatcher or an admin).
        #[arg(long, default_value = "admin")]
        by: String,
    },
}

fn run(cli: Cli) -> Result<(), String> {
    let storage = SqliteStorage::open(&cli.data).map_err(|e| e.to_string())?;
    match cli.command {
        Command::Serve {
            listen,
            tls_cert,
            tls_key,
        } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info".into()),
                )
                .init();
            // A missing or unusable certificate stops start-up, before anything listens.
            let tls = match (&tls_cert, &tls_key) {
                (Some(cert), Some(key)) => Some(
                    fieldcrew_server::ServerTls::from_pem_files(cert, key)
                        .map_err(|e| format!("TLS: {e}"))?,
                ),
                _ => None,
            };
            if tls.is_none() && !listen.ip().is_loopback() {
                tracing::warn!(
                    %listen,
                    "serving plain HTTP on a non-loopback address: tokens and customer data \
                     cross the network unencrypted; give --tls-cert and --tls-key, or put a \
                     TLS-terminating proxy in front"
                );
            }
            let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .map_err(|e| e.to_string())?;
                let scheme = if tls.is_some() { "https" } else { "http" };
                // Printed so scripts and tests can serve on port 0 and learn the address.
                match listener.local_addr() {
                    Ok(addr) => println!("listening on {scheme}://{addr}"),
                    Err(e) => return Err(e.to_string()),
                }
                tracing::info!(%listen, tls = tls.is_some(), "serving");
                let photos = fieldcrew_server::photos::PhotoBlobs::open(&cli.data)
                    .map_err(|e| e.to_string())?;
                let shutdown = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                let (storage, photos) = (Arc::new(storage), Arc::new(photos));
                match tls {
                    Some(tls) => {
                        fieldcrew_server::serve_tls(listener, tls, storage, photos, shutdown).await
                    }
                    None => fieldcrew_server::serve(listener, storage, photos, shutdown).await,
                }
                .map_err(|e| e.to_string())
            })
        }
        Command::AddCrew {
            id,
            name,
            surveys,
            installs,
            checks,
        } => storage
            .add_crew(&Crew {
                id,
                name,
                capacity: Capacity {
                    surveys,
                    installs,
                    checks,
                },
            })
            .map_err(|e| e.to_string()),
        Command::AddMember {
            id,
            name,
            role,
            crew,
        } => {
            let role: Role = role
                .parse()
                .map_err(|_| "role: crew, dispatcher or admin".to_owned())?;
            storage
                .add_member(&Member {
                    id,
                    name,
                    crew_id: crew,
                    role,
                })
                .map_err(|e| e.to_string())
        }
        Command::IssueToken {
            member,
            device,
            expires_at,
        } => {
            let t =
                issue_token(&storage, &member, &device, expires_at).map_err(|e| e.to_string())?;
            println!("token id: {}\ntoken:    {}", t.token_id, t.token);
            Ok(())
        }
        Command::RevokeToken { token_id } => match storage.revoke_token(&token_id, Utc::now()) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!("no token {token_id}")),
            Err(e) => Err(e.to_string()),
        },
        Command::ImportOrders { file, csv, by } => {
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let is_csv = csv
                || file
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
            let orders = fieldcrew_server::api::parse_import(&bytes.into(), is_csv)
                .map_err(|e| e.to_string())?;
            let caller = Caller {
                member_id: by,
                crew_id: None,
                role: Role::Admin,
                device: "fieldcrew-server import-orders".into(),
            };
            let written = storage
                .create_orders(&caller, orders)
                .map_err(|e| e.to_string())?;
            for w in &written {
                for warning in &w.warnings {
                    println!("{}\twarning: {warning}", w.order.number);
                }
            }
            println!("imported {} order(s)", written.len());
            Ok(())
        }
        Command::Crews => {
            for c in storage.crews().map_err(|e| e.to_string())? {
                println!(
                    "{}\t{}\tsurveys {}\tinstalls {}\tchecks {}",
                    c.id, c.name, c.capacity.surveys, c.capacity.installs, c.capacity.checks
                );
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fieldcrew-server: {e}");
            ExitCode::FAILURE
        }
    }
}
