//! Strided f32 matrix products through the `gemm` crate (the one candle's CPU matmul uses),
//! called directly so the ops choose operand strides, accumulation and threading themselves.

use gemm::Parallelism;

/// A read-only matrix view: element (i, j) lives at `ptr + i * row_stride + j * col_stride`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef {
    pub ptr: *const f32,
    pub row_stride: isize,
    pub col_stride: isize,
}

impl MatRef {
    /// A row-major view of `data` with rows `row_stride` apart, starting at `offset`.
    pub fn rows(data: &[f32], offset: usize, row_stride: usize) -> Self {
        Self {
            ptr: data[offset..].as_ptr(),
            row_stride: row_stride as isize,
            col_stride: 1,
        }
    }

    /// The transposed view.
    pub fn t(self) -> Self {
        Self {
            ptr: self.ptr,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }
}

/// A writable matrix view, laid out like [`MatRef`].
pub(crate) struct MatMut {
    pub ptr: *mut f32,
    pub row_stride: isize,
    pub col_stride: isize,
}

impl MatMut {
    /// A row-major view of `data` with rows `row_stride` apart, starting at `offset`.
    pub fn rows(data: &mut [f32], offset: usize, row_stride: usize) -> Self {
        Self {
            ptr: data[offset..].as_mut_ptr(),
            row_stride: row_stride as isize,
            col_stride: 1,
        }
    }

    /// A row-major view through a raw pointer (for buffers shared by parallel tasks).
    pub fn raw_rows(ptr: *mut f32, row_stride: usize) -> Self {
        Self {
            ptr,
            row_stride: row_stride as isize,
            col_stride: 1,
        }
    }
}

/// Whether the product runs on the rayon pool or on the calling thread.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Threads {
    /// The caller is already one of several parallel tasks.
    Single,
    /// Use the pool when the product is big enough to pay for waking it.
    Pool,
}

/// `dst = (accumulate ? dst : 0) + alpha * lhs · rhs` for an m×k `lhs` and a k×n `rhs`.
///
/// # Safety
/// Every view must cover its whole matrix: m×k, k×n and m×n elements reachable through its
/// strides, and `dst` must not overlap the inputs or be written by anyone else meanwhile.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    dst: MatMut,
    accumulate: bool,
    lhs: MatRef,
    rhs: MatRef,
    alpha: f32,
    threads: Threads,
) {
    if m == 0 || n == 0 {
        return;
    }
    // Below ~1 MFLOP the pool's wake-up costs more than the second core gains.
    let parallelism = match threads {
        Threads::Pool if super::num_threads() > 1 && m * n * k >= (1 << 19) => {
            Parallelism::Rayon(super::num_threads())
        }
        _ => Parallelism::None,
    };
    gemm::gemm(
        m,
        n,
        k,
        dst.ptr,
        dst.col_stride,
        dst.row_stride,
        accumulate,
        lhs.ptr,
        lhs.col_stride,
        lhs.row_stride,
        rhs.ptr,
        rhs.col_stride,
        rhs.row_stride,
        1.0,
        alpha,
        false,
        false,
        false,
        parallelism,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn strided_products_match_a_naive_loop() {
        let (m, n, k) = (7, 5, 9);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 - 6.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.5 - 1.0).collect();
        let want = naive(&a, &b, m, n, k);
        // bt holds b transposed, so reading it through `.t()` gives b again.
        let mut bt = vec![0f32; n * k];
        for p in 0..k {
            for j in 0..n {
                bt[j * k + p] = b[p * n + j];
            }
        }
        let mut c = vec![1f32; m * n];
        unsafe {
            sgemm(
                m,
                n,
                k,
                MatMut::rows(&mut c, 0, n),
                false,
                MatRef::rows(&a, 0, k),
                MatRef::rows(&bt, 0, k).t(),
                1.0,
                Threads::Pool,
            )
        };
        assert_eq!(c, want);
        // Accumulating twice the product onto it gives three times the product.
        unsafe {
            sgemm(
                m,
                n,
                k,
                MatMut::rows(&mut c, 0, n),
                true,
                MatRef::rows(&a, 0, k),
                MatRef::rows(&b, 0, n),
                2.0,
                Threads::Single,
            )
        };
        let thrice: Vec<f32> = want.iter().map(|x| 3.0 * x).collect();
        assert_eq!(c, thrice);
    }
}
