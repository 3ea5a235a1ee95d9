// SPDX-License-Identifier: Apache-2.0
//! Guest files: what a file is, and the options of file operations.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use microsandbox_sys as sys;

use crate::cstr::{from_chars, CArgs};
use crate::error::Result;
use crate::progress::{Callback, CopyEvent};

/// What kind of file a guest path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A unix socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// Anything else.
    Other,
}

/// A guest file, as stat or a directory listing describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// For a listing, the path relative to the listed directory ("a/b" in
    /// a recursive one); for stat, the last part of the path.
    pub name: String,
    /// What kind of file it is.
    pub file_type: FileType,
    /// Permission bits (0o7777).
    pub mode: u32,
    /// Its owner's user id in the guest.
    pub uid: u32,
    /// Its group id in the guest.
    pub gid: u32,
    /// Its number of hard links.
    pub nlink: u32,
    /// Its length in bytes.
    pub size: u64,
    /// Its modification time.
    pub modified: SystemTime,
    /// A symlink's target, "" otherwise.
    pub link_target: String,
}

impl FileInfo {
    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Dir
    }

    /// Whether it is a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type == FileType::File
    }

    /// Whether it is a symlink.
    pub fn is_symlink(&self) -> bool {
        self.file_type == FileType::Symlink
    }

    pub(crate) fn from_c(c: &sys::msb_file_info, path: Option<&str>) -> FileInfo {
        let mut name = from_chars(&c.name);
        if name.is_empty() {
            if let Some(p) = path {
                let t = p.trim_end_matches('/');
                name = t.rsplit('/').next().filter(|s| !s.is_empty()).unwrap_or(p).to_owned();
            }
        }
        let file_type = match c.type_ {
            sys::MSB_FILE_REGULAR => FileType::File,
            sys::MSB_FILE_DIR => FileType::Dir,
            sys::MSB_FILE_SYMLINK => FileType::Symlink,
            sys::MSB_FILE_FIFO => FileType::Fifo,
            sys::MSB_FILE_SOCKET => FileType::Socket,
            sys::MSB_FILE_CHAR => FileType::CharDevice,
            sys::MSB_FILE_BLOCK => FileType::BlockDevice,
            _ => FileType::Other,
        };
        let modified = if c.mtime >= 0 {
            UNIX_EPOCH + Duration::new(c.mtime as u64, c.mtime_nsec)
        } else {
            UNIX_EPOCH - Duration::from_secs(c.mtime.unsigned_abs())
        };
        FileInfo {
            name,
            file_type,
            mode: c.mode,
            uid: c.uid,
            gid: c.gid,
            nlink: c.nlink,
            size: c.size,
            modified,
            link_target: from_chars(&c.link),
        }
    }
}

/// Options of a file operation. Each call that takes options has a
/// `_with` form taking these:
///
/// ```no_run
/// # use microsandbox::FileOptions;
/// let o = FileOptions::new().mode(0o600).parents();
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct FileOptions {
    pub(crate) user: Option<String>,
    pub(crate) mode: u32,
    pub(crate) parents: bool,
    pub(crate) recursive: bool,
    pub(crate) exclusive: bool,
    pub(crate) append: bool,
    pub(crate) nofollow: bool,
}

impl FileOptions {
    /// No options: the defaults.
    pub fn new() -> FileOptions {
        FileOptions::default()
    }

    /// The guest user the operation runs as (name, uid or uid:gid; by
    /// default the one commands run as): the guest's permissions apply.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Exact permission bits of a file written or a directory made
    /// (default 0o644 for a file, 0o755 for a directory, less the umask).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Write: make the file's missing parent directories; mkdir: make
    /// missing parents, an existing directory is fine (mkdir -p).
    pub fn parents(mut self) -> Self {
        self.parents = true;
        self
    }

    /// List: the whole tree; remove: a directory and everything in it.
    pub fn recursive(mut self) -> Self {
        self.recursive = true;
        self
    }

    /// Write, mkdir, rename: fail with `AlreadyExists` if the path (the
    /// new path of a rename) exists.
    pub fn exclusive(mut self) -> Self {
        self.exclusive = true;
        self
    }

    /// Write at the end of the file instead of replacing it.
    pub fn append(mut self) -> Self {
        self.append = true;
        self
    }

    pub(crate) fn nofollow(mut self) -> Self {
        self.nofollow = true;
        self
    }

    pub(crate) fn to_c(&self, a: &mut CArgs) -> Result<sys::msb_file_opts> {
        Ok(sys::msb_file_opts {
            user: a.opt(self.user.as_deref())?,
            mode: self.mode,
            parents: self.parents as i32,
            recursive: self.recursive as i32,
            exclusive: self.exclusive as i32,
            append: self.append as i32,
            nofollow: self.nofollow as i32,
        })
    }
}

/// Options of a copy into or out of a guest, given to `copy_in_with` and
/// `copy_out_with`.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct CopyOptions {
    pub(crate) user: Option<String>,
    pub(crate) progress: Option<Callback<CopyEvent>>,
}

impl CopyOptions {
    /// No options: the defaults.
    pub fn new() -> CopyOptions {
        CopyOptions::default()
    }

    /// The guest user the copy runs as, as [`FileOptions::user`].
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Called for each file as its bytes move ([`CopyEvent`]: its guest
    /// path, bytes done, its size), one call at a time: @f should return
    /// quickly. A panic of @f is resumed once the copy is over (@f is not
    /// called again meanwhile).
    pub fn progress(mut self, f: impl Fn(&CopyEvent) + Send + Sync + 'static) -> Self {
        self.progress = Some(Callback::new(f));
        self
    }
}
