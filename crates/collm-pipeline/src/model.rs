//! The assembled CoLLM model: the LLM with its tokenizer, the two templates, what fills the ID
//! slots, and the score; turns interaction rows into prompts and prompts into scores, with or
//! without a cached prompt prefix.

use std::path::Path;

use candle_core::{Device, Tensor};
use collm_cf::{batch_for, CfModel};
use collm_data::{Dataset, Interaction, Items};
use collm_llm::{splice, KvPrefix, Llm, LlmTokenizer};

use crate::batch::left_pad;
use crate::checkpoint::MaskStreams;
use crate::config::{CfInit, PipelineConfig, SlotFill, Trainable};
use crate::error::{PipelineError, Result};
use crate::mapping::{Cie, IdTokens, NamedVar};
use crate::prompt::{fill, tokenize, FilledPrompt, PromptText, PromptTokens, SlotKind};
use crate::score::ScoreKind;
use crate::template::{PromptKind, Template};

/// What fills the ID slots.
pub enum SlotSource {
    /// The CIE over a collaborative model's vectors.
    Cie {
        cie: Cie,
        cf: Box<dyn CfModel>,
    },
    IdTokens(IdTokens),
    None,
}

/// One row, tokenised for one prompt kind.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub row: Interaction,
    pub tokens: PromptTokens,
}

/// What the model answers one sample (see [`CollmModel::answers`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Answer {
    /// The raw logit of the "Yes" token at the last prompt position.
    pub yes: f32,
    /// The raw logit of the "No" token there.
    pub no: f32,
    /// The score training and evaluation read: `yes`, or `yes - no` (see [`ScoreKind`]).
    pub score: f32,
}

/// The model CoLLM trains and scores with.
pub struct CollmModel {
    pub llm: Llm,
    pub tokenizer: LlmTokenizer,
    pub slots: SlotSource,
    pub score: ScoreKind,
    text_template: Template,
    hybrid_template: Template,
    text: PromptText,
    proj_token_num: usize,
    items: Items,
    /// The vocabulary rows of the answer tokens, Yes and No (the score reads the first
    /// `score.rows()`).
    yes_no: [u32; 2],
    bos: u32,
    /// Whether gradients flow into the collaborative model (T1/T2).
    cf_trainable: bool,
}

/// The token that follows `#Answer:` when `answer` is written after it: the token the model would
/// produce as its answer, looked up through the tokenizer (for SmolLM2, " Yes" = `ĠYes`).
pub fn answer_token(tok: &LlmTokenizer, answer: &str) -> Result<u32> {
    let head = "#Answer:";
    let enc = |t: &str| {
        tok.encode(t)
            .map_err(|e| PipelineError::Tokenizer(e.to_string()))
    };
    let base = enc(head)?;
    let full = enc(&format!("{head} {answer}"))?;
    match full.strip_prefix(base.as_slice()) {
        Some([id]) => Ok(*id),
        _ => Err(PipelineError::Tokenizer(format!(
            "\"{head} {answer}\" does not end in a single answer token ({full:?} after {base:?})"
        ))),
    }
}

impl CollmModel {
    /// Assembles the model for `cfg`: templates (paths relative to `base_dir`), the slot source
    /// (CF weights loaded or freshly drawn), the score tokens. LoRA is re-initialised from
    /// `cfg.seed` so runs are reproducible.
    pub fn build(
        cfg: &PipelineConfig,
        llm: Llm,
        tokenizer: LlmTokenizer,
        dataset: &Dataset,
        base_dir: &Path,
    ) -> Result<CollmModel> {
        cfg.validate()?;
        let device = llm.device().clone();
        let text_template = cfg.prompt.template(PromptKind::Text, base_dir)?;
        let hybrid_template = cfg.prompt.template(PromptKind::Hybrid, base_dir)?;
        let hidden = llm.config().hidden_size;
        let tokens = cfg.prompt.proj_token_num;
        let slots = match cfg.slots.kind {
            SlotFill::None => SlotSource::None,
            SlotFill::IdTokens => SlotSource::IdTokens(IdTokens::new(
                dataset.user_num,
                dataset.item_num,
                hidden,
                tokens,
                cfg.seed,
                &device,
            )?),
            SlotFill::SoftPrompt => {
                SlotSource::IdTokens(IdTokens::shared(hidden, tokens, cfg.seed, &device)?)
            }
            SlotFill::Cie => {
                let cf_cfg = cfg
                    .slots
                    .cf
                    .as_ref()
                    .expect("validated: the CIE has a CF config");
                let cf =
                    match (cfg.slots.cf_init, &cfg.slots.cf_weights) {
                        (CfInit::Pretrained, Some(w)) => {
                            collm_cf::load(cf_cfg, dataset, &base_dir.join(w), &device)
                        }
                        (CfInit::Pretrained, None) => return Err(PipelineError::config(
                            "slots.cf_weights",
                            "cf_init = \"pretrained\" needs the weights (or cf_init = \"scratch\")",
                        )),
                        (CfInit::Scratch, _) => collm_cf::build(cf_cfg, dataset, cfg.seed, &device),
                    }
                    .map_err(|e| PipelineError::Upstream(format!("collaborative model: {e}")))?;
                let cie = Cie::new(
                    cf.dim(),
                    cfg.slots.mid_times,
                    hidden,
                    tokens,
                    cfg.seed,
                    &device,
                )?
                .with_input(cfg.slots.cf_input);
                SlotSource::Cie { cie, cf }
            }
        };
        llm.init_lora(cfg.seed)
            .map_err(|e| PipelineError::Upstream(e.to_string()))?;
        let yes = answer_token(&tokenizer, "Yes")?;
        let no = answer_token(&tokenizer, "No")?;
        let bos = tokenizer
            .bos_id()
            .ok_or_else(|| PipelineError::Tokenizer("the model has no BOS token".into()))?;
        Ok(CollmModel {
            llm,
            tokenizer,
            slots,
            score: cfg.score,
            text_template,
            hybrid_template,
            text: cfg.prompt.text(),
            proj_token_num: tokens,
            items: dataset.items.clone(),
            yes_no: [yes, no],
            bos,
            cf_trainable: false,
        })
    }

    pub fn device(&self) -> &Device {
        self.llm.device()
    }

    /// The Yes and No token ids.
    pub fn yes_no_ids(&self) -> (u32, u32) {
        (self.yes_no[0], self.yes_no[1])
    }

    pub fn template(&self, kind: PromptKind) -> &Template {
        match kind {
            PromptKind::Text => &self.text_template,
            PromptKind::Hybrid => &self.hybrid_template,
        }
    }

    fn title(&self, iid: u32) -> Result<&str> {
        self.items
            .title(iid)
            .ok_or_else(|| PipelineError::Data(format!("item {iid} has no title in items.tsv")))
    }

    /// The filled prompt of `row`.
    pub fn fill(&self, row: &Interaction, kind: PromptKind) -> Result<FilledPrompt> {
        let start = row.his.len().saturating_sub(self.text.max_history);
        let titles = row.his[start..]
            .iter()
            .map(|&i| self.title(i))
            .collect::<Result<Vec<_>>>()?;
        Ok(fill(
            self.template(kind),
            &titles,
            self.title(row.iid)?,
            &self.text,
        ))
    }

    /// Tokenises a filled prompt (BOS first, slots as `proj_token_num` positions).
    pub fn tokenize(&self, prompt: &FilledPrompt) -> Result<PromptTokens> {
        let slot_id = self.tokenizer.pad_id();
        tokenize(prompt, self.bos, slot_id, self.proj_token_num, |t| {
            self.tokenizer
                .encode(t)
                .map_err(|e| PipelineError::Tokenizer(e.to_string()))
        })
    }

    pub fn encode(&self, row: &Interaction, kind: PromptKind) -> Result<Encoded> {
        Ok(Encoded {
            row: row.clone(),
            tokens: self.tokenize(&self.fill(row, kind)?)?,
        })
    }

    pub fn encode_all(&self, rows: &[Interaction], kind: PromptKind) -> Result<Vec<Encoded>> {
        rows.iter().map(|r| self.encode(r, kind)).collect()
    }

    /// Sets what the next forward passes differentiate: LoRA dropout is on only while LoRA
    /// trains (it must be off for the exact stage-2 cache; the reference leaves it on in stage 2,
    /// which makes its stage-2 forward noisy for no benefit); the CF model's training mode and
    /// whether its vectors keep their gradient follow `cf`.
    pub fn set_trainable(&mut self, lora: bool, cf: bool) {
        self.llm.set_lora_dropout(lora);
        self.cf_trainable = cf;
        if let SlotSource::Cie { cf: model, .. } = &mut self.slots {
            model.set_train(cf);
        }
    }

    /// Where the dropout masks of LoRA and of the collaborative model are.
    pub fn mask_streams(&self) -> MaskStreams {
        MaskStreams {
            lora: self.llm.lora_config().map(|_| self.llm.lora_mask_stream()),
            cf: match &self.slots {
                SlotSource::Cie { cf, .. } => cf.dropout_state(),
                _ => None,
            },
        }
    }

    /// Continues the dropout masks from saved [`CollmModel::mask_streams`].
    pub fn continue_mask_streams(&self, saved: &MaskStreams) -> Result<()> {
        if let Some(position) = saved.lora {
            self.llm.continue_lora_masks(position).map_err(up)?;
        }
        if let (Some(state), SlotSource::Cie { cf, .. }) = (saved.cf, &self.slots) {
            cf.set_dropout_state(state);
        }
        Ok(())
    }

    /// The trainable tensors of the given parts, with stable names.
    pub fn vars(&self, parts: &[Trainable]) -> Result<Vec<NamedVar>> {
        let mut out = Vec::new();
        for part in parts {
            match (part, &self.slots) {
                (Trainable::Lora, _) => {
                    let vars = self.llm.lora_vars();
                    if vars.is_empty() {
                        return Err(PipelineError::config(
                            "train",
                            "`lora` is trained but the model has no LoRA",
                        ));
                    }
                    out.extend(vars)
                }
                (Trainable::Mapping, SlotSource::Cie { cie, .. }) => out.extend(cie.vars()),
                (Trainable::Mapping, SlotSource::IdTokens(t)) => out.extend(t.vars()),
                (Trainable::Cf, SlotSource::Cie { cf, .. }) => out.extend(
                    cf.vector_vars()
                        .into_iter()
                        .map(|(n, v)| (format!("cf.{n}"), v)),
                ),
                (p, _) => {
                    return Err(PipelineError::config(
                        "train",
                        format!("{p:?} has nothing to train here"),
                    ))
                }
            }
        }
        Ok(out)
    }

    /// `[N, proj_token_num, H]` slot embeddings of `kind` for `rows`.
    pub fn slot_vectors(&self, rows: &[&Interaction], kind: SlotKind) -> Result<Tensor> {
        match &self.slots {
            SlotSource::None => Err(PipelineError::Data(
                "the prompt has ID slots but nothing fills them".into(),
            )),
            SlotSource::IdTokens(t) => {
                let ids: Vec<u32> = rows
                    .iter()
                    .map(|r| if kind == SlotKind::User { r.uid } else { r.iid })
                    .collect();
                t.forward(kind, &ids)
            }
            SlotSource::Cie { cie, cf } => {
                let owned: Vec<Interaction> = rows.iter().map(|r| (*r).clone()).collect();
                let batch = batch_for(&owned, cf.history_len(), self.device())?;
                let v = match kind {
                    SlotKind::User => cf.user_vectors(&batch)?,
                    SlotKind::Item => cf.item_vectors(&batch)?,
                };
                let v = if self.cf_trainable { v } else { v.detach() };
                cie.forward(&v)
            }
        }
    }

    /// Embeddings and mask of `seqs` (with slots filled from `rows`).
    fn embed(&self, rows: &[&Interaction], seqs: &[&PromptTokens]) -> Result<(Tensor, Tensor)> {
        let batch = left_pad(seqs, self.tokenizer.pad_id(), self.device())?;
        let embeds = self.llm.embed_tokens(&batch.ids).map_err(up)?;
        if batch.slots.is_empty() {
            return Ok((embeds, batch.mask));
        }
        let n = rows.len();
        let t = self.proj_token_num;
        let hidden = self.llm.config().hidden_size;
        let has = |k: SlotKind| batch.slots.iter().any(|s| s.0 == k);
        let mut parts = Vec::new();
        let mut offsets = [0usize; 2];
        for (i, kind) in [SlotKind::User, SlotKind::Item].into_iter().enumerate() {
            offsets[i] = parts.len() * n * t;
            if has(kind) {
                parts.push(self.slot_vectors(rows, kind)?.reshape((n * t, hidden))?);
            }
        }
        let vectors = Tensor::cat(&parts, 0)?;
        let order: Vec<u32> = batch
            .slots
            .iter()
            .map(|&(kind, row, _, j)| {
                let base = if kind == SlotKind::User {
                    offsets[0]
                } else {
                    offsets[1]
                };
                (base + row * t + j) as u32
            })
            .collect();
        let vectors = vectors.index_select(&Tensor::new(order.as_slice(), self.device())?, 0)?;
        let places: Vec<(usize, usize)> = batch
            .slots
            .iter()
            .map(|&(_, row, pos, _)| (row, pos))
            .collect();
        Ok((splice(&embeds, &places, &vectors).map_err(up)?, batch.mask))
    }

    /// Keys and values of the tokens before each sample's first slot, without gradient. Exact
    /// to reuse only while LoRA is frozen with its dropout off.
    pub fn prefix_kv(&self, samples: &[&Encoded]) -> Result<KvPrefix> {
        let heads: Vec<PromptTokens> = samples
            .iter()
            .map(|s| PromptTokens {
                ids: s.tokens.ids[..s.tokens.prefix_len()].to_vec(),
                slots: vec![],
            })
            .collect();
        let refs: Vec<&PromptTokens> = heads.iter().collect();
        let batch = left_pad(&refs, self.tokenizer.pad_id(), self.device())?;
        let embeds = self.llm.embed_tokens(&batch.ids).map_err(up)?;
        self.llm.prefix_kv(&embeds, &batch.mask).map_err(up)
    }

    /// `[B]` scores of `samples`. With `prefix` (from [`CollmModel::prefix_kv`] over the same
    /// samples), only the tokens from the first slot on are run.
    pub fn scores(&self, samples: &[&Encoded], prefix: Option<&KvPrefix>) -> Result<Tensor> {
        let hidden = self.last_hidden(samples, prefix)?;
        // The vocabulary rows the score reads: Yes, then No when it needs it.
        let logits = (self.llm)
            .score_rows(&hidden, &self.yes_no[..self.score.rows()])
            .map_err(up)?;
        self.score.combine(&logits)
    }

    /// The final hidden state `[B, H]` at each sample's last token (see [`CollmModel::scores`]
    /// for `prefix`).
    fn last_hidden(&self, samples: &[&Encoded], prefix: Option<&KvPrefix>) -> Result<Tensor> {
        let rows: Vec<&Interaction> = samples.iter().map(|s| &s.row).collect();
        let (embeds, mask) = match prefix {
            None => {
                let seqs: Vec<&PromptTokens> = samples.iter().map(|s| &s.tokens).collect();
                self.embed(&rows, &seqs)?
            }
            Some(_) => {
                let tails: Vec<PromptTokens> = samples
                    .iter()
                    .map(|s| s.tokens.suffix_from(s.tokens.prefix_len()))
                    .collect();
                if tails.iter().any(|t| t.ids.is_empty()) {
                    return Err(PipelineError::Data(
                        "a cached prompt has no tokens after its prefix".into(),
                    ));
                }
                let refs: Vec<&PromptTokens> = tails.iter().collect();
                self.embed(&rows, &refs)?
            }
        };
        self.llm.last_hidden(&embeds, &mask, prefix).map_err(up)
    }

    /// [`CollmModel::scores`] for evaluation, with nothing tracked for a backward pass
    /// ([`collm_llm::Llm::untracked`]): a scoring batch holds one layer's activations at a time
    /// rather than all of them. The same values to the bit.
    pub fn eval_scores(&self, samples: &[&Encoded], prefix: Option<&KvPrefix>) -> Result<Tensor> {
        self.llm.untracked(|| self.scores(samples, prefix))
    }

    /// What the model answers each sample: the raw Yes and No logits, whatever the score kind,
    /// and the score made of them by the same [`ScoreKind::combine`] training and evaluation use
    /// (for inspection; untracked, as [`CollmModel::eval_scores`]).
    pub fn answers(&self, samples: &[&Encoded]) -> Result<Vec<Answer>> {
        let (logits, scores) = self.llm.untracked(|| {
            let hidden = self.last_hidden(samples, None)?;
            let logits = self.llm.score_rows(&hidden, &self.yes_no).map_err(up)?;
            let scores = self.score.combine(&logits)?;
            Ok::<_, PipelineError>((logits, scores))
        })?;
        Ok(logits
            .to_vec2::<f32>()?
            .into_iter()
            .zip(scores.to_vec1::<f32>()?)
            .map(|(r, score)| Answer {
                yes: r[0],
                no: r[1],
                score,
            })
            .collect())
    }

    /// Bytes one cached prefix position of one row takes (keys and values of every layer).
    pub fn kv_bytes_per_position(&self) -> usize {
        let c = self.llm.config();
        c.num_layers * 2 * c.num_kv_heads * c.head_dim * self.llm.dtype().size_in_bytes()
    }
}

pub(crate) fn up(e: collm_llm::LlmError) -> PipelineError {
    PipelineError::Upstream(e.to_string())
}
