//! The prompts of real ml-1m-collm rows, byte for byte as the reference builds them, and the
//! token positions of their ID slots.

mod common;

use collm_pipeline::prompt::SlotKind;
use collm_pipeline::PromptKind;

/// What the reference's `recprompt_wrap_v2` produces before tokenisation (spec §2.3): `<s>`
/// prepended, each ID placeholder as `<unk>`.
fn as_reference(text: &str) -> String {
    format!(
        "<s>{}",
        text.replace("<UserID>", "<unk>")
            .replace("<TargetItemID>", "<unk>")
    )
}

#[test]
fn hybrid_prompt_of_a_train_row_is_byte_exact() {
    let dataset = common::dataset();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::tiny_config(&common::saved_mf(&dataset, dir.path()));
    cfg.prompt.max_history = 10;
    let model = common::tiny_model(&cfg, &dataset);
    // train.tsv line 54: uid 4, item 52 (Superman), twelve earlier positives.
    let row = &dataset.train.rows[52];
    assert_eq!((row.uid, row.iid, row.his.len()), (4, 52, 12));
    let text = model.fill(row, PromptKind::Hybrid).unwrap().text();
    let want = concat!(
        "<s>#Question: A user has given high ratings to the following movies: ",
        "\"Raiders of the Lost Ark (1981)\", \"Godfather, The (1972)\", \"Die Hard (1988)\", ",
        "\"True Romance (1993)\", \"Rocky (1976)\", \"Untouchables, The (1987)\", \"Diva (1981)\", ",
        "\"Planet of the Apes (1968)\", \"Mad Max (1979)\", \"Top Gun (1986)\". ",
        "Additionally, we have information about the user's preferences encoded in the feature <unk>. ",
        "Using all available information, make a prediction about whether the user would enjoy the movie ",
        "titled \"Superman (1978)\" with the feature <unk>? Answer with \"Yes\" or \"No\". \\n#Answer:"
    );
    assert_eq!(as_reference(&text), want);
}

#[test]
fn text_prompt_with_empty_history_says_unkow() {
    let dataset = common::dataset();
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::tiny_config(&common::saved_mf(&dataset, dir.path()));
    let model = common::tiny_model(&cfg, &dataset);
    let row = &dataset.train.rows[0];
    assert!(row.his.is_empty());
    let text = model.fill(row, PromptKind::Text).unwrap().text();
    assert_eq!(
        as_reference(&text),
        "<s>#Question: A user has given high ratings to the following movies: unkow. Leverage the \
         information to predict whether the user would enjoy the movie titled \"Shawshank Redemption, \
         The (1994)\"? Answer with \"Yes\" or \"No\". \\n#Answer:"
    );
}

#[test]
fn slots_sit_where_the_segments_put_them() {
    let dataset = common::dataset();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::tiny_config(&common::saved_mf(&dataset, dir.path()));
    cfg.prompt.proj_token_num = 2;
    let model = common::tiny_model(&cfg, &dataset);
    let row = &dataset.train.rows[52];
    let enc = model.encode(row, PromptKind::Hybrid).unwrap();
    let ids = &enc.tokens.ids;
    assert_eq!(
        ids[0],
        model.tokenizer.bos_id().unwrap(),
        "BOS first, as the reference's <s>"
    );
    let kinds: Vec<SlotKind> = enc.tokens.slots.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, vec![SlotKind::User, SlotKind::Item]);
    let user = enc.tokens.slots[0];
    let item = enc.tokens.slots[1];
    assert_eq!((user.len, item.len), (2, 2));
    let decode = |r: std::ops::Range<usize>| model.tokenizer.decode(&ids[r]).unwrap();
    // The segment before the user slot ends in "feature " with the space as its own token.
    assert!(decode(1..user.start).ends_with("encoded in the feature "));
    assert_eq!(decode(user.start - 1..user.start), " ");
    assert!(decode(user.start + 2..item.start).starts_with(". Using all"));
    assert!(decode(user.start + 2..item.start).ends_with("\"Superman (1978)\" with the feature "));
    assert!(decode(item.start + 2..ids.len()).starts_with("? Answer with"));
    assert!(decode(item.start + 2..ids.len()).ends_with(" \\n#Answer:"));
    assert_eq!(enc.tokens.prefix_len(), user.start);
    // The text-only prompt of the same row has no slots.
    assert!(model
        .encode(row, PromptKind::Text)
        .unwrap()
        .tokens
        .slots
        .is_empty());
}

#[test]
fn score_tokens_come_from_the_tokenizer() {
    let dataset = common::dataset();
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::tiny_config(&common::saved_mf(&dataset, dir.path()));
    let model = common::tiny_model(&cfg, &dataset);
    let (yes, no) = model.yes_no_ids();
    assert_eq!(model.tokenizer.decode(&[yes]).unwrap(), " Yes");
    assert_eq!(model.tokenizer.decode(&[no]).unwrap(), " No");
}
