//! PyTorch's CPU random stream (MT19937 and its `normal_`), so a seed initialises the tables
//! exactly as `torch.manual_seed(seed)` followed by the reference's `nn.Embedding` inits does.
//!
//! The baselines' early stopping registers the first evaluation and stops after `patience`
//! evaluations without a new best; with MF's N(0, 1) start the valid AUC first drifts down for
//! ~75 epochs before it climbs, so whether a run survives to the climb depends on the initial
//! draw. Matching the reference's draw makes seed 2023 mean what it meant there.

/// MT19937 as `at::mt19937` (identical to `std::mt19937`).
pub struct TorchGenerator {
    state: [u32; 624],
    next: usize,
}

impl TorchGenerator {
    /// `torch.manual_seed(seed)`: only the low 32 bits seed the engine.
    pub fn new(seed: u64) -> Self {
        let mut state = [0u32; 624];
        state[0] = seed as u32;
        for j in 1..624 {
            let prev = state[j - 1];
            state[j] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(j as u32);
        }
        TorchGenerator { state, next: 624 }
    }

    /// `generator->random()`: the next 32-bit output.
    pub fn random(&mut self) -> u32 {
        if self.next >= 624 {
            self.twist();
        }
        let mut y = self.state[self.next];
        self.next += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    fn twist(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        for i in 0..624 {
            let y = (self.state[i] & UPPER) | (self.state[(i + 1) % 624] & LOWER);
            let mut v = self.state[(i + 397) % 624] ^ (y >> 1);
            if y & 1 != 0 {
                v ^= 0x9908_b0df;
            }
            self.state[i] = v;
        }
        self.next = 0;
    }

    /// `uniform_real_distribution<float>(0, 1)`: the low 24 bits of one output, scaled.
    fn uniform_f32(&mut self) -> f32 {
        (f64::from(self.random() & 0x00ff_ffff) / f64::from(1u32 << 24)) as f32
    }

    /// `tensor.uniform_(from, to)` on a contiguous f32 tensor: one 32-bit output per value, in
    /// memory order (`at::uniform_real_distribution<float>`).
    pub fn uniform_fill(&mut self, data: &mut [f32], from: f32, to: f32) {
        for x in data.iter_mut() {
            *x = self.uniform_f32() * (to - from) + from;
        }
    }

    /// `tensor.normal_(mean, std)` on a contiguous f32 tensor of at least 16 values: uniforms
    /// for every value, then Box-Muller on blocks of 16 (first 8 paired with last 8); a partial
    /// last block is redrawn and recomputed over the final 16 values.
    pub fn normal_fill(&mut self, data: &mut [f32], mean: f32, std: f32) {
        let n = data.len();
        if n < 16 {
            // PyTorch takes another path for tiny tensors; these only occur in tests.
            for x in data.iter_mut() {
                let (u1, u2) = (1.0 - self.uniform_f32(), self.uniform_f32());
                *x = (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos() * std + mean;
            }
            return;
        }
        for x in data.iter_mut() {
            *x = self.uniform_f32();
        }
        for block in data.chunks_exact_mut(16) {
            box_muller_16(block, mean, std);
        }
        if !n.is_multiple_of(16) {
            let tail = &mut data[n - 16..];
            for x in tail.iter_mut() {
                *x = self.uniform_f32();
            }
            box_muller_16(tail, mean, std);
        }
    }
}

fn box_muller_16(block: &mut [f32], mean: f32, std: f32) {
    for j in 0..8 {
        let u1 = 1.0 - block[j];
        let u2 = block[j + 8];
        let radius = (-2.0 * u1.ln()).sqrt();
        let theta = (2.0 * std::f64::consts::PI * f64::from(u2)) as f32;
        block[j] = radius * theta.cos() * std + mean;
        block[j + 8] = radius * theta.sin() * std + mean;
    }
}
