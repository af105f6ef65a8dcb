// SPDX-License-Identifier: GPL-2.0
//! Per-CPU counters, which the 7.3 kernel crate lacks: an array of `N`
//! counters on every CPU, bumped on the local CPU without a locked
//! instruction or a shared cache line (`this_cpu_inc`), and summed over the
//! possible CPUs when someone reads them.

use core::ffi::{c_int, c_ulong};

use kernel::prelude::*;

use crate::abstractions::ffi;

/// `N` counters on every possible CPU.
///
/// # Invariants
/// `base` is a `__percpu` allocation of `N` `c_ulong`s per possible CPU, from
/// `__alloc_percpu`, which this value owns and frees only in `drop`.
pub(crate) struct PerCpuCounters<const N: usize> {
    /// A `__percpu` pointer to `[c_ulong; N]`, from `__alloc_percpu`: an
    /// offset into each CPU's area, never dereferenced as it is.
    base: *mut c_ulong,
}

// SAFETY: The counters are only ever bumped with this-CPU operations and read
// with single loads (below), which is safe from any thread; the pointer is
// owned and freed once, in `drop`.
unsafe impl<const N: usize> Send for PerCpuCounters<N> {}
// SAFETY: `&self` gives only `inc`, one this-CPU instruction on the calling
// CPU's own copy, and `get`, one volatile load of each CPU's copy: any number
// of either may run at once, on any CPUs.
unsafe impl<const N: usize> Sync for PerCpuCounters<N> {}

impl<const N: usize> PerCpuCounters<N> {
    /// `N` counters per CPU, all zero. Process context (`GFP_KERNEL`).
    pub(crate) fn new() -> Result<Self> {
        let size = N
            .checked_mul(core::mem::size_of::<c_ulong>())
            .ok_or(ENOMEM)?;
        // SAFETY: A plain allocation; `__alloc_percpu` zeroes it.
        let base = unsafe { ffi::rtun_alloc_percpu(size) };
        if base.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: `base` is a fresh `__percpu` allocation of `size` bytes,
        // `N` counters, per possible CPU, and nothing else holds it.
        Ok(PerCpuCounters { base })
    }

    /// Adds one to counter `i` of this CPU (nothing if `i` is out of range).
    /// Any context; preemption may stay on.
    #[inline(always)]
    pub(crate) fn inc(&self, i: usize) {
        if i >= N {
            return;
        }
        // Still a `__percpu` pointer, inside the allocation since `i < N`.
        let p = self.base.wrapping_add(i);
        // `%gs` bases a `__percpu` pointer on this CPU's area, as `this_cpu_inc`
        // does on x86-64; one instruction, so neither preemption nor an
        // interrupt can split it, and it touches nothing but that counter.
        #[cfg(all(target_arch = "x86_64", CONFIG_SMP))]
        // SAFETY: `p` is a `__percpu` pointer to a counter of this allocation.
        unsafe {
            core::arch::asm!("incq %gs:({0})", in(reg) p, options(att_syntax, nostack))
        };
        #[cfg(not(all(target_arch = "x86_64", CONFIG_SMP)))]
        // SAFETY: `p` is a `__percpu` pointer to a counter of this allocation.
        unsafe {
            ffi::rtun_this_cpu_inc(p)
        };
    }

    /// Counter `i` summed over the possible CPUs (0 if out of range). It can
    /// miss increments that race with it, as every per-CPU statistic can.
    pub(crate) fn get(&self, i: usize) -> u64 {
        if i >= N {
            return 0;
        }
        let p = self.base.wrapping_add(i);
        // SAFETY: Reads a global.
        let nr = unsafe { ffi::rtun_nr_cpu_ids() };
        let mut sum: u64 = 0;
        let mut cpu: c_int = -1;
        loop {
            // SAFETY: `cpu` is -1 or a CPU number below `nr_cpu_ids`.
            let next = unsafe { ffi::rtun_next_possible_cpu(cpu) };
            if next >= nr {
                return sum;
            }
            cpu = next as c_int;
            // `per_cpu_ptr` gives that CPU's copy, an aligned `unsigned long`
            // its owner writes with single instructions, so one volatile load
            // (`READ_ONCE`) sees a whole value.
            // SAFETY: `cpu` is possible; `p` is a `__percpu` pointer of this live allocation.
            let v = unsafe { core::ptr::read_volatile(ffi::rtun_per_cpu_ulong(p, cpu)) };
            sum = sum.wrapping_add(v);
        }
    }
}

impl<const N: usize> Drop for PerCpuCounters<N> {
    fn drop(&mut self) {
        // SAFETY: `base` came from `__alloc_percpu` and is freed only here.
        // `free_percpu` may be called from any context.
        unsafe { ffi::rtun_free_percpu(self.base) };
    }
}
