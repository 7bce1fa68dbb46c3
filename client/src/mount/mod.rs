//! `acd mount`: the drive as a FUSE filesystem (through the `fuser` crate and Debian's
//! `fusermount3`).
//!
//! - the tree comes from the metadata cache ([`crate::cache`]), kept fresh by polling the
//!   changes feed and by the mount's own writes (recorded in the own-writes journal);
//! - reads stream ranged GETs through a read-ahead bounded by `--buffer-size` per open file
//!   ([`reader`]), resuming a cut stream at its offset;
//! - writes are spooled to a file under the cache dir and uploaded on `flush`/`fsync` by the
//!   [`crate::transfer::upload::Uploader`] ([`spool`]);
//! - errors map to errno in [`fs::errno`].

pub mod fs;
pub mod reader;
pub mod spool;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::remote::Remote;

/// What `acd mount` was asked for.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// The folder id mounted as the root.
    pub root_id: String,
    /// Shown as the mount's source (`remote:path`).
    pub source: String,
    /// Where to mount.
    pub mountpoint: PathBuf,
    /// Refuse every write with EROFS.
    pub read_only: bool,
    /// Let other users in (`allow_other`).
    pub allow_other: bool,
    /// Where write spools live.
    pub spool_dir: PathBuf,
    /// Time between polls of the changes feed.
    pub poll_interval: Duration,
    /// Read-ahead bound per open file.
    pub buffer_size: u64,
    /// The longest a listing is trusted without asking the changes feed.
    pub dir_cache_time: Duration,
    /// Concurrent uploads.
    pub transfers: usize,
    /// Time between phantom-upload polls.
    pub phantom_poll: Duration,
}

/// Why the mount could not start.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The mountpoint does not exist.
    #[error("the mountpoint {0} does not exist; create it first (mkdir -p {0})")]
    MissingMountpoint(String),
    /// The mountpoint is not a folder.
    #[error("the mountpoint {0} is not a directory")]
    NotADirectory(String),
    /// The mountpoint has entries.
    #[error("the mountpoint {0} is not empty; mount on an empty directory")]
    NotEmpty(String),
    /// No FUSE device.
    #[error(
        "FUSE is unavailable: {0} does not exist; load the kernel module (modprobe fuse) or give the container the device (--device /dev/fuse)"
    )]
    NoDevice(String),
    /// No `fusermount3` helper.
    #[error(
        "FUSE is unavailable: fusermount3 is not on PATH; install the fuse3 package (apt-get install fuse3)"
    )]
    NoFusermount,
    /// The metadata cache could not be opened.
    #[error(
        "acd mount needs the metadata cache and it could not be opened; give a writable --cache-dir"
    )]
    NoCache,
    /// Mounting or serving failed.
    #[error("mount {path}: {source}")]
    Fuse {
        /// The mountpoint.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// An API call failed while setting up.
    #[error(transparent)]
    Client(#[from] crate::error::Error),
}

/// Check that mounting can work: mountpoint an empty directory, `/dev/fuse` present
/// (`ACD_MOUNT_FUSE_DEVICE` names another device path, for tests), `fusermount3` on PATH.
pub fn preflight(mountpoint: &Path) -> Result<(), MountError> {
    let shown = mountpoint.display().to_string();
    let meta =
        std::fs::metadata(mountpoint).map_err(|_| MountError::MissingMountpoint(shown.clone()))?;
    if !meta.is_dir() {
        return Err(MountError::NotADirectory(shown));
    }
    let mut entries = std::fs::read_dir(mountpoint).map_err(|e| MountError::Fuse {
        path: shown.clone(),
        source: e,
    })?;
    if entries.next().is_some() {
        return Err(MountError::NotEmpty(shown));
    }
    let device = std::env::var_os("ACD_MOUNT_FUSE_DEVICE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/dev/fuse"));
    if !device.exists() {
        return Err(MountError::NoDevice(device.display().to_string()));
    }
    if find_on_path("fusermount3").is_none() {
        return Err(MountError::NoFusermount);
    }
    Ok(())
}

/// The first `name` in a folder of `PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Mount, serve in the foreground until SIGINT/SIGTERM or `fusermount3 -u`, then finish the
/// uploads in flight and unmount.
pub async fn run(remote: Arc<Remote>, options: MountOptions) -> Result<(), MountError> {
    preflight(&options.mountpoint)?;
    let cache = remote.cache.clone().ok_or(MountError::NoCache)?;
    crate::cache::sync::sync(&remote.drive, &cache, true).await?;
    std::fs::create_dir_all(&options.spool_dir).map_err(|e| MountError::Fuse {
        path: options.spool_dir.display().to_string(),
        source: e,
    })?;
    let owner = std::fs::metadata(&options.mountpoint).map_err(|e| MountError::Fuse {
        path: options.mountpoint.display().to_string(),
        source: e,
    })?;
    let state = Arc::new(fs::State::new(
        remote.clone(),
        cache.clone(),
        options.clone(),
        tokio::runtime::Handle::current(),
        &owner,
    ));
    // Keep the tree fresh from the changes feed.
    let poller = {
        let drive = remote.drive.clone();
        let cache = cache.clone();
        let every = options
            .poll_interval
            .min(options.dir_cache_time)
            .max(Duration::from_millis(100));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = crate::cache::sync::sync(&drive, &cache, false).await {
                    tracing::warn!(
                        "mount: polling the changes feed failed ({e}); trying again in {every:?}"
                    );
                }
            }
        })
    };

    let mut mount_options = vec![
        fuser::MountOption::FSName(options.source.clone()),
        fuser::MountOption::Subtype("acd".into()),
        fuser::MountOption::NoDev,
        fuser::MountOption::NoSuid,
    ];
    if options.read_only {
        mount_options.push(fuser::MountOption::RO);
    }
    let mut config = fuser::Config::default();
    config.mount_options = mount_options;
    if options.allow_other {
        config.acl = fuser::SessionACL::All;
    }
    let filesystem = fs::AcdFs::new(state.clone());
    let mountpoint = options.mountpoint.clone();
    let shown = mountpoint.display().to_string();
    let mut session =
        tokio::task::spawn_blocking(move || fuser::Session::new(filesystem, &mountpoint, &config))
            .await
            .map_err(|e| MountError::Fuse {
                path: shown.clone(),
                source: std::io::Error::other(e.to_string()),
            })?
            .map_err(|e| MountError::Fuse {
                path: shown.clone(),
                source: e,
            })?;
    let mut unmounter = session.unmount_callable();
    tracing::warn!(
        "mounted {} on {shown}; stop with Ctrl-C or fusermount3 -u {shown}",
        options.source
    );
    eprintln!("acd: mounted {} on {shown}", options.source);
    let mut serving = tokio::task::spawn_blocking(move || session.run());

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| MountError::Fuse {
            path: shown.clone(),
            source: e,
        })?;
    let ended = tokio::select! {
        r = &mut serving => Some(r),
        _ = tokio::signal::ctrl_c() => None,
        _ = sigterm.recv() => None,
    };
    let result = match ended {
        Some(r) => r,
        None => {
            let busy = state.busy.load(Ordering::SeqCst);
            if busy > 0 {
                eprintln!("acd: unmounting {shown} once {busy} file(s) being written are uploaded");
            }
            state.wait_idle().await;
            if let Err(e) = unmounter.unmount() {
                tracing::warn!("unmount {shown}: {e}");
            }
            serving.await
        }
    };
    // Whatever ended the session, uploads started before it finish.
    state.wait_idle().await;
    poller.abort();
    match result {
        Ok(Ok(())) => {
            eprintln!("acd: unmounted {shown}");
            Ok(())
        }
        Ok(Err(e)) => Err(MountError::Fuse {
            path: shown,
            source: e,
        }),
        Err(e) => Err(MountError::Fuse {
            path: shown,
            source: std::io::Error::other(e.to_string()),
        }),
    }
}
