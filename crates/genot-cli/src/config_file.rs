//! `genot fit --config FILE.toml`: a TOML file whose keys are the long flags of
//! `genot fit` (`iterations = 2000`, `kind = "quadratic"`, `relative-epsilon = true`, `-`
//! or `_` alike). The file is deserialised into the same [`FitArgs`] (and so the same
//! [`genot::FitSettings`] schema) as the command line; a flag given on the command line
//! overrides the file's key, a switch included (`--joint=false`). A number may be written
//! as text and a whole number as a float, as on the command line. Every long flag but
//! `--config` is a key (`resume = true` too). Relative paths in the file are relative to
//! the file's folder. `genot fit` saves the settings it ran with as
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

use crate::spec::names_obs_column as is_obs;

/// The arguments as a JSON object with every key (`null` for an unset option).
fn object(args: &FitArgs) -> Result<Map<String, Json>, CliError> {
    match serde_json::to_value(args) {
        Ok(Json::Object(m)) => Ok(m),
        Ok(_) => Err(CliError::Run("the fit arguments are not a table".into())),
        Err(e) => Err(CliError::Input(format!(
            "cannot encode the fit arguments: {e}"
        ))),
    }
}

/// `args` (parsed from `matches`) with the settings of its `--config` file where the
/// command line gave none; without `--config`, `args` as they are.
pub fn resolve(args: FitArgs, matches: &ArgMatches) -> Result<FitArgs, CliError> {
    let Some(path) = args.config.clone() else {
        return Ok(args);
    };
    // The command line's own values must stand as JSON (a NaN does not): its checks then
    // name the flag, not a key of the file.
    let given = object(&args)?;
    if serde_json::from_value::<FitArgs>(Json::Object(given.clone())).is_err() {
        args.settings.validate().map_err(crate::fit::genot_error)?;
    }
    let shown = path.display();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::Input(format!("cannot read the config file '{shown}': {e}")))?;
    let entries = genot_io::config_toml::entries(&text)
        .map_err(|e| CliError::Input(format!("config file '{shown}' {e}")))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut merged = given.clone();
    let mut resume = args.resume;
    for genot_io::config_toml::Entry {
        key,
        value,
        shown: value_shown,
    } in &entries
    {
        let id = key.replace('-', "_");
        let bad = |why: String| {
            CliError::Input(format!(
                "config file '{shown}', key '{key}' = {value_shown}: {why}"
            ))
        };
        let from_cli = matches.value_source(&id) == Some(ValueSource::CommandLine);
        if id == "resume" {
            match value {
                Value::Bool(b) if !from_cli => resume = *b,
                Value::Bool(_) => {}
                _ => return Err(bad("a switch: true or false".into())),
            }
            continue;
        }
        if !merged.contains_key(&id) {
            return Err(CliError::Input(format!(
                "config file '{shown}': unknown key '{key}' (the keys are the long flags of `genot fit` but config, see `genot fit --help`)"
            )));
        }
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
        // As on the command line, a number may be written as text (`lr = "1e-3"`, a seed
        // above i64::MAX) and a whole number as a float (`iterations = 2e3`).
        let other = match value {
            Value::Str(s) => s.parse::<serde_json::Number>().ok().map(Json::Number),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(Json::from(*f as i64)),
            _ => None,
        };
        // The value is checked by the schema's own types and choices here, where the
        // message can name the file and the key.
        let probe = |json: &Json| -> Result<(), String> {
            let mut probe = given.clone();
            probe.insert(id.clone(), json.clone());
            serde_json::from_value::<FitArgs>(Json::Object(probe))
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let json = match (probe(&json), other) {
            (Ok(()), _) => json,
            (Err(e), Some(o)) => probe(&o).map(|()| o).map_err(|_| bad(e))?,
            (Err(e), None) => return Err(bad(e)),
        };
        if !from_cli {
            merged.insert(id, json);
        }
    }
    let mut out: FitArgs = serde_json::from_value(Json::Object(merged))
        .map_err(|e| CliError::Input(format!("config file '{shown}': {e}")))?;
    out.config = Some(path);
    out.resume = resume;
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
            // TOML integers are i64: a larger u64 (a seed) is written as text, which
            // `--config` reads back.
            Json::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => toml::Value::Integer(i),
                (None, Some(u)) => toml::Value::String(u.to_string()),
                (None, None) => toml::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
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
    use std::path::PathBuf;

    /// A config file `c.toml` holding `text`, in a folder of its own.
    fn config(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, text).unwrap();
        (dir, file)
    }

    #[test]
    fn file_settings_go_under_the_flags() {
        let (dir, file) = config(
            "iterations = 7\nrelative-epsilon = true\njoint = false\nsource = \"x.npy\"\nlr = 0.001\nscale_cost = 2\nsource-conditions = \"obs/batch\"\n",
        );
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
            a.source.as_ref().map(|s| s.path()),
            Some(dir.path().join("x.npy").as_path()),
            "relative to the file"
        );
        assert_eq!(
            a.target.as_ref().map(|s| s.to_string()),
            Some("y.npy".into()),
            "the command line's own path"
        );
        assert_eq!(
            a.source_conditions.as_ref().map(|s| s.labels()),
            Some(&crate::spec::Labels::Obs("batch".into())),
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
    fn numbers_as_text_and_whole_floats_read_as_on_the_command_line() {
        let (dir, file) = config(
            "lr = \"1e-3\"\niterations = 2e3\nseed = \"18446744073709551615\"\nresume = true\nsource-conditions = \"c.csv\"\n",
        );
        let a = parse(["--config", file.to_str().unwrap()]).unwrap();
        assert_eq!((a.settings.lr, a.settings.iterations), (1e-3, 2000));
        assert_eq!(a.settings.seed, u64::MAX);
        assert!(a.resume, "resume is a key too");
        // A seed above i64::MAX goes to fit.toml as text, and reads back.
        let text = super::effective(&a).unwrap();
        std::fs::write(&file, &text).unwrap();
        let b = parse(["--config", file.to_str().unwrap()]).unwrap();
        assert_eq!(b.settings, a.settings);
        // A file's half of a pair is checked with the command line's other half.
        let out = dir.path().join("m");
        let half = parse([
            "--config",
            file.to_str().unwrap(),
            "--source",
            "x.npy",
            "--target",
            "y.npy",
            "--out",
            out.to_str().unwrap(),
        ])
        .unwrap();
        let e = crate::fit::run(&half).unwrap_err().to_string();
        assert!(
            e.contains("--source-conditions and --target-conditions go together"),
            "{e}"
        );
        // The command line's own bad value is named as its flag, not as a key of the file.
        let e = parse(["--config", file.to_str().unwrap(), "--lr", "NaN"]).unwrap_err();
        assert!(e.to_string().starts_with("--lr must be > 0"), "{e}");
        // As the binary parses: a repeated flag takes its last value, negatives are values.
        let c = parse(["--config", file.to_str().unwrap(), "--lr", "1", "--lr", "2"]).unwrap();
        assert_eq!(c.settings.lr, 2.0);
        let d = parse(["--config", file.to_str().unwrap(), "--weight-decay", "-1"]).unwrap();
        assert_eq!(
            d.settings.weight_decay, -1.0,
            "a value, refused by the range check"
        );
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
        assert!(b.plot && b.source.as_ref().is_some_and(|p| p.path().is_absolute()));
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
