//! The checkpoints of one run: writing them atomically, the `latest` and `best` pointers,
//! pruning, and choosing where a resumed run continues from.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use nmt_core::{MANIFEST_FILE, Manifest};
use nmt_model::Transformer;

use super::open::Checkpoint;
use super::state::{TrainState, ValidationRecord};
use super::{MODEL_FILE, OPTIMIZER_FILE, STATE_FILE};
use crate::error::{IoContext, Result, TrainError};

pub struct CheckpointStore {
    dir: PathBuf,
}

/// Where `--resume` continues: the checkpoint, and the newer ones that were damaged.
#[derive(Debug)]
pub struct ResumePoint {
    pub checkpoint: Checkpoint,
    /// The step `latest` pointed at, if it named a step directory.
    pub latest_step: Option<u64>,
    /// Each newer checkpoint passed over, with why.
    pub skipped: Vec<(PathBuf, String)>,
}

impl ResumePoint {
    /// Optimizer steps the run goes back by, relative to `latest`.
    pub fn lost_steps(&self) -> u64 {
        self.latest_step
            .map_or(0, |s| s.saturating_sub(self.checkpoint.state.step))
    }
}

/// One line of `nmt check`.
#[derive(Debug, Clone)]
pub struct CheckpointReport {
    pub name: String,
    pub step: Option<u64>,
    pub is_latest: bool,
    pub is_best: bool,
    pub validation: Option<ValidationRecord>,
    /// Why the checkpoint cannot be used; `None` when every file verifies.
    pub problem: Option<String>,
    /// False for a format-1 checkpoint, which has no checksums to verify.
    pub verified: bool,
}

fn fsync_file(path: &Path) -> Result<()> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .at("fsync", path)
}

fn fsync_dir(path: &Path) {
    // Directory fsync makes the rename itself durable; not every filesystem supports it.
    if let Ok(dir) = fs::File::open(path) {
        let _ = dir.sync_all();
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).at("write", path)?;
    f.write_all(bytes).at("write", path)?;
    f.sync_all().at("fsync", path)
}

/// Writes a complete checkpoint into `dir` (which must exist and be empty): the model, the
/// optimizer state if given, `state.json`, the `extra` files, each fsynced, and last the
/// manifest of all of them.
pub(crate) fn write_checkpoint_files(
    dir: &Path,
    model: &Transformer,
    optimizer: Option<&ModuleOptimizer>,
    state: &TrainState,
    extra: &[(&str, Vec<u8>)],
) -> Result<()> {
    let mut names = vec![MODEL_FILE, STATE_FILE];
    let model_path = dir.join(MODEL_FILE);
    model
        .clone()
        .save_file(&model_path)
        .map_err(|e| TrainError::checkpoint(&model_path, format!("cannot write: {e:?}")))?;
    fsync_file(&model_path)?;
    if let Some(optimizer) = optimizer {
        let path = dir.join(OPTIMIZER_FILE);
        optimizer
            .to_record()
            .save(&path)
            .map_err(|e| TrainError::checkpoint(&path, format!("cannot write: {e:?}")))?;
        fsync_file(&path)?;
        names.push(OPTIMIZER_FILE);
    }
    for (file, bytes) in extra {
        write_synced(&dir.join(file), bytes)?;
        names.push(file);
    }
    let state_json = serde_json::to_string_pretty(state).expect("a TrainState serialises");
    write_synced(&dir.join(STATE_FILE), state_json.as_bytes())?;
    // The manifest last: a directory that has one is complete.
    Manifest::of_files(dir, &names)?
        .write(dir)
        .at("write", &dir.join(MANIFEST_FILE))?;
    fsync_dir(dir);
    Ok(())
}

/// Moves the finished `tmp` directory to `target`, replacing what is there.
pub(crate) fn move_into_place(tmp: &Path, target: &Path) -> Result<()> {
    if target.exists() {
        // Re-saving a step (e.g. after resuming): move the old one aside first.
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        let old = target.with_file_name(format!(".old-{name}-{}", std::process::id()));
        fs::rename(target, &old).at("rename", target)?;
        fs::rename(tmp, target).at("rename", tmp)?;
        fs::remove_dir_all(&old).ok();
    } else {
        fs::rename(tmp, target).at("rename", tmp)?;
    }
    if let Some(parent) = target.parent() {
        fsync_dir(parent);
    }
    Ok(())
}

/// A fresh temporary directory beside `target`, named so that `clean_partial` removes it.
pub(crate) fn temp_dir_for(target: &Path) -> Result<PathBuf> {
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let tmp = target.with_file_name(format!(".tmp-{name}-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).at("remove", &tmp)?;
    }
    fs::create_dir_all(&tmp).at("create", &tmp)?;
    Ok(tmp)
}

impl CheckpointStore {
    pub fn new(run_dir: &Path) -> Self {
        Self {
            dir: run_dir.join("checkpoints"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes temporary directories a crash may have left behind.
    pub fn clean_partial(&self) {
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(".tmp-") || name.starts_with(".old-") {
                    fs::remove_dir_all(entry.path()).ok();
                }
            }
        }
    }

    /// Writes a checkpoint atomically, points `latest` (and `best` when `is_best`) at it, and
    /// prunes all but the `keep_last` newest and the best. `extra_files` (config, tokenizer)
    /// are copied in so a checkpoint stands alone.
    pub fn save(
        &self,
        model: &Transformer,
        optimizer: &ModuleOptimizer,
        state: &TrainState,
        extra_files: &[(&str, Vec<u8>)],
        keep_last: usize,
        is_best: bool,
    ) -> Result<PathBuf> {
        fs::create_dir_all(&self.dir).at("create", &self.dir)?;
        let name = format!("step-{:09}", state.step);
        let final_dir = self.dir.join(&name);
        let tmp = temp_dir_for(&final_dir)?;
        write_checkpoint_files(&tmp, model, Some(optimizer), state, extra_files)?;
        test_hook_delay();
        move_into_place(&tmp, &final_dir)?;
        self.set_pointer("latest", &name)?;
        if is_best {
            self.set_pointer("best", &name)?;
        }
        self.prune(keep_last)?;
        Ok(final_dir)
    }

    fn set_pointer(&self, pointer: &str, name: &str) -> Result<()> {
        let tmp = self.dir.join(format!(".{pointer}.tmp"));
        write_synced(&tmp, format!("{name}\n").as_bytes())?;
        fs::rename(&tmp, self.dir.join(pointer)).at("rename", &tmp)?;
        fsync_dir(&self.dir);
        Ok(())
    }

    /// The directory a pointer file names (whether or not it is intact), if the file exists.
    fn pointer(&self, pointer: &str) -> Result<Option<PathBuf>> {
        let path = self.dir.join(pointer);
        match fs::read_to_string(&path) {
            Ok(name) => Ok(Some(self.dir.join(name.trim()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).at("read", &path),
        }
    }

    pub fn latest(&self) -> Result<Option<PathBuf>> {
        self.pointer("latest")
    }

    pub fn best(&self) -> Result<Option<PathBuf>> {
        self.pointer("best")
    }

    /// `best` (or `latest` when the run never validated), `latest`, or a path to a
    /// checkpoint directory.
    pub fn resolve(&self, spec: &str) -> Result<PathBuf> {
        let found = match spec {
            "best" => self.best()?.or(self.latest()?),
            "latest" => self.latest()?,
            path => Some(PathBuf::from(path)),
        };
        found.ok_or_else(|| {
            TrainError::Refused(format!("no checkpoint in {} yet", self.dir.display()))
        })
    }

    /// The step directories that were finished (they hold a manifest, or a format-1
    /// `state.json`), oldest first. Whether their files are intact is not checked here.
    pub fn list(&self) -> Vec<(u64, PathBuf)> {
        let mut found = Vec::new();
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(step) = step_of(&name)
                    && (entry.path().join(MANIFEST_FILE).exists()
                        || entry.path().join(STATE_FILE).exists())
                {
                    found.push((step, entry.path()));
                }
            }
        }
        found.sort();
        found
    }

    fn prune(&self, keep_last: usize) -> Result<()> {
        let best = self.best()?;
        let all = self.list();
        let cut = all.len().saturating_sub(keep_last.max(1));
        for (_, dir) in &all[..cut] {
            if Some(dir) != best.as_ref() {
                fs::remove_dir_all(dir).ok();
            }
        }
        Ok(())
    }

    /// Where `--resume` continues: `from` when given (it must be intact), else `latest` if
    /// every file of it verifies, else the newest checkpoint that does.
    pub fn resume_point(&self, from: Option<&Path>) -> Result<ResumePoint> {
        let open_intact = |dir: &Path| -> Result<Checkpoint> {
            let c = Checkpoint::open(dir)?;
            c.verify_all()?;
            Ok(c)
        };
        let latest = self.latest()?;
        let latest_step = latest
            .as_ref()
            .and_then(|p| p.file_name())
            .and_then(|n| step_of(&n.to_string_lossy()));
        if let Some(dir) = from {
            return Ok(ResumePoint {
                checkpoint: open_intact(dir)?,
                latest_step,
                skipped: Vec::new(),
            });
        }
        let mut skipped = Vec::new();
        if let Some(dir) = &latest {
            match open_intact(dir) {
                Ok(checkpoint) => {
                    return Ok(ResumePoint {
                        checkpoint,
                        latest_step,
                        skipped,
                    });
                }
                Err(e) => skipped.push((dir.clone(), e.to_string())),
            }
        }
        for (_, dir) in self.list().into_iter().rev() {
            if Some(&dir) == latest.as_ref() {
                continue;
            }
            match open_intact(&dir) {
                Ok(checkpoint) => {
                    return Ok(ResumePoint {
                        checkpoint,
                        latest_step: latest_step.or_else(|| skipped_step(&skipped)),
                        skipped,
                    });
                }
                Err(e) => skipped.push((dir, e.to_string())),
            }
        }
        if skipped.is_empty() {
            return Err(TrainError::NothingToResume {
                dir: self.dir.clone(),
            });
        }
        let reasons: Vec<String> = skipped.iter().map(|(_, why)| why.clone()).collect();
        Err(TrainError::Refused(format!(
            "--resume: no intact checkpoint in {}: {}",
            self.dir.display(),
            reasons.join("; ")
        )))
    }

    /// Every step checkpoint of the run (and whatever `latest`/`best` name), newest first,
    /// each verified.
    pub fn report(&self) -> Result<Vec<CheckpointReport>> {
        let (latest, best) = (self.latest()?, self.best()?);
        let mut dirs: Vec<PathBuf> = Vec::new();
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if step_of(&name).is_some() && entry.path().is_dir() {
                    dirs.push(entry.path());
                }
            }
        }
        for pointed in [&latest, &best].into_iter().flatten() {
            if !dirs.contains(pointed) {
                dirs.push(pointed.clone());
            }
        }
        dirs.sort();
        dirs.reverse();
        Ok(dirs
            .into_iter()
            .map(|dir| {
                let name = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let opened = Checkpoint::open(&dir);
                let (validation, verified) = match &opened {
                    Ok(c) => (c.state.last_validation, c.is_verified()),
                    Err(_) => (None, true),
                };
                let problem = opened.and_then(|c| c.verify_all()).err();
                CheckpointReport {
                    step: step_of(&name),
                    name,
                    is_latest: latest.as_ref() == Some(&dir),
                    is_best: best.as_ref() == Some(&dir),
                    validation,
                    problem: problem.map(|e| e.to_string()),
                    verified,
                }
            })
            .collect())
    }
}

/// `step-000001200` -> 1200.
fn step_of(name: &str) -> Option<u64> {
    name.strip_prefix("step-").and_then(|s| s.parse().ok())
}

fn skipped_step(skipped: &[(PathBuf, String)]) -> Option<u64> {
    skipped
        .iter()
        .filter_map(|(p, _)| p.file_name().and_then(|n| step_of(&n.to_string_lossy())))
        .max()
}

/// Lets the end-to-end test kill the process while a checkpoint is half written.
fn test_hook_delay() {
    if let Some(ms) = std::env::var("NMT_TEST_CHECKPOINT_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
