//! The operator's commands, on the same database as `serve` (`--data-dir`, `--db`):
//! `more-node tenant create|list`, `more-node apikey create|list|revoke` and
//! `more-node audit export|verify|prune`.

use std::io::Write;
use std::path::PathBuf;

use crate::audit;
use crate::auth::{api_keys, Role};
use crate::db::Db;
use crate::settings::Settings;

/// Where the metadata database is: the options of `serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// The node's data directory (its default database is `DIR/more.db`).
    #[arg(long, env = "MORE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Metadata database URL, as given to `serve` (default: SQLite in the data directory).
    #[arg(long, env = "MORE_DB")]
    pub db: Option<String>,
}

impl DatabaseArgs {
    async fn open(&self) -> anyhow::Result<Db> {
        let settings = Settings {
            data_dir: self.data_dir.clone(),
            db_url: self.db.clone(),
            ..Settings::default()
        };
        let db = Db::connect(&settings.db_url()?).await?;
        if audit::prepare(&db, "cli").await? {
            eprintln!("warning: {}", audit::TRIGGERS_MISSING);
        }
        Ok(db)
    }
}

/// `more-node tenant ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum TenantCommand {
    /// Create a tenant (a hospital, a research group): it owns datasets, models and jobs.
    Create {
        /// 1 to 64 of a-z, 0-9, '-', '_', '.'.
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List the tenants.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// `more-node apikey ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum ApiKeyCommand {
    /// Make an API key; it is printed once, alone on the last line of the output (only its hash
    /// is stored).
    Create {
        /// The tenant it acts for.
        #[arg(long)]
        tenant: String,
        /// viewer (read, predict), trainer (+ datasets, models, jobs) or admin (+ keys, audit).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List keys (ids, roles, revocations; never the keys).
    List {
        /// Only this tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke a key by its id: requests with it get 401 from then on.
    Revoke {
        /// The key's id (from `create` or `list`).
        id: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// `more-node audit export`: the audit log as JSON Lines on standard output, oldest first.
#[derive(clap::Args, Debug, Clone)]
pub struct AuditExportArgs {
    /// Only this tenant's entries.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only entries from this time on (RFC 3339, e.g. 2026-12-01T00:00:00Z).
    #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
    pub since: Option<std::time::SystemTime>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `more-node audit verify`: checks the hash chain; prints the rows verified and the head, or
/// the first broken link (and exits non-zero).
#[derive(clap::Args, Debug, Clone)]
pub struct AuditVerifyArgs {
    /// A head noted earlier (`SEQ:HASH`, from the node's `audit head` log line or an earlier
    /// verify): the row at SEQ must still have that hash (catches a rewrite of the whole chain
    /// after it).
    #[arg(long, value_parser = audit::verify::parse_anchor)]
    pub anchor: Option<audit::store::Head>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `more-node audit prune`: removes the rows from before a time, leaving a checkpoint row that
/// keeps the rest verifiable.
#[derive(clap::Args, Debug, Clone)]
pub struct AuditPruneArgs {
    /// Remove the rows from before this time (RFC 3339, e.g. 2026-01-01T00:00:00Z): the
    /// chain's oldest rows up to the first row at or after it.
    #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
    pub before: std::time::SystemTime,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

fn parse_role(name: &str) -> Result<Role, String> {
    Role::parse(name).ok_or_else(|| format!("{name:?} is not viewer, trainer or admin"))
}

fn block_on<T>(work: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(work)
}

/// Runs a `tenant` command.
///
/// # Errors
/// When the database cannot be opened, or the tenant is malformed or exists.
pub fn tenant(command: TenantCommand) -> anyhow::Result<()> {
    block_on(async move {
        match command {
            TenantCommand::Create { name, database } => {
                api_keys::create_tenant(&database.open().await?, &name).await?;
                println!("created tenant {name}");
            }
            TenantCommand::List { database } => {
                for name in api_keys::tenants(&database.open().await?).await? {
                    println!("{name}");
                }
            }
        }
        Ok(())
    })
}

/// Runs an `apikey` command.
///
/// # Errors
/// When the database cannot be opened, or the tenant or key does not exist.
pub fn apikey(command: ApiKeyCommand) -> anyhow::Result<()> {
    block_on(async move {
        match command {
            ApiKeyCommand::Create {
                tenant,
                role,
                database,
            } => {
                let new = api_keys::create_key(&database.open().await?, &tenant, role).await?;
                println!(
                    "API key {} for tenant {} ({}); shown once, keep it now:",
                    new.info.id,
                    tenant,
                    role.as_str()
                );
                println!("{}", new.key);
            }
            ApiKeyCommand::List { tenant, database } => {
                let db = database.open().await?;
                for k in api_keys::keys(&db, tenant.as_deref()).await? {
                    let state = k
                        .revoked_at
                        .map_or("active".into(), |t| format!("revoked {t}"));
                    println!("{}\t{}\t{}\t{}", k.id, k.tenant, k.role.as_str(), state);
                }
            }
            ApiKeyCommand::Revoke { id, database } => {
                let k = api_keys::revoke_key(&database.open().await?, None, &id).await?;
                println!("revoked API key {} of tenant {}", k.id, k.tenant);
            }
        }
        Ok(())
    })
}

/// Runs `audit export`.
///
/// # Errors
/// When the database cannot be opened or standard output written.
pub fn audit_export(args: AuditExportArgs) -> anyhow::Result<()> {
    block_on(async move {
        let db = args.database.open().await?;
        let entries = audit::export(&db, args.tenant.as_deref(), args.since).await?;
        let mut out = std::io::stdout().lock();
        for entry in entries {
            serde_json::to_writer(&mut out, &entry)?;
            writeln!(out)?;
        }
        Ok(())
    })
}

/// Runs `audit verify`.
///
/// # Errors
/// When the chain is broken (after printing where), or the database cannot be read.
pub fn audit_verify(args: AuditVerifyArgs) -> anyhow::Result<()> {
    block_on(async move {
        let db = args.database.open().await?;
        let report = audit::verify::verify(&db, args.anchor.as_ref()).await?;
        match report.problem {
            None => {
                println!(
                    "audit log intact: {} rows verified (seq {} to {}); head {}:{}",
                    report.rows,
                    report.first_seq.unwrap_or(0),
                    report.head.seq,
                    report.head.seq,
                    report.head.hash
                );
                Ok(())
            }
            Some(p) => {
                let at = p
                    .seq
                    .map_or("a row without seq".into(), |s| format!("seq {s}"));
                println!(
                    "audit log BROKEN at {at}: {}: {} ({} rows verified before it)",
                    p.breakage.as_str(),
                    p.message,
                    report.rows
                );
                anyhow::bail!(
                    "the audit chain is broken at {at} ({})",
                    p.breakage.as_str()
                )
            }
        }
    })
}

/// Runs `audit prune`.
///
/// # Errors
/// When the chain does not verify (nothing removed), or the database refuses.
pub fn audit_prune(args: AuditPruneArgs) -> anyhow::Result<()> {
    block_on(async move {
        let db = args.database.open().await?;
        let before = args
            .before
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        let pruned = audit::prune::prune(&db, before, |detail, rows| audit::chain::Fields {
            count: rows,
            ..audit::own_row(
                "cli",
                audit::chain::Kind::Checkpoint,
                "CLI",
                "audit prune",
                detail,
            )
        })
        .await?;
        match pruned.checkpoint {
            Some(c) => println!(
                "pruned {} rows (through seq {}); checkpoint written",
                c.pruned_rows, c.pruned_through_seq
            ),
            None => println!("nothing to prune"),
        }
        Ok(())
    })
}
