//! A Llama-family decoder in candle that hosts LoRA adapters, takes spliced input embeddings and
//! scores a prompt by the logits of chosen vocabulary rows at its last position.
