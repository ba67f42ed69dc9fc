//! The store's one query layer. Every query is written once, in the SQL that SQLite and
//! PostgreSQL share, with numbered parameters (`?1`, `?2`; the PostgreSQL backend spells them
//! `$1`, `$2`). Values are of three kinds — NULL, integer, text — because the schema uses no
//! others: integers are 64-bit in both, and times are RFC 3339 text.

use std::str::FromStr;

use time::OffsetDateTime;

use crate::app_name::AppName;

/// A parameter or a column's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

/// What a query or a decoding of its result failed with.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", postgres_message(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("cannot connect: {0}")]
    Connection(String),
    #[error("{0}")]
    Schema(String),
    #[error("column {column}: {message}")]
    Decode { column: usize, message: String },
}

/// What PostgreSQL said (tokio-postgres shows only `db error` for it), else the client's error.
fn postgres_message(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("PostgreSQL: {} (SQLSTATE {})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

/// A connection (or a transaction on one) of either backend.
pub trait Conn {
    /// Runs a statement; returns how many rows it changed.
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError>;
    /// Runs a query; returns its rows.
    fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError>;
}

impl dyn Conn + '_ {
    /// Every row, each made a `T`.
    pub fn rows<T>(
        &self,
        sql: &str,
        params: &[Value],
        map: impl Fn(&Row) -> Result<T, DbError>,
    ) -> Result<Vec<T>, DbError> {
        self.query(sql, params)?.iter().map(map).collect()
    }

    /// The first row, if any, made a `T`.
    pub fn row<T>(
        &self,
        sql: &str,
        params: &[Value],
        map: impl Fn(&Row) -> Result<T, DbError>,
    ) -> Result<Option<T>, DbError> {
        self.query(sql, params)?.first().map(map).transpose()
    }
}

/// One row of a result.
#[derive(Debug)]
pub struct Row(pub Vec<Value>);

impl Row {
    pub fn get<T: FromValue>(&self, column: usize) -> Result<T, DbError> {
        let value = self.0.get(column).ok_or_else(|| decode(column, "no such column"))?;
        T::from_value(value).map_err(|message| decode(column, message))
    }
}

fn decode(column: usize, message: impl ToString) -> DbError {
    DbError::Decode { column, message: message.to_string() }
}

/// A Rust value read from a column.
pub trait FromValue: Sized {
    fn from_value(value: &Value) -> Result<Self, String>;
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Int(i) => Ok(*i),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}

impl FromValue for i32 {
    fn from_value(value: &Value) -> Result<Self, String> {
        i64::from_value(value).and_then(|i| i32::try_from(i).map_err(|e| e.to_string()))
    }
}

impl FromValue for u32 {
    fn from_value(value: &Value) -> Result<Self, String> {
        i64::from_value(value).and_then(|i| u32::try_from(i).map_err(|e| e.to_string()))
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self, String> {
        i64::from_value(value).map(|i| i != 0)
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Text(text) => Ok(text.clone()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}

impl FromValue for OffsetDateTime {
    fn from_value(value: &Value) -> Result<Self, String> {
        let text = String::from_value(value)?;
        OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339).map_err(|e| e.to_string())
    }
}

impl FromValue for AppName {
    fn from_value(value: &Value) -> Result<Self, String> {
        AppName::parse(&String::from_value(value)?).map_err(|e| e.to_string())
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// Text columns holding one of an enum's values (`FromStr` names the unknown ones).
pub fn parse_text<T: FromStr<Err: ToString>>(value: &Value) -> Result<T, String> {
    String::from_value(value)?.parse().map_err(|e: T::Err| e.to_string())
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Text(text.to_string())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Text(text)
    }
}

impl From<&String> for Value {
    fn from(text: &String) -> Self {
        Value::Text(text.clone())
    }
}

impl From<&AppName> for Value {
    fn from(name: &AppName) -> Self {
        Value::from(name.as_str())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<&i64> for Value {
    fn from(i: &i64) -> Self {
        Value::Int(*i)
    }
}

impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::Int(i.into())
    }
}

impl From<u32> for Value {
    fn from(i: u32) -> Self {
        Value::Int(i.into())
    }
}

impl From<usize> for Value {
    fn from(i: usize) -> Self {
        Value::Int(i64::try_from(i).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Int(b.into())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(option: Option<T>) -> Self {
        option.map_or(Value::Null, Into::into)
    }
}

/// `values![a, b]`: a query's parameters.
macro_rules! values {
    ($($value:expr),* $(,)?) => {
        &[$($crate::store::sql::Value::from($value)),*]
    };
}
pub(crate) use values;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_decode_to_their_types_and_name_the_column_that_does_not() {
        let row = Row(vec![Value::Int(3), Value::Null, Value::Text("x".into()), Value::Int(1)]);
        assert_eq!(row.get::<i64>(0).unwrap(), 3);
        assert_eq!(row.get::<Option<String>>(1).unwrap(), None);
        assert!(row.get::<bool>(3).unwrap());
        assert_eq!(row.get::<i64>(2).unwrap_err().to_string(), "column 2: expected an integer, found Text(\"x\")");
        assert_eq!(row.get::<String>(9).unwrap_err().to_string(), "column 9: no such column");
    }
}
