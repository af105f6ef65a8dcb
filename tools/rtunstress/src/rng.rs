//! The run's randomness: one seed, one independent stream per process.
//!
//! splitmix64 turns (seed, stream) into a starting state; xorshift64* then
//! draws. Both are a handful of lines, so a run can be replayed from its seed
//! on any machine: a process makes the same choices in the same order as long
//! as the kernel answers the same way.

/// One step of splitmix64 (Steele, Lea, Flood): advances `state`, returns a
/// well-mixed value.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// xorshift64* (Vigna): a 64-bit state that is never 0.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// The generator of stream `stream` (a process's index) of run `seed`.
    pub fn derive(seed: u64, stream: u64) -> Rng {
        let mut s = seed;
        let a = splitmix64(&mut s);
        let mut t = a ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03);
        let mut v = splitmix64(&mut t);
        if v == 0 {
            v = 0x1234_5678_9abc_def1;
        }
        Rng(v)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (0 when `n` is 0), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// An index into `weights`, each drawn with probability weight / sum.
    /// Zero weights are never drawn; all zero gives 0.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        if total == 0 {
            return 0;
        }
        let mut r = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if r < u64::from(w) {
                return i;
            }
            r -= u64::from(w);
        }
        weights.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // The first outputs of splitmix64 from state 0 (reference implementation).
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(&mut s), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn same_seed_same_stream_same_numbers() {
        let mut a = Rng::derive(42, 3);
        let mut b = Rng::derive(42, 3);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn streams_and_seeds_differ() {
        let first = |seed, stream| Rng::derive(seed, stream).next_u64();
        assert_ne!(first(42, 0), first(42, 1));
        assert_ne!(first(42, 0), first(43, 0));
        assert_ne!(first(0, 0), 0);
    }

    #[test]
    fn below_and_range_stay_in_bounds_and_cover() {
        let mut r = Rng::derive(7, 0);
        let mut seen = [false; 10];
        for _ in 0..10_000 {
            let v = r.below(10);
            assert!(v < 10);
            seen[v as usize] = true;
            let w = r.range(5, 8);
            assert!((5..=8).contains(&w));
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(r.below(0), 0);
    }

    #[test]
    fn weighted_follows_the_weights() {
        let mut r = Rng::derive(1, 1);
        let mut n = [0u32; 3];
        for _ in 0..30_000 {
            n[r.weighted(&[1, 0, 2])] += 1;
        }
        assert_eq!(n[1], 0);
        // About 10000 and 20000.
        assert!((9_000..11_000).contains(&n[0]), "{n:?}");
        assert!((19_000..21_000).contains(&n[2]), "{n:?}");
        assert_eq!(r.weighted(&[0, 0]), 0);
    }
}
