//! `genot fit --config FILE.toml`: a TOML file whose keys are the long flags of
//! `genot fit` (`iterations = 2000`, `kind = "quadratic"`, `relative-epsilon = true`, `-`
//! or `_` alike). The file is deserialised into the same [`FitArgs`] (and so the same
//! [`genot::FitSettings`] schema) as the command line; a flag given on the command line
//! overrides the file's key, a switch included (`--joint=false`). Relative paths in the
//! file are relative to the file's folder. `genot fit` saves the settings it ran with as
//! `OUT/fit.toml`, which `--config` reads back.

use crate::error::CliError;
use crate::fit::FitArgs;
use clap::parser::ValueSource;
use clap::ArgMatches;
use genot_io::config_toml::Value;
use serde_json::{Map, Value as Json};
use std::path::{Path, PathBuf};

/// The keys whose values are file paths.
const PATH_KEYS: &[&str] = &[
    "source",
    "target",
    "out",
    "source_shared",
    "target_shared",
    "source_conditions",
    "target_conditions",
];

/// `obs/COLUMN`: a column of the side's .h5ad file, not a path (a .csv in a folder
/// named obs stays a path).
fn is_obs(value: &str) -> bool {
    value.starts_with("obs/") && !value.ends_with(".csv")
}

/// The arguments as a JSON object with every key (`null` for an unset option).
fn object(args: &FitArgs) -> Result<Map<String, Json>, CliError> {
    match serde_json::to_value(args) {
        Ok(Json::Object(m)) => Ok(m),
        _ => Err(CliError::Run("cannot encode the fit arguments".into())),
    }
}

/// `args` (parsed from `matches`) with the settings of its `--config` file where the
/// command line gave none; without `--config`, `args` as they are.
pub fn resolve(args: FitArgs, matches: &ArgMatches) -> Result<FitArgs, CliError> {
    let Some(path) = args.config.clone() else {
        return Ok(args);
    };
    let shown = path.display();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::Input(format!("cannot read the config file '{shown}': {e}")))?;
    let entries = genot_io::config_toml::entries(&text)
        .map_err(|e| CliError::Input(format!("config file '{shown}' {e}")))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut merged = object(&args)?;
    for genot_io::config_toml::Entry {
        key,
        value,
        shown: value_shown,
    } in &entries
    {
        let id = key.replace('-', "_");
        if !merged.contains_key(&id) {
            return Err(CliError::Input(format!(
                "config file '{shown}': unknown key '{key}' (the keys are the long flags of `genot fit`, see `genot fit --help`)"
            )));
        }
        let bad = |why: String| {
            CliError::Input(format!(
                "config file '{shown}', key '{key}' = {value_shown}: {why}"
            ))
        };
        let json = match value {
            Value::Bool(b) => Json::Bool(*b),
            Value::Str(s) if PATH_KEYS.contains(&id.as_str()) && !is_obs(s) => {
                Json::String(base.join(s).display().to_string())
            }
            Value::Str(s) => Json::String(s.clone()),
            Value::Int(i) => Json::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(Json::Number)
                .ok_or_else(|| bad("not a finite number".into()))?,
            Value::Other => return Err(bad("must be a string, a number or true/false".into())),
        };
        // The value is checked by the schema's own types and choices here, where the
        // message can name the file and the key.
        let mut probe = object(&args)?;
        probe.insert(id.clone(), json.clone());
        serde_json::from_value::<FitArgs>(Json::Object(probe)).map_err(|e| bad(e.to_string()))?;
        if matches.value_source(&id) != Some(ValueSource::CommandLine) {
            merged.insert(id, json);
        }
    }
    let mut out: FitArgs = serde_json::from_value(Json::Object(merged))
        .map_err(|e| CliError::Input(format!("config file '{shown}': {e}")))?;
    out.config = Some(path);
    out.resume = args.resume;
    Ok(out)
}

/// The effective settings of a run as a TOML file that `--config` reads back: every
/// setting with its value (keys as the long flags), paths made absolute.
pub fn effective(args: &FitArgs) -> Result<String, CliError> {
    let mut table = toml::Table::new();
    for (key, value) in object(args)? {
        let value = match value {
            Json::Null => continue,
            Json::String(s) if PATH_KEYS.contains(&key.as_str()) && !is_obs(&s) => {
                let p = PathBuf::from(&s);
                toml::Value::String(std::path::absolute(&p).unwrap_or(p).display().to_string())
            }
            Json::String(s) => toml::Value::String(s),
            Json::Bool(b) => toml::Value::Boolean(b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => toml::Value::Integer(i),
                None => toml::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            _ => continue,
        };
        table.insert(key.replace('_', "-"), value);
    }
    toml::to_string(&table)
        .map(|t| format!("# The settings of `genot fit` for this model (`genot fit --config fit.toml` runs it again).\n{t}"))
        .map_err(|e| CliError::Run(format!("cannot write the effective settings: {e}")))
}

#[cfg(test)]
mod tests {
    use crate::fit::parse;
    use genot::FitSettings;

    #[test]
    fn file_settings_go_under_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "iterations = 7\nrelative-epsilon = true\njoint = false\nsource = \"x.npy\"\nlr = 0.001\nscale_cost = 2\nsource-conditions = \"obs/batch\"\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let a = parse(["--config", f, "--lr", "0.01", "--target", "y.npy"]).unwrap();
        let s = &a.settings;
        assert_eq!(
            (s.iterations, s.lr),
            (7, 0.01),
            "the flag overrides the file"
        );
        assert!(s.relative_epsilon && !s.joint);
        assert_eq!(s.scale_cost, genot_ot::geometry::ScaleCost::Value(2.0));
        assert_eq!(
            a.source,
            Some(dir.path().join("x.npy")),
            "relative to the file"
        );
        assert_eq!(
            a.target,
            Some("y.npy".into()),
            "the command line's own path"
        );
        assert_eq!(
            a.source_conditions,
            Some("obs/batch".into()),
            "a column, not a path"
        );
        // The rest is the schema's defaults, and a switch the file sets turns off here.
        let b = parse(["--config", f, "--relative-epsilon=false"]).unwrap();
        assert_eq!(
            b.settings,
            FitSettings {
                iterations: 7,
                lr: 0.001,
                scale_cost: genot_ot::geometry::ScaleCost::Value(2.0),
                ..FitSettings::default()
            }
        );
        assert_eq!(b.device, "cpu");
    }

    #[test]
    fn the_effective_settings_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let a = parse([
            "--source",
            "x.npy",
            "--target",
            "y.npy",
            "--out",
            "m",
            "--kind",
            "quadratic",
            "--epsilon",
            "0.02",
            "--ema",
            "0.99",
            "--joint",
            "--normalize",
            "none",
            "--plot",
        ])
        .unwrap();
        let text = super::effective(&a).unwrap();
        assert!(text.contains("time-frequencies = 128") && !text.contains("ot-batch-size"));
        let file = dir.path().join("fit.toml");
        std::fs::write(&file, &text).unwrap();
        let b = parse(["--config", file.to_str().unwrap()]).unwrap();
        assert_eq!(b.settings, a.settings);
        assert!(b.plot && b.source.as_ref().is_some_and(|p| p.is_absolute()));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        for (body, want) in [
            ("iteration = 7", "unknown key 'iteration'"),
            ("config = \"other.toml\"", "unknown key 'config'"),
            (
                "joint = 1",
                "key 'joint' = 1: invalid type: integer `1`, expected a boolean",
            ),
            ("lr = [1, 2]", "'lr' = [1, 2]: must be a string"),
            ("lr = nan", "'lr' = nan: not a finite number"),
            ("lr = ", "not valid TOML"),
            (
                "iterations = -5",
                "key 'iterations' = -5: invalid value: integer `-5`",
            ),
            (
                "kind = \"cubic\"",
                "key 'kind' = \"cubic\": unknown variant `cubic`",
            ),
            ("scale-cost = \"mode\"", "unknown scale-cost 'mode'"),
        ] {
            std::fs::write(&file, body).unwrap();
            let e = parse(["--config", file.to_str().unwrap()])
                .unwrap_err()
                .to_string();
            assert!(e.contains(want) && e.contains("c.toml"), "{body}: {e}");
        }
    }
}
