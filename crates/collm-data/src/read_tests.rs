//! Unit tests for reading and writing the layout: one test per kind of bad input, plus round trips.

use std::path::{Path, PathBuf};

use crate::{read_items, read_split, write_dataset, DataError, Dataset, Interaction, Items, Split};

const HEADER: &str = "uid\tiid\tlabel\ttimestamp\twarm\this\n";
const ITEMS: &str = "iid\ttitle\n1\tAlpha (1990)\n2\tBeta (1991)\n3\tGamma, The (1992)\n";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn items() -> Items {
    Items::from_titles(["Alpha (1990)", "Beta (1991)", "Gamma, The (1992)"].map(String::from))
}

/// Reads `body` as a split file and returns the error it must produce.
fn split_error(body: &str) -> (DataError, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "train.tsv", body);
    let error = read_split(&path, "train", &items()).expect_err("the file is invalid");
    (error, path)
}

#[test]
fn reads_a_valid_split() {
    let body = format!("{HEADER}1\t2\t1\t100\t1\t\n1\t3\t0\t200\t0\t2\n2\t1\t1\t300\t1\t3 2\n");
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "valid.tsv", &body);
    let split = read_split(&path, "valid", &items()).unwrap();
    assert_eq!(split.rows.len(), 3);
    assert_eq!(
        split.rows[2],
        Interaction {
            uid: 2,
            iid: 1,
            label: 1,
            timestamp: 300,
            warm: true,
            his: vec![3, 2]
        }
    );
    assert!(split.rows[0].his.is_empty());
    let stats = split.stats();
    assert_eq!((stats.users, stats.items, stats.positives), (2, 3, 2));
    assert_eq!((stats.warm_rows, stats.cold_rows), (2, 1));
    assert_eq!(split.positives_by_user()[&1], vec![2]);
}

#[test]
fn columns_are_found_by_name_in_any_order() {
    let body = "his\twarm\ttimestamp\tlabel\tiid\tuid\n1 2\t0\t5\t1\t3\t7\n";
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "test.tsv", body);
    let split = read_split(&path, "test", &items()).unwrap();
    assert_eq!(
        split.rows[0],
        Interaction {
            uid: 7,
            iid: 3,
            label: 1,
            timestamp: 5,
            warm: false,
            his: vec![1, 2]
        }
    );
}

#[test]
fn missing_column_in_header() {
    let (error, path) = split_error("uid\tiid\ttimestamp\twarm\this\n1\t1\t5\t1\t\n");
    assert!(matches!(error, DataError::MissingColumn { ref field, .. } if field == "label"));
    assert_eq!(
        error.to_string(),
        format!(
            "{}:1: field `label`: missing from the header (found: uid, iid, timestamp, warm, his)",
            path.display()
        )
    );
}

#[test]
fn a_huge_header_is_cut_in_the_message_and_old_mac_line_endings_are_named() {
    let columns: Vec<String> = (0..100_000).map(|i| format!("c{i}")).collect();
    let (error, _) = split_error(&columns.join("\t"));
    let text = error.to_string();
    assert!(
        text.len() < 400 && text.ends_with("…)"),
        "{} bytes",
        text.len()
    );
    let (error, _) = split_error(&HEADER.replace('\n', "\r").to_string());
    assert!(
        error
            .to_string()
            .contains("carriage return alone (old Mac line endings)"),
        "{error}"
    );
}

#[test]
fn non_integer_id() {
    let (error, path) = split_error(&format!("{HEADER}1\t1\t1\t5\t1\t\nu7\t1\t1\t5\t1\t\n"));
    assert_eq!((error.line(), error.field_name()), (Some(3), Some("uid")));
    assert_eq!(
        error.to_string(),
        format!(
            "{}:3: field `uid`: expected a positive integer id, found \"u7\"",
            path.display()
        )
    );
    let (error, _) = split_error(&format!("{HEADER}1\t-2\t1\t5\t1\t\n"));
    assert_eq!((error.line(), error.field_name()), (Some(2), Some("iid")));
}

#[test]
fn padding_id_zero_is_rejected() {
    let (error, _) = split_error(&format!("{HEADER}0\t1\t1\t5\t1\t\n"));
    assert!(
        error.to_string().contains("id 0 is reserved for padding"),
        "{error}"
    );
}

#[test]
fn label_not_zero_or_one() {
    let (error, path) = split_error(&format!("{HEADER}1\t1\t1\t5\t1\t\n1\t2\t2\t6\t1\t1\n"));
    assert_eq!(
        error.to_string(),
        format!(
            "{}:3: field `label`: expected 0 or 1, found \"2\"",
            path.display()
        )
    );
}

#[test]
fn warm_not_zero_or_one() {
    let (error, path) = split_error(&format!("{HEADER}1\t1\t1\t5\ttrue\t\n"));
    assert_eq!(
        error.to_string(),
        format!(
            "{}:2: field `warm`: expected 0 or 1, found \"true\"",
            path.display()
        )
    );
}

#[test]
fn non_integer_timestamp() {
    let (error, _) = split_error(&format!("{HEADER}1\t1\t1\t2001-06-01\t1\t\n"));
    assert_eq!(
        (error.line(), error.field_name()),
        (Some(2), Some("timestamp"))
    );
}

#[test]
fn history_id_not_in_items() {
    let (error, path) = split_error(&format!("{HEADER}1\t1\t1\t5\t1\t2 9\n"));
    assert_eq!(
        error.to_string(),
        format!(
            "{}:2: field `his`: history item 9 is not in the items table",
            path.display()
        )
    );
    let (error, _) = split_error(&format!("{HEADER}1\t1\t1\t5\t1\t2,3\n"));
    assert_eq!(error.field_name(), Some("his"));
}

#[test]
fn target_item_not_in_items() {
    let (error, path) = split_error(&format!("{HEADER}1\t4\t1\t5\t1\t\n"));
    assert_eq!(
        error.to_string(),
        format!(
            "{}:2: field `iid`: item 4 is not in the items table",
            path.display()
        )
    );
}

#[test]
fn duplicate_item_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "items.tsv", "iid\ttitle\n1\tA\n2\tB\n1\tC\n");
    let error = read_items(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}:4: field `iid`: duplicate item id 1 (first defined on line 2)",
            path.display()
        )
    );
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "items.tsv", "");
    let error = read_items(&path).unwrap_err();
    assert!(matches!(error, DataError::Empty { .. }));
    assert_eq!(
        error.to_string(),
        format!(
            "{}: the file is empty; expected a header line with columns iid, title",
            path.display()
        )
    );
    let (error, _) = split_error("\n  \n");
    assert!(matches!(error, DataError::Empty { .. }), "{error}");
}

#[test]
fn comma_separated_file_must_be_tab_separated() {
    let (error, path) = split_error("uid,iid,label,timestamp,warm,his\n1,1,1,5,1,\n");
    assert_eq!(
        error.to_string(),
        format!(
            "{}:1: the file must be tab-separated, but this line looks comma-separated",
            path.display()
        )
    );
    // A tab header with a comma-separated row.
    let (error, path) = split_error(&format!("{HEADER}1,1,1,5,1,\n"));
    assert_eq!(
        error.to_string(),
        format!(
            "{}:2: the file must be tab-separated, but this line looks comma-separated",
            path.display()
        )
    );
}

#[test]
fn wrong_column_count_on_a_row() {
    let (error, path) = split_error(&format!("{HEADER}1\t1\t1\t5\t1\t\n1\t1\t1\t5\t1\n"));
    assert_eq!(
        error.to_string(),
        format!("{}:3: expected 6 fields, found 5", path.display())
    );
    // A title with a stray tab gives items.tsv a third field.
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "items.tsv", "iid\ttitle\n1\tA\tB\n");
    let error = read_items(&path).unwrap_err();
    assert!(
        matches!(
            error,
            DataError::ColumnCount {
                line: 2,
                expected: 2,
                found: 3,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn io_error_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-items.tsv");
    let error = read_items(&path).unwrap_err();
    assert!(matches!(error, DataError::Io { .. }));
    assert_eq!(error.path(), Some(path.as_path()));
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}: ", path.display())),
        "{error}"
    );
    // A missing split inside a dataset folder names that split's file.
    write(dir.path(), "items.tsv", ITEMS);
    let error = Dataset::load_dir(dir.path()).unwrap_err();
    assert_eq!(error.path(), Some(dir.path().join("train.tsv").as_path()));
}

#[test]
fn invalid_utf8_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("items.tsv");
    std::fs::write(&path, b"iid\ttitle\n1\tA\n2\t\xC9psilon\n").unwrap();
    let error = read_items(&path).unwrap_err();
    assert!(
        matches!(error, DataError::Encoding { line: 3, .. }),
        "{error}"
    );
}

#[test]
fn huge_id_is_rejected_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "items.tsv", "iid\ttitle\n4000000000\tA\n");
    let error = read_items(&path).unwrap_err();
    assert_eq!(error.field_name(), Some("iid"));
}

/// An id under the cap but far above the others (a raw id left unmapped) would size a table
/// of gigabytes: refused at its line, items and users alike, before any table is built.
#[test]
fn a_sparse_id_is_refused_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "items.tsv",
        "iid\ttitle\n1\tA\n99999999\tB\n2\tC\n",
    );
    let error = read_items(&path).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!(
            "{}:3: field `iid`: id 99999999 is far above the 3 distinct ids",
            path.display()
        )),
        "{error}"
    );
    // Dense ids with gaps up to the slack stay fine.
    write(dir.path(), "items.tsv", "iid\ttitle\n1\tA\n100000\tB\n");
    read_items(&path).unwrap();

    write(dir.path(), "items.tsv", ITEMS);
    let row = |uid: u32| format!("{uid}\t1\t1\t10\t1\t\n");
    let train = write(
        dir.path(),
        "train.tsv",
        &format!("{HEADER}{}{}", row(1), row(2)),
    );
    write(dir.path(), "valid.tsv", &format!("{HEADER}{}", row(1)));
    let small = write(
        dir.path(),
        "valid_small.tsv",
        &format!("{HEADER}{}{}{}", row(2), row(50_000_000), row(50_000_000)),
    );
    let error = Dataset::load_dir(dir.path()).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!(
            "{}:3: field `uid`: id 50000000 is far above the 3 distinct ids",
            small.display()
        )),
        "{error}"
    );
    assert!(train.exists());
}

fn tiny_dataset(dir: &Path) -> Dataset {
    write(dir, "items.tsv", ITEMS);
    write(
        dir,
        "train.tsv",
        &format!("{HEADER}1\t1\t1\t10\t1\t\n1\t2\t0\t20\t1\t1\n2\t2\t1\t15\t1\t\n"),
    );
    write(
        dir,
        "valid.tsv",
        &format!("{HEADER}1\t3\t1\t30\t0\t1\n4\t1\t0\t31\t0\t\n"),
    );
    write(
        dir,
        "valid_small.tsv",
        &format!("{HEADER}4\t1\t0\t31\t0\t\n"),
    );
    Dataset::load_dir(dir).unwrap()
}

#[test]
fn dataset_sizes_and_helpers() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_dataset(dir.path());
    assert!(data.test.is_none());
    assert_eq!((data.user_num, data.item_num), (5, 4));
    assert_eq!(data.items.title(0), Some(""));
    assert_eq!(data.items.title(3), Some("Gamma, The (1992)"));
    assert_eq!(data.items.title(4), None);
    assert_eq!((data.items.len(), data.items.count()), (4, 3));
    let mut users: Vec<u32> = data.train_users().into_iter().collect();
    users.sort_unstable();
    assert_eq!(users, vec![1, 2]);
    assert_eq!(data.train_items().len(), 2);
    assert_eq!(data.interacted_by_user()[&1].len(), 3);
    assert_eq!(data.split("valid_small").map(|s| s.rows.len()), Some(1));
    assert_eq!(
        data.stats().iter().map(|s| s.rows).collect::<Vec<_>>(),
        vec![3, 2, 1]
    );
}

#[test]
fn write_round_trips_and_sanitises_titles() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("src-data");
    std::fs::create_dir(&source).unwrap();
    let data = tiny_dataset(&source);
    let out = dir.path().join("copy");
    let items = Items::from_titles(
        ["Alpha\t(1990)", "Beta\n(1991)", "Gamma, The (1992)"].map(String::from),
    );
    let test = Split {
        name: "test".into(),
        path: PathBuf::new(),
        rows: data.valid.rows.clone(),
    };
    let splits = [&data.train, &data.valid, &data.valid_small, &test];
    write_dataset(&out, &items, &splits, &[("NOTE.txt", b"hello")]).unwrap();
    let copy = Dataset::load_dir(&out).unwrap();
    assert_eq!(copy.items.title(1), Some("Alpha (1990)"));
    assert_eq!(copy.items.title(2), Some("Beta (1991)"));
    assert_eq!(copy.train.rows, data.train.rows);
    assert_eq!(copy.valid.rows, data.valid.rows);
    assert_eq!(copy.test.map(|t| t.rows), Some(data.valid.rows.clone()));
    assert_eq!(std::fs::read(out.join("NOTE.txt")).unwrap(), b"hello");

    // A temporary folder of a process killed mid-write goes at the next write; one of a live
    // process (pid 1) is left to it.
    let name = out.file_name().unwrap().to_string_lossy().into_owned();
    let abandoned = dir.path().join(format!(".{name}.tmp-999999999-1"));
    let live = dir.path().join(format!(".{name}.tmp-1-1"));
    // Nor a person's backup that happens to look alike.
    let backup = dir.path().join(format!(".{name}.bak-2024-06"));
    for d in [&abandoned, &live, &backup] {
        std::fs::create_dir(d).unwrap();
        std::fs::write(d.join("train.tsv"), "x").unwrap();
    }
    // Writing again replaces the folder as a whole and leaves no temporary folder behind.
    write_dataset(
        &out,
        &data.items,
        &[&data.train, &data.valid, &data.valid_small],
        &[],
    )
    .unwrap();
    assert!(!out.join("test.tsv").exists() && !out.join("NOTE.txt").exists());
    if cfg!(target_os = "linux") {
        assert!(!abandoned.exists());
    }
    assert!(live.exists() && backup.exists());
    std::fs::remove_dir_all(&live).unwrap();
    std::fs::remove_dir_all(&backup).unwrap();
    let _ = std::fs::remove_dir_all(&abandoned);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn writer_refuses_path_like_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let bad = Split {
        name: "../escape".into(),
        path: PathBuf::new(),
        rows: vec![],
    };
    let error = write_dataset(&out, &items(), &[&bad], &[]).unwrap_err();
    assert!(error.to_string().contains("refusing to write"), "{error}");
    assert!(!out.exists() && !dir.path().join("escape.tsv").exists());
}

#[test]
fn blank_lines_are_skipped_and_later_lines_keep_their_numbers() {
    // A blank line mid-file and an editor's trailing ones, as pandas' read_csv skips them.
    let body = format!("{HEADER}1\t2\t1\t100\t1\t\n\n1\t3\t0\t200\t0\t2\n \n\n");
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "valid.tsv", &body);
    let split = read_split(&path, "valid", &items()).unwrap();
    assert_eq!(split.rows.len(), 2);
    // A line of tabs is a row of empty fields, not a blank line.
    let (error, _) = split_error(&format!("{HEADER}\t\t\t\t\t\n"));
    assert!(error.to_string().contains(":2: field `uid`"), "{error}");
    // The bad row after the blank line is line 4 of the file.
    let (error, path) = split_error(&format!("{HEADER}1\t2\t1\t100\t1\t\n\n1\tx\t0\t200\t0\t\n"));
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}:4: field `iid`", path.display())),
        "{error}"
    );
}

#[test]
fn a_file_without_its_header_says_so() {
    // Its first row would otherwise read as a header with the column `1` twice.
    let (error, path) = split_error("1\t2\t1\t100\t1\t\n1\t3\t0\t200\t0\t2\n");
    assert_eq!(
        error.to_string(),
        format!(
            "{}:1: the first line holds values, not column names; a file starts with a header \
             line naming its columns (uid, iid, label, timestamp, warm, his)",
            path.display()
        )
    );
    assert_eq!(error.line(), Some(1));
}
