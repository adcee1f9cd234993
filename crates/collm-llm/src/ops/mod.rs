//! Differentiable decoder ops with hand-written backward passes and a CPU f32 fast path.
//!
//! candle's own fast kernels for softmax, RMS norm and RoPE carry no gradient, and its matmul
//! backward always computes the gradient of both operands. Each op here is a `CustomOp` whose
//! `bwd` computes only what LoRA training needs, with vectorised CPU kernels for f32. On other
//! devices or dtypes each op falls back to a composition of candle's differentiable ops, so a
//! CUDA build computes the same thing, only slower.
//!
//! Tensor layouts follow the linear layers: activations are `[batch, seq, features]`, and RoPE
//! and attention read heads either as `[batch, seq, heads, head_dim]` or packed in the last
//! dimension, `[batch, seq, heads·head_dim]` (no transposes, no reshapes).

mod attention;
mod frozen_linear;
mod gated_mlp;
mod gemm;
mod lora_linear;
mod rms_norm;
mod rope;
mod swiglu;
mod vecmath;

#[cfg(test)]
mod testing;

pub use attention::{attention, attention_packed};
pub use frozen_linear::{frozen_linear, frozen_linear_add};
pub use gated_mlp::gated_mlp;
pub use lora_linear::{dropout, lora_linear, LoraDropout};
pub use rms_norm::rms_norm;
pub use rope::{positions_from_mask, rope, rope_tables, RopeLayout};
pub use swiglu::swiglu;

use std::borrow::Cow;

use candle_core::{CpuStorage, DType, Device, Layout, Result, Storage, Tensor};

/// Whether every tensor can take the CPU f32 fast path.
fn fast_path(tensors: &[&Tensor]) -> bool {
    tensors
        .iter()
        .all(|t| t.device().is_cpu() && t.dtype() == DType::F32)
}

/// The elements of a CPU f32 storage in row-major order of `layout`, borrowed when the layout
/// is contiguous and gathered into a fresh buffer otherwise.
fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<Cow<'a, [f32]>> {
    let data = storage.as_slice::<f32>()?;
    if let Some((start, end)) = layout.contiguous_offsets() {
        return Ok(Cow::Borrowed(&data[start..end]));
    }
    let dims = layout.dims();
    let stride = layout.stride();
    let mut out = Vec::with_capacity(layout.shape().elem_count());
    if dims.contains(&0) {
        return Ok(Cow::Owned(out));
    }
    // Odometer over all but the last dim; the last dim is copied with its own stride.
    let rank = dims.len();
    let (inner, inner_stride) = match rank {
        0 => (1, 1),
        _ => (dims[rank - 1], stride[rank - 1]),
    };
    let outer_rank = rank.saturating_sub(1);
    let mut index = vec![0usize; outer_rank];
    let mut offset = layout.start_offset();
    loop {
        out.extend((0..inner).map(|i| data[offset + i * inner_stride]));
        let mut d = outer_rank;
        loop {
            if d == 0 {
                return Ok(Cow::Owned(out));
            }
            d -= 1;
            index[d] += 1;
            offset += stride[d];
            if index[d] < dims[d] {
                break;
            }
            offset -= stride[d] * dims[d];
            index[d] = 0;
        }
    }
}

/// The contiguous f32 elements of a CPU tensor (the read guard stays with the caller).
fn tensor_f32<'a>(storage: &'a Storage, layout: &Layout) -> Result<Cow<'a, [f32]>> {
    match storage {
        Storage::Cpu(cpu) => contiguous_f32(cpu, layout),
        _ => candle_core::bail!("collm ops: expected a CPU tensor"),
    }
}

/// A CPU f32 tensor over a freshly computed buffer.
fn cpu_tensor(data: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
    Tensor::from_vec(data, shape, &Device::Cpu)
}

/// Threads the CPU kernels may use (candle's setting, so both share one rayon pool size).
fn num_threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// Runs `f` on consecutive chunks of `len` items, in parallel when the work is large enough to
/// beat the cost of waking the pool. `f` gets the chunk's item range.
fn par_ranges(len: usize, cost_per_item: usize, f: impl Fn(std::ops::Range<usize>) + Sync) {
    use rayon::prelude::*;
    const MIN_WORK: usize = 1 << 15;
    let threads = num_threads();
    if threads <= 1 || len < 2 || len.saturating_mul(cost_per_item) < MIN_WORK {
        f(0..len);
        return;
    }
    let chunks = (threads * 4).min(len);
    let chunk_len = len.div_ceil(chunks);
    (0..len.div_ceil(chunk_len)).into_par_iter().for_each(|c| {
        let start = c * chunk_len;
        f(start..(start + chunk_len).min(len));
    });
}

/// A raw pointer that parallel tasks use to write disjoint parts of one buffer.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: every user writes only the elements of its own task (documented at each use).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The element pointer at `offset` (a method, so closures capture the whole `SendPtr`).
    ///
    /// # Safety
    /// `offset` must lie inside the buffer.
    unsafe fn at(&self, offset: usize) -> *mut f32 {
        self.0.add(offset)
    }

    /// The `len` elements starting at `start`.
    ///
    /// # Safety
    /// The range must lie inside the buffer and no other live slice may overlap it.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, start: usize, len: usize) -> &mut [f32] {
        std::slice::from_raw_parts_mut(self.0.add(start), len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_strided_layouts_in_row_major_order() -> Result<()> {
        let t = Tensor::arange(0f32, 24., &Device::Cpu)?.reshape((2, 3, 4))?;
        for view in [
            t.transpose(0, 2)?,
            t.narrow(2, 1, 2)?,
            t.transpose(1, 2)?.narrow(0, 1, 1)?,
        ] {
            let (s, l) = view.storage_and_layout();
            let got = tensor_f32(&s, l)?.into_owned();
            let want = view.flatten_all()?.to_vec1::<f32>()?;
            assert_eq!(got, want);
        }
        Ok(())
    }
}
