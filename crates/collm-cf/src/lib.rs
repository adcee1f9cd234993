//! Collaborative models in candle (MF, LightGCN; later SASRec and DIN) and their pointwise BCE
//! trainer with early stopping on valid AUC. Each model exposes the user and item vectors that the
//! CoLLM mapping consumes.
