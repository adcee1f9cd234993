//! Writing a dataset folder in the layout, atomically: everything goes into a temporary sibling
//! folder that is renamed into place only once complete, so readers never see half a dataset.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::DataError;
use crate::items::Items;
use crate::split::{Split, SPLIT_COLUMNS};

/// Writes `items.tsv`, one `<name>.tsv` per split and any `extra_files` (name, bytes) into `dir`,
/// replacing an existing `dir`. Tabs and line breaks in titles become spaces.
pub fn write_dataset(
    dir: &Path,
    items: &Items,
    splits: &[&Split],
    extra_files: &[(&str, &[u8])],
) -> Result<(), DataError> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| DataError::io(&parent, e))?;
    remove_abandoned_siblings(dir);
    let tmp = sibling(dir, "tmp");
    std::fs::create_dir(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    let written = write_files(&tmp, items, splits, extra_files).and_then(|()| replace(&tmp, dir));
    if written.is_err() {
        // Best effort: a leftover temporary folder is harmless, the original error matters.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written
}

fn write_files(
    dir: &Path,
    items: &Items,
    splits: &[&Split],
    extra_files: &[(&str, &[u8])],
) -> Result<(), DataError> {
    let mut text = String::from("iid\ttitle\n");
    for (iid, title) in items.iter() {
        let _ = writeln!(text, "{iid}\t{}", sanitize_title(title));
    }
    write_file(&dir.join("items.tsv"), text.as_bytes())?;
    for split in splits {
        check_file_name(dir, &split.name)?;
        write_file(
            &dir.join(format!("{}.tsv", split.name)),
            split_text(split).as_bytes(),
        )?;
    }
    for (name, bytes) in extra_files {
        check_file_name(dir, name)?;
        write_file(&dir.join(name), bytes)?;
    }
    Ok(())
}

fn split_text(split: &Split) -> String {
    let mut text = SPLIT_COLUMNS.join("\t");
    text.push('\n');
    for r in &split.rows {
        let _ = write!(
            text,
            "{}\t{}\t{}\t{}\t{}\t",
            r.uid,
            r.iid,
            r.label,
            r.timestamp,
            u8::from(r.warm)
        );
        for (i, id) in r.his.iter().enumerate() {
            let _ = write!(text, "{}{id}", if i == 0 { "" } else { " " });
        }
        text.push('\n');
    }
    text
}

/// Tabs and line breaks would break the row structure; they become single spaces.
pub fn sanitize_title(title: &str) -> String {
    title.replace(['\t', '\n', '\r'], " ")
}

fn check_file_name(dir: &Path, name: &str) -> Result<(), DataError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(DataError::Folder {
            path: dir.to_path_buf(),
            message: format!("refusing to write a file named {name:?}: use letters, digits, . _ -"),
        })
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let mut file = std::fs::File::create(path).map_err(|e| DataError::io(path, e))?;
    file.write_all(bytes).map_err(|e| DataError::io(path, e))?;
    file.sync_all().map_err(|e| DataError::io(path, e))
}

/// Moves the finished `tmp` folder to `dir`, moving an existing `dir` aside first.
fn replace(tmp: &Path, dir: &Path) -> Result<(), DataError> {
    if std::fs::rename(tmp, dir).is_ok() {
        return Ok(());
    }
    let old = sibling(dir, "old");
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(|e| DataError::io(dir, e))?;
    }
    std::fs::rename(tmp, dir).map_err(|e| DataError::io(dir, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| DataError::io(&old, e))?;
    }
    Ok(())
}

/// Removes the temporary siblings of `dir` (see [`sibling`]) that a process killed mid-write
/// left, those whose process is gone: a dataset import is megabytes, and nothing else would
/// ever remove them. Where a process cannot be looked up (not Linux), nothing is removed.
fn remove_abandoned_siblings(dir: &Path) {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        // Exactly `.NAME.tmp-PID-NANOS` or `.NAME.old-PID-NANOS`, and a folder: nothing else
        // beside the dataset (a person's `.NAME.bak-2024-06`) is this writer's to remove.
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let pid = file_name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_once('-'))
            .filter(|(what, _)| matches!(*what, "tmp" | "old"))
            .and_then(|(_, rest)| rest.split_once('-'))
            .filter(|(pid, nanos)| digits(pid) && digits(nanos))
            .and_then(|(pid, _)| pid.parse::<u32>().ok());
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && pid.is_some_and(|pid| pid != std::process::id() && process_is_gone(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn process_is_gone(pid: u32) -> bool {
    cfg!(target_os = "linux") && !Path::new("/proc").join(pid.to_string()).exists()
}

/// A hidden, unique sibling path of `dir` for temporary use.
fn sibling(dir: &Path, what: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".to_string());
    dir.with_file_name(format!(".{name}.{what}-{}-{nanos}", std::process::id()))
}
