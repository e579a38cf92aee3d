//! The model directory as one atomic unit.
//!
//! A fit never writes into the model directory `OUT` it replaces. It works in a staging
//! directory beside it, `.OUT.genot-staging` (its settings, checkpoints, and at the end the
//! model files and a `manifest.json` with the size and SHA-256 of each model file), and
//! then swaps the staging directory in with one atomic exchange of the two names
//! (`renameat2(RENAME_EXCHANGE)` on Linux; two renames elsewhere). So `OUT` is at every
//! moment either the previous model, exactly as it was, or the new one, complete.
//!
//! A staging directory holds the file `.genot-partial` while its run is in progress; the
//! mark is removed just before the swap. The next run on `OUT` cleans what an interrupted
//! run left: a staging directory in progress is kept for `--resume` and removed otherwise;
//! one without the mark is either a complete model whose swap was cut short (its
//! manifest's generation is newer than `OUT`'s: it is swapped in) or the previous model
//! after a swap (older: removed).
//!
//! One fit at a time writes a model directory: [`Staging::begin`] takes an exclusive lock
//! on `.OUT.genot-lock` beside it (released when the run ends or dies; the file is removed
//! when the run ends cleanly), and a second fit
//! on the same directory is refused with a message instead of taking over the first one's
//! staging directory.
//!
//! [`verify`] checks a model directory against its manifest before it is used: a model
//! whose files disagree (edited, or mixed with another run's) is an error, never a silent
//! prediction. Directories written before manifests existed load without the check.
//!
//! ```
//! use genot::model_dir::{verify, Staging};
//! let root = tempfile::tempdir().unwrap();
//! let out = root.path().join("model");
//! let staging = Staging::begin(&out, false).unwrap();
//! std::fs::write(staging.path().join("config.json"), b"{}").unwrap();
//! staging.commit().unwrap();
//! assert!(out.join("config.json").exists() && out.join("manifest.json").exists());
//! verify(&out).unwrap();
//! std::fs::write(out.join("config.json"), b"{\"edited\": 1}").unwrap();
//! assert!(verify(&out).is_err());
//! ```

use crate::error::{GenotError, Result};
use crate::model::{CONFIG_FILE, WEIGHTS_FILE};
use crate::train::{CHECKPOINT, HISTORY_FILE};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The manifest of a model directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The mark of a staging directory whose run is still in progress.
const PARTIAL_MARK: &str = ".genot-partial";
/// The model files the manifest covers (those present).
const COVERED: [&str; 3] = [CONFIG_FILE, WEIGHTS_FILE, HISTORY_FILE];
/// Files and folders a fit writes; anything else in `OUT` is the user's and is carried
/// over into the new directory.
const WRITTEN: [&str; 7] = [
    CONFIG_FILE,
    WEIGHTS_FILE,
    HISTORY_FILE,
    MANIFEST_FILE,
    CHECKPOINT,
    "fit.toml",
    "loss.png",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct FileEntry {
    bytes: u64,
    sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Manifest {
    /// Counts the fits written into this directory: a newer model has a larger number.
    generation: u64,
    files: BTreeMap<String, FileEntry>,
}

fn io<'a>(path: &'a Path, what: &str) -> impl Fn(std::io::Error) -> GenotError + 'a {
    let what = what.to_string();
    move |e| GenotError::file(path, format!("{what}: {e}"))
}

fn digest(path: &Path) -> Result<FileEntry> {
    let bytes = std::fs::read(path).map_err(io(path, "cannot read"))?;
    Ok(FileEntry {
        bytes: bytes.len() as u64,
        sha256: format!("{:x}", Sha256::digest(&bytes)),
    })
}

fn read_manifest(dir: &Path) -> Option<Manifest> {
    let text = std::fs::read_to_string(dir.join(MANIFEST_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The generation of the model in `dir`: 0 when there is none or it predates manifests.
fn generation(dir: &Path) -> u64 {
    read_manifest(dir).map_or(0, |m| m.generation)
}

/// `parent/.NAME.genot-SUFFIX` for `out = parent/NAME`.
fn sibling(out: &Path, suffix: &str) -> Result<PathBuf> {
    let name = out
        .file_name()
        .ok_or_else(|| GenotError::file(out, "a model directory needs a name (not '.' or '/')"))?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(parent.join(format!(".{}.genot-{suffix}", name.to_string_lossy())))
}

/// A fault-injection point for the crash-safety tests: when the environment variable
/// `GENOT_CRASH_AT` is `NAME` (or `NAME#K`, the K-th time this point is reached), the
/// process aborts here at once, as a `kill -9` would stop it (no destructors, no clean-up).
/// The points: `checkpoint` (a checkpoint written but not yet in place), `model-files`
/// (between the weights and the config of the final save), `before-swap` and
/// `after-swap` (around the exchange of the directories).
pub fn crash_point(name: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;
    static WANT: OnceLock<Option<(String, usize)>> = OnceLock::new();
    // Only the named point is counted, so one counter serves.
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    let want = WANT.get_or_init(|| {
        let v = std::env::var("GENOT_CRASH_AT").ok()?;
        Some(match v.split_once('#') {
            Some((p, k)) => (p.to_string(), k.parse().unwrap_or(1)),
            None => (v, 1),
        })
    });
    let Some((point, k)) = want else {
        return;
    };
    if point == name && SEEN.fetch_add(1, Ordering::Relaxed) + 1 == *k {
        eprintln!("GENOT_CRASH_AT: aborting at {name} #{k}");
        std::process::abort();
    }
}

/// The first 12 characters of a checksum, for messages (a manifest's text may be shorter,
/// or not hex at all).
fn prefix(sha256: &str) -> String {
    sha256.chars().take(12).collect()
}

/// Checks the files of a model directory against its manifest (when it has one).
pub fn verify(dir: &Path) -> Result<()> {
    let path = dir.join(MANIFEST_FILE);
    if !path.exists() {
        return Ok(());
    }
    let manifest = read_manifest(dir)
        .ok_or_else(|| GenotError::file(&path, "is not a readable model manifest"))?;
    for (name, want) in &manifest.files {
        let file = dir.join(name);
        if !file.exists() {
            return Err(GenotError::file(
                dir,
                format!("the model directory is incomplete: {name} is missing (it is listed in {MANIFEST_FILE}); fit the model again"),
            ));
        }
        let got = digest(&file)?;
        if &got != want {
            return Err(GenotError::file(
                dir,
                format!("the model directory is inconsistent: {name} is not the file the fit wrote ({} bytes, SHA-256 {}..., where {MANIFEST_FILE} says {} bytes, {}...): it was changed or mixed with another run's files; fit the model again",
                    got.bytes, prefix(&got.sha256), want.bytes, prefix(&want.sha256)),
            ));
        }
    }
    Ok(())
}

/// Syncs a directory's entries to disk (best effort: not every platform can).
fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Exchanges the names `a` and `b` atomically when the platform can; returns false when
/// it cannot (then nothing was changed).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: two valid NUL-terminated paths, relative to the current directory.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) => Ok(false),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<bool> {
    Ok(false)
}

/// Puts the complete directory `new` in place of `out` (which may not exist); afterwards
/// `new` names the previous directory, if there was one. Where the atomic exchange is not
/// available, `out` is missing for a moment and its previous content is `.OUT.genot-old`,
/// which [`recover`] (and [`Staging::prepare_resume`] for checkpoints) puts back.
pub(crate) fn swap_in(new: &Path, out: &Path) -> Result<()> {
    if !out.exists() {
        return std::fs::rename(new, out).map_err(io(out, "cannot install the model"));
    }
    if exchange(new, out).map_err(io(out, "cannot install the model"))? {
        return Ok(());
    }
    // Two renames: between them `out` is missing, and the next run finishes the swap.
    let old = sibling(out, "old")?;
    let _ = std::fs::remove_dir_all(&old);
    std::fs::rename(out, &old).map_err(io(out, "cannot move the previous model aside"))?;
    std::fs::rename(new, out).map_err(io(out, "cannot install the model"))?;
    std::fs::rename(&old, new).map_err(io(&old, "cannot move the previous model"))
}

/// Copies `from` into `to` by hard links where possible (copies elsewhere).
fn link_tree(from: &Path, to: &Path) -> Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to).map_err(io(to, "cannot create"))?;
        for e in std::fs::read_dir(from).map_err(io(from, "cannot list"))? {
            let e = e.map_err(io(from, "cannot list"))?;
            link_tree(&e.path(), &to.join(e.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::hard_link(from, to)
            .or_else(|_| std::fs::copy(from, to).map(|_| ()))
            .map_err(io(to, "cannot carry over"))
    }
}

/// Removes temporaries that interrupted writes left in `dir` (`.tmpXXXX` files of atomic
/// writes, `.checkpoint-XXXX` folders of checkpoints).
fn remove_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with(".tmp") || name.starts_with(".checkpoint-") {
            let p = e.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
}

/// Whether `dir` looks like a model directory (or one being written).
fn is_model_dir(dir: &Path) -> bool {
    [
        CONFIG_FILE,
        MANIFEST_FILE,
        CHECKPOINT,
        "fit.toml",
        WEIGHTS_FILE,
    ]
    .iter()
    .any(|f| dir.join(f).exists())
}

/// The staging directory of one write of the model directory `out`.
#[derive(Debug)]
pub struct Staging {
    out: PathBuf,
    path: PathBuf,
    generation: u64,
    /// The staging directory is an interrupted run's, kept for `--resume`.
    interrupted: bool,
    /// The lock on `out` (an exclusive `flock` on `.OUT.genot-lock` beside it), held for the
    /// whole write so that a second fit on the same directory is refused instead of taking
    /// over this one's staging directory.
    _lock: std::fs::File,
}

/// An exclusive lock on the model directory `out`, or an error saying that another fit
/// holds it.
fn lock(out: &Path) -> Result<std::fs::File> {
    let path = sibling(out, "lock")?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path, "cannot create"))?;
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock on a file descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(GenotError::Invalid(format!(
                "another genot fit is writing the model directory '{}' (it holds {}): wait for it to end, or write to another model directory (`out`)",
                out.display(),
                path.display()
            )));
        }
    }
    Ok(file)
}

impl Staging {
    /// Prepares to write the model directory `out`: finishes or removes what an interrupted
    /// run on `out` left, then opens the staging directory: the interrupted run's own
    /// when `resume` is set and there is one, a new one otherwise.
    pub fn begin(out: &Path, resume: bool) -> Result<Staging> {
        if out.exists() && !out.is_dir() {
            return Err(GenotError::Invalid(format!(
                "'{}' exists and is not a directory: the model directory must be a new or existing folder",
                out.display()
            )));
        }
        if let (Ok(here), Ok(o)) = (std::env::current_dir(), std::fs::canonicalize(out)) {
            if here.starts_with(&o) {
                return Err(GenotError::Invalid(format!(
                    "the model directory '{}' holds the current directory: a fit replaces the whole model directory, so give a folder of its own",
                    out.display()
                )));
            }
        }
        if out.is_dir()
            && !is_model_dir(out)
            && std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some())
        {
            return Err(GenotError::Invalid(format!(
                "'{}' is a folder that holds other files and no genot model: give a new or empty folder (a fit replaces the whole model directory)",
                out.display()
            )));
        }
        let path = sibling(out, "staging")?;
        let parent = path.parent().expect("a sibling has a parent").to_path_buf();
        std::fs::create_dir_all(&parent).map_err(io(&parent, "cannot create"))?;
        let lock = lock(out)?;
        recover(out, resume)?;
        remove_temporaries(out);
        let interrupted = path.exists();
        if !interrupted {
            std::fs::create_dir(&path).map_err(io(&path, "cannot create"))?;
            std::fs::write(path.join(PARTIAL_MARK), b"a genot fit in progress\n")
                .map_err(io(&path, "cannot create"))?;
        }
        remove_temporaries(&path);
        Ok(Staging {
            out: out.to_path_buf(),
            generation: generation(out) + 1,
            path,
            interrupted,
            _lock: lock,
        })
    }

    /// The staging directory: everything of the new model is written here.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Prepares `--resume`: the interrupted run's own checkpoint, or else a copy of the
    /// current model's (to train it further). An interrupted run that had not written a
    /// checkpoint yet starts again from the beginning. Returns false when there is nothing
    /// to resume.
    pub fn prepare_resume(&self) -> Result<bool> {
        let here = self.path.join(CHECKPOINT);
        let old = sibling(&here, "old")?;
        if !here.exists() && old.is_dir() {
            // Cut between the two renames of a checkpoint written without the exchange.
            std::fs::rename(&old, &here).map_err(io(&here, "cannot restore the checkpoint"))?;
        }
        if here.join("state.json").exists() {
            return Ok(true);
        }
        if self.interrupted {
            // Interrupted before its first checkpoint: it starts again.
            return Ok(true);
        }
        let there = self.out.join(CHECKPOINT);
        if !there.join("state.json").exists() {
            return Ok(false);
        }
        let _ = std::fs::remove_dir_all(&here);
        link_tree(&there, &here)?;
        Ok(true)
    }

    /// Whether this staging directory is an interrupted run's (kept for `--resume`).
    pub fn is_interrupted_run(&self) -> bool {
        self.interrupted
    }

    /// Removes the staging directory (a failed run: the previous model stays as it was).
    pub fn abandon(self) {
        let _ = std::fs::remove_dir_all(&self.path);
        self.unlock();
    }

    /// Writes the manifest and swaps the staging directory in for the model directory; the
    /// user's own files in the previous directory are carried over.
    pub fn commit(self) -> Result<()> {
        if self.out.is_dir() {
            for e in std::fs::read_dir(&self.out).map_err(io(&self.out, "cannot list"))? {
                let e = e.map_err(io(&self.out, "cannot list"))?;
                let name = e.file_name().to_string_lossy().to_string();
                let to = self.path.join(&name);
                if WRITTEN.contains(&name.as_str()) || to.exists() || name.starts_with(".tmp") {
                    continue;
                }
                link_tree(&e.path(), &to)?;
            }
        }
        let mut files = BTreeMap::new();
        for name in COVERED {
            let p = self.path.join(name);
            if p.exists() {
                files.insert(name.to_string(), digest(&p)?);
            }
        }
        let manifest = Manifest {
            generation: self.generation,
            files,
        };
        crate::model::write_atomic(
            &self.path.join(MANIFEST_FILE),
            serde_json::to_string_pretty(&manifest)
                .expect("manifest serialises")
                .as_bytes(),
        )?;
        sync_dir(&self.path);
        std::fs::remove_file(self.path.join(PARTIAL_MARK))
            .map_err(io(&self.path, "cannot finish the staging directory"))?;
        crash_point("before-swap");
        swap_in(&self.path, &self.out)?;
        crash_point("after-swap");
        let _ = std::fs::remove_dir_all(&self.path);
        self.unlock();
        if let Some(p) = self.out.parent() {
            sync_dir(p);
        }
        Ok(())
    }

    /// Removes the lock file of a run that ends cleanly (its lock is released when `self`
    /// drops); a run that dies leaves the file, unlocked, for the next run to take.
    fn unlock(&self) {
        if let Ok(p) = sibling(&self.out, "lock") {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Finishes or removes what an interrupted write of `out` left beside it (see the module
/// documentation); an in-progress staging directory is kept when `keep_partial` is set.
pub fn recover(out: &Path, keep_partial: bool) -> Result<()> {
    let staging = sibling(out, "staging")?;
    let old = sibling(out, "old")?;
    if staging.is_dir() {
        if staging.join(PARTIAL_MARK).exists() {
            if !keep_partial {
                std::fs::remove_dir_all(&staging)
                    .map_err(io(&staging, "cannot remove an interrupted run's files"))?;
            }
        } else if read_manifest(&staging).is_some_and(|m| m.generation > generation(out)) {
            // A complete model whose swap was cut short.
            if !out.exists() && old.is_dir() {
                // Cut between the two renames of the fallback swap.
                std::fs::rename(&staging, out).map_err(io(out, "cannot install the model"))?;
            } else {
                swap_in(&staging, out)?;
            }
            let _ = std::fs::remove_dir_all(&staging);
        } else {
            std::fs::remove_dir_all(&staging)
                .map_err(io(&staging, "cannot remove the previous model's files"))?;
        }
    }
    if old.is_dir() {
        if out.exists() {
            let _ = std::fs::remove_dir_all(&old);
        } else {
            std::fs::rename(&old, out).map_err(io(out, "cannot restore the model"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_model(out: &Path, config: &str) {
        let s = Staging::begin(out, false).unwrap();
        std::fs::write(s.path().join(CONFIG_FILE), config).unwrap();
        std::fs::write(s.path().join(WEIGHTS_FILE), config.repeat(3)).unwrap();
        s.commit().unwrap();
    }

    /// Found by the model fuzz target: a manifest whose checksum is shorter than 12
    /// characters (or cut inside a multi-byte character) panicked while the message
    /// quoted its first 12.
    #[test]
    fn a_manifest_with_a_short_or_odd_checksum_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "{}").unwrap();
        for sha in ["2597b5", "", "aéééééé"] {
            let manifest = format!(
                "{{\"generation\": 1, \"files\": {{\"{CONFIG_FILE}\": {{\"bytes\": 2, \"sha256\": \"{sha}\"}}}}}}"
            );
            std::fs::write(dir.path().join(MANIFEST_FILE), manifest).unwrap();
            let e = verify(dir.path()).unwrap_err().to_string();
            assert!(
                e.contains("is inconsistent") && e.contains(&format!("{sha}...")),
                "{e}"
            );
        }
    }

    #[test]
    fn a_refit_replaces_the_model_and_keeps_the_users_files() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("m");
        write_model(&out, "one");
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        write_model(&out, "two");
        assert_eq!(
            std::fs::read_to_string(out.join(CONFIG_FILE)).unwrap(),
            "two"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("notes.txt")).unwrap(),
            "mine"
        );
        assert_eq!(generation(&out), 2);
        verify(&out).unwrap();
        let left: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(
            left,
            vec!["m".to_string()],
            "only the model directory is left"
        );
    }

    #[test]
    fn an_abandoned_or_interrupted_run_leaves_the_old_model() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("m");
        write_model(&out, "one");
        let s = Staging::begin(&out, false).unwrap();
        std::fs::write(s.path().join(CONFIG_FILE), "half").unwrap();
        s.abandon();
        assert_eq!(
            std::fs::read_to_string(out.join(CONFIG_FILE)).unwrap(),
            "one"
        );
        // Interrupted (no abandon): the next run without --resume removes the files.
        let s = Staging::begin(&out, false).unwrap();
        let p = s.path().to_path_buf();
        std::fs::write(p.join(CONFIG_FILE), "half").unwrap();
        // Dropped without abandon: the files stay, the lock goes (as when a process dies).
        drop(s);
        let s = Staging::begin(&out, false).unwrap();
        assert!(!s.path().join(CONFIG_FILE).exists());
        // While a run holds the directory, a second one is refused.
        let e = Staging::begin(&out, false).unwrap_err().to_string();
        assert!(e.contains("another genot fit is writing"), "{e}");
        // ... and keeps them with --resume.
        std::fs::write(s.path().join(CONFIG_FILE), "half").unwrap();
        drop(s);
        let s = Staging::begin(&out, true).unwrap();
        assert!(s.path().join(CONFIG_FILE).exists());
        verify(&out).unwrap();
    }

    #[test]
    fn a_swap_cut_short_is_finished_by_the_next_run() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("m");
        write_model(&out, "one");
        // A complete new model whose mark was removed but whose swap did not happen.
        let s = Staging::begin(&out, false).unwrap();
        std::fs::write(s.path().join(CONFIG_FILE), "two").unwrap();
        let path = s.path().to_path_buf();
        let manifest = Manifest {
            generation: 2,
            files: BTreeMap::from([(
                CONFIG_FILE.to_string(),
                digest(&path.join(CONFIG_FILE)).unwrap(),
            )]),
        };
        std::fs::write(
            path.join(MANIFEST_FILE),
            serde_json::to_string(&manifest).unwrap(),
        )
        .unwrap();
        std::fs::remove_file(path.join(PARTIAL_MARK)).unwrap();
        recover(&out, false).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join(CONFIG_FILE)).unwrap(),
            "two"
        );
        assert!(!path.exists());
        // The previous model left beside it after a swap is removed.
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join(CONFIG_FILE), "one").unwrap();
        recover(&out, false).unwrap();
        assert!(!path.exists());
        assert_eq!(
            std::fs::read_to_string(out.join(CONFIG_FILE)).unwrap(),
            "two"
        );
        // Cut between the two renames of the fallback swap: restored.
        let old = sibling(&out, "old").unwrap();
        std::fs::rename(&out, &old).unwrap();
        recover(&out, false).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join(CONFIG_FILE)).unwrap(),
            "two"
        );
    }

    #[test]
    fn mixed_or_missing_files_are_named() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("m");
        write_model(&out, "one");
        std::fs::write(out.join(WEIGHTS_FILE), "other weights").unwrap();
        let e = verify(&out).unwrap_err().to_string();
        assert!(
            e.contains("inconsistent") && e.contains(WEIGHTS_FILE),
            "{e}"
        );
        std::fs::remove_file(out.join(WEIGHTS_FILE)).unwrap();
        let e = verify(&out).unwrap_err().to_string();
        assert!(e.contains("missing") && e.contains(WEIGHTS_FILE), "{e}");
    }

    #[test]
    fn a_folder_of_other_files_is_refused() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("data.csv"), "x\n1\n").unwrap();
        let e = Staging::begin(root.path(), false).unwrap_err().to_string();
        assert!(e.contains("holds other files"), "{e}");
    }
}
