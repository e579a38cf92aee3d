//! The first stage of `genot fit --config FILE.toml`: the file's text parsed as a TOML
//! table, each key with its value as one of the kinds a flag takes (the CLI then matches
//! the keys against the flags of `genot fit` and reads each value into the settings
//! schema, `genot::FitSettings`, with serde).

use thiserror::Error;

/// A value of the config file, as the kinds a command-line flag takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Str(String),
    Int(i64),
    Float(f64),
    /// An array, a table or a date: no flag takes one.
    Other,
}

/// One `key = value` line of the file (top-level keys, sorted by key).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub value: Value,
    /// The value as TOML writes it (`"cubic"`, `-5`), for messages.
    pub shown: String,
}

/// What is wrong with a config file. The text completes "config file '<path>' ...".
#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    #[error("is not UTF-8 text")]
    NotText,
    #[error("is not valid TOML: {0}")]
    Toml(String),
}

/// Parses the text of a config file into its entries.
pub fn entries(text: &str) -> Result<Vec<Entry>, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Toml(e.to_string()))?;
    Ok(table
        .into_iter()
        .map(|(key, v)| {
            let shown = v.to_string();
            let value = match v {
                toml::Value::Boolean(b) => Value::Bool(b),
                toml::Value::String(s) => Value::Str(s),
                toml::Value::Integer(i) => Value::Int(i),
                toml::Value::Float(f) => Value::Float(f),
                _ => Value::Other,
            };
            Entry { key, value, shown }
        })
        .collect())
}

/// [`entries`] of a file's bytes (which must be UTF-8).
pub fn entries_of_bytes(bytes: &[u8]) -> Result<Vec<Entry>, ConfigError> {
    entries(std::str::from_utf8(bytes).map_err(|_| ConfigError::NotText)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_sorted_and_typed() {
        let e = entries("lr = 0.001\njoint = true\nkind = \"cubic\"\nn = -5\nx = [1]\n").unwrap();
        let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["joint", "kind", "lr", "n", "x"]);
        assert_eq!(e[0].value, Value::Bool(true));
        assert_eq!(e[1].value, Value::Str("cubic".into()));
        assert_eq!(e[1].shown, "\"cubic\"");
        assert_eq!(e[2].value, Value::Float(0.001));
        assert_eq!(e[3].value, Value::Int(-5));
        assert_eq!(e[4].value, Value::Other);
        assert!(matches!(entries("lr = "), Err(ConfigError::Toml(_))));
        assert_eq!(entries_of_bytes(b"\xff"), Err(ConfigError::NotText));
    }
}
