// SPDX-License-Identifier: GPL-2.0
//! A misc character device and its file operations, through a trait: the
//! driver implements [`FileOps`] for its per-file object, and [`Adapter`]
//! owns the `file_operations` table (built here, in Rust, as the kernel
//! crate's `miscdevice.rs` builds its own) and its C callbacks, which
//! forward to the trait. The data-path callbacks, `read_iter` and
//! `write_iter`, are made in the driver by [`read_iter!`] and
//! [`write_iter!`], each one function under a name the driver picks. The kernel crate's `MiscDevice` has no `poll` and
//! no `fasync`, and cannot set a node name (`/dev/net/...`), so this file
//! registers the `struct miscdevice` itself.
//!
//! A file's object lives from `open` (stored as an `Arc` in `private_data`)
//! to `release`, which takes it back; every other callback borrows it.

use core::{
    ffi::{c_int, c_uint, c_void, CStr},
    marker::PhantomData,
    sync::atomic::{AtomicBool, Ordering},
};
use kernel::{
    bindings,
    error::to_result,
    iov::{IovIterDest, IovIterSource},
    prelude::*,
    seq_file::SeqFile,
    sync::{Arc, ArcBorrow},
    types::{ForeignOwnable, Opaque},
    ModuleMetadata,
};

use crate::abstractions::{ffi, sock::Sock, sync::PollCtx};

/// The file operations of a misc device, for its per-file object `Self`.
pub(crate) trait FileOps: Send + Sync + Sized + 'static {
    /// The module that owns the callbacks (`fops->owner`): it stays loaded
    /// while a file is open.
    type OwnerModule: ModuleMetadata;

    /// `open`: a new file's object.
    fn open() -> Result<Arc<Self>>;
    /// `release`: the last reference to the file is gone.
    fn release(this: Arc<Self>);
    /// `poll`: the ready mask (`EPOLL*`).
    fn poll(&self, poll: &PollCtx<'_>) -> u32;
    /// `unlocked_ioctl`, and `compat_ioctl` with `compat` (a 32-bit caller,
    /// whose argument is a 32-bit value).
    fn ioctl(this: ArcBorrow<'_, Self>, cmd: u32, arg: usize, compat: bool) -> Result<isize>;
    /// The file's SIGIO subscribers (`fasync`).
    fn fasync(&self) -> &Fasync;
    /// `show_fdinfo`: lines for `/proc/<pid>/fdinfo/<fd>`.
    fn show_fdinfo(&self, seq: &SeqFile);

    /// The table's `read_iter`, made by [`read_iter!`] from the driver's
    /// read function; none by default (`read` then fails with `EINVAL`).
    const READ_ITER: Option<ReadIterFn> = None;
    /// The table's `write_iter`, made by [`write_iter!`]; none by default.
    const WRITE_ITER: Option<WriteIterFn> = None;
}

/// A `file_operations.read_iter` callback.
pub(crate) type ReadIterFn =
    unsafe extern "C" fn(*mut bindings::kiocb, *mut bindings::iov_iter) -> isize;
/// A `file_operations.write_iter` callback (the same signature).
pub(crate) type WriteIterFn = ReadIterFn;

/// A [`FileOps::READ_ITER`] value: the `read_iter` callback for files of
/// type `$t`, under the symbol name `$name`, calling `$read` (a
/// `fn(&$t, &mut IovIterDest<'_>, nonblock: bool) -> Result<usize>`; with
/// `nonblock` set for O_NONBLOCK or IOCB_NOWAIT).
///
/// The callback is a single function: [`Adapter::read_iter`] is
/// `#[inline(always)]`, and `$read` is named only here, so the compiler
/// inlines it too. Reads drop frames, and the drop tracepoint's
/// `location=` then names `$name`, not a mangled generic, at no cost of an
/// extra call on the data path.
macro_rules! read_iter {
    ($t:ty, $read:path, $name:literal) => {{
        /// # Safety
        /// Called by the VFS as the `read_iter` of the table of `$t`, with
        /// what `Adapter::read_iter` requires.
        #[export_name = $name]
        unsafe extern "C" fn read_iter(
            iocb: *mut kernel::bindings::kiocb,
            to: *mut kernel::bindings::iov_iter,
        ) -> isize {
            // SAFETY: The VFS calls this as the table's `read_iter`, with a
            // kiocb of an open file of it and an iterator valid for the call.
            unsafe { $crate::abstractions::chardev::Adapter::<$t>::read_iter(iocb, to, $read) }
        }
        Some(read_iter as $crate::abstractions::chardev::ReadIterFn)
    }};
}
pub(crate) use read_iter;

/// A [`FileOps::WRITE_ITER`] value: the `write_iter` callback for files of
/// type `$t`, under the symbol name `$name`, calling `$write` (a
/// `fn(&$t, &mut IovIterSource<'_>, nonblock: bool) -> Result<usize>`); one
/// function, as [`read_iter!`] makes.
macro_rules! write_iter {
    ($t:ty, $write:path, $name:literal) => {{
        /// # Safety
        /// Called by the VFS as the `write_iter` of the table of `$t`, with
        /// what `Adapter::write_iter` requires.
        #[export_name = $name]
        unsafe extern "C" fn write_iter(
            iocb: *mut kernel::bindings::kiocb,
            from: *mut kernel::bindings::iov_iter,
        ) -> isize {
            // SAFETY: The VFS calls this as the table's `write_iter`, with a
            // kiocb of an open file of it and an iterator valid for the call.
            unsafe { $crate::abstractions::chardev::Adapter::<$t>::write_iter(iocb, from, $write) }
        }
        Some(write_iter as $crate::abstractions::chardev::WriteIterFn)
    }};
}
pub(crate) use write_iter;

/// A file's SIGIO subscribers (`struct fasync_struct *`), as `fasync_helper`
/// and `kill_fasync` keep them. The list head is in the queue's socket
/// (`socket.wq.fasync_list`), so that the socket's `sk_write_space` can
/// reach it from any context, as tun's reaches `tfile->fasync`.
pub(crate) struct Fasync {
    /// Holds the socket, and with it the list head.
    sock: Sock,
    /// O_ASYNC is on (tun's TUN_FASYNC).
    on: AtomicBool,
}

impl Fasync {
    pub(crate) fn new(sock: Sock) -> Self {
        Fasync {
            sock,
            on: AtomicBool::new(false),
        }
    }

    /// Sends SIGIO to the subscribers, if O_ASYNC is on: POLL_OUT when
    /// `writable`, else POLL_IN. Any context.
    #[inline(always)]
    pub(crate) fn notify(&self, writable: bool) {
        if self.on.load(Ordering::Relaxed) {
            // SAFETY: `kill_fasync` reads the list under RCU; it may be null.
            // The socket, which holds it, lives while `self.sock` does.
            unsafe { ffi::rtun_kill_fasync(self.sock.fasync_list(), writable) }
        }
    }

    /// tun's `tun_chr_fasync`.
    ///
    /// # Safety
    /// `file` is the open file this list belongs to.
    unsafe fn set(&self, fd: c_int, file: *mut bindings::file, on: bool) -> Result {
        // SAFETY: Per the function's requirements; process context.
        unsafe {
            if on {
                to_result(ffi::file_f_owner_allocate(file))?;
            }
            let ret = ffi::fasync_helper(fd, file, c_int::from(on), self.sock.fasync_list());
            if ret < 0 {
                return to_result(ret);
            }
            if on {
                ffi::__f_setown(
                    file,
                    ffi::rtun_current_tgid(),
                    bindings::pid_type_PIDTYPE_TGID,
                    0,
                );
            }
        }
        self.on.store(on, Ordering::Relaxed);
        Ok(())
    }
}

/// The C callbacks of a [`FileOps`] type, and its `file_operations` table.
pub(crate) struct Adapter<T: FileOps>(PhantomData<T>);

impl<T: FileOps> Adapter<T> {
    /// # Safety
    /// `file` is an open file of this table whose `private_data` came from
    /// [`Adapter::open`]; the borrow does not outlive the callback.
    unsafe fn borrow<'a>(file: *mut bindings::file) -> ArcBorrow<'a, T> {
        // SAFETY: Per the function's requirements: `open` stored an `Arc<T>`
        // there, which `release` alone takes back, after every other callback.
        unsafe { <Arc<T> as ForeignOwnable>::borrow((*file).private_data) }
    }

    /// # Safety
    /// `iocb` and its file are valid for the call (a read or write callback's).
    unsafe fn nonblock(iocb: *mut bindings::kiocb) -> bool {
        // SAFETY: Per the function's requirements, `iocb` and its file are valid.
        unsafe {
            let file = (*iocb).ki_filp;
            (*file).f_flags & bindings::O_NONBLOCK != 0 || ffi::rtun_iocb_nowait(iocb)
        }
    }

    fn ret_size(r: Result<usize>) -> isize {
        match r {
            Ok(n) => isize::try_from(n).unwrap_or(isize::MAX),
            Err(e) => e.to_errno() as isize,
        }
    }

    /// `file_operations.open`.
    ///
    /// # Safety
    /// Called by the VFS with a file being opened on this table.
    unsafe extern "C" fn open(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        match T::open() {
            Ok(obj) => {
                // Read and write honour IOCB_NOWAIT, so the file says so
                // (FMODE_NOWAIT), as tun's does: RWF_NOWAIT is accepted, and
                // io_uring polls the file instead of blocking in a read.
                // SAFETY: `file` is valid and being opened: its private_data
                // and f_mode are ours to set, and nothing else uses it yet.
                unsafe {
                    (*file).private_data = obj.into_foreign().cast::<c_void>();
                    ffi::rtun_file_set_nowait(file);
                }
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// `file_operations.release`.
    ///
    /// # Safety
    /// Called by the VFS once, when the last reference to a file that
    /// [`Adapter::open`] opened is gone.
    unsafe extern "C" fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: The last user of the file; takes back the Arc stored by
        // `open`, once.
        let obj = unsafe { <Arc<T> as ForeignOwnable>::from_foreign((*file).private_data) };
        T::release(obj);
        0
    }

    /// The body of a `read_iter` callback that [`read_iter!`] makes: the
    /// file's object, the iterator and `nonblock` (O_NONBLOCK or
    /// IOCB_NOWAIT), passed to `read`.
    ///
    /// # Safety
    /// `iocb` is a kiocb of an open file of this table, and `to` an iterator
    /// valid for the call: what the VFS passes to `read_iter`.
    #[inline(always)]
    pub(crate) unsafe fn read_iter(
        iocb: *mut bindings::kiocb,
        to: *mut bindings::iov_iter,
        read: impl FnOnce(&T, &mut IovIterDest<'_>, bool) -> Result<usize>,
    ) -> isize {
        // SAFETY: Per the function's requirements.
        let (obj, nonblock, to) = unsafe {
            (
                Self::borrow((*iocb).ki_filp),
                Self::nonblock(iocb),
                IovIterDest::from_raw(to),
            )
        };
        Self::ret_size(read(&obj, to, nonblock))
    }

    /// The body of a `write_iter` callback that [`write_iter!`] makes, as
    /// [`Adapter::read_iter`] is of a read.
    ///
    /// # Safety
    /// `iocb` is a kiocb of an open file of this table, and `from` an
    /// iterator valid for the call: what the VFS passes to `write_iter`.
    #[inline(always)]
    pub(crate) unsafe fn write_iter(
        iocb: *mut bindings::kiocb,
        from: *mut bindings::iov_iter,
        write: impl FnOnce(&T, &mut IovIterSource<'_>, bool) -> Result<usize>,
    ) -> isize {
        // SAFETY: Per the function's requirements.
        let (obj, nonblock, from) = unsafe {
            (
                Self::borrow((*iocb).ki_filp),
                Self::nonblock(iocb),
                IovIterSource::from_raw(from),
            )
        };
        Self::ret_size(write(&obj, from, nonblock))
    }

    /// `file_operations.poll`.
    ///
    /// # Safety
    /// Called by the VFS with an open file of this table, and a poll table
    /// (or null) valid for the call.
    unsafe extern "C" fn poll(
        file: *mut bindings::file,
        wait: *mut bindings::poll_table,
    ) -> c_uint {
        // SAFETY: The VFS passes an open file of this table and a poll table
        // (or null) valid for the call.
        let (obj, poll) = unsafe { (Self::borrow(file), PollCtx::from_raw(file, wait)) };
        obj.poll(&poll)
    }

    /// `file_operations.unlocked_ioctl`.
    ///
    /// # Safety
    /// Called by the VFS with an open file of this table.
    unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: usize) -> isize {
        // SAFETY: The VFS passes an open file of this table.
        let obj = unsafe { Self::borrow(file) };
        match T::ioctl(obj, cmd, arg, false) {
            Ok(v) => v,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// `file_operations.compat_ioctl`. A 32-bit caller: every argument is a
    /// 32-bit value (user pointers included, which `compat_ptr` leaves as
    /// they are on x86_64, the only compat configuration this builds for).
    ///
    /// # Safety
    /// Called by the VFS with an open file of this table.
    #[cfg(CONFIG_COMPAT)]
    unsafe extern "C" fn compat_ioctl(file: *mut bindings::file, cmd: c_uint, arg: usize) -> isize {
        // SAFETY: The VFS passes an open file of this table.
        let obj = unsafe { Self::borrow(file) };
        match T::ioctl(obj, cmd, arg as u32 as usize, true) {
            Ok(v) => v,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// `file_operations.fasync`.
    ///
    /// # Safety
    /// Called by the VFS with an open file of this table.
    unsafe extern "C" fn fasync(fd: c_int, file: *mut bindings::file, on: c_int) -> c_int {
        // SAFETY: The VFS passes an open file of this table.
        let obj = unsafe { Self::borrow(file) };
        // SAFETY: `file` is the file whose subscribers `obj.fasync()` keeps.
        match unsafe { obj.fasync().set(fd, file, on != 0) } {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// `file_operations.show_fdinfo`.
    ///
    /// # Safety
    /// Called by the VFS with a seq_file and an open file of this table,
    /// both valid for the call.
    unsafe extern "C" fn show_fdinfo(m: *mut bindings::seq_file, file: *mut bindings::file) {
        // SAFETY: The VFS passes a seq_file and an open file of this table,
        // both valid for the call.
        let (seq, obj) = unsafe { (SeqFile::from_raw(m), Self::borrow(file)) };
        obj.show_fdinfo(seq);
    }

    const VTABLE: bindings::file_operations = bindings::file_operations {
        owner: kernel::module::this_module::<T::OwnerModule>().as_ptr(),
        open: Some(Self::open),
        release: Some(Self::release),
        read_iter: T::READ_ITER,
        write_iter: T::WRITE_ITER,
        poll: Some(Self::poll),
        unlocked_ioctl: Some(Self::ioctl),
        #[cfg(CONFIG_COMPAT)]
        compat_ioctl: Some(Self::compat_ioctl),
        fasync: Some(Self::fasync),
        show_fdinfo: Some(Self::show_fdinfo),
        // No llseek, as tun: the VFS then clears FMODE_LSEEK and lseek()
        // fails with ESPIPE.
        // SAFETY: All zeroes is a valid `file_operations` (no callbacks).
        ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
    };
}

// The compat ioctl takes a 32-bit caller's pointer as it is, which is what
// `compat_ptr()` does on x86_64; other compat ABIs are refused.
#[cfg(all(CONFIG_COMPAT, not(CONFIG_X86_64)))]
compile_error!("rtun supports CONFIG_COMPAT only on x86_64: its compat_ioctl uses a 32-bit caller's pointer as is, which compat_ptr() does there (s390 masks the top bit)");

/// A registered misc device whose files are `T`s; deregistered on drop.
///
/// # Invariants
/// `misc` is registered, and stays at its address (boxed) until `drop`
/// deregisters it.
pub(crate) struct Registration<T: FileOps> {
    misc: KBox<Opaque<bindings::miscdevice>>,
    _t: PhantomData<T>,
}

// SAFETY: The registration is only created and dropped (module init and
// exit); the misc core serialises its own use of the structure.
unsafe impl<T: FileOps> Send for Registration<T> {}
// SAFETY: `&Registration` gives no access to the structure.
unsafe impl<T: FileOps> Sync for Registration<T> {}

impl<T: FileOps> Registration<T> {
    /// Registers `/dev/<nodename>` (named `name` in /proc/misc, mode `mode`,
    /// 0 for the kernel's default)
    /// with minor `minor`, or a dynamic one; `EBUSY` if the minor is taken.
    pub(crate) fn new(
        name: &'static CStr,
        nodename: &'static CStr,
        mode: u16,
        minor: Option<u8>,
    ) -> Result<Self> {
        let misc = KBox::new(Opaque::<bindings::miscdevice>::zeroed(), GFP_KERNEL)?;
        let p = misc.get();
        // SAFETY: `p` is a zeroed `miscdevice` of ours, not yet registered;
        // the names and the table are static.
        unsafe {
            (*p).minor = minor.map_or(bindings::MISC_DYNAMIC_MINOR as c_int, c_int::from);
            (*p).name = name.as_char_ptr();
            (*p).nodename = nodename.as_char_ptr();
            (*p).mode = mode;
            (*p).fops = &Adapter::<T>::VTABLE;
            to_result(bindings::misc_register(p))?;
        }
        // INVARIANT: registered above; the box keeps its address.
        Ok(Registration {
            misc,
            _t: PhantomData,
        })
    }
}

impl<T: FileOps> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: Registered in `new` (invariant), deregistered once.
        unsafe { bindings::misc_deregister(self.misc.get()) }
    }
}
