//! `genot fit --config FILE.toml`: a TOML file whose keys are the long flags of
//! `genot fit` (`iterations = 2000`, `kind = "quadratic"`, `relative-epsilon = true`, `-`
//! or `_` alike). The file's settings go in front of the command line's own flags, so a
//! flag given on the command line overrides the file. Relative paths in the file are
//! relative to the file's folder. `genot fit` saves the settings it ran with as
//! `OUT/fit.toml`, which `--config` reads back.

use crate::error::CliError;
use clap::{ArgAction, Args, Command};
use genot_io::config_toml::Value;
use std::ffi::OsString;
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

/// The value of `--config` among the arguments of a subcommand, if any.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    None
}

/// `argv` (program name first) with the settings of a `fit --config FILE` inserted right
/// after `fit`; other commands and `fit` without `--config` come back unchanged.
pub fn expand(argv: Vec<OsString>) -> Result<Vec<OsString>, CliError> {
    let at = crate::global::subcommand_at(&argv);
    if argv.get(at).is_none_or(|a| a != "fit") {
        return Ok(argv);
    }
    let Some(path) = config_path(&argv[at + 1..]) else {
        return Ok(argv);
    };
    let shown = path.display();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::Input(format!("cannot read the config file '{shown}': {e}")))?;
    let entries = genot_io::config_toml::entries(&text)
        .map_err(|e| CliError::Input(format!("config file '{shown}' {e}")))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let fit = crate::fit::FitArgs::augment_args(Command::new("fit"));
    let mut inserted: Vec<OsString> = vec![];
    for genot_io::config_toml::Entry {
        key,
        value,
        shown: value_shown,
    } in &entries
    {
        let id = key.replace('-', "_");
        let arg = fit
            .get_arguments()
            .find(|a| a.get_id() == id.as_str() && a.get_long().is_some() && id != "config")
            .ok_or_else(|| {
                CliError::Input(format!(
                    "config file '{shown}': unknown key '{key}' (the keys are the long flags of `genot fit`, see `genot fit --help`)"
                ))
            })?;
        let flag = format!("--{}", arg.get_long().expect("long flags only"));
        let switch = matches!(arg.get_action(), ArgAction::SetTrue);
        let text = match value {
            Value::Bool(b) if switch => {
                if *b {
                    inserted.push(flag.into());
                }
                continue;
            }
            _ if switch => {
                return Err(CliError::Input(format!(
                    "config file '{shown}': '{key}' is a switch: true or false"
                )))
            }
            Value::Str(s) if PATH_KEYS.contains(&id.as_str()) && !is_obs(s) => {
                base.join(s).into_os_string()
            }
            Value::Str(s) => s.into(),
            Value::Int(i) => i.to_string().into(),
            Value::Float(f) => f.to_string().into(),
            _ => {
                return Err(CliError::Input(format!(
                    "config file '{shown}': '{key}' must be a string, a number or true/false"
                )))
            }
        };
        // The value is checked by the flag's own parser (type, range, choices) here, where
        // the message can name the file and the key.
        let probe = Command::new("fit").no_binary_name(true).arg(
            clap::Arg::new("value")
                .long("value")
                .value_name("V")
                .value_parser(arg.get_value_parser().clone())
                .action(ArgAction::Set),
        );
        let mut probed = OsString::from("--value=");
        probed.push(&text);
        if let Err(e) = probe.try_get_matches_from([probed]) {
            let text = e.to_string();
            let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
            let first = lines.next().unwrap_or("").trim_start_matches("error: ");
            let choices = lines.find(|l| l.starts_with("[possible values"));
            let why = format!(
                "{}{}",
                first.replace("'--value <V>'", &format!("'{flag}'")),
                choices.map(|c| format!(" {c}")).unwrap_or_default()
            );
            return Err(CliError::Input(format!(
                "config file '{shown}', key '{key}' = {value_shown}: {why}"
            )));
        }
        // `--flag=value`: a value that starts with '-' is still a value.
        let mut joined = OsString::from(format!("{flag}="));
        joined.push(&text);
        inserted.push(joined);
    }
    let mut out = argv[..=at].to_vec();
    out.extend(inserted);
    out.extend(argv[at + 1..].iter().cloned());
    Ok(out)
}

/// The effective settings of a run as a TOML file that `--config` reads back: every
/// setting with its value, paths made absolute.
pub fn effective(args: &crate::fit::FitArgs) -> Result<String, CliError> {
    let mut args = args.clone();
    for p in [
        Some(&mut args.source),
        Some(&mut args.target),
        Some(&mut args.out),
        args.source_shared.as_mut(),
        args.target_shared.as_mut(),
        args.source_conditions.as_mut(),
        args.target_conditions.as_mut(),
    ]
    .into_iter()
    .flatten()
    {
        if is_obs(&p.to_string_lossy()) {
            continue;
        }
        if let Ok(abs) = std::path::absolute(&*p) {
            *p = abs;
        }
    }
    toml::to_string(&args)
        .map(|t| format!("# The settings of `genot fit` for this model (`genot fit --config fit.toml` runs it again).\n{t}"))
        .map_err(|e| CliError::Run(format!("cannot write the effective settings: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn file_settings_go_before_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "iterations = 7\nrelative-epsilon = true\njoint = false\nsource = \"x.npy\"\nlr = 0.001\n",
        )
        .unwrap();
        let argv = os(&[
            "genot",
            "fit",
            "--config",
            file.to_str().unwrap(),
            "--lr",
            "0.01",
        ]);
        let out = expand(argv).unwrap();
        let text: Vec<String> = out.iter().map(|s| s.to_string_lossy().into()).collect();
        let x = dir.path().join("x.npy").display().to_string();
        // toml tables are sorted by key
        let source = format!("--source={x}");
        assert_eq!(
            text[..6],
            [
                "genot",
                "fit",
                "--iterations=7",
                "--lr=0.001",
                "--relative-epsilon",
                source.as_str()
            ]
        );
        assert_eq!(
            text[6..],
            ["--config", file.to_str().unwrap(), "--lr", "0.01"]
        );
        // After a global flag (`genot -q fit --config ...`) the file is read all the same.
        let quiet = expand(os(&[
            "genot",
            "-q",
            "fit",
            "--config",
            file.to_str().unwrap(),
        ]))
        .unwrap();
        let quiet: Vec<String> = quiet.iter().map(|s| s.to_string_lossy().into()).collect();
        assert_eq!(quiet[..4], ["genot", "-q", "fit", "--iterations=7"]);
        // genot, -q, fit, the file's four settings (`joint = false` inserts nothing) as
        // without -q, then --config FILE.
        assert_eq!(quiet[3..7], text[2..6]);
        assert_eq!(quiet[7..], ["--config", file.to_str().unwrap()]);
        // After a global option's value too.
        let mem = expand(os(&[
            "genot",
            "--max-memory",
            "16G",
            "fit",
            "--config",
            file.to_str().unwrap(),
        ]))
        .unwrap();
        assert_eq!(mem[4].to_string_lossy(), "--iterations=7");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        for (body, want) in [
            ("iteration = 7", "unknown key 'iteration'"),
            ("joint = 1", "'joint' is a switch"),
            ("lr = [1, 2]", "'lr' must be a string"),
            ("lr = ", "not valid TOML"),
            (
                "iterations = -5",
                "key 'iterations' = -5: invalid value '-5'",
            ),
            (
                "kind = \"cubic\"",
                "key 'kind' = \"cubic\": invalid value 'cubic'",
            ),
        ] {
            std::fs::write(&file, body).unwrap();
            let argv = os(&["genot", "fit", "--config", file.to_str().unwrap()]);
            let e = expand(argv).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("c.toml"), "{e}");
        }
        let argv = os(&["genot", "solve", "--config", "nope.toml"]);
        assert_eq!(expand(argv.clone()).unwrap(), argv);
    }
}
