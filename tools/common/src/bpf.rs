// SPDX-License-Identifier: GPL-2.0
//! BPF: loading socket-filter programs (eBPF, bpf(2)) and the classic
//! filter structures (`struct sock_filter`, `struct sock_fprog`).

use crate::Errno;

const BPF_PROG_LOAD: i64 = 5;
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;

/// One eBPF instruction (`struct bpf_insn`).
pub fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut i = [0u8; 8];
    i[0] = code;
    i[1] = (src << 4) | dst;
    i[2..4].copy_from_slice(&off.to_ne_bytes());
    i[4..8].copy_from_slice(&imm.to_ne_bytes());
    i
}

/// BPF_PROG_LOAD of a BPF_PROG_TYPE_SOCKET_FILTER program (license GPL); with
/// `log`, the verifier writes its log (level 1) there. The program's fd, or
/// the errno.
pub fn load_socket_filter(prog: &[[u8; 8]], log: Option<&mut [u8]>) -> Result<i32, Errno> {
    let code: Vec<u8> = prog.concat();
    let license = b"GPL\0";
    let mut attr = [0u8; 144];
    attr[0..4].copy_from_slice(&BPF_PROG_TYPE_SOCKET_FILTER.to_ne_bytes());
    attr[4..8].copy_from_slice(&(prog.len() as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(code.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    if let Some(log) = log {
        attr[24..28].copy_from_slice(&1u32.to_ne_bytes());
        attr[28..32].copy_from_slice(&(log.len() as u32).to_ne_bytes());
        attr[32..40].copy_from_slice(&(log.as_mut_ptr() as u64).to_ne_bytes());
    }
    // SAFETY: `attr` is a bpf_attr for BPF_PROG_LOAD pointing at live buffers.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, attr.as_mut_ptr(), attr.len()) };
    Errno::result(fd).map(|fd| fd as i32)
}

/// Loads `r0 = ret; exit` as a socket filter program; its fd.
pub fn load_ebpf_returning(ret: u32) -> Result<i32, Errno> {
    load_socket_filter(
        &[
            insn(0xb7, 0, 0, 0, ret as i32), // BPF_ALU64 | BPF_MOV | BPF_K, dst r0
            insn(0x95, 0, 0, 0, 0),          // BPF_JMP | BPF_EXIT
        ],
        None,
    )
}

/// A classic BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// `struct sock_fprog`, the argument of TUNATTACHFILTER.
#[repr(C)]
pub struct SockFprog {
    pub len: u16,
    pub filter: *const SockFilter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        assert_eq!(std::mem::size_of::<SockFilter>(), 8);
        assert_eq!(std::mem::size_of::<SockFprog>(), 16);
        assert_eq!(
            std::mem::size_of::<SockFprog>(),
            std::mem::size_of::<libc::sock_fprog>()
        );
    }

    #[test]
    fn instructions() {
        // r0 = 7; exit, as the tools wrote it byte by byte before.
        assert_eq!(insn(0xb7, 0, 0, 0, 7), [0xb7, 0, 0, 0, 7, 0, 0, 0]);
        assert_eq!(insn(0x95, 0, 0, 0, 0), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(insn(0xbf, 6, 1, 0, 0)[1], 0x16);
        assert_eq!(insn(0xb7, 0, 0, 0, u32::MAX as i32)[4..], [0xff; 4]);
    }
}
