//! The FUSE filesystem: inodes over node ids, each kernel request answered on the tokio
//! runtime so a slow API call never blocks the others.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::os::unix::fs::MetadataExt as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo, KernelConfig,
    OpenAccMode, OpenFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request,
};
use tokio::sync::Notify;

use super::MountOptions;
use super::reader::Reader;
use super::spool::Spool;
use crate::api::at_least_as_new;
use crate::api::model::Node;
use crate::cache::Cache;
use crate::error::{Error, ErrorKind};
use crate::ops::lister::{CacheLister, FolderLister as _};
use crate::remote::Remote;
use crate::transfer::download::Downloader;
use crate::transfer::stats::Stats;
use crate::transfer::upload::{Source, Uploader};

/// How long the kernel may keep names and attributes.
const TTL: Duration = Duration::from_secs(1);

/// `O_TRUNC` on Linux.
const O_TRUNC: i32 = 0o1000;

/// The errno for a client error; anything unexpected is EIO with a log line saying what failed.
pub fn errno(what: &str, e: &Error) -> Errno {
    match e.kind() {
        ErrorKind::NotFound => Errno::ENOENT,
        ErrorKind::Conflict => Errno::EEXIST,
        ErrorKind::QuotaExceeded => {
            tracing::error!("{what}: {e}");
            Errno::EDQUOT
        }
        _ => {
            tracing::error!("{what}: {e}");
            Errno::EIO
        }
    }
}

/// One inode: a node (or a file being created, before its first upload).
#[derive(Debug, Clone)]
struct Inode {
    /// The node id (`None` while the file exists only in its spool).
    id: Option<String>,
    /// The folder it was reached through.
    parent: String,
    /// Its remote (encoded) name.
    name: String,
    /// The newest node seen.
    node: Option<Node>,
    /// A folder.
    folder: bool,
}

#[derive(Debug, Default)]
struct Inodes {
    next: u64,
    map: HashMap<u64, Inode>,
    by_id: HashMap<String, u64>,
    /// Files created and not yet uploaded: (folder id, lowercase name) -> inode.
    pending: HashMap<(String, String), u64>,
}

impl Inodes {
    fn intern(&mut self, node: &Node, parent: &str) -> u64 {
        if let Some(&ino) = self.by_id.get(&node.id) {
            if let Some(entry) = self.map.get_mut(&ino) {
                let newer = entry
                    .node
                    .as_ref()
                    .is_none_or(|old| at_least_as_new(node, old));
                if newer {
                    entry.node = Some(node.clone());
                    entry.name = node.name().to_string();
                    entry.parent = parent.to_string();
                }
            }
            return ino;
        }
        self.next += 1;
        let ino = self.next;
        self.map.insert(
            ino,
            Inode {
                id: Some(node.id.clone()),
                parent: parent.to_string(),
                name: node.name().to_string(),
                node: Some(node.clone()),
                folder: node.is_folder(),
            },
        );
        self.by_id.insert(node.id.clone(), ino);
        ino
    }
}

/// One kernel read of an open file.
struct ReadRequest {
    offset: u64,
    size: u32,
    reply: ReplyData,
}

/// An open file or folder.
#[derive(Debug)]
enum Handle {
    /// Reads go to the file's own task, which answers them in the order the kernel sent them
    /// (spawning each would let a later read overtake an earlier one and restart the stream).
    Read(tokio::sync::mpsc::UnboundedSender<ReadRequest>),
    Write {
        ino: u64,
        spool: Arc<tokio::sync::Mutex<Spool>>,
    },
    Dir(Arc<Vec<(u64, FileType, OsString)>>),
}

/// Everything the filesystem's requests share.
#[derive(Debug)]
pub struct State {
    remote: Arc<Remote>,
    cache: Arc<Cache>,
    lister: CacheLister,
    options: MountOptions,
    rt: tokio::runtime::Handle,
    uid: u32,
    gid: u32,
    inodes: Mutex<Inodes>,
    handles: Mutex<HashMap<u64, Handle>>,
    next_fh: AtomicU64,
    downloader: Downloader,
    uploader: Uploader,
    /// Files open for writing (each is uploaded before the mount ends).
    pub busy: AtomicUsize,
    idle: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl State {
    /// The shared state of a mount of `options.root_id`.
    pub fn new(
        remote: Arc<Remote>,
        cache: Arc<Cache>,
        options: MountOptions,
        rt: tokio::runtime::Handle,
        owner: &std::fs::Metadata,
    ) -> Self {
        let stats = Arc::new(Stats::new(false));
        let downloader = Downloader {
            drive: remote.drive.clone(),
            templink_threshold: remote.config.templink_threshold,
            stats: stats.clone(),
        };
        let uploader = Uploader {
            drive: remote.drive.clone(),
            slots: Arc::new(tokio::sync::Semaphore::new(options.transfers.max(1))),
            wait_per_gb: remote.config.upload_wait_per_gb,
            poll: options.phantom_poll,
            stats,
        };
        let mut inodes = Inodes {
            next: 1,
            ..Default::default()
        };
        inodes.map.insert(
            1,
            Inode {
                id: Some(options.root_id.clone()),
                parent: String::new(),
                name: String::new(),
                node: None,
                folder: true,
            },
        );
        inodes.by_id.insert(options.root_id.clone(), 1);
        Self {
            lister: CacheLister {
                cache: cache.clone(),
                journal: remote.journal.clone(),
            },
            remote,
            cache,
            options,
            rt,
            uid: owner.uid(),
            gid: owner.gid(),
            inodes: Mutex::new(inodes),
            handles: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            downloader,
            uploader,
            busy: AtomicUsize::new(0),
            idle: Notify::new(),
        }
    }

    /// Wait until no file is open for writing or being uploaded.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.busy.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    fn done_writing(&self) {
        if self.busy.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    fn encode(&self, name: &OsStr) -> String {
        self.remote.config.encoding.encode(name.as_bytes())
    }

    fn decode(&self, name: &str) -> OsString {
        OsString::from_vec(self.remote.config.encoding.decode(name))
    }

    fn inode(&self, ino: INodeNo) -> Result<Inode, Errno> {
        lock(&self.inodes)
            .map
            .get(&ino.0)
            .cloned()
            .ok_or(Errno::ENOENT)
    }

    /// The folder id of inode `ino`.
    fn folder_id(&self, ino: INodeNo) -> Result<String, Errno> {
        let inode = self.inode(ino)?;
        if !inode.folder {
            return Err(Errno::ENOTDIR);
        }
        inode.id.ok_or(Errno::ENOENT)
    }

    fn new_fh(&self, handle: Handle) -> FileHandle {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        lock(&self.handles).insert(fh, handle);
        FileHandle(fh)
    }

    fn attr(&self, ino: u64, inode: &Inode) -> FileAttr {
        let mut size = inode.node.as_ref().map_or(0, Node::size);
        // A file open for writing shows its spool's size.
        for handle in lock(&self.handles).values() {
            if let Handle::Write { ino: i, spool } = handle
                && *i == ino
                && let Ok(spool) = spool.try_lock()
            {
                size = spool.len();
            }
        }
        let mtime = inode
            .node
            .as_ref()
            .and_then(|n| n.modified_date.as_deref())
            .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
            .map(SystemTime::from)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let (kind, perm) = if inode.folder {
            (FileType::Directory, 0o755)
        } else {
            (FileType::RegularFile, 0o644)
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: mtime,
            mtime,
            ctime: mtime,
            crtime: mtime,
            kind,
            perm,
            nlink: if inode.folder { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    /// The child `name` of folder `parent` (case-insensitive), with its inode.
    async fn child(&self, parent: INodeNo, name: &OsStr) -> Result<(u64, Inode), Errno> {
        let folder = self.folder_id(parent)?;
        let encoded = self.encode(name);
        let pending = lock(&self.inodes)
            .pending
            .get(&(folder.clone(), encoded.to_lowercase()))
            .copied();
        if let Some(ino) = pending
            && let Ok(inode) = self.inode(INodeNo(ino))
        {
            return Ok((ino, inode));
        }
        let node = self
            .lister
            .child_named(&folder, &encoded)
            .await
            .map_err(|e| errno("lookup", &e))?
            .ok_or(Errno::ENOENT)?;
        let mut inodes = lock(&self.inodes);
        let ino = inodes.intern(&node, &folder);
        let inode = inodes.map.get(&ino).cloned().ok_or(Errno::ENOENT)?;
        Ok((ino, inode))
    }

    /// The newest node of `ino` from the cache (after a poll) or the table.
    fn refresh(&self, ino: u64) -> Result<Inode, Errno> {
        let inode = self.inode(INodeNo(ino))?;
        let Some(id) = &inode.id else {
            return Ok(inode);
        };
        if let Ok(Some(cached)) = self.cache.node(id) {
            let parent = inode.parent.clone();
            let mut inodes = lock(&self.inodes);
            if ino == 1 || cached.is_available() {
                inodes.intern(&cached, &parent);
            }
            return inodes.map.get(&ino).cloned().ok_or(Errno::ENOENT);
        }
        Ok(inode)
    }

    fn writable(&self) -> Result<(), Errno> {
        if self.options.read_only {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    /// Upload a spool if it changed; the inode then names the new node.
    async fn upload(&self, ino: u64, spool: &mut Spool) -> Result<(), Errno> {
        if !spool.dirty {
            return Ok(());
        }
        let size = spool.len();
        let what = format!("upload {}", self.remote.dirs.decode(&spool.name));
        let node = self
            .uploader
            .upload(
                &spool.parent,
                &spool.name,
                Source {
                    path: &spool.path,
                    size,
                },
                spool.existing.clone(),
            )
            .await
            .map_err(|e| errno(&what, &e))?;
        spool.dirty = false;
        spool.existing = Some(node.clone());
        let mut inodes = lock(&self.inodes);
        inodes
            .pending
            .remove(&(spool.parent.clone(), spool.name.to_lowercase()));
        if let Some(inode) = inodes.map.get_mut(&ino) {
            inode.id = Some(node.id.clone());
            inode.node = Some(node.clone());
        }
        inodes.by_id.insert(node.id.clone(), ino);
        Ok(())
    }

    /// A spool for `ino`, holding the current content unless `truncate`.
    async fn open_spool(&self, ino: u64, inode: &Inode, truncate: bool) -> Result<Spool, Errno> {
        let dir = self.options.spool_dir.clone();
        let mut spool = Spool::create(
            &dir,
            inode.parent.clone(),
            inode.name.clone(),
            inode.node.clone(),
        )
        .map_err(|e| {
            tracing::error!("spool in {}: {e}", dir.display());
            Errno::EIO
        })?;
        match &inode.node {
            Some(node) if !truncate && node.size() > 0 => {
                self.downloader
                    .download(node, &spool.path)
                    .await
                    .map_err(|e| errno(&format!("fetch {} for writing", node.name()), &e))?;
                spool.reopen().map_err(|e| {
                    tracing::error!("spool {}: {e}", spool.path.display());
                    Errno::EIO
                })?;
            }
            _ => spool.dirty = truncate || inode.id.is_none(),
        }
        let _ = ino;
        Ok(spool)
    }
}

/// The task that answers the reads of one open file, in order; it ends when the handle is
/// released (its sender dropped).
fn spawn_reader(mut reader: Reader) -> tokio::sync::mpsc::UnboundedSender<ReadRequest> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ReadRequest>();
    tokio::spawn(async move {
        while let Some(request) = rx.recv().await {
            match reader.read(request.offset, request.size).await {
                Ok(data) => request.reply.data(&data),
                Err(e) => request.reply.error(errno("read", &e)),
            }
        }
    });
    tx
}

/// Answer a write of `len` bytes into a spool: the count, or EIO with a log line.
fn answer_write(written: std::io::Result<()>, len: usize, reply: ReplyWrite) {
    match written {
        Ok(()) => reply.written(u32::try_from(len).unwrap_or(u32::MAX)),
        Err(e) => {
            tracing::error!("write to the spool: {e}");
            reply.error(Errno::EIO)
        }
    }
}

/// The filesystem handed to `fuser`.
#[derive(Debug)]
pub struct AcdFs {
    state: Arc<State>,
}

impl AcdFs {
    /// A filesystem over `state`.
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }

    /// Run `f` on the runtime.
    fn spawn<F>(&self, f: impl FnOnce(Arc<State>) -> F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let fut = f(self.state.clone());
        self.state.rt.spawn(fut);
    }
}

impl fuser::Filesystem for AcdFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // O_TRUNC arrives with open() rather than as a separate truncate.
        let _ = config.add_capabilities(fuser::InitFlags::FUSE_ATOMIC_O_TRUNC);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let name = name.to_os_string();
        self.spawn(|s| async move {
            match s.child(parent, &name).await {
                Ok((ino, inode)) => reply.entry(&TTL, &s.attr(ino, &inode), Generation(0)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.state.refresh(ino.0) {
            Ok(inode) => reply.attr(&TTL, &self.state.attr(ino.0, &inode)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<fuser::TimeOrNow>,
        _mtime: Option<fuser::TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        // Modes, owners and times cannot be stored by the service: accepted and ignored.
        let Some(size) = size else {
            match self.state.refresh(ino.0) {
                Ok(inode) => reply.attr(&TTL, &self.state.attr(ino.0, &inode)),
                Err(e) => reply.error(e),
            }
            return;
        };
        if let Err(e) = self.state.writable() {
            reply.error(e);
            return;
        }
        let open = {
            let handles = lock(&self.state.handles);
            let by_fh = fh.and_then(|fh| match handles.get(&fh.0) {
                Some(Handle::Write { spool, .. }) => Some(spool.clone()),
                _ => None,
            });
            by_fh.or_else(|| {
                handles.values().find_map(|h| match h {
                    Handle::Write { ino: i, spool } if *i == ino.0 => Some(spool.clone()),
                    _ => None,
                })
            })
        };
        self.spawn(|s| async move {
            let result = async {
                let inode = s.inode(ino)?;
                if inode.folder {
                    return Err(Errno::EISDIR);
                }
                match open {
                    Some(spool) => spool.lock().await.set_len(size).map_err(|e| {
                        tracing::error!("truncate spool: {e}");
                        Errno::EIO
                    }),
                    None => {
                        if inode.node.as_ref().is_some_and(|n| n.size() == size) {
                            return Ok(());
                        }
                        let mut spool = s.open_spool(ino.0, &inode, size == 0).await?;
                        spool.set_len(size).map_err(|_| Errno::EIO)?;
                        s.upload(ino.0, &mut spool).await
                    }
                }
            }
            .await;
            match result.and_then(|()| s.inode(ino)) {
                Ok(inode) => reply.attr(&TTL, &s.attr(ino.0, &inode)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let name = name.to_os_string();
        self.spawn(|s| async move {
            let result = async {
                s.writable()?;
                let folder = s.folder_id(parent)?;
                match s.child(parent, &name).await {
                    Ok(_) => return Err(Errno::EEXIST),
                    Err(e) if e != Errno::ENOENT => return Err(e),
                    Err(_) => {}
                }
                let encoded = s.encode(&name);
                let node = s
                    .remote
                    .drive
                    .create_folder(&folder, &encoded)
                    .await
                    .map_err(|e| errno(&format!("mkdir {}", name.to_string_lossy()), &e))?;
                let mut inodes = lock(&s.inodes);
                let ino = inodes.intern(&node, &folder);
                let inode = inodes.map.get(&ino).cloned().ok_or(Errno::ENOENT)?;
                Ok((ino, inode))
            }
            .await;
            match result {
                Ok((ino, inode)) => reply.entry(&TTL, &s.attr(ino, &inode), Generation(0)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, false, reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, true, reply);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        _flags: fuser::RenameFlags,
        reply: ReplyEmpty,
    ) {
        let (name, newname) = (name.to_os_string(), newname.to_os_string());
        self.spawn(|s| async move {
            let result = async {
                s.writable()?;
                let from = s.folder_id(parent)?;
                let to = s.folder_id(newparent)?;
                let (ino, src) = s.child(parent, &name).await?;
                let Some(id) = src.id.clone() else {
                    // Still being written: rename it after close.
                    return Err(Errno::EBUSY);
                };
                let encoded = s.encode(&newname);
                match s.child(newparent, &newname).await {
                    Ok((_, dst)) if dst.id.as_deref() != Some(id.as_str()) => {
                        let dst_id = dst.id.clone().ok_or(Errno::EBUSY)?;
                        if dst.folder {
                            if !src.folder {
                                return Err(Errno::EISDIR);
                            }
                            let children = s
                                .lister
                                .children(&dst_id)
                                .await
                                .map_err(|e| errno("rename", &e))?;
                            if !children.is_empty() {
                                return Err(Errno::ENOTEMPTY);
                            }
                        } else if src.folder {
                            return Err(Errno::ENOTDIR);
                        }
                        s.remote
                            .drive
                            .trash(&dst_id)
                            .await
                            .map_err(|e| errno("rename: trash the replaced node", &e))?;
                    }
                    Ok(_) => {}
                    Err(e) if e != Errno::ENOENT => return Err(e),
                    Err(_) => {}
                }
                let what = format!(
                    "rename {} to {}",
                    name.to_string_lossy(),
                    newname.to_string_lossy()
                );
                let mut node = None;
                if from != to {
                    node = Some(
                        s.remote
                            .drive
                            .move_node(&id, &from, &to)
                            .await
                            .map_err(|e| errno(&what, &e))?,
                    );
                }
                if src.name != encoded {
                    node = Some(
                        s.remote
                            .drive
                            .rename(&id, &encoded)
                            .await
                            .map_err(|e| errno(&what, &e))?,
                    );
                }
                if let Some(node) = node {
                    let mut inodes = lock(&s.inodes);
                    if let Some(inode) = inodes.map.get_mut(&ino) {
                        inode.node = Some(node.clone());
                        inode.name = node.name().to_string();
                        inode.parent = to.clone();
                    }
                }
                Ok(())
            }
            .await;
            match result {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let write = flags.acc_mode() != OpenAccMode::O_RDONLY;
        let truncate = flags.0 & O_TRUNC != 0;
        if write && let Err(e) = self.state.writable() {
            reply.error(e);
            return;
        }
        if write {
            self.state.busy.fetch_add(1, Ordering::SeqCst);
        }
        self.spawn(|s| async move {
            let result = async {
                let inode = s.refresh(ino.0)?;
                if inode.folder {
                    return Err(Errno::EISDIR);
                }
                if !write {
                    let node = inode.node.clone().ok_or(Errno::EBUSY)?;
                    let reader = Reader::new(s.downloader.clone(), node, s.options.buffer_size);
                    return Ok(s.new_fh(Handle::Read(spawn_reader(reader))));
                }
                let spool = s.open_spool(ino.0, &inode, truncate).await?;
                Ok(s.new_fh(Handle::Write {
                    ino: ino.0,
                    spool: Arc::new(tokio::sync::Mutex::new(spool)),
                }))
            }
            .await;
            match result {
                Ok(fh) => reply.opened(fh, FopenFlags::empty()),
                Err(e) => {
                    if write {
                        s.done_writing();
                    }
                    reply.error(e)
                }
            }
        });
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        if let Err(e) = self.state.writable() {
            reply.error(e);
            return;
        }
        let name = name.to_os_string();
        self.state.busy.fetch_add(1, Ordering::SeqCst);
        self.spawn(|s| async move {
            let result = async {
                let folder = s.folder_id(parent)?;
                match s.child(parent, &name).await {
                    Ok(_) => return Err(Errno::EEXIST),
                    Err(e) if e != Errno::ENOENT => return Err(e),
                    Err(_) => {}
                }
                let encoded = s.encode(&name);
                let inode = Inode {
                    id: None,
                    parent: folder.clone(),
                    name: encoded.clone(),
                    node: None,
                    folder: false,
                };
                let ino = {
                    let mut inodes = lock(&s.inodes);
                    inodes.next += 1;
                    let ino = inodes.next;
                    inodes.map.insert(ino, inode.clone());
                    inodes.pending.insert((folder, encoded.to_lowercase()), ino);
                    ino
                };
                let spool = s.open_spool(ino, &inode, true).await?;
                let fh = s.new_fh(Handle::Write {
                    ino,
                    spool: Arc::new(tokio::sync::Mutex::new(spool)),
                });
                Ok((ino, inode, fh))
            }
            .await;
            match result {
                Ok((ino, inode, fh)) => reply.created(
                    &TTL,
                    &s.attr(ino, &inode),
                    Generation(0),
                    fh,
                    FopenFlags::empty(),
                ),
                Err(e) => {
                    s.done_writing();
                    reply.error(e)
                }
            }
        });
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        let spool = match lock(&self.state.handles).get(&fh.0) {
            Some(Handle::Read(tx)) => {
                if let Err(refused) = tx.send(ReadRequest {
                    offset,
                    size,
                    reply,
                }) {
                    refused.0.reply.error(Errno::EBADF);
                }
                return;
            }
            Some(Handle::Write { spool, .. }) => spool.clone(),
            _ => {
                reply.error(Errno::EBADF);
                return;
            }
        };
        self.spawn(|_| async move {
            match spool.lock().await.read_at(offset, size) {
                Ok(data) => reply.data(&data),
                Err(e) => {
                    tracing::error!("read spool: {e}");
                    reply.error(Errno::EIO)
                }
            }
        });
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: fuser::WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        let spool = match lock(&self.state.handles).get(&fh.0) {
            Some(Handle::Write { spool, .. }) => spool.clone(),
            _ => {
                reply.error(Errno::EBADF);
                return;
            }
        };
        // Uncontended (the usual case: the kernel sends one file's writes one after another),
        // the write is a page-cache write done here, without a task or a copy.
        if let Ok(mut guard) = spool.try_lock() {
            answer_write(guard.write_at(offset, data), data.len(), reply);
            return;
        }
        let data = data.to_vec();
        self.spawn(|_| async move {
            let written = spool.lock().await.write_at(offset, &data);
            answer_write(written, data.len(), reply);
        });
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        self.sync_handle(fh, reply);
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.sync_handle(fh, reply);
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let handle = lock(&self.state.handles).remove(&fh.0);
        let Some(Handle::Write { ino, spool }) = handle else {
            reply.ok();
            return;
        };
        self.spawn(|s| async move {
            let mut spool = spool.lock().await;
            let result = s.upload(ino, &mut spool).await;
            if spool.dirty {
                let name = s.remote.dirs.decode(&spool.name);
                match spool.keep() {
                    Ok(kept) => tracing::error!(
                        "{name}: the upload failed; what was written is kept in {}",
                        kept.display()
                    ),
                    Err(e) => tracing::error!(
                        "{name}: the upload failed and its spool could not be kept ({e}): it is lost"
                    ),
                }
            }
            drop(spool);
            s.done_writing();
            match result {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.spawn(|s| async move {
            let result = async {
                let folder = s.folder_id(ino)?;
                let children = s
                    .lister
                    .children(&folder)
                    .await
                    .map_err(|e| errno("list", &e))?;
                let mut entries = vec![
                    (ino.0, FileType::Directory, OsString::from(".")),
                    (ino.0, FileType::Directory, OsString::from("..")),
                ];
                let mut inodes = lock(&s.inodes);
                let mut seen = std::collections::HashSet::new();
                for node in children {
                    let child = inodes.intern(&node, &folder);
                    let kind = if node.is_folder() {
                        FileType::Directory
                    } else {
                        FileType::RegularFile
                    };
                    seen.insert(node.name().to_lowercase());
                    entries.push((child, kind, s.decode(node.name())));
                }
                for ((parent, lower), child) in &inodes.pending {
                    if *parent == folder
                        && !seen.contains(lower)
                        && let Some(inode) = inodes.map.get(child)
                    {
                        entries.push((*child, FileType::RegularFile, s.decode(&inode.name)));
                    }
                }
                Ok(entries)
            }
            .await;
            match result {
                Ok(entries) => reply.opened(
                    s.new_fh(Handle::Dir(Arc::new(entries))),
                    FopenFlags::empty(),
                ),
                Err(e) => reply.error(e),
            }
        });
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let entries = match lock(&self.state.handles).get(&fh.0) {
            Some(Handle::Dir(entries)) => entries.clone(),
            _ => {
                reply.error(Errno::EBADF);
                return;
            }
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, (ino, kind, name)) in entries.iter().enumerate().skip(start) {
            if reply.add(INodeNo(*ino), (i + 1) as u64, *kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        lock(&self.state.handles).remove(&fh.0);
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let blocks = 1u64 << 40;
        reply.statfs(blocks, blocks, blocks, 1 << 30, 1 << 30, 4096, 255, 4096);
    }
}

impl AcdFs {
    /// Upload a write handle's spool if it changed (flush, fsync).
    fn sync_handle(&self, fh: FileHandle, reply: ReplyEmpty) {
        let handle = match lock(&self.state.handles).get(&fh.0) {
            Some(Handle::Write { ino, spool }) => Some((*ino, spool.clone())),
            _ => None,
        };
        let Some((ino, spool)) = handle else {
            reply.ok();
            return;
        };
        self.spawn(|s| async move {
            let mut spool = spool.lock().await;
            match s.upload(ino, &mut spool).await {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    /// unlink / rmdir: the node goes to the trash.
    fn remove(&self, parent: INodeNo, name: &OsStr, folder: bool, reply: ReplyEmpty) {
        let name = name.to_os_string();
        self.spawn(|s| async move {
            let result = async {
                s.writable()?;
                let (_, inode) = s.child(parent, &name).await?;
                let id = inode.id.clone().ok_or(Errno::EBUSY)?;
                match (folder, inode.folder) {
                    (true, false) => return Err(Errno::ENOTDIR),
                    (false, true) => return Err(Errno::EISDIR),
                    _ => {}
                }
                if folder {
                    let children = s
                        .lister
                        .children(&id)
                        .await
                        .map_err(|e| errno("rmdir", &e))?;
                    if !children.is_empty() {
                        return Err(Errno::ENOTEMPTY);
                    }
                }
                s.remote
                    .drive
                    .trash(&id)
                    .await
                    .map_err(|e| errno(&format!("trash {}", name.to_string_lossy()), &e))?;
                Ok(())
            }
            .await;
            match result {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }
}
