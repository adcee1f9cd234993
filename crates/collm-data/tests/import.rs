//! Importer tests on tiny hand-made raw folders in all three MovieLens layouts; the expected
//! splits below are worked out by hand from the ratings listed in `RATINGS`.

use std::path::Path;

use collm_data::movielens::{detect_layout, import, ImportOptions, Layout, MonthRange};
use collm_data::{DataError, Dataset, Interaction};

const JAN: i64 = 1_579_046_400; // 2020-01-15
const FEB: i64 = 1_581_292_800; // 2020-02-10
const MAR: i64 = 1_583_798_400; // 2020-03-10
const APR: i64 = 1_586_476_800; // 2020-04-10
const MAY: i64 = 1_589_068_800; // 2020-05-10
const JUN: i64 = 1_591_747_200; // 2020-06-10

/// (user, movie, rating, timestamp), deliberately not sorted by user.
/// Windows (options below): train Feb-Mar, valid Apr, test May; Jan is before the window and
/// June is the dropped last month. Movie 999 is not in the movies file (dropped by the join).
const RATINGS: &[(u64, u64, f32, i64)] = &[
    (30, 300, 4.0, FEB),
    (10, 100, 5.0, JAN), // before the window: dropped, not even in histories
    (10, 200, 4.0, FEB),
    (20, 999, 5.0, FEB), // unknown movie
    (30, 100, 1.0, MAR),
    (10, 300, 2.0, MAR),
    (20, 300, 4.5, APR + 3600), // after the row below despite coming first in the file
    (20, 500, 3.5, APR),
    (10, 100, 5.0, APR),
    (30, 400, 4.0, APR),
    (10, 500, 4.0, MAY),
    (30, 200, 5.0, MAY),
    (30, 300, 3.0, MAY), // same timestamp as the row above: file order kept
    (10, 400, 5.0, JUN), // the dropped last month
];

/// Original movie id and title; 500's title has a non-ASCII letter (latin-1 in the old layouts).
const MOVIES: &[(u64, &str)] = &[
    (100, "Alpha (1990)"),
    (200, "Beta (1991)"),
    (300, "Gamma, The (1992)"),
    (400, "Delta (1993)"),
    (500, "Épsilon (1994)"),
];

fn options() -> ImportOptions {
    ImportOptions {
        train_months: 2,
        valid_months: 1,
        test_months: 1,
        ..ImportOptions::default()
    }
}

fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("latin-1 character"))
        .collect()
}

/// The old layouts store integer ratings; 4.5 and 3.5 keep their labels as 4 and 3.
fn whole(rating: f32) -> u32 {
    rating.floor() as u32
}

fn write_layout(dir: &Path, layout: Layout) {
    let (ratings, movies): (Vec<u8>, Vec<u8>) = match layout {
        Layout::MlLatest => {
            let mut r = String::from("userId,movieId,rating,timestamp\n");
            for (u, m, x, t) in RATINGS {
                r += &format!("{u},{m},{x:.1},{t}\n");
            }
            let mut m = String::from("movieId,title,genres\n");
            for (id, title) in MOVIES {
                let title = if title.contains(',') {
                    format!("\"{title}\"")
                } else {
                    title.to_string()
                };
                m += &format!("{id},{title},Drama|Comedy\n");
            }
            (r.into_bytes(), m.into_bytes())
        }
        Layout::Ml1m => {
            let r: String = RATINGS
                .iter()
                .map(|(u, m, x, t)| format!("{u}::{m}::{}::{t}\n", whole(*x)))
                .collect();
            let m: String = MOVIES
                .iter()
                .map(|(id, title)| format!("{id}::{title}::Drama|Comedy\n"))
                .collect();
            (r.into_bytes(), latin1(&m))
        }
        Layout::Ml100k => {
            let r: String = RATINGS
                .iter()
                .map(|(u, m, x, t)| format!("{u}\t{m}\t{}\t{t}\n", whole(*x)))
                .collect();
            let m: String = MOVIES
                .iter()
                .map(|(id, title)| {
                    format!("{id}|{title}|01-Jan-1995||http://example.invalid/|0|1|0\n")
                })
                .collect();
            (r.into_bytes(), latin1(&m))
        }
    };
    let (ratings_name, movies_name) = layout.file_names();
    std::fs::write(dir.join(ratings_name), ratings).unwrap();
    std::fs::write(dir.join(movies_name), movies).unwrap();
}

fn row(uid: u32, iid: u32, label: u8, timestamp: i64, warm: bool, his: &[u32]) -> Interaction {
    Interaction {
        uid,
        iid,
        label,
        timestamp,
        warm,
        his: his.to_vec(),
    }
}

/// Users 10, 20, 30 become 1, 2, 3. Items by first appearance in (user, time) order of the kept
/// rows: 200 -> 1, 300 -> 2, 100 -> 3, 500 -> 4, 400 -> 5. Train users {1, 3}, items {1, 2, 3}.
fn check(data: &Dataset) {
    let titles: Vec<&str> = data.items.iter().map(|(_, t)| t).collect();
    assert_eq!(
        titles,
        [
            "Beta (1991)",
            "Gamma, The (1992)",
            "Alpha (1990)",
            "Épsilon (1994)",
            "Delta (1993)"
        ]
    );
    assert_eq!(
        data.train.rows,
        [
            row(1, 1, 1, FEB, true, &[]),
            row(1, 2, 0, MAR, true, &[1]),
            row(3, 2, 1, FEB, true, &[]),
            row(3, 3, 0, MAR, true, &[2]),
        ]
    );
    assert_eq!(
        data.valid.rows,
        [
            row(1, 3, 1, APR, true, &[1]), // user and item in train
            row(2, 4, 0, APR, false, &[]), // user 2 has no train row
            row(2, 2, 1, APR + 3600, false, &[]),
            row(3, 5, 1, APR, false, &[2]), // item 5 (movie 400) has no train row
        ]
    );
    let test = data.test.as_ref().expect("a test split");
    assert_eq!(
        test.rows,
        [
            row(1, 4, 1, MAY, false, &[1, 3]), // history crosses into valid
            row(3, 1, 1, MAY, true, &[2, 5]),
            row(3, 2, 0, MAY, true, &[2, 5, 1]), // the tied row before it is in the history
        ]
    );
    assert_eq!(data.valid_small.rows.len(), 2);
    let positions: Vec<usize> = data
        .valid_small
        .rows
        .iter()
        .map(|r| {
            data.valid
                .rows
                .iter()
                .position(|v| v == r)
                .expect("valid_small is a subset of valid")
        })
        .collect();
    assert!(
        positions[0] < positions[1],
        "valid_small keeps valid's order: {positions:?}"
    );
    assert_eq!((data.user_num, data.item_num), (4, 6));
}

fn import_layout(layout: Layout) {
    let raw = tempfile::tempdir().unwrap();
    write_layout(raw.path(), layout);
    assert_eq!(detect_layout(raw.path()).unwrap(), layout);
    let imported = import(raw.path(), &options()).unwrap();
    let summary = imported.summary.clone();
    assert_eq!(summary.layout, layout);
    assert_eq!(
        (
            summary.ratings_read,
            summary.ratings_without_movie,
            summary.ratings_outside_window
        ),
        (14, 1, 2)
    );
    assert_eq!((summary.users, summary.items), (3, 5));
    let months = |a: &str, b: &str| MonthRange {
        first: a.into(),
        last: b.into(),
    };
    assert_eq!(summary.window.train, months("2020-02", "2020-03"));
    assert_eq!(summary.window.valid, months("2020-04", "2020-04"));
    assert_eq!(summary.window.test, Some(months("2020-05", "2020-05")));
    assert_eq!(
        summary.window.dropped_last,
        Some(months("2020-06", "2020-06"))
    );
    assert_eq!(
        summary.window.first_kept_date.as_deref(),
        Some("2020-02-10")
    );
    let rows: Vec<usize> = summary.splits.iter().map(|s| s.rows).collect();
    assert_eq!(rows, [4, 4, 2, 3]);
    assert_eq!(
        (summary.splits[1].warm_rows, summary.splits[1].cold_rows),
        (1, 3)
    );
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["splits"][3]["warm_rows"], 2);
    let layout_name = match layout {
        Layout::MlLatest => "ml-latest",
        Layout::Ml1m => "ml-1m",
        Layout::Ml100k => "ml-100k",
    };
    assert_eq!(json["layout"], layout_name);

    // The in-memory import and the written-then-read folder agree.
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("tiny");
    let written = imported.write(&dir, &[]).unwrap();
    check(&written);
    let loaded = Dataset::load_dir(&dir).unwrap();
    check(&loaded);
    assert_eq!(loaded, written);
}

#[test]
fn imports_ml_latest_csv() {
    import_layout(Layout::MlLatest);
}

#[test]
fn imports_ml_1m_latin1() {
    import_layout(Layout::Ml1m);
}

#[test]
fn imports_ml_100k() {
    import_layout(Layout::Ml100k);
}

#[test]
fn default_window_reproduces_the_ml_1m_paper_slots() {
    // ML-1M spans April 2000 to February 2003 (slots 0..34); the defaults must keep
    // June 2001 - January 2003 and split it 10/5/5 months, dropping February 2003.
    let raw = tempfile::tempdir().unwrap();
    let ratings: String = [
        (1, 956_707_200),   // 2000-04-26
        (1, 991_353_599),   // 2001-05-31 23:59:59, last second before the window
        (1, 991_353_600),   // 2001-06-01, first train second
        (2, 1_017_532_800), // 2002-03-31, train
        (2, 1_017_619_200), // 2002-04-01, valid
        (3, 1_030_752_000), // 2002-08-31, valid
        (3, 1_030_838_400), // 2002-09-01, test
        (3, 1_043_971_200), // 2003-01-31, test
        (4, 1_046_390_400), // 2003-02-28, dropped
    ]
    .iter()
    .map(|(u, t)| format!("{u}::1::5::{t}\n"))
    .collect();
    std::fs::write(raw.path().join("ratings.dat"), ratings).unwrap();
    std::fs::write(
        raw.path().join("movies.dat"),
        "1::Toy Story (1995)::Animation\n",
    )
    .unwrap();
    let imported = import(raw.path(), &ImportOptions::default()).unwrap();
    let w = &imported.summary.window;
    assert_eq!(
        (w.train.first.as_str(), w.train.last.as_str()),
        ("2001-06", "2002-03")
    );
    assert_eq!(
        (w.valid.first.as_str(), w.valid.last.as_str()),
        ("2002-04", "2002-08")
    );
    let test = w.test.as_ref().unwrap();
    assert_eq!(
        (test.first.as_str(), test.last.as_str()),
        ("2002-09", "2003-01")
    );
    assert_eq!(
        w.dropped_last.as_ref().map(|d| d.first.as_str()),
        Some("2003-02")
    );
    assert_eq!(imported.summary.ratings_outside_window, 3);
    assert_eq!(imported.train.rows.len(), 2);
    assert_eq!(imported.valid.rows.len(), 2);
    assert_eq!(imported.test.as_ref().map(|t| t.rows.len()), Some(2));
    // Users 2 and 3 keep their order; user 4 only rated in the dropped month and disappears.
    assert_eq!(imported.summary.users, 3);
}

#[test]
fn no_test_split_when_test_months_is_zero() {
    let raw = tempfile::tempdir().unwrap();
    write_layout(raw.path(), Layout::MlLatest);
    let opts = ImportOptions {
        test_months: 0,
        valid_months: 1,
        train_months: 2,
        drop_last_months: 2,
        ..ImportOptions::default()
    };
    let imported = import(raw.path(), &opts).unwrap();
    assert!(imported.test.is_none());
    // Window: train Feb-Mar, valid Apr; May and June dropped.
    assert_eq!(imported.valid.rows.len(), 4);
    assert_eq!(imported.summary.ratings_outside_window, 1 + 3 + 1);
}

fn raw_error(files: &[(&str, &[u8])]) -> (DataError, tempfile::TempDir) {
    let raw = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(raw.path().join(name), bytes).unwrap();
    }
    let error = import(raw.path(), &options()).expect_err("the raw data is invalid");
    (error, raw)
}

const MOVIES_DAT: &[u8] = b"1::A (1990)::Drama\n";

#[test]
fn raw_errors_name_file_line_and_field() {
    let (e, raw) = raw_error(&[
        (
            "ratings.dat",
            b"1::1::5::1581292800\n1::1::five::1581292800\n",
        ),
        ("movies.dat", MOVIES_DAT),
    ]);
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2: field `Rating`: expected a number, found \"five\"",
            raw.path().join("ratings.dat").display()
        )
    );
    let (e, _) = raw_error(&[
        ("ratings.dat", b"1,1,5,1581292800\n"),
        ("movies.dat", MOVIES_DAT),
    ]);
    assert!(
        e.to_string()
            .ends_with(":1: the file must be `::`-separated, but this line looks comma-separated"),
        "{e}"
    );
    let (e, _) = raw_error(&[("ratings.dat", b"1::1::5\n"), ("movies.dat", MOVIES_DAT)]);
    assert!(
        matches!(
            e,
            DataError::ColumnCount {
                line: 1,
                expected: 4,
                found: 3,
                ..
            }
        ),
        "{e}"
    );
    let (e, _) = raw_error(&[("u.data", b"1\tx\t5\t1581292800\n"), ("u.item", b"1|A|x\n")]);
    assert_eq!((e.line(), e.field_name()), (Some(1), Some("item id")));
    let (e, _) = raw_error(&[
        ("ratings.csv", b"userId,movieId,score,timestamp\n"),
        ("movies.csv", b"movieId,title\n"),
    ]);
    assert_eq!(e.field_name(), Some("rating"));
    assert!(
        e.to_string()
            .contains("ratings.csv:1: field `rating`: missing from the header"),
        "{e}"
    );
    let (e, _) = raw_error(&[
        (
            "ratings.csv",
            b"userId,movieId,rating,timestamp\n1,1,4.0,1\n1,1\n",
        ),
        ("movies.csv", b"movieId,title\n1,A\n"),
    ]);
    assert!(
        matches!(
            e,
            DataError::ColumnCount {
                line: 3,
                expected: 4,
                found: 2,
                ..
            }
        ),
        "{e}"
    );
    let (e, _) = raw_error(&[
        ("ratings.csv", b"userId\tmovieId\trating\ttimestamp\n"),
        ("movies.csv", b"movieId,title\n"),
    ]);
    assert!(
        e.to_string()
            .contains("must be comma-separated, but this line looks tab-separated"),
        "{e}"
    );
    let (e, _) = raw_error(&[
        ("ratings.csv", b""),
        ("movies.csv", b"movieId,title\n1,A\n"),
    ]);
    assert!(matches!(e, DataError::Empty { .. }), "{e}");
    let (e, _) = raw_error(&[
        ("ratings.csv", b"userId,movieId,rating,timestamp\n"),
        ("movies.csv", b"movieId,title\n1,A\n"),
    ]);
    assert!(
        e.to_string().contains("ratings.csv: holds no ratings"),
        "{e}"
    );
    let (e, _) = raw_error(&[
        ("ratings.dat", b"1::1::5::1\n"),
        ("movies.dat", b"1::A::x\n1::B::y\n"),
    ]);
    assert!(
        e.to_string().contains(
            "movies.dat:2: field `MovieID`: duplicate movie id 1 (first defined on line 1)"
        ),
        "{e}"
    );
}

/// ml-latest-small's files end their lines in `\r\n`; errors there name the line an editor
/// shows (the csv crate's own count was one short after every `\r\n`).
#[test]
fn errors_in_crlf_files_name_the_right_line() {
    let movies: &[u8] = b"movieId,title,genres\r\n1,A (1995),Drama\r\n2,B (1996),Drama\r\n";
    let (e, _) = raw_error(&[
        (
            "ratings.csv",
            b"userId,movieId,rating,timestamp\r\n1,1,4.0,9\r\n1,2,4.0,9\r\n1,2,four,9\r\n",
        ),
        ("movies.csv", movies),
    ]);
    assert!(
        e.to_string().contains("ratings.csv:4: field `rating`"),
        "{e}"
    );
    let (e, _) = raw_error(&[
        (
            "ratings.csv",
            b"userId,movieId,rating,timestamp\r\n1,1,4.0,9\r\n1,2\r\n",
        ),
        ("movies.csv", movies),
    ]);
    assert!(matches!(e, DataError::ColumnCount { line: 3, .. }), "{e}");
    let (e, _) = raw_error(&[
        (
            "ratings.csv",
            b"userId,movieId,rating,timestamp\r\n1,1,4.0,9\r\n",
        ),
        ("movies.csv", b"movieId,title\r\n1,A\r\n2,B\r\n1,C\r\n"),
    ]);
    assert!(
        e.to_string().contains(
            "movies.csv:4: field `movieId`: duplicate movie id 1 (first defined on line 2)"
        ),
        "{e}"
    );
}

#[test]
fn folder_errors() {
    let (e, _) = raw_error(&[]);
    assert!(e.to_string().contains("no raw MovieLens data"), "{e}");
    let (e, _) = raw_error(&[("ratings.csv", b"userId,movieId,rating,timestamp\n")]);
    assert!(
        e.to_string()
            .contains("found ratings.csv but not movies.csv"),
        "{e}"
    );
    let missing = Path::new("/nonexistent/collm-raw");
    assert!(matches!(
        import(missing, &options()),
        Err(DataError::Io { .. })
    ));
    // April and June only: June is dropped, May is test, April valid; Feb-Mar (train) is empty.
    let (e, _) = raw_error(&[
        ("ratings.dat", b"1::1::5::1586476800\n1::1::5::1591747200\n"),
        ("movies.dat", MOVIES_DAT),
    ]);
    assert!(
        e.to_string()
            .contains("no rating falls in the train months 2020-02..2020-03"),
        "{e}"
    );
    // February and May only: test April, valid March (empty), train Jan-Feb.
    let (e, _) = raw_error(&[
        ("ratings.dat", b"1::1::5::1581292800\n1::1::5::1589068800\n"),
        ("movies.dat", MOVIES_DAT),
    ]);
    assert!(
        e.to_string()
            .contains("no rating falls in the valid months 2020-03..2020-03"),
        "{e}"
    );
}

#[test]
fn options_reject_unknown_keys_and_bad_values() {
    let error = serde_json::from_str::<ImportOptions>(r#"{"treshold": 3.5}"#).unwrap_err();
    assert!(
        error.to_string().contains("unknown field `treshold`"),
        "{error}"
    );
    let parsed: ImportOptions = serde_json::from_str(r#"{"threshold": 3.5}"#).unwrap();
    assert_eq!(
        parsed,
        ImportOptions {
            threshold: 3.5,
            ..ImportOptions::default()
        }
    );
    let raw = tempfile::tempdir().unwrap();
    write_layout(raw.path(), Layout::Ml1m);
    let bad = ImportOptions {
        valid_small_fraction: 0.0,
        ..options()
    };
    let error = import(raw.path(), &bad).unwrap_err();
    assert_eq!(
        error.to_string(),
        "import option `valid_small_fraction`: must be in (0, 1]"
    );
    let bad = ImportOptions {
        train_months: 0,
        ..options()
    };
    assert_eq!(
        import(raw.path(), &bad).unwrap_err().field_name(),
        Some("train_months")
    );
}
