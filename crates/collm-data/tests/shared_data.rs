//! Reads the CoLLM paper's ML-1M split from the shared data and checks it against the counts in
//! `collm-spec.md` §1.3; imports the embedded default and prints its counts.

use std::path::Path;

use collm_data::embedded::{ensure_default_dataset, DEFAULT_DATASET};
use collm_data::movielens::{ImportRecord, IMPORT_RECORD_FILE};
use collm_data::{write_dataset, Dataset};

const ML1M: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/ml-1m-collm"
);

#[test]
fn reads_the_ml_1m_collm_split() {
    let data = Dataset::load_dir(Path::new(ML1M)).unwrap();
    assert_eq!(data.name, "ml-1m-collm");
    assert_eq!((data.user_num, data.item_num), (839, 3256));
    assert_eq!(data.items.count(), 3255);
    assert_eq!(
        data.items.title(1),
        Some("Shawshank Redemption, The (1994)")
    );
    assert!(data.test.is_none());
    let stats = data.stats();
    let counts: Vec<(usize, usize, usize, usize, usize)> = stats
        .iter()
        .map(|s| (s.rows, s.users, s.items, s.warm_rows, s.cold_rows))
        .collect();
    assert_eq!(
        counts,
        [
            (33891, 740, 3087, 33891, 0),
            (10401, 356, 2506, 6609, 3792),
            (5200, 331, 1985, 3300, 1900)
        ]
    );
    // Positive rates from the spec's table.
    let rates: Vec<String> = stats
        .iter()
        .map(|s| format!("{:.4}", s.positive_rate.unwrap()))
        .collect();
    assert_eq!(rates, ["0.5368", "0.5283", "0.5306"]);
    assert_eq!(data.train_users().len(), 740);
    assert_eq!(data.train_items().len(), 3087);
    // The warm flag in the files agrees with its definition.
    let (users, items) = (data.train_users(), data.train_items());
    assert!(data
        .valid
        .rows
        .iter()
        .all(|r| r.warm == (users.contains(&r.uid) && items.contains(&r.iid))));
    // Rows with no prior positive (spec §1.3: 1,275 in train, 103 in valid).
    assert_eq!(
        data.train.rows.iter().filter(|r| r.his.is_empty()).count(),
        1275
    );
    assert_eq!(
        data.valid.rows.iter().filter(|r| r.his.is_empty()).count(),
        103
    );

    // Written back and read again, nothing changes.
    let out = tempfile::tempdir().unwrap();
    let copy_dir = out.path().join("ml-1m-copy");
    write_dataset(&copy_dir, &data.items, &data.splits(), &[]).unwrap();
    let copy = Dataset::load_dir(&copy_dir).unwrap();
    assert_eq!(copy.items, data.items);
    assert_eq!(copy.train.rows, data.train.rows);
    assert_eq!(copy.valid_small.rows, data.valid_small.rows);
}

#[test]
fn imports_the_embedded_default_once() {
    let home = tempfile::tempdir().unwrap();
    let dir = ensure_default_dataset(home.path()).unwrap();
    assert_eq!(dir, home.path().join(DEFAULT_DATASET));
    let data = Dataset::load_dir(&dir).unwrap();
    let record = ImportRecord::read(&dir).expect("an import record");
    assert!(dir.join("README.txt").is_file());
    let stats = data.stats();
    for s in &stats {
        println!(
            "{:<12} rows {:>6}  users {:>4}  items {:>5}  warm {:>6}  cold {:>6}  positive rate {:.4}",
            s.name, s.rows, s.users, s.items, s.warm_rows, s.cold_rows, s.positive_rate.unwrap_or(f64::NAN)
        );
    }
    println!(
        "window {}",
        serde_json::to_string(&record.summary.window).unwrap()
    );
    println!("user_num {} item_num {}", data.user_num, data.item_num);
    // Counts must match exactly; rates went through JSON, which may round the last bit.
    let counts = |s: &collm_data::SplitStats| {
        (
            s.name.clone(),
            s.rows,
            s.users,
            s.items,
            s.positives,
            s.warm_rows,
        )
    };
    assert_eq!(
        record.summary.splits.iter().map(counts).collect::<Vec<_>>(),
        stats.iter().map(counts).collect::<Vec<_>>()
    );
    assert_eq!(record.summary.ratings_read, 100_836);
    assert!(stats.iter().all(|s| s.rows > 0), "{stats:?}");
    assert_eq!(
        stats[2].rows as f64,
        (stats[1].rows as f64 * 0.5).round_ties_even()
    );
    assert_eq!(stats[0].cold_rows, 0);

    // A second call reuses the folder: a file placed there survives.
    std::fs::write(dir.join("sentinel"), b"x").unwrap();
    assert_eq!(ensure_default_dataset(home.path()).unwrap(), dir);
    assert!(dir.join("sentinel").exists());

    // A folder imported with other options is redone.
    let mut record = record;
    record.options.threshold = 3.0;
    std::fs::write(
        dir.join(IMPORT_RECORD_FILE),
        serde_json::to_vec(&record).unwrap(),
    )
    .unwrap();
    ensure_default_dataset(home.path()).unwrap();
    assert!(!dir.join("sentinel").exists());
    assert_eq!(Dataset::load_dir(&dir).unwrap(), data);
}
