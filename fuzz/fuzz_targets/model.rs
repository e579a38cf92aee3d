//! The model loader, `Genot::load` (manifest check, config.json, model.safetensors, the
//! networks built from them), on a model directory in which the fuzz input replaces one
//! file of a valid tiny model, or both. The first byte says which:
//!
//! - `mode & 3 == 0`: the rest is config.json (the weights are the valid model's);
//! - `1`: the rest is model.safetensors (the valid config);
//! - `2`: the rest is manifest.json (beside the valid files);
//! - `3`: config.json and model.safetensors, split at the first `\n--weights--\n`;
//! - `mode & 0x80`: a manifest that matches the files is written (modes 0, 1 and 3), so
//!   the input reaches the parsers past the checksum check.
//!
//! `GENOT_FUZZ_SEEDS=DIR` writes seed inputs (the valid model in each mode) into DIR.
#![no_main]

use burn::tensor::Device;
use genot::train::{make_config, Architecture};
use genot::{Genot, MatchingConfig, TrainConfig};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const SEP: &[u8] = b"\n--weights--\n";

struct Template {
    config: Vec<u8>,
    weights: Vec<u8>,
    dir: PathBuf,
}

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        genot::resources::set_memory_limit(Some(256 << 20));
        let source = ndarray::Array2::from_shape_fn((8, 2), |(i, j)| (i * 2 + j) as f32 / 8.0);
        let target = source.mapv(|v| v + 1.0);
        let data = genot::data::TrainingData::new(source, target);
        let arch = Architecture {
            hidden: 4,
            layers: 1,
            time_frequencies: 2,
            ..Default::default()
        };
        let config = make_config(
            &data,
            MatchingConfig::default(),
            TrainConfig::default(),
            arch,
        )
        .expect("a tiny config");
        let model = Genot::from_config(config, None, &Device::flex()).expect("a tiny model");
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let valid = base.join(format!("genot-fuzz-model-valid-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&valid);
        model.save(&valid).expect("saves");
        let config = std::fs::read(valid.join("config.json")).unwrap();
        let weights = std::fs::read(valid.join("model.safetensors")).unwrap();
        let _ = std::fs::remove_dir_all(&valid);
        if let Ok(seeds) = std::env::var("GENOT_FUZZ_SEEDS") {
            let seeds = PathBuf::from(seeds);
            std::fs::create_dir_all(&seeds).unwrap();
            let with = |mode: u8, body: &[u8]| [&[mode][..], body].concat();
            std::fs::write(seeds.join("config"), with(0x80, &config)).unwrap();
            std::fs::write(seeds.join("weights"), with(0x81, &weights)).unwrap();
            std::fs::write(
                seeds.join("manifest"),
                with(2, &manifest(&config, &weights)),
            )
            .unwrap();
            std::fs::write(
                seeds.join("both"),
                with(0x83, &[&config[..], SEP, &weights[..]].concat()),
            )
            .unwrap();
        }
        Template {
            config,
            weights,
            dir: base.join(format!("genot-fuzz-model-{}", std::process::id())),
        }
    })
}

fn entry(bytes: &[u8]) -> String {
    format!(
        "{{\"bytes\": {}, \"sha256\": \"{:x}\"}}",
        bytes.len(),
        Sha256::digest(bytes)
    )
}

/// A manifest that matches config.json and model.safetensors.
fn manifest(config: &[u8], weights: &[u8]) -> Vec<u8> {
    format!(
        "{{\"generation\": 1, \"files\": {{\"config.json\": {}, \"model.safetensors\": {}}}}}",
        entry(config),
        entry(weights)
    )
    .into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let t = template();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (config, weights, given_manifest): (&[u8], &[u8], Option<&[u8]>) = match mode & 3 {
        0 => (rest, &t.weights, None),
        1 => (&t.config, rest, None),
        2 => (&t.config, &t.weights, Some(rest)),
        _ => match rest.windows(SEP.len()).position(|w| w == SEP) {
            Some(k) => (&rest[..k], &rest[k + SEP.len()..], None),
            None => (rest, &[][..], None),
        },
    };
    let dir = &t.dir;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), config).unwrap();
    std::fs::write(dir.join("model.safetensors"), weights).unwrap();
    match given_manifest {
        Some(m) => std::fs::write(dir.join("manifest.json"), m).unwrap(),
        None if mode & 0x80 != 0 => {
            std::fs::write(dir.join("manifest.json"), manifest(config, weights)).unwrap()
        }
        None => {}
    }
    let _ = Genot::load(dir, &Device::flex());
});
