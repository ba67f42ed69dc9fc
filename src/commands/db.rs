use crate::cli::{DbArgs, DbCommand};

pub fn run(args: DbArgs) -> anyhow::Result<()> {
    match args.command {
        DbCommand::MigrateTo { url, data_dir } => {
            super::serve::init_tracing();
            let target = super::serve::database_location(&url)?;
            let copied = slipway_server::migrate_store(&data_dir, &target)?;
            for (table, rows) in copied.tables {
                println!("{table:<16} {rows} rows");
            }
            println!(
                "Copied the store into {url}. Serve with it: slipway serve --database URL (or SLIPWAY_DATABASE=URL)."
            );
            println!(
                "The SQLite file stays as it was, as a backup; slipway no longer reads it once served with --database."
            );
            Ok(())
        }
    }
}
