//! The PostgreSQL backend (`serve --database postgres://…`), for several instances sharing one
//! store.
//!
//! tokio-postgres rather than the blocking `postgres` crate, which runs its own runtime and panics
//! when called from inside tokio (every handler). The connection is driven by a thread of its own
//! with a small current-thread runtime; the store's callers wait on the client's futures with a
//! plain executor, so a query never needs — or blocks — the server's runtime. Calls stay
//! synchronous like SQLite's; a lost connection is made again at the next call.

use std::cell::RefCell;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use futures_executor::block_on;
use futures_util::StreamExt;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{AsyncMessage, Client, Config, GenericClient, NoTls, Statement};

use super::sql::{Conn, DbError, Row, Value};
use super::{StoreError, StoreResult};

/// The schema's history; a new migration is appended here and as a SQLite twin in `migrations/`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/001_schema.sql"),
    include_str!("../../migrations/postgres/002_instances.sql"),
];
/// Held while migrating, so that instances starting together migrate once.
const MIGRATION_LOCK: i64 = 0x736c_6970_7761_7901;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Postgres {
    config: Config,
    connection: Mutex<Connection>,
}

/// The client, and the statements prepared on its connection: each query is parsed once per
/// connection, then only bound and run (one round trip, not two).
struct Connection {
    client: Client,
    statements: Statements,
}

type Statements = RefCell<HashMap<String, Statement>>;

impl Postgres {
    pub fn open(url: &str) -> StoreResult<Self> {
        let what = describe_url(url);
        let opened = |source: DbError| StoreError::Open { what: what.clone(), source };
        let mut config = Config::from_str(url).map_err(|e| opened(e.into()))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let mut client = connect(&config).map_err(opened)?;
        migrate(&mut client).map_err(|source| StoreError::Migrate { what: what.clone(), source: Box::new(source) })?;
        Ok(Postgres { config, connection: Mutex::new(Connection { client, statements: Statements::default() }) })
    }

    /// The connection, made again if it was lost (a PostgreSQL restart, a failover).
    fn connection(&self) -> Result<MutexGuard<'_, Connection>, DbError> {
        let mut connection = self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if connection.client.is_closed() {
            *connection = Connection { client: connect(&self.config)?, statements: Statements::default() };
            tracing::warn!("connected to PostgreSQL again (app locks the lost connection held are gone)");
        }
        Ok(connection)
    }

    pub fn with<R>(&self, work: impl FnOnce(&dyn Conn) -> Result<R, DbError>) -> Result<R, DbError> {
        let connection = self.connection()?;
        work(&Pg { client: &connection.client, statements: &connection.statements })
    }

    pub fn transaction<R>(&self, work: impl FnOnce(&dyn Conn) -> Result<R, DbError>) -> Result<R, DbError> {
        let mut connection = self.connection()?;
        let Connection { client, statements } = &mut *connection;
        let tx = block_on(client.transaction())?;
        // On an error the transaction is dropped, which rolls it back.
        let result = work(&Pg { client: &tx, statements })?;
        block_on(tx.commit())?;
        Ok(result)
    }
}

impl Postgres {
    /// `LISTEN`s on `channel` on a connection of its own, made again whenever it is lost;
    /// notifications arrive as `Some(payload)`, a new connection as `None`. The thread ends when
    /// the receiver is dropped.
    pub fn listen(&self, channel: &'static str) -> UnboundedReceiver<Option<String>> {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let config = self.config.clone();
        let spawned = std::thread::Builder::new().name("slipway-listen".into()).spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            let Ok(runtime) = runtime else { return tracing::error!("LISTEN: cannot start its runtime") };
            runtime.block_on(listen_forever(config, channel, sender));
        });
        if let Err(e) = spawned {
            tracing::error!("LISTEN: cannot start its thread: {e}");
        }
        receiver
    }
}

async fn listen_forever(config: Config, channel: &str, sender: UnboundedSender<Option<String>>) {
    let mut first = true;
    while !sender.is_closed() {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let forward = sender.clone();
                let messages = tokio::spawn(async move {
                    let mut messages = std::pin::pin!(futures_util::stream::poll_fn(|cx| connection.poll_message(cx)));
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(AsyncMessage::Notification(n))
                                if forward.send(Some(n.payload().to_string())).is_err() =>
                            {
                                break
                            }
                            Ok(_) => {}
                            Err(e) => return tracing::warn!("LISTEN: the connection ended: {}", DbError::from(e)),
                        }
                    }
                });
                let listening = client.batch_execute(&format!("LISTEN {channel}")).await;
                match listening {
                    Ok(()) if !first => drop(sender.send(None)),
                    Ok(()) => first = false,
                    Err(e) => {
                        tracing::warn!("LISTEN {channel}: {e}");
                        // Ends the connection, and so the wait below: try again.
                        drop(client);
                    }
                }
                let _ = messages.await;
            }
            Err(e) => tracing::warn!("LISTEN: cannot connect: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `postgres://user@host:port/db` without its password, for messages.
pub fn describe_url(url: &str) -> String {
    match Config::from_str(url) {
        Ok(config) => {
            let hosts: Vec<String> = config
                .get_hosts()
                .iter()
                .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
                .map(|(host, port)| match host {
                    tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                    tokio_postgres::config::Host::Unix(path) => format!("{}:{port}", path.display()),
                })
                .collect();
            let user = config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
            format!("postgres://{user}{}/{}", hosts.join(","), config.get_dbname().unwrap_or(""))
        }
        Err(_) => "the PostgreSQL URL given (not shown: it may hold a password)".to_string(),
    }
}

/// Connects, and drives the connection on a thread of its own until it closes.
fn connect(config: &Config) -> Result<Client, DbError> {
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    let config = config.clone();
    let spawned = std::thread::Builder::new().name("slipway-postgres".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => return drop(sender.send(Err(DbError::Connection(format!("cannot start its runtime: {e}"))))),
        };
        runtime.block_on(async move {
            match config.connect(NoTls).await {
                Ok((client, connection)) => {
                    let _ = sender.send(Ok(client));
                    if let Err(e) = connection.await {
                        tracing::warn!("the PostgreSQL connection ended: {}", DbError::from(e));
                    }
                }
                Err(e) => drop(sender.send(Err(e.into()))),
            }
        });
    });
    spawned.map_err(|e| DbError::Connection(format!("cannot start its thread: {e}")))?;
    receiver.recv().map_err(|_| DbError::Connection("its thread ended".into()))?
}

fn migrate(client: &mut Client) -> Result<(), DbError> {
    let tx = block_on(client.transaction())?;
    block_on(tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]))?;
    block_on(tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS slipway_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
    ))?;
    let applied: i64 = block_on(tx.query_one("SELECT COALESCE(MAX(version), 0) FROM slipway_migrations", &[]))?.get(0);
    if applied > MIGRATIONS.len() as i64 {
        return Err(DbError::Schema(format!(
            "the database's schema is version {applied}, newer than this slipway knows ({}): upgrade slipway",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        block_on(tx.batch_execute(sql))?;
        let version = index as i64 + 1;
        block_on(tx.execute(
            "INSERT INTO slipway_migrations (version, applied_at) VALUES ($1, $2)",
            &[&version, &super::now()],
        ))?;
    }
    block_on(tx.commit())?;
    Ok(())
}

/// A client or a transaction, with the connection's prepared statements.
struct Pg<'c, C> {
    client: &'c C,
    statements: &'c Statements,
}

impl<C: GenericClient> Pg<'_, C> {
    /// `sql`, prepared on this connection (once).
    fn statement(&self, sql: &str) -> Result<Statement, DbError> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let statement = block_on(self.client.prepare(&numbered(sql)))?;
        self.statements.borrow_mut().insert(sql.to_string(), statement.clone());
        Ok(statement)
    }
}

impl<C: GenericClient> Conn for Pg<'_, C> {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        Ok(block_on(self.client.execute(&self.statement(sql)?, &references(params)))?)
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let rows = block_on(self.client.query(&self.statement(sql)?, &references(params)))?;
        rows.iter().map(row_of).collect()
    }
}

/// `?1` as PostgreSQL spells it: `$1`. (No query here has a `?` in a literal.)
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        let before_digit = chars.peek().is_some_and(char::is_ascii_digit);
        out.push(if c == '?' && before_digit { '$' } else { c });
    }
    out
}

fn references(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

fn row_of(row: &tokio_postgres::Row) -> Result<Row, DbError> {
    let value = |column: usize| -> Result<Value, tokio_postgres::Error> {
        Ok(match *row.columns()[column].type_() {
            Type::INT8 => row.try_get::<_, Option<i64>>(column)?.into(),
            Type::INT4 => row.try_get::<_, Option<i32>>(column)?.into(),
            Type::INT2 => row.try_get::<_, Option<i16>>(column)?.map(i32::from).into(),
            Type::BOOL => row.try_get::<_, Option<bool>>(column)?.into(),
            _ => row.try_get::<_, Option<String>>(column)?.into(),
        })
    };
    (0..row.len()).map(|column| value(column).map_err(DbError::from)).collect::<Result<_, _>>().map(Row)
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ => Err(format!("an integer does not fit a column of type {ty}").into()),
            },
            Value::Text(text) if <&str as ToSql>::accepts(ty) => text.to_sql(ty, out),
            Value::Text(_) => Err(format!("text does not fit a column of type {ty}").into()),
        }
    }

    /// The value fits the column's type or says why not in `to_sql`.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_the_postgres_way() {
        assert_eq!(numbered("SELECT a FROM t WHERE b = ?1 AND c = ?12"), "SELECT a FROM t WHERE b = $1 AND c = $12");
    }

    #[test]
    fn urls_are_described_without_their_password() {
        let described = describe_url("postgres://slipway:hunter2@db.internal:6543/apps");
        assert_eq!(described, "postgres://slipway@db.internal:6543/apps");
        assert!(!describe_url("postgres://x:hunter2@[bad").contains("hunter2"));
    }
}
