//! A small builder for the listing queries, whose where-clauses depend on the filter.
//!
//! SQL text is only ever appended from `&'static str` fragments; every value a caller
//! supplies travels as a bound parameter. That is what makes the final
//! [`sqlx::AssertSqlSafe`] true.

use sqlx::sqlite::{Sqlite, SqliteArguments};

/// A bound parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Text(String),
    Int(i64),
    Blob(Vec<u8>),
    Null,
}

impl From<Vec<u8>> for Value {
    fn from(value: Vec<u8>) -> Self {
        Value::Blob(value)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::Text(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::Text(value.to_owned())
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Int(value)
    }
}

/// The upper bound of a prefix range: every string that starts with `prefix` sorts in
/// `[prefix, upper)` under SQLite's binary collation. U+10FFFF is a noncharacter and the
/// largest code point, and UTF-8 keeps code-point order, so only strings continuing with
/// that noncharacter would fall outside.
fn prefix_upper(prefix: &str) -> String {
    let mut upper = String::with_capacity(prefix.len() + 4);
    upper.push_str(prefix);
    upper.push(char::MAX);
    upper
}

/// A query under construction: text with `?` placeholders and their values, in order.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    text: String,
    values: Vec<Value>,
}

impl Sql {
    /// Starts a query.
    pub(crate) fn new(text: &'static str) -> Self {
        Self {
            text: text.to_owned(),
            values: Vec::new(),
        }
    }

    /// Appends SQL text.
    pub(crate) fn push(&mut self, text: &'static str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.text.push('?');
        self.values.push(value.into());
        self
    }

    /// Appends ` and <column> in (?, ...)`; an empty list matches nothing.
    pub(crate) fn and_in<I, V>(&mut self, column: &'static str, values: I) -> &mut Self
    where
        I: IntoIterator<Item = V>,
        V: Into<Value>,
    {
        let mut values = values.into_iter().peekable();
        if values.peek().is_none() {
            return self.push(" and 0");
        }
        self.push(" and ").push(column).push(" in (");
        let mut first = true;
        for value in values {
            if !first {
                self.push(", ");
            }
            first = false;
            self.bind(value);
        }
        self.push(")")
    }

    /// Appends ` and <column> starts with prefix`, as an index-friendly range.
    pub(crate) fn and_prefix(&mut self, column: &'static str, prefix: &str) -> &mut Self {
        self.push(" and ").push(column).push(" >= ").bind(prefix);
        self.push(" and ")
            .push(column)
            .push(" < ")
            .bind(prefix_upper(prefix))
    }

    /// Appends ` and <column> lies under prefix in the taxonomy`, on whole levels
    /// (`a/b` is under `a` and `a/b`, not under `a/` or `a/bc`'s `a/b`).
    pub(crate) fn and_category_prefix(&mut self, column: &'static str, prefix: &str) -> &mut Self {
        let below = format!("{prefix}/");
        self.push(" and (").push(column).push(" = ").bind(prefix);
        self.push(" or (")
            .push(column)
            .push(" >= ")
            .bind(below.as_str());
        self.push(" and ")
            .push(column)
            .push(" < ")
            .bind(prefix_upper(&below))
            .push("))")
    }

    /// Returns the query with its parameters bound.
    pub(crate) fn build(self) -> sqlx::query::Query<'static, Sqlite, SqliteArguments> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(self.text));
        for value in self.values {
            query = match value {
                Value::Text(text) => query.bind(text),
                Value::Int(int) => query.bind(int),
                Value::Blob(bytes) => query.bind(bytes),
                Value::Null => query.bind(None::<i64>),
            };
        }
        query
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_and_placeholders_line_up() {
        let mut sql = Sql::new("select 1 where 1");
        sql.and_in("a", ["x", "y"])
            .and_in("b", Vec::<String>::new())
            .and_prefix("c", "32");
        assert_eq!(
            sql.text,
            "select 1 where 1 and a in (?, ?) and 0 and c >= ? and c < ?"
        );
        assert_eq!(sql.values.len(), 4);
        assert_eq!(sql.values[3], Value::Text(format!("32{}", char::MAX)));
    }

    #[test]
    fn prefix_upper_bounds_every_continuation() {
        let upper = prefix_upper("城乡建设/");
        for inside in ["城乡建设/", "城乡建设/物业管理", "城乡建设/\u{FFFF}"] {
            assert!(inside >= "城乡建设/" && inside < upper.as_str(), "{inside}");
        }
        for outside in ["城乡建设", "城乡建设0", "城乡建", "环境保护"] {
            assert!(
                !(outside >= "城乡建设/" && outside < upper.as_str()),
                "{outside}"
            );
        }
    }
}
